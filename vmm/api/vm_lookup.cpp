#include "vm_lookup.hpp"

#include <string>

namespace foldvm::api {

uint64_t parse_vm_id(const RouteParams& params) {
    const std::string& text = params.path.at("id");
    bool ok = !text.empty() && text.size() <= 19 && text[0] != '0';
    for (char c : text)
        ok = ok && c >= '0' && c <= '9';
    if (!ok) throw ApiError(404, "no VM with id '" + text + "'", "id");
    return std::stoull(text);
}

std::shared_ptr<Vm> find_vm(ApiContext& ctx, const RouteParams& params, uint64_t& id) {
    id = parse_vm_id(params);
    auto vm = ctx.host.vm(id);
    if (!vm) throw ApiError(404, "no VM with id " + std::to_string(id), "id");
    return vm;
}

} // namespace foldvm::api
