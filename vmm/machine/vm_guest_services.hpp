// GuestServices for one VM, assembled from the parts that provide them: the
// port bus, guest RAM, the console, vCPU parking (poll) and the boot timeline.
#pragma once

#include "boot_timeline.hpp"
#include "console_buffer.hpp"
#include "vcpu_parking.hpp"

#include "vmm/bus/port_io.hpp"
#include "vmm/hypercall/guest_services.hpp"

namespace foldvm {

class VmGuestServices final : public GuestServices {
  public:
    VmGuestServices(IoBus& ports, GuestMemory& memory, const foldvm_boot_info& boot_info,
                    ConsoleBuffer& console, VcpuParking& parking, BootTimeline& timeline)
        : ports_(ports), memory_(memory), boot_info_(boot_info), console_(console),
          parking_(parking), timeline_(timeline) {}

    void claim_ports(uint16_t base, uint16_t count,
                     std::shared_ptr<PortIoHandler> handler) override {
        ports_.add(base, count, std::move(handler));
    }
    GuestMemory& memory() override { return memory_; }
    const foldvm_boot_info& boot_info() const override { return boot_info_; }
    void console_write(const char* data, size_t len) override { console_.write(data, len); }
    bool poll(uint64_t timeout_ns) override { return parking_.poll(timeout_ns); }
    void raise_guest_event() override { parking_.raise_event(); }
    void note_hypercall() override { timeline_.note_hypercall(); }

  private:
    IoBus& ports_;
    GuestMemory& memory_;
    const foldvm_boot_info& boot_info_;
    ConsoleBuffer& console_;
    VcpuParking& parking_;
    BootTimeline& timeline_;
};

} // namespace foldvm
