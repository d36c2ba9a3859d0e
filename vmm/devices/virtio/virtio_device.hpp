// The device half of a virtio device (balloon, ...), independent of the
// transport that carries it. The transport calls every method with its lock
// held; a device reaches its queues, guest memory and interrupts through the
// VirtioContext it is attached to.
#pragma once

#include "virtqueue.hpp"

#include <cstdint>
#include <mutex>
#include <string>

namespace foldvm {

class GuestMemory;

namespace virtio {

class VirtioContext {
  public:
    virtual ~VirtioContext() = default;
    virtual GuestMemory& memory() = 0;
    // Queue by its index on the transport (as the driver numbers them).
    virtual Virtqueue& queue(uint32_t index) = 0;
    // Used-buffer notification (interrupt status bit 0).
    virtual void signal_used() = 0;
    // Configuration change notification; bumps the config generation.
    virtual void signal_config() = 0;
    // Asks for service(): called soon on a vCPU thread (at the driver's next
    // register access) after the driver is prodded. Any thread may call it.
    virtual void request_service() = 0;
    // Transport status register and why it last needed a reset (lock held).
    virtual uint32_t device_status() const = 0;
    virtual std::string device_error() const = 0;
    // The lock the transport holds around device calls. Device methods
    // called from elsewhere (API threads, timers) take it themselves.
    virtual std::unique_lock<std::mutex> lock() = 0;
};

class VirtioDevice {
  public:
    virtual ~VirtioDevice() = default;

    // Called once by the transport before any other method.
    virtual void attach(VirtioContext& ctx) = 0;
    // The transport is going away: stop background work. Called without the
    // transport lock; the context must not be used after this returns.
    virtual void detach() {}

    virtual uint32_t device_id() const = 0;
    // Offered features, including VIRTIO_F_VERSION_1.
    virtual uint64_t device_features() const = 0;
    // Largest queue size for queue `index` given the features the driver
    // accepted so far (0 = no such queue).
    virtual uint16_t queue_max_size(uint32_t index, uint64_t features) const = 0;

    virtual uint32_t config_size() const = 0;
    // Config space accesses are in bounds: offset + size <= config_size().
    virtual void read_config(uint32_t offset, uint8_t* data, uint32_t size) = 0;
    virtual void write_config(uint32_t offset, const uint8_t* data, uint32_t size) = 0;

    // The driver set DRIVER_OK with these negotiated features.
    virtual void activate(uint64_t features) = 0;
    // The driver wrote 0 to the status register (or the device is dropped).
    virtual void reset() = 0;
    // The driver notified queue `index`. Throws VirtioError on hostile input.
    virtual void queue_notify(uint32_t index) = 0;
    // Deferred work asked for with request_service(), on a vCPU thread.
    virtual void service() {}
};

} // namespace virtio
} // namespace foldvm
