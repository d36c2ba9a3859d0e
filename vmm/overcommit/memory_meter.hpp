// What the governor and the budget guard count as memory in use.
//
// VmRSS counts a pool page once per mapping, so with sharing on it counts
// merged memory many times over (40 VMs sharing one page: 40 pages), and it
// misses what the kernel charges outside the page tables: KVM's shadow MMU,
// page tables, in-flight swap-file page cache. The kernel yardstick is held
// to a cgroup limit, which counts each page once and counts those too.
//
// So: when this process has a memory cgroup to itself (as a systemd service
// or a benchmark run does), the meter reads that cgroup's working set (usage
// minus inactive file cache, which the kernel reclaims by itself, as
// cAdvisor and the kubelet count it). Otherwise it counts private resident
// memory (RssAnon + RssFile) plus the dedup pool's memory once.
// Reading either takes no mmap_lock, so the budget guard may call it.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>

namespace foldvm::overcommit {

class MemoryMeter {
  public:
    // `pool_bytes`: memory the dedup pool holds (once), 0 without one.
    explicit MemoryMeter(std::function<uint64_t()> pool_bytes);

    uint64_t used_bytes();
    // "cgroup <dir>" or "process (RssAnon + RssFile + pool)", for the log.
    std::string source() const;

  private:
    uint64_t cgroup_working_set() const;
    uint64_t process_private() const;
    bool cgroup_is_ours() const;

    std::function<uint64_t()> pool_bytes_;
    std::string cgroup_dir_; // empty: none found
    bool cgroup_v2_ = false;
    mutable std::mutex mutex_;
    bool use_cgroup_ = false;
    std::chrono::steady_clock::time_point checked_at_{};
};

} // namespace foldvm::overcommit
