#include "balloon_json.hpp"

#include "json_fields.hpp"

namespace foldvm {

nlohmann::json to_json(const BalloonConfig& config) {
    return model::write_json(BalloonConfig::fields(), config);
}

BalloonConfig read_balloon_config(const nlohmann::json& object, uint64_t guest_mem_mib,
                                  BalloonConfig base, const std::string& prefix,
                                  const std::vector<std::string>& only,
                                  const std::vector<std::string>& required) {
    model::read_json(BalloonConfig::fields(), object, base,
                     {.prefix = prefix,
                      .only = only,
                      .required = required,
                      .max = {{"amount_mib", guest_mem_mib}}});
    return base;
}

nlohmann::json to_json(const BalloonStats& stats) {
    nlohmann::json j = {{"target_pages", stats.target_pages},
                        {"actual_pages", stats.actual_pages},
                        {"target_mib", stats.target_mib},
                        {"actual_mib", stats.actual_mib}};
    for (const auto& [name, value] : stats.guest)
        j[name] = value;
    nlohmann::json host = {
        {"inflated_pages", stats.inflated_pages}, {"deflated_pages", stats.deflated_pages},
        {"reported_pages", stats.reported_pages}, {"invalid_pfns", stats.invalid_pfns},
        {"driver_ok", stats.driver_ok},           {"needs_reset", stats.needs_reset},
        {"device_error", stats.device_error}};
    if (stats.stats_age_s >= 0) host["stats_age_s"] = stats.stats_age_s;
    j["host"] = host;
    return j;
}

} // namespace foldvm
