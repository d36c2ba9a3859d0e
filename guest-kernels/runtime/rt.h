/* foldvm guest runtime: everything a freestanding guest may call.
 * No libc, no floating point, single-threaded, no interrupts. */
#ifndef FOLDVM_RT_H
#define FOLDVM_RT_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "foldvm_abi.h"
#include "hypercall.h"

#define RT_PAGE_SIZE 4096u
#define RT_NS_PER_MS 1000000ull
#define RT_NS_PER_SEC 1000000000ull
#define RT_PPM_ONE 1000000u /* 1.0 as parts-per-million */

/* Provided by each guest; its return value becomes the exit status. */
int main(const struct foldvm_boot_info *bi, const char *cmdline);

/* init.c: called from _start with the boot-info pointer from RDI;
 * returns the command line (never NULL). */
const char *rt_init(const struct foldvm_boot_info *bi);
const struct foldvm_boot_info *rt_bootinfo(void);
__attribute__((noreturn)) void rt_exit(int status);

/* console.c: line-buffered output via the CONSOLE hypercall. */
void rt_putc(char c);
void rt_write(const char *s, size_t len);
void rt_puts(const char *s); /* appends '\n', like puts() */
void rt_flush(void);

/* printf.c: %d %i %u %x %X %p %s %c %%, length l/ll/z, flags '-' '0',
 * width. */
int rt_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int rt_vprintf(const char *fmt, va_list ap);
int rt_snprintf(char *buf, size_t n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* string.c: also the symbols gcc may emit calls to. */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);
int strncmp(const char *a, const char *b, size_t n);

/* rng.c: splitmix64 (stateless mixing / seeding) and xorshift64*. */
struct rt_rng {
    uint64_t s;
};
uint64_t rt_mix64(uint64_t x);              /* splitmix64 finaliser */
uint64_t rt_splitmix64(uint64_t *state);    /* advance + mix */
void rt_rng_seed(struct rt_rng *r, uint64_t seed);
uint64_t rt_rng_next(struct rt_rng *r);     /* xorshift64* */
uint64_t rt_rng_below(struct rt_rng *r, uint64_t n); /* [0, n), n > 0 */
uint64_t rt_mul_hi(uint64_t a, uint64_t b); /* (a*b) >> 64 */

/* alloc.c: page allocator over [kernel_end, heap_end). Bump allocation of
 * contiguous runs plus a free stack of single pages (kept outside the
 * pages, which may have been given back to the host). Memory is NOT
 * zeroed. When it runs dry, an OOM handler (the balloon's deflate on OOM)
 * may free pages and the allocation is retried once. */
void *rt_alloc_pages(size_t n);
void *rt_alloc_pages_no_oom(size_t n); /* never calls the OOM handler */
void rt_free_page(void *p);
size_t rt_heap_pages_free(void);  /* pages still available to bump */
size_t rt_free_pages_total(void); /* bump room plus freed pages */
uintptr_t rt_heap_start(void);
uintptr_t rt_heap_end(void);
/* The handler frees at least `pages` pages if it can; returns pages freed. */
void rt_alloc_set_oom_handler(size_t (*handler)(size_t pages));
/* Free page reporting: free pages not reported since they were freed are
 * passed to `report` in batches of up to `batch` runs; when every batch
 * succeeds (report returns 0) they count as reported. Returns the pages
 * reported (0 on failure). */
struct rt_page_run {
    uint64_t gpa;
    uint64_t len;
};
size_t rt_alloc_unreported_pages(void);
size_t rt_alloc_report_free(struct rt_page_run *runs, size_t batch,
                            int (*report)(const struct rt_page_run *runs, size_t n, void *ctx),
                            void *ctx);

/* balloon_driver.c: the virtio balloon (see virtio.h for raw virtio).
 * Polled: call rt_balloon_service() from the main loop, or sleep in
 * rt_balloon_wait(), which wakes up early when the device signals. With
 * DEFLATE_ON_OOM negotiated, failed allocations deflate the balloon. */
struct rt_balloon_state {
    int present;  /* device found and running */
    int broken;   /* the device needs a reset: rt_balloon_reinit() */
    uint64_t features;
    uint32_t target_pages; /* the host's wish */
    uint32_t pages;        /* pages in the balloon now */
    uint64_t inflated, deflated, oom_deflated, reported, stats_sent, resets;
};
int rt_balloon_init(void); /* 0, or -1 without a balloon device */
/* Moves toward the target, answers statistics requests, reports free
 * pages past the threshold. 1 if the balloon changed size, 0 if not, -1 if
 * the device is broken. */
int rt_balloon_service(void);
int rt_balloon_wait(uint64_t ns);
int rt_balloon_reinit(void);
size_t rt_balloon_report_free(void); /* pages reported now */
void rt_balloon_set_report_threshold(size_t pages); /* 0 = only on request */
const struct rt_balloon_state *rt_balloon(void);

/* cmdline.c: space-separated `key=value` tokens and bare `flag`s. Lookups
 * use the command line passed to rt_init; the last occurrence wins. */
const char *rt_cmdline(void);
/* Value of `key` (not NUL-terminated; *len set), "" for a bare flag,
 * NULL when absent. */
const char *rt_arg(const char *key, size_t *len);
int rt_arg_present(const char *key);
/* Bare flag or key=1/yes/true/on => 1; key=0/no/false/off or absent => 0. */
int rt_arg_flag(const char *key);
/* Decimal or 0x-hex, optional k/m/g suffix (binary units); def if absent
 * or malformed. */
uint64_t rt_arg_u64(const char *key, uint64_t def);
/* "0.75" / ".5" / "1" / "75%" as parts-per-million, clamped to 1e6,
 * parsed without floating point; def if absent or malformed. */
uint32_t rt_arg_ppm(const char *key, uint32_t def);
/* Copy the value into buf (NUL-terminated, truncated); 1 if present. */
int rt_arg_str(const char *key, char *buf, size_t n);
/* Parsers behind the above, usable on any string. 1 on success. */
int rt_parse_u64(const char *s, size_t len, uint64_t *out);
int rt_parse_ppm(const char *s, size_t len, uint32_t *out);

/* time.c */
uint64_t rt_now_ns(void);
void rt_sleep_ns(uint64_t ns); /* POLL until the deadline passes */

#endif
