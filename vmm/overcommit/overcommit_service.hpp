// The one door to memory overcommit for a Host's VMs: a pager per VM (guest
// RAM registered with userfaultfd once the VM first gives pages up), the
// tiers, and the governor thread that keeps the host inside its budget.
// Nothing outside vmm/overcommit sees a Pager; callers get configs, stats and
// actions from here.
#pragma once

#include "memory_stats.hpp"
#include "vmm/config/overcommit_config.hpp"
#include "vmm/machine/host.hpp"

#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>

namespace foldvm {

class DedupService;

// Per-VM settings of the governor (VmConfig has them at creation; PUT
// /vms/{id}/memory changes them live).
struct VmMemoryPolicy {
    uint64_t limit_mib = 0; // 0 = no per-VM limit
    uint32_t priority = 50; // 0..100: higher keeps its memory longer
};

// An operation that needs overcommit was asked of a service running with it
// off (the API answers 409).
class OvercommitUnavailable : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class OvercommitService : public Host::Observer {
  public:
    using Logger = std::function<void(const std::string&)>;
    // Validates `config` (FieldError) and resolves the budget; starts the
    // governor thread when enabled. Observes `host` from here on, like the
    // DedupService: construct it after that one (it builds on dedup's
    // regions) and destroy it before.
    OvercommitService(Host& host, DedupService& dedup, const OvercommitConfig& config,
                      Logger log = {}, Logger debug = {});
    ~OvercommitService() override;
    OvercommitService(const OvercommitService&) = delete;
    OvercommitService& operator=(const OvercommitService&) = delete;

    bool enabled() const;
    // Fits a VM's config before creation: guest RAM gets a userfaultfd.
    void prepare(VmConfig& config) const;
    OvercommitConfig config() const;
    // Read-modify-write of the live fields under the service lock; returns
    // the config now in force. FieldError if the result is invalid (nothing
    // changes) or a non-live field changed.
    OvercommitConfig update(const std::function<void(OvercommitConfig&)>& edit);

    HostMemoryStats host_stats() const;
    // nullopt for an unknown VM.
    std::optional<VmMemoryStats> vm_stats(uint64_t vm_id) const;

    // Park moves every evictable page of the VM to the tiers (its vCPUs
    // keep running; touched pages come back with fault-around); unpark lets
    // the governor treat it as active again. Return false for an unknown VM;
    // OvercommitUnavailable when disabled.
    bool park(uint64_t vm_id);
    bool unpark(uint64_t vm_id);
    bool set_policy(uint64_t vm_id, const VmMemoryPolicy& policy);
    // Fault injection for tests: damages one of the VM's compressed pages.
    bool corrupt_compressed_for_testing(uint64_t vm_id);

    void vm_created(uint64_t id, Vm& vm) override;
    void vm_removed(uint64_t id, Vm& vm) override;

  private:
    struct Impl;
    std::unique_ptr<Impl> impl_;
};

} // namespace foldvm
