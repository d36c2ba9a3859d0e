#include "device_options.hpp"

#include "common/error.hpp"

#include <sstream>

namespace foldvm {

void for_each_device_option(
    const std::string& text, const std::string& device,
    const std::function<void(const std::string&, const std::string&)>& apply) {
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty()) continue;
        auto eq = item.find('=');
        std::string key = item.substr(0, eq);
        if (eq == std::string::npos)
            throw InvalidInput(device + " option '" + key + "' needs a value (key=value)");
        apply(key, item.substr(eq + 1));
    }
}

bool parse_option_bool(const std::string& device, const std::string& key,
                       const std::string& value) {
    if (value == "1" || value == "true" || value == "on" || value == "yes") return true;
    if (value == "0" || value == "false" || value == "off" || value == "no") return false;
    throw InvalidInput(device + " option '" + key + "' needs 0 or 1, got '" + value + "'");
}

uint64_t parse_option_number(const std::string& device, const std::string& key,
                             const std::string& value) {
    size_t pos = 0;
    unsigned long long v = 0;
    try {
        if (value.empty() || value[0] == '-') throw std::invalid_argument("sign");
        v = std::stoull(value, &pos, 10);
    } catch (const std::exception&) {
        pos = 0;
    }
    if (pos == 0 || pos != value.size())
        throw InvalidInput(device + " option '" + key + "' needs a number, got '" + value + "'");
    return v;
}

} // namespace foldvm
