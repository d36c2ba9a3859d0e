/* Runtime initialisation and exit: validate the boot info, copy the
 * command line somewhere stable, set up the page allocator. */
#include "rt.h"
#include "rt_internal.h"

static struct foldvm_boot_info bi_copy;
static const struct foldvm_boot_info *g_bi;
static char cmdline_buf[FOLDVM_CMDLINE_MAX];

const char *rt_init(const struct foldvm_boot_info *bi)
{
    /* Trust RDI only if it carries the magic; otherwise ask the monitor
     * for a copy, so a guest still boots if RDI is not set up. */
    if (bi == NULL || bi->magic != FOLDVM_BOOT_INFO_MAGIC) {
        if (hc_bootinfo(&bi_copy, sizeof(bi_copy)) <= 0 ||
            bi_copy.magic != FOLDVM_BOOT_INFO_MAGIC) {
            rt_puts("rt: no valid boot info");
            rt_exit(120);
        }
        bi = &bi_copy;
    }
    g_bi = bi;

    /* Bounded copy: never read past cmdline_len or our buffer. */
    size_t n = 0;
    if (bi->cmdline_gpa != 0) {
        const char *src = (const char *)(uintptr_t)bi->cmdline_gpa;
        /* cmdline_len 0 is treated as "unknown": rely on the NUL. */
        size_t max = bi->cmdline_len ? bi->cmdline_len : sizeof(cmdline_buf);
        if (max > sizeof(cmdline_buf) - 1)
            max = sizeof(cmdline_buf) - 1;
        while (n < max && src[n] != '\0') {
            cmdline_buf[n] = src[n];
            n++;
        }
    }
    cmdline_buf[n] = '\0';

    rt_cmdline_init(cmdline_buf);
    rt_alloc_init(bi);
    return cmdline_buf;
}

const struct foldvm_boot_info *rt_bootinfo(void)
{
    return g_bi;
}

void rt_exit(int status)
{
    rt_flush();
    hc_exit(status);
}
