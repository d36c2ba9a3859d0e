// userfaultfd: RAII handle plus the write-protect operations dedup needs
// (freeze a range, unfreeze/wake it, register new mappings). Free of KVM.
#pragma once

#include "unique_fd.hpp"

#include <cstddef>
#include <cstdint>
#include <string>

namespace foldvm {

struct UffdProbe {
    bool available = false;
    uint64_t features = 0; // what the kernel offers
    std::string reason;    // why unavailable
};

// Probes once (cached) which userfaultfd features the kernel supports.
UffdProbe userfaultfd_features();

// Probes once (cached) whether UFFDIO_WRITEPROTECT accepts a range that
// spans several mappings (an anonymous page next to a private memfd page),
// which dedup's freeze relies on. Linux 6.1 refuses with ENOENT.
bool userfaultfd_wp_spans_mappings();

class Userfaultfd {
  public:
    // Opens a userfaultfd with the requested features; throws SystemError.
    explicit Userfaultfd(uint64_t features);
    int fd() const { return fd_.get(); }
    uint64_t features() const { return features_; }

    // Registers [addr, addr+len) for write-protect tracking.
    void register_wp(void* addr, size_t len);
    void unregister(void* addr, size_t len);
    // Write-protects (freeze) or un-protects (thaw, wakes blocked writers).
    void write_protect(void* addr, size_t len, bool protect);
    // Wakes threads blocked on faults in the range without changing protection.
    void wake(void* addr, size_t len);

  private:
    UniqueFd fd_;
    uint64_t features_ = 0;
};

} // namespace foldvm
