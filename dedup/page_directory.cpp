#include "page_directory.hpp"

#include "common/error.hpp"

#include <mimalloc.h>

#include <cstring>
#include <stdexcept>

namespace foldvm::dedup {

PageDirectory PageDirectory::instance_;

PageDirectory::PageDirectory() : chunks_(std::make_unique<MetaChunk[]>(kMaxChunks)) {}

PageId PageDirectory::allocate(size_t pages, void* owner) {
    size_t need = (pages + kChunkPages - 1) / kChunkPages;
    std::lock_guard lock(mutex_);
    // First fit over the chunk table; chunk 0 is never used so that no valid
    // id collides with small sentinel values.
    size_t run = 0;
    for (size_t c = 1; c < kMaxChunks; ++c) {
        run = chunks_[c].metas ? 0 : run + 1;
        if (run < need) continue;
        size_t first = c + 1 - need;
        for (size_t i = 0; i < need; ++i) {
            auto* metas =
                static_cast<PageMeta*>(mi_zalloc_aligned(sizeof(PageMeta) * kChunkPages, 64));
            if (!metas) throw std::bad_alloc();
            chunks_[first + i] = {metas, owner, static_cast<uint32_t>(i * kChunkPages)};
            for (uint32_t p = 0; p < kChunkPages; ++p) {
                PageMeta& m = metas[p];
                m.self = static_cast<PageId>(((first + i) << kChunkShift) + p);
                m.parent = m.left = m.right = kNilPage;
                m.stable = kNoStable;
            }
        }
        return static_cast<PageId>(first << kChunkShift);
    }
    throw std::runtime_error("dedup page id space exhausted (more than 1 TiB tracked)");
}

void PageDirectory::release(PageId first, size_t pages) {
    size_t need = (pages + kChunkPages - 1) / kChunkPages;
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < need; ++i) {
        MetaChunk& c = chunks_[(first >> kChunkShift) + i];
        mi_free(c.metas);
        c = {};
    }
}

} // namespace foldvm::dedup
