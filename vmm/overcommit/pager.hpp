// One VM's pager: moves guest pages out of memory (zero, compressed, swap
// file) and brings them back when anything touches them. Guest RAM is
// registered for MISSING faults only once the VM first gives a page up, so
// memory that was never evicted pays nothing: no fault ever goes through
// userfaultfd for it before that.
//
// Eviction of a run, as dedup's merges do it: write-protect, copy the
// present pages out (zero pages are just noted), mark them absent, drop
// them (MADV_DONTNEED), lift the protection. Writers blocked on the
// protection retry, fault MISSING and get the bytes back. Compression and
// swap writes happen after, off every lock; until they finish a page is
// "staged" and served from its copy.
//
// Every accessor is served by the same fault path: vCPUs (KVM faults through
// userfaultfd), device threads and the VMM's own writes (plain faults in
// this process). Dedup's scanner skips absent pages (GuestMemory's absent
// bitmap). Pool-mapped (merged) pages are never evicted: a merged page is
// already shared by all its sharers, and dropping a private pool mapping
// would expose the pool copy instead of faulting.
#pragma once

#include "compressed_store.hpp"
#include "latency_histogram.hpp"
#include "swap_file.hpp"

#include "common/share_first.hpp"
#include "vmm/memory/guest_memory.hpp"

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

struct uffd_msg;

namespace foldvm::overcommit {

// Which pages of [first, first+count) may leave memory: calls back with runs
// (the dedup engine leaves merged pages out, and those it saw written within
// `min_idle`, and with ShareFirst::yes those it has not visited since their
// last write, under its lock).
using EvictableRuns =
    std::function<void(size_t first, size_t count, std::chrono::seconds min_idle,
                       ShareFirst share_first, const std::function<void(size_t, size_t)>& evict)>;

struct PagerOptions {
    uint32_t fault_around_pages = 16;
    // A page left in the compressed tier only if it compresses to this.
    CompressedStore* compressed = nullptr; // shared by the host's VMs
    std::unique_ptr<SwapFile> swap;        // this VM's, with its own key; may be null
    // Or opened at the first page that needs it, so a VM that never swaps
    // never has a file, a key or a writer thread (an idle pager costs
    // nothing at boot). A throw means no swap tier for this VM, logged.
    std::function<std::unique_ptr<SwapFile>()> open_swap;
    EvictableRuns evictable; // null: every page may leave
    // The VM cannot go on (a stored page is damaged or unreadable).
    std::function<void(const std::string& reason)> fail_vm;
    std::function<void(const std::string&)> log;
};

struct PagerCounters {
    std::atomic<uint64_t> zero_pages{0}, compressed_pages{0}, swapped_pages{0}, staged_pages{0};
    std::atomic<uint64_t> faults_zero{0}, faults_compressed{0}, faults_swap{0}, faults_fresh{0},
        faults_staged{0};
    std::atomic<uint64_t> pages_faulted_around{0};
    std::atomic<uint64_t> evicted_zero{0}, evicted_compressed{0}, evicted_swapped{0};
    std::atomic<uint64_t> demoted_swapped{0}; // compressed pages moved on to swap
    std::atomic<uint64_t> refaults_recent{0}; // brought back within cold_age of their eviction
    std::atomic<uint64_t> swap_write_errors{0}, read_errors{0};
};

class Pager {
  public:
    Pager(GuestMemory& memory, PagerOptions options);
    ~Pager();
    Pager(const Pager&) = delete;
    Pager& operator=(const Pager&) = delete;

    int uffd_fd() const;
    size_t pages() const { return pages_; }

    // Evicts the resident, evictable pages of [first, first+count); returns
    // how many left memory. `min_idle` skips pages accessed more recently.
    size_t evict(size_t first, size_t count, std::chrono::seconds min_idle,
                 ShareFirst share_first = ShareFirst::yes);
    // Compresses or swaps what evict() staged; returns pages settled.
    size_t settle_staged();

    // The compressed tier is full: moves up to `max_pages` of this VM's
    // compressed pages to swap, those compressed longest ago first (none of
    // them was touched since, or it would have left the tier), so newly cold
    // pages find room there, as zswap writes back its least recently used
    // pages. Returns the pages handed to the swap file; 0 without one.
    size_t demote_compressed(size_t max_pages);
    // When the oldest page still in the compressed tier was evicted.
    std::optional<std::chrono::steady_clock::time_point> oldest_compressed();

    // Reads and serves every pending fault message; returns how many.
    size_t serve_faults();

    // The balloon or a free page report gave [gpa, gpa+len) back: stored
    // copies are dropped (the pages read as zeros).
    void discarded(uint64_t gpa, uint64_t len);

    // Clock hand for the governor's sweep over this VM's pages.
    size_t& clock_hand() { return hand_; }
    const PagerCounters& counters() const { return counters_; }
    uint64_t evicted_pages() const;
    double fault_latency_us(double q) const { return latency_.quantile_us(q); }
    std::string tier_failure() const;
    const SwapFile* swap_file() const {
        std::lock_guard lock(mutex_);
        return options_.swap.get();
    }
    // Fault injection: damages one stored compressed page; false if none.
    bool corrupt_compressed_for_testing();

  private:
    enum class Where : uint8_t { Resident, Zero, Staged, Compressed, Swapped };
    struct Entry {
        uint32_t handle = 0; // block, slot or staged index
        uint16_t batch = 0;  // evicted together: fault-around brings them back together
        Where where = Where::Resident;
        uint8_t reserved = 0;
    };
    struct Staged {
        std::vector<uint8_t> bytes; // a page
        size_t page = 0;            // its guest page
        bool swapping = false;      // handed to the swap file
    };

    void enable_missing_faults();
    bool swap_usable_locked();
    void evict_run(size_t first, size_t count, std::chrono::seconds min_idle, size_t& evicted);
    void serve_fault(const uffd_msg& msg);
    // Records the first failure, logs it and stops the VM (mutex_ held).
    void fail_vm_locked(const std::string& reason);
    void fail_unserved(const uffd_msg& msg, const std::string& why);
    // Restores page i's bytes into dst (4 KiB); false if it holds none.
    bool fetch_locked(size_t i, uint8_t* dst);
    void release_locked(size_t i);
    // Writes staged copies (marked swapping) to the swap file in clusters.
    void write_to_swap(const std::vector<size_t>& pages, const std::vector<uint32_t>& ids,
                       bool demoted);
    void swap_done(std::vector<size_t> pages, std::vector<uint32_t> staged, SwapWriteResult result,
                   bool demoted);
    void set_absent(size_t i, bool absent);
    uint32_t now_s() const;

    GuestMemory& memory_;
    PagerOptions options_;
    Userfaultfd& uffd_;
    uint8_t* base_;
    size_t pages_;
    std::mutex evict_mutex_;   // one eviction at a time, and against discards
    mutable std::mutex mutex_; // entries, staged copies
    std::vector<Entry> entries_;
    std::vector<uint32_t> last_access_s_; // seconds since start: fault-in or creation
    std::vector<uint32_t> evicted_at_s_;
    std::map<uint32_t, Staged> staged_;
    // Pages in the order they entered the compressed tier. An entry whose
    // page left the tier since (or came back to it later) is stale and
    // skipped; the queue is compacted when stale entries dominate.
    struct CompressedAt {
        uint32_t page;
        uint32_t handle;
        uint32_t evicted_at_s;
    };
    std::deque<CompressedAt> compressed_order_;
    bool in_tier_locked(const CompressedAt& c) const;
    uint32_t next_staged_ = 0;
    uint16_t batch_ = 0;
    std::atomic<bool> missing_on_{false};
    size_t hand_ = 0;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
    uint32_t cold_age_s_ = 10;
    PagerCounters counters_;
    LatencyHistogram latency_;
    std::vector<uint8_t> scratch_; // fault-around bytes (handler thread only)
    std::string tier_failure_;
    std::atomic<bool> failed_{false};

  public:
    void set_cold_age(uint32_t s) { cold_age_s_ = s; }
};

} // namespace foldvm::overcommit
