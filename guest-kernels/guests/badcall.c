/* Exercises the monitor's hypercall validation. Each mode makes one
 * malformed call; a correct monitor stops the VM, so reaching the end
 * (exit 42) means validation failed.
 *   mode=data   (default) CONSOLE with data far outside guest RAM
 *   mode=argptr argument-struct gpa outside guest RAM
 *   mode=len    valid data pointer with a huge length */
#include "rt.h"

static const char msg[] = "badcall: this text must not be printed in full\n";

int main(const struct foldvm_boot_info *bi, const char *cmdline)
{
    (void)bi;
    (void)cmdline;
    char mode[16] = "data";
    rt_arg_str("mode", mode, sizeof(mode));
    rt_printf("badcall: mode=%s\n", mode);
    rt_puts("badcall: sending bad pointer");

    int64_t ret;
    if (strcmp(mode, "argptr") == 0) {
        hc_raw(FOLDVM_HC_CONSOLE, 0xfffff000u);
        ret = 0;
    } else if (strcmp(mode, "len") == 0) {
        ret = hc_console(msg, 1ull << 40);
    } else {
        ret = hc_console((const void *)(uintptr_t)0xfffffffff000ull, 100);
    }

    rt_puts("badcall: survived");
    rt_printf("badcall: ret=%ld\n", (long)ret);
    return 42;
}
