// Memory-mapped I/O dispatch: guest accesses to physical addresses outside
// RAM trap (KVM_EXIT_MMIO) and go to the device that claimed the range.
#pragma once

#include "range_map.hpp"

#include <cstdint>

namespace foldvm {

class MmioHandler {
  public:
    virtual ~MmioHandler() = default;
    // `offset` is relative to the start of the claimed range; `data` holds
    // `size` (1..8) bytes: the value written, or the buffer to fill on a read.
    // Handlers never throw for guest mistakes: a misbehaving guest only
    // breaks its own device.
    virtual void mmio_read(uint64_t offset, uint8_t* data, uint32_t size) = 0;
    virtual void mmio_write(uint64_t offset, const uint8_t* data, uint32_t size) = 0;
};

class MmioBus : public RangeMap<uint64_t, MmioHandler> {
  public:
    MmioBus() : RangeMap("MMIO") {}
};

} // namespace foldvm
