#include "schema.hpp"

#include "dedup_knobs.hpp"
#include "dedup_mode.hpp"
#include "json_fields.hpp"
#include "overcommit_json.hpp"
#include "vm_config.hpp"

namespace foldvm {

nlohmann::json config_schema() {
    nlohmann::json vm = model::describe(VmConfig::fields());
    vm["balloon"] = {
        {"type", "object"}, {"nullable", true}, {"required", false}, {"model", "BalloonFields"}};
    // PUT /vms/{id}/memory: the policy's fields plus the park state.
    nlohmann::json vm_memory = model::describe(vm_memory_policy_fields());
    vm_memory["state"] = {
        {"type", "string"},  {"enum", {"active", "parked"}},
        {"nullable", false}, {"required", false},
        {"live", true},      {"doc", "parked: every evictable page goes to the tiers"}};
    nlohmann::json modes = nlohmann::json::array();
    for (const auto& [mode, name] : kDedupModes)
        modes.push_back(name);
    return {{"models",
             {{"VmCreate", vm},
              {"BalloonFields", model::describe(BalloonConfig::fields())},
              {"DedupKnobs", model::describe(dedup::DedupConfig::knobs())},
              {"Drive", model::describe(BlockConfig::fields())},
              {"OvercommitConfig", model::describe(OvercommitConfig::fields())},
              {"VmMemoryUpdate", vm_memory}}},
            {"dedup_modes", modes}};
}

} // namespace foldvm
