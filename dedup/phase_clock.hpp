// Cheap per-phase wall-clock accounting for the engine, exported in stats so
// operators (and we) can see where merge time goes without a profiler.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>

namespace foldvm::dedup {

enum class Phase { Collect, Hash, Freeze, Verify, Remap, Zero, Thaw, Count };
constexpr size_t kPhaseCount = static_cast<size_t>(Phase::Count);

inline const char* phase_name(Phase p) {
    constexpr const char* names[] = {"collect", "hash", "freeze", "verify",
                                     "remap",   "zero", "thaw"};
    return names[static_cast<size_t>(p)];
}

class PhaseClock {
  public:
    explicit PhaseClock(std::array<uint64_t, kPhaseCount>& sink)
        : sink_(sink), last_(std::chrono::steady_clock::now()) {}
    // Charges the time since the previous lap to `phase`.
    void lap(Phase phase) {
        auto now = std::chrono::steady_clock::now();
        sink_[static_cast<size_t>(phase)] += static_cast<uint64_t>(
            std::chrono::duration_cast<std::chrono::nanoseconds>(now - last_).count());
        last_ = now;
    }

  private:
    std::array<uint64_t, kPhaseCount>& sink_;
    std::chrono::steady_clock::time_point last_;
};

} // namespace foldvm::dedup
