// The one door to page sharing for a Host's VMs: the built-in engine (guest
// RAM as dedup regions, KVM dirty log as the write tracker), the host
// kernel's KSM as the yardstick, or nothing. Nothing outside vmm/sharing
// sees a dedup::Engine; callers get configs, stats and actions from here.
#pragma once

#include "common/share_first.hpp"
#include "dedup/config.hpp"
#include "dedup/region.hpp"
#include "dedup/stats.hpp"
#include "vmm/config/dedup_mode.hpp"
#include "vmm/machine/host.hpp"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>

namespace foldvm {

namespace dedup {
class Engine;
}

// Host-wide counters of the kernel's KSM, read from /sys/kernel/mm/ksm.
struct KsmCounters {
    std::map<std::string, int64_t> values;
};
KsmCounters read_ksm_counters();

// An operation that needs the built-in engine was asked of a service running
// in another mode (the API answers 409).
class DedupUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class DedupService : public Host::Observer {
  public:
    DedupService(Host& host, DedupMode mode, const dedup::DedupConfig& config);
    ~DedupService() override;
    DedupService(const DedupService&) = delete;
    DedupService& operator=(const DedupService&) = delete;

    DedupMode mode() const { return mode_; }
    bool builtin() const { return engine_ != nullptr; }
    // Memory the built-in engine's pool holds, each page once (0 without
    // it); takes no lock, so the budget guard may call it.
    uint64_t pool_bytes() const;

    // Fits a VM's config to the mode, once, before the VM is created: KSM
    // marks guest RAM MADV_MERGEABLE, the built-in engine tracks writes with
    // the dirty log (guest RAM is always MADV_NOHUGEPAGE, see GuestMemory).
    void prepare(VmConfig& config) const;

    // Throws DedupUnavailable("<what> needs the built-in engine; ...") unless
    // the mode is builtin.
    void require_builtin(const std::string& what) const;

    // The engine's knobs (builtin only, else DedupUnavailable).
    dedup::DedupConfig config() const;
    // Applies `edit` to a copy of the current knobs, validates the result and
    // sets it, all under the engine's lock, so concurrent updates never lose
    // each other's fields. Returns the knobs now in force. Throws
    // DedupUnavailable unless builtin, InvalidInput if the result is invalid
    // (nothing changes then).
    dedup::DedupConfig update_knobs(const std::function<void(dedup::DedupConfig&)>& edit);

    // Engine-wide stats; nullopt unless builtin.
    std::optional<dedup::DedupStats> stats() const;
    // Stats of one VM's region (by Host VM id); nullopt unless builtin and
    // the VM is known.
    std::optional<dedup::RegionStats> stats(uint64_t vm_id) const;

    // Actions (builtin only, else DedupUnavailable). scan_now wakes the
    // scanner for a full pass; unmerge_all gives every VM private copies
    // back, synchronously.
    void scan_now();
    void unmerge_all();

    // For the overcommit pager: calls `evict(first, count)` for the runs of
    // [first, first+count) of a VM's RAM that may leave memory. The built-in
    // engine leaves merged pages out, and pages its dirty log saw written
    // within `not_written_within`, and holds its lock across; otherwise the
    // whole range is one run.
    void for_each_evictable(uint64_t vm_id, size_t first, size_t count,
                            std::chrono::seconds not_written_within, ShareFirst share_first,
                            const std::function<void(size_t, size_t)>& evict) const;

    void vm_created(uint64_t id, Vm& vm) override;
    void vm_removed(uint64_t id, Vm& vm) override;

  private:
    dedup::Engine& engine(const char* what) const;

    Host& host_;
    DedupMode mode_;
    std::unique_ptr<dedup::Engine> engine_;
    mutable std::mutex mutex_;
    std::map<uint64_t, dedup::RegionId> regions_;
};

} // namespace foldvm
