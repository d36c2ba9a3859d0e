/* Page allocator over the heap [kernel_end, heap_end). Guests mostly
 * want big contiguous runs once (bump), and occasionally recycle single
 * pages (free list threaded through the freed pages themselves). */
#include "rt.h"
#include "rt_internal.h"

extern char __image_end[]; /* from link.ld */

static uintptr_t heap_start, heap_end, bump;
static void *free_list;

#define PAGE_UP(x) (((x) + RT_PAGE_SIZE - 1) & ~(uintptr_t)(RT_PAGE_SIZE - 1))
#define PAGE_DOWN(x) ((x) & ~(uintptr_t)(RT_PAGE_SIZE - 1))

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
    heap_start = bump = start;
    heap_end = end;
    free_list = NULL;
}

void *rt_alloc_pages(size_t n)
{
    if (n == 0)
        return NULL;
    if (n == 1 && free_list != NULL) {
        void *p = free_list;
        free_list = *(void **)p;
        return p;
    }
    if (n > (heap_end - bump) / RT_PAGE_SIZE)
        return NULL;
    void *p = (void *)bump;
    bump += n * RT_PAGE_SIZE;
    return p;
}

void rt_free_page(void *p)
{
    if (p == NULL)
        return;
    *(void **)p = free_list;
    free_list = p;
}

size_t rt_heap_pages_free(void)
{
    return (heap_end - bump) / RT_PAGE_SIZE;
}

uintptr_t rt_heap_start(void)
{
    return heap_start;
}

uintptr_t rt_heap_end(void)
{
    return heap_end;
}
