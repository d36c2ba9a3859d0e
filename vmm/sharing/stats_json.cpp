#include "stats_json.hpp"

namespace foldvm {

namespace {

// One statistic's JSON value; the per-phase times become an object.
template <typename T> nlohmann::json stat_value(const T& v) {
    return v;
}
nlohmann::json stat_value(const dedup::PhaseTimes& phases) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [name, ms] : phases)
        j[name] = ms;
    return j;
}

template <typename Stats> nlohmann::json stats_object(const Stats& stats) {
    nlohmann::json j = nlohmann::json::object();
    dedup::for_each_stat(
        stats, [&](const dedup::StatInfo& info, const auto& v) { j[info.name] = stat_value(v); });
    return j;
}

} // namespace

nlohmann::json to_json(const dedup::RegionStats& r) {
    return stats_object(r);
}

nlohmann::json to_json(const dedup::DedupStats& s, bool with_regions) {
    nlohmann::json j = stats_object(s);
    if (with_regions) {
        j["vms"] = nlohmann::json::array();
        for (const auto& r : s.regions)
            j["vms"].push_back(to_json(r));
    }
    return j;
}

nlohmann::json ksm_json(const KsmCounters& counters) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& [k, v] : counters.values)
        j[k] = v;
    return j;
}

} // namespace foldvm
