// Engine-private record of one registered region.
#pragma once

#include "engine.hpp"
#include "page_directory.hpp"

namespace foldvm::dedup {

struct Engine::Region {
    RegionId id = 0;
    RegionSpec spec;
    uint32_t domain = 0;
    uint64_t hash_salt = 0; // XORed into content hashes (0 for domain 0)
    PageId first = 0;
    size_t pages = 0;
    std::vector<uint64_t> dirty;
    std::chrono::steady_clock::time_point collected_at{}; // last collect_writes()
    // Pages that need a visit: written since they came to rest (merged,
    // zero, or waiting in the unstable tree), volatile, or whose merge
    // failed. Settled pages cost nothing per pass.
    std::vector<uint64_t> pending;
    // Sync write-protect freeze (own_uffd, or the spec's shared one); null =
    // pause.
    std::unique_ptr<Userfaultfd> own_uffd;
    Userfaultfd* uffd = nullptr;
    bool is_absent(size_t index) const {
        return spec.absent &&
               (spec.absent[index / 64].load(std::memory_order_acquire) & (1ull << (index % 64)));
    }
    RegionStats counters;

    PageMeta& meta(size_t index) const {
        return *PageDirectory::instance().meta(first + static_cast<PageId>(index));
    }
    size_t index_of(const PageMeta& m) const { return m.self - first; }
    uint8_t* address(size_t index) const { return spec.base + index * kPageSize; }
    void set_pending(size_t index) { pending[index / 64] |= 1ull << (index % 64); }
    bool is_pending(size_t index) const { return pending[index / 64] & (1ull << (index % 64)); }
    void clear_pending(size_t index) { pending[index / 64] &= ~(1ull << (index % 64)); }
};

} // namespace foldvm::dedup
