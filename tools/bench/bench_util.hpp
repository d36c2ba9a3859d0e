// Small helpers shared by the benchmark modes.
#pragma once

#include "vmm/machine/console_log.hpp"

#include "vmm/machine/host.hpp"

#include <algorithm>
#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace foldvm::bench {

inline double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    size_t k = static_cast<size_t>(p / 100.0 * double(v.size() - 1) + 0.5);
    return v[std::min(k, v.size() - 1)];
}

inline double seconds_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

inline bool wait_until(const std::function<bool()>& pred, double limit_s, int poll_ms = 5) {
    auto t0 = std::chrono::steady_clock::now();
    while (seconds_since(t0) < limit_s) {
        if (pred()) return true;
        std::this_thread::sleep_for(std::chrono::milliseconds(poll_ms));
    }
    return pred();
}

using foldvm::ConsoleLog; // vmm/machine/console_log.hpp

std::string self_dir(); // directory of the running benchmark binary

} // namespace foldvm::bench
