#include "budget_guard.hpp"

#include "common/thread_priority.hpp"
#include "vmm/machine/vm.hpp"

#include <pthread.h>

namespace foldvm::overcommit {

BudgetGuard::BudgetGuard(std::chrono::milliseconds interval, std::function<uint64_t()> used_bytes)
    : interval_(interval), used_bytes_(std::move(used_bytes)), thread_([this] { run(); }) {
    pthread_setname_np(thread_.native_handle(), "foldvm-budget");
}

BudgetGuard::~BudgetGuard() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void BudgetGuard::set_lines(uint64_t hold_above, uint64_t release_below) {
    hold_above_ = hold_above;
    release_below_ = std::min(release_below, hold_above);
}

void BudgetGuard::add(uint64_t id, Vm& vm) {
    std::lock_guard lock(mutex_);
    vms_[id] = &vm;
    if (holding_) vm.hold_nowait();
}

void BudgetGuard::remove(uint64_t id) {
    std::lock_guard lock(mutex_);
    auto it = vms_.find(id);
    if (it == vms_.end()) return;
    if (holding_) it->second->release();
    vms_.erase(it);
}

BudgetGuardStats BudgetGuard::stats() const {
    std::lock_guard lock(mutex_);
    BudgetGuardStats s = stats_;
    s.holding = holding_;
    if (holding_)
        s.held_ms += uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - held_since_)
                                  .count());
    return s;
}

void BudgetGuard::hold_all_locked() {
    for (auto& [id, vm] : vms_)
        vm->hold_nowait();
    holding_ = true;
    held_since_ = std::chrono::steady_clock::now();
    ++stats_.brakes;
}

void BudgetGuard::release_all_locked() {
    for (auto& [id, vm] : vms_)
        vm->release();
    holding_ = false;
    stats_.held_ms += uint64_t(std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::chrono::steady_clock::now() - held_since_)
                                   .count());
}

void BudgetGuard::run() {
    // Like the governor: 20 vCPUs on 2 cores must not starve the brake.
    set_thread_nice(-10);
    std::unique_lock lock(mutex_);
    while (!stop_) {
        cv_.wait_for(lock, interval_, [&] { return stop_; });
        if (stop_) break;
        uint64_t used = used_bytes_();
        if (!holding_ && used > hold_above_)
            hold_all_locked();
        else if (holding_ && used <= release_below_)
            release_all_locked();
    }
    if (holding_) release_all_locked();
}

} // namespace foldvm::overcommit
