// What a guest ABI module may ask of the VM it serves, and nothing more. An
// ABI (foldvm's own, Solo5 hvt, ...) claims its hypercall ports, reads and
// writes guest memory through GuestMemory's bounds-checked calls, writes the
// console, sleeps until a guest event, and ends the VM by returning
// IoResult::exit(status) (or IoResult::fault(why) for a hostile call) from
// its port handler. The VM implements this; ABIs never see the Vm itself.
#pragma once

#include "vmm/abi/foldvm_abi.h"
#include "vmm/bus/port_io.hpp"

#include <cstddef>
#include <cstdint>
#include <memory>

namespace foldvm {

class GuestMemory;

class GuestServices {
  public:
    virtual ~GuestServices() = default;

    // Claims [base, base + count) for `handler` (refuses overlaps).
    virtual void claim_ports(uint16_t base, uint16_t count,
                             std::shared_ptr<PortIoHandler> handler) = 0;
    // Guest RAM: contains()/translate() validate guest-supplied addresses and
    // lengths, write() is the logged path for the monitor's writes.
    virtual GuestMemory& memory() = 0;
    // The foldvm boot-info block the loader placed in guest RAM.
    virtual const foldvm_boot_info& boot_info() const = 0;

    // Console output; lines reach the host as they complete.
    virtual void console_write(const char* data, size_t len) = 0;
    // Sleeps up to timeout_ns; true if a guest event (a device interrupt, or
    // raise_guest_event) was pending or arrived, which it consumes. Returns
    // early when the VM is paused or stopped, so a vCPU never sleeps through
    // a request to park it.
    virtual bool poll(uint64_t timeout_ns) = 0;
    // Wakes a poll (any thread), for example when a backend has input.
    virtual void raise_guest_event() = 0;
    // Called on every hypercall: the first one times the guest's start.
    virtual void note_hypercall() = 0;
};

} // namespace foldvm
