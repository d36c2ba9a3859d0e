// A configuration model as one declarative table: each field's name, type,
// range, unit, doc line and whether it may change after creation, with the
// struct member it lives in (whose initializer is the default). The CLI
// "key=value" parser and validate() derive from the table here; the JSON
// reader and writer and the schema dump derive from it in vmm/config/.
// Header-only and free of JSON so that dedup/ can declare its knobs with it.
#pragma once

#include "common/error.hpp"

#include <cstdint>
#include <functional>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace foldvm::model {

// Why a value was refused; the REST API answers 400 for Unknown, Missing and
// WrongType, 422 for OutOfRange and 409 for Conflict.
enum class FieldProblem { Unknown, Missing, WrongType, OutOfRange, Conflict };

// An InvalidInput that names the field at fault (with its path, such as
// "balloon.amount_mib", when read from a nested object).
class FieldError : public InvalidInput {
  public:
    FieldError(FieldProblem problem, std::string field, const std::string& message)
        : InvalidInput(message), problem_(problem), field_(std::move(field)) {}
    FieldProblem problem() const { return problem_; }
    const std::string& field() const { return field_; }

  private:
    FieldProblem problem_;
    std::string field_;
};

enum class FieldType { Boolean, Integer, String };

template <class C>
using FieldMember =
    std::variant<bool C::*, uint32_t C::*, uint64_t C::*, int C::*, std::string C::*>;

template <class C> struct Field {
    const char* name;
    FieldMember<C> member;
    uint64_t min = 0; // integers: smallest value; strings: shortest length
    uint64_t max = 0; // integers: largest value; strings: longest length
    const char* unit = "";
    const char* doc = "";
    bool live = false;                // may change after creation
    uint64_t scale = 1;               // member = value * scale (mem_mib is kept as bytes)
    bool required = false;            // the JSON reader needs it
    bool null_in = false;             // JSON null reads as the default
    bool null_out = false;            // an empty string is written as JSON null
    bool dynamic_max = false;         // max depends on another model (a guest's RAM)
    std::vector<uint64_t> choices;    // integers: the only values allowed, if any
    std::vector<std::string> aliases; // other names the CLI takes

    FieldType type() const {
        if (std::holds_alternative<bool C::*>(member)) return FieldType::Boolean;
        if (std::holds_alternative<std::string C::*>(member)) return FieldType::String;
        return FieldType::Integer;
    }
    bool named(std::string_view n) const {
        if (n == name) return true;
        for (const auto& a : aliases)
            if (n == a) return true;
        return false;
    }
    // Integers in the field's unit (member / scale); strings: the length.
    uint64_t get_integer(const C& c) const {
        return std::visit(
            [&](auto m) -> uint64_t {
                using T = std::decay_t<decltype(c.*m)>;
                if constexpr (std::is_same_v<T, std::string>)
                    return (c.*m).size();
                else
                    return static_cast<uint64_t>(c.*m) / scale;
            },
            member);
    }
    void set_integer(C& c, uint64_t v) const {
        std::visit(
            [&](auto m) {
                using T = std::decay_t<decltype(c.*m)>;
                if constexpr (std::is_same_v<T, bool>)
                    c.*m = v != 0;
                else if constexpr (!std::is_same_v<T, std::string>)
                    c.*m = static_cast<T>(v * scale);
            },
            member);
    }
    bool get_bool(const C& c) const { return c.*std::get<bool C::*>(member); }
    void set_bool(C& c, bool v) const { c.*std::get<bool C::*>(member) = v; }
    const std::string& get_string(const C& c) const {
        return c.*std::get<std::string C::*>(member);
    }
    void set_string(C& c, std::string v) const {
        c.*std::get<std::string C::*>(member) = std::move(v);
    }
};

inline std::string range_text(uint64_t min, uint64_t max) {
    return "[" + std::to_string(min) + ", " + std::to_string(max) + "]";
}

// "0 or 3", "1, 2 or 4".
inline std::string choices_text(const std::vector<uint64_t>& choices) {
    std::string out;
    for (size_t i = 0; i < choices.size(); ++i) {
        if (i) out += i + 1 == choices.size() ? " or " : ", ";
        out += std::to_string(choices[i]);
    }
    return out;
}

// Checks an integer against a field's range and choices. `label` starts the
// message: "dedup knob 'run'", "field 'balloon.amount_mib'".
template <class C>
void check_integer(const Field<C>& f, uint64_t v, const std::string& label, const std::string& path,
                   bool negative = false) {
    std::string got = negative ? "-" + std::to_string(v) : std::to_string(v);
    if (negative || v < f.min || v > f.max)
        throw FieldError(FieldProblem::OutOfRange, path,
                         label + " must be in " + range_text(f.min, f.max) + ", got " + got);
    if (f.choices.empty()) return;
    for (uint64_t c : f.choices)
        if (c == v) return;
    throw FieldError(FieldProblem::OutOfRange, path,
                     label + " must be " + choices_text(f.choices) + ", got " + got);
}

template <class C>
void check_length(const Field<C>& f, size_t len, const std::string& label,
                  const std::string& path) {
    if (len >= f.min && len <= f.max) return;
    std::string bound = len > f.max ? "longer than " + std::to_string(f.max)
                                    : "shorter than " + std::to_string(f.min);
    throw FieldError(FieldProblem::OutOfRange, path,
                     label + " is " + std::to_string(len) + " bytes, " + bound +
                         "; the allowed length is " + range_text(f.min, f.max));
}

template <class C> class FieldTable {
  public:
    // `noun` names one field in CLI messages: "balloon option", "dedup knob".
    FieldTable(std::string noun, std::vector<Field<C>> fields)
        : noun_(std::move(noun)), fields_(std::move(fields)) {}

    const std::string& noun() const { return noun_; }
    auto begin() const { return fields_.begin(); }
    auto end() const { return fields_.end(); }
    size_t size() const { return fields_.size(); }

    const Field<C>* find(std::string_view name) const {
        for (const auto& f : fields_)
            if (f.named(name)) return &f;
        return nullptr;
    }
    const Field<C>& at(const std::string& name) const {
        if (const Field<C>* f = find(name)) return *f;
        throw FieldError(FieldProblem::Unknown, name,
                         "unknown " + noun_ + " '" + name + "' (known: " + names() + ")");
    }
    std::string names() const {
        std::string out;
        for (const auto& f : fields_)
            out += (out.empty() ? "" : ", ") + std::string(f.name);
        return out;
    }
    std::string label(const Field<C>& f) const { return noun_ + " '" + f.name + "'"; }

    // Every field within its range, choices or length (the table's part of
    // a model's validate(); cross-field rules are the model's own).
    void validate(const C& c) const {
        for (const auto& f : fields_) {
            if (f.type() == FieldType::Integer && !f.dynamic_max)
                check_integer(f, f.get_integer(c), label(f), f.name);
            else if (f.type() == FieldType::String)
                check_length(f, f.get_string(c).size(), label(f), f.name);
        }
    }

    // Sets one field from CLI text (`key` may be an alias): booleans take
    // 1/true/on/yes or 0/false/off/no, integers a non-negative decimal.
    void set_text(C& c, const std::string& key, const std::string& value) const {
        const Field<C>& f = at(key);
        std::string lab = noun_ + " '" + key + "'";
        switch (f.type()) {
        case FieldType::Boolean:
            if (value == "1" || value == "true" || value == "on" || value == "yes")
                f.set_bool(c, true);
            else if (value == "0" || value == "false" || value == "off" || value == "no")
                f.set_bool(c, false);
            else
                throw FieldError(FieldProblem::WrongType, f.name,
                                 lab + " needs 0 or 1, got '" + value + "'");
            return;
        case FieldType::String:
            check_length(f, value.size(), lab, f.name);
            f.set_string(c, value);
            return;
        case FieldType::Integer:
            break;
        }
        bool digits = !value.empty() && value.size() <= 20;
        for (char ch : value)
            digits = digits && ch >= '0' && ch <= '9';
        unsigned long long v = 0;
        try {
            if (digits) v = std::stoull(value);
        } catch (const std::exception&) {
            digits = false; // above 2^64
        }
        if (!digits)
            throw FieldError(FieldProblem::WrongType, f.name,
                             lab + " needs a number (a non-negative integer), got '" + value + "'");
        if (!f.dynamic_max) check_integer(f, v, lab, f.name);
        f.set_integer(c, v);
    }

    // Parses "key=value,key=value" (the --balloon and --drive lists); calls
    // `seen(name)` with each field's own name. Empty items are skipped.
    void parse_list(C& c, const std::string& text,
                    const std::function<void(const char*)>& seen = {}) const {
        std::stringstream in(text);
        std::string item;
        while (std::getline(in, item, ',')) {
            if (item.empty()) continue;
            auto eq = item.find('=');
            std::string key = item.substr(0, eq);
            if (eq == std::string::npos)
                throw FieldError(FieldProblem::Missing, key,
                                 noun_ + " '" + key + "' needs a value (key=value)");
            set_text(c, key, item.substr(eq + 1));
            if (seen) seen(at(key).name);
        }
    }

  private:
    std::string noun_;
    std::vector<Field<C>> fields_;
};

} // namespace foldvm::model
