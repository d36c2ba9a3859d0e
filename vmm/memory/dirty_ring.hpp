// One vCPU's KVM dirty ring (KVM_CAP_DIRTY_LOG_RING): KVM appends the gfn of
// every page that vCPU dirties; the monitor harvests entries and marks them
// for reset. An alternative to the dirty bitmap that costs nothing per clean
// page, so harvesting scales with the number of writes, not with RAM size.
#pragma once

#include "common/mapping.hpp"

#include <linux/kvm.h>

#include <atomic>
#include <cstdint>

namespace foldvm {

class DirtyRing {
  public:
    DirtyRing(int vcpu_fd, uint32_t bytes);

    // Calls sink(slot_id, page_offset_in_slot) for each dirty entry, marks it
    // for reset, and returns how many were harvested. The caller then issues
    // KVM_RESET_DIRTY_RINGS on the VM to re-arm those pages.
    template <typename Sink> size_t harvest(Sink&& sink) {
        auto* entries = static_cast<kvm_dirty_gfn*>(ring_.get());
        size_t n = 0;
        for (;;) {
            kvm_dirty_gfn& e = entries[fetch_ % count_];
            auto flags = std::atomic_ref<uint32_t>(e.flags).load(std::memory_order_acquire);
            if (!(flags & KVM_DIRTY_GFN_F_DIRTY)) break;
            sink(e.slot & 0xffff, e.offset);
            std::atomic_ref<uint32_t>(e.flags).store(KVM_DIRTY_GFN_F_RESET,
                                                     std::memory_order_release);
            ++fetch_;
            ++n;
        }
        return n;
    }

  private:
    Mapping ring_;
    uint32_t count_;
    uint32_t fetch_ = 0;
};

// Ring size to request: the largest power of two up to `wanted` that the
// kernel allows, or 0 when the ring is unavailable.
uint32_t choose_dirty_ring_bytes(int kvm_max_bytes, uint32_t wanted = 64 * 1024);

} // namespace foldvm
