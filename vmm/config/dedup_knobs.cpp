#include "dedup_knobs.hpp"

#include "json_fields.hpp"

namespace foldvm {

nlohmann::json to_json(const dedup::DedupConfig& config) {
    return model::write_json(dedup::DedupConfig::knobs(), config);
}

void check_knob_interplay(const dedup::DedupConfig& result, bool pages_to_scan_given) {
    if (!pages_to_scan_given || result.advisor_target_scan_time_s == 0) return;
    throw model::FieldError(
        model::FieldProblem::Conflict, "pages_to_scan",
        "pages_to_scan is chosen by the advisor while advisor_target_scan_time_s is " +
            std::to_string(result.advisor_target_scan_time_s) +
            "; set advisor_target_scan_time_s to 0 (in the same change or before) to set "
            "pages_to_scan");
}

void apply_knobs_json(dedup::DedupConfig& config, const nlohmann::json& body) {
    dedup::DedupConfig next = config;
    model::read_json(dedup::DedupConfig::knobs(), body, next);
    check_knob_interplay(next, body.contains("pages_to_scan"));
    config = next;
}

dedup::DedupConfig dedup_config_from_options(const std::vector<std::string>& options) {
    dedup::DedupConfig c;
    bool pages_to_scan_given = false;
    for (const auto& kv : options) {
        dedup::apply_option(c, kv);
        pages_to_scan_given = pages_to_scan_given || kv.rfind("pages_to_scan=", 0) == 0;
    }
    check_knob_interplay(c, pages_to_scan_given);
    return c;
}

} // namespace foldvm
