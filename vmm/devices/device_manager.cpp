#include "device_manager.hpp"

#include "mmio_layout.hpp"

#include "common/error.hpp"
#include "vmm/bus/mmio.hpp"
#include "vmm/devices/virtio/balloon.hpp"
#include "vmm/devices/virtio/block.hpp"
#include "vmm/devices/virtio/mmio_transport.hpp"
#include "vmm/memory/guest_memory.hpp"

#include <cstdio>

namespace foldvm {

DeviceManager::DeviceManager(GuestMemory& memory, MmioBus& bus,
                             std::function<void(uint32_t)> interrupt,
                             std::function<void()> vcpu_wait)
    : memory_(memory), bus_(bus), interrupt_(std::move(interrupt)),
      vcpu_wait_(std::move(vcpu_wait)) {}

DeviceManager::~DeviceManager() {
    // Stop background work (statistics timers) before the VM goes away; the
    // transports themselves may outlive this on the MMIO bus.
    if (balloon_) balloon_->detach();
}

std::shared_ptr<virtio::MmioTransport>
DeviceManager::place(std::shared_ptr<virtio::VirtioDevice> device) {
    if (devices_.size() >= FOLDVM_MAX_DEVICES) throw InvalidInput("too many devices");
    if (!mmio_window_fits(memory_.size()))
        throw InvalidInput("guest RAM leaves no room for the device window below 64 GiB");
    uint32_t slot = static_cast<uint32_t>(devices_.size());
    uint32_t irq = kFirstDeviceIrq + slot;
    auto transport = std::make_shared<virtio::MmioTransport>(
        memory_, std::move(device), [this, irq] { interrupt_(irq); }, vcpu_wait_);
    uint64_t base = mmio_slot_base(memory_.size(), slot);
    bus_.add(base, kMmioSlotSize, transport);
    devices_.push_back({FOLDVM_DEV_VIRTIO_MMIO, irq, base, kMmioSlotSize});
    return transport;
}

BalloonDevice& DeviceManager::add_balloon(const BalloonConfig& config) {
    if (balloon_) throw InvalidInput("a VM has at most one balloon");
    auto device = std::make_shared<BalloonDevice>(config, memory_.size());
    balloon_transport_ = place(device);
    balloon_ = std::move(device);
    return *balloon_;
}

BlockDevice& DeviceManager::add_block(const BlockConfig& config) {
    if (blocks_.size() >= kMaxDrives)
        throw InvalidInput("a VM has at most " + std::to_string(kMaxDrives) + " drives");
    auto device = std::make_shared<BlockDevice>(config);
    place(device);
    blocks_.push_back(std::move(device));
    return *blocks_.back();
}

uint64_t DeviceManager::window_base() const {
    return mmio_window_base(memory_.size());
}

uint64_t DeviceManager::window_size() const {
    return devices_.empty() ? 0 : kMmioWindowSize;
}

std::string DeviceManager::linux_cmdline() const {
    std::string out;
    for (const foldvm_device& d : devices_) {
        char item[80];
        std::snprintf(item, sizeof item, "%svirtio_mmio.device=%lluK@0x%llx:%u",
                      out.empty() ? "" : " ", static_cast<unsigned long long>(d.mmio_size >> 10),
                      static_cast<unsigned long long>(d.mmio_base), d.irq);
        out += item;
    }
    return out;
}

} // namespace foldvm
