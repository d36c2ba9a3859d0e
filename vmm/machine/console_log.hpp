// Collects every VM's console lines in memory, for programs that embed foldvm
// and watch guest output (tests, benchmarks, a serverless runtime waiting for
// a "ready" line). Plug events() into Host::create_vm.
#pragma once

#include "vm.hpp"

#include <map>
#include <mutex>
#include <string>
#include <vector>

namespace foldvm {

class ConsoleLog {
  public:
    VmEvents events() {
        VmEvents ev;
        ev.console_line = [this](uint64_t vm, const std::string& line) {
            std::lock_guard lock(mutex_);
            lines_[vm].push_back(line);
        };
        return ev;
    }
    // The first line of VM `vm` containing `text`, or "".
    std::string find(uint64_t vm, const std::string& text) const {
        std::lock_guard lock(mutex_);
        auto it = lines_.find(vm);
        if (it == lines_.end()) return "";
        for (const auto& l : it->second)
            if (l.find(text) != std::string::npos) return l;
        return "";
    }
    bool starts_with(uint64_t vm, const std::string& prefix) const {
        std::lock_guard lock(mutex_);
        auto it = lines_.find(vm);
        if (it == lines_.end()) return false;
        for (const auto& l : it->second)
            if (l.rfind(prefix, 0) == 0) return true;
        return false;
    }
    // How many VMs printed a line starting with `prefix`.
    size_t vms_with(const std::string& prefix) const {
        std::lock_guard lock(mutex_);
        size_t n = 0;
        for (const auto& [vm, ls] : lines_)
            for (const auto& l : ls)
                if (l.rfind(prefix, 0) == 0) {
                    ++n;
                    break;
                }
        return n;
    }
    std::string dump(uint64_t vm) const {
        std::lock_guard lock(mutex_);
        std::string out;
        auto it = lines_.find(vm);
        if (it != lines_.end())
            for (const auto& l : it->second)
                out += l + "\n";
        return out;
    }
    std::vector<std::string> all() const {
        std::lock_guard lock(mutex_);
        std::vector<std::string> out;
        for (const auto& [vm, ls] : lines_)
            out.insert(out.end(), ls.begin(), ls.end());
        return out;
    }

  private:
    mutable std::mutex mutex_;
    std::map<uint64_t, std::vector<std::string>> lines_;
};

} // namespace foldvm
