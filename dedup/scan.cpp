// The scanning half of the engine: consume write tracking, hash what changed,
// and look pages up in the trees to build merge candidates.
#include "engine.hpp"
#include "engine_region.hpp"

#include "common/error.hpp"

#include <xxhash.h>

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <bit>
#include <chrono>
#include <cstring>
#include <thread>

namespace foldvm::dedup {

namespace {

constexpr uint64_t kPagemapPresent = 1ull << 63;
constexpr uint64_t kPagemapSwapped = 1ull << 62;
constexpr uint64_t kPagemapFileOrShared = 1ull << 61;

// True if the page at `addr` still maps the pool copy (no private COW copy).
bool still_maps_pool(const uint8_t* addr) {
    static int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false; // cannot tell: assume the sharer broke away
    uint64_t entry = 0;
    off_t off = static_cast<off_t>(reinterpret_cast<uintptr_t>(addr) / kPageSize * 8);
    if (::pread(fd, &entry, 8, off) != 8) return false;
    if (entry & kPagemapSwapped) return false;
    if (!(entry & kPagemapPresent)) return true; // nothing private was created
    return (entry & kPagemapFileOrShared) != 0;
}

} // namespace

void Engine::begin_pass() {
    PhaseClock clock(phase_ns_);
    pass_collected_[pass_ % pass_collected_.size()] = std::chrono::steady_clock::now();
    for (auto& [id, r] : regions_)
        collect_writes(*r);
    clock.lap(Phase::Collect);
    for (auto& [id, r] : regions_)
        r->counters.pages_volatile = 0;
    refresh_mappings_used_now_and_then();
    cursor_region_ = regions_.empty() ? 0 : regions_.begin()->first;
    cursor_page_ = 0;
    pass_open_ = true;
}

void Engine::collect_writes(Region& r) {
    r.collected_at = std::chrono::steady_clock::now();
    std::fill(r.dirty.begin(), r.dirty.end(), 0);
    r.spec.tracker->collect(r.dirty.data());
    for (size_t w = 0; w < r.dirty.size(); ++w) {
        uint64_t bits = r.dirty[w];
        while (bits) {
            size_t i = w * 64 + static_cast<size_t>(std::countr_zero(bits));
            bits &= bits - 1;
            if (i < r.pages) note_write(r, r.meta(i));
        }
    }
}

void Engine::note_write(Region& r, PageMeta& m) {
    size_t index = r.index_of(m);
    r.set_pending(index);
    m.written_pass = static_cast<uint16_t>(pass_);
    m.set(kEverWritten);
    m.clear(kHashed);
    m.clear(kDiscarded);
    if (m.stable != kNoStable) {
        // Reconcile with pagemap: a sharer only leaves when it really owns a
        // private copy now (the dirty log can also report our own remaps).
        // A pool sharer is in no other merge state, so nothing else is left
        // to forget when it stays.
        if (still_maps_pool(r.address(index))) return;
        ++counters_.cow_breaks;
        ++r.counters.cow_breaks;
    }
    forget(r, m);
}

std::unique_lock<std::mutex> Engine::lock_as_caller() const {
    waiting_callers_.fetch_add(1, std::memory_order_relaxed);
    std::unique_lock lock(mutex_);
    waiting_callers_.fetch_sub(1, std::memory_order_relaxed);
    return lock;
}

void Engine::yield_to_callers() {
    // The scan thread holds mutex_ here through its caller's lock object,
    // which stays the owner: unlock and relock keep it consistent. A plain
    // unlock/lock would often win the mutex straight back, so wait (briefly)
    // until the waiting callers have taken their turn.
    mutex_.unlock();
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
    while (waiting_callers_.load(std::memory_order_relaxed) &&
           std::chrono::steady_clock::now() < until)
        std::this_thread::yield();
    mutex_.lock();
}

bool Engine::scan_some(uint64_t budget) {
    if (!pass_open_) begin_pass();
    const uint32_t batch_limit = config_.merge_batch_pages;
    while (budget > 0) {
        auto it = regions_.lower_bound(cursor_region_);
        if (it != regions_.end() && it->first != cursor_region_) cursor_page_ = 0;
        if (it != regions_.end() && cursor_page_ >= it->second->pages) {
            ++it;
            cursor_page_ = 0;
        }
        if (it == regions_.end()) {
            execute_batch();
            ++counters_.full_scans;
            ++pass_;
            pass_open_ = false;
            return true;
        }
        Region& r = *it->second;
        cursor_region_ = it->first;
        // Only pending pages are visited; settled ones are skipped 64 at a time.
        while (budget > 0 && cursor_page_ < r.pages) {
            size_t w = cursor_page_ / 64;
            uint64_t bits = r.pending[w] & (~0ull << (cursor_page_ % 64));
            if (!bits) {
                cursor_page_ = (w + 1) * 64;
                continue;
            }
            size_t i = w * 64 + static_cast<size_t>(std::countr_zero(bits));
            if (i >= r.pages) {
                cursor_page_ = r.pages;
                break;
            }
            r.clear_pending(i); // visit() sets it again if the page must come back
            visit(r, r.meta(i));
            --budget;
            cursor_page_ = i + 1;
            bool callers_waiting = waiting_callers_.load(std::memory_order_relaxed) != 0;
            if (batch_.size() >= batch_limit || callers_waiting) execute_batch();
            if (callers_waiting) {
                // Only with the batch empty: a caller may evict or discard
                // a page a pending candidate points at.
                yield_to_callers();
                if (!pass_open_) return true; // a caller's full pass closed it
                break;                        // regions may have changed: look the cursor up again
            }
        }
    }
    execute_batch();
    return false;
}

void Engine::visit(Region& r, PageMeta& m) {
    ++counters_.pages_scanned;
    if (m.stable != kNoStable || m.has(kZeroMerged) || m.has(kInUnstable) || m.has(kDiscarded))
        return;
    if (r.is_absent(r.index_of(m))) {
        // Out of memory by a pager's choice: look again once it is back.
        r.set_pending(r.index_of(m));
        ++r.counters.pages_absent_skipped;
        return;
    }
    if (config_.volatile_passes > 0 && m.has(kEverWritten) &&
        static_cast<uint16_t>(pass_ - m.written_pass) < config_.volatile_passes) {
        r.set_pending(r.index_of(m));
        ++r.counters.pages_volatile;
        return;
    }
    const uint8_t* addr = r.address(r.index_of(m));
    if (!m.has(kHashed)) {
        PhaseClock clock(phase_ns_);
        m.hash = XXH3_64bits(addr, kPageSize) ^ r.hash_salt;
        clock.lap(Phase::Hash);
        m.set(kHashed);
        ++counters_.pages_hashed;
    }
    if ((m.hash ^ r.hash_salt) == zero_hash_ && config_.use_zero_pages) {
        batch_.push_back({Candidate::Kind::Zero, &m, nullptr, nullptr});
        return;
    }
    StableKey key{r.domain, m.hash};
    if (StableNode* node = stable_.find_with_room(key, config_.max_page_sharing)) {
        ++node->sharers; // reserve room now; released if the merge fails
        batch_.push_back({Candidate::Kind::Stable, &m, nullptr, node});
        return;
    }
    if (PageMeta* partner = unstable_.find(m.hash)) {
        unstable_.erase(*partner);
        --region_of(*partner)->counters.pages_unshared;
        // Prefer the pool slot after the left neighbour's, so runs of merged
        // neighbours map consecutive slots and coalesce into one mapping.
        uint32_t hint = kNoSlot;
        size_t idx = r.index_of(m);
        if (idx > 0 && r.meta(idx - 1).stable != kNoStable)
            hint = stable_.node(r.meta(idx - 1).stable).slot + 1;
        uint32_t slot = pool_.allocate(hint);
        if (slot == kNoSlot) { // pool full: both stay unmerged and are retried
            unstable_.insert(*partner);
            ++region_of(*partner)->counters.pages_unshared;
            r.set_pending(idx);
            return;
        }
        StableNode& node = stable_.create(key, slot);
        node.sharers = 2;
        batch_.push_back({Candidate::Kind::Pair, &m, partner, &node});
        return;
    }
    unstable_.insert(m);
    m.unstable_pass = static_cast<uint8_t>(pass_);
    ++r.counters.pages_unshared;
}

void Engine::unmerge_all_locked() {
    execute_batch();
    for (auto& [id, r] : regions_) {
        for (size_t i = 0; i < r->pages; ++i) {
            PageMeta& m = r->meta(i);
            if (m.stable != kNoStable) {
                // An atomic add of zero is a write the kernel must honour, so
                // it breaks COW without racing a concurrent writer's bytes.
                // It must precede forget(), which may free the pool copy.
                auto* word = reinterpret_cast<std::atomic<uint64_t>*>(r->address(i));
                word->fetch_add(0, std::memory_order_relaxed);
                m.clear(kHashed);
                r->set_pending(i);
            } else if (!m.has(kInUnstable)) {
                continue; // zero pages stay released
            }
            forget(*r, m);
        }
        for (size_t i = 0; i < r->pages; ++i)
            if (!r->meta(i).has(kZeroMerged)) r->set_pending(i);
    }
}

} // namespace foldvm::dedup
