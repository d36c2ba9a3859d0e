// Dedup knobs, validated in one place. KSM's names where KSM has one, so
// operators can reuse what they know from /sys/kernel/mm/ksm. The knob
// table is the model: the CLI (--dedup-opt), the REST API (PATCH /dedup),
// the JSON view and the metrics all read it.
#pragma once

#include "common/field_table.hpp"

#include <cstdint>
#include <string>

namespace foldvm::dedup {

struct DedupConfig {
    uint32_t run = 1;                        // 0 stop, 1 run, 2 unmerge everything
    uint32_t pages_to_scan = 4096;           // pages visited per wake-up
    uint32_t sleep_millisecs = 20;           // pause between wake-ups
    uint32_t max_page_sharing = 256;         // sharers per pool copy before duplicating
    uint32_t use_zero_pages = 1;             // zero pages -> MADV_DONTNEED, no pool copy
    uint32_t volatile_passes = 1;            // skip pages written within this many passes
    uint32_t max_cpu_percent = 100;          // CPU cap of the engine thread (UKSM-style)
    uint32_t advisor_target_scan_time_s = 0; // adapt pages_to_scan; 0 = off
    uint32_t merge_batch_pages = 256;        // pages frozen and merged together
    uint64_t mappings_limit = 0;             // mapping budget; 0 = vm.max_map_count
    uint32_t pause_freeze = 0; // 1 = pause writers instead of userfaultfd (new regions)

    using Knobs = model::FieldTable<DedupConfig>;
    static const Knobs& knobs();

    // Throws InvalidInput naming the knob and its allowed range.
    void set(const std::string& name, const std::string& value);
    void set(const std::string& name, uint64_t value);
    uint64_t get(const std::string& name) const;
    void validate() const;
};

// Parses "KEY=VALUE" into the config (for --dedup-opt).
void apply_option(DedupConfig& config, const std::string& key_value);

} // namespace foldvm::dedup
