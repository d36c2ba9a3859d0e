// Constants newer than Debian 12's linux-libc-dev (6.1) headers. Kept in one
// place so they can be dropped when the headers catch up.
#pragma once

#include <linux/kvm.h>
#include <linux/userfaultfd.h>

#ifndef KVM_CAP_DIRTY_LOG_RING_ACQ_REL
#define KVM_CAP_DIRTY_LOG_RING_ACQ_REL 223
#endif
#ifndef KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP
#define KVM_CAP_DIRTY_LOG_RING_WITH_BITMAP 225
#endif
#ifndef KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE
#define KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE (1 << 0)
#endif
#ifndef KVM_DIRTY_LOG_INITIALLY_SET
#define KVM_DIRTY_LOG_INITIALLY_SET (1 << 1)
#endif
#ifndef UFFD_FEATURE_WP_UNPOPULATED
#define UFFD_FEATURE_WP_UNPOPULATED (1 << 13)
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif
#ifndef USERFAULTFD_IOC_NEW
#define USERFAULTFD_IOC_NEW _IO(0xAA, 0x00)
#endif

// PAGEMAP_SCAN (Linux 6.7) for userfaultfd async write-protect tracking.
#include <linux/fs.h>
#ifndef PAGEMAP_SCAN
#include <linux/ioctl.h>
#include <linux/types.h>
struct page_region {
    __u64 start;
    __u64 end;
    __u64 categories;
};
struct pm_scan_arg {
    __u64 size;
    __u64 flags;
    __u64 start;
    __u64 end;
    __u64 walk_end;
    __u64 vec;
    __u64 vec_len;
    __u64 max_pages;
    __u64 category_inverted;
    __u64 category_mask;
    __u64 category_anyof_mask;
    __u64 return_mask;
};
#define PAGEMAP_SCAN _IOWR('f', 16, struct pm_scan_arg)
#define PM_SCAN_WP_MATCHING (1 << 0)
#define PM_SCAN_CHECK_WPASYNC (1 << 1)
#define PAGE_IS_WPALLOWED (1 << 0)
#define PAGE_IS_WRITTEN (1 << 1)
#define PAGE_IS_FILE (1 << 2)
#define PAGE_IS_PRESENT (1 << 3)
#define PAGE_IS_SWAPPED (1 << 4)
#define PAGE_IS_PFNZERO (1 << 5)
#define PAGE_IS_HUGE (1 << 6)
#define PAGE_IS_SOFT_DIRTY (1 << 7)

/* Debian 12's uapi headers declare flexible arrays with __DECLARE_FLEX_ARRAY,
 * which in C++ adds a phantom member: sizeof(struct kvm_cpuid2) becomes 12,
 * so the ioctl numbers derived from it are wrong (EINVAL) and the entries
 * move to offset 12. Variable-length KVM arguments are therefore built by
 * hand: this 8-byte header, then the entries. */
struct foldvm_kvm_var_header {
    __u32 count; /* nent / nmsrs */
    __u32 padding;
};
#define FOLDVM_KVM_GET_SUPPORTED_CPUID _IOWR(KVMIO, 0x05, struct foldvm_kvm_var_header)
#define FOLDVM_KVM_SET_CPUID2 _IOW(KVMIO, 0x90, struct foldvm_kvm_var_header)
#define FOLDVM_KVM_SET_MSRS _IOW(KVMIO, 0x89, struct foldvm_kvm_var_header)

#endif
