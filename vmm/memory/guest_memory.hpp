// Guest RAM: anonymous private memory registered with KVM as one or more
// memslots, with bounds-checked gpa translation, the VMM's own write log, and
// KVM dirty logging. This is the only place that maps gpa -> host address.
#pragma once

#include "common/mapping.hpp"
#include "common/page.hpp"
#include "common/userfaultfd.hpp"

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace foldvm {

class VmFd;
class DirtyRing;

struct GuestMemoryOptions {
    uint64_t size = 0;
    uint64_t max_slot_size = 1ull << 30; // split large RAM into several memslots
    bool dirty_logging = true;
    bool no_huge_pages = true; // THP hides 4 KiB duplicates from dedup
    // Track guest writes with per-vCPU dirty rings instead of the bitmap
    // when KVM offers them (falls back to the bitmap otherwise).
    bool dirty_ring = false;
    uint32_t dirty_ring_bytes = 64 * 1024;
    // Open a userfaultfd for guest RAM (write-protect registered): dedup's
    // freeze and the overcommit pager then share it, since a range can be
    // registered with only one userfaultfd.
    bool userfaultfd = false;
};

// A contiguous RAM range as the dedup engine sees it.
struct RamRegion {
    uint64_t gpa;
    uint8_t* host;
    uint64_t size;
};

class GuestMemory {
  public:
    GuestMemory(VmFd& vm, const GuestMemoryOptions& opts);
    ~GuestMemory();
    GuestMemory(const GuestMemory&) = delete;
    GuestMemory& operator=(const GuestMemory&) = delete;

    uint64_t size() const { return ram_.size(); }
    uint8_t* host_base() const { return ram_.bytes(); }
    bool dirty_logging() const { return dirty_logging_; }

    // True if [gpa, gpa+len) lies entirely inside RAM (overflow-safe).
    bool contains(uint64_t gpa, uint64_t len) const;
    // Host pointer for a checked range, or nullptr if any byte is outside RAM.
    uint8_t* translate(uint64_t gpa, uint64_t len) const;

    // Reads guest memory; throws InvalidInput when out of range.
    void read(uint64_t gpa, void* dst, uint64_t len) const;
    // The single path for VMM writes into guest RAM: bounds-checks and records
    // the touched pages in the VMM write log (KVM's dirty log cannot see them).
    void write(uint64_t gpa, const void* src, uint64_t len);
    // Marks pages as written by the VMM when a device wrote through
    // translate(): call it before and after the write (see write()).
    void record_vmm_write(uint64_t gpa, uint64_t len);

    // ORs the pages written since the previous call (guest writes from KVM's
    // dirty log, VMM writes from its own log) into `bitmap` (1 bit per page of
    // RAM, indexed from gpa 0) and re-arms tracking for them.
    void collect_dirty(uint64_t* bitmap);

    // Gives pages back to the host (balloon inflate, free page reports):
    // [gpa, gpa+len) must be page aligned and inside RAM (else InvalidInput).
    // The pages read as zeros afterwards and hold no host memory until
    // written. The default releases them with MADV_DONTNEED; page sharing
    // installs a discarder that also handles merged pages.
    using Discarder = std::function<void(uint64_t gpa, uint64_t len)>;
    void set_discarder(Discarder discarder);
    void discard(uint64_t gpa, uint64_t len);
    // Told of every discarded range right after the discarder ran (the
    // pager drops its stored copies: the pages read as zeros now).
    void set_discard_listener(Discarder listener);

    // The userfaultfd of guest RAM (GuestMemoryOptions::userfaultfd), or
    // nullptr without one.
    Userfaultfd* userfaultfd() const { return uffd_.get(); }
    // Pages a pager moved out of memory: bit i = page i. Readers that must
    // not fault a page back in just to look at it (dedup's scanner) check it
    // first; the pager sets a bit before the page leaves and clears it once
    // the page is back.
    std::atomic<uint64_t>* absent_bitmap() const { return absent_.get(); }
    bool absent(uint64_t page) const {
        return absent_[page / 64].load(std::memory_order_acquire) & (1ull << (page % 64));
    }

    // Dirty-ring mode: every vCPU's ring must be attached right after the
    // vCPU is created; a vCPU whose ring filled up harvests before re-entry.
    void attach_vcpu(int vcpu_fd);
    void harvest_dirty_rings();
    // "ring", "bitmap" or "off".
    const char* dirty_log_mode() const;

    std::vector<RamRegion> regions() const;
    size_t slot_count() const { return slots_.size(); }

  private:
    struct Slot {
        uint32_t id;
        uint64_t gpa;
        uint64_t size;
    };
    VmFd& vm_;
    Mapping ram_;
    std::vector<Slot> slots_;
    bool dirty_logging_ = false;
    bool manual_protect_ = false;
    std::unique_ptr<std::atomic<uint64_t>[]> vmm_log_;
    std::vector<uint64_t> scratch_;
    uint32_t ring_bytes_ = 0; // 0 = bitmap mode
    std::mutex ring_mutex_;   // guards rings_, ring_bits_, ring_first_
    std::vector<std::unique_ptr<DirtyRing>> rings_;
    std::vector<uint64_t> ring_bits_;
    bool ring_first_ = true;
    std::mutex discard_mutex_; // held across a discard so replacing the discarder waits
    Discarder discarder_;
    Discarder discard_listener_;
    std::unique_ptr<Userfaultfd> uffd_;
    std::unique_ptr<std::atomic<uint64_t>[]> absent_;
};

} // namespace foldvm
