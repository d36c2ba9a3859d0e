// The page pool: a memfd holding one copy of every merged content. Sharers
// map a slot MAP_PRIVATE so the host kernel does copy-on-write for them.
#pragma once

#include "common/mapping.hpp"
#include "common/page.hpp"
#include "common/unique_fd.hpp"

#include <cstddef>
#include <cstdint>
#include <vector>

namespace foldvm::dedup {

constexpr uint32_t kNoSlot = 0xffffffffu;

class PagePool {
  public:
    // `max_slots` bounds the pool's address reservation, not its memory.
    explicit PagePool(uint32_t max_slots = 1u << 24);

    // Picks a free slot, preferring `hint` so neighbouring guest pages get
    // neighbouring slots and their mappings coalesce. Returns kNoSlot if full.
    uint32_t allocate(uint32_t hint = kNoSlot);
    // Returns the slot's memory to the kernel (PUNCH_HOLE) and frees it.
    void release(uint32_t slot);
    bool is_free(uint32_t slot) const;

    // Copies one page into a slot; false if the write failed (e.g. ENOMEM).
    bool fill(uint32_t slot, const uint8_t* page);
    // View of a slot, for comparing against it.
    uint8_t* slot_data(uint32_t slot) const { return view_.bytes() + size_t(slot) * kPageSize; }
    int fd() const { return fd_.get(); }
    uint64_t slot_offset(uint32_t slot) const { return uint64_t(slot) * kPageSize; }

    uint32_t slots_in_use() const { return in_use_; }
    uint32_t slots_reused() const { return reused_; }
    uint32_t high_water() const { return high_water_; }
    // Memory the pool really holds (allocated blocks of the memfd).
    uint64_t resident_bytes() const;

    // Maps `count` consecutive slots starting at `slot` over `addr` with
    // MAP_PRIVATE|MAP_FIXED. Throws SystemError on failure.
    void map_private(void* addr, uint32_t slot, size_t count) const;

  private:
    UniqueFd fd_;
    Mapping view_; // MAP_SHARED view of the whole pool, for the engine only
    uint32_t max_slots_;
    std::vector<uint64_t> used_; // bitmap
    std::vector<uint32_t> free_list_;
    uint32_t high_water_ = 0; // slots below this have been handed out before
    uint32_t in_use_ = 0;
    uint32_t reused_ = 0;
};

} // namespace foldvm::dedup
