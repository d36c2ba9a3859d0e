// What the overcommit service reports: the host budget and its state, the
// tiers, the governor's decisions, and per VM where its pages are. One
// declaration for GET /host/memory, GET /vms/{id}/memory, /metrics and the
// --stats-interval lines.
#pragma once

#include <cstdint>
#include <string>

namespace foldvm {

enum class MemoryState { High, Soft, Hard, Low };
const char* to_string(MemoryState state);

struct TierStats {
    bool enabled = true;
    std::string disabled_reason; // why a tier stopped (ENOSPC, EIO, ...)
    uint64_t pages = 0;
    uint64_t stored_bytes = 0;    // payload (compressed bytes / swap slots in use)
    uint64_t allocated_bytes = 0; // memory or file bytes the tier holds
    uint64_t limit_bytes = 0;     // 0 = unlimited
    double fragmentation = 0;     // compressed tier: 1 - stored/allocated
    uint64_t bytes_written = 0;   // swap tier: total written to the file
    uint64_t write_errors = 0;
    uint64_t read_errors = 0;
};

struct GovernorCounters {
    uint64_t ticks = 0;
    uint64_t state_changes = 0;
    uint64_t dedup_speedups = 0;
    uint64_t dedup_slowdowns = 0;
    uint64_t balloon_inflations = 0;
    uint64_t balloon_deflations = 0;
    uint64_t pages_compressed = 0;
    uint64_t pages_swapped = 0;
    uint64_t pages_zero = 0;
    uint64_t pages_demoted = 0; // compressed pages moved on to swap, coldest first
    uint64_t throttles = 0;
    uint64_t budget_brakes = 0;  // times the BudgetGuard held every VM (low memory)
    uint64_t budget_held_ms = 0; // time it held them
};

struct HostMemoryStats {
    uint64_t budget_bytes = 0;
    std::string budget_source; // "explicit" or "auto"
    MemoryState state = MemoryState::High;
    uint64_t used_bytes = 0; // what counts against the budget
    uint64_t peak_used_bytes = 0;
    uint64_t high_free_bytes = 0, soft_free_bytes = 0, hard_free_bytes = 0; // thresholds
    TierStats compressed;
    TierStats swap;
    GovernorCounters governor;
};

struct VmMemoryStats {
    std::string state;  // "active" or "parked"
    uint64_t pages = 0; // guest RAM pages
    uint64_t resident_pages = 0;
    uint64_t merged_pages = 0; // mapped from the dedup pool
    uint64_t zero_pages = 0;   // evicted as zero (nothing stored)
    uint64_t compressed_pages = 0;
    uint64_t swapped_pages = 0;
    uint64_t working_set_pages = 0; // accessed in the last cold_age_s
    uint64_t faults_zero = 0, faults_compressed = 0, faults_swap = 0, faults_fresh = 0;
    uint64_t pages_faulted_around = 0;
    double fault_latency_us_p50 = 0, fault_latency_us_p99 = 0;
    uint64_t limit_mib = 0; // 0 = none
    uint32_t priority = 0;
    uint64_t throttled_ms = 0;
};

} // namespace foldvm
