// Plain-memory regions for dedup tests: anonymous memory plus a tracker that
// writers mark before writing (the contract KVM's dirty log provides).
#pragma once

#include "common/mapping.hpp"
#include "common/page.hpp"
#include "dedup/engine.hpp"
#include "dedup/trackers.hpp"

#include <sys/mman.h>

#include <atomic>
#include <cstring>
#include <vector>

namespace foldvm::test {

struct TestRegion {
    Mapping mem;
    dedup::BitmapTracker* tracker = nullptr;
    dedup::RegionId id = 0;
    size_t pages;

    // `absent`: a pager's bitmap of pages out of memory (null: none).
    TestRegion(dedup::Engine& engine, size_t npages, const std::string& domain = "default",
               const std::string& name = "test", const std::atomic<uint64_t>* absent = nullptr)
        : pages(npages) {
        mem = Mapping::anonymous(npages * kPageSize);
        ::madvise(mem.get(), mem.size(), MADV_NOHUGEPAGE);
        dedup::RegionSpec spec;
        spec.name = name;
        spec.domain = domain;
        spec.base = mem.bytes();
        spec.size = mem.size();
        spec.absent = absent;
        auto t = std::make_unique<dedup::BitmapTracker>(npages);
        tracker = t.get();
        spec.tracker = std::move(t);
        id = engine.add_region(std::move(spec));
    }
    uint8_t* page(size_t i) const { return mem.bytes() + i * kPageSize; }
    // Fills a page with a pattern derived from `value` (0 gives a zero page).
    void fill(size_t i, uint64_t value) {
        tracker->mark(i);
        auto* w = reinterpret_cast<uint64_t*>(page(i));
        for (size_t k = 0; k < kPageSize / 8; ++k)
            w[k] = value ? value * 0x9e3779b97f4a7c15ull + k : 0;
    }
    bool holds(size_t i, uint64_t value) const {
        auto* w = reinterpret_cast<const uint64_t*>(page(i));
        for (size_t k = 0; k < kPageSize / 8; ++k)
            if (w[k] != (value ? value * 0x9e3779b97f4a7c15ull + k : 0)) return false;
        return true;
    }
};

inline dedup::DedupConfig fast_config() {
    dedup::DedupConfig c;
    c.volatile_passes = 0;
    c.sleep_millisecs = 0;
    c.pages_to_scan = 1'000'000;
    return c;
}

// The /proc/self/pagemap entries of a range, one per page.
std::vector<uint64_t> pagemap_entries(const uint8_t* base, size_t pages);
// Resident anonymous (private, non-file) pages in a range, from pagemap.
size_t private_resident_pages(const uint8_t* base, size_t pages);

} // namespace foldvm::test
