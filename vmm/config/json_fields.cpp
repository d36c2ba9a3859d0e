#include "json_fields.hpp"

namespace foldvm::model {

const char* json_type_name(const nlohmann::json& v) {
    if (v.is_number_float()) return "number with a fraction or exponent";
    return v.type_name();
}

uint64_t json_integer(const nlohmann::json& v, const std::string& path, uint64_t min,
                      uint64_t max) {
    std::string label = "field '" + path + "'";
    if (!v.is_number_integer())
        throw FieldError(FieldProblem::WrongType, path,
                         label + " must be an integer in " + range_text(min, max) + ", got " +
                             json_type_name(v));
    if (v.is_number_unsigned()) {
        uint64_t x = v.get<uint64_t>();
        if (x < min || x > max)
            throw FieldError(FieldProblem::OutOfRange, path,
                             label + " must be in " + range_text(min, max) + ", got " +
                                 std::to_string(x));
        return x;
    }
    int64_t x = v.get<int64_t>();
    if (x < 0 || static_cast<uint64_t>(x) < min || static_cast<uint64_t>(x) > max)
        throw FieldError(FieldProblem::OutOfRange, path,
                         label + " must be in " + range_text(min, max) + ", got " +
                             std::to_string(x));
    return static_cast<uint64_t>(x);
}

} // namespace foldvm::model
