// The freeze around a merge batch. A writer that touches a frozen page blocks
// in the kernel until the thaw; it then retries against the new mapping, and
// the kernel copies on write, so its write lands in a private copy.
#include "merge_batch.hpp"

#include <algorithm>

namespace foldvm::dedup {

namespace {

// Coalesces sorted page indices into ranges, bridging small gaps so one
// ioctl covers a neighbourhood (non-candidates are frozen only briefly).
template <typename Range> std::vector<Range> freeze_ranges(std::vector<size_t>& idx) {
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

Engine::Freeze::Freeze(Engine& engine, const std::vector<Candidate>& batch) {
    std::map<Region*, std::vector<size_t>> involved;
    for (const Candidate& c : batch) {
        Region* r = engine.region_of(*c.page);
        involved[r].push_back(r->index_of(*c.page));
        if (c.partner) {
            Region* p = engine.region_of(*c.partner);
            involved[p].push_back(p->index_of(*c.partner));
        }
    }
    try {
        for (auto& [r, idx] : involved) {
            auto ranges = freeze_ranges<Range>(idx);
            if (r->uffd) {
                for (const Range& g : ranges)
                    r->uffd->write_protect(r->address(g.first), g.count * kPageSize, true);
            } else {
                r->spec.pause();
            }
            frozen_[r] = std::move(ranges);
        }
    } catch (...) {
        // No destructor runs for a half-built object: thaw what froze here.
        try {
            thaw();
        } catch (const std::exception&) {
        }
        throw;
    }
}

Engine::Freeze::~Freeze() {
    if (thawed_) return;
    try {
        thaw();
    } catch (const std::exception&) {
    }
}

void Engine::Freeze::thaw() {
    thawed_ = true; // a failed thaw is reported once, not retried on unwind
    for (auto& [r, ranges] : frozen_) {
        if (r->uffd) {
            for (const Range& g : ranges)
                r->uffd->write_protect(r->address(g.first), g.count * kPageSize, false);
        } else {
            r->spec.resume();
        }
    }
}

} // namespace foldvm::dedup
