// virtio-mmio transport, version 2 (virtio 1.2 section 4.2): the register
// file a driver programs, feature negotiation, the status state machine and
// queue setup, in front of one VirtioDevice. Notifications arrive as trapped
// writes to QueueNotify on the vCPU thread. A protocol violation moves the
// device to DEVICE_NEEDS_RESET (with a config-change interrupt) until the
// driver resets it; the monitor and other VMs never notice.
#pragma once

#include "virtio_device.hpp"
#include "virtio_spec.hpp"

#include "vmm/bus/mmio.hpp"

#include <array>
#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

namespace foldvm::virtio {

class MmioTransport final : public MmioHandler, private VirtioContext {
  public:
    static constexpr uint32_t kMaxQueues = 8;
    // `interrupt` raises the device's interrupt line (for polling unikernels:
    // wakes the guest's POLL hypercall). Called with the transport lock held.
    // `vcpu_wait` runs while a vCPU waits for the transport lock held by
    // another vCPU, so that one can park for a VM pause it is waiting for.
    MmioTransport(GuestMemory& memory, std::shared_ptr<VirtioDevice> device,
                  std::function<void()> interrupt, std::function<void()> vcpu_wait = {});
    ~MmioTransport() override;

    void mmio_read(uint64_t offset, uint8_t* data, uint32_t size) override;
    void mmio_write(uint64_t offset, const uint8_t* data, uint32_t size) override;

    VirtioDevice& device() { return *device_; }
    uint32_t status() const;
    uint64_t driver_features() const;
    bool needs_reset() const { return status() & kDeviceNeedsReset; }
    // Why the device last entered DEVICE_NEEDS_RESET ("" if never), and how often.
    std::string last_error() const;
    uint64_t error_count() const;

  private:
    // VirtioContext
    GuestMemory& memory() override { return memory_; }
    Virtqueue& queue(uint32_t index) override { return queues_.at(index); }
    void signal_used() override;
    void signal_config() override;
    void request_service() override;
    uint32_t device_status() const override { return status_; }
    std::string device_error() const override { return last_error_; }
    std::unique_lock<std::mutex> lock() override { return std::unique_lock(mutex_); }

    uint32_t read_register(uint64_t offset);
    void write_register(uint64_t offset, uint32_t value);
    void write_status(uint32_t value);
    void reset_locked();
    void fail(const std::string& why);
    template <typename F> void guarded(F&& call);
    Virtqueue* selected_queue();
    void run_service();
    std::unique_lock<std::mutex> lock_from_vcpu();

    GuestMemory& memory_;
    std::shared_ptr<VirtioDevice> device_;
    std::function<void()> interrupt_;
    std::function<void()> vcpu_wait_;
    mutable std::mutex mutex_;
    std::array<Virtqueue, kMaxQueues> queues_;
    std::atomic<bool> service_requested_{false};

    uint32_t status_ = 0;
    uint32_t device_features_sel_ = 0;
    uint32_t driver_features_sel_ = 0;
    uint64_t driver_features_ = 0;
    uint32_t queue_sel_ = 0;
    uint32_t interrupt_status_ = 0;
    uint32_t config_generation_ = 0;
    std::string last_error_;
    uint64_t errors_ = 0;
};

} // namespace foldvm::virtio
