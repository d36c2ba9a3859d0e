/* foldvm unikernel hypercall ABI, shared by the monitor (C++) and the guest
 * runtime (freestanding C). A guest calls the monitor with a 32-bit `out` to
 * FOLDVM_HC_PORT_BASE + call number; the value written is the guest-physical
 * address of the call's argument struct. Every struct is fixed-size and
 * naturally aligned so both sides agree without packing pragmas. */
#ifndef FOLDVM_ABI_H
#define FOLDVM_ABI_H

#include <stdint.h>

#define FOLDVM_HC_PORT_BASE 0x500u
#define FOLDVM_BOOT_INFO_MAGIC 0x464f4c44u /* "FOLD" */
#define FOLDVM_ABI_VERSION 1u
#define FOLDVM_MAX_DEVICES 16u

enum foldvm_hypercall {
    FOLDVM_HC_CONSOLE = 0, /* struct foldvm_hc_console */
    FOLDVM_HC_EXIT = 1,    /* struct foldvm_hc_exit */
    FOLDVM_HC_TIME = 2,    /* struct foldvm_hc_time */
    FOLDVM_HC_POLL = 3,    /* struct foldvm_hc_poll */
    FOLDVM_HC_BOOTINFO = 4, /* struct foldvm_hc_bootinfo */
    FOLDVM_HC_COUNT = 5
};

/* Write `len` bytes at guest-physical `data` to the console. */
struct foldvm_hc_console {
    uint64_t data;
    uint64_t len;
    int64_t ret; /* out: bytes written or -1 */
};

/* Terminate the VM with `status` (0..255 becomes the process exit status). */
struct foldvm_hc_exit {
    int64_t status;
};

/* Monotonic time in nanoseconds since an arbitrary origin. */
struct foldvm_hc_time {
    uint64_t ns; /* out */
};

/* Yield the vCPU for up to timeout_ns (capped by the monitor at 1 s). */
struct foldvm_hc_poll {
    uint64_t timeout_ns;
    int64_t ret; /* out: 0 on timeout, 1 if an event is pending */
};

/* Copy the boot-info block into the guest buffer at `buf` (len bytes). */
struct foldvm_hc_bootinfo {
    uint64_t buf;
    uint64_t len;
    int64_t ret; /* out: bytes copied or -1 */
};

enum foldvm_device_type {
    FOLDVM_DEV_NONE = 0,
    FOLDVM_DEV_VIRTIO_MMIO = 1
};

struct foldvm_device {
    uint32_t type;
    uint32_t irq;
    uint64_t mmio_base;
    uint64_t mmio_size;
};

/* Placed in guest RAM at FOLDVM_BOOT_INFO_GPA; RDI points to it at entry. */
struct foldvm_boot_info {
    uint32_t magic;
    uint32_t version;
    uint64_t ram_size;     /* bytes of guest RAM starting at gpa 0 */
    uint64_t kernel_end;   /* first byte after the loaded image (page aligned) */
    uint64_t heap_end;     /* first byte the guest must not allocate from */
    uint64_t cmdline_gpa;  /* NUL-terminated */
    uint64_t cmdline_len;
    uint64_t initrd_gpa;   /* 0 when absent */
    uint64_t initrd_size;
    uint32_t cpl;          /* privilege level the guest was entered at */
    uint32_t device_count;
    uint64_t vm_index;     /* index of this VM within its launch group */
    struct foldvm_device devices[FOLDVM_MAX_DEVICES];
};

/* Fixed low-memory layout built by the monitor. */
#define FOLDVM_GDT_GPA 0x1000u
#define FOLDVM_BOOT_INFO_GPA 0x2000u
#define FOLDVM_CMDLINE_GPA 0x3000u
#define FOLDVM_CMDLINE_MAX 4096u
#define FOLDVM_PAGE_TABLE_GPA 0x4000u
#define FOLDVM_STACK_TOP 0x100000u /* stack grows down from 1 MiB */
#define FOLDVM_IMAGE_MIN_GPA 0x100000u

#endif
