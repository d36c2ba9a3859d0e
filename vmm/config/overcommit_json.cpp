#include "overcommit_json.hpp"

#include "json_fields.hpp"
#include "vm_config.hpp"

namespace foldvm {

nlohmann::json to_json(const OvercommitConfig& config) {
    return model::write_json(OvercommitConfig::fields(), config);
}

void apply_overcommit_json(OvercommitConfig& config, const nlohmann::json& body) {
    OvercommitConfig next = config;
    model::read_json(OvercommitConfig::fields(), body, next);
    config = next;
}

const model::FieldTable<VmMemoryPolicy>& vm_memory_policy_fields() {
    using P = VmMemoryPolicy;
    // The same ranges as the VM's creation fields.
    const auto& limit = VmConfig::fields().at("mem_limit_mib");
    const auto& priority = VmConfig::fields().at("mem_priority");
    static const model::FieldTable<P> table("VM memory policy", {
                                                                    {.name = "limit_mib",
                                                                     .member = &P::limit_mib,
                                                                     .min = limit.min,
                                                                     .max = limit.max,
                                                                     .unit = limit.unit,
                                                                     .doc = limit.doc,
                                                                     .live = true},
                                                                    {.name = "priority",
                                                                     .member = &P::priority,
                                                                     .min = priority.min,
                                                                     .max = priority.max,
                                                                     .unit = priority.unit,
                                                                     .doc = priority.doc,
                                                                     .live = true},
                                                                });
    return table;
}

void apply_vm_memory_policy_json(VmMemoryPolicy& policy, const nlohmann::json& body) {
    VmMemoryPolicy next = policy;
    model::read_json(vm_memory_policy_fields(), body, next, {.extra = {"state"}});
    policy = next;
}

uint64_t budget_floor_mib(uint64_t unevictable_bytes) {
    return kBudgetFloorBaseMib + ((unevictable_bytes + (1ull << 20) - 1) >> 20);
}

void check_budget_floor(uint64_t budget_mib, uint64_t floor_mib) {
    if (budget_mib == 0 || budget_mib >= floor_mib) return;
    throw model::FieldError(
        model::FieldProblem::OutOfRange, "budget_mib",
        "budget_mib " + std::to_string(budget_mib) + " is below what the VMs need now: " +
            std::to_string(floor_mib) + " MiB (" + std::to_string(kBudgetFloorBaseMib) +
            " MiB for foldvm plus the dedup pool, its metadata and the compressed tier, "
            "which cannot be evicted); give at least that, or 0 for the automatic budget");
}

} // namespace foldvm
