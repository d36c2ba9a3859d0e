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

#include "common/userfaultfd.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
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

    // Synchronous operations on the caller's thread (tests, benchmarks).
    void run_full_pass();
    void unmerge_all();
    uint64_t full_scans() const { return full_scans_.load(); }

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
    void refresh_mappings_used();
    void log_once(bool& flag, const std::string& msg);
    // Called on the dedup thread when a pass throws: thaw, stop, report.
    void halt_after_failure(const std::string& what);
    void drop_sharer(PageMeta& m);

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
    void remap_anonymous(Region& r, size_t first, size_t count);

    // merge_batch.cpp
    void execute_batch();
    bool mapping_budget_left(size_t runs) const;

    mutable std::mutex mutex_;
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
    RegionId cursor_region_ = 0;
    size_t cursor_page_ = 0;
    bool pass_open_ = false;
    bool unmerged_ = false;

    std::vector<Candidate> batch_;

    // Counters (guarded by mutex_ unless atomic).
    std::atomic<uint64_t> full_scans_{0};
    uint64_t pages_scanned_ = 0, pages_hashed_ = 0, zero_pages_ = 0, sharers_ = 0;
    uint64_t cow_breaks_ = 0, merge_batches_ = 0, merge_failures_ = 0;
    uint64_t pages_discarded_ = 0;
    uint64_t volatile_now_ = 0, volatile_last_pass_ = 0;
    uint64_t mappings_used_ = 0, mappings_baseline_time_ = 0;
    bool mappings_exhausted_ = false, logged_exhausted_ = false, logged_pause_ = false;
    std::string failure_; // why the engine stopped itself, "" if it did not
    std::array<uint32_t, 1024> freeze_us_{};
    size_t freeze_samples_ = 0;
    double cpu_s_ = 0;
    std::array<uint64_t, kPhaseCount> phase_ns_{};
};

} // namespace foldvm::dedup
