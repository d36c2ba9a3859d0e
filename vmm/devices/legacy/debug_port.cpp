#include "debug_port.hpp"

#include <cstring>

namespace foldvm {

IoResult DebugPort::on_port_io(uint16_t port, bool is_write, uint8_t* data, uint32_t size) {
    if (!is_write) {
        std::memset(data, 0, size);
        return IoResult::cont();
    }
    if (size < 1) return IoResult::cont();
    if (port == kBootMarker) {
        if (on_marker_) on_marker_(data[0]);
        return IoResult::cont();
    }
    return IoResult::exit(data[0]);
}

} // namespace foldvm
