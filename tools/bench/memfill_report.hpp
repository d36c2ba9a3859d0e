// Host side of memfill's hot-set figures and mailbox (guest-kernels/guests/
// memfill_hist.h and memfill_mailbox.h): the final summary and histogram
// lines of each VM, merged across VMs, and requests written into a VM's
// mailbox page.
#pragma once

#include "timed_console.hpp"

#include "vmm/machine/vm.hpp"

#include <cstdint>
#include <map>
#include <vector>

namespace foldvm::bench {

enum class MailboxCmd : uint64_t { Ping = 0, Reset = 1, Stop = 2, Storm = 3 };

// Stores the command, then the request number (the guest reads them in the
// other order), through the VMM's guest-memory write path.
void send_mailbox(Vm& vm, uint64_t gpa, uint64_t req, MailboxCmd cmd);

// memfill's log-linear latency histogram (8 sub-buckets per power of two).
struct LatencyHistogram {
    std::map<unsigned, uint64_t> buckets;
    uint64_t n = 0, max_ns = 0;
    void merge(const LatencyHistogram& other);
    uint64_t percentile_ns(double p) const; // p in [0, 100]
};

struct HotSummary {
    bool found = false;
    uint64_t ops = 0, elapsed_ms = 0, ops_per_s = 0;
    uint64_t p50_ns = 0, p99_ns = 0, max_ns = 0, cold_ops = 0, mismatches = 0;
    LatencyHistogram hist;
};

// The last `memfill: hot total` line of `vm` and the hist lines after it.
HotSummary read_hot_summary(const TimedConsole& console, uint64_t vm);

} // namespace foldvm::bench
