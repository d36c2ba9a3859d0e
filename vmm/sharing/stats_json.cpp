#include "stats_json.hpp"

namespace foldvm {

nlohmann::json to_json(const dedup::RegionStats& r) {
    return {{"name", r.name},
            {"domain", r.domain},
            {"pages", r.pages},
            {"pages_merged", r.pages_merged},
            {"pages_unshared", r.pages_unshared},
            {"pages_volatile", r.pages_volatile},
            {"zero_pages", r.zero_pages},
            {"cow_breaks", r.cow_breaks},
            {"freeze_mode", r.freeze_mode}};
}

nlohmann::json to_json(const dedup::DedupStats& s, bool with_regions) {
    nlohmann::json j = {{"pages_shared", s.pages_shared},
                        {"pages_sharing", s.pages_sharing},
                        {"pages_unshared", s.pages_unshared},
                        {"pages_volatile", s.pages_volatile},
                        {"pages_scanned", s.pages_scanned},
                        {"pages_hashed", s.pages_hashed},
                        {"full_scans", s.full_scans},
                        {"zero_pages", s.zero_pages},
                        {"general_profit", s.general_profit},
                        {"stable_node_chains", s.stable_node_chains},
                        {"stable_node_dups", s.stable_node_dups},
                        {"cow_breaks", s.cow_breaks},
                        {"mappings_used", s.mappings_used},
                        {"mappings_limit", s.mappings_limit},
                        {"mappings_exhausted", s.mappings_exhausted},
                        {"merge_batches", s.merge_batches},
                        {"merge_failures", s.merge_failures},
                        {"freeze_wait_us_p99", s.freeze_wait_us_p99},
                        {"pool_slots_reused", s.pool_slots_reused},
                        {"metadata_bytes", s.metadata_bytes},
                        {"pool_bytes", s.pool_bytes},
                        {"pages_tracked", s.pages_tracked},
                        {"engine_cpu_s", s.engine_cpu_s},
                        {"freeze_mode", s.freeze_mode}};
    nlohmann::json phases = nlohmann::json::object();
    for (const auto& [name, ms] : s.phase_ms) phases[name] = ms;
    j["phase_ms"] = phases;
    if (with_regions) {
        j["vms"] = nlohmann::json::array();
        for (const auto& r : s.regions) j["vms"].push_back(to_json(r));
    }
    return j;
}

nlohmann::json ksm_json(const KsmCounters& counters) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : counters.values) j[k] = v;
    return j;
}

} // namespace foldvm
