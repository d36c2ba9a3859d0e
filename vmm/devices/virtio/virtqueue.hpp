// A split virtqueue as the device sees it. Everything the driver controls is
// read exactly once into local copies and validated before use:
//   - ring areas and every buffer lie inside guest RAM;
//   - the available index never runs more than a queue size ahead;
//   - descriptor indices are below the queue size and a chain has at most
//     queue-size descriptors (so a loop is caught), and at most a configured
//     number of bytes;
//   - device-writable descriptors come after the readable ones; indirect
//     descriptors (not negotiated) are refused.
// A violation throws VirtioError; the transport then marks the device
// DEVICE_NEEDS_RESET. Nothing here can make the monitor read or write
// outside the guest's RAM.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

namespace foldvm {

class GuestMemory;

namespace virtio {

// The driver broke the protocol; only its own device is affected.
class VirtioError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct Segment {
    uint64_t gpa;
    uint32_t len;
    bool writable; // device-writable ("in" from the driver's view)
};

struct Chain {
    uint16_t head = 0;
    std::vector<Segment> segments;
    uint64_t readable_bytes = 0;
    uint64_t writable_bytes = 0;
};

// Driver-programmed queue registers (virtio-mmio QueueNum/QueueDesc/...).
struct QueueLayout {
    uint16_t size = 0;
    uint64_t desc = 0;
    uint64_t avail = 0; // "driver area"
    uint64_t used = 0;  // "device area"
};

class Virtqueue {
  public:
    QueueLayout& layout() { return layout_; }
    const QueueLayout& layout() const { return layout_; }
    bool ready() const { return ready_; }

    // Validates the layout against `mem` and starts the queue; throws
    // VirtioError for a bad size (not a power of two up to `max_size`),
    // misaligned or out-of-RAM ring areas.
    void enable(const GuestMemory& mem, uint16_t max_size);
    // Back to the reset state (not ready, indices zero, layout cleared).
    void reset();

    // Largest chain accepted (sum of its buffer lengths); longer is an error.
    void set_max_chain_bytes(uint64_t bytes) { max_chain_bytes_ = bytes; }

    // The next available chain, or nullopt when the driver has offered none.
    std::optional<Chain> pop(const GuestMemory& mem);
    // Returns a chain to the driver with `written` bytes written into it.
    void push(GuestMemory& mem, uint16_t head, uint32_t written);
    // Chains popped but not yet pushed back.
    uint16_t in_flight() const { return static_cast<uint16_t>(last_avail_ - used_idx_); }

  private:
    uint16_t load_avail_idx(const GuestMemory& mem) const;

    QueueLayout layout_;
    bool ready_ = false;
    uint16_t last_avail_ = 0;
    uint16_t used_idx_ = 0;
    uint64_t max_chain_bytes_ = 1ull << 32;
};

} // namespace virtio
} // namespace foldvm
