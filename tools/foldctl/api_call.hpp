// What every foldctl command shares: exit codes, global options, one
// connection to the API socket and small formatting helpers.
#pragma once

#include "vmm/api/client.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

namespace foldctl {

// 0 success, 1 the API refused the request (HTTP 4xx/5xx), 2 bad
// command-line input, 3 the socket is unreachable or the exchange failed.
constexpr int kExitApiError = 1, kExitUsage = 2, kExitUnreachable = 3;

// Thrown by commands; main() prints the message and exits with `code`.
struct Failure {
    int code;
    std::string message;
};

struct Globals {
    std::string sock;
    bool json_out = false;
    double timeout_s = 60;
};

// $FOLDVM_API_SOCK or /run/foldvm.sock.
std::string default_socket();

class Api {
  public:
    explicit Api(const Globals& g);

    // Sends a request; fails unless the status is 2xx. Returns the JSON body (or null).
    nlohmann::json call(const std::string& method, const std::string& target,
                        const nlohmann::json& body = nullptr);
    // Same, with the raw response (for non-JSON bodies).
    foldvm::api::HttpResult raw(const std::string& method, const std::string& target,
                                const std::string& body = "");

  private:
    foldvm::api::UnixHttpClient client_;
};

// A JSON value as a table cell: strings unquoted, null as "-".
std::string str(const nlohmann::json& v);
void print_json(const nlohmann::json& j);
// A VM id argument; Failure{kExitUsage} unless a non-negative integer.
uint64_t parse_id(const std::string& text);
// A non-negative decimal option value; Failure{kExitUsage} otherwise.
uint64_t parse_count(const std::string& text, const std::string& what);

} // namespace foldctl
