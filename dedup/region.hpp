// What the engine sees of guest memory: a host address range, how writes to
// it are tracked, and how to stop writers while pages are remapped.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

namespace foldvm {
class Userfaultfd;
}

namespace foldvm::dedup {

// Reports pages written since the previous collect() call.
class WriteTracker {
  public:
    virtual ~WriteTracker() = default;
    // ORs one bit per written page (bit i = page i of the region) into
    // `bitmap`, which has (pages + 63) / 64 words, and re-arms tracking.
    virtual void collect(uint64_t* bitmap) = 0;
    // Called after the engine replaced [addr, addr+len) with a new mapping,
    // so trackers that attach to mappings (userfaultfd) can re-attach.
    virtual void on_remap(void* addr, size_t len) { (void)addr, (void)len; }
    virtual const char* name() const = 0;
};

struct RegionSpec {
    std::string name;               // e.g. "vm3"
    std::string domain = "default"; // non-zero pages merge only within a domain
    uint8_t* base = nullptr;        // page aligned
    size_t size = 0;                // multiple of 4 KiB
    std::unique_ptr<WriteTracker> tracker;
    // Freeze fallback when userfaultfd write-protect cannot be used: stop
    // and restart every writer of the region (vCPUs, device threads).
    std::function<void()> pause;
    std::function<void()> resume;
    // Prefer the userfaultfd write-protect freeze (the region must then not
    // be registered with another userfaultfd).
    bool uffd_freeze = true;
    // The region's own userfaultfd, already registered for write-protect,
    // which its owner keeps open while the region exists (a pager shares
    // it); null: the engine opens one for the freeze.
    Userfaultfd* shared_uffd = nullptr;
    // Pages a pager moved out of memory (bit i = page i), or null. The
    // scanner never reads them: reading would fault them back in.
    const std::atomic<uint64_t>* absent = nullptr;
};

using RegionId = uint64_t;

} // namespace foldvm::dedup
