// How a foldvm shares guest pages: the built-in engine, the host kernel's
// KSM as the yardstick, or not at all. The one list of the modes' names
// (--dedup, GET /dedup "mode", the foldvm_dedup_mode metric).
#pragma once

#include <array>
#include <string>
#include <utility>
#include <vector>

namespace foldvm {

enum class DedupMode { Builtin, Ksm, Off };

inline constexpr std::array<std::pair<DedupMode, const char*>, 3> kDedupModes = {{
    {DedupMode::Builtin, "builtin"},
    {DedupMode::Ksm, "ksm"},
    {DedupMode::Off, "off"},
}};

// Throws InvalidInput for an unknown name.
DedupMode parse_dedup_mode(const std::string& text);
const char* to_string(DedupMode mode);
// "builtin", "ksm", "off": for CLI11's IsMember.
std::vector<std::string> dedup_mode_names();

} // namespace foldvm
