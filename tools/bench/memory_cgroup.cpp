#include "memory_cgroup.hpp"

#include "sysfs_knobs.hpp"

#include "common/error.hpp"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <fstream>
#include <thread>

namespace foldvm::bench {

namespace {

std::atomic<int> g_counter{0};

std::vector<pid_t> read_procs(const std::string& dir) {
    std::vector<pid_t> out;
    std::ifstream in(dir + "/cgroup.procs");
    pid_t p;
    while (in >> p)
        out.push_back(p);
    return out;
}

// Moves leftovers home, then rmdir; a process that just exited may still
// hold the group for a moment (EBUSY), so retry briefly.
void remove_group(const std::string& path, const std::string& home) {
    for (int attempt = 0; attempt < 200; ++attempt) {
        for (pid_t p : read_procs(path)) {
            try {
                write_text(home + "/cgroup.procs", std::to_string(p));
            } catch (const SystemError&) {
                // gone meanwhile (ESRCH) is fine; anything else shows as EBUSY below
            }
        }
        if (::rmdir(path.c_str()) == 0 || errno == ENOENT) return;
        if (errno != EBUSY) throw_errno("rmdir " + path);
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    throw_errno("rmdir " + path);
}

} // namespace

const char* MemoryCgroup::root() {
    return "/sys/fs/cgroup/memory";
}

bool MemoryCgroup::available() {
    return ::access((std::string(root()) + "/cgroup.procs").c_str(), W_OK) == 0;
}

std::string MemoryCgroup::own_path() {
    std::ifstream in("/proc/self/cgroup");
    std::string line;
    while (std::getline(in, line)) {
        // "4:memory:/process_api/abc"
        auto a = line.find(':'), b = line.find(':', a + 1);
        if (a == std::string::npos || b == std::string::npos) continue;
        std::string controllers = line.substr(a + 1, b - a - 1);
        if (("," + controllers + ",").find(",memory,") == std::string::npos) continue;
        std::string rel = line.substr(b + 1);
        return rel == "/" ? root() : root() + rel;
    }
    return root();
}

MemoryCgroup::MemoryCgroup(const std::string& prefix, const MemoryCgroup* parent)
    : path_((parent ? parent->path() : std::string(root())) + "/" + prefix + "-" +
            std::to_string(::getpid()) + "-" + std::to_string(g_counter++)),
      home_(own_path()) {
    if (::mkdir(path_.c_str(), 0755) != 0) throw_errno("create memory cgroup " + path_);
    restorer_ = Restorer("memory cgroup " + path_, [p = path_, h = home_] { remove_group(p, h); });
}

void MemoryCgroup::set_limit(uint64_t bytes) {
    write_text(path_ + "/memory.limit_in_bytes", std::to_string(bytes));
}

uint64_t MemoryCgroup::limit() const {
    return read_u64("memory.limit_in_bytes");
}

void MemoryCgroup::add(pid_t pid) {
    write_text(path_ + "/cgroup.procs", std::to_string(pid));
}

std::vector<pid_t> MemoryCgroup::procs() const {
    return read_procs(path_);
}

uint64_t MemoryCgroup::usage_bytes() const {
    return read_u64("memory.usage_in_bytes");
}

uint64_t MemoryCgroup::max_usage_bytes() const {
    return read_u64("memory.max_usage_in_bytes");
}

uint64_t MemoryCgroup::memsw_max_usage_bytes() const {
    return read_u64("memory.memsw.max_usage_in_bytes");
}

void MemoryCgroup::reset_max_usage() {
    write_text(path_ + "/memory.max_usage_in_bytes", "0");
}

std::map<std::string, uint64_t> MemoryCgroup::stat() const {
    return read_map("memory.stat");
}

uint64_t MemoryCgroup::oom_kills() const {
    auto m = read_map("memory.oom_control");
    return m.count("oom_kill") ? m["oom_kill"] : 0;
}

bool MemoryCgroup::under_oom() const {
    auto m = read_map("memory.oom_control");
    return m.count("under_oom") && m["under_oom"] != 0;
}

uint64_t MemoryCgroup::read_u64(const std::string& file) const {
    std::string v = read_word(path_ + "/" + file);
    return v.empty() ? 0 : std::stoull(v);
}

std::map<std::string, uint64_t> MemoryCgroup::read_map(const std::string& file) const {
    std::map<std::string, uint64_t> out;
    std::ifstream in(path_ + "/" + file);
    std::string k;
    uint64_t v;
    while (in >> k >> v)
        out[k] = v;
    return out;
}

} // namespace foldvm::bench
