// The engine's side of sharing guest RAM with a pager: which pages may leave
// memory, decided under the engine lock so no merge or remap interleaves.
#include "engine.hpp"
#include "engine_region.hpp"

#include "common/error.hpp"

namespace foldvm::dedup {

void Engine::for_each_evictable(RegionId id, size_t first, size_t count,
                                std::chrono::seconds not_written_within, ShareFirst wait_for_visit,
                                const std::function<void(size_t first, size_t count)>& evict) {
    auto lock = lock_as_caller();
    auto since = std::chrono::steady_clock::now() - not_written_within;
    // Written in pass p means written before pass_collected_[p % 256]; passes
    // older than the ring are older than its oldest entry.
    auto written_since = [&](const PageMeta& m) {
        if (not_written_within.count() == 0 || !m.has(kEverWritten)) return false;
        uint16_t age = static_cast<uint16_t>(static_cast<uint16_t>(pass_) - m.written_pass);
        if (age >= pass_collected_.size()) return false;
        return pass_collected_[m.written_pass % pass_collected_.size()] > since;
    };
    auto it = regions_.find(id);
    if (it == regions_.end()) throw InvalidInput("no dedup region " + std::to_string(id));
    Region& r = *it->second;
    if (first > r.pages || count > r.pages - first)
        throw InvalidInput("evictable range outside region '" + r.spec.name + "'");
    // Share before evict: a page a running engine has not looked at since
    // its last write may merge for free, so it waits for that visit in every
    // state. When memory is low the budget guard holds the VMs, so the
    // visits catch up; a stopped or failed engine visits nothing, and then
    // nothing waits. A caller shrinking one VM on purpose does not wait.
    bool share_first = wait_for_visit == ShareFirst::yes && config_.run == 1 && failure_.empty() &&
                       !mappings_exhausted_;
    // A pass over many filling VMs takes seconds, and a page written since
    // its region's last collection is not pending yet: collect now. Those
    // writes count as this pass's, so the pass's time moves up to now (it
    // then makes older writes of the pass look newer, which only keeps
    // pages in memory longer).
    auto now = std::chrono::steady_clock::now();
    if (share_first && now - r.collected_at > std::chrono::milliseconds(100)) {
        collect_writes(r);
        pass_collected_[pass_ % pass_collected_.size()] = now;
    }
    // A page waiting in the unstable tree is a merge partner: its twin in
    // another VM may be visited later in the pass, or in the next one if it
    // was written too recently. Evicted, it could not be compared with (dedup
    // never faults a page in), and the twin would wait in its place. So it
    // stays for the pass it went in and one full pass more.
    auto new_partner = [&](const PageMeta& m) {
        return m.has(kInUnstable) && static_cast<uint8_t>(pass_ - m.unstable_pass) < 2;
    };
    auto cold = [&](size_t i, const PageMeta& m) {
        return !m.has(kZeroMerged) && !m.has(kDiscarded) && !written_since(m) &&
               !(share_first && (r.is_pending(i) || new_partner(m)));
    };
    // Calls `each(first, count)` for every run of pages in the range that
    // `in_run` accepts.
    auto for_each_run = [&](auto in_run, auto each) {
        size_t run = 0;
        for (size_t i = first; i < first + count; ++i) {
            if (in_run(i, r.meta(i))) {
                ++run;
                continue;
            }
            if (run) each(i - run, run);
            run = 0;
        }
        if (run) each(first + count - run, run);
    };
    // Cold pages that broke copy-on-write in a pool mapping move to anonymous
    // memory first; after a copy-on-write storm they are most of a VM.
    for_each_run(
        [&](size_t i, const PageMeta& m) {
            return m.has(kFileBacked) && m.stable == kNoStable && cold(i, m);
        },
        [&](size_t f, size_t n) {
            if (rehome(r, f, n)) refresh_mappings_used_now_and_then();
        });
    for_each_run([&](size_t i, const PageMeta& m) { return !m.has(kFileBacked) && cold(i, m); },
                 evict);
}

} // namespace foldvm::dedup
