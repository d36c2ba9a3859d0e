#include "schema.hpp"

#include "dedup_knobs.hpp"
#include "dedup_mode.hpp"
#include "json_fields.hpp"
#include "vm_config.hpp"

namespace foldvm {

nlohmann::json config_schema() {
    nlohmann::json vm = model::describe(VmConfig::fields());
    vm["balloon"] = {
        {"type", "object"}, {"nullable", true}, {"required", false}, {"model", "BalloonFields"}};
    nlohmann::json modes = nlohmann::json::array();
    for (const auto& [mode, name] : kDedupModes)
        modes.push_back(name);
    return {{"models",
             {{"VmCreate", vm},
              {"BalloonFields", model::describe(BalloonConfig::fields())},
              {"DedupKnobs", model::describe(dedup::DedupConfig::knobs())},
              {"Drive", model::describe(BlockConfig::fields())}}},
            {"dedup_modes", modes}};
}

} // namespace foldvm
