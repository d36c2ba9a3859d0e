// The host budget's emergency brake.
//
// The governor keeps memory inside the budget by evicting, and one eviction
// can wait for seconds: on the dedup engine's lock while a merge batch
// remaps pages, or on mmap_lock while twenty vCPUs fault memory in on two
// cores. Measured: one 8 s stall let 20 filling VMs take 4.7 GiB of a 2 GiB
// budget. This thread does nothing that can wait like that: it reads the
// process RSS (/proc/self/statm: counters, no mmap_lock) each interval and,
// once free memory is under the low line, holds every VM's vCPUs until it is
// back over the release line. Holding is non-blocking (a flag and a kick).
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

namespace foldvm {
class Vm;
}

namespace foldvm::overcommit {

struct BudgetGuardStats {
    uint64_t brakes = 0;  // times every VM was held
    uint64_t held_ms = 0; // time spent holding
    bool holding = false;
};

class BudgetGuard {
  public:
    // Holds every VM while used_bytes() > hold_above; releases them once it
    // is at or below release_below (< hold_above: hysteresis).
    BudgetGuard(std::chrono::milliseconds interval, std::function<uint64_t()> used_bytes);
    ~BudgetGuard();
    BudgetGuard(const BudgetGuard&) = delete;
    BudgetGuard& operator=(const BudgetGuard&) = delete;

    void set_lines(uint64_t hold_above, uint64_t release_below);
    void add(uint64_t id, Vm& vm);
    // Releases the VM if it is held; the guard no longer touches it.
    void remove(uint64_t id);
    BudgetGuardStats stats() const;

  private:
    void run();
    void hold_all_locked();
    void release_all_locked();

    const std::chrono::milliseconds interval_;
    const std::function<uint64_t()> used_bytes_;
    std::atomic<uint64_t> hold_above_{UINT64_MAX}, release_below_{UINT64_MAX};
    mutable std::mutex mutex_;
    std::condition_variable cv_;
    std::map<uint64_t, Vm*> vms_;
    bool holding_ = false, stop_ = false;
    std::chrono::steady_clock::time_point held_since_{};
    BudgetGuardStats stats_;
    std::thread thread_; // last: started after everything above exists
};

} // namespace foldvm::overcommit
