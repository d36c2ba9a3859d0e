#include "mmio_transport.hpp"

#include "virtio_spec.hpp"

#include <chrono>
#include <cstring>
#include <thread>

namespace foldvm::virtio {

using namespace mmio;

MmioTransport::MmioTransport(GuestMemory& memory, std::shared_ptr<VirtioDevice> device,
                             std::function<void()> interrupt, std::function<void()> vcpu_wait)
    : memory_(memory), device_(std::move(device)), interrupt_(std::move(interrupt)),
      vcpu_wait_(std::move(vcpu_wait)) {
    device_->attach(*this);
}

MmioTransport::~MmioTransport() {
    device_->detach();
    std::lock_guard lock(mutex_);
    device_->reset();
}

uint32_t MmioTransport::status() const {
    std::lock_guard lock(mutex_);
    return status_;
}

uint64_t MmioTransport::driver_features() const {
    std::lock_guard lock(mutex_);
    return driver_features_;
}

std::string MmioTransport::last_error() const {
    std::lock_guard lock(mutex_);
    return last_error_;
}

uint64_t MmioTransport::error_count() const {
    std::lock_guard lock(mutex_);
    return errors_;
}

std::unique_lock<std::mutex> MmioTransport::lock_from_vcpu() {
    std::unique_lock lock(mutex_, std::try_to_lock);
    if (lock.owns_lock()) return lock;
    if (!vcpu_wait_) {
        lock.lock();
        return lock;
    }
    // The holder may be a vCPU parked for a pause that waits for us too.
    while (!lock.try_lock()) {
        vcpu_wait_();
        std::this_thread::sleep_for(std::chrono::microseconds(50));
    }
    return lock;
}

void MmioTransport::mmio_read(uint64_t offset, uint8_t* data, uint32_t size) {
    auto lock = lock_from_vcpu();
    run_service();
    std::memset(data, 0, size);
    if (offset >= kConfig) {
        uint64_t off = offset - kConfig;
        if ((size == 1 || size == 2 || size == 4 || size == 8) &&
            off + size <= device_->config_size())
            device_->read_config(static_cast<uint32_t>(off), data, size);
        return;
    }
    if (size != 4 || offset % 4) return; // registers are 32-bit, aligned
    uint32_t v = read_register(offset);
    std::memcpy(data, &v, 4);
}

void MmioTransport::mmio_write(uint64_t offset, const uint8_t* data, uint32_t size) {
    auto lock = lock_from_vcpu();
    run_service();
    if (offset >= kConfig) {
        uint64_t off = offset - kConfig;
        if ((size == 1 || size == 2 || size == 4 || size == 8) &&
            off + size <= device_->config_size() && !(status_ & kDeviceNeedsReset))
            guarded([&] { device_->write_config(static_cast<uint32_t>(off), data, size); });
        return;
    }
    if (size != 4 || offset % 4) return;
    uint32_t v;
    std::memcpy(&v, data, 4);
    write_register(offset, v);
}

Virtqueue* MmioTransport::selected_queue() {
    if (queue_sel_ >= kMaxQueues) return nullptr;
    uint64_t features = status_ & kFeaturesOk ? driver_features_ : device_->device_features();
    if (device_->queue_max_size(queue_sel_, features) == 0) return nullptr;
    return &queues_[queue_sel_];
}

uint32_t MmioTransport::read_register(uint64_t offset) {
    Virtqueue* q = selected_queue();
    switch (offset) {
    case kMagicValue:
        return kMagic;
    case kVersionReg:
        return kVersion;
    case kDeviceId:
        return device_->device_id();
    case kVendorIdReg:
        return kVendorId;
    case kDeviceFeatures: {
        uint64_t f = device_->device_features();
        return device_features_sel_ == 0   ? static_cast<uint32_t>(f)
               : device_features_sel_ == 1 ? static_cast<uint32_t>(f >> 32)
                                           : 0;
    }
    case kQueueNumMax: {
        if (!q) return 0;
        uint64_t features = status_ & kFeaturesOk ? driver_features_ : device_->device_features();
        return device_->queue_max_size(queue_sel_, features);
    }
    case kQueueNum:
        return q ? q->layout().size : 0;
    case kQueueReady:
        return q && q->ready() ? 1 : 0;
    case kInterruptStatus:
        return interrupt_status_;
    case kStatus:
        return status_;
    case kQueueDescLow:
        return q ? static_cast<uint32_t>(q->layout().desc) : 0;
    case kQueueDescHigh:
        return q ? static_cast<uint32_t>(q->layout().desc >> 32) : 0;
    case kQueueDriverLow:
        return q ? static_cast<uint32_t>(q->layout().avail) : 0;
    case kQueueDriverHigh:
        return q ? static_cast<uint32_t>(q->layout().avail >> 32) : 0;
    case kQueueDeviceLow:
        return q ? static_cast<uint32_t>(q->layout().used) : 0;
    case kQueueDeviceHigh:
        return q ? static_cast<uint32_t>(q->layout().used >> 32) : 0;
    case kShmLenLow:
    case kShmLenHigh:
    case kShmBaseLow:
    case kShmBaseHigh:
        return 0xffffffff; // no shared memory regions
    case kConfigGeneration:
        return config_generation_;
    default:
        return 0;
    }
}

void MmioTransport::write_register(uint64_t offset, uint32_t value) {
    auto set_low = [](uint64_t& field, uint32_t v) { field = (field & ~0xffffffffull) | v; };
    auto set_high = [](uint64_t& field, uint32_t v) {
        field = (field & 0xffffffffull) | uint64_t(v) << 32;
    };
    Virtqueue* q = selected_queue();
    // Queue layout registers only change while the queue is stopped.
    QueueLayout* layout = q && !q->ready() ? &q->layout() : nullptr;
    switch (offset) {
    case kDeviceFeaturesSel:
        device_features_sel_ = value;
        break;
    case kDriverFeatures:
        if (status_ & kFeaturesOk) break; // frozen once accepted
        if (driver_features_sel_ == 0) set_low(driver_features_, value);
        if (driver_features_sel_ == 1) set_high(driver_features_, value);
        break;
    case kDriverFeaturesSel:
        driver_features_sel_ = value;
        break;
    case kQueueSel:
        queue_sel_ = value;
        break;
    case kQueueNum:
        if (layout) layout->size = value > kMaxQueueSize ? 0 : static_cast<uint16_t>(value);
        break;
    case kQueueDescLow:
        if (layout) set_low(layout->desc, value);
        break;
    case kQueueDescHigh:
        if (layout) set_high(layout->desc, value);
        break;
    case kQueueDriverLow:
        if (layout) set_low(layout->avail, value);
        break;
    case kQueueDriverHigh:
        if (layout) set_high(layout->avail, value);
        break;
    case kQueueDeviceLow:
        if (layout) set_low(layout->used, value);
        break;
    case kQueueDeviceHigh:
        if (layout) set_high(layout->used, value);
        break;
    case kQueueReady:
        if (!q || (status_ & kDeviceNeedsReset)) break;
        if (value == 0) {
            q->reset();
        } else if (!q->ready()) {
            if (!(status_ & kFeaturesOk)) {
                fail("queue " + std::to_string(queue_sel_) + " enabled before FEATURES_OK");
                break;
            }
            uint16_t max = device_->queue_max_size(queue_sel_, driver_features_);
            guarded([&] { q->enable(memory_, max); });
        }
        break;
    case kQueueNotify:
        if ((status_ & kDriverOk) && !(status_ & kDeviceNeedsReset) && value < kMaxQueues &&
            queues_[value].ready())
            guarded([&] { device_->queue_notify(value); });
        break;
    case kInterruptAck:
        interrupt_status_ &= ~value;
        break;
    case kStatus:
        write_status(value);
        break;
    default:
        break; // read-only or unknown registers: ignored
    }
}

void MmioTransport::write_status(uint32_t value) {
    if (value == 0) {
        reset_locked();
        return;
    }
    uint32_t added = value & ~status_ & ~uint32_t(kDeviceNeedsReset);
    if (added & kFeaturesOk) {
        uint64_t offered = device_->device_features();
        bool ok = (driver_features_ & ~offered) == 0 && (driver_features_ & kFVersion1) &&
                  !(status_ & kDriverOk);
        if (!ok) added &= ~uint32_t(kFeaturesOk); // the driver sees it did not stick
    }
    bool activate = false;
    if (added & kDriverOk) {
        if (!((status_ | added) & kFeaturesOk)) {
            fail("DRIVER_OK set before FEATURES_OK");
            added &= ~uint32_t(kDriverOk);
        } else {
            activate = true;
        }
    }
    status_ |= added;
    if (activate) guarded([&] { device_->activate(driver_features_); });
}

void MmioTransport::reset_locked() {
    device_->reset();
    for (auto& q : queues_)
        q.reset();
    status_ = 0;
    device_features_sel_ = driver_features_sel_ = queue_sel_ = 0;
    driver_features_ = 0;
    interrupt_status_ = 0;
    service_requested_ = false;
}

void MmioTransport::fail(const std::string& why) {
    status_ |= kDeviceNeedsReset;
    last_error_ = why;
    ++errors_;
    if (status_ & kDriverOk) {
        interrupt_status_ |= kInterruptConfig;
        if (interrupt_) interrupt_();
    }
}

template <typename F> void MmioTransport::guarded(F&& call) {
    try {
        call();
    } catch (const VirtioError& e) {
        fail(e.what());
    } catch (const std::exception& e) {
        fail(std::string("device error: ") + e.what());
    }
}

void MmioTransport::run_service() {
    if (!service_requested_.exchange(false)) return;
    if ((status_ & kDriverOk) && !(status_ & kDeviceNeedsReset))
        guarded([&] { device_->service(); });
}

void MmioTransport::signal_used() {
    interrupt_status_ |= kInterruptVring;
    if (interrupt_) interrupt_();
}

void MmioTransport::signal_config() {
    ++config_generation_;
    if (!(status_ & kDriverOk)) return;
    interrupt_status_ |= kInterruptConfig;
    if (interrupt_) interrupt_();
}

void MmioTransport::request_service() {
    service_requested_ = true;
    if (interrupt_) interrupt_();
}

} // namespace foldvm::virtio
