// Process, kernel-thread and machine counters from /proc the benchmarks
// report: CPU seconds, /proc/vmstat, swap area usage.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace foldvm::bench {

// utime + stime of a process (all its threads), or -1 if it is gone.
double pid_cpu_seconds(pid_t pid);
// utime + stime of one thread of this process, or -1.
double thread_cpu_seconds(pid_t tid);
// Thread ids of this process with their names (comm).
std::vector<std::pair<pid_t, std::string>> own_threads();
// Sum over kernel threads whose name starts with `prefix` (ksmd, kswapd),
// or -1 if there is none.
double kernel_threads_cpu_seconds(const std::string& prefix);
// /proc/vmstat as name -> value.
std::map<std::string, uint64_t> vmstat();
// Bytes in use of the swap area at `path` per /proc/swaps (0 if absent).
uint64_t swap_used_bytes(const std::string& path);

} // namespace foldvm::bench
