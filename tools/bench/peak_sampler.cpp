#include "peak_sampler.hpp"

#include "proc_stats.hpp"

#include "common/procfs.hpp"

#include <algorithm>
#include <chrono>

namespace foldvm::bench {

PeakSampler::PeakSampler(MemoryCgroup& cg, uint64_t budget)
    : cg_(cg), budget_(budget), thread_([this] {
          while (!stop_.load()) {
              sample();
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
          }
      }) {}

void PeakSampler::sample() {
    uint64_t zswap = procfs::meminfo_bytes("Zswap");
    uint64_t total = cg_.usage_bytes() + zswap;
    peak_zswap_.store(std::max(peak_zswap_.load(), zswap));
    peak_.store(std::max(peak_.load(), total));
    if (!budget_) return;
    uint64_t limit = std::max(budget_ > zswap ? budget_ - zswap : 0, budget_ / 4);
    limit &= ~uint64_t(4095);
    uint64_t step = 1 << 20;
    if (limit_set_ && limit + step > limit_set_ && limit < limit_set_ + step) return;
    try {
        cg_.set_limit(limit);
        limit_set_ = limit;
        uint64_t low = min_limit_.load();
        min_limit_.store(low ? std::min(low, limit) : limit);
    } catch (const std::exception&) {
        // EBUSY: usage is still above it; reclaim goes on, try again next time
    }
}

void PeakSampler::stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
}

} // namespace foldvm::bench
