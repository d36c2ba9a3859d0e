// Where a VM's vCPU threads wait outside KVM_RUN: parked for a pause (the
// user's) or a hold (an internal operation such as dedup's fallback freeze),
// or asleep in the guest's poll until a guest event. Pause and hold share
// one park; holds nest, and releasing the last hold never resumes a VM the
// user paused. Everything here wakes when the VM stops.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>

namespace foldvm {

class VcpuParking {
  public:
    // `kick` forces every vCPU out of KVM_RUN so that it reaches a park point.
    explicit VcpuParking(std::function<void()> kick) : kick_(std::move(kick)) {}

    // Control side. pause() and hold() block until every running vCPU is
    // parked, and return false if the VM finished instead.
    bool pause();
    void resume();
    bool hold();
    // A hold that does not wait: the vCPUs park at their next exit (they
    // are kicked). For throttling, where a step must not wait on vCPUs.
    void hold_nowait();
    void release();
    // Stop requested: parked vCPUs and polls wake, and park points let go for good.
    void stop();
    // The VM finished: waiters in pause() and hold() return.
    void finish();
    bool stop_requested() const { return stop_requested_.load(); }

    // vCPU side.
    void vcpus_started(int count);
    // Call when a vCPU thread leaves its loop.
    void vcpu_exited();
    // Marks the calling thread as one of this VM's vCPUs (for yield()).
    void enter_vcpu_thread();
    bool park_requested() const { return pause_requested_ || holds_ > 0; }
    // Parks the calling vCPU while a pause or hold is requested.
    void park();
    // park() for device code that may run on a vCPU thread, waiting for
    // something a pause could be holding up. No-op on other threads.
    void yield();

    // Guest events, for unikernels that poll instead of taking interrupts.
    // Sleeps up to timeout_ns; true if an event was pending or arrived
    // (consumed). Wakes early on a park request or stop.
    bool poll(uint64_t timeout_ns);
    void raise_event();

    // Waits up to `timeout` until every vCPU thread has exited.
    bool wait_exited(std::chrono::milliseconds timeout);

  private:
    bool wait_all_parked(std::unique_lock<std::mutex>& lock);

    std::function<void()> kick_;
    std::atomic<bool> stop_requested_{false};
    std::atomic<bool> pause_requested_{false};
    std::atomic<int> holds_{0};
    std::atomic<bool> guest_event_{false};
    std::atomic<int> running_vcpus_{0};

    std::mutex mutex_; // guards the fields below and orders the waits
    std::condition_variable cv_;
    int parked_vcpus_ = 0;
    bool finished_ = false;
};

} // namespace foldvm
