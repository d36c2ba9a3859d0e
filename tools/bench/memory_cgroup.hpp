// A cgroup v1 memory controller group (/sys/fs/cgroup/memory) for one
// benchmark run: a unique child of the root or of another group, a limit,
// the processes in it, and what the kernel counted (peak usage, swap, OOM
// kills). Swap stays allowed (memory.memsw.* is left unlimited). On restore
// (destruction, exit, SIGINT/SIGTERM) the processes still inside go back to
// the cgroup the creating process was in, and the group is removed.
#pragma once

#include "restore_registry.hpp"

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace foldvm::bench {

class MemoryCgroup {
  public:
    static const char* root();
    // Root, the memory controller mounted and writable.
    static bool available();
    // The memory cgroup this process is in, as a path under root().
    static std::string own_path();

    // A new group `<prefix>-<pid>-<n>` under `parent` (nullptr: the root).
    explicit MemoryCgroup(const std::string& prefix, const MemoryCgroup* parent = nullptr);
    MemoryCgroup(const MemoryCgroup&) = delete;
    MemoryCgroup& operator=(const MemoryCgroup&) = delete;

    const std::string& path() const { return path_; }
    void set_limit(uint64_t bytes); // memory.limit_in_bytes
    uint64_t limit() const;
    void add(pid_t pid); // cgroup.procs
    std::vector<pid_t> procs() const;
    uint64_t usage_bytes() const;
    uint64_t max_usage_bytes() const;
    uint64_t memsw_max_usage_bytes() const; // 0 without swap accounting
    void reset_max_usage();
    std::map<std::string, uint64_t> stat() const; // memory.stat
    uint64_t oom_kills() const;                   // memory.oom_control oom_kill
    bool under_oom() const;
    void restore() { restorer_.restore(); }

  private:
    uint64_t read_u64(const std::string& file) const;
    std::map<std::string, uint64_t> read_map(const std::string& file) const;

    std::string path_;
    std::string home_; // where leftover processes go back to
    Restorer restorer_;
};

} // namespace foldvm::bench
