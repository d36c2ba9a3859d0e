#include "dedup_mode.hpp"

#include "common/error.hpp"

namespace foldvm {

DedupMode parse_dedup_mode(const std::string& text) {
    for (const auto& [mode, name] : kDedupModes)
        if (text == name) return mode;
    std::string known;
    for (const auto& [mode, name] : kDedupModes)
        known += (known.empty() ? "" : ", ") + std::string(name);
    throw InvalidInput("unknown dedup mode '" + text + "' (use " + known + ")");
}

const char* to_string(DedupMode mode) {
    for (const auto& [m, name] : kDedupModes)
        if (m == mode) return name;
    return "?";
}

std::vector<std::string> dedup_mode_names() {
    std::vector<std::string> out;
    for (const auto& [mode, name] : kDedupModes)
        out.emplace_back(name);
    return out;
}

} // namespace foldvm
