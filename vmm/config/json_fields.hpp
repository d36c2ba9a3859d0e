// The JSON side of a field table (common/field_table.hpp): the strict
// reader of request bodies (unknown fields, wrong types and out-of-range
// numbers refused with the field's path), the writer, and the description
// the schema test compares with vmm/api/openapi.yaml.
#pragma once

#include "common/field_table.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace foldvm::model {

// "number with a fraction or exponent" for floats, else nlohmann's name.
const char* json_type_name(const nlohmann::json& value);

// An integer in [min, max] (FieldError: WrongType for a float, a string, a
// bool...; OutOfRange, with the range, for a negative or too large one).
uint64_t json_integer(const nlohmann::json& value, const std::string& path, uint64_t min,
                      uint64_t max);

struct JsonRead {
    std::string prefix;                                // path of a nested object: "balloon."
    std::vector<std::string> only;                     // the fields this body may set; empty: all
    std::vector<std::string> extra;                    // other names the caller reads itself
    std::vector<std::string> required;                 // besides the table's own required fields
    std::vector<std::pair<std::string, uint64_t>> max; // run-time maxima (dynamic_max)
};

namespace detail {
inline bool listed(const std::vector<std::string>& list, const std::string& name) {
    return std::find(list.begin(), list.end(), name) != list.end();
}
} // namespace detail

// Reads the fields present in `object` into `out`: absent fields keep the
// value `out` has (the struct's default for a fresh one).
template <class C>
void read_json(const FieldTable<C>& table, const nlohmann::json& object, C& out,
               const JsonRead& how = {}) {
    auto allowed = [&](const Field<C>& f) {
        return how.only.empty() || detail::listed(how.only, f.name);
    };
    for (auto it = object.begin(); it != object.end(); ++it) {
        const std::string& key = it.key();
        std::string path = how.prefix + key;
        if (detail::listed(how.extra, key)) continue;
        const Field<C>* f = nullptr;
        for (const auto& candidate : table)
            if (key == candidate.name && allowed(candidate)) f = &candidate;
        if (!f) {
            std::string known;
            for (const auto& candidate : table)
                if (allowed(candidate))
                    known += (known.empty() ? "" : ", ") + std::string(candidate.name);
            throw FieldError(FieldProblem::Unknown, path,
                             "unknown field '" + path + "' (known: " + known + ")");
        }
        const nlohmann::json& v = it.value();
        if (v.is_null() && f->null_in) {
            static const C fresh{}; // null means the default
            std::visit([&](auto m) { out.*m = fresh.*m; }, f->member);
            continue;
        }
        std::string label = "field '" + path + "'";
        switch (f->type()) {
        case FieldType::Boolean:
            if (!v.is_boolean())
                throw FieldError(FieldProblem::WrongType, path,
                                 label + " must be true or false, got " + json_type_name(v));
            f->set_bool(out, v.get<bool>());
            break;
        case FieldType::String: {
            if (!v.is_string())
                throw FieldError(FieldProblem::WrongType, path,
                                 label + " must be a string, got " + json_type_name(v));
            const auto& s = v.get_ref<const std::string&>();
            check_length(*f, s.size(), label, path);
            if (s.find('\0') != std::string::npos)
                throw FieldError(FieldProblem::OutOfRange, path,
                                 label + " must not contain NUL bytes");
            f->set_string(out, s);
            break;
        }
        case FieldType::Integer: {
            uint64_t max = f->max;
            for (const auto& [name, m] : how.max)
                if (name == f->name) max = m;
            uint64_t x = json_integer(v, path, f->min, max);
            Field<C> ranged = *f;
            ranged.max = max;
            check_integer(ranged, x, label, path);
            f->set_integer(out, x);
            break;
        }
        }
    }
    for (const auto& f : table) {
        bool need = (f.required && allowed(f)) || detail::listed(how.required, f.name);
        if (need && !object.contains(f.name))
            throw FieldError(FieldProblem::Missing, how.prefix + f.name,
                             "missing required field '" + how.prefix + f.name + "'");
    }
}

// Every field (or those in `only`), in the JSON reader's units.
template <class C>
nlohmann::json write_json(const FieldTable<C>& table, const C& c,
                          const std::vector<std::string>& only = {}) {
    nlohmann::json j = nlohmann::json::object();
    for (const auto& f : table) {
        if (!only.empty() && !detail::listed(only, f.name)) continue;
        switch (f.type()) {
        case FieldType::Boolean:
            j[f.name] = f.get_bool(c);
            break;
        case FieldType::Integer:
            j[f.name] = f.get_integer(c);
            break;
        case FieldType::String:
            if (f.null_out && f.get_string(c).empty())
                j[f.name] = nullptr;
            else
                j[f.name] = f.get_string(c);
            break;
        }
    }
    return j;
}

// The table as data: {"name": {"type", "minimum", "maximum", "enum",
// "minLength", "maxLength", "default", "nullable", "required", "unit",
// "doc", "live"}}. "maximum" is null when it is known at run time only.
template <class C> nlohmann::json describe(const FieldTable<C>& table) {
    nlohmann::json out = nlohmann::json::object();
    static const C defaults{};
    nlohmann::json values = write_json(table, defaults);
    for (const auto& f : table) {
        nlohmann::json d = {{"unit", f.unit},         {"doc", f.doc},
                            {"live", f.live},         {"nullable", f.null_in},
                            {"required", f.required}, {"aliases", f.aliases}};
        if (!f.required) d["default"] = values[f.name];
        switch (f.type()) {
        case FieldType::Boolean:
            d["type"] = "boolean";
            break;
        case FieldType::Integer:
            d["type"] = "integer";
            d["minimum"] = f.min;
            d["maximum"] = f.dynamic_max ? nlohmann::json(nullptr) : nlohmann::json(f.max);
            if (!f.choices.empty()) d["enum"] = f.choices;
            break;
        case FieldType::String:
            d["type"] = "string";
            d["minLength"] = f.min;
            d["maxLength"] = f.max;
            break;
        }
        out[f.name] = d;
    }
    return out;
}

} // namespace foldvm::model
