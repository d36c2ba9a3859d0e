// RAII wrappers for the three kinds of KVM file descriptor and capability
// probing. Everything above this layer talks to KVM only through here.
#pragma once

#include "common/unique_fd.hpp"
#include "common/mapping.hpp"

#include <linux/kvm.h>

#include <cstdint>
#include <string>

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
    bool userfaultfd = false;     // /dev/userfaultfd or the syscall works
    bool uffd_wp_async = false;   // UFFD_FEATURE_WP_ASYNC (plain-region tracking)
    bool uffd_wp_shmem = false;   // WP of pool (shmem) mappings

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

    // Why KVM cannot be used here, or "" if it can. For tests that must skip.
    static std::string unavailable_reason(const std::string& path = "/dev/kvm");

  private:
    UniqueFd fd_;
    KvmCapabilities caps_;
    int run_size_ = 0;
};

} // namespace foldvm
