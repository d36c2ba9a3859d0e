#include "engine.hpp"

#include "engine_region.hpp"

#include "common/error.hpp"
#include "common/linux_compat.h"
#include "common/procfs.hpp"

#include <xxhash.h>

#include <pthread.h>
#include <sys/mman.h>
#include <time.h>

#include <algorithm>
#include <cstring>

namespace foldvm::dedup {

namespace {

double thread_cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

alignas(kPageSize) const uint8_t kZeroPage[kPageSize] = {};

} // namespace

Engine::Engine(const DedupConfig& config, Logger log)
    : config_(config), log_(std::move(log)), zero_hash_(XXH3_64bits(kZeroPage, kPageSize)) {
    config_.validate();
    refresh_mappings_used();
}

Engine::~Engine() {
    stop();
    std::vector<RegionId> ids;
    for (auto& [id, r] : regions_)
        ids.push_back(id);
    for (RegionId id : ids)
        remove_region(id);
}

RegionId Engine::add_region(RegionSpec spec) {
    if (!spec.base || spec.size == 0 || spec.size % kPageSize ||
        reinterpret_cast<uintptr_t>(spec.base) % kPageSize)
        throw InvalidInput("dedup region must be a non-empty, page-aligned range");
    if (!spec.tracker) throw InvalidInput("dedup region '" + spec.name + "' needs a write tracker");
    auto r = std::make_unique<Region>();
    r->spec = std::move(spec);
    r->pages = r->spec.size / kPageSize;
    r->dirty.assign((r->pages + 63) / 64, 0);
    r->pending.assign((r->pages + 63) / 64, ~0ull);
    r->counters.name = r->spec.name;
    r->counters.domain = r->spec.domain;
    r->counters.pages = r->pages;
    bool use_uffd = r->spec.uffd_freeze;
    {
        auto lock = lock_as_caller();
        use_uffd = use_uffd && !config_.pause_freeze;
    }
    if (use_uffd) {
        auto probe = userfaultfd_features();
        try {
            // Merged pages become pool (shmem) mappings among anonymous
            // ones; a freeze must write-protect across both in one call.
            if (!userfaultfd_wp_spans_mappings())
                throw std::runtime_error(
                    "this kernel cannot write-protect a range spanning several mappings");
            if (r->spec.shared_uffd) {
                r->uffd = r->spec.shared_uffd;
            } else {
                uint64_t want = probe.features &
                                (UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_WP_UNPOPULATED);
                r->own_uffd = std::make_unique<Userfaultfd>(want);
                r->own_uffd->register_wp(r->spec.base, r->spec.size);
                r->uffd = r->own_uffd.get();
            }
        } catch (const std::exception& e) {
            r->own_uffd.reset();
            r->uffd = nullptr;
            auto lock = lock_as_caller();
            log_once(logged_pause_, std::string("dedup: userfaultfd freeze unavailable (") +
                                        e.what() + "); pausing writers around merges instead");
        }
    }
    if (!r->uffd && !(r->spec.pause && r->spec.resume))
        throw InvalidInput("dedup region '" + r->spec.name +
                           "' has neither a userfaultfd freeze nor pause/resume hooks");
    r->counters.freeze_mode = r->uffd ? "userfaultfd" : "pause";

    auto lock = lock_as_caller();
    auto [it, inserted] = domains_.try_emplace(r->spec.domain, uint32_t(domains_.size()));
    r->domain = it->second;
    // Salt content hashes per domain: equal tree keys then imply one domain.
    r->hash_salt = r->domain == 0 ? 0 : (uint64_t(r->domain) + 1) * 0x9e3779b97f4a7c15ull;
    r->id = next_region_++;
    r->first = PageDirectory::instance().allocate(r->pages, r.get());
    RegionId id = r->id;
    regions_[id] = std::move(r);
    return id;
}

void Engine::remove_region(RegionId id) {
    auto lock = lock_as_caller();
    execute_batch(); // candidates may point into this region
    auto it = regions_.find(id);
    if (it == regions_.end()) return;
    Region& r = *it->second;
    for (size_t i = 0; i < r.pages; ++i)
        forget(r, r.meta(i));
    PageDirectory::instance().release(r.first, r.pages);
    if (cursor_region_ == id) cursor_page_ = r.pages; // move on to the next region
    regions_.erase(it);
}

Engine::Region* Engine::region_of(const PageMeta& m) const {
    return static_cast<Region*>(PageDirectory::instance().chunk(m.self).owner);
}

uint8_t* Engine::page_address(const PageMeta& m) const {
    Region* r = region_of(m);
    return r->address(r->index_of(m));
}

bool Engine::is_absent(const PageMeta& m) const {
    Region* r = region_of(m);
    return r->is_absent(r->index_of(m));
}

void Engine::start() {
    if (thread_.joinable()) return;
    stop_ = false;
    thread_ = std::thread([this] {
        pthread_setname_np(pthread_self(), "foldvm-dedup");
        thread_main();
    });
}

void Engine::stop() {
    stop_ = true;
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

DedupConfig Engine::config() const {
    auto lock = lock_as_caller();
    return config_;
}

void Engine::set_config(const DedupConfig& config) {
    update_config([&config](DedupConfig& c) { c = config; });
}

DedupConfig Engine::update_config(const std::function<void(DedupConfig&)>& edit) {
    DedupConfig next;
    {
        auto lock = lock_as_caller();
        next = config_;
        edit(next);
        next.validate();
        if (next.run != 2) unmerged_ = false;
        config_ = next;
        config_changed_ = true;
    }
    cv_.notify_all();
    return next;
}

void Engine::scan_now() {
    {
        auto lock = lock_as_caller();
        scan_now_ = true;
    }
    cv_.notify_all();
}

void Engine::run_full_pass() {
    auto lock = lock_as_caller();
    if (!pass_open_) begin_pass();
    while (!scan_some(UINT64_MAX)) {
    }
}

void Engine::unmerge_all() {
    auto lock = lock_as_caller();
    unmerge_all_locked();
}

void Engine::thread_main() {
    std::unique_lock lock(mutex_);
    while (!stop_) {
        DedupConfig cfg = config_;
        config_changed_ = false;
        if (cfg.run == 0 || (cfg.run == 2 && unmerged_)) {
            cv_.wait(lock, [&] { return stop_ || config_changed_ || scan_now_; });
            if (cfg.run == 0 && scan_now_ && !config_changed_) {
                scan_now_ = false; // a stopped engine ignores scan_now
            }
            continue;
        }
        if (cfg.run == 2) {
            unmerge_all_locked();
            unmerged_ = true;
            continue;
        }
        uint64_t budget = cfg.pages_to_scan;
        if (cfg.advisor_target_scan_time_s > 0) {
            uint64_t total = 0;
            for (auto& [id, r] : regions_)
                total += r->pages;
            uint64_t per_wake = std::max<uint64_t>(cfg.sleep_millisecs, 1);
            budget = std::max<uint64_t>(1, total * per_wake /
                                               (uint64_t(cfg.advisor_target_scan_time_s) * 1000));
        }
        bool full = scan_now_;
        scan_now_ = false;
        auto wall0 = std::chrono::steady_clock::now();
        double cpu0 = thread_cpu_seconds();
        try {
            if (!pass_open_) begin_pass();
            if (full) {
                while (!scan_some(UINT64_MAX)) {
                }
            } else {
                scan_some(budget);
            }
        } catch (const std::exception& e) {
            halt_after_failure(e.what());
            continue;
        }
        double cpu = thread_cpu_seconds() - cpu0;
        counters_.cpu_s += cpu;
        double wall =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - wall0).count();
        // CPU governor: stretch the sleep so cpu / (wall + sleep) <= cap.
        double sleep_s = cfg.sleep_millisecs / 1000.0;
        if (cfg.max_cpu_percent < 100) {
            double needed = cpu * 100.0 / cfg.max_cpu_percent - wall;
            sleep_s = std::max(sleep_s, needed);
        }
        if (sleep_s > 0) {
            cv_.wait_for(lock, std::chrono::duration<double>(sleep_s),
                         [&] { return stop_ || scan_now_ || config_changed_; });
        } else {
            // Even at full speed, let stats readers and stop() take the lock.
            lock.unlock();
            std::this_thread::yield();
            lock.lock();
        }
    }
}

void Engine::halt_after_failure(const std::string& what) {
    // A failed system call must not take the monitor (and every VM) down,
    // nor leave a guest blocked on a page still write-protected by a freeze:
    // thaw everything, stop scanning, and tell the operator.
    // Closing a userfaultfd drops its write protection and wakes every
    // blocked writer, whatever state the failed pass left the ranges in.
    // Regions that can pause their writers keep deduplicating that way.
    for (auto& [id, r] : regions_) {
        if (!r->uffd) continue;
        if (r->own_uffd) {
            r->own_uffd.reset();
        } else {
            // A shared userfaultfd stays open (its owner's pager needs it):
            // drop the protection instead, which also wakes the writers.
            try {
                r->uffd->write_protect(r->spec.base, r->spec.size, false);
            } catch (const std::exception&) {
                // Nothing more to try: the owner's close will release them.
            }
        }
        r->uffd = nullptr;
        r->counters.freeze_mode = (r->spec.pause && r->spec.resume) ? "pause" : "none";
    }
    config_.run = 0;
    failure_ = what;
    if (log_) log_("dedup: stopped after an error: " + what + " (set run=1 to retry)");
}

void Engine::log_once(bool& flag, const std::string& msg) {
    if (flag) return;
    flag = true;
    if (log_) log_(msg);
}

void Engine::refresh_mappings_used() {
    mappings_used_ = procfs::mapping_count();
}

void Engine::refresh_mappings_used_now_and_then() {
    // Re-reading /proc/self/maps is O(mappings); once a second is plenty
    // between the per-run estimates made at merge, rehome and discard time.
    uint64_t now = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch() /
                                         std::chrono::milliseconds(1));
    if (now - mappings_baseline_time_ >= 1000) {
        refresh_mappings_used();
        mappings_baseline_time_ = now;
    }
}

std::optional<RegionStats> Engine::region_stats(RegionId id) const {
    auto lock = lock_as_caller();
    auto it = regions_.find(id);
    if (it == regions_.end()) return std::nullopt;
    return it->second->counters;
}

DedupStats Engine::stats() const {
    auto lock = lock_as_caller();
    DedupStats s;
    s.pages_shared = stable_.size();
    const Counters& c = counters_;
    s.pages_sharing = c.sharers - std::min<uint64_t>(c.sharers, s.pages_shared);
    s.pages_scanned = c.pages_scanned;
    s.pages_hashed = c.pages_hashed;
    s.full_scans = c.full_scans;
    s.zero_pages = c.zero_pages;
    s.stable_node_chains = stable_.chains();
    s.stable_node_dups = stable_.duplicates();
    s.cow_breaks = c.cow_breaks;
    s.mappings_used = mappings_used_;
    s.mappings_limit = config_.mappings_limit ? config_.mappings_limit : procfs::max_map_count();
    s.mappings_exhausted = mappings_exhausted_;
    s.merge_batches = c.merge_batches;
    s.merge_failures = c.merge_failures;
    s.pool_slots_reused = pool_.slots_reused();
    s.pages_discarded = c.pages_discarded;
    s.pages_rehomed = c.pages_rehomed;
    s.engine_cpu_s = c.cpu_s;
    s.pool_bytes = pool_.resident_bytes();
    for (size_t p = 0; p < kPhaseCount; ++p)
        s.phase_ms.emplace_back(phase_name(static_cast<Phase>(p)), double(phase_ns_[p]) / 1e6);
    size_t n = std::min(freeze_samples_, freeze_us_.size());
    if (n) {
        std::vector<uint32_t> v(freeze_us_.begin(), freeze_us_.begin() + long(n));
        size_t k = (n * 99 + 99) / 100 - 1;
        std::nth_element(v.begin(), v.begin() + long(k), v.end());
        s.freeze_wait_us_p99 = v[k];
    }
    bool any_uffd = false, any_pause = false;
    for (auto& [id, r] : regions_) {
        s.regions.push_back(r->counters);
        s.pages_unshared += r->counters.pages_unshared;
        s.pages_volatile += r->counters.pages_volatile;
        s.pages_tracked += r->pages;
        (r->uffd ? any_uffd : any_pause) = true;
    }
    s.freeze_mode = any_uffd && any_pause ? "mixed" : any_pause ? "pause" : "userfaultfd";
    s.metadata_bytes = s.pages_tracked * sizeof(PageMeta) + stable_.size() * sizeof(StableNode);
    s.general_profit =
        int64_t((s.pages_sharing + s.zero_pages) * kPageSize) - int64_t(s.metadata_bytes);
    return s;
}

} // namespace foldvm::dedup
