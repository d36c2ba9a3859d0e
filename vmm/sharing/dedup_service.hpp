// Connects a Host's VMs to page sharing: the built-in engine (guest RAM as
// dedup regions, KVM dirty log as the write tracker), the host kernel's KSM
// as the yardstick, or nothing.
#pragma once

#include "dedup/engine.hpp"
#include "vmm/config/dedup_mode.hpp"
#include "vmm/machine/host.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace foldvm {

// Host-wide counters of the kernel's KSM, read from /sys/kernel/mm/ksm.
struct KsmCounters {
    std::map<std::string, int64_t> values;
};
KsmCounters read_ksm_counters();

class DedupService : public Host::Observer {
  public:
    DedupService(Host& host, DedupMode mode, const dedup::DedupConfig& config);
    ~DedupService() override;

    DedupMode mode() const { return mode_; }
    dedup::Engine* engine() { return engine_.get(); } // null unless builtin

    void vm_created(uint64_t id, Vm& vm) override;
    void vm_removed(uint64_t id, Vm& vm) override;

    // Region stats of one VM (builtin mode), if known.
    bool vm_stats(uint64_t id, dedup::RegionStats& out) const;

  private:
    Host& host_;
    DedupMode mode_;
    std::unique_ptr<dedup::Engine> engine_;
    mutable std::mutex mutex_;
    std::map<uint64_t, dedup::RegionId> regions_;
};

} // namespace foldvm
