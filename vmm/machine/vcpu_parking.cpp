#include "vcpu_parking.hpp"

namespace foldvm {

namespace {
thread_local const VcpuParking* t_vcpu_owner = nullptr; // whose vCPU runs on this thread
} // namespace

bool VcpuParking::wait_all_parked(std::unique_lock<std::mutex>& lock) {
    kick_();
    cv_.notify_all();
    cv_.wait(lock, [&] { return parked_vcpus_ >= running_vcpus_.load() || finished_; });
    return !finished_;
}

bool VcpuParking::pause() {
    std::unique_lock lock(mutex_);
    pause_requested_ = true;
    return wait_all_parked(lock);
}

void VcpuParking::resume() {
    std::lock_guard lock(mutex_);
    pause_requested_ = false;
    cv_.notify_all();
}

bool VcpuParking::hold() {
    std::unique_lock lock(mutex_);
    ++holds_;
    return wait_all_parked(lock);
}

void VcpuParking::hold_nowait() {
    std::lock_guard lock(mutex_);
    ++holds_;
    kick_();
}

void VcpuParking::release() {
    std::lock_guard lock(mutex_);
    if (holds_ > 0) --holds_;
    cv_.notify_all();
}

void VcpuParking::stop() {
    stop_requested_ = true;
    std::lock_guard lock(mutex_);
    kick_();
    cv_.notify_all();
}

void VcpuParking::finish() {
    {
        std::lock_guard lock(mutex_);
        finished_ = true;
    }
    stop();
}

void VcpuParking::vcpus_started(int count) {
    running_vcpus_ = count;
}

void VcpuParking::vcpu_exited() {
    std::lock_guard lock(mutex_);
    --running_vcpus_;
    cv_.notify_all();
}

void VcpuParking::enter_vcpu_thread() {
    t_vcpu_owner = this;
}

void VcpuParking::park() {
    std::unique_lock lock(mutex_);
    ++parked_vcpus_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return !park_requested() || stop_requested_; });
    --parked_vcpus_;
}

void VcpuParking::yield() {
    if (t_vcpu_owner != this || !park_requested()) return;
    park();
}

bool VcpuParking::poll(uint64_t timeout_ns) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, std::chrono::nanoseconds(timeout_ns),
                 [&] { return stop_requested_.load() || park_requested() || guest_event_.load(); });
    return guest_event_.exchange(false);
}

void VcpuParking::raise_event() {
    {
        std::lock_guard lock(mutex_);
        guest_event_ = true;
    }
    cv_.notify_all();
}

bool VcpuParking::wait_exited(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return running_vcpus_.load() == 0; });
}

} // namespace foldvm
