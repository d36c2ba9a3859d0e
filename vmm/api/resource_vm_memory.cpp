// /vms/{id}/memory: where a VM's pages are (resident, merged, zero,
// compressed, swapped), its faults and their latency; PUT parks or unparks
// it and sets its limit and priority.
#include "json_input.hpp"
#include "json_output.hpp"
#include "memory_json.hpp"
#include "router.hpp"
#include "routes.hpp"
#include "vm_lookup.hpp"

#include "vmm/config/overcommit_json.hpp"

namespace foldvm::api {

namespace {

VmMemoryStats stats_of(ApiContext& ctx, uint64_t id) {
    if (!ctx.overcommit.enabled())
        throw OvercommitUnavailable("overcommit is off (foldvm started with --no-overcommit or "
                                    "--overcommit-opt enabled=false): no VM memory is paged");
    auto s = ctx.overcommit.vm_stats(id);
    if (!s)
        throw ApiError(409, "VM " + std::to_string(id) +
                                "'s memory is not managed by the pager (it has no userfaultfd)");
    return *s;
}

ApiResponse get_vm_memory(ApiContext& ctx, const ApiRequest&, const RouteParams& params) {
    uint64_t id;
    auto vm = find_vm(ctx, params, id);
    return json_response(200, vm_memory_json(id, stats_of(ctx, id)));
}

// Any subset of {"state", "limit_mib", "priority"}; all are checked before
// anything changes.
ApiResponse put_vm_memory(ApiContext& ctx, const ApiRequest& req, const RouteParams& params) {
    uint64_t id;
    auto vm = find_vm(ctx, params, id);
    nlohmann::json body = parse_json_object(req);
    VmMemoryStats now = stats_of(ctx, id);
    VmMemoryPolicy policy{.limit_mib = now.limit_mib, .priority = now.priority};
    try {
        apply_vm_memory_policy_json(policy, body);
    } catch (const model::FieldError& e) {
        if (e.problem() != model::FieldProblem::Unknown) throw;
        throw ApiError(400, "unknown field '" + e.field() + "' (known: state, limit_mib, priority)",
                       e.field());
    }
    // Unknown fields were refused by the policy reader.
    auto state = FieldReader(body).string("state", 64);
    if (body.empty())
        throw ApiError(400, "nothing to change: give state, limit_mib and/or priority");
    if (state && *state != "parked" && *state != "active")
        throw ApiError(422, "field 'state' must be parked or active, got '" + *state + "'",
                       "state");
    if (vm->finished())
        throw ApiError(409,
                       "VM " + std::to_string(id) + " is " + to_string(vm->state()) +
                           "; its memory can no longer be parked or limited",
                       state ? std::optional<std::string>("state") : std::nullopt);
    if (body.contains("limit_mib") || body.contains("priority"))
        ctx.overcommit.set_policy(id, policy);
    if (state && *state == "parked") ctx.overcommit.park(id);
    if (state && *state == "active") ctx.overcommit.unpark(id);
    ctx.changed();
    return json_response(200, vm_memory_json(id, stats_of(ctx, id)));
}

} // namespace

void register_vm_memory_routes(Router& r) {
    // On the worker pool: parking evicts the whole VM.
    r.add("GET", "/vms/{id}/memory", get_vm_memory, {.blocking = true});
    r.add("PUT", "/vms/{id}/memory", put_vm_memory, {.blocking = true});
}

} // namespace foldvm::api
