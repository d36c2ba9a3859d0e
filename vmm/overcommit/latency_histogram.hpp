// Fault latencies in log-linear buckets (8 per power of two, so within
// 12.5%): cheap enough to record every fault, good enough for p50/p99.
#pragma once

#include <array>
#include <atomic>
#include <bit>
#include <cstdint>

namespace foldvm::overcommit {

class LatencyHistogram {
  public:
    void record(uint64_t ns) { buckets_[bucket(ns)].fetch_add(1, std::memory_order_relaxed); }
    // The quantile q in [0, 1] in microseconds (0 without samples).
    double quantile_us(double q) const {
        std::array<uint64_t, kBuckets> counts;
        uint64_t total = 0;
        for (size_t i = 0; i < kBuckets; ++i)
            total += counts[i] = buckets_[i].load(std::memory_order_relaxed);
        if (total == 0) return 0;
        uint64_t rank = static_cast<uint64_t>(q * static_cast<double>(total - 1)) + 1, seen = 0;
        for (size_t i = 0; i < kBuckets; ++i)
            if ((seen += counts[i]) >= rank) return static_cast<double>(upper_ns(i)) / 1000.0;
        return static_cast<double>(upper_ns(kBuckets - 1)) / 1000.0;
    }

  private:
    static constexpr size_t kSub = 8, kBuckets = 64 * kSub;
    static size_t bucket(uint64_t ns) {
        if (ns < kSub) return ns;
        unsigned log = 63 - static_cast<unsigned>(std::countl_zero(ns));
        uint64_t sub = (ns >> (log - 3)) & (kSub - 1);
        return (log - 2) * kSub + sub;
    }
    static uint64_t upper_ns(size_t b) {
        if (b < kSub) return b;
        unsigned log = static_cast<unsigned>(b / kSub) + 2;
        uint64_t sub = b % kSub;
        return ((kSub + sub + 1) << (log - 3)) - 1;
    }
    std::array<std::atomic<uint64_t>, kBuckets> buckets_{};
};

} // namespace foldvm::overcommit
