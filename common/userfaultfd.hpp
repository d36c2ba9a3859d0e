// userfaultfd: RAII handle plus the write-protect operations dedup needs
// (freeze a range, unfreeze/wake it, register new mappings). Free of KVM.
#pragma once

#include "unique_fd.hpp"

#include <cstddef>
#include <cstdint>
#include <mutex>
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

    // Registers [addr, addr+len) for write-protect tracking, plus the modes
    // added with add_missing_mode(): a range re-registered after a remap
    // (dedup's merges and discards map new memory over guest RAM) keeps
    // every mode its owners asked for.
    void register_wp(void* addr, size_t len);
    // From now on [addr, addr+len) (and every later register_wp) also
    // reports MISSING faults: a pager answers them (UFFDIO_COPY/ZEROPAGE).
    void add_missing_mode(void* addr, size_t len);
    bool missing_mode() const;
    // Fills [dst, dst+len) atomically with a copy of `src` and wakes the
    // faulting threads unless `wake` is false. Returns the bytes copied: less
    // than len when part of the range was already present (EEXIST). A range
    // over several mappings is copied a page at a time.
    size_t copy(void* dst, const void* src, size_t len, bool wake = true);
    // Maps the zero page over a missing range (reads see zeros, the first
    // write allocates as usual); returns the bytes mapped like copy().
    size_t zeropage(void* dst, size_t len, bool wake = true);
    void unregister(void* addr, size_t len);
    // Write-protects (freeze) or un-protects (thaw, wakes blocked writers).
    void write_protect(void* addr, size_t len, bool protect);
    // Wakes threads blocked on faults in the range without changing protection.
    void wake(void* addr, size_t len);

  private:
    UniqueFd fd_;
    uint64_t features_ = 0;
    // Guards extra_modes_ across an UFFDIO_REGISTER so a concurrent
    // add_missing_mode() can never be undone by a register_wp() that read
    // the old modes.
    mutable std::mutex modes_mutex_;
    uint64_t extra_modes_ = 0;
};

} // namespace foldvm
