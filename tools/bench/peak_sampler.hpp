// Peak memory of one benchmark run, zswap's pool included.
//
// On cgroup v1 the kernel does not charge zswap's compressed pool to the
// cgroup (memory.zswap.* is v2 only), so a run held to a cgroup limit can hold
// more than the limit: its cgroup usage plus the pool. Only the yardstick's
// run swaps while this samples, so the host-wide pool (/proc/meminfo Zswap)
// is its own. For the yardstick, the sampler can also hold the run to the
// budget the way foldvm is held: cgroup limit = budget - pool, so that both
// together fit the budget ("kernel swap + zswap at the same budget").
#pragma once

#include "memory_cgroup.hpp"

#include <atomic>
#include <cstdint>
#include <thread>

namespace foldvm::bench {

class PeakSampler {
  public:
    // Samples every 50 ms until destroyed or stop() is called. With a
    // `budget`, also keeps cg's limit at budget - zswap's pool (at least
    // budget / 4); set_limit failures (EBUSY while reclaim catches up) are
    // retried at the next sample.
    explicit PeakSampler(MemoryCgroup& cg, uint64_t budget = 0);
    ~PeakSampler() { stop(); }
    PeakSampler(const PeakSampler&) = delete;
    PeakSampler& operator=(const PeakSampler&) = delete;

    void stop();
    uint64_t peak_with_zswap_bytes() const { return peak_.load(); }
    uint64_t peak_zswap_bytes() const { return peak_zswap_.load(); }
    // The lowest limit it set (0: it set none).
    uint64_t min_limit_bytes() const { return min_limit_.load(); }

  private:
    void sample();

    MemoryCgroup& cg_;
    const uint64_t budget_;
    uint64_t limit_set_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<uint64_t> peak_{0}, peak_zswap_{0}, min_limit_{0};
    std::thread thread_; // last: started once the rest exists
};

} // namespace foldvm::bench
