#include "json_input.hpp"

#include "vmm/config/json_fields.hpp"

#include <cctype>
#include <vector>

namespace foldvm::api {

namespace {

bool is_json_content_type(std::string_view ct) {
    size_t semi = ct.find(';');
    std::string_view type = ct.substr(0, semi);
    while (!type.empty() && (type.back() == ' ' || type.back() == '\t'))
        type.remove_suffix(1);
    std::string lower;
    for (char c : type)
        lower.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    // curl -d sends application/x-www-form-urlencoded unless told otherwise;
    // the body must still be a JSON object.
    return lower == "application/json" || lower == "application/x-www-form-urlencoded";
}

const char* type_name(const nlohmann::json& v) {
    return model::json_type_name(v);
}

} // namespace

std::string range_text(uint64_t min, uint64_t max) {
    return model::range_text(min, max);
}

nlohmann::json parse_json_object(const ApiRequest& request) {
    if (!request.content_type.empty() && !is_json_content_type(request.content_type))
        throw ApiError(415, "content type must be application/json, got '" +
                                std::string(request.content_type) + "'");
    if (request.body.empty())
        throw ApiError(400, "request body is empty; a JSON object is required");
    nlohmann::json j;
    // The keys leading to the value being parsed, so that a number beyond
    // what a double holds (1e400) is blamed on its field.
    std::vector<std::string> keys;
    auto track = [&keys](int depth, nlohmann::json::parse_event_t event, nlohmann::json& value) {
        if (event == nlohmann::json::parse_event_t::key && depth >= 1) {
            keys.resize(static_cast<size_t>(depth - 1));
            keys.push_back(value.get<std::string>());
        }
        return true;
    };
    try {
        j = nlohmann::json::parse(request.body, track);
    } catch (const nlohmann::json::out_of_range& e) {
        std::string field;
        for (const auto& k : keys)
            field += (field.empty() ? "" : ".") + k;
        std::string what = e.what();
        size_t close = what.find("] ");
        if (close != std::string::npos) what = what.substr(close + 2);
        if (field.empty()) throw ApiError(400, "invalid JSON: " + what);
        throw ApiError(400, "field '" + field + "': a number too large for JSON (" + what + ")",
                       field);
    } catch (const nlohmann::json::parse_error& e) {
        std::string what = e.what();
        // Drop nlohmann's "[json.exception.parse_error.101] " prefix.
        size_t close = what.find("] ");
        if (close != std::string::npos) what = what.substr(close + 2);
        throw ApiError(400, "invalid JSON: " + what);
    }
    if (!j.is_object())
        throw ApiError(400,
                       std::string("request body must be a JSON object, got ") + j.type_name());
    return j;
}

uint64_t checked_integer(const nlohmann::json& v, const std::string& name, uint64_t min,
                         uint64_t max) {
    return model::json_integer(v, name, min, max); // a FieldError: 400 or 422
}

const nlohmann::json* FieldReader::find(const std::string& name, bool allow_null) {
    seen_.insert(name);
    auto it = object_.find(name);
    if (it == object_.end() || (allow_null && it->is_null())) return nullptr;
    return &*it;
}

std::optional<uint64_t> FieldReader::integer(const std::string& name, uint64_t min, uint64_t max,
                                             bool allow_null) {
    const nlohmann::json* v = find(name, allow_null);
    if (!v) return std::nullopt;
    return checked_integer(*v, path(name), min, max);
}

std::optional<std::string> FieldReader::string(const std::string& name, size_t max_len,
                                               bool allow_null) {
    const nlohmann::json* v = find(name, allow_null);
    if (!v) return std::nullopt;
    std::string full = path(name);
    if (!v->is_string())
        throw ApiError(400, "field '" + full + "' must be a string, got " + type_name(*v), full);
    const auto& s = v->get_ref<const std::string&>();
    if (s.size() > max_len)
        throw ApiError(422,
                       "field '" + full + "' is " + std::to_string(s.size()) +
                           " bytes; the allowed length is [0, " + std::to_string(max_len) + "]",
                       full);
    if (s.find('\0') != std::string::npos)
        throw ApiError(422, "field '" + full + "' must not contain NUL bytes", full);
    return s;
}

std::optional<bool> FieldReader::boolean(const std::string& name, bool allow_null) {
    const nlohmann::json* v = find(name, allow_null);
    if (!v) return std::nullopt;
    if (!v->is_boolean())
        throw ApiError(400,
                       "field '" + path(name) + "' must be true or false, got " + type_name(*v),
                       path(name));
    return v->get<bool>();
}

const nlohmann::json* FieldReader::object(const std::string& name, bool allow_null) {
    const nlohmann::json* v = find(name, allow_null);
    if (v && !v->is_object())
        throw ApiError(400, "field '" + path(name) + "' must be an object, got " + type_name(*v),
                       path(name));
    return v;
}

void FieldReader::finish() const {
    for (auto it = object_.begin(); it != object_.end(); ++it)
        if (!seen_.count(it.key()))
            throw ApiError(400, "unknown field '" + path(it.key()) + "'", path(it.key()));
}

uint64_t query_integer(const std::string& text, const std::string& name, uint64_t min,
                       uint64_t max) {
    bool digits = !text.empty() && text.size() <= 19;
    for (char c : text)
        digits = digits && c >= '0' && c <= '9';
    if (!digits)
        throw ApiError(400,
                       "query parameter '" + name + "' must be an integer in " +
                           range_text(min, max) + ", got '" + text + "'",
                       name);
    uint64_t v = std::stoull(text);
    if (v < min || v > max)
        throw ApiError(422,
                       "query parameter '" + name + "' must be in " + range_text(min, max) +
                           ", got " + text,
                       name);
    return v;
}

} // namespace foldvm::api
