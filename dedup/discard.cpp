// Pages given back by their owner (balloon inflate, free page reporting).
// The interesting case is a page inside a pool mapping: MADV_DONTNEED there
// drops only the private copy and the page reads back the pool slot (which
// may since hold another content), so fresh anonymous memory is mapped over
// it instead.
#include "engine.hpp"
#include "engine_region.hpp"

#include "common/error.hpp"

#include <sys/mman.h>

#include <chrono>
#include <thread>

namespace foldvm::dedup {

void Engine::discard_range(RegionId id, size_t first, size_t count,
                           const std::function<void()>& while_blocked) {
    std::unique_lock lock(mutex_, std::defer_lock);
    {
        // A pause-mode freeze stops the region's writers while holding the
        // lock; a writer waiting here must let that pause through.
        bool pauses = false;
        {
            std::lock_guard probe(mutex_);
            auto it = regions_.find(id);
            if (it == regions_.end()) throw InvalidInput("discard: unknown dedup region");
            pauses = !it->second->uffd;
        }
        if (pauses && while_blocked) {
            while (!lock.try_lock()) {
                while_blocked();
                std::this_thread::sleep_for(std::chrono::microseconds(50));
            }
        } else {
            lock.lock();
        }
    }
    auto it = regions_.find(id);
    if (it == regions_.end()) throw InvalidInput("discard: unknown dedup region");
    Region& r = *it->second;
    if (first > r.pages || count > r.pages - first)
        throw InvalidInput("discard: pages [" + std::to_string(first) + ", +" +
                           std::to_string(count) + ") outside region '" + r.spec.name + "'");
    execute_batch(); // pending candidates may point into the range
    discard_locked(r, first, count);
}

void Engine::discard_locked(Region& r, size_t first, size_t count) {
    size_t end = first + count;
    for (size_t i = first; i < end;) {
        // Each run is pool-mapped pages or plain anonymous pages.
        bool file = r.meta(i).has(kFileBacked);
        size_t j = i;
        for (; j < end && r.meta(j).has(kFileBacked) == file; ++j) {
            PageMeta& m = r.meta(j);
            forget(r, m);
            m.clear(kHashed);
            m.set(kDiscarded);
        }
        uint8_t* addr = r.address(i);
        size_t len = (j - i) * kPageSize;
        if (file) {
            if (!map_anonymous(r, i, j - i))
                throw_errno("discard: mmap(MAP_FIXED) over pool pages");
            mappings_used_ += 2; // an estimate: the pass start re-reads the count
        } else if (::madvise(addr, len, MADV_DONTNEED) != 0) {
            throw_errno("discard: madvise(MADV_DONTNEED)");
        }
        counters_.pages_discarded += j - i;
        i = j;
    }
}

} // namespace foldvm::dedup
