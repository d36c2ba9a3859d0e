// Memory-mapped I/O dispatch: guest accesses to physical addresses outside
// RAM trap (KVM_EXIT_MMIO) and go to the device that claimed the range.
#pragma once

#include <cstdint>
#include <map>
#include <memory>

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

class MmioBus {
  public:
    void add(uint64_t base, uint64_t size, std::shared_ptr<MmioHandler> handler) {
        ranges_[base] = Range{size, std::move(handler)};
    }
    // The handler claiming `addr` and the offset of `addr` in its range.
    MmioHandler* find(uint64_t addr, uint64_t& offset) const {
        auto it = ranges_.upper_bound(addr);
        if (it == ranges_.begin()) return nullptr;
        --it;
        if (addr - it->first >= it->second.size) return nullptr;
        offset = addr - it->first;
        return it->second.handler.get();
    }

  private:
    struct Range {
        uint64_t size;
        std::shared_ptr<MmioHandler> handler;
    };
    std::map<uint64_t, Range> ranges_;
};

} // namespace foldvm
