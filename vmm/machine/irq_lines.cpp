#include "irq_lines.hpp"

#include "common/error.hpp"
#include "vmm/kvm/kvm.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

namespace foldvm {

void IrqLines::prepare_edge(uint32_t gsi) {
    if (!use_irqfd_) return;
    std::lock_guard lock(mutex_);
    if (irqfds_.count(gsi)) return;
    UniqueFd fd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!fd) throw_errno("eventfd for irqfd");
    vm_.add_irqfd(fd.get(), gsi);
    irqfds_.emplace(gsi, std::move(fd));
}

void IrqLines::pulse(uint32_t gsi) {
    if (use_irqfd_) {
        int fd = -1;
        {
            std::lock_guard lock(mutex_);
            auto it = irqfds_.find(gsi);
            if (it != irqfds_.end()) fd = it->second.get();
        }
        if (fd >= 0) {
            uint64_t one = 1;
            // EAGAIN means the counter is saturated: an edge is pending anyway.
            if (::write(fd, &one, sizeof one) < 0 && errno != EAGAIN) throw_errno("irqfd write");
            return;
        }
    }
    vm_.set_irq_line(gsi, true);
    vm_.set_irq_line(gsi, false);
}

void IrqLines::set_level(uint32_t gsi, bool level) {
    vm_.set_irq_line(gsi, level);
}

} // namespace foldvm
