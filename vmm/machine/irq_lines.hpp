// Interrupt injection into the in-kernel irqchip of a Linux guest. Device
// interrupts are edges delivered through irqfd (an eventfd write, no ioctl
// on the hot path) where KVM offers it, else through KVM_IRQ_LINE pulses;
// level-style sources such as the UART drive KVM_IRQ_LINE directly.
#pragma once

#include "common/unique_fd.hpp"

#include <cstdint>
#include <map>
#include <mutex>

namespace foldvm {

class VmFd;

class IrqLines {
  public:
    IrqLines(VmFd& vm, bool use_irqfd) : vm_(vm), use_irqfd_(use_irqfd) {}

    // Registers the irqfd for `gsi` now, so pulse() never allocates later.
    void prepare_edge(uint32_t gsi);
    void pulse(uint32_t gsi);
    void set_level(uint32_t gsi, bool level);

  private:
    VmFd& vm_;
    bool use_irqfd_;
    std::mutex mutex_;
    std::map<uint32_t, UniqueFd> irqfds_;
};

} // namespace foldvm
