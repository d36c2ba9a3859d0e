#include "block.hpp"

#include "virtio_spec.hpp"

#include "vmm/memory/guest_memory.hpp"

#include <algorithm>
#include <cstddef>
#include <cstring>
#include <vector>

namespace foldvm {

using namespace virtio;
using namespace virtio::blk;

namespace {

constexpr uint32_t kConfigBytes = 60;

// The guest buffers holding bytes [offset, offset + len) of the chain's
// device-readable (or device-writable) part, in order.
std::vector<Segment> slice(const Chain& chain, bool writable, uint64_t offset, uint64_t len) {
    std::vector<Segment> out;
    for (const Segment& s : chain.segments) {
        if (s.writable != writable || len == 0) continue;
        if (offset >= s.len) {
            offset -= s.len;
            continue;
        }
        uint64_t take = std::min<uint64_t>(s.len - offset, len);
        out.push_back({s.gpa + offset, static_cast<uint32_t>(take), writable});
        offset = 0;
        len -= take;
    }
    return out;
}

uint8_t* host(const GuestMemory& mem, const Segment& s) {
    uint8_t* p = mem.translate(s.gpa, s.len);
    if (!p) throw VirtioError("virtio-blk buffer outside guest RAM"); // pop() checked it
    return p;
}

} // namespace

BlockDevice::BlockDevice(const BlockConfig& config)
    : config_(config), image_(config.path, config.read_only),
      capacity_(image_.size() / kSectorSize) {
    check_drive_id(config.id);
    static_assert(offsetof(Config, unused1) + sizeof(Config::unused1) == kConfigBytes);
    space_.capacity = capacity_;
    space_.seg_max = kSegMax;
    space_.blk_size = kSectorSize;
    space_.num_queues = 1;
    counters_.capacity_sectors = capacity_;
}

BlockStats BlockDevice::stats() const {
    auto lock = ctx_->lock();
    BlockStats s = counters_;
    uint32_t status = ctx_->device_status();
    s.driver_ok = status & kDriverOk;
    s.needs_reset = status & kDeviceNeedsReset;
    s.device_error = ctx_->device_error();
    return s;
}

uint32_t BlockDevice::device_id() const {
    return kDeviceIdBlock;
}

uint64_t BlockDevice::device_features() const {
    uint64_t f = kFVersion1 | kFFlush | kFSegMax | kFBlkSize;
    if (config_.read_only) f |= kFRo;
    return f;
}

uint16_t BlockDevice::queue_max_size(uint32_t index, uint64_t) const {
    return index == 0 ? kQueueSize : 0;
}

uint32_t BlockDevice::config_size() const {
    return kConfigBytes;
}

void BlockDevice::read_config(uint32_t offset, uint8_t* data, uint32_t size) {
    std::memcpy(data, reinterpret_cast<const uint8_t*>(&space_) + offset, size);
}

void BlockDevice::activate(uint64_t features) {
    features_ = features;
    active_ = true;
}

void BlockDevice::reset() {
    features_ = 0;
    active_ = false;
}

void BlockDevice::queue_notify(uint32_t index) {
    if (active_ && index == 0) process_queue();
}

void BlockDevice::service() {
    if (active_) process_queue();
}

void BlockDevice::process_queue() {
    Virtqueue& q = ctx_->queue(0);
    if (!q.ready()) return; // stopped since service was requested
    GuestMemory& mem = ctx_->memory();
    uint64_t bytes = 0;
    bool pushed = false;
    try {
        for (uint32_t chains = 0;; ++chains) {
            if (chains >= q.layout().size || bytes >= kBytesPerRound) {
                // Bounded work per exit; the rest at the driver's next access.
                ctx_->request_service();
                break;
            }
            auto chain = q.pop(mem);
            if (!chain) break;
            uint32_t used = handle(*chain);
            q.push(mem, chain->head, used);
            pushed = true;
            bytes += chain->readable_bytes + chain->writable_bytes;
        }
    } catch (...) {
        if (pushed) ctx_->signal_used(); // completed requests still complete
        throw;
    }
    if (pushed) ctx_->signal_used();
}

uint32_t BlockDevice::handle(const Chain& chain) {
    if (chain.readable_bytes < kHeaderBytes)
        throw VirtioError("virtio-blk request has " + std::to_string(chain.readable_bytes) +
                          " device-readable bytes, less than its 16-byte header");
    if (chain.writable_bytes == 0)
        throw VirtioError("virtio-blk request has no device-writable status byte");
    GuestMemory& mem = ctx_->memory();
    uint8_t header[kHeaderBytes];
    size_t at = 0;
    for (const Segment& s : slice(chain, false, 0, kHeaderBytes)) {
        mem.read(s.gpa, header + at, s.len);
        at += s.len;
    }
    uint32_t type;
    uint64_t sector;
    std::memcpy(&type, header, 4);
    std::memcpy(&sector, header + 8, 8);
    const uint64_t out_data = chain.readable_bytes - kHeaderBytes; // driver -> device
    const uint64_t in_data = chain.writable_bytes - 1;             // device -> driver
    auto no_out_data = [&](const char* what) {
        if (out_data)
            throw VirtioError(std::string("virtio-blk ") + what + " request carries " +
                              std::to_string(out_data) + " device-readable data bytes");
    };

    Outcome r;
    switch (type) {
    case kTIn:
        no_out_data("IN");
        r = do_read(chain, sector, in_data);
        break;
    case kTOut:
        if (in_data)
            throw VirtioError("virtio-blk OUT request has " + std::to_string(in_data) +
                              " device-writable bytes besides its status");
        r = do_write(chain, sector, out_data);
        break;
    case kTFlush:
        r = do_flush(); // stray data buffers are tolerated and ignored
        break;
    case kTGetId:
        no_out_data("GET_ID");
        r = do_get_id(chain, in_data);
        break;
    default:
        r = {kSUnsupp, 0};
        break;
    }
    if (r.status == kSIoErr) ++counters_.io_errors;
    if (r.status == kSUnsupp) ++counters_.unsupported;
    Segment status = slice(chain, true, in_data, 1).front();
    mem.write(status.gpa, &r.status, 1);
    // Bytes written from the start of the writable part: the status byte
    // counts only when the data before it was written in full.
    uint64_t used = r.data_written + (r.data_written == in_data ? 1 : 0);
    return static_cast<uint32_t>(std::min<uint64_t>(used, UINT32_MAX));
}

bool BlockDevice::in_range(uint64_t sector, uint64_t len) const {
    return len % kSectorSize == 0 && sector <= capacity_ && len / kSectorSize <= capacity_ - sector;
}

BlockDevice::Outcome BlockDevice::do_read(const Chain& chain, uint64_t sector, uint64_t len) {
    ++counters_.reads;
    if (!in_range(sector, len)) return {kSIoErr, 0};
    GuestMemory& mem = ctx_->memory();
    auto segments = slice(chain, true, 0, len);
    std::vector<iovec> iov;
    for (const Segment& s : segments) {
        // Logged before the kernel writes, so the dedup scanner cannot miss
        // it, and after, in case it hashed the page mid-read (like write()).
        mem.record_vmm_write(s.gpa, s.len);
        iov.push_back({host(mem, s), s.len});
    }
    uint64_t done = image_.read(iov, sector * kSectorSize);
    for (const Segment& s : segments)
        mem.record_vmm_write(s.gpa, s.len);
    counters_.read_bytes += done;
    return {done == len ? kSOk : kSIoErr, done};
}

BlockDevice::Outcome BlockDevice::do_write(const Chain& chain, uint64_t sector, uint64_t len) {
    ++counters_.writes;
    if (image_.read_only() || !in_range(sector, len)) return {kSIoErr, 0};
    GuestMemory& mem = ctx_->memory();
    std::vector<iovec> iov;
    for (const Segment& s : slice(chain, false, kHeaderBytes, len))
        iov.push_back({host(mem, s), s.len});
    uint64_t done = image_.write(iov, sector * kSectorSize);
    counters_.write_bytes += done;
    if (done != len) return {kSIoErr, 0};
    // A driver without FLUSH assumes a write-through device (Linux does).
    if (!(features_ & kFFlush) && !image_.flush()) return {kSIoErr, 0};
    return {kSOk, 0};
}

BlockDevice::Outcome BlockDevice::do_flush() {
    if (!(features_ & kFFlush)) return {kSUnsupp, 0};
    ++counters_.flushes;
    return {image_.flush() ? kSOk : kSIoErr, 0};
}

BlockDevice::Outcome BlockDevice::do_get_id(const Chain& chain, uint64_t len) {
    ++counters_.get_ids;
    // Up to 20 bytes, NUL-padded (no terminator when the id fills all 20).
    uint8_t serial[kDriveIdBytes] = {};
    std::memcpy(serial, config_.id.data(), std::min(config_.id.size(), kDriveIdBytes));
    uint64_t n = std::min<uint64_t>(len, kDriveIdBytes);
    GuestMemory& mem = ctx_->memory();
    size_t at = 0;
    for (const Segment& s : slice(chain, true, 0, n)) {
        mem.write(s.gpa, serial + at, s.len);
        at += s.len;
    }
    return {kSOk, n};
}

} // namespace foldvm
