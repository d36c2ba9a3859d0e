// Dedup statistics, with KSM's names where KSM has one.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace foldvm::dedup {

struct RegionStats {
    std::string name;
    std::string domain;
    uint64_t pages = 0;
    uint64_t pages_merged = 0;   // mapped to a pool copy
    uint64_t pages_unshared = 0; // in the unstable tree
    uint64_t pages_volatile = 0;
    uint64_t zero_pages = 0;
    uint64_t cow_breaks = 0;
    std::string freeze_mode; // "userfaultfd" or "pause"
};

struct DedupStats {
    uint64_t pages_shared = 0;  // pool copies in use
    uint64_t pages_sharing = 0; // extra sites sharing them
    uint64_t pages_unshared = 0;
    uint64_t pages_volatile = 0;
    uint64_t pages_scanned = 0; // cumulative pages visited
    uint64_t pages_hashed = 0;  // cumulative pages hashed
    uint64_t full_scans = 0;
    uint64_t zero_pages = 0;
    int64_t general_profit = 0; // bytes saved minus metadata bytes
    uint64_t stable_node_chains = 0;
    uint64_t stable_node_dups = 0;
    uint64_t cow_breaks = 0;
    uint64_t mappings_used = 0;
    uint64_t mappings_limit = 0;
    bool mappings_exhausted = false;
    uint64_t merge_batches = 0;
    uint64_t merge_failures = 0; // candidates whose bytes changed before the freeze
    uint64_t freeze_wait_us_p99 = 0;
    uint64_t pool_slots_reused = 0;
    uint64_t metadata_bytes = 0;
    uint64_t pool_bytes = 0; // memory held by the pool's single copies
    uint64_t pages_tracked = 0;
    uint64_t pages_discarded = 0; // cumulative pages released by discard_range
    double engine_cpu_s = 0;
    // Wall time the engine spent per phase (profiling aid), in ms.
    std::vector<std::pair<std::string, double>> phase_ms;
    std::string freeze_mode; // "userfaultfd", "pause" or "mixed"
    std::vector<RegionStats> regions;
};

} // namespace foldvm::dedup
