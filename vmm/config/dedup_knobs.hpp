// The dedup knobs resource: --dedup-opt, the body of PATCH /dedup and the
// "config" object of GET /dedup, all from DedupConfig's knob table
// (dedup/config.cpp), plus the rule that ties two knobs together.
#pragma once

#include "dedup/config.hpp"

#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace foldvm {

nlohmann::json to_json(const dedup::DedupConfig& config);

// Applies any subset of the knobs in `body` to `config`. FieldErrors: an
// unknown knob or a wrong type (400), a value out of range (422), or
// pages_to_scan while the advisor chooses it (Conflict, 409).
void apply_knobs_json(dedup::DedupConfig& config, const nlohmann::json& body);

// The knobs of `--dedup-opt KEY=VALUE` (repeatable), over the defaults.
dedup::DedupConfig dedup_config_from_options(const std::vector<std::string>& options);

// While advisor_target_scan_time_s > 0 the advisor sets the scan rate, and
// a pages_to_scan given with it would be silently ignored: refuse it.
void check_knob_interplay(const dedup::DedupConfig& result, bool pages_to_scan_given);

} // namespace foldvm
