// Every VM's console lines with the host time each arrived, for benchmarks
// that time guest answers (a mailbox pong) and read guest-measured figures
// from `key=value` lines. Plug events() into Host::create_vm.
#pragma once

#include "vmm/machine/vm.hpp"

#include <chrono>
#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

namespace foldvm::bench {

class TimedConsole {
  public:
    using Clock = std::chrono::steady_clock;
    struct Line {
        Clock::time_point t;
        std::string text;
    };

    VmEvents events() {
        VmEvents ev;
        ev.console_line = [this](uint64_t vm, const std::string& line) {
            std::lock_guard lock(mutex_);
            lines_[vm].push_back({Clock::now(), line});
        };
        return ev;
    }
    // First line of VM `vm` (its config index) starting with `prefix` that
    // arrived at or after `since`.
    std::optional<Line> find(uint64_t vm, const std::string& prefix,
                             Clock::time_point since = {}) const {
        std::lock_guard lock(mutex_);
        auto it = lines_.find(vm);
        if (it == lines_.end()) return std::nullopt;
        for (const auto& l : it->second)
            if (l.t >= since && l.text.rfind(prefix, 0) == 0) return l;
        return std::nullopt;
    }
    // Lines of `vm` starting with `prefix`, since `since`.
    std::vector<std::string> all(uint64_t vm, const std::string& prefix,
                                 Clock::time_point since = {}) const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        auto it = lines_.find(vm);
        if (it == lines_.end()) return out;
        for (const auto& l : it->second)
            if (l.t >= since && l.text.rfind(prefix, 0) == 0) out.push_back(l.text);
        return out;
    }
    size_t count_vms(const std::vector<uint64_t>& vms, const std::string& prefix,
                     Clock::time_point since = {}) const {
        size_t n = 0;
        for (uint64_t vm : vms)
            n += find(vm, prefix, since).has_value();
        return n;
    }

  private:
    mutable std::mutex mutex_;
    std::map<uint64_t, std::vector<Line>> lines_;
};

// The value of ` key=` in a console line (decimal or 0x-hex), or nullopt.
std::optional<uint64_t> line_field(const std::string& line, const std::string& key);
// ` key=` as a decimal with fraction ("touched_ms=1.234"), or nullopt.
std::optional<double> line_field_double(const std::string& line, const std::string& key);

} // namespace foldvm::bench
