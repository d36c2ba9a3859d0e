#include "api_call.hpp"

#include <cstdlib>
#include <iostream>

namespace foldctl {

using nlohmann::json;

std::string default_socket() {
    const char* env = std::getenv("FOLDVM_API_SOCK");
    return env && *env ? env : "/run/foldvm.sock";
}

std::string str(const json& v) {
    if (v.is_null()) return "-";
    if (v.is_string()) return v.get<std::string>();
    return v.dump();
}

Api::Api(const Globals& g)
    : client_(g.sock, std::chrono::milliseconds(static_cast<int64_t>(g.timeout_s * 1000))) {}

json Api::call(const std::string& method, const std::string& target, const json& body) {
    foldvm::api::HttpResult r = raw(method, target, body.is_null() ? "" : body.dump());
    if (r.body.empty()) return nullptr;
    json j = json::parse(r.body, nullptr, false);
    if (j.is_discarded()) throw Failure{kExitUnreachable, "the API answered with invalid JSON"};
    return j;
}

foldvm::api::HttpResult Api::raw(const std::string& method, const std::string& target,
                                 const std::string& body) {
    foldvm::api::HttpResult r;
    try {
        r = client_.request(method, target, body);
    } catch (const foldvm::api::ClientError& e) {
        throw Failure{kExitUnreachable, e.what()};
    }
    if (r.status >= 200 && r.status < 300) return r;
    std::string msg = "HTTP " + std::to_string(r.status);
    json j = json::parse(r.body, nullptr, false);
    if (!j.is_discarded() && j.is_object() && j.contains("error")) {
        msg = str(j["error"]);
        if (j.contains("field") && j["field"].is_string())
            msg += " [field: " + j["field"].get<std::string>() + "]";
        msg += " (HTTP " + std::to_string(r.status) + ")";
    }
    throw Failure{kExitApiError, msg};
}

void print_json(const json& j) {
    std::cout << j.dump(2) << "\n";
}

uint64_t parse_id(const std::string& text) {
    if (text.empty() || text.size() > 19 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        throw Failure{kExitUsage, "VM id must be a positive integer, got '" + text + "'"};
    return std::stoull(text);
}

uint64_t parse_count(const std::string& text, const std::string& what) {
    if (text.empty() || text.size() > 19 ||
        text.find_first_not_of("0123456789") != std::string::npos)
        throw Failure{kExitUsage, what + " must be a non-negative integer, got '" + text + "'"};
    return std::stoull(text);
}

} // namespace foldctl
