// Taking a page out of sharing: forgetting its merge state, and giving a page
// that lies in a pool mapping fresh anonymous memory.
#include "engine.hpp"
#include "engine_region.hpp"

#include "common/mapping.hpp"
#include "common/userfaultfd.hpp"

#include <sys/mman.h>

#include <cstring>

namespace foldvm::dedup {

void Engine::forget(Region& r, PageMeta& m) {
    if (m.has(kInUnstable)) {
        unstable_.erase(m);
        --r.counters.pages_unshared;
    }
    if (m.has(kZeroMerged)) {
        m.clear(kZeroMerged);
        --counters_.zero_pages;
        --r.counters.zero_pages;
    }
    if (m.stable != kNoStable) {
        StableNode& node = stable_.node(m.stable);
        m.stable = kNoStable;
        --r.counters.pages_merged;
        --counters_.sharers;
        if (--node.sharers == 0) {
            pool_.release(node.slot);
            stable_.destroy(node);
        }
    }
}

bool Engine::map_anonymous(Region& r, size_t first, size_t count) {
    uint8_t* addr = r.address(first);
    size_t len = count * kPageSize;
    if (::mmap(addr, len, PROT_READ | PROT_WRITE,
               MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE, -1, 0) == MAP_FAILED)
        return false;
    // The new mapping starts without the range's advice. Guest RAM under
    // dedup is MADV_NOHUGEPAGE because a transparent huge page hides 4 KiB
    // duplicates: without it, khugepaged could collapse these released pages
    // back into a populated huge page, and a mapping whose flags differ from
    // its NOHUGEPAGE neighbours can never merge with them again (one more
    // mapping of the budget). So both callers, discard and zero-page merge,
    // restore it. Advice is best effort: failing it loses no data.
    ::madvise(addr, len, MADV_NOHUGEPAGE);
    for (size_t i = first; i < first + count; ++i)
        r.meta(i).clear(kFileBacked);
    if (r.uffd) r.uffd->register_wp(addr, len);
    r.spec.tracker->on_remap(addr, len);
    return true;
}

bool Engine::rehome(Region& r, size_t first, size_t count) {
    if (!r.uffd || count == 0) return false;
    uint8_t* addr = r.address(first);
    size_t len = count * kPageSize;
    // The pages' new home is built aside and moved over them in one step, so
    // the range is never without its bytes: a fresh mapping made in place
    // would read zeros until the copy, and a reader there would not block.
    Mapping scratch;
    try {
        scratch = Mapping::anonymous(len);
        ::madvise(scratch.get(), len, MADV_NOHUGEPAGE); // see map_anonymous
        r.uffd->write_protect(addr, len, true);
    } catch (const std::exception&) {
        return false;
    }
    std::memcpy(scratch.get(), addr, len); // frozen: no write can land after this
    bool moved =
        ::mremap(scratch.get(), len, len, MREMAP_MAYMOVE | MREMAP_FIXED, addr) != MAP_FAILED;
    if (moved) {
        scratch.release(); // it lives at addr now
        // At most two more: the run, and the split of the mapping around it.
        // An estimate, not a re-read of /proc/self/maps: a copy-on-write
        // storm rehomes thousands of runs, and with 60k mappings each read
        // cost ~5 MB of text (a third of the host's CPU, profiled); the pass
        // start re-reads the true count.
        mappings_used_ += 2;
        for (size_t i = first; i < first + count; ++i)
            r.meta(i).clear(kFileBacked);
        try {
            r.uffd->register_wp(addr, len);
        } catch (const std::exception& e) {
            // The bytes are right; only future freezes of the range fail.
            log_once(rehome_register_failed_,
                     std::string("rehome: registering the moved pages failed: ") + e.what());
        }
        r.spec.tracker->on_remap(addr, len);
    }
    // Writers blocked on the old mapping's write-protection wait by address:
    // the thaw of the new mapping, and a plain wake in case it could not be
    // registered, send them on to the moved pages.
    try {
        r.uffd->write_protect(addr, len, false);
    } catch (const std::exception&) {
    }
    try {
        r.uffd->wake(addr, len);
    } catch (const std::exception&) {
    }
    if (moved) counters_.pages_rehomed += count;
    return moved;
}

} // namespace foldvm::dedup
