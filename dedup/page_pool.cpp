#include "page_pool.hpp"

#include "common/error.hpp"

#include <fcntl.h>
#include <linux/falloc.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

namespace foldvm::dedup {

PagePool::PagePool(uint32_t max_slots) : max_slots_(max_slots) {
    fd_.reset(::memfd_create("foldvm-dedup-pool", MFD_CLOEXEC));
    if (!fd_) throw_errno("memfd_create(dedup pool)");
    uint64_t bytes = uint64_t(max_slots) * kPageSize;
    // A sparse file: only slots that hold content use memory.
    if (::ftruncate(fd_.get(), static_cast<off_t>(bytes)) < 0) throw_errno("ftruncate(pool)");
    void* view =
        ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_NORESERVE, fd_.get(), 0);
    if (view == MAP_FAILED) throw_errno("mmap(pool view)");
    view_ = Mapping(view, bytes);
    used_.assign((max_slots + 63) / 64, 0);
}

bool PagePool::is_free(uint32_t slot) const {
    return slot >= max_slots_ || !(used_[slot / 64] >> (slot % 64) & 1);
}

uint32_t PagePool::allocate(uint32_t hint) {
    uint32_t slot = kNoSlot;
    // Only the next fresh slot or a freed one: never leave holes below the
    // high-water mark that no free list knows about.
    if (hint <= high_water_ && hint < max_slots_ && is_free(hint)) {
        slot = hint;
    } else {
        while (!free_list_.empty()) {
            uint32_t s = free_list_.back();
            free_list_.pop_back();
            if (is_free(s) && s < high_water_) {
                slot = s;
                break;
            }
        }
        if (slot == kNoSlot) {
            while (high_water_ < max_slots_ && !is_free(high_water_))
                ++high_water_;
            if (high_water_ >= max_slots_) return kNoSlot;
            slot = high_water_;
        }
    }
    if (slot < high_water_) ++reused_;
    if (slot >= high_water_) high_water_ = slot + 1;
    used_[slot / 64] |= 1ull << (slot % 64);
    ++in_use_;
    return slot;
}

void PagePool::release(uint32_t slot) {
    if (is_free(slot)) return;
    if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
                    static_cast<off_t>(slot_offset(slot)), kPageSize) < 0)
        throw_errno("fallocate(PUNCH_HOLE) on pool slot");
    used_[slot / 64] &= ~(1ull << (slot % 64));
    free_list_.push_back(slot);
    --in_use_;
}

bool PagePool::fill(uint32_t slot, const uint8_t* page) {
    return ::pwrite(fd_.get(), page, kPageSize, static_cast<off_t>(slot_offset(slot))) ==
           static_cast<ssize_t>(kPageSize);
}

uint64_t PagePool::resident_bytes() const {
    struct stat st {};
    if (::fstat(fd_.get(), &st) < 0) return 0;
    return uint64_t(st.st_blocks) * 512;
}

void PagePool::map_private(void* addr, uint32_t slot, size_t count) const {
    void* p = ::mmap(addr, count * kPageSize, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_FIXED | MAP_NORESERVE, fd_.get(),
                     static_cast<off_t>(slot_offset(slot)));
    if (p == MAP_FAILED) throw_errno("mmap(MAP_PRIVATE|MAP_FIXED) of pool slots");
}

} // namespace foldvm::dedup
