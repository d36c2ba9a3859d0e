#include "dirty_ring.hpp"

#include "common/error.hpp"

#include <sys/mman.h>
#include <unistd.h>

namespace foldvm {

DirtyRing::DirtyRing(int vcpu_fd, uint32_t bytes) : count_(bytes / sizeof(kvm_dirty_gfn)) {
    long page = ::sysconf(_SC_PAGESIZE);
    void* p = ::mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu_fd,
                     KVM_DIRTY_LOG_PAGE_OFFSET * page);
    if (p == MAP_FAILED) throw_errno("mmap(KVM dirty ring)");
    ring_ = Mapping(p, bytes);
}

uint32_t choose_dirty_ring_bytes(int kvm_max_bytes, uint32_t wanted) {
    if (kvm_max_bytes <= 0) return 0;
    uint32_t bytes = 4096;
    while (bytes * 2 <= wanted && bytes * 2 <= static_cast<uint32_t>(kvm_max_bytes))
        bytes *= 2;
    return bytes <= static_cast<uint32_t>(kvm_max_bytes) ? bytes : 0;
}

} // namespace foldvm
