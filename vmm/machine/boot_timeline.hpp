// When a VM reached its boot milestones, for the boot benchmarks and the
// API: creation, the guest's first hypercall (unikernels) and the boot
// marker a Linux guest's init writes (debug_port.hpp). Lock-free: the
// milestones are noted on vCPU threads and read from anywhere.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>

namespace foldvm {

class BootTimeline {
  public:
    using Clock = std::chrono::steady_clock;

    BootTimeline() : created_at_(Clock::now()) {}

    Clock::time_point created_at() const { return created_at_; }

    void note_hypercall() {
        if (first_hypercall_ns_.load(std::memory_order_relaxed) != 0) return;
        int64_t now = Clock::now().time_since_epoch().count();
        int64_t zero = 0;
        first_hypercall_ns_.compare_exchange_strong(zero, now);
    }
    // Zero until the guest's first hypercall.
    Clock::time_point first_hypercall_at() const {
        return Clock::time_point(Clock::duration(first_hypercall_ns_.load()));
    }

    // Milliseconds since creation for the first marker; nullopt for later ones.
    std::optional<double> note_boot_marker() {
        int64_t ns =
            std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now() - created_at_)
                .count();
        int64_t zero = 0;
        if (!boot_marker_ns_.compare_exchange_strong(zero, std::max<int64_t>(ns, 1)))
            return std::nullopt;
        return static_cast<double>(ns) / 1e6;
    }
    // Milliseconds from creation to the boot marker; negative until then.
    double boot_marker_ms() const {
        int64_t ns = boot_marker_ns_.load();
        return ns == 0 ? -1.0 : static_cast<double>(ns) / 1e6;
    }

  private:
    Clock::time_point created_at_;
    std::atomic<int64_t> first_hypercall_ns_{0};
    std::atomic<int64_t> boot_marker_ns_{0};
};

} // namespace foldvm
