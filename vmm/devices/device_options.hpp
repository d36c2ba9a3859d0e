// The "key=value,key=value" option lists of --balloon and --drive: one
// splitter and the value parsers, so every device reports bad input the
// same way ("<device> option 'key' ...").
#pragma once

#include <cstdint>
#include <functional>
#include <string>

namespace foldvm {

// Calls `apply(key, value)` for each non-empty item; throws InvalidInput
// for an item without '='.
void for_each_device_option(
    const std::string& text, const std::string& device,
    const std::function<void(const std::string&, const std::string&)>& apply);

// 1/true/on/yes or 0/false/off/no.
bool parse_option_bool(const std::string& device, const std::string& key, const std::string& value);
// A non-negative decimal integer.
uint64_t parse_option_number(const std::string& device, const std::string& key,
                             const std::string& value);

} // namespace foldvm
