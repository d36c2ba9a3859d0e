#include "dedup_service.hpp"

#include "guest_ram_tracker.hpp"

#include "common/error.hpp"
#include "dedup/engine.hpp"

#include <dirent.h>

#include <fstream>
#include <iostream>

namespace foldvm {

KsmCounters read_ksm_counters() {
    KsmCounters out;
    static const char* names[] = {
        "pages_shared",   "pages_sharing",      "pages_unshared", "pages_volatile", "full_scans",
        "general_profit", "stable_node_chains", "ksm_zero_pages", "pages_scanned",  "run",
        "pages_to_scan",  "sleep_millisecs"};
    for (const char* n : names) {
        std::ifstream in(std::string("/sys/kernel/mm/ksm/") + n);
        int64_t v = 0;
        if (in >> v) out.values[n] = v;
    }
    return out;
}

DedupService::DedupService(Host& host, DedupMode mode, const dedup::DedupConfig& config)
    : host_(host), mode_(mode) {
    if (mode_ == DedupMode::Builtin) {
        engine_ = std::make_unique<dedup::Engine>(
            config, [](const std::string& msg) { std::cerr << "foldvm: " << msg << "\n"; });
    }
    host_.add_observer(this);
    if (engine_) engine_->start();
}

DedupService::~DedupService() {
    // First stop hearing of VMs (this waits for a callback in flight), so no
    // region is added behind the cleanup below.
    host_.remove_observer(this);
    if (engine_) engine_->stop();
    // VMs still alive must leave the engine before it goes away.
    std::map<uint64_t, dedup::RegionId> left;
    {
        std::lock_guard lock(mutex_);
        left.swap(regions_);
    }
    if (engine_)
        for (auto& [id, region] : left) {
            if (auto vm = host_.vm(id)) vm->memory().set_discarder({});
            engine_->remove_region(region);
        }
}

void DedupService::prepare(VmConfig& config) const {
    config.ksm_mergeable = mode_ == DedupMode::Ksm;
    config.dirty_logging = mode_ == DedupMode::Builtin;
    // The freeze uses guest RAM's own userfaultfd, which a pager shares.
    if (mode_ == DedupMode::Builtin) config.userfaultfd = true;
}

void DedupService::require_builtin(const std::string& what) const {
    if (!engine_)
        throw DedupUnavailable(what + " needs the built-in engine; this foldvm runs with --dedup " +
                               to_string(mode_));
}

dedup::Engine& DedupService::engine(const char* what) const {
    require_builtin(what);
    return *engine_;
}

dedup::DedupConfig DedupService::config() const {
    return engine("reading dedup knobs").config();
}

dedup::DedupConfig
DedupService::update_knobs(const std::function<void(dedup::DedupConfig&)>& edit) {
    return engine("changing dedup knobs").update_config(edit);
}

std::optional<dedup::DedupStats> DedupService::stats() const {
    if (!engine_) return std::nullopt;
    return engine_->stats();
}

std::optional<dedup::RegionStats> DedupService::stats(uint64_t vm_id) const {
    if (!engine_) return std::nullopt;
    dedup::RegionId region;
    {
        std::lock_guard lock(mutex_);
        auto it = regions_.find(vm_id);
        if (it == regions_.end()) return std::nullopt;
        region = it->second;
    }
    // One region's counters: the engine-wide stats would also read
    // /proc/self/maps and the pool's residency, once per VM listed.
    return engine_->region_stats(region);
}

void DedupService::scan_now() {
    engine("dedup actions").scan_now();
}

uint64_t DedupService::pool_bytes() const {
    return engine_ ? engine_->pool_resident_bytes() : 0;
}

void DedupService::unmerge_all() {
    engine("dedup actions").unmerge_all();
}

void DedupService::for_each_evictable(uint64_t vm_id, size_t first, size_t count,
                                      std::chrono::seconds not_written_within,
                                      ShareFirst share_first,
                                      const std::function<void(size_t, size_t)>& evict) const {
    std::optional<dedup::RegionId> region;
    if (engine_) {
        std::lock_guard lock(mutex_);
        auto it = regions_.find(vm_id);
        if (it != regions_.end()) region = it->second;
    }
    if (region)
        engine_->for_each_evictable(*region, first, count, not_written_within, share_first, evict);
    else
        evict(first, count);
}

void DedupService::vm_created(uint64_t id, Vm& vm) {
    if (!engine_) return;
    dedup::RegionSpec spec;
    spec.name = "vm" + std::to_string(id);
    spec.domain = vm.config().dedup_domain;
    spec.base = vm.memory().host_base();
    spec.size = vm.memory().size();
    spec.tracker = std::make_unique<GuestRamTracker>(vm.memory());
    spec.shared_uffd = vm.memory().userfaultfd();
    spec.absent = vm.memory().absent_bitmap();
    // Fallback freeze without userfaultfd: park the vCPUs (device threads
    // write guest RAM only from vCPU exits today).
    spec.pause = [&vm] { vm.hold(); };
    spec.resume = [&vm] { vm.release(); };
    dedup::RegionId region = engine_->add_region(std::move(spec));
    // Balloon inflates and free page reports go through the engine, which
    // knows which pages are merged.
    vm.memory().set_discarder([engine = engine_.get(), region, &vm](uint64_t gpa, uint64_t len) {
        engine->discard_range(region, gpa / kPageSize, len / kPageSize,
                              [&vm] { vm.yield_to_pause(); });
    });
    std::lock_guard lock(mutex_);
    regions_[id] = region;
}

void DedupService::vm_removed(uint64_t id, Vm& vm) {
    if (!engine_) return;
    vm.memory().set_discarder({});
    dedup::RegionId region;
    {
        std::lock_guard lock(mutex_);
        auto it = regions_.find(id);
        if (it == regions_.end()) return;
        region = it->second;
        regions_.erase(it);
    }
    engine_->remove_region(region);
}

} // namespace foldvm
