// /host/memory: the overcommit budget, the governor's state and thresholds,
// the tiers and the governor's decisions; PATCH changes the live fields of
// the overcommit config.
#include "json_input.hpp"
#include "json_output.hpp"
#include "memory_json.hpp"
#include "router.hpp"
#include "routes.hpp"

#include "vmm/config/overcommit_json.hpp"

namespace foldvm::api {

namespace {

// What the pager cannot evict now (see budget_floor_mib()).
uint64_t budget_floor(ApiContext& ctx) {
    uint64_t unevictable = 0;
    if (auto d = ctx.dedup.stats()) unevictable += d->pool_bytes + d->metadata_bytes;
    unevictable += ctx.overcommit.host_stats().compressed.allocated_bytes;
    return budget_floor_mib(unevictable);
}

nlohmann::json host_memory_body(ApiContext& ctx) {
    nlohmann::json j = host_memory_json(ctx.overcommit);
    j["budget_floor_bytes"] = ctx.overcommit.enabled() ? budget_floor(ctx) << 20 : 0;
    return j;
}

ApiResponse get_host_memory(ApiContext& ctx, const ApiRequest&, const RouteParams&) {
    return json_response(200, host_memory_body(ctx));
}

ApiResponse patch_host_memory(ApiContext& ctx, const ApiRequest& req, const RouteParams&) {
    nlohmann::json body = parse_json_object(req);
    if (!ctx.overcommit.enabled())
        throw OvercommitUnavailable("overcommit is off (foldvm started with --no-overcommit or "
                                    "--overcommit-opt enabled=false); its config cannot change");
    // Measured before the update, which holds the service's lock.
    uint64_t floor = body.contains("budget_mib") ? budget_floor(ctx) : 0;
    // One read-modify-write in the service: unknown, mistyped, out-of-range
    // and non-live fields, and thresholds out of order, change nothing.
    ctx.overcommit.update([&](OvercommitConfig& cfg) {
        apply_overcommit_json(cfg, body);
        if (body.contains("budget_mib")) check_budget_floor(cfg.budget_mib, floor);
    });
    ctx.changed();
    return json_response(200, host_memory_body(ctx));
}

} // namespace

void register_host_memory_routes(Router& r) {
    // Off the event loop: the service lock is held by a governor step.
    r.add("GET", "/host/memory", get_host_memory, {.blocking = true});
    r.add("PATCH", "/host/memory", patch_host_memory, {.blocking = true});
}

} // namespace foldvm::api
