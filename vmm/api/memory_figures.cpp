#include "memory_figures.hpp"

namespace foldvm::api {

namespace {

using H = HostMemoryStats;
using T = TierStats;
using G = GovernorCounters;
using V = VmMemoryStats;
constexpr auto Gauge = MetricType::Gauge;
constexpr auto Counter = MetricType::Counter;

const Figure<H> kHost[] = {
    {"budget_bytes", &H::budget_bytes, "foldvm_memory_budget_bytes", Gauge,
     "Host memory budget the VMs are kept inside."},
    {"used_bytes", &H::used_bytes, "foldvm_memory_used_bytes", Gauge,
     "Memory counted against the budget (foldvm's resident memory)."},
    {"peak_used_bytes", &H::peak_used_bytes, "foldvm_memory_peak_used_bytes", Gauge,
     "Highest used_bytes the governor has seen."},
    {"high_free_bytes", &H::high_free_bytes, "foldvm_memory_threshold_free_bytes", Gauge,
     "Free budget at or above which the governor state is the label's (below hard_free: low).",
     "state", "high", "thresholds"},
    {"soft_free_bytes", &H::soft_free_bytes, "foldvm_memory_threshold_free_bytes", Gauge, "",
     "state", "soft", "thresholds"},
    {"hard_free_bytes", &H::hard_free_bytes, "foldvm_memory_threshold_free_bytes", Gauge, "",
     "state", "hard", "thresholds"},
};

const Figure<T> kTier[] = {
    {"enabled", &T::enabled, "foldvm_memory_tier_enabled", Gauge,
     "1 while the tier takes pages (a write error stops it)."},
    {"pages", &T::pages, "foldvm_memory_tier_pages", Gauge, "Guest pages held by the tier."},
    {"stored_bytes", &T::stored_bytes, "foldvm_memory_tier_stored_bytes", Gauge,
     "Payload bytes in the tier (compressed bytes, swap slots in use)."},
    {"allocated_bytes", &T::allocated_bytes, "foldvm_memory_tier_allocated_bytes", Gauge,
     "Memory (compressed) or file bytes (swap) the tier holds."},
    {"limit_bytes", &T::limit_bytes, "foldvm_memory_tier_limit_bytes", Gauge,
     "Cap of the tier; 0 = unlimited."},
    {"fragmentation", &T::fragmentation, "foldvm_memory_tier_fragmentation_ratio", Gauge,
     "1 - stored/allocated bytes of the tier."},
    {"bytes_written", &T::bytes_written, "foldvm_memory_tier_written_bytes_total", Counter,
     "Bytes written to the tier's backing file (swap)."},
    {"write_errors", &T::write_errors, "foldvm_memory_tier_write_errors_total", Counter,
     "Failed writes to the tier (ENOSPC, EIO): the page stayed in memory."},
    {"read_errors", &T::read_errors, "foldvm_memory_tier_read_errors_total", Counter,
     "Failed reads from the tier."},
};

const Figure<G> kGovernor[] = {
    {"ticks", &G::ticks, "foldvm_governor_ticks_total", Counter, "Budget checks run."},
    {"state_changes", &G::state_changes, "foldvm_governor_state_changes_total", Counter,
     "Changes of the memory state (high, soft, hard, low)."},
    {"dedup_speedups", &G::dedup_speedups, "foldvm_governor_decisions_total", Counter,
     "Governor decisions by kind.", "decision", "dedup_speedup"},
    {"dedup_slowdowns", &G::dedup_slowdowns, "foldvm_governor_decisions_total", Counter, "",
     "decision", "dedup_slowdown"},
    {"balloon_inflations", &G::balloon_inflations, "foldvm_governor_decisions_total", Counter, "",
     "decision", "balloon_inflate"},
    {"balloon_deflations", &G::balloon_deflations, "foldvm_governor_decisions_total", Counter, "",
     "decision", "balloon_deflate"},
    {"throttles", &G::throttles, "foldvm_governor_decisions_total", Counter, "", "decision",
     "throttle"},
    {"budget_brakes", &G::budget_brakes, "foldvm_governor_decisions_total", Counter, "", "decision",
     "budget_brake"},
    {"budget_held_ms", &G::budget_held_ms, "foldvm_governor_budget_held_ms_total", Counter,
     "Time every VM was held because memory was under the low line."},
    {"pages_zero", &G::pages_zero, "foldvm_governor_pages_evicted_total", Counter,
     "Pages the governor evicted, by tier.", "tier", "zero"},
    {"pages_compressed", &G::pages_compressed, "foldvm_governor_pages_evicted_total", Counter, "",
     "tier", "compressed"},
    {"pages_swapped", &G::pages_swapped, "foldvm_governor_pages_evicted_total", Counter, "", "tier",
     "swap"},
    {"pages_demoted", &G::pages_demoted, "foldvm_governor_pages_demoted_total", Counter,
     "Compressed pages moved on to swap, coldest first, to make room for newly cold ones."},
};

const Figure<V> kVm[] = {
    {"pages", &V::pages, "foldvm_vm_memory_pages", Gauge, "Guest RAM pages of a VM."},
    {"resident_pages", &V::resident_pages, "foldvm_vm_memory_location_pages", Gauge,
     "Pages of a VM by where they are.", "location", "resident"},
    {"merged_pages", &V::merged_pages, "foldvm_vm_memory_location_pages", Gauge, "", "location",
     "merged"},
    {"zero_pages", &V::zero_pages, "foldvm_vm_memory_location_pages", Gauge, "", "location",
     "zero"},
    {"compressed_pages", &V::compressed_pages, "foldvm_vm_memory_location_pages", Gauge, "",
     "location", "compressed"},
    {"swapped_pages", &V::swapped_pages, "foldvm_vm_memory_location_pages", Gauge, "", "location",
     "swap"},
    {"working_set_pages", &V::working_set_pages, "foldvm_vm_memory_working_set_pages", Gauge,
     "Pages of a VM accessed within cold_age_s (working-set estimate)."},
    {"faults_zero", &V::faults_zero, "foldvm_vm_memory_faults_total", Counter,
     "Pager faults of a VM by the tier that served them.", "tier", "zero"},
    {"faults_compressed", &V::faults_compressed, "foldvm_vm_memory_faults_total", Counter, "",
     "tier", "compressed"},
    {"faults_swap", &V::faults_swap, "foldvm_vm_memory_faults_total", Counter, "", "tier", "swap"},
    {"faults_fresh", &V::faults_fresh, "foldvm_vm_memory_faults_total", Counter, "", "tier",
     "fresh"},
    {"pages_faulted_around", &V::pages_faulted_around, "foldvm_vm_memory_faulted_around_total",
     Counter, "Evicted neighbours brought back with a fault (fault-around)."},
    {"fault_latency_us_p50", &V::fault_latency_us_p50, "foldvm_vm_memory_fault_latency_seconds",
     Gauge, "Pager fault latency of a VM by quantile.", "quantile", "0.5", "", 1e-6},
    {"fault_latency_us_p99", &V::fault_latency_us_p99, "foldvm_vm_memory_fault_latency_seconds",
     Gauge, "", "quantile", "0.99", "", 1e-6},
    {"limit_mib", &V::limit_mib, "foldvm_vm_memory_limit_bytes", Gauge,
     "Per-VM resident limit; 0 = none.", "", "", "", double(1 << 20)},
    {"priority", &V::priority, "foldvm_vm_memory_priority", Gauge,
     "Per-VM priority (0-100, higher keeps its memory longer)."},
    {"throttled_ms", &V::throttled_ms, "foldvm_vm_memory_throttled_seconds_total", Counter,
     "Time the governor held a VM's vCPUs at low memory.", "", "", "", 1e-3},
};

} // namespace

std::span<const Figure<H>> host_memory_figures() {
    return kHost;
}
std::span<const Figure<T>> tier_figures() {
    return kTier;
}
std::span<const Figure<G>> governor_figures() {
    return kGovernor;
}
std::span<const Figure<V>> vm_memory_figures() {
    return kVm;
}

} // namespace foldvm::api
