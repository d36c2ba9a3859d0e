#include "router.hpp"

#include "api_context.hpp"
#include "routes.hpp"

#include "common/error.hpp"
#include "common/field_table.hpp"
#include "vmm/overcommit/overcommit_service.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>

namespace foldvm::api {

namespace {

std::vector<std::string_view> split_path(std::string_view path) {
    std::vector<std::string_view> out;
    size_t pos = 1; // skip the leading '/'
    while (pos <= path.size()) {
        size_t next = path.find('/', pos);
        if (next == std::string_view::npos) next = path.size();
        out.push_back(path.substr(pos, next - pos));
        pos = next + 1;
    }
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

// Decodes %XX and '+' in a query component.
std::string percent_decode(std::string_view in) {
    std::string out;
    out.reserve(in.size());
    for (size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '+') {
            out.push_back(' ');
        } else if (c == '%') {
            int hi = i + 2 < in.size() ? hex_value(in[i + 1]) : -1;
            int lo = i + 2 < in.size() ? hex_value(in[i + 2]) : -1;
            if (hi < 0 || lo < 0) throw ApiError(400, "invalid percent-encoding in query string");
            out.push_back(static_cast<char>(hi * 16 + lo));
            i += 2;
        } else {
            out.push_back(c);
        }
    }
    return out;
}

std::string allowed_methods(const std::vector<std::string>& methods) {
    std::string out;
    for (const auto& m : methods)
        out += (out.empty() ? "" : ", ") + m;
    return out;
}

// A refused configuration field: its type or name (400), its range (422),
// or a clash with the current state (409).
int field_error_status(model::FieldProblem problem) {
    switch (problem) {
    case model::FieldProblem::OutOfRange:
        return 422;
    case model::FieldProblem::Conflict:
        return 409;
    default:
        return 400;
    }
}

} // namespace

ApiResponse error_response(int status, const std::string& message,
                           const std::optional<std::string>& field) {
    nlohmann::json j = {{"error", message}, {"field", nullptr}};
    if (field) j["field"] = *field;
    ApiResponse r;
    r.status = status;
    // Messages may quote request bytes; replace invalid UTF-8 instead of throwing.
    r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    return r;
}

Router::Router(ApiContext& ctx) : ctx_(ctx) {
    register_meta_routes(*this);
    register_vm_routes(*this);
    register_balloon_routes(*this);
    register_dedup_routes(*this);
    register_host_routes(*this);
    register_host_memory_routes(*this);
    register_vm_memory_routes(*this);
    register_metrics_routes(*this);
}

void Router::add(std::string method, const std::string& pattern, Handler handler,
                 RouteOptions options) {
    Route r;
    r.method = std::move(method);
    for (auto seg : split_path(pattern))
        r.segments.emplace_back(seg);
    r.handler = std::move(handler);
    r.options = std::move(options);
    routes_.push_back(std::move(r));
}

Router::Match Router::match(const ApiRequest& request) const {
    Match m;
    std::string_view target = request.target;
    if (target.empty() || target[0] != '/') {
        m.error = error_response(400, "request target must be an absolute path such as /vms");
        return m;
    }
    size_t q = target.find('?');
    std::string_view path = target.substr(0, q);
    std::string_view query =
        q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    auto segments = split_path(path);

    std::vector<std::string> methods; // of routes whose path matches
    for (const auto& route : routes_) {
        if (route.segments.size() != segments.size()) continue;
        RouteParams params;
        bool ok = true;
        for (size_t i = 0; i < segments.size() && ok; ++i) {
            const std::string& want = route.segments[i];
            if (want.size() > 2 && want.front() == '{' && want.back() == '}') {
                if (segments[i].empty())
                    ok = false;
                else
                    params.path[want.substr(1, want.size() - 2)] = std::string(segments[i]);
            } else if (want != segments[i]) {
                ok = false;
            }
        }
        if (!ok) continue;
        if (route.method != request.method) {
            if (std::find(methods.begin(), methods.end(), route.method) == methods.end())
                methods.push_back(route.method);
            continue;
        }
        try {
            size_t pos = 0;
            while (pos < query.size()) {
                size_t amp = query.find('&', pos);
                if (amp == std::string_view::npos) amp = query.size();
                std::string_view item = query.substr(pos, amp - pos);
                pos = amp + 1;
                if (item.empty()) continue;
                size_t eq = item.find('=');
                std::string key = percent_decode(item.substr(0, eq));
                std::string value = eq == std::string_view::npos
                                        ? std::string()
                                        : percent_decode(item.substr(eq + 1));
                const auto& allowed = route.options.query;
                if (std::find(allowed.begin(), allowed.end(), key) == allowed.end())
                    throw ApiError(400, "unknown query parameter '" + key + "'", key);
                params.query[key] = std::move(value);
            }
        } catch (const ApiError& e) {
            m.error = error_response(e.status(), e.what(), e.field());
            return m;
        }
        m.route = &route;
        m.params = std::move(params);
        return m;
    }
    if (!methods.empty()) {
        m.error = error_response(405, "method " + std::string(request.method) +
                                          " is not allowed on " + std::string(path) +
                                          " (allowed: " + allowed_methods(methods) + ")");
        m.error.headers.emplace_back("Allow", allowed_methods(methods));
        return m;
    }
    m.error = error_response(404, "no such resource: " + std::string(path));
    return m;
}

ApiResponse Router::run(const Match& match, const ApiRequest& request) noexcept {
    ApiResponse response;
    try {
        if (!match.route) {
            response = match.error;
        } else {
            try {
                response = match.route->handler(ctx_, request, match.params);
            } catch (const ApiError& e) {
                response = error_response(e.status(), e.what(), e.field());
            } catch (const model::FieldError& e) {
                response = error_response(field_error_status(e.problem()), e.what(), e.field());
            } catch (const DedupUnavailable& e) {
                response = error_response(409, e.what());
            } catch (const OvercommitUnavailable& e) {
                response = error_response(409, e.what());
            } catch (const InvalidInput& e) {
                response = error_response(422, e.what());
            } catch (const std::bad_alloc&) {
                response = error_response(503, "out of memory");
            } catch (const std::exception& e) {
                response = error_response(500, std::string("internal error: ") + e.what());
            }
        }
    } catch (...) {
        // Building the error itself failed (out of memory); send a fixed body.
        response = ApiResponse{};
        response.status = 500;
        response.body = "{\"error\":\"internal error\",\"field\":null}\n";
    }
    count(response);
    return response;
}

ApiResponse Router::handle(const ApiRequest& request) noexcept {
    try {
        return run(match(request), request);
    } catch (...) {
        ApiResponse r;
        r.status = 500;
        r.body = "{\"error\":\"internal error\",\"field\":null}\n";
        count(r);
        return r;
    }
}

void Router::count(const ApiResponse& response) noexcept {
    size_t cls = static_cast<size_t>(response.status / 100);
    if (cls < ctx_.responses.size()) ctx_.responses[cls].fetch_add(1, std::memory_order_relaxed);
}

} // namespace foldvm::api
