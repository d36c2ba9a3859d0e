// The dedup engine: a scanner thread that hashes changed pages, finds equal
// contents through the stable and unstable trees, and merges them into the
// page pool under a write-protect freeze so that no write is ever lost.
#pragma once

#include "config.hpp"
#include "page_pool.hpp"
#include "phase_clock.hpp"
#include "region.hpp"
#include "stable_tree.hpp"
#include "stats.hpp"
#include "unstable_tree.hpp"

#include "common/share_first.hpp"
#include "common/userfaultfd.hpp"

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

namespace foldvm::dedup {

class Engine {
  public:
    using Logger = std::function<void(const std::string&)>;
    explicit Engine(const DedupConfig& config = {}, Logger log = {});
    ~Engine();
    Engine(const Engine&) = delete;
    Engine& operator=(const Engine&) = delete;

    RegionId add_region(RegionSpec spec);
    // Drops the region's pool references. The caller unmaps its memory after.
    void remove_region(RegionId id);

    void start(); // runs the scanner thread
    void stop();

    DedupConfig config() const;
    // Validates first, then applies atomically; wakes the scanner.
    void set_config(const DedupConfig& config);
    // Read-modify-write under the engine lock: `edit` changes a copy of the
    // current config, which is validated and applied as set_config does.
    // Concurrent updates never lose each other's fields. Returns the new
    // config; on an invalid result (InvalidInput) nothing changes.
    DedupConfig update_config(const std::function<void(DedupConfig&)>& edit);
    DedupStats stats() const;
    // One region's counters (as in stats().regions), without the engine-wide
    // figures; nullopt for an unknown region.
    std::optional<RegionStats> region_stats(RegionId id) const;
    // Runs a full pass right away instead of sleeping.
    void scan_now();

    // Releases `count` pages of a region starting at page `first` (a balloon
    // inflate or a free page report): afterwards they read as zeros and hold
    // no memory. Pages in a pool mapping (merged, or privately copied after a
    // COW break) get fresh anonymous memory mapped over them, since
    // MADV_DONTNEED there would expose the pool copy; their sharer counts
    // drop. The rest is released with MADV_DONTNEED. Every page leaves the
    // trees and is skipped by the scanner until it is written again.
    // `while_blocked` runs between attempts to take the engine lock when the
    // region freezes by pausing its writers (the caller may be such a
    // writer, e.g. a vCPU thread, and must let the pause through).
    // Throws InvalidInput for an unknown region or a range outside it.
    void discard_range(RegionId id, size_t first, size_t count,
                       const std::function<void()>& while_blocked = {});

    // For a pager outside the engine that moves pages out of memory: calls
    // `evict(first, count)` under the engine lock for each run of pages in
    // [first, first+count) of the region that may leave memory: plain
    // anonymous pages. A page that broke copy-on-write in a pool mapping is
    // first moved to anonymous memory (rehome); merged pages are left out
    // (dropping them would expose the pool copy, and a merged page is shared
    // already), as are zero-merged and discarded pages (they hold no memory),
    // and, with `share_first` while the engine runs, pages it has not
    // visited since their last write (they may still merge). No merge
    // interleaves with `evict`; it marks what it took in the region's
    // `absent` bitmap. Pages the dirty log saw written within
    // `not_written_within` are left out too: the pager sees only faults, and
    // a page that is written all the time never faults. Throws InvalidInput
    // for an unknown region or range.
    void for_each_evictable(RegionId id, size_t first, size_t count,
                            std::chrono::seconds not_written_within, ShareFirst share_first,
                            const std::function<void(size_t first, size_t count)>& evict);

    // Synchronous operations on the caller's thread (tests, benchmarks).
    void run_full_pass();
    void unmerge_all();
    uint64_t full_scans() const { return counters_.full_scans.load(); }
    // Memory the pool holds, each page once; takes no lock (an fstat).
    uint64_t pool_resident_bytes() const { return pool_.resident_bytes(); }

  private:
    struct Region;
    struct Candidate {
        enum class Kind : uint8_t { Zero, Stable, Pair } kind;
        PageMeta* page;
        PageMeta* partner; // Pair only
        StableNode* node;  // Stable and Pair
    };

    // engine.cpp
    void thread_main();
    Region* region_of(const PageMeta& m) const;
    uint8_t* page_address(const PageMeta& m) const;
    // Out of memory by a pager's choice (the region's absent bitmap).
    bool is_absent(const PageMeta& m) const;
    void refresh_mappings_used();
    void refresh_mappings_used_now_and_then(); // at most once a second
    void log_once(bool& flag, const std::string& msg);
    // Called on the dedup thread when a pass throws: thaw, stop, report.
    void halt_after_failure(const std::string& what);

    // page_release.cpp
    // Takes a page out of whatever merge state it is in (unstable tree, zero
    // page, pool sharer), keeping the engine's and the region's counters in
    // step. Its memory is left alone: the caller decides what it becomes.
    void forget(Region& r, PageMeta& m);
    // Maps fresh anonymous memory over `count` pages from `first`, so pages
    // in a pool mapping read zeros and hold no memory; re-attaches the freeze
    // and the tracker. False if mmap failed: the old mapping is intact and
    // errno says why.
    bool map_anonymous(Region& r, size_t first, size_t count);
    // Moves `count` pages from `first` that broke copy-on-write inside a pool
    // mapping into fresh anonymous memory with their bytes: such a page
    // cannot leave memory where it is (MADV_DONTNEED would expose the pool
    // copy), and an anonymous page can. Freezes the run (uffd regions only)
    // so no write is lost between the copy and the move. False, with the
    // pages untouched, if the region has no userfaultfd or a step failed.
    bool rehome(Region& r, size_t first, size_t count);

    // scan.cpp
    void begin_pass();
    void collect_writes(Region& r);
    void note_write(Region& r, PageMeta& m);
    // Visits up to `budget` pages; returns true when the pass completed.
    bool scan_some(uint64_t budget);
    void visit(Region& r, PageMeta& m);
    void unmerge_all_locked();

    // discard.cpp
    void discard_locked(Region& r, size_t first, size_t count);

    // merge_batch.cpp: freeze -> verify -> remap -> zero -> thaw.
    class Freeze;     // batch_freeze.cpp
    struct Remap;     // merge_batch.hpp
    struct BatchPlan; // merge_batch.hpp
    void execute_batch();
    BatchPlan verify_batch();
    void remap_merged(std::vector<Remap>& remaps);
    void release_zero_pages(std::vector<PageMeta*>& zeros);
    void release_emptied_nodes(const std::vector<StableNode*>& touched);
    // A candidate that failed verification or its remap is visited again.
    void retry(PageMeta& m);
    bool mapping_budget_left(size_t runs) const;

    // Takes mutex_ for anyone but the scan thread. While such callers wait,
    // the scan thread steps aside between merge batches (scan_some), so a
    // pager's eviction or a stats read waits one batch, not a scan budget.
    std::unique_lock<std::mutex> lock_as_caller() const;
    void yield_to_callers();

    mutable std::mutex mutex_;
    mutable std::atomic<uint32_t> waiting_callers_{0};
    std::condition_variable cv_;
    DedupConfig config_;
    Logger log_;
    std::thread thread_;
    std::atomic<bool> stop_{false};
    bool scan_now_ = false;
    bool config_changed_ = false;

    PagePool pool_;
    StableTree stable_;
    UnstableTree unstable_;
    std::map<RegionId, std::unique_ptr<Region>> regions_;
    RegionId next_region_ = 1;
    std::map<std::string, uint32_t> domains_;
    uint64_t zero_hash_;

    // Scan cursor.
    uint32_t pass_ = 1;
    // When each of the last 256 passes collected the dirty log (by pass_ % 256):
    // a write noted in pass p happened before pass_collected_[p % 256].
    std::array<std::chrono::steady_clock::time_point, 256> pass_collected_{};
    RegionId cursor_region_ = 0;
    size_t cursor_page_ = 0;
    bool pass_open_ = false;
    bool unmerged_ = false;

    std::vector<Candidate> batch_;

    // What the engine counts as it goes; stats() reports it. Guarded by
    // mutex_, except full_scans, which full_scans() reads without the lock.
    struct Counters {
        std::atomic<uint64_t> full_scans{0};
        uint64_t pages_scanned = 0, pages_hashed = 0; // cumulative
        uint64_t zero_pages = 0;                      // released as zero pages now
        uint64_t sharers = 0;                         // guest pages mapping a pool copy now
        uint64_t cow_breaks = 0, merge_batches = 0, merge_failures = 0;
        uint64_t pages_discarded = 0;
        uint64_t pages_rehomed = 0;
        double cpu_s = 0; // CPU time of the dedup thread
    } counters_;

    uint64_t mappings_used_ = 0, mappings_baseline_time_ = 0;
    bool mappings_exhausted_ = false, logged_exhausted_ = false, logged_pause_ = false;
    bool rehome_register_failed_ = false;
    std::string failure_; // why the engine stopped itself, "" if it did not
    std::array<uint32_t, 1024> freeze_us_{};
    size_t freeze_samples_ = 0;
    std::array<uint64_t, kPhaseCount> phase_ns_{};
};

} // namespace foldvm::dedup
