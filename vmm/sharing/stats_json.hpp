// JSON views of dedup statistics (CLI, API, benchmarks); the knobs' view is
// vmm/config/dedup_knobs.hpp.
#pragma once

#include "dedup/stats.hpp"
#include "vmm/config/dedup_knobs.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <nlohmann/json.hpp>

namespace foldvm {

nlohmann::json to_json(const dedup::RegionStats& stats);
nlohmann::json to_json(const dedup::DedupStats& stats, bool with_regions = true);
nlohmann::json ksm_json(const KsmCounters& counters);

} // namespace foldvm
