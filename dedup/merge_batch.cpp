// The merging half of the engine: freeze -> verify bytes -> remap -> wake.
// A writer that touches a frozen page blocks in the kernel until the wake;
// it then retries against the new mapping, and the kernel copies on write,
// so its write lands in a private copy and is never lost.
#include "engine.hpp"
#include "engine_region.hpp"

#include "common/error.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <map>

namespace foldvm::dedup {

namespace {

alignas(kPageSize) const uint8_t kZeros[kPageSize] = {};

struct Range {
    size_t first;
    size_t count;
};

// Coalesces sorted page indices into ranges, bridging small gaps so one
// ioctl covers a neighbourhood (non-candidates are frozen only briefly).
std::vector<Range> freeze_ranges(std::vector<size_t>& idx) {
    std::sort(idx.begin(), idx.end());
    idx.erase(std::unique(idx.begin(), idx.end()), idx.end());
    std::vector<Range> out;
    for (size_t i : idx) {
        if (!out.empty() && i - (out.back().first + out.back().count) <= 8)
            out.back().count = i - out.back().first + 1;
        else
            out.push_back({i, 1});
    }
    return out;
}

} // namespace

bool Engine::mapping_budget_left(size_t runs) const {
    uint64_t limit = config_.mappings_limit;
    if (limit == 0) {
        static const uint64_t sysctl = [] {
            FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r");
            unsigned long long v = 65530;
            if (f) {
                if (std::fscanf(f, "%llu", &v) != 1) v = 65530;
                std::fclose(f);
            }
            return uint64_t(v);
        }();
        limit = sysctl;
    }
    // Keep a reserve for the rest of the process (threads, allocators).
    uint64_t reserve = std::min<uint64_t>(limit / 16, 1024);
    return mappings_used_ + 2 * runs + reserve <= limit;
}

void Engine::execute_batch() {
    if (batch_.empty()) return;
    ++merge_batches_;

    std::map<Region*, std::vector<size_t>> involved;
    for (const Candidate& c : batch_) {
        involved[region_of(*c.page)].push_back(region_of(*c.page)->index_of(*c.page));
        if (c.partner)
            involved[region_of(*c.partner)].push_back(region_of(*c.partner)->index_of(*c.partner));
    }
    std::map<Region*, std::vector<Range>> frozen;
    auto thaw = [&frozen] {
        for (auto& [r, ranges] : frozen) {
            if (r->uffd) {
                for (const Range& g : ranges)
                    r->uffd->write_protect(r->address(g.first), g.count * kPageSize, false);
            } else {
                r->spec.resume();
            }
        }
    };
    // If anything below throws, writers must not stay frozen or paused.
    struct ThawOnUnwind {
        decltype(thaw)& run;
        bool armed = true;
        ~ThawOnUnwind() {
            if (!armed) return;
            try {
                run();
            } catch (const std::exception&) {
            }
        }
    } thaw_guard{thaw};
    auto t0 = std::chrono::steady_clock::now();
    PhaseClock clock(phase_ns_);
    for (auto& [r, idx] : involved) {
        auto ranges = freeze_ranges(idx);
        if (r->uffd) {
            for (const Range& g : ranges)
                r->uffd->write_protect(r->address(g.first), g.count * kPageSize, true);
        } else {
            r->spec.pause();
        }
        frozen[r] = std::move(ranges);
    }

    clock.lap(Phase::Freeze);
    // Verify bytes under the freeze and decide every candidate.
    struct Remap {
        Region* region;
        size_t index;
        uint32_t slot;
        PageMeta* meta;
    };
    std::vector<Remap> remaps;
    std::vector<PageMeta*> zeros;
    std::vector<StableNode*> touched;
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
        remaps.push_back({r, r->index_of(*m), node->slot, m});
        m->stable = node->index;
    };
    // A failed candidate must be visited again (its partner too).
    auto retry = [&](PageMeta* m) {
        Region* r = region_of(*m);
        r->set_pending(r->index_of(*m));
        ++merge_failures_;
    };
    for (const Candidate& c : batch_) {
        const uint8_t* page = page_address(*c.page);
        switch (c.kind) {
        case Candidate::Kind::Zero:
            if ((!c.page->has(kFileBacked) || budget) && std::memcmp(page, kZeros, kPageSize) == 0)
                zeros.push_back(c.page);
            else
                retry(c.page);
            break;
        case Candidate::Kind::Pair: {
            touched.push_back(c.node);
            // Both pages are frozen: compare them directly, then fill the slot
            // with pwrite, which skips faulting the slot into our own view.
            if (budget && std::memcmp(page_address(*c.partner), page, kPageSize) == 0 &&
                pool_.fill(c.node->slot, page)) {
                add_remap(c.page, c.node);
                add_remap(c.partner, c.node);
            } else {
                c.node->sharers -= 2;
                retry(c.page);
                retry(c.partner);
            }
            break;
        }
        case Candidate::Kind::Stable:
            touched.push_back(c.node);
            if (budget && std::memcmp(page, pool_.slot_data(c.node->slot), kPageSize) == 0) {
                add_remap(c.page, c.node);
            } else {
                --c.node->sharers;
                retry(c.page);
            }
            break;
        }
    }

    clock.lap(Phase::Verify);
    // Remap runs: consecutive pages onto consecutive slots take one mmap.
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
                PageMeta* m = remaps[k].meta;
                m->set(kFileBacked);
                ++sharers_;
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
                retry(m);
            }
        }
        i = j;
    }

    // Zero pages: anonymous pages are simply released; a page inside a pool
    // mapping needs fresh anonymous memory mapped over it instead, because
    // MADV_DONTNEED there would expose the pool copy, not zeros.
    clock.lap(Phase::Remap);
    std::sort(zeros.begin(), zeros.end(),
              [](PageMeta* a, PageMeta* b) { return a->self < b->self; });
    for (size_t i = 0; i < zeros.size();) {
        PageMeta* m = zeros[i];
        Region* r = region_of(*m);
        uint8_t* addr = page_address(*m);
        size_t j = i + 1;
        if (!m->has(kFileBacked)) { // page ids are consecutive within a region
            while (j < zeros.size() && zeros[j]->self == zeros[j - 1]->self + 1 &&
                   region_of(*zeros[j]) == r && !zeros[j]->has(kFileBacked))
                ++j;
        }
        size_t len = (j - i) * kPageSize;
        bool ok;
        if (m->has(kFileBacked)) {
            ok = ::mmap(addr, kPageSize, PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1,
                        0) != MAP_FAILED;
            if (ok) {
                m->clear(kFileBacked);
                mappings_used_ += 2;
                if (r->uffd) r->uffd->register_wp(addr, kPageSize);
                r->spec.tracker->on_remap(addr, kPageSize);
            }
        } else {
            ok = ::madvise(addr, len, MADV_DONTNEED) == 0;
        }
        for (size_t k = i; k < j; ++k) {
            if (!ok) {
                retry(zeros[k]);
                continue;
            }
            zeros[k]->set(kZeroMerged);
            ++zero_pages_;
            ++r->counters.zero_pages;
        }
        i = j;
    }

    clock.lap(Phase::Zero);
    thaw_guard.armed = false;
    thaw();
    auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - t0)
            .count();
    freeze_us_[freeze_samples_++ % freeze_us_.size()] = static_cast<uint32_t>(us);
    clock.lap(Phase::Thaw);

    for (StableNode* node : touched) {
        if (node->sharers == 0 && !pool_.is_free(node->slot)) {
            pool_.release(node->slot);
            stable_.destroy(*node);
        }
    }
    batch_.clear();
}

} // namespace foldvm::dedup
