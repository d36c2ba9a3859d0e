// /version and /healthz.
#include "json_output.hpp"
#include "router.hpp"
#include "routes.hpp"

#include "vmm/version.hpp"

namespace foldvm::api {

namespace {

ApiResponse version(ApiContext&, const ApiRequest&, const RouteParams&) {
    return json_response(200, {{"version", kVersion}, {"api_version", "1"}});
}

ApiResponse healthz(ApiContext& ctx, const ApiRequest&, const RouteParams&) {
    double uptime =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - ctx.started).count();
    return json_response(200, {{"status", "ok"}, {"uptime_s", uptime}});
}

} // namespace

void register_meta_routes(Router& r) {
    r.add("GET", "/version", version);
    r.add("GET", "/healthz", healthz);
}

} // namespace foldvm::api
