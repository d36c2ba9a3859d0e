#pragma once
namespace foldvm {
inline constexpr const char* kVersion = "0.1.0";
}
