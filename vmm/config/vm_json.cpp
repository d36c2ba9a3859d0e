#include "vm_json.hpp"

#include "balloon_json.hpp"
#include "json_fields.hpp"

namespace foldvm {

VmConfig read_vm_config(const nlohmann::json& body) {
    VmConfig c;
    model::read_json(VmConfig::fields(), body, c, {.extra = {"balloon"}});
    auto b = body.find("balloon");
    if (b != body.end() && !b->is_null()) {
        if (!b->is_object())
            throw model::FieldError(model::FieldProblem::WrongType, "balloon",
                                    std::string("field 'balloon' must be an object, got ") +
                                        model::json_type_name(*b));
        c.balloon = read_balloon_config(*b, c.mem_bytes >> 20, {}, "balloon.");
    }
    return c;
}

nlohmann::json to_json(const VmConfig& c) {
    nlohmann::json j = model::write_json(VmConfig::fields(), c);
    // As created; the live target is GET /vms/{id}/balloon.
    j["balloon"] = c.balloon ? to_json(*c.balloon) : nlohmann::json(nullptr);
    return j;
}

} // namespace foldvm
