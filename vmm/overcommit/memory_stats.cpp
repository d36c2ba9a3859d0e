#include "memory_stats.hpp"

namespace foldvm {

const char* to_string(MemoryState state) {
    switch (state) {
    case MemoryState::High:
        return "high";
    case MemoryState::Soft:
        return "soft";
    case MemoryState::Hard:
        return "hard";
    case MemoryState::Low:
        return "low";
    }
    return "unknown";
}

} // namespace foldvm
