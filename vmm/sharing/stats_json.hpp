// JSON views of dedup configuration and statistics (CLI, API, benchmarks).
#pragma once

#include "dedup/config.hpp"
#include "dedup/stats.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <nlohmann/json.hpp>

namespace foldvm {

nlohmann::json to_json(const dedup::DedupConfig& config);
nlohmann::json to_json(const dedup::RegionStats& stats);
nlohmann::json to_json(const dedup::DedupStats& stats, bool with_regions = true);
nlohmann::json ksm_json(const KsmCounters& counters);

} // namespace foldvm
