// Strict reading of JSON request bodies: one place decides what is a
// malformed body (400), an unknown field or a wrong type (400) and an
// out-of-range value (422, with the allowed range in the message).
#pragma once

#include "api_types.hpp"

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <set>
#include <string>

namespace foldvm::api {

// Parses the body as a JSON object (415 for a non-JSON content type).
nlohmann::json parse_json_object(const ApiRequest& request);

// Reads fields of one JSON object; finish() rejects the fields not read.
// Fields of a nested object are named with their path ("balloon.amount_mib")
// through `prefix`, in messages and in the error's `field`.
class FieldReader {
  public:
    explicit FieldReader(const nlohmann::json& object, std::string prefix = {})
        : object_(object), prefix_(std::move(prefix)) {}

    bool has(const std::string& name) const { return object_.contains(name); }
    // An integer in [min, max]; nullopt if absent (or null when allow_null).
    std::optional<uint64_t> integer(const std::string& name, uint64_t min, uint64_t max,
                                    bool allow_null = false);
    // A string of at most max_len bytes; nullopt if absent (or null when allow_null).
    std::optional<std::string> string(const std::string& name, size_t max_len,
                                      bool allow_null = false);
    // true or false (not 0/1); nullopt if absent (or null when allow_null).
    std::optional<bool> boolean(const std::string& name, bool allow_null = false);
    // A nested JSON object; nullptr if absent (or null when allow_null).
    const nlohmann::json* object(const std::string& name, bool allow_null = false);
    // Throws for the first field that was not read.
    void finish() const;

    // The name errors give for `name`: prefix + name.
    std::string path(const std::string& name) const { return prefix_ + name; }

  private:
    const nlohmann::json* find(const std::string& name, bool allow_null);

    const nlohmann::json& object_;
    std::string prefix_;
    std::set<std::string> seen_;
};

// Checks a JSON value as an integer in [min, max] (shared with PATCH /dedup).
uint64_t checked_integer(const nlohmann::json& value, const std::string& name, uint64_t min,
                         uint64_t max);

// Parses a decimal query parameter in [min, max].
uint64_t query_integer(const std::string& text, const std::string& name, uint64_t min,
                       uint64_t max);

std::string range_text(uint64_t min, uint64_t max);

} // namespace foldvm::api
