// Maps 32-bit page ids to metadata. Ids are handed out in chunks of 4096 so a
// region's pages have consecutive ids; the directory is process-wide so the
// tree node traits can stay static.
#pragma once

#include "page_meta.hpp"

#include <cstddef>
#include <memory>
#include <mutex>
#include <vector>

namespace foldvm::dedup {

constexpr uint32_t kChunkShift = 12;
constexpr uint32_t kChunkPages = 1u << kChunkShift;
constexpr uint32_t kMaxChunks = 1u << 16; // 2^28 pages = 1 TiB tracked

struct MetaChunk {
    PageMeta* metas;
    void* owner;         // the engine's region record
    uint32_t first_page; // index of metas[0] within the owner
};

class PageDirectory {
  public:
    static PageDirectory& instance() { return instance_; }

    // Allocates `pages` metadata entries (zeroed, ids consecutive). Returns
    // the first id; throws when the id space is exhausted.
    PageId allocate(size_t pages, void* owner);
    void release(PageId first, size_t pages);

    // Lookups need no lock: an engine only resolves ids it allocated itself.
    PageMeta* meta(PageId id) const {
        return chunks_[id >> kChunkShift].metas + (id & (kChunkPages - 1));
    }
    const MetaChunk& chunk(PageId id) const { return chunks_[id >> kChunkShift]; }

  private:
    PageDirectory();
    static PageDirectory instance_; // hot path: no function-local static guard
    std::unique_ptr<MetaChunk[]> chunks_;
    std::mutex mutex_;
};

} // namespace foldvm::dedup
