// One engine of `foldvm-bench overcommit-run`: a Host with memfill VMs and
// either foldvm's own overcommit (built-in dedup + OvercommitService with
// the budget) or the kernel yardstick (--dedup ksm: guest RAM
// MADV_MERGEABLE; the cgroup limit, swap file, zswap and ksmd are set up by
// the parent process).
#pragma once

#include "timed_console.hpp"

#include "vmm/machine/host.hpp"
#include "vmm/overcommit/overcommit_service.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <nlohmann/json.hpp>

#include <map>
#include <memory>
#include <string>
#include <vector>

namespace foldvm::bench {

// True when this build has the OvercommitService implementation.
bool overcommit_available();

class OvercommitEngine {
  public:
    OvercommitEngine(const std::string& engine, uint64_t budget, const std::string& swap_dir,
                     const std::string& overcommit_opts = "");
    ~OvercommitEngine(); // stops and removes the VMs while the services still watch
    OvercommitEngine(const OvercommitEngine&) = delete;
    OvercommitEngine& operator=(const OvercommitEngine&) = delete;

    bool foldvm() const { return foldvm_; }
    // Creates `n` memfill VMs (not started) with `cmdline`; returns their ids.
    std::vector<uint64_t> create_vms(int n, uint64_t mem, const std::string& cmdline);
    // Starts them and remembers which threads the starts spawned (vCPUs).
    void start(const std::vector<uint64_t>& ids);
    Host& host() { return host_; }
    DedupService& dedup() { return dedup_; }
    OvercommitService* overcommit() { return overcommit_.get(); }
    TimedConsole& console() { return console_; }
    uint64_t index_of(uint64_t id) const; // the VM's console index

    // Bytes merged or zero-mapped by the dedup engine (KSM counters for
    // the kernel yardstick).
    uint64_t dedup_saved_bytes() const;
    // CPU seconds: the whole process, and the threads the VM starts spawned.
    double process_cpu_s() const;
    double vcpu_cpu_s() const;
    // foldvm: the service's host figures; {} for the kernel.
    nlohmann::json overcommit_json() const;

  private:
    bool foldvm_;
    Host host_;
    DedupService dedup_;
    // Deleter set where the service is made: a build without the
    // implementation never names its destructor.
    using ServicePtr = std::unique_ptr<OvercommitService, void (*)(OvercommitService*)>;
    ServicePtr overcommit_{nullptr, [](OvercommitService*) {}};
    TimedConsole console_;
    std::vector<uint64_t> ids_;
    std::vector<pid_t> vcpu_tids_;
    mutable std::map<pid_t, double> vcpu_seen_s_; // last CPU seconds read per vCPU
};

} // namespace foldvm::bench
