// RAII wrappers for the three kinds of KVM file descriptor and capability
// probing. Everything above this layer talks to KVM only through here.
#pragma once

#include "common/mapping.hpp"
#include "common/unique_fd.hpp"

#include <linux/kvm.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace foldvm {

struct KvmCapabilities {
    int api_version = 0;
    bool user_memory = false;
    bool dirty_log_manual_protect = false; // KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2
    int dirty_ring_bytes = 0;              // KVM_CAP_DIRTY_LOG_RING, 0 = absent
    bool irqfd = false;
    bool ioeventfd = false;
    bool irqchip = false;
    bool immediate_exit = false;
    int max_vcpus = 0;
    int max_memslots = 0;
    bool userfaultfd = false;   // /dev/userfaultfd or the syscall works
    bool uffd_wp_async = false; // UFFD_FEATURE_WP_ASYNC (plain-region tracking)
    bool uffd_wp_shmem = false; // WP of pool (shmem) mappings

    std::string describe() const;
};

class VcpuFd;

class VmFd {
  public:
    explicit VmFd(UniqueFd fd, int run_size) : fd_(std::move(fd)), run_size_(run_size) {}
    int fd() const { return fd_.get(); }
    int check_extension(long cap) const;
    void set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size, void* host,
                                uint32_t flags);
    void enable_cap(uint32_t cap, uint64_t arg0);
    VcpuFd create_vcpu(int index);
    // Returns false if the ioctl failed with ENOENT (slot without dirty log).
    void get_dirty_log(uint32_t slot, void* bitmap);
    void clear_dirty_log(uint32_t slot, uint64_t first_page, uint32_t num_pages, void* bitmap);
    // Re-arms every harvested dirty-ring entry of every vCPU.
    void reset_dirty_rings();

    // Platform pieces for Linux guests (unikernels need none of them).
    // The in-kernel PIC/IOAPIC/LAPIC must exist before the first vCPU.
    void create_irqchip();
    void create_pit2();
    void set_tss_addr(uint64_t gpa);
    void set_identity_map_addr(uint64_t gpa);
    // Drives interrupt line `gsi` (KVM_IRQ_LINE); any thread may call it.
    void set_irq_line(uint32_t gsi, bool level);
    // Signalling `eventfd` injects an edge on `gsi` without a VM exit.
    void add_irqfd(int eventfd, uint32_t gsi);

  private:
    UniqueFd fd_;
    int run_size_;
};

class VcpuFd {
  public:
    VcpuFd(UniqueFd fd, Mapping run) : fd_(std::move(fd)), run_(std::move(run)) {}
    int fd() const { return fd_.get(); }
    kvm_run* run() const { return static_cast<kvm_run*>(run_.get()); }
    // Returns 0, or -errno for EINTR/EAGAIN so callers can handle kicks.
    int run_once();
    kvm_regs get_regs() const;
    void set_regs(const kvm_regs& regs);
    kvm_sregs get_sregs() const;
    void set_sregs(const kvm_sregs& sregs);
    void set_cpuid(const std::vector<kvm_cpuid_entry2>& entries);
    kvm_lapic_state get_lapic() const;
    void set_lapic(const kvm_lapic_state& lapic);
    void set_fpu(const kvm_fpu& fpu);
    void set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs);

  private:
    UniqueFd fd_;
    Mapping run_;
};

class Kvm {
  public:
    // Opens /dev/kvm; throws SystemError with an actionable message.
    explicit Kvm(const std::string& path = "/dev/kvm");
    const KvmCapabilities& caps() const { return caps_; }
    VmFd create_vm();
    int fd() const { return fd_.get(); }
    // The CPUID leaves this KVM can offer a guest (KVM_GET_SUPPORTED_CPUID).
    std::vector<kvm_cpuid_entry2> supported_cpuid() const;

    // Why KVM cannot be used here, or "" if it can. For tests that must skip.
    static std::string unavailable_reason(const std::string& path = "/dev/kvm");

  private:
    UniqueFd fd_;
    KvmCapabilities caps_;
    int run_size_ = 0;
};

} // namespace foldvm
