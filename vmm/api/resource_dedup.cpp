// /dedup: statistics and live tuning of the page-sharing engine.
#include "json_input.hpp"
#include "json_output.hpp"
#include "router.hpp"
#include "routes.hpp"

#include "vmm/config/dedup_knobs.hpp"
#include "vmm/sharing/stats_json.hpp"

namespace foldvm::api {

namespace {

nlohmann::json dedup_json(ApiContext& ctx) {
    nlohmann::json j = {{"mode", to_string(ctx.dedup.mode())},
                        {"config", nullptr},
                        {"stats", nullptr},
                        {"ksm", nullptr}};
    if (ctx.dedup.builtin()) {
        j["config"] = to_json(ctx.dedup.config());
        j["stats"] = to_json(*ctx.dedup.stats(), true);
    }
    if (ctx.dedup.mode() == DedupMode::Ksm) j["ksm"] = ksm_json(read_ksm_counters());
    return j;
}

ApiResponse get_dedup(ApiContext& ctx, const ApiRequest&, const RouteParams&) {
    auto now = std::chrono::steady_clock::now();
    uint64_t gen = ctx.generation.load(std::memory_order_acquire);
    {
        std::lock_guard lock(ctx.dedup_cache_mutex);
        if (ctx.dedup_cache_generation == gen && now - ctx.dedup_cache_time < ctx.kDedupCacheTtl) {
            ApiResponse r;
            r.body = ctx.dedup_cache_body;
            return r;
        }
    }
    ApiResponse r = json_response(200, dedup_json(ctx));
    std::lock_guard lock(ctx.dedup_cache_mutex);
    if (now > ctx.dedup_cache_time || ctx.dedup_cache_generation != gen) {
        ctx.dedup_cache_body = r.body;
        ctx.dedup_cache_time = now;
        ctx.dedup_cache_generation = gen;
    }
    return r;
}

ApiResponse patch_dedup(ApiContext& ctx, const ApiRequest& req, const RouteParams&) {
    ctx.dedup.require_builtin("changing dedup knobs");
    nlohmann::json body = parse_json_object(req);
    // One read-modify-write inside the engine: a concurrent PATCH keeps its
    // fields too. Every knob is checked before any changes.
    ctx.dedup.update_knobs([&body](dedup::DedupConfig& cfg) { apply_knobs_json(cfg, body); });
    ctx.changed();
    return json_response(200, dedup_json(ctx));
}

ApiResponse dedup_action(ApiContext& ctx, const ApiRequest& req, const RouteParams&) {
    nlohmann::json body = parse_json_object(req);
    FieldReader f(body);
    auto action = f.string("action", 64);
    f.finish();
    if (!action) throw ApiError(400, "missing required field 'action'", "action");
    if (*action != "scan_now" && *action != "unmerge_all")
        throw ApiError(422, "field 'action' must be scan_now or unmerge_all, got '" + *action + "'",
                       "action");
    ctx.dedup.require_builtin("dedup actions");
    if (*action == "scan_now") {
        uint64_t run = ctx.dedup.config().run;
        if (run != 1)
            throw ApiError(409, "scan_now needs run=1 (run is " + std::to_string(run) + ")",
                           "action");
        ctx.dedup.scan_now();
        ctx.changed();
        return json_response(202, {{"action", *action}, {"status", "started"}});
    }
    ctx.dedup.unmerge_all();
    ctx.changed();
    return json_response(200, {{"action", *action}, {"status", "done"}});
}

} // namespace

void register_dedup_routes(Router& r) {
    r.add("GET", "/dedup", get_dedup);
    r.add("PATCH", "/dedup", patch_dedup, {.blocking = true});
    r.add("POST", "/dedup/actions", dedup_action, {.blocking = true});
}

} // namespace foldvm::api
