#include "memory_json.hpp"

#include "memory_figures.hpp"

#include "vmm/config/overcommit_json.hpp"

namespace foldvm::api {

namespace {

const char* const kOffReason = "overcommit is off (enabled=false)";

} // namespace

nlohmann::json to_json(const TierStats& tier) {
    nlohmann::json j = nlohmann::json::object();
    write_figures(j, tier_figures(), tier);
    j["disabled_reason"] = tier.disabled_reason.empty() ? nlohmann::json(nullptr)
                                                        : nlohmann::json(tier.disabled_reason);
    return j;
}

nlohmann::json host_memory_json(const OvercommitService& overcommit) {
    OvercommitConfig cfg = overcommit.config();
    HostMemoryStats s = overcommit.host_stats();
    bool on = overcommit.enabled();
    if (!on) {
        for (TierStats* t : {&s.compressed, &s.swap}) {
            t->enabled = false;
            t->disabled_reason = kOffReason;
        }
        s.budget_source = "off";
    }
    nlohmann::json j = {
        {"enabled", on},
        {"config", to_json(cfg)},
        {"budget_source", s.budget_source},
        {"state", on ? nlohmann::json(to_string(s.state)) : nlohmann::json(nullptr)}};
    write_figures(j, host_memory_figures(), s);
    j["thresholds"]["high_free_pm"] = cfg.high_free_pm;
    j["thresholds"]["soft_free_pm"] = cfg.soft_free_pm;
    j["thresholds"]["hard_free_pm"] = cfg.hard_free_pm;
    j["tiers"] = {{"compressed", to_json(s.compressed)}, {"swap", to_json(s.swap)}};
    nlohmann::json governor = nlohmann::json::object();
    write_figures(governor, governor_figures(), s.governor);
    j["governor"] = governor;
    return j;
}

nlohmann::json vm_memory_json(uint64_t id, const VmMemoryStats& stats) {
    nlohmann::json j = {{"id", id}, {"state", stats.state}};
    write_figures(j, vm_memory_figures(), stats);
    return j;
}

nlohmann::json memory_summary_json(const OvercommitService& overcommit, const Host& host) {
    if (!overcommit.enabled()) return {{"enabled", false}};
    HostMemoryStats s = overcommit.host_stats();
    nlohmann::json vms = nlohmann::json::array();
    for (const auto& [id, vm] : host.vms()) {
        auto v = overcommit.vm_stats(id);
        if (!v) continue;
        vms.push_back({{"id", id},
                       {"state", v->state},
                       {"resident_pages", v->resident_pages},
                       {"merged_pages", v->merged_pages},
                       {"zero_pages", v->zero_pages},
                       {"compressed_pages", v->compressed_pages},
                       {"swapped_pages", v->swapped_pages},
                       {"faults_zero", v->faults_zero},
                       {"faults_compressed", v->faults_compressed},
                       {"faults_swap", v->faults_swap},
                       {"faults_fresh", v->faults_fresh}});
    }
    return {{"enabled", true},
            {"budget_bytes", s.budget_bytes},
            {"used_bytes", s.used_bytes},
            {"peak_used_bytes", s.peak_used_bytes},
            {"state", to_string(s.state)},
            {"compressed_pages", s.compressed.pages},
            {"compressed_bytes", s.compressed.allocated_bytes},
            {"swapped_pages", s.swap.pages},
            {"swap_bytes_written", s.swap.bytes_written},
            {"vms", std::move(vms)}};
}

} // namespace foldvm::api
