/* Typed wrappers over hc_call, one per ABI call. */
#include "hypercall.h"

int64_t hc_console(const void *data, uint64_t len)
{
    struct foldvm_hc_console a = {(uint64_t)(uintptr_t)data, len, -1};
    hc_call(FOLDVM_HC_CONSOLE, &a);
    return a.ret;
}

void hc_exit(int64_t status)
{
    struct foldvm_hc_exit a = {status};
    hc_call(FOLDVM_HC_EXIT, &a);
    /* The monitor must not resume us; if it does, fault so the VM dies
     * rather than spinning forever. */
    for (;;)
        __builtin_trap();
}

uint64_t hc_time(void)
{
    struct foldvm_hc_time a = {0};
    hc_call(FOLDVM_HC_TIME, &a);
    return a.ns;
}

int64_t hc_poll(uint64_t timeout_ns)
{
    struct foldvm_hc_poll a = {timeout_ns, 0};
    hc_call(FOLDVM_HC_POLL, &a);
    return a.ret;
}

int64_t hc_bootinfo(void *buf, uint64_t len)
{
    struct foldvm_hc_bootinfo a = {(uint64_t)(uintptr_t)buf, len, -1};
    hc_call(FOLDVM_HC_BOOTINFO, &a);
    return a.ret;
}
