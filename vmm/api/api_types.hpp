// Transport-neutral request/response types of the REST API, and the error
// every handler throws to produce a JSON error body.
#pragma once

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace foldvm::api {

// Limits of the request path, shared by the server and the fuzz target.
inline constexpr size_t kMaxBodyBytes = 1u << 20;    // 1 MiB
inline constexpr size_t kMaxHeaderBytes = 16u << 10; // request line + fields

struct ApiRequest {
    std::string_view method;       // as sent, e.g. "GET"
    std::string_view target;       // path and query, e.g. "/vms/1/console?tail=5"
    std::string_view content_type; // empty if absent
    std::string_view body;
};

struct ApiResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;
};

// Thrown by handlers; the router turns it into {"error": ..., "field": ...}.
class ApiError : public std::runtime_error {
  public:
    ApiError(int status, const std::string& message, std::optional<std::string> field = {})
        : std::runtime_error(message), status_(status), field_(std::move(field)) {}
    int status() const { return status_; }
    const std::optional<std::string>& field() const { return field_; }

  private:
    int status_;
    std::optional<std::string> field_;
};

// A JSON error response.
ApiResponse error_response(int status, const std::string& message,
                           const std::optional<std::string>& field = {});

// Path parameters ({id}) and query parameters of a matched request.
struct RouteParams {
    std::map<std::string, std::string, std::less<>> path;
    std::map<std::string, std::string, std::less<>> query;
};

} // namespace foldvm::api
