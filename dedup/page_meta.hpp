// Per-tracked-page metadata: 32 bytes (KSM's rmap_item is 64). Tree links
// are 32-bit page ids instead of pointers, which is what makes it fit.
#pragma once

#include <cstdint>

namespace foldvm::dedup {

using PageId = uint32_t;
constexpr PageId kNilPage = 0xffffffffu;
constexpr uint32_t kNoStable = 0xffffffffu;

enum PageFlag : uint8_t {
    kHashed = 1 << 0,      // `hash` matches the page's bytes since its last write
    kInUnstable = 1 << 1,  // linked into the unstable tree
    kZeroMerged = 1 << 2,  // released with MADV_DONTNEED; reads see the zero page
    kFileBacked = 1 << 3,  // lies in a pool mapping (merged now or before a COW break)
    kRed = 1 << 4,         // red-black colour for the unstable tree
    kVolatile = 1 << 5,    // skipped this pass as recently written
    kEverWritten = 1 << 6, // written at least once since registration
    kDiscarded = 1 << 7,   // given back by its owner (balloon); skipped until written
};

struct PageMeta {
    uint64_t hash;
    PageId parent, left, right; // unstable tree links
    uint32_t stable;            // stable node index, or kNoStable
    PageId self;
    uint16_t written_pass; // low bits of the last pass that saw a write
    uint8_t flags;
    uint8_t unstable_pass; // low bits of the pass that put it in the unstable tree

    bool has(PageFlag f) const { return flags & f; }
    void set(PageFlag f) { flags = static_cast<uint8_t>(flags | f); }
    void clear(PageFlag f) { flags = static_cast<uint8_t>(flags & ~f); }
};
static_assert(sizeof(PageMeta) == 32, "per-page metadata must stay at 32 bytes");

} // namespace foldvm::dedup
