// The devices of one VM: creates them from its configuration, places them
// in the MMIO window (mmio_layout.hpp), claims their ranges on the MMIO bus
// and describes them for the boot-info device list.
#pragma once

#include "vmm/abi/foldvm_abi.h"
#include "vmm/devices/virtio/balloon_config.hpp"
#include "vmm/devices/virtio/block_config.hpp"

#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace foldvm {

class BalloonDevice;
class BlockDevice;
class GuestMemory;
class MmioBus;

namespace virtio {
class MmioTransport;
class VirtioDevice;
} // namespace virtio

class DeviceManager {
  public:
    // `interrupt(irq)` raises a device interrupt line (for unikernels that
    // poll: wakes the guest's POLL hypercall). `vcpu_wait` runs on a vCPU
    // thread that waits for a device held by another vCPU (Vm::yield_to_pause).
    DeviceManager(GuestMemory& memory, MmioBus& bus, std::function<void(uint32_t irq)> interrupt,
                  std::function<void()> vcpu_wait = {});
    ~DeviceManager();
    DeviceManager(const DeviceManager&) = delete;
    DeviceManager& operator=(const DeviceManager&) = delete;

    BalloonDevice& add_balloon(const BalloonConfig& config);
    BlockDevice& add_block(const BlockConfig& config);

    // nullptr when the VM has no balloon.
    BalloonDevice* balloon() const { return balloon_.get(); }
    virtio::MmioTransport* balloon_transport() const { return balloon_transport_.get(); }
    // Drives in the order they were added.
    const std::vector<std::shared_ptr<BlockDevice>>& blocks() const { return blocks_; }

    const std::vector<foldvm_device>& boot_devices() const { return devices_; }
    // The window to identity-map for the guest; size 0 when there are no devices.
    uint64_t window_base() const;
    uint64_t window_size() const;
    // The same devices for a Linux guest's command line:
    // "virtio_mmio.device=4K@0xd0000000:5 ...".
    std::string linux_cmdline() const;

  private:
    // Puts `device` behind a virtio-mmio transport in the next free slot.
    std::shared_ptr<virtio::MmioTransport> place(std::shared_ptr<virtio::VirtioDevice> device);

    GuestMemory& memory_;
    MmioBus& bus_;
    std::function<void(uint32_t)> interrupt_;
    std::function<void()> vcpu_wait_;
    std::vector<foldvm_device> devices_;
    std::shared_ptr<BalloonDevice> balloon_;
    std::shared_ptr<virtio::MmioTransport> balloon_transport_;
    std::vector<std::shared_ptr<BlockDevice>> blocks_;
};

} // namespace foldvm
