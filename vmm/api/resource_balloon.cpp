// /vms/{id}/balloon: a VM's virtio balloon, with Firecracker's names.
// Unlike Firecracker, which configures the balloon before boot, a foldvm VM
// is created running: its balloon and the balloon's features
// (deflate_on_oom, free_page_reporting, statistics on or off) come from
// POST /vms and are fixed; the target and the statistics interval change live.
#include "json_input.hpp"
#include "json_output.hpp"
#include "router.hpp"
#include "routes.hpp"
#include "vm_lookup.hpp"

#include "vmm/config/balloon_json.hpp"

namespace foldvm::api {

namespace {

struct BalloonTarget {
    std::shared_ptr<Vm> vm; // keeps the device alive
    uint64_t id = 0;
    BalloonDevice* balloon = nullptr;
};

// For reads: 404 without a balloon.
BalloonTarget find_for_read(ApiContext& ctx, const RouteParams& params) {
    BalloonTarget t;
    t.vm = find_vm(ctx, params, t.id);
    t.balloon = t.vm->balloon();
    if (!t.balloon)
        throw ApiError(404, "VM " + std::to_string(t.id) +
                                " has no balloon (a balloon is added when the VM is created: "
                                "POST /vms with a \"balloon\" object)");
    return t;
}

// For changes: 409 without a balloon (it cannot be added later) or once the
// VM has finished (no driver is left to follow a new target).
BalloonTarget find_for_write(ApiContext& ctx, const RouteParams& params) {
    BalloonTarget t;
    t.vm = find_vm(ctx, params, t.id);
    t.balloon = t.vm->balloon();
    if (!t.balloon)
        throw ApiError(409, "VM " + std::to_string(t.id) +
                                " has no balloon, and balloons are configured at creation only "
                                "(POST /vms with a \"balloon\" object)");
    if (t.vm->finished())
        throw ApiError(409, "VM " + std::to_string(t.id) + " is " + to_string(t.vm->state()) +
                                "; its balloon can no longer change");
    return t;
}

// Firecracker refuses to switch statistics on or off after boot: the
// statistics queue is negotiated with the driver once.
void check_stats_interval(const BalloonConfig& now, uint64_t wanted, uint64_t id) {
    if ((now.stats_polling_interval_s == 0) == (wanted == 0)) return;
    throw ApiError(409,
                   now.stats_polling_interval_s == 0
                       ? "balloon statistics of VM " + std::to_string(id) +
                             " were disabled at creation (stats_polling_interval_s 0) and "
                             "cannot be enabled later"
                       : "balloon statistics of VM " + std::to_string(id) +
                             " were enabled at creation and cannot be disabled; "
                             "stats_polling_interval_s must be in [1, " +
                             std::to_string(kMaxStatsPollingIntervalS) + "]",
                   "stats_polling_interval_s");
}

void check_fixed_feature(const char* name, bool now, bool wanted, uint64_t id) {
    if (now == wanted) return;
    throw ApiError(409,
                   std::string("field '") + name + "' cannot change: VM " + std::to_string(id) +
                       "'s balloon was created with " + name + "=" + (now ? "true" : "false") +
                       " and its features are fixed at creation",
                   name);
}

uint64_t guest_mib(const Vm& vm) {
    return vm.config().mem_bytes >> 20;
}

ApiResponse get_balloon(ApiContext& ctx, const ApiRequest&, const RouteParams& params) {
    auto t = find_for_read(ctx, params);
    return json_response(200, to_json(t.balloon->config()));
}

// The whole config again: the target and the statistics interval may
// change, the features must be those of the VM's creation.
ApiResponse put_balloon(ApiContext& ctx, const ApiRequest& req, const RouteParams& params) {
    auto target = find_for_write(ctx, params);
    nlohmann::json body = parse_json_object(req);
    BalloonConfig now = target.balloon->config();
    // Firecracker's PUT wants these two; the others default to 0 and false.
    BalloonConfig want = read_balloon_config(body, guest_mib(*target.vm), {}, "", {},
                                             {"amount_mib", "deflate_on_oom"});
    // The model's fields that cannot change after creation: the features.
    for (const auto& f : BalloonConfig::fields())
        if (!f.live && f.type() == model::FieldType::Boolean)
            check_fixed_feature(f.name, f.get_bool(now), f.get_bool(want), target.id);
    check_stats_interval(now, want.stats_polling_interval_s, target.id);
    if (want.stats_polling_interval_s != now.stats_polling_interval_s)
        target.balloon->set_stats_polling_interval(want.stats_polling_interval_s);
    target.balloon->set_target_mib(want.amount_mib);
    ctx.changed();
    return json_response(200, to_json(target.balloon->config()));
}

ApiResponse patch_balloon(ApiContext& ctx, const ApiRequest& req, const RouteParams& params) {
    auto target = find_for_write(ctx, params);
    nlohmann::json body = parse_json_object(req);
    BalloonConfig want = read_balloon_config(body, guest_mib(*target.vm), target.balloon->config(),
                                             "", {"amount_mib"}, {"amount_mib"});
    target.balloon->set_target_mib(want.amount_mib);
    ctx.changed();
    return json_response(200, to_json(target.balloon->config()));
}

ApiResponse patch_statistics(ApiContext& ctx, const ApiRequest& req, const RouteParams& params) {
    auto target = find_for_write(ctx, params);
    nlohmann::json body = parse_json_object(req);
    BalloonConfig now = target.balloon->config();
    BalloonConfig want =
        read_balloon_config(body, guest_mib(*target.vm), now, "", {"stats_polling_interval_s"},
                            {"stats_polling_interval_s"});
    check_stats_interval(now, want.stats_polling_interval_s, target.id);
    target.balloon->set_stats_polling_interval(want.stats_polling_interval_s);
    ctx.changed();
    return json_response(200, to_json(target.balloon->config()));
}

ApiResponse get_statistics(ApiContext& ctx, const ApiRequest&, const RouteParams& params) {
    auto t = find_for_read(ctx, params);
    if (t.balloon->config().stats_polling_interval_s == 0)
        throw ApiError(404, "balloon statistics of VM " + std::to_string(t.id) +
                                " are disabled (stats_polling_interval_s was 0 at creation)");
    return json_response(200, to_json(t.balloon->stats()));
}

} // namespace

void register_balloon_routes(Router& r) {
    // On the worker pool: the device lock may be held by a vCPU releasing
    // a large inflate batch.
    r.add("GET", "/vms/{id}/balloon", get_balloon, {.blocking = true});
    r.add("PUT", "/vms/{id}/balloon", put_balloon, {.blocking = true});
    r.add("PATCH", "/vms/{id}/balloon", patch_balloon, {.blocking = true});
    r.add("GET", "/vms/{id}/balloon/statistics", get_statistics, {.blocking = true});
    r.add("PATCH", "/vms/{id}/balloon/statistics", patch_statistics, {.blocking = true});
}

} // namespace foldvm::api
