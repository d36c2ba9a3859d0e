// Guest writes come from KVM's dirty log, VMM writes from GuestMemory's own
// log; both are merged by GuestMemory::collect_dirty.
#pragma once

#include "dedup/region.hpp"
#include "vmm/memory/guest_memory.hpp"

namespace foldvm {

class GuestRamTracker : public dedup::WriteTracker {
  public:
    explicit GuestRamTracker(GuestMemory& memory) : memory_(memory) {}
    void collect(uint64_t* bitmap) override { memory_.collect_dirty(bitmap); }
    const char* name() const override { return "kvm-dirty-log"; }

  private:
    GuestMemory& memory_;
};

} // namespace foldvm
