// Maps (method, path) to handlers. Each API resource registers its routes
// from its own file (routes.hpp). Transport-neutral: the server and the fuzz
// target both drive it.
#pragma once

#include "api_types.hpp"

#include <functional>
#include <string>
#include <vector>

namespace foldvm::api {

struct ApiContext;

using Handler = std::function<ApiResponse(ApiContext&, const ApiRequest&, const RouteParams&)>;

struct RouteOptions {
    // Runs on the worker pool: may wait on VMs or the dedup engine for long.
    bool blocking = false;
    // Query parameters the route accepts; any other is a 400.
    std::vector<std::string> query = {};
};

class Router {
  public:
    // Registers every resource's routes.
    explicit Router(ApiContext& ctx);

    void add(std::string method, const std::string& pattern, Handler handler,
             RouteOptions options = {});

    struct Route {
        std::string method;
        std::vector<std::string> segments; // "{name}" binds a parameter
        Handler handler;
        RouteOptions options;
    };

    struct Match {
        const Route* route = nullptr; // null: `error` holds the response
        RouteParams params;
        ApiResponse error;
    };
    Match match(const ApiRequest& request) const;
    // Runs a matched route; never throws.
    ApiResponse run(const Match& match, const ApiRequest& request) noexcept;
    // match() then run().
    ApiResponse handle(const ApiRequest& request) noexcept;

    ApiContext& context() { return ctx_; }
    // Counts a response in the context's counters.
    void count(const ApiResponse& response) noexcept;

  private:
    ApiContext& ctx_;
    std::vector<Route> routes_;
};

} // namespace foldvm::api
