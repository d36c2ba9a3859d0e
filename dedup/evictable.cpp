// The engine's side of sharing guest RAM with a pager: which pages may leave
// memory, decided under the engine lock so no merge or remap interleaves.
#include "engine.hpp"
#include "engine_region.hpp"

#include "common/error.hpp"

namespace foldvm::dedup {

void Engine::for_each_evictable(RegionId id, size_t first, size_t count,
                                const std::function<void(size_t first, size_t count)>& evict) {
    auto lock = lock_as_caller();
    auto it = regions_.find(id);
    if (it == regions_.end()) throw InvalidInput("no dedup region " + std::to_string(id));
    Region& r = *it->second;
    if (first > r.pages || count > r.pages - first)
        throw InvalidInput("evictable range outside region '" + r.spec.name + "'");
    size_t run = 0;
    for (size_t i = first; i < first + count; ++i) {
        const PageMeta& m = r.meta(i);
        bool ok = !m.has(kFileBacked) && !m.has(kZeroMerged) && !m.has(kDiscarded);
        if (ok) {
            ++run;
            continue;
        }
        if (run) evict(i - run, run);
        run = 0;
    }
    if (run) evict(first + count - run, run);
}

} // namespace foldvm::dedup
