#include "i8042.hpp"

#include <cstring>

namespace foldvm {

IoResult I8042::on_port_io(Vm&, int, uint16_t port, bool is_write, uint8_t* data, uint32_t size) {
    if (!is_write) {
        std::memset(data, 0, size); // no data, input buffer empty
        return IoResult::cont();
    }
    if (port == kCommandPort && size >= 1 && data[0] == kResetCommand)
        return IoResult::exit(0); // the guest asked for a reset: the VM is done
    return IoResult::cont();
}

} // namespace foldvm
