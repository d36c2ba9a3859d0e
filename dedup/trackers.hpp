// Write trackers for plain process memory (no KVM involved).
#pragma once

#include "region.hpp"

#include "common/userfaultfd.hpp"

#include <atomic>
#include <memory>
#include <vector>

namespace foldvm::dedup {

// Writers mark pages themselves before writing, the way KVM's dirty log and
// the VMM's own write log work. Used for VMM-written memory and in tests.
class BitmapTracker : public WriteTracker {
  public:
    explicit BitmapTracker(size_t pages);
    void mark(size_t page) {
        bits_[page / 64].fetch_or(1ull << (page % 64), std::memory_order_release);
    }
    void collect(uint64_t* bitmap) override;
    const char* name() const override { return "bitmap"; }

  private:
    size_t pages_;
    std::unique_ptr<std::atomic<uint64_t>[]> bits_;
    bool first_ = true;
};

// Tracks every writer of a plain range with userfaultfd asynchronous
// write-protect and reads (and re-arms) written pages with PAGEMAP_SCAN.
// Such a region cannot also use the userfaultfd freeze, so it needs
// pause/resume hooks in its RegionSpec.
class UffdAsyncTracker : public WriteTracker {
  public:
    UffdAsyncTracker(uint8_t* base, size_t size);
    void collect(uint64_t* bitmap) override;
    void on_remap(void* addr, size_t len) override;
    const char* name() const override { return "uffd-wp-async"; }
    // Why this tracker cannot work here, or "" if it can.
    static std::string unavailable_reason();

  private:
    uint8_t* base_;
    size_t size_;
    Userfaultfd uffd_;
    bool first_ = true;
    std::vector<uint8_t> vec_; // page_region buffer
};

} // namespace foldvm::dedup
