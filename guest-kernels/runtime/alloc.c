/* Page allocator over the heap [kernel_end, heap_end). Guests mostly
 * want big contiguous runs once (bump), and recycle single pages through a
 * free stack of page frame numbers kept outside the free pages themselves:
 * a free page may have been given back to the host (free page reporting,
 * balloon), so nothing may live inside it. The stack's bottom part
 * [0, reported) holds pages already reported to the host. */
#include "rt.h"
#include "rt_internal.h"

extern char __image_end[]; /* from link.ld */

static uintptr_t heap_start, heap_end, bump;
static uintptr_t bump_touched; /* pages in [bump, bump_touched) were handed out before */
static uint32_t *free_stack;
static size_t free_top, free_reported, free_cap;
static size_t (*oom_handler)(size_t pages);

#define PAGE_UP(x) (((x) + RT_PAGE_SIZE - 1) & ~(uintptr_t)(RT_PAGE_SIZE - 1))
#define PAGE_DOWN(x) ((x) & ~(uintptr_t)(RT_PAGE_SIZE - 1))
#define RUN_MAX (1ull << 30) /* reported runs stay far below a descriptor's 4 GiB */

void rt_alloc_init(const struct foldvm_boot_info *bi)
{
    /* Never hand out our own image, even if kernel_end is understated. */
    uintptr_t start = PAGE_UP((uintptr_t)bi->kernel_end);
    if (start < PAGE_UP((uintptr_t)__image_end))
        start = PAGE_UP((uintptr_t)__image_end);
    uintptr_t end = PAGE_DOWN((uintptr_t)bi->heap_end);
    if (end > bi->ram_size)
        end = PAGE_DOWN((uintptr_t)bi->ram_size);
    /* Keep clear of an initrd placed inside the heap range. */
    if (bi->initrd_gpa != 0 && bi->initrd_gpa >= start && bi->initrd_gpa < end)
        end = PAGE_DOWN((uintptr_t)bi->initrd_gpa);
    if (end < start)
        end = start;
    /* The free stack sits at the top of the heap: 4 bytes per heap page,
     * untouched (so it costs nothing) until pages are freed. */
    size_t pages = (end - start) / RT_PAGE_SIZE;
    uintptr_t stack_bytes = PAGE_UP(pages * sizeof(uint32_t));
    if (stack_bytes >= end - start)
        stack_bytes = 0;
    end -= stack_bytes;
    free_stack = (uint32_t *)end;
    free_cap = stack_bytes / sizeof(uint32_t);
    heap_start = bump = bump_touched = start;
    heap_end = end;
    free_top = free_reported = 0;
    oom_handler = NULL;
}

static void *try_alloc(size_t n)
{
    if (n == 1 && free_top > 0) {
        uint32_t pfn = free_stack[--free_top];
        if (free_reported > free_top)
            free_reported = free_top;
        return (void *)((uintptr_t)pfn * RT_PAGE_SIZE);
    }
    if (n > (heap_end - bump) / RT_PAGE_SIZE)
        return NULL;
    void *p = (void *)bump;
    bump += n * RT_PAGE_SIZE;
    if (bump > bump_touched)
        bump_touched = bump;
    return p;
}

void *rt_alloc_pages(size_t n)
{
    if (n == 0)
        return NULL;
    void *p = try_alloc(n);
    if (p == NULL && oom_handler != NULL && oom_handler(n) > 0)
        p = try_alloc(n);
    return p;
}

void *rt_alloc_pages_no_oom(size_t n)
{
    return n == 0 ? NULL : try_alloc(n);
}

void rt_free_page(void *p)
{
    uintptr_t a = (uintptr_t)p;
    if (p == NULL || a % RT_PAGE_SIZE != 0 || a < heap_start || a >= bump)
        return; /* not ours: ignore rather than corrupt the stack */
    if (a == bump - RT_PAGE_SIZE) {
        bump = a; /* the most recent bump page: give the run back */
        return;
    }
    if (free_top < free_cap)
        free_stack[free_top++] = (uint32_t)(a / RT_PAGE_SIZE);
}

void rt_alloc_set_oom_handler(size_t (*handler)(size_t pages))
{
    oom_handler = handler;
}

size_t rt_heap_pages_free(void)
{
    return (heap_end - bump) / RT_PAGE_SIZE;
}

size_t rt_free_pages_total(void)
{
    return free_top + (heap_end - bump) / RT_PAGE_SIZE;
}

uintptr_t rt_heap_start(void)
{
    return heap_start;
}

uintptr_t rt_heap_end(void)
{
    return heap_end;
}

/* ---- free page reporting ---- */

size_t rt_alloc_unreported_pages(void)
{
    return (free_top - free_reported) + (bump_touched - bump) / RT_PAGE_SIZE;
}

static void sift_down(uint32_t *a, size_t root, size_t n)
{
    for (;;) {
        size_t child = 2 * root + 1;
        if (child >= n)
            return;
        if (child + 1 < n && a[child + 1] > a[child])
            child++;
        if (a[root] >= a[child])
            return;
        uint32_t t = a[root];
        a[root] = a[child];
        a[child] = t;
        root = child;
    }
}

static void heap_sort(uint32_t *a, size_t n)
{
    for (size_t i = n / 2; i-- > 0;)
        sift_down(a, i, n);
    for (size_t end = n; end-- > 1;) {
        uint32_t t = a[0];
        a[0] = a[end];
        a[end] = t;
        sift_down(a, 0, end);
    }
}

size_t rt_alloc_report_free(struct rt_page_run *runs, size_t batch,
                            int (*report)(const struct rt_page_run *runs, size_t n, void *ctx),
                            void *ctx)
{
    if (batch == 0)
        return 0;
    size_t n = 0;
    /* Sorting the unreported part of the stack turns it into long runs;
     * the order of a free stack does not matter. */
    uint32_t *slice = free_stack + free_reported;
    size_t count = free_top - free_reported;
    heap_sort(slice, count);
    for (size_t i = 0; i < count; i++) {
        uint64_t gpa = (uint64_t)slice[i] * RT_PAGE_SIZE;
        if (n > 0 && runs[n - 1].gpa + runs[n - 1].len == gpa && runs[n - 1].len < RUN_MAX) {
            runs[n - 1].len += RT_PAGE_SIZE;
            continue;
        }
        if (n == batch) {
            if (report(runs, n, ctx) != 0)
                return 0; /* nothing is marked: it is all tried again later */
            n = 0;
        }
        runs[n].gpa = gpa;
        runs[n].len = RT_PAGE_SIZE;
        n++;
    }
    /* Pages above the bump pointer that were handed out before. */
    for (uintptr_t a = bump; a < bump_touched; a += RUN_MAX) {
        if (n == batch) {
            if (report(runs, n, ctx) != 0)
                return 0;
            n = 0;
        }
        runs[n].gpa = a;
        runs[n].len = bump_touched - a < RUN_MAX ? bump_touched - a : RUN_MAX;
        n++;
    }
    if (n > 0 && report(runs, n, ctx) != 0)
        return 0;
    size_t pages = count + (bump_touched - bump) / RT_PAGE_SIZE;
    free_reported = free_top;
    bump_touched = bump;
    return pages;
}
