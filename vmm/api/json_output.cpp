#include "json_output.hpp"

namespace foldvm::api {

ApiResponse json_response(int status, const nlohmann::json& body) {
    ApiResponse r;
    r.status = status;
    r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    r.body.push_back('\n');
    return r;
}

} // namespace foldvm::api
