// Dedup statistics, with KSM's names where KSM has one.
//
// Each statistic is declared once, in the lists below: its type, its member
// (whose name is also its JSON key in GET /dedup, the CLI and benchmark
// output) and its Prometheus metric. The structs are generated from the
// lists, and the JSON writer and /metrics walk them with for_each_stat(), so
// a statistic cannot exist in one view and be missing from another.
#pragma once

#include <concepts>
#include <cstdint>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace foldvm::dedup {

// Wall time per engine phase, in ms, in phase order.
using PhaseTimes = std::vector<std::pair<std::string, double>>;

enum class MetricType { Gauge, Counter };

inline const char* to_string(MetricType t) {
    return t == MetricType::Counter ? "counter" : "gauge";
}

// How one statistic is named and exported.
struct StatInfo {
    const char* name;   // JSON key; the member's name
    const char* metric; // Prometheus metric name; "" if not exported
    MetricType type;
    const char* help;       // Prometheus HELP text
    const char* label = ""; // label naming the key of string and per-phase values
    double scale = 1;       // JSON unit -> metric unit (ms -> s)
};

// X(type, member, Gauge|Counter, metric, help[, label[, scale]])
#define FOLDVM_DEDUP_STATS(X)                                                                      \
    X(uint64_t, pages_shared, Gauge, "foldvm_dedup_pages_shared",                                  \
      "Pool pages in use (one copy of each merged content).")                                      \
    X(uint64_t, pages_sharing, Gauge, "foldvm_dedup_pages_sharing",                                \
      "Extra guest pages sharing a pool page (pages saved).")                                      \
    X(uint64_t, pages_unshared, Gauge, "foldvm_dedup_pages_unshared",                              \
      "Pages in the unstable tree: candidates not yet merged.")                                    \
    X(uint64_t, pages_volatile, Gauge, "foldvm_dedup_pages_volatile",                              \
      "Pages skipped because they changed too recently.")                                          \
    X(uint64_t, pages_scanned, Counter, "foldvm_dedup_pages_scanned_total",                        \
      "Pages visited by the scanner.")                                                             \
    X(uint64_t, pages_hashed, Counter, "foldvm_dedup_pages_hashed_total",                          \
      "Pages hashed by the scanner.")                                                              \
    X(uint64_t, full_scans, Counter, "foldvm_dedup_full_scans_total",                              \
      "Completed passes over all guest RAM.")                                                      \
    X(uint64_t, zero_pages, Gauge, "foldvm_dedup_zero_pages",                                      \
      "Zero pages released with MADV_DONTNEED.")                                                   \
    X(int64_t, general_profit, Gauge, "foldvm_dedup_general_profit_bytes",                         \
      "Bytes saved minus the engine's metadata bytes.")                                            \
    X(uint64_t, stable_node_chains, Gauge, "foldvm_dedup_stable_node_chains",                      \
      "Stable-tree chains (contents over max_page_sharing).")                                      \
    X(uint64_t, stable_node_dups, Gauge, "foldvm_dedup_stable_node_dups",                          \
      "Duplicate stable nodes in chains.")                                                         \
    X(uint64_t, cow_breaks, Counter, "foldvm_dedup_cow_breaks_total",                              \
      "Shared pages a guest wrote to (copy on write).")                                            \
    X(uint64_t, mappings_used, Gauge, "foldvm_dedup_mappings_used",                                \
      "Memory mappings of this process (the mapping budget in use).")                              \
    X(uint64_t, mappings_limit, Gauge, "foldvm_dedup_mappings_limit",                              \
      "Mapping budget of the engine.")                                                             \
    X(bool, mappings_exhausted, Gauge, "foldvm_dedup_mappings_exhausted",                          \
      "1 if merging stopped because the mapping budget ran out.")                                  \
    X(uint64_t, merge_batches, Counter, "foldvm_dedup_merge_batches_total",                        \
      "Merge batches executed under one freeze.")                                                  \
    X(uint64_t, merge_failures, Counter, "foldvm_dedup_merge_failures_total",                      \
      "Merge candidates whose bytes changed before the freeze.")                                   \
    X(uint64_t, freeze_wait_us_p99, Gauge, "foldvm_dedup_freeze_wait_us_p99",                      \
      "99th percentile of freeze durations in microseconds.")                                      \
    X(uint64_t, pool_slots_reused, Counter, "foldvm_dedup_pool_slots_reused_total",                \
      "Pool slots freed and reused.")                                                              \
    X(uint64_t, metadata_bytes, Gauge, "foldvm_dedup_metadata_bytes",                              \
      "Bytes of engine metadata (page and stable-node records).")                                  \
    X(uint64_t, pool_bytes, Gauge, "foldvm_dedup_pool_bytes",                                      \
      "Memory held by the pool's single copies.")                                                  \
    X(uint64_t, pages_tracked, Gauge, "foldvm_dedup_pages_tracked",                                \
      "Guest pages registered with the engine.")                                                   \
    X(uint64_t, pages_discarded, Counter, "foldvm_dedup_pages_discarded_total",                    \
      "Pages released by discards (balloon, free page reports).")                                  \
    X(uint64_t, pages_rehomed, Counter, "foldvm_dedup_pages_rehomed_total",                        \
      "Pages that broke copy-on-write moved back to anonymous memory so they can be evicted.")     \
    X(double, engine_cpu_s, Counter, "foldvm_dedup_engine_cpu_seconds_total",                      \
      "CPU time of the dedup engine thread.")                                                      \
    X(PhaseTimes, phase_ms, Counter, "foldvm_dedup_phase_seconds_total",                           \
      "Wall time of the dedup engine per phase.", "phase", 0.001)                                  \
    X(std::string, freeze_mode, Gauge, "foldvm_dedup_freeze_mode",                                 \
      "How merges freeze guest pages; 1 for the current mode.",                                    \
      "mode") /* userfaultfd|pause|mixed */

// Per region (per VM); exported per VM with a "vm" label.
#define FOLDVM_REGION_STATS(X)                                                                     \
    X(std::string, name, Gauge, "", "Region name, e.g. vm3.")                                      \
    X(std::string, domain, Gauge, "", "Dedup domain of the region.")                               \
    X(uint64_t, pages, Gauge, "foldvm_vm_dedup_pages", "Guest pages of a VM tracked by dedup.")    \
    X(uint64_t, pages_merged, Gauge, "foldvm_vm_dedup_pages_merged",                               \
      "Pages of a VM mapped to a pool copy.")                                                      \
    X(uint64_t, pages_unshared, Gauge, "foldvm_vm_dedup_pages_unshared",                           \
      "Pages of a VM in the unstable tree.")                                                       \
    X(uint64_t, pages_volatile, Gauge, "foldvm_vm_dedup_pages_volatile",                           \
      "Recently written pages of a VM.")                                                           \
    X(uint64_t, zero_pages, Gauge, "foldvm_vm_dedup_zero_pages",                                   \
      "Zero pages of a VM released by dedup.")                                                     \
    X(uint64_t, cow_breaks, Counter, "foldvm_vm_dedup_cow_breaks_total",                           \
      "Copy-on-write breaks in a VM.")                                                             \
    X(uint64_t, pages_absent_skipped, Counter, "foldvm_vm_dedup_pages_absent_skipped_total",       \
      "Page visits skipped because the pager had the page out of memory.")                         \
    X(std::string, freeze_mode, Gauge, "", "userfaultfd, pause or none.")

#define FOLDVM_DECLARE_STAT(type, member, ...) type member{};

struct RegionStats {
    FOLDVM_REGION_STATS(FOLDVM_DECLARE_STAT)
};

struct DedupStats {
    FOLDVM_DEDUP_STATS(FOLDVM_DECLARE_STAT)
    std::vector<RegionStats> regions; // not a statistic of its own: listed per VM
};

#undef FOLDVM_DECLARE_STAT

#define FOLDVM_VISIT_STAT(type, member, kind, metric, help, ...)                                   \
    visit(StatInfo{#member, metric, MetricType::kind, help, __VA_ARGS__}, stats.member);

// Calls visit(const StatInfo&, value) for every statistic, in list order.
template <typename Stats, typename Visit>
requires std::same_as<std::remove_const_t<Stats>, DedupStats>
void for_each_stat(Stats& stats, Visit&& visit) {
    FOLDVM_DEDUP_STATS(FOLDVM_VISIT_STAT)
}

template <typename Stats, typename Visit>
requires std::same_as<std::remove_const_t<Stats>, RegionStats>
void for_each_stat(Stats& stats, Visit&& visit) {
    FOLDVM_REGION_STATS(FOLDVM_VISIT_STAT)
}

#undef FOLDVM_VISIT_STAT
#undef FOLDVM_REGION_STATS
#undef FOLDVM_DEDUP_STATS

} // namespace foldvm::dedup
