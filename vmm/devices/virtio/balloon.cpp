#include "balloon.hpp"

#include "virtio_spec.hpp"

#include "common/error.hpp"
#include "vmm/memory/guest_memory.hpp"

#include <algorithm>
#include <cstring>

namespace foldvm {

using namespace virtio;
using namespace virtio::balloon;

namespace {

constexpr uint64_t kStatEntryBytes = VIRTIO_BALLOON_STAT_SIZE; // le16 tag + le64 value, packed
constexpr uint64_t kMaxStatsBytes = 64 * 1024;

} // namespace

const char* virtio::balloon::stat_name(uint16_t tag) {
    static const char* const names[] = {
        "swap_in",          "swap_out",    "major_faults",
        "minor_faults",     "free_memory", "total_memory",
        "available_memory", "disk_caches", "hugetlb_allocations",
        "hugetlb_failures", "oom_kill",    "alloc_stall",
        "async_scan",       "direct_scan", "async_reclaim",
        "direct_reclaim",
    };
    static_assert(std::size(names) == VIRTIO_BALLOON_S_NR);
    return tag < std::size(names) ? names[tag] : nullptr;
}

BalloonDevice::BalloonDevice(const BalloonConfig& config, uint64_t guest_mem_bytes)
    : ram_bytes_(guest_mem_bytes), ram_pages_(guest_mem_bytes >> kPfnShift), config_(config) {
    config_.validate(guest_mem_bytes);
    space_.num_pages = static_cast<uint32_t>(config_.amount_mib << (20 - kPfnShift));
    timer_interval_s_ = config_.stats_polling_interval_s;
}

BalloonDevice::~BalloonDevice() {
    detach();
}

void BalloonDevice::attach(VirtioContext& ctx) {
    ctx_ = &ctx;
    if (config_.stats_polling_interval_s > 0) timer_ = std::thread([this] { timer_main(); });
}

void BalloonDevice::detach() {
    {
        std::lock_guard lock(timer_mutex_);
        timer_stop_ = true;
    }
    timer_cv_.notify_all();
    if (timer_.joinable()) timer_.join();
}

// --- control API ---

void BalloonDevice::set_target_mib(uint64_t amount_mib) {
    BalloonConfig next = config();
    next.amount_mib = amount_mib;
    next.validate(ram_bytes_);
    auto lock = ctx_->lock();
    config_.amount_mib = amount_mib;
    space_.num_pages = static_cast<uint32_t>(amount_mib << (20 - kPfnShift));
    ctx_->signal_config();
}

void BalloonDevice::set_stats_polling_interval(uint32_t seconds) {
    {
        auto lock = ctx_->lock();
        if (config_.stats_polling_interval_s == 0 && seconds != 0)
            throw InvalidInput("balloon statistics were not enabled at boot "
                               "(stats_polling_interval_s was 0)");
        if (config_.stats_polling_interval_s != 0 && seconds == 0)
            throw InvalidInput("balloon statistics cannot be disabled after boot");
        BalloonConfig next = config_;
        next.stats_polling_interval_s = seconds;
        next.validate(ram_bytes_);
        config_ = next;
    }
    {
        std::lock_guard lock(timer_mutex_);
        timer_interval_s_ = seconds;
    }
    timer_cv_.notify_all();
}

BalloonConfig BalloonDevice::config() const {
    auto lock = ctx_->lock();
    return config_;
}

BalloonStats BalloonDevice::stats() const {
    auto lock = ctx_->lock();
    BalloonStats s;
    s.target_pages = space_.num_pages;
    s.actual_pages = space_.actual;
    s.target_mib = uint64_t(space_.num_pages) >> (20 - kPfnShift);
    s.actual_mib = uint64_t(space_.actual) >> (20 - kPfnShift);
    s.guest = guest_stats_;
    if (have_stats_)
        s.stats_age_s =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - stats_time_).count();
    s.inflated_pages = inflated_;
    s.deflated_pages = deflated_;
    s.reported_pages = reported_;
    s.invalid_pfns = invalid_;
    uint32_t status = ctx_->device_status();
    s.driver_ok = status & kDriverOk;
    s.needs_reset = status & kDeviceNeedsReset;
    s.device_error = ctx_->device_error();
    return s;
}

// --- VirtioDevice ---

uint32_t BalloonDevice::device_id() const {
    return kDeviceIdBalloon;
}

uint64_t BalloonDevice::device_features() const {
    uint64_t f = kFVersion1;
    if (config_.stats_polling_interval_s > 0) f |= kFStatsVq;
    if (config_.deflate_on_oom) f |= kFDeflateOnOom;
    if (config_.free_page_reporting) f |= kFPageReporting;
    return f;
}

BalloonDevice::Role BalloonDevice::role(uint32_t index, uint64_t features) const {
    // Queues that the features leave out do not take an index (5.5.2).
    Role roles[4];
    uint32_t n = 0;
    roles[n++] = Role::Inflate;
    roles[n++] = Role::Deflate;
    if (features & kFStatsVq) roles[n++] = Role::Stats;
    if (features & kFPageReporting) roles[n++] = Role::Reporting;
    return index < n ? roles[index] : Role::None;
}

uint16_t BalloonDevice::queue_max_size(uint32_t index, uint64_t features) const {
    return role(index, features) == Role::None ? 0 : kQueueSize;
}

void BalloonDevice::read_config(uint32_t offset, uint8_t* data, uint32_t size) {
    std::memcpy(data, reinterpret_cast<const uint8_t*>(&space_) + offset, size);
}

void BalloonDevice::write_config(uint32_t offset, const uint8_t* data, uint32_t size) {
    // Only `actual` belongs to the driver; the rest is the device's.
    Config copy = space_;
    std::memcpy(reinterpret_cast<uint8_t*>(&copy) + offset, data, size);
    space_.actual = copy.actual;
}

void BalloonDevice::activate(uint64_t features) {
    features_ = features;
    active_ = true;
    for (uint32_t i = 0; i < 4; ++i) {
        Role r = role(i, features);
        if (r == Role::None) break;
        Virtqueue& q = ctx_->queue(i);
        if (r == Role::Inflate || r == Role::Deflate)
            q.set_max_chain_bytes(std::max<uint64_t>(ram_pages_ * 4, 4096));
        else if (r == Role::Stats)
            q.set_max_chain_bytes(kMaxStatsBytes);
        else
            q.set_max_chain_bytes(ram_bytes_);
    }
}

void BalloonDevice::reset() {
    active_ = false;
    features_ = 0;
    stats_head_.reset();
    stats_due_ = false;
    space_.actual = 0;
}

void BalloonDevice::queue_notify(uint32_t index) {
    if (!active_) return;
    Virtqueue& q = ctx_->queue(index);
    switch (role(index, features_)) {
    case Role::Inflate:
        handle_pfns(q, true);
        break;
    case Role::Deflate:
        handle_pfns(q, false);
        break;
    case Role::Stats:
        handle_stats(q);
        break;
    case Role::Reporting:
        handle_reports(q);
        break;
    case Role::None:
        break;
    }
}

void BalloonDevice::discard_run(uint64_t first_pfn, uint64_t count) {
    ctx_->memory().discard(first_pfn << kPfnShift, count << kPfnShift);
    inflated_ += count;
}

void BalloonDevice::handle_pfns(Virtqueue& q, bool inflate) {
    GuestMemory& mem = ctx_->memory();
    // Bounded work per notification: at most a queue's worth of chains and
    // about two RAMs' worth of PFNs; the rest waits for the next notification.
    uint64_t budget = 2 * ram_pages_ + 1024;
    bool pushed = false;
    for (uint32_t chains = 0; chains < q.layout().size && budget > 0; ++chains) {
        auto chain = q.pop(mem);
        if (!chain) break;
        if (chain->writable_bytes)
            throw VirtioError(std::string(inflate ? "inflate" : "deflate") +
                              " buffer has device-writable descriptors");
        uint64_t run_first = 0, run_len = 0;
        for (const Segment& seg : chain->segments) {
            const uint8_t* p = mem.translate(seg.gpa, seg.len);
            uint64_t n = seg.len / 4;
            budget -= std::min(budget, n);
            for (uint64_t i = 0; i < n; ++i) {
                uint32_t pfn;
                std::memcpy(&pfn, p + 4 * i, 4);
                if (pfn >= ram_pages_) {
                    ++invalid_;
                    continue;
                }
                if (!inflate) {
                    ++deflated_; // nothing to undo: the page faults back as zeros
                    continue;
                }
                if (run_len && pfn == run_first + run_len) {
                    ++run_len;
                    continue;
                }
                if (run_len) discard_run(run_first, run_len);
                run_first = pfn;
                run_len = 1;
            }
        }
        // Released before the driver sees the buffer back, so a deflate that
        // follows can never race the release.
        if (run_len) discard_run(run_first, run_len);
        q.push(mem, chain->head, 0);
        pushed = true;
    }
    if (pushed) ctx_->signal_used();
}

void BalloonDevice::handle_stats(Virtqueue& q) {
    GuestMemory& mem = ctx_->memory();
    bool pushed = false;
    for (uint32_t chains = 0; chains < q.layout().size; ++chains) {
        auto chain = q.pop(mem);
        if (!chain) break;
        if (chain->writable_bytes)
            throw VirtioError("statistics buffer has device-writable descriptors");
        std::vector<uint8_t> bytes;
        for (const Segment& seg : chain->segments) {
            const uint8_t* p = mem.translate(seg.gpa, seg.len);
            bytes.insert(bytes.end(), p, p + seg.len);
        }
        for (size_t off = 0; off + kStatEntryBytes <= bytes.size(); off += kStatEntryBytes) {
            uint16_t tag;
            uint64_t value;
            std::memcpy(&tag, bytes.data() + off, 2);
            std::memcpy(&value, bytes.data() + off + 2, 8);
            if (const char* name = stat_name(tag)) guest_stats_[name] = value;
        }
        have_stats_ = true;
        stats_time_ = std::chrono::steady_clock::now();
        // One buffer is held until the next request; an extra one goes back.
        if (stats_head_) {
            q.push(mem, *stats_head_, 0);
            pushed = true;
        }
        stats_head_ = chain->head;
    }
    if (pushed) ctx_->signal_used();
}

void BalloonDevice::handle_reports(Virtqueue& q) {
    GuestMemory& mem = ctx_->memory();
    bool pushed = false;
    for (uint32_t chains = 0; chains < q.layout().size; ++chains) {
        auto chain = q.pop(mem);
        if (!chain) break;
        if (chain->readable_bytes)
            throw VirtioError("free page report has device-readable descriptors");
        for (const Segment& seg : chain->segments) {
            // Only whole pages inside the reported range are released.
            uint64_t first = (seg.gpa + (1u << kPfnShift) - 1) >> kPfnShift;
            uint64_t end = (seg.gpa + seg.len) >> kPfnShift;
            if (end <= first) continue;
            mem.discard(first << kPfnShift, (end - first) << kPfnShift);
            reported_ += end - first;
        }
        q.push(mem, chain->head, 0);
        pushed = true;
    }
    if (pushed) ctx_->signal_used();
}

void BalloonDevice::service() {
    if (!stats_due_) return;
    stats_due_ = false;
    if (!active_ || !(features_ & kFStatsVq) || !stats_head_) return;
    Virtqueue& q = ctx_->queue(2); // statsq follows inflateq and deflateq
    q.push(ctx_->memory(), *stats_head_, 0);
    stats_head_.reset();
    ctx_->signal_used();
}

void BalloonDevice::timer_main() {
    std::unique_lock lock(timer_mutex_);
    while (!timer_stop_) {
        uint32_t interval = timer_interval_s_;
        if (interval == 0) {
            timer_cv_.wait(lock, [&] { return timer_stop_ || timer_interval_s_ != 0; });
            continue;
        }
        if (timer_cv_.wait_for(lock, std::chrono::seconds(interval),
                               [&] { return timer_stop_ || timer_interval_s_ != interval; }))
            continue;
        lock.unlock();
        {
            // Only flags the request: the buffer is handed back on a vCPU
            // thread, so no device thread writes guest RAM behind a pause.
            auto device_lock = ctx_->lock();
            if (active_ && (features_ & kFStatsVq) && stats_head_) {
                stats_due_ = true;
                ctx_->request_service();
            }
        }
        lock.lock();
    }
}

} // namespace foldvm
