/* Faults on purpose: with no IDT at CPL 3 the #PF escalates to a triple
 * fault, and the monitor must tear the VM down. */
#include "rt.h"

int main(const struct foldvm_boot_info *bi, const char *cmdline)
{
    (void)bi;
    (void)cmdline;
    rt_puts("crash: about to fault");
    /* Launder the pointer through asm so gcc cannot prove it is NULL and
     * replace the load with ud2: we want a real page fault at gpa 0. */
    volatile int *p = NULL;
    __asm__ volatile("" : "+r"(p));
    int v = *p;
    (void)v;
    return 99;
}
