#include "virtqueue.hpp"

#include "virtio_spec.hpp"

#include "vmm/memory/guest_memory.hpp"

#include <atomic>
#include <cstring>

namespace foldvm::virtio {

namespace {

struct Desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
static_assert(sizeof(Desc) == kDescSize);

uint64_t desc_bytes(uint16_t n) {
    return kDescSize * n;
}
uint64_t avail_bytes(uint16_t n) {
    return 6 + 2ull * n;
}
uint64_t used_bytes(uint16_t n) {
    return 6 + 8ull * n;
}

std::string hex(uint64_t v) {
    char b[24];
    std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
    return b;
}

} // namespace

void Virtqueue::enable(const GuestMemory& mem, uint16_t max_size) {
    uint16_t n = layout_.size;
    if (n == 0 || n > max_size || (n & (n - 1)) != 0)
        throw VirtioError("queue size " + std::to_string(n) + " is not a power of two in [1, " +
                          std::to_string(max_size) + "]");
    if (layout_.desc % kDescAlign || layout_.avail % kAvailAlign || layout_.used % kUsedAlign)
        throw VirtioError("misaligned ring areas (desc " + hex(layout_.desc) + ", driver " +
                          hex(layout_.avail) + ", device " + hex(layout_.used) + ")");
    if (!mem.contains(layout_.desc, desc_bytes(n)) ||
        !mem.contains(layout_.avail, avail_bytes(n)) || !mem.contains(layout_.used, used_bytes(n)))
        throw VirtioError("ring areas outside guest RAM (desc " + hex(layout_.desc) + ", driver " +
                          hex(layout_.avail) + ", device " + hex(layout_.used) + ")");
    last_avail_ = 0;
    used_idx_ = 0;
    ready_ = true;
}

void Virtqueue::reset() {
    layout_ = {};
    ready_ = false;
    last_avail_ = 0;
    used_idx_ = 0;
}

uint16_t Virtqueue::load_avail_idx(const GuestMemory& mem) const {
    auto* p = reinterpret_cast<uint16_t*>(mem.translate(layout_.avail + 2, 2));
    return std::atomic_ref<uint16_t>(*p).load(std::memory_order_acquire);
}

std::optional<Chain> Virtqueue::pop(const GuestMemory& mem) {
    if (!ready_) return std::nullopt;
    const uint16_t n = layout_.size;
    uint16_t avail_idx = load_avail_idx(mem);
    uint16_t pending = static_cast<uint16_t>(avail_idx - last_avail_);
    if (pending == 0) return std::nullopt;
    if (pending > n)
        throw VirtioError("available index " + std::to_string(avail_idx) + " is " +
                          std::to_string(pending) + " entries ahead of a queue of " +
                          std::to_string(n));
    uint16_t head;
    std::memcpy(&head, mem.translate(layout_.avail + 4 + 2ull * (last_avail_ % n), 2), 2);
    if (head >= n)
        throw VirtioError("chain head " + std::to_string(head) + " outside a queue of " +
                          std::to_string(n));

    Chain chain;
    chain.head = head;
    uint64_t total = 0;
    uint16_t idx = head;
    for (uint32_t count = 0;; ++count) {
        if (count >= n)
            throw VirtioError("descriptor chain from " + std::to_string(head) +
                              " is longer than the queue (a loop?)");
        Desc d;
        std::memcpy(&d, mem.translate(layout_.desc + kDescSize * idx, kDescSize), kDescSize);
        if (d.flags & kDescFIndirect)
            throw VirtioError("indirect descriptor " + std::to_string(idx) + " not negotiated");
        if (!mem.contains(d.addr, d.len))
            throw VirtioError("descriptor " + std::to_string(idx) + " buffer " + hex(d.addr) + "+" +
                              std::to_string(d.len) + " outside guest RAM");
        bool writable = d.flags & kDescFWrite;
        if (!writable && chain.writable_bytes > 0)
            throw VirtioError("device-readable descriptor " + std::to_string(idx) +
                              " follows a device-writable one");
        total += d.len;
        if (total > max_chain_bytes_)
            throw VirtioError("descriptor chain from " + std::to_string(head) + " exceeds " +
                              std::to_string(max_chain_bytes_) + " bytes");
        chain.segments.push_back({d.addr, d.len, writable});
        (writable ? chain.writable_bytes : chain.readable_bytes) += d.len;
        if (!(d.flags & kDescFNext)) break;
        if (d.next >= n)
            throw VirtioError("descriptor " + std::to_string(idx) + " links to " +
                              std::to_string(d.next) + " outside a queue of " + std::to_string(n));
        idx = d.next;
    }
    ++last_avail_;
    return chain;
}

void Virtqueue::push(GuestMemory& mem, uint16_t head, uint32_t written) {
    if (!ready_) return;
    const uint16_t n = layout_.size;
    uint64_t elem = layout_.used + 4 + 8ull * (used_idx_ % n);
    uint32_t e[2] = {head, written};
    mem.write(elem, e, sizeof e);
    ++used_idx_;
    uint64_t idx_gpa = layout_.used + 2;
    mem.record_vmm_write(idx_gpa, 2);
    auto* p = reinterpret_cast<uint16_t*>(mem.translate(idx_gpa, 2));
    std::atomic_ref<uint16_t>(*p).store(used_idx_, std::memory_order_release);
    // Logged again after the store: a scan between the first log entry and
    // the store would otherwise hash the old index and never look again.
    mem.record_vmm_write(idx_gpa, 2);
}

} // namespace foldvm::virtio
