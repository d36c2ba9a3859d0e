// The merging half of the engine, one batch at a time: freeze the candidates'
// pages, verify their bytes, remap the equal ones onto pool slots, release
// the zero pages, thaw. Writes during the freeze block and are never lost
// (batch_freeze.cpp).
#include "merge_batch.hpp"

#include "common/error.hpp"
#include "common/procfs.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstring>

namespace foldvm::dedup {

namespace {

alignas(kPageSize) const uint8_t kZeros[kPageSize] = {};

} // namespace

bool Engine::mapping_budget_left(size_t runs) const {
    uint64_t limit = config_.mappings_limit;
    if (limit == 0) {
        static const uint64_t sysctl = procfs::max_map_count();
        limit = sysctl;
    }
    // Keep a reserve for the rest of the process (threads, allocators).
    uint64_t reserve = std::min<uint64_t>(limit / 16, 1024);
    return mappings_used_ + 2 * runs + reserve <= limit;
}

void Engine::execute_batch() {
    if (batch_.empty()) return;
    ++counters_.merge_batches;
    auto t0 = std::chrono::steady_clock::now();
    PhaseClock clock(phase_ns_);
    Freeze freeze(*this, batch_);
    clock.lap(Phase::Freeze);
    BatchPlan plan = verify_batch();
    clock.lap(Phase::Verify);
    remap_merged(plan.remaps);
    clock.lap(Phase::Remap);
    release_zero_pages(plan.zeros);
    clock.lap(Phase::Zero);
    freeze.thaw();
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    freeze_us_[freeze_samples_++ % freeze_us_.size()] = static_cast<uint32_t>(us);
    clock.lap(Phase::Thaw);
    release_emptied_nodes(plan.touched);
    batch_.clear();
}

void Engine::retry(PageMeta& m) {
    Region* r = region_of(m);
    r->set_pending(r->index_of(m));
    ++counters_.merge_failures;
}

// Under the freeze: compares every candidate's bytes and decides it. A
// failed candidate gives back the sharer it reserved and is visited again.
Engine::BatchPlan Engine::verify_batch() {
    BatchPlan plan;
    bool budget = mapping_budget_left(batch_.size());
    if (!budget && !mappings_exhausted_) {
        mappings_exhausted_ = true;
        log_once(logged_exhausted_, "dedup: mapping budget nearly exhausted (" +
                                        std::to_string(mappings_used_) +
                                        " mappings used); only zero pages will be merged");
    } else if (budget) {
        mappings_exhausted_ = false;
    }
    auto add_remap = [&](PageMeta* m, StableNode* node) {
        Region* r = region_of(*m);
        plan.remaps.push_back({r, r->index_of(*m), node->slot, m});
        m->stable = node->index;
    };
    for (const Candidate& c : batch_) {
        const uint8_t* page = page_address(*c.page);
        // A pager may have evicted a candidate since its visit: an unstable
        // tree partner waits across passes, and evictions take the engine
        // lock only between batches. Reading it would fault it back in as a
        // writable page outside the freeze, so a write landing before the
        // remap would be lost: it is retried once it is back.
        bool gone = is_absent(*c.page) || (c.partner && is_absent(*c.partner));
        switch (c.kind) {
        case Candidate::Kind::Zero:
            if (!gone && (!c.page->has(kFileBacked) || budget) &&
                std::memcmp(page, kZeros, kPageSize) == 0)
                plan.zeros.push_back(c.page);
            else
                retry(*c.page);
            break;
        case Candidate::Kind::Pair: {
            plan.touched.push_back(c.node);
            // Both pages are frozen: compare them directly, then fill the slot
            // with pwrite, which skips faulting the slot into our own view.
            if (!gone && budget && std::memcmp(page_address(*c.partner), page, kPageSize) == 0 &&
                pool_.fill(c.node->slot, page)) {
                add_remap(c.page, c.node);
                add_remap(c.partner, c.node);
            } else {
                c.node->sharers -= 2;
                retry(*c.page);
                retry(*c.partner);
            }
            break;
        }
        case Candidate::Kind::Stable:
            plan.touched.push_back(c.node);
            if (!gone && budget &&
                std::memcmp(page, pool_.slot_data(c.node->slot), kPageSize) == 0) {
                add_remap(c.page, c.node);
            } else {
                --c.node->sharers;
                retry(*c.page);
            }
            break;
        }
    }
    return plan;
}

// Maps verified pages onto their slots: consecutive pages onto consecutive
// slots take one mmap (and one mapping of the budget).
void Engine::remap_merged(std::vector<Remap>& remaps) {
    std::sort(remaps.begin(), remaps.end(), [](const Remap& a, const Remap& b) {
        return a.region != b.region ? a.region < b.region : a.index < b.index;
    });
    for (size_t i = 0; i < remaps.size();) {
        size_t j = i + 1;
        while (j < remaps.size() && remaps[j].region == remaps[i].region &&
               remaps[j].index == remaps[j - 1].index + 1 &&
               remaps[j].slot == remaps[j - 1].slot + 1)
            ++j;
        Region* r = remaps[i].region;
        uint8_t* addr = r->address(remaps[i].index);
        size_t len = (j - i) * kPageSize;
        try {
            pool_.map_private(addr, remaps[i].slot, j - i);
            mappings_used_ += 2;
            for (size_t k = i; k < j; ++k) {
                remaps[k].meta->set(kFileBacked);
                ++counters_.sharers;
                ++r->counters.pages_merged;
            }
            if (r->uffd) r->uffd->register_wp(addr, len);
            r->spec.tracker->on_remap(addr, len);
        } catch (const std::exception& e) {
            if (log_) log_(std::string("dedup: remap failed: ") + e.what());
            // The old mapping is still in place: undo the bookkeeping only.
            for (size_t k = i; k < j; ++k) {
                PageMeta* m = remaps[k].meta;
                --stable_.node(m->stable).sharers;
                m->stable = kNoStable;
                retry(*m);
            }
        }
        i = j;
    }
}

// Anonymous pages are simply released (MADV_DONTNEED, a run at a time); a
// page inside a pool mapping gets fresh anonymous memory instead, because
// MADV_DONTNEED there would expose the pool copy, not zeros.
void Engine::release_zero_pages(std::vector<PageMeta*>& zeros) {
    std::sort(zeros.begin(), zeros.end(),
              [](PageMeta* a, PageMeta* b) { return a->self < b->self; });
    for (size_t i = 0; i < zeros.size();) {
        PageMeta* m = zeros[i];
        Region* r = region_of(*m);
        size_t j = i + 1;
        bool ok;
        if (m->has(kFileBacked)) {
            ok = map_anonymous(*r, r->index_of(*m), 1);
            if (ok) mappings_used_ += 2;
        } else {
            // Page ids are consecutive within a region.
            while (j < zeros.size() && zeros[j]->self == zeros[j - 1]->self + 1 &&
                   region_of(*zeros[j]) == r && !zeros[j]->has(kFileBacked))
                ++j;
            ok = ::madvise(page_address(*m), (j - i) * kPageSize, MADV_DONTNEED) == 0;
        }
        for (size_t k = i; k < j; ++k) {
            if (!ok) {
                retry(*zeros[k]);
                continue;
            }
            zeros[k]->set(kZeroMerged);
            ++counters_.zero_pages;
            ++r->counters.zero_pages;
        }
        i = j;
    }
}

// After the thaw: a stable node whose candidates all failed holds a pool
// page nobody maps.
void Engine::release_emptied_nodes(const std::vector<StableNode*>& touched) {
    for (StableNode* node : touched) {
        if (node->sharers == 0 && !pool_.is_free(node->slot)) {
            pool_.release(node->slot);
            stable_.destroy(*node);
        }
    }
}

} // namespace foldvm::dedup
