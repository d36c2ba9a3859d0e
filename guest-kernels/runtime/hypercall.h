/* Hypercall transport: a 32-bit `outl` of the argument struct's gpa to
 * FOLDVM_HC_PORT_BASE + nr. Guest memory is identity-mapped, so a pointer
 * is its gpa; it must lie below 4 GiB (stack, image and .bss all do). */
#ifndef FOLDVM_RT_HYPERCALL_H
#define FOLDVM_RT_HYPERCALL_H

#include <stdint.h>

#include "foldvm_abi.h"

/* Raw call, exposed so tests (badcall) can pass deliberately bad gpas.
 * The "memory" clobber makes the compiler store the argument struct before
 * the exit and reload its out fields afterwards. */
static inline void hc_raw(uint32_t nr, uint32_t arg_gpa)
{
    uint16_t port = (uint16_t)(FOLDVM_HC_PORT_BASE + nr);
    __asm__ volatile("outl %0, %1" : : "a"(arg_gpa), "Nd"(port) : "memory");
}

static inline void hc_call(uint32_t nr, void *arg)
{
    hc_raw(nr, (uint32_t)(uintptr_t)arg);
}

int64_t hc_console(const void *data, uint64_t len);
__attribute__((noreturn)) void hc_exit(int64_t status);
uint64_t hc_time(void);
int64_t hc_poll(uint64_t timeout_ns);
int64_t hc_bootinfo(void *buf, uint64_t len);

#endif
