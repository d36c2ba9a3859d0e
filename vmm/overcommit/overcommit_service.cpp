// The overcommit service: per-VM pagers, the shared compressed tier, the
// fault server and the governor. The governor keeps foldvm's resident memory
// inside the budget, cheapest tier first: it speeds dedup up while memory is
// tight, then evicts cold pages (zero pages are dropped, the rest compressed
// if they fit ESX's 2 KiB rule, else swapped), and at `low` throttles the
// fastest-growing VM's vCPUs rather than let the host run out.
#include "overcommit_service.hpp"

#include "balloon_claim.hpp"
#include "fault_server.hpp"
#include "host_budget.hpp"
#include "pager.hpp"

#include "budget_guard.hpp"
#include "common/error.hpp"
#include "common/procfs.hpp"
#include "common/thread_priority.hpp"
#include "memory_meter.hpp"
#include "vmm/machine/vm.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <map>
#include <thread>

namespace foldvm {

using namespace overcommit;

namespace {

constexpr size_t kSweepPages = 512; // pages looked at per eviction call
// Compressed pages moved on to swap per governor step at most: their copies
// wait in memory (4 KiB each) until the swap write is done.
constexpr size_t kDemotePages = 2048;
constexpr int kServiceNice = -10; // governor weight (see set_thread_nice)

void check_swap_dir(const std::string& dir) {
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0 || !S_ISDIR(st.st_mode))
        throw model::FieldError(
            model::FieldProblem::OutOfRange, "swap_dir",
            "swap_dir '" + dir + "' is not a directory: " + std::strerror(errno ? errno : ENOTDIR));
    int fd = ::open(dir.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0)
        throw model::FieldError(
            model::FieldProblem::OutOfRange, "swap_dir",
            "swap_dir '" + dir + "' cannot hold an O_TMPFILE swap file: " + std::strerror(errno));
    ::close(fd);
}

} // namespace

struct OvercommitService::Impl {
    struct VmEntry {
        Vm* vm = nullptr;
        std::unique_ptr<Pager> pager;
        VmMemoryPolicy policy;
        bool parked = false;
        uint64_t last_resident = 0; // pages, from the previous sizing
        uint64_t growth = 0;        // pages between the last two sizings, for throttling
        std::chrono::steady_clock::time_point grown_at{}; // sizing `growth` came from
        bool held = false;
        uint64_t throttled_ms = 0;
        std::chrono::steady_clock::time_point resident_at{};
        uint64_t resident_pages = 0;
        BalloonClaim balloon; // what the governor took through the VM's balloon
    };

    Impl(Host& h, DedupService& d, const OvercommitConfig& c, Logger l, Logger dbg)
        : host(h), dedup(d), config(c), log(std::move(l)), debug(std::move(dbg)) {}

    Host& host;
    DedupService& dedup;
    OvercommitConfig config;
    Logger log, debug;
    uint64_t budget_bytes = 0;
    std::string budget_source;
    std::unique_ptr<CompressedStore> compressed;
    std::unique_ptr<FaultServer> faults;
    std::unique_ptr<MemoryMeter> meter; // before the guard, which reads it
    std::unique_ptr<BudgetGuard> guard; // the low line: holds every VM

    mutable std::mutex mutex; // config, vms, stats
    std::map<uint64_t, VmEntry> vms;
    MemoryState state = MemoryState::High;
    uint64_t used_bytes = 0, peak_used = 0;
    GovernorCounters counters;
    std::optional<dedup::DedupConfig> saved_knobs; // while dedup is sped up
    uint32_t effective_cold_age_s = 10;
    uint64_t last_refaults = 0, last_evictions = 0;
    uint64_t last_rejected_full = 0; // the compressed tier's, at the last demotion
    std::chrono::steady_clock::time_point last_adapt = std::chrono::steady_clock::now();
    std::string swap_failure;

    std::mutex governor_mutex; // one governor step at a time (tick, park)
    std::condition_variable_any cv;
    bool stop = false;
    std::thread governor;

    void resolve_budget() {
        if (config.budget_mib) {
            budget_bytes = config.budget_mib << 20;
            budget_source = "explicit";
        } else {
            DerivedBudget b = derive_budget();
            budget_bytes = b.bytes;
            budget_source = "auto";
            if (log) log("overcommit: budget " + std::to_string(b.bytes >> 20) + " MiB, " + b.why);
        }
        apply_guard_lines();
    }
    void apply_guard_lines() {
        // Over the low line every VM waits; it goes on once the governor
        // has evicted back to the soft line.
        if (guard)
            guard->set_lines(budget_bytes - threshold(config.hard_free_pm),
                             budget_bytes - threshold(config.soft_free_pm));
    }
    uint64_t compressed_cap() const {
        return config.compressed_max_mib ? config.compressed_max_mib << 20 : budget_bytes / 4;
    }
    uint64_t threshold(uint32_t pm) const { return budget_bytes / 1000 * pm; }

    MemoryState state_for(uint64_t used) const {
        uint64_t free = used >= budget_bytes ? 0 : budget_bytes - used;
        if (free >= threshold(config.high_free_pm)) return MemoryState::High;
        if (free >= threshold(config.soft_free_pm)) return MemoryState::Soft;
        if (free >= threshold(config.hard_free_pm)) return MemoryState::Hard;
        return MemoryState::Low;
    }

    uint64_t vm_resident_pages(VmEntry& e, bool fresh) {
        auto now = std::chrono::steady_clock::now();
        // mincore over a VM's RAM costs a page-cache lookup per page of its
        // pool mappings (profiled: most of the governor's CPU in a
        // copy-on-write storm), so only VMs held to a limit or parked are
        // sized at every 200 ms.
        auto max_age = std::chrono::milliseconds(e.policy.limit_mib || e.parked ? 200 : 1000);
        if (fresh || now - e.resident_at > max_age) {
            e.resident_pages =
                procfs::resident_pages(e.vm->memory().host_base(), e.vm->memory().size());
            e.resident_at = now;
        }
        return e.resident_pages;
    }

    // Evicts up to `want` pages from one VM, sweeping from its clock hand.
    size_t evict_from(VmEntry& e, size_t want, std::chrono::seconds min_idle,
                      ShareFirst share_first = ShareFirst::yes) {
        Pager& p = *e.pager;
        size_t got = 0, looked = 0;
        while (got < want && looked < p.pages()) {
            size_t& hand = p.clock_hand();
            if (hand >= p.pages()) hand = 0;
            size_t n = std::min(kSweepPages, p.pages() - hand);
            got += p.evict(hand, n, min_idle, share_first);
            hand += n;
            looked += n;
        }
        if (got) p.settle_staged();
        return got;
    }

    void speed_dedup(bool tight) {
        if (!dedup.builtin()) return;
        try {
            if (tight && !saved_knobs) {
                dedup::DedupConfig before = dedup.config();
                if (before.advisor_target_scan_time_s > 0) return; // the advisor decides
                saved_knobs = before;
                dedup.update_knobs([](dedup::DedupConfig& k) {
                    k.pages_to_scan = std::min<uint32_t>(k.pages_to_scan * 4, 1u << 20);
                    k.sleep_millisecs = std::min<uint32_t>(k.sleep_millisecs, 5);
                });
                ++counters.dedup_speedups;
                if (debug) debug("overcommit: memory tight, dedup sped up");
            } else if (!tight && saved_knobs) {
                auto restore = *saved_knobs;
                saved_knobs.reset();
                dedup.update_knobs([&](dedup::DedupConfig& k) {
                    k.pages_to_scan = restore.pages_to_scan;
                    k.sleep_millisecs = restore.sleep_millisecs;
                });
                ++counters.dedup_slowdowns;
                if (debug) debug("overcommit: memory back to high, dedup back to its pace");
            }
        } catch (const std::exception& e) {
            if (debug) debug(std::string("overcommit: dedup pace unchanged: ") + e.what());
        }
    }

    void adapt_cold_age() {
        // Promotion-rate control (Google's far memory): pages evicted and
        // touched again within the cold age were not cold; when more than
        // 10% of recent evictions come back, wait longer before evicting.
        auto now = std::chrono::steady_clock::now();
        if (now - last_adapt < std::chrono::seconds(1)) return;
        last_adapt = now;
        uint64_t refaults = 0, evictions = 0;
        for (auto& [id, e] : vms) {
            refaults += e.pager->counters().refaults_recent;
            evictions += e.pager->counters().evicted_compressed +
                         e.pager->counters().evicted_swapped + e.pager->counters().evicted_zero;
        }
        uint64_t dr = refaults - last_refaults, de = evictions - last_evictions;
        last_refaults = refaults, last_evictions = evictions;
        if (de > 100 && dr * 10 > de)
            effective_cold_age_s = std::min(effective_cold_age_s * 2, config.cold_age_s * 8);
        else if (dr * 50 < de || de == 0)
            effective_cold_age_s = std::max(effective_cold_age_s / 2, config.cold_age_s);
        for (auto& [id, e] : vms)
            e.pager->set_cold_age(effective_cold_age_s);
    }

    void tick() {
        std::lock_guard step(governor_mutex);
        std::unique_lock lock(mutex);
        ++counters.ticks;
        used_bytes = meter->used_bytes();
        peak_used = std::max(peak_used, used_bytes);
        MemoryState s = state_for(used_bytes);
        if (s != state) {
            ++counters.state_changes;
            if (debug)
                debug(std::string("overcommit: state ") + to_string(state) + " -> " + to_string(s) +
                      " (used " + std::to_string(used_bytes >> 20) + " of " +
                      std::to_string(budget_bytes >> 20) + " MiB)");
            state = s;
        }
        adapt_cold_age();
        speed_dedup(s != MemoryState::High);

        // Per-VM limits and parked VMs first, whatever the state.
        for (auto& [id, e] : vms) {
            uint64_t resident = vm_resident_pages(e, false);
            // Sizings are cached for 200 ms: growth changes only when a new
            // one came in, or most ticks would see every VM as idle.
            if (e.resident_at != e.grown_at) {
                e.growth = resident > e.last_resident ? resident - e.last_resident : 0;
                e.last_resident = resident;
                e.grown_at = e.resident_at;
            }
            uint64_t limit_pages = e.policy.limit_mib << 20 >> 12;
            if (e.policy.limit_mib && resident > limit_pages)
                count_evictions(
                    evict_from(e, resident - limit_pages, std::chrono::seconds(0), ShareFirst::no));
            else if (e.parked && resident > 0)
                count_evictions(evict_from(e, resident, std::chrono::seconds(0), ShareFirst::no));
        }

        // Keep free memory at the high threshold: evicting ahead of need is
        // what keeps reclaim off the fault path.
        uint64_t target_free = threshold(config.high_free_pm);
        uint64_t free = used_bytes >= budget_bytes ? 0 : budget_bytes - used_bytes;
        if (free < target_free) {
            size_t want = (target_free - free) / kPageSize;
            // Balloons first. Their guests take a while to hand pages over,
            // so at soft the tiers wait for them; at hard and low they do not.
            size_t asked = inflate_balloons(want);
            if (s == MemoryState::Soft) want -= std::min(want, asked);
            std::vector<VmEntry*> order;
            for (auto& [id, e] : vms)
                order.push_back(&e);
            // Lowest priority first, then the biggest.
            std::sort(order.begin(), order.end(), [](VmEntry* a, VmEntry* b) {
                if (a->policy.priority != b->policy.priority)
                    return a->policy.priority < b->policy.priority;
                return a->last_resident > b->last_resident;
            });
            // Cold pages first (neither faulted in nor, as far as dedup's
            // dirty log tells, written for the cold age); when that is not
            // enough and memory is hard, pages idle for a second; when low,
            // whatever is resident.
            size_t got = 0;
            for (int pass = 0; pass < 3 && got < want; ++pass) {
                if (pass == 1 && s != MemoryState::Hard && s != MemoryState::Low) break;
                if (pass == 2 && s != MemoryState::Low) break;
                auto idle = std::chrono::seconds(pass == 0   ? effective_cold_age_s
                                                 : pass == 1 ? 1
                                                             : 0);
                for (VmEntry* e : order) {
                    if (got >= want) break;
                    got += evict_from(*e, std::min<size_t>(want - got, 4096), idle);
                }
            }
            count_evictions(got);
        } else if (s == MemoryState::High && free >= 2 * target_free) {
            deflate_balloons();
        }
        for (auto& [id, e] : vms)
            if (e.pager->counters().staged_pages) e.pager->settle_staged();
        demote_coldest();
        throttle(s);
    }

    // Pages the compressed tier turned away because it was full went to
    // swap although they had just gone cold, while the tier kept pages cold
    // for much longer. As many of those oldest pages as were turned away
    // move on to swap, across VMs oldest first, so the next evictions fit:
    // the tier keeps the pages most likely to come back.
    void demote_coldest() {
        if (!compressed) return;
        uint64_t rejected = compressed->stats().rejected_full;
        uint64_t want = std::min<uint64_t>(rejected - last_rejected_full, kDemotePages);
        last_rejected_full = rejected;
        std::vector<VmEntry*> candidates;
        for (auto& [id, e] : vms)
            candidates.push_back(&e);
        size_t moved = 0;
        while (moved < want && !candidates.empty()) {
            auto oldest = candidates.end();
            std::chrono::steady_clock::time_point at{};
            for (auto it = candidates.begin(); it != candidates.end(); ++it) {
                auto t = (*it)->pager->oldest_compressed();
                if (t && (oldest == candidates.end() || *t < at)) oldest = it, at = *t;
            }
            if (oldest == candidates.end()) break;
            size_t n = (*oldest)->pager->demote_compressed(std::min<size_t>(want - moved, 256));
            if (!n) candidates.erase(oldest); // no swap tier: its pages stay
            moved += n;
        }
        if (moved) {
            refresh_eviction_counters();
            if (debug)
                debug("overcommit: " + std::to_string(moved) +
                      " of the oldest compressed pages moved on to swap");
        }
    }

    // Asks ballooned guests, lowest priority first, for up to `want` pages
    // of what their statistics report free; returns the pages asked for.
    size_t inflate_balloons(size_t want) {
        std::vector<std::pair<uint64_t, VmEntry*>> order;
        for (auto& [id, e] : vms)
            if (e.vm->balloon() && !e.parked) order.emplace_back(id, &e);
        std::stable_sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
            return a.second->policy.priority < b.second->policy.priority;
        });
        uint64_t want_mib = (uint64_t(want) * kPageSize + (1 << 20) - 1) >> 20, asked = 0;
        auto now = std::chrono::steady_clock::now();
        for (auto [id, e] : order) {
            if (asked >= want_mib) break;
            uint64_t guest_mib = uint64_t(e->pager->pages()) * kPageSize >> 20;
            try {
                uint64_t mib = claim_free_memory(*e->vm->balloon(), e->balloon, want_mib - asked,
                                                 guest_mib, now);
                if (!mib) continue;
                asked += mib;
                ++counters.balloon_inflations;
                if (debug)
                    debug("overcommit: balloon of vm " + std::to_string(id) + " asked for " +
                          std::to_string(mib) + " MiB of its free memory");
            } catch (const std::exception& ex) {
                if (debug) debug(std::string("overcommit: balloon step skipped: ") + ex.what());
            }
        }
        return size_t(asked << 20 >> 12);
    }

    // Plenty free again: the guests get back what the governor took.
    void deflate_balloons() {
        for (auto& [id, e] : vms) {
            if (!e.vm->balloon() || !e.balloon.taken_mib) continue;
            try {
                uint64_t mib = e.balloon.taken_mib;
                if (return_claim(*e.vm->balloon(), e.balloon)) {
                    ++counters.balloon_deflations;
                    if (debug)
                        debug("overcommit: balloon of vm " + std::to_string(id) + " gave back " +
                              std::to_string(mib) + " MiB");
                }
            } catch (const std::exception& ex) {
                if (debug) debug(std::string("overcommit: balloon deflate skipped: ") + ex.what());
            }
        }
    }

    void count_evictions(size_t n) {
        if (!n) return;
        refresh_eviction_counters();
        if (debug) debug("overcommit: evicted " + std::to_string(n) + " pages");
    }
    void refresh_eviction_counters() {
        uint64_t z = 0, c = 0, w = 0, d = 0;
        for (auto& [id, e] : vms) {
            z += e.pager->counters().evicted_zero;
            c += e.pager->counters().evicted_compressed;
            w += e.pager->counters().evicted_swapped;
            d += e.pager->counters().demoted_swapped;
        }
        counters.pages_zero = z, counters.pages_compressed = c, counters.pages_swapped = w;
        counters.pages_demoted = d;
    }

    void throttle(MemoryState s) {
        // The analogue of the kernel's direct reclaim: at hard memory the
        // fastest-growing VM waits, one interval at a time; a held VM does
        // not grow, so it stays held while memory stays that tight. Low
        // memory is the BudgetGuard's: it holds every VM, whatever this
        // thread is waiting on.
        std::vector<VmEntry*> hold;
        if (s == MemoryState::Hard) {
            for (auto& [id, e] : vms)
                if ((e.growth || e.held) && !e.parked) hold.push_back(&e);
            if (hold.size() > 1) {
                auto rank = [](VmEntry* e) { return std::pair(e->growth, e->held); };
                VmEntry* fastest =
                    *std::max_element(hold.begin(), hold.end(),
                                      [&](VmEntry* a, VmEntry* b) { return rank(a) < rank(b); });
                hold = {fastest};
            }
        }
        for (auto& [id, e] : vms) {
            bool keep = std::find(hold.begin(), hold.end(), &e) != hold.end();
            if (e.held) e.throttled_ms += config.governor_interval_ms;
            if (e.held && !keep) {
                e.vm->release();
                e.held = false;
            } else if (!e.held && keep) {
                e.vm->hold_nowait();
                e.held = true;
                ++counters.throttles;
            }
        }
        if (debug && !hold.empty())
            debug("overcommit: " + std::string(to_string(s)) + " memory, holding " +
                  std::to_string(hold.size()) + " growing VM(s)");
    }

    void run() {
        if (!set_thread_nice(kServiceNice) && debug)
            debug("overcommit: governor keeps the default CPU weight (setpriority refused)");
        std::unique_lock lock(mutex);
        while (!stop) {
            auto interval = std::chrono::milliseconds(config.governor_interval_ms);
            cv.wait_for(lock, interval, [&] { return stop; });
            if (stop) break;
            lock.unlock();
            try {
                tick();
            } catch (const std::exception& e) {
                if (log) log(std::string("overcommit: governor step failed: ") + e.what());
            }
            lock.lock();
        }
        for (auto& [id, e] : vms)
            if (e.held) e.vm->release(), e.held = false;
    }
};

OvercommitService::OvercommitService(Host& host, DedupService& dedup,
                                     const OvercommitConfig& config, Logger log, Logger debug)
    : impl_(std::make_unique<Impl>(host, dedup, config, std::move(log), std::move(debug))) {
    config.validate();
    if (!config.enabled) return;
    check_swap_dir(config.swap_dir);
    impl_->resolve_budget();
    impl_->effective_cold_age_s = config.cold_age_s;
    CompressedStoreOptions copts;
    copts.codec = parse_codec(config.compressor);
    copts.max_compressed_bytes = config.compress_max_bytes;
    copts.zstd_retry = config.compress_retry_zstd;
    copts.capacity_bytes = impl_->compressed_cap();
    impl_->compressed = std::make_unique<CompressedStore>(copts);
    impl_->faults = std::make_unique<FaultServer>();
    impl_->meter = std::make_unique<MemoryMeter>([&dedup] { return dedup.pool_bytes(); });
    impl_->meter->used_bytes(); // decides the source, for the log
    if (impl_->log) impl_->log("overcommit: memory in use is read from " + impl_->meter->source());
    impl_->guard =
        std::make_unique<BudgetGuard>(std::chrono::milliseconds(config.governor_interval_ms),
                                      [meter = impl_->meter.get()] { return meter->used_bytes(); });
    impl_->apply_guard_lines();
    impl_->governor = std::thread([this] { impl_->run(); });
    pthread_setname_np(impl_->governor.native_handle(), "foldvm-governor");
    host.add_observer(this);
}

OvercommitService::~OvercommitService() {
    if (enabled()) impl_->host.remove_observer(this);
    if (impl_->governor.joinable()) {
        {
            std::lock_guard lock(impl_->mutex);
            impl_->stop = true;
        }
        impl_->cv.notify_all();
        impl_->governor.join();
    }
}

bool OvercommitService::enabled() const {
    return impl_->config.enabled;
}

void OvercommitService::prepare(VmConfig& config) const {
    if (enabled()) config.userfaultfd = true;
}

OvercommitConfig OvercommitService::config() const {
    std::lock_guard lock(impl_->mutex);
    return impl_->config;
}

OvercommitConfig OvercommitService::update(const std::function<void(OvercommitConfig&)>& edit) {
    if (!enabled()) throw OvercommitUnavailable("overcommit is off (started with enabled=false)");
    std::lock_guard step(impl_->governor_mutex);
    std::lock_guard lock(impl_->mutex);
    OvercommitConfig next = impl_->config;
    edit(next);
    next.validate();
    for (const auto& f : OvercommitConfig::fields()) {
        if (f.live) continue;
        bool same = std::visit([&](auto m) { return next.*m == impl_->config.*m; }, f.member);
        if (!same)
            throw model::FieldError(model::FieldProblem::Conflict, f.name,
                                    std::string(f.name) + " cannot change while foldvm runs");
    }
    impl_->config = next;
    impl_->resolve_budget();
    return next;
}

HostMemoryStats OvercommitService::host_stats() const {
    std::lock_guard lock(impl_->mutex);
    HostMemoryStats s;
    s.budget_bytes = impl_->budget_bytes;
    s.budget_source = impl_->budget_source;
    s.state = impl_->state;
    s.used_bytes = impl_->used_bytes;
    s.peak_used_bytes = impl_->peak_used;
    s.high_free_bytes = impl_->threshold(impl_->config.high_free_pm);
    s.soft_free_bytes = impl_->threshold(impl_->config.soft_free_pm);
    s.hard_free_bytes = impl_->threshold(impl_->config.hard_free_pm);
    s.governor = impl_->counters;
    if (impl_->guard) {
        BudgetGuardStats g = impl_->guard->stats();
        s.governor.budget_brakes = g.brakes;
        s.governor.budget_held_ms = g.held_ms;
    }
    if (impl_->compressed) {
        auto c = impl_->compressed->stats();
        s.compressed.pages = c.pages;
        s.compressed.stored_bytes = c.stored_bytes;
        s.compressed.allocated_bytes = c.allocated_bytes;
        s.compressed.fragmentation = c.fragmentation;
        s.compressed.limit_bytes = impl_->compressed_cap();
    }
    s.swap.limit_bytes = impl_->config.swap_max_mib << 20;
    for (auto& [id, e] : impl_->vms) {
        s.swap.pages += e.pager->counters().swapped_pages;
        if (const SwapFile* f = e.pager->swap_file()) {
            auto w = f->stats();
            s.swap.stored_bytes += w.slots_used * kPageSize;
            s.swap.allocated_bytes += w.file_bytes;
            s.swap.bytes_written += w.bytes_written;
            s.swap.write_errors += w.write_errors;
            s.swap.read_errors += w.read_errors;
            if (w.failed) {
                s.swap.enabled = false;
                if (s.swap.disabled_reason.empty()) s.swap.disabled_reason = w.failure_reason;
            }
        }
    }
    return s;
}

std::optional<VmMemoryStats> OvercommitService::vm_stats(uint64_t vm_id) const {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->vms.find(vm_id);
    if (it == impl_->vms.end()) return std::nullopt;
    auto& e = it->second;
    const Pager& p = *e.pager;
    const auto& c = p.counters();
    VmMemoryStats s;
    s.state = e.parked ? "parked" : "active";
    s.pages = p.pages();
    s.resident_pages = impl_->vm_resident_pages(e, true);
    if (auto d = impl_->dedup.stats(vm_id)) s.merged_pages = d->pages_merged;
    s.zero_pages = c.zero_pages;
    s.compressed_pages = c.compressed_pages + c.staged_pages;
    s.swapped_pages = c.swapped_pages;
    // Resident pages have not proven cold (trial eviction under pressure is
    // what shrinks residency to the working set), so they count.
    s.working_set_pages = s.resident_pages;
    s.faults_zero = c.faults_zero;
    s.faults_compressed = c.faults_compressed + c.faults_staged;
    s.faults_swap = c.faults_swap;
    s.faults_fresh = c.faults_fresh;
    s.pages_faulted_around = c.pages_faulted_around;
    s.fault_latency_us_p50 = p.fault_latency_us(0.5);
    s.fault_latency_us_p99 = p.fault_latency_us(0.99);
    s.limit_mib = e.policy.limit_mib;
    s.priority = e.policy.priority;
    s.throttled_ms = e.throttled_ms;
    return s;
}

bool OvercommitService::park(uint64_t vm_id) {
    if (!enabled()) throw OvercommitUnavailable("overcommit is off (started with enabled=false)");
    std::lock_guard step(impl_->governor_mutex);
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->vms.find(vm_id);
    if (it == impl_->vms.end()) return false;
    auto& e = it->second;
    e.parked = true;
    impl_->count_evictions(
        impl_->evict_from(e, e.pager->pages(), std::chrono::seconds(0), ShareFirst::no));
    e.pager->settle_staged();
    return true;
}

bool OvercommitService::unpark(uint64_t vm_id) {
    if (!enabled()) throw OvercommitUnavailable("overcommit is off (started with enabled=false)");
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->vms.find(vm_id);
    if (it == impl_->vms.end()) return false;
    it->second.parked = false;
    return true;
}

bool OvercommitService::set_policy(uint64_t vm_id, const VmMemoryPolicy& policy) {
    if (!enabled()) throw OvercommitUnavailable("overcommit is off (started with enabled=false)");
    if (policy.priority > 100)
        throw model::FieldError(model::FieldProblem::OutOfRange, "priority",
                                "priority must be in 0..100, got " +
                                    std::to_string(policy.priority));
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->vms.find(vm_id);
    if (it == impl_->vms.end()) return false;
    it->second.policy = policy;
    return true;
}

bool OvercommitService::corrupt_compressed_for_testing(uint64_t vm_id) {
    std::lock_guard lock(impl_->mutex);
    auto it = impl_->vms.find(vm_id);
    return it != impl_->vms.end() && it->second.pager->corrupt_compressed_for_testing();
}

void OvercommitService::vm_created(uint64_t id, Vm& vm) {
    if (!enabled()) return;
    if (!vm.memory().userfaultfd()) {
        if (impl_->log)
            impl_->log("overcommit: vm " + std::to_string(id) +
                       " has no userfaultfd; its memory is never evicted");
        return;
    }
    OvercommitConfig cfg = config();
    PagerOptions opts;
    opts.fault_around_pages = cfg.fault_around_pages;
    opts.compressed = impl_->compressed.get();
    SwapFileOptions sopts;
    sopts.directory = cfg.swap_dir;
    sopts.encrypt = cfg.swap_encrypt;
    sopts.capacity_bytes = cfg.swap_max_mib << 20;
    opts.open_swap = [sopts, id, log = impl_->log]() -> std::unique_ptr<SwapFile> {
        try {
            return std::make_unique<SwapFile>(sopts);
        } catch (const std::exception& e) {
            if (log) log("overcommit: vm " + std::to_string(id) + " has no swap tier: " + e.what());
            return nullptr;
        }
    };
    DedupService* dedup = &impl_->dedup;
    opts.evictable = [dedup, id](size_t first, size_t count, std::chrono::seconds min_idle,
                                 ShareFirst share_first,
                                 const std::function<void(size_t, size_t)>& evict) {
        dedup->for_each_evictable(id, first, count, min_idle, share_first, evict);
    };
    opts.fail_vm = [&vm](const std::string& reason) { vm.fail(reason); };
    opts.log = impl_->log;
    auto pager = std::make_unique<Pager>(vm.memory(), std::move(opts));
    pager->set_cold_age(cfg.cold_age_s);
    Pager* raw = pager.get();
    vm.memory().set_discard_listener(
        [raw](uint64_t gpa, uint64_t len) { raw->discarded(gpa, len); });
    impl_->faults->add(*raw);
    std::lock_guard lock(impl_->mutex);
    auto& e = impl_->vms[id];
    e.vm = &vm;
    e.pager = std::move(pager);
    e.policy.limit_mib = vm.config().mem_limit_mib;
    e.policy.priority = vm.config().mem_priority;
    impl_->guard->add(id, vm);
}

void OvercommitService::vm_removed(uint64_t id, Vm& vm) {
    if (!enabled()) return;
    // The dedup scanner reads this VM's RAM, and a read of a page not in
    // memory waits on the userfaultfd this pager serves: the region must go
    // before the pager stops serving, or the scanner blocks for good (seen
    // as `foldvm serve` hanging on SIGTERM). Dedup's own vm_removed, called
    // after this one, then finds nothing left to do.
    impl_->guard->remove(id);
    impl_->dedup.vm_removed(id, vm);
    std::unique_ptr<Pager> pager;
    {
        std::lock_guard step(impl_->governor_mutex);
        std::lock_guard lock(impl_->mutex);
        auto it = impl_->vms.find(id);
        if (it == impl_->vms.end()) return;
        if (it->second.held) vm.release();
        pager = std::move(it->second.pager);
        impl_->vms.erase(it);
    }
    vm.memory().set_discard_listener({});
    impl_->faults->remove(*pager);
}

} // namespace foldvm
