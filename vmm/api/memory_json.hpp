// JSON views of the overcommit figures (vmm/api/memory_figures.hpp):
// GET /host/memory, GET /vms/{id}/memory and the "memory" object of the
// `foldvm run --stats-interval` lines.
#pragma once

#include "vmm/overcommit/overcommit_service.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>

namespace foldvm::api {

// {"enabled", "config", "budget_bytes", "budget_source", "state",
//  "thresholds", "used_bytes", "peak_used_bytes", "tiers", "governor"};
// with overcommit off, state is null and both tiers are disabled.
nlohmann::json host_memory_json(const OvercommitService& overcommit);

nlohmann::json to_json(const TierStats& tier);

// Every VmMemoryStats figure plus "id" and "state" (active|parked).
nlohmann::json vm_memory_json(uint64_t id, const VmMemoryStats& stats);

// For the --stats-interval lines: the host summary (budget, used, state,
// tier pages and bytes) and per VM its page locations and faults.
nlohmann::json memory_summary_json(const OvercommitService& overcommit, const Host& host);

} // namespace foldvm::api
