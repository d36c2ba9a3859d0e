#include "guest_memory.hpp"

#include "common/error.hpp"
#include "common/linux_compat.h"
#include "vmm/kvm/kvm.hpp"
#include "vmm/memory/dirty_ring.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <cstring>

namespace foldvm {

GuestMemory::GuestMemory(VmFd& vm, const GuestMemoryOptions& opts) : vm_(vm) {
    if (opts.size < 2 * 1024 * 1024 || opts.size % kPageSize)
        throw InvalidInput("guest RAM must be a multiple of 4 KiB and at least 2 MiB");
    ram_ = Mapping::anonymous(opts.size);
    if (opts.no_huge_pages) ::madvise(ram_.get(), ram_.size(), MADV_NOHUGEPAGE);

    uint32_t flags = 0;
    if (opts.dirty_logging) {
        flags |= KVM_MEM_LOG_DIRTY_PAGES;
        dirty_logging_ = true;
        if (opts.dirty_ring) {
            int max = vm.check_extension(KVM_CAP_DIRTY_LOG_RING);
            ring_bytes_ = choose_dirty_ring_bytes(max, opts.dirty_ring_bytes);
            if (ring_bytes_) {
                // ACQ_REL is the variant for weakly ordered hosts; on x86
                // both work, prefer it when offered.
                bool acq_rel = vm.check_extension(KVM_CAP_DIRTY_LOG_RING_ACQ_REL) > 0;
                vm.enable_cap(acq_rel ? KVM_CAP_DIRTY_LOG_RING_ACQ_REL : KVM_CAP_DIRTY_LOG_RING,
                              ring_bytes_);
            }
        }
        // Manual protect lets us re-arm only the pages we consumed and starts
        // with every bit set, so the first scan treats all pages as unknown.
        if (!ring_bytes_ && vm.check_extension(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0) {
            vm.enable_cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2,
                          KVM_DIRTY_LOG_MANUAL_PROTECT_ENABLE | KVM_DIRTY_LOG_INITIALLY_SET);
            manual_protect_ = true;
        }
    }
    uint64_t pages = opts.size / kPageSize;
    vmm_log_ = std::make_unique<std::atomic<uint64_t>[]>((pages + 63) / 64);
    absent_ = std::make_unique<std::atomic<uint64_t>[]>((pages + 63) / 64);
    if (opts.userfaultfd) {
        // Write-protect across anonymous and pool (shmem) mappings, and on
        // pages never touched yet, as dedup's freeze needs.
        // Without one (no /dev/userfaultfd access), dedup pauses writers
        // instead and the pager leaves this VM alone: userfaultfd() says so.
        auto probe = userfaultfd_features();
        if (probe.available) {
            try {
                uffd_ = std::make_unique<Userfaultfd>(
                    probe.features &
                    (UFFD_FEATURE_WP_HUGETLBFS_SHMEM | UFFD_FEATURE_WP_UNPOPULATED));
                uffd_->register_wp(ram_.get(), ram_.size());
            } catch (const SystemError&) {
                uffd_.reset();
            }
        }
    }
    for (uint64_t gpa = 0; gpa < opts.size; gpa += opts.max_slot_size) {
        uint64_t len = std::min(opts.max_slot_size, opts.size - gpa);
        Slot slot{static_cast<uint32_t>(slots_.size()), gpa, len};
        vm.set_user_memory_region(slot.id, gpa, len, ram_.bytes() + gpa, flags);
        slots_.push_back(slot);
    }
}

bool GuestMemory::contains(uint64_t gpa, uint64_t len) const {
    return gpa <= ram_.size() && len <= ram_.size() - gpa;
}

uint8_t* GuestMemory::translate(uint64_t gpa, uint64_t len) const {
    return contains(gpa, len) ? ram_.bytes() + gpa : nullptr;
}

void GuestMemory::read(uint64_t gpa, void* dst, uint64_t len) const {
    uint8_t* src = translate(gpa, len);
    if (!src)
        throw InvalidInput("guest read out of range: gpa " + std::to_string(gpa) + " len " +
                           std::to_string(len));
    std::memcpy(dst, src, len);
}

void GuestMemory::write(uint64_t gpa, const void* src, uint64_t len) {
    uint8_t* dst = translate(gpa, len);
    if (!dst)
        throw InvalidInput("guest write out of range: gpa " + std::to_string(gpa) + " len " +
                           std::to_string(len));
    // Log before writing so a concurrent collector never misses the write,
    // and again after: a collector that took the first mark mid-copy may
    // have hashed the old bytes, and the page would stay settled on them.
    record_vmm_write(gpa, len);
    std::memcpy(dst, src, len);
    record_vmm_write(gpa, len);
}

void GuestMemory::record_vmm_write(uint64_t gpa, uint64_t len) {
    if (len == 0 || !contains(gpa, len)) return;
    for (uint64_t page = gpa / kPageSize; page <= (gpa + len - 1) / kPageSize; ++page)
        vmm_log_[page / 64].fetch_or(1ull << (page % 64), std::memory_order_release);
}

GuestMemory::~GuestMemory() = default;

const char* GuestMemory::dirty_log_mode() const {
    return !dirty_logging_ ? "off" : ring_bytes_ ? "ring" : "bitmap";
}

void GuestMemory::attach_vcpu(int vcpu_fd) {
    if (!ring_bytes_) return;
    std::lock_guard lock(ring_mutex_);
    rings_.push_back(std::make_unique<DirtyRing>(vcpu_fd, ring_bytes_));
}

void GuestMemory::harvest_dirty_rings() {
    if (!ring_bytes_) return;
    std::lock_guard lock(ring_mutex_);
    if (ring_bits_.empty()) ring_bits_.assign((size() / kPageSize + 63) / 64, 0);
    size_t harvested = 0;
    for (auto& ring : rings_) {
        harvested += ring->harvest([&](uint32_t slot, uint64_t offset) {
            if (slot >= slots_.size() || offset >= slots_[slot].size / kPageSize) return;
            uint64_t page = slots_[slot].gpa / kPageSize + offset;
            ring_bits_[page / 64] |= 1ull << (page % 64);
        });
    }
    if (harvested) vm_.reset_dirty_rings();
}

void GuestMemory::collect_dirty(uint64_t* bitmap) {
    uint64_t words = (size() / kPageSize + 63) / 64;
    for (uint64_t w = 0; w < words; ++w)
        bitmap[w] |= vmm_log_[w].exchange(0, std::memory_order_acq_rel);
    if (!dirty_logging_) return;
    if (ring_bytes_) {
        harvest_dirty_rings();
        std::lock_guard lock(ring_mutex_);
        for (uint64_t w = 0; w < words; ++w) {
            // Rings start empty: the first collection must report every
            // page as unknown, like the bitmap's INITIALLY_SET.
            bitmap[w] |= ring_first_ ? ~0ull : ring_bits_[w];
            ring_bits_[w] = 0;
        }
        ring_first_ = false;
        return;
    }
    for (const Slot& slot : slots_) {
        uint64_t slot_pages = slot.size / kPageSize;
        scratch_.assign((slot_pages + 63) / 64, 0);
        vm_.get_dirty_log(slot.id, scratch_.data());
        bool any = std::any_of(scratch_.begin(), scratch_.end(), [](uint64_t w) { return w != 0; });
        if (manual_protect_ && any) vm_.clear_dirty_log(slot.id, 0, slot_pages, scratch_.data());
        // Slots start on 1 GiB boundaries, so their bits are 64-aligned.
        uint64_t first_word = slot.gpa / kPageSize / 64;
        for (size_t w = 0; w < scratch_.size(); ++w)
            bitmap[first_word + w] |= scratch_[w];
    }
}

void GuestMemory::set_discarder(Discarder discarder) {
    std::lock_guard lock(discard_mutex_);
    discarder_ = std::move(discarder);
}

void GuestMemory::discard(uint64_t gpa, uint64_t len) {
    if (gpa % kPageSize || len % kPageSize || !contains(gpa, len))
        throw InvalidInput("discard of unaligned or out-of-range guest memory: gpa " +
                           std::to_string(gpa) + " len " + std::to_string(len));
    if (len == 0) return;
    std::lock_guard lock(discard_mutex_);
    if (discarder_)
        discarder_(gpa, len);
    else if (::madvise(ram_.bytes() + gpa, len, MADV_DONTNEED) != 0)
        throw_errno("madvise(MADV_DONTNEED) on guest RAM");
    if (discard_listener_) discard_listener_(gpa, len);
}

void GuestMemory::set_discard_listener(Discarder listener) {
    std::lock_guard lock(discard_mutex_);
    discard_listener_ = std::move(listener);
}

std::vector<RamRegion> GuestMemory::regions() const {
    std::vector<RamRegion> out;
    for (const Slot& s : slots_)
        out.push_back({s.gpa, ram_.bytes() + s.gpa, s.size});
    return out;
}

} // namespace foldvm
