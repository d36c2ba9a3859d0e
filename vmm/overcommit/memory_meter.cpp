#include "memory_meter.hpp"

#include "vmm/memory/process_memory.hpp"

#include <fstream>
#include <sstream>
#include <unistd.h>

namespace foldvm::overcommit {

namespace {

// This process's memory cgroup directory and whether it is cgroup v2, from
// /proc/self/cgroup; empty for the root cgroup (the whole host).
std::pair<std::string, bool> own_memory_cgroup() {
    std::ifstream in("/proc/self/cgroup");
    std::string line, v2;
    while (std::getline(in, line)) {
        // "ID:CONTROLLERS:PATH"
        auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        std::string controllers = line.substr(a + 1, b - a - 1), path = line.substr(b + 1);
        if (path == "/") continue;
        std::stringstream list(controllers);
        for (std::string c; std::getline(list, c, ',');)
            if (c == "memory") return {"/sys/fs/cgroup/memory" + path, false};
        if (controllers.empty()) v2 = path;
    }
    if (!v2.empty() && ::access(("/sys/fs/cgroup" + v2 + "/memory.current").c_str(), R_OK) == 0)
        return {"/sys/fs/cgroup" + v2, true};
    return {"", false};
}

uint64_t read_number(const std::string& path) {
    std::ifstream in(path);
    uint64_t v = 0;
    in >> v;
    return in ? v : 0;
}

uint64_t stat_field(const std::string& path, const std::string& key) {
    std::ifstream in(path);
    std::string k;
    uint64_t v = 0;
    while (in >> k >> v)
        if (k == key) return v;
    return 0;
}

} // namespace

MemoryMeter::MemoryMeter(std::function<uint64_t()> pool_bytes)
    : pool_bytes_(std::move(pool_bytes)) {
    auto [dir, v2] = own_memory_cgroup();
    cgroup_dir_ = dir;
    cgroup_v2_ = v2;
}

bool MemoryMeter::cgroup_is_ours() const {
    if (cgroup_dir_.empty()) return false;
    std::ifstream in(cgroup_dir_ + "/cgroup.procs");
    pid_t self = ::getpid(), pid = 0;
    size_t n = 0;
    bool found = false;
    while (in >> pid) {
        ++n;
        found |= pid == self;
    }
    return found && n == 1;
}

uint64_t MemoryMeter::used_bytes() {
    {
        // Another process may join the cgroup (or leave it): look again now
        // and then, not at every sample.
        std::lock_guard lock(mutex_);
        auto now = std::chrono::steady_clock::now();
        if (checked_at_ == std::chrono::steady_clock::time_point{} ||
            now - checked_at_ > std::chrono::seconds(2)) {
            use_cgroup_ = cgroup_is_ours();
            checked_at_ = now;
        }
        if (!use_cgroup_) return process_private();
    }
    return cgroup_working_set();
}

uint64_t MemoryMeter::cgroup_working_set() const {
    uint64_t usage, inactive_file;
    if (cgroup_v2_) {
        usage = read_number(cgroup_dir_ + "/memory.current");
        inactive_file = stat_field(cgroup_dir_ + "/memory.stat", "inactive_file");
    } else {
        usage = read_number(cgroup_dir_ + "/memory.usage_in_bytes");
        inactive_file = stat_field(cgroup_dir_ + "/memory.stat", "total_inactive_file");
    }
    if (usage == 0) return process_private(); // unreadable: never report an empty host
    return usage > inactive_file ? usage - inactive_file : 0;
}

uint64_t MemoryMeter::process_private() const {
    return (process_private_rss_kib() << 10) + (pool_bytes_ ? pool_bytes_() : 0);
}

std::string MemoryMeter::source() const {
    std::lock_guard lock(mutex_);
    if (use_cgroup_) return "cgroup " + cgroup_dir_ + " (usage minus inactive file cache)";
    return "process (RssAnon + RssFile + dedup pool)";
}

} // namespace foldvm::overcommit
