/* Smallest useful guest: proves boot, console and exit status work. */
#include "rt.h"

int main(const struct foldvm_boot_info *bi, const char *cmdline)
{
    (void)bi;
    rt_puts("Hello from foldvm guest");
    rt_printf("cmdline: %s\n", cmdline);
    return (int)rt_arg_u64("exit", 0);
}
