#include "serial8250.hpp"

namespace foldvm {

namespace {

// Register offsets and bits (National Semiconductor PC16550D data sheet).
constexpr uint8_t kRbrThr = 0, kIer = 1, kIirFcr = 2, kLcr = 3, kMcr = 4, kLsr = 5, kMsr = 6,
                  kScr = 7;
constexpr uint8_t kIerRdi = 0x01, kIerThri = 0x02;
constexpr uint8_t kIirNoInt = 0x01, kIirThri = 0x02, kIirRdi = 0x04, kIirFifoEnabled = 0xc0;
constexpr uint8_t kFcrEnable = 0x01, kFcrClearRx = 0x02;
constexpr uint8_t kLcrDlab = 0x80;
constexpr uint8_t kMcrLoop = 0x10;
constexpr uint8_t kLsrDr = 0x01, kLsrThre = 0x20, kLsrTemt = 0x40;
constexpr uint8_t kMsrDcd = 0x80, kMsrDsr = 0x20, kMsrCts = 0x10;
constexpr size_t kRxBudget = 64 * 1024;

} // namespace

Serial8250::Serial8250(std::function<void(const char*, size_t)> output,
                       std::function<void(bool)> set_irq)
    : output_(std::move(output)), set_irq_(std::move(set_irq)) {}

IoResult Serial8250::on_port_io(uint16_t port, bool is_write, uint8_t* data, uint32_t size) {
    auto offset = static_cast<uint8_t>(port - kCom1Base);
    // Byte registers; wider accesses touch consecutive registers.
    for (uint32_t i = 0; i < size && offset + i < kPortCount; ++i) {
        if (is_write)
            write(static_cast<uint8_t>(offset + i), data[i]);
        else
            data[i] = read(static_cast<uint8_t>(offset + i));
    }
    return IoResult::cont();
}

void Serial8250::receive(const uint8_t* data, size_t size) {
    std::lock_guard lock(mutex_);
    for (size_t i = 0; i < size && rx_.size() < kRxBudget; ++i)
        rx_.push_back(data[i]);
    update_irq_locked();
}

uint8_t Serial8250::read(uint8_t offset) {
    std::lock_guard lock(mutex_);
    uint8_t v = read_locked(offset);
    update_irq_locked();
    return v;
}

void Serial8250::write(uint8_t offset, uint8_t value) {
    std::lock_guard lock(mutex_);
    write_locked(offset, value);
    update_irq_locked();
}

uint8_t Serial8250::read_locked(uint8_t offset) {
    bool dlab = lcr_ & kLcrDlab;
    switch (offset) {
    case kRbrThr: {
        if (dlab) return dll_;
        if (rx_.empty()) return 0;
        uint8_t c = rx_.front();
        rx_.pop_front();
        return c;
    }
    case kIer:
        return dlab ? dlm_ : ier_;
    case kIirFcr: {
        uint8_t fifo = (fcr_ & kFcrEnable) ? kIirFifoEnabled : 0;
        if ((ier_ & kIerRdi) && !rx_.empty()) return kIirRdi | fifo;
        if ((ier_ & kIerThri) && thre_pending_) {
            thre_pending_ = false; // reading IIR acknowledges THRE
            return kIirThri | fifo;
        }
        return kIirNoInt | fifo;
    }
    case kLcr:
        return lcr_;
    case kMcr:
        return mcr_;
    case kLsr:
        return static_cast<uint8_t>((rx_.empty() ? 0 : kLsrDr) | kLsrThre | kLsrTemt);
    case kMsr:
        if (mcr_ & kMcrLoop) // loopback: outputs wired back to the inputs
            return static_cast<uint8_t>(((mcr_ & 0x01) << 5) | ((mcr_ & 0x02) << 3) |
                                        ((mcr_ & 0x04) << 4) | ((mcr_ & 0x08) << 4));
        return kMsrDcd | kMsrDsr | kMsrCts;
    case kScr:
        return scr_;
    }
    return 0xff;
}

void Serial8250::write_locked(uint8_t offset, uint8_t value) {
    bool dlab = lcr_ & kLcrDlab;
    switch (offset) {
    case kRbrThr:
        if (dlab) {
            dll_ = value;
            return;
        }
        if (mcr_ & kMcrLoop) {
            if (rx_.size() < kRxBudget) rx_.push_back(value);
        } else if (output_) {
            char c = static_cast<char>(value);
            output_(&c, 1);
        }
        thre_pending_ = true;
        return;
    case kIer:
        if (dlab) {
            dlm_ = value;
            return;
        }
        // Enabling THRI while THR is empty raises THRE at once.
        if ((value & kIerThri) && !(ier_ & kIerThri)) thre_pending_ = true;
        ier_ = value & 0x0f;
        return;
    case kIirFcr:
        fcr_ = value & 0xc9;
        if (value & kFcrClearRx) rx_.clear();
        return;
    case kLcr:
        lcr_ = value;
        return;
    case kMcr:
        mcr_ = value & 0x1f;
        return;
    case kScr:
        scr_ = value;
        return;
    default:
        return; // LSR and MSR are read-only
    }
}

void Serial8250::update_irq_locked() {
    bool level = ((ier_ & kIerRdi) && !rx_.empty()) || ((ier_ & kIerThri) && thre_pending_);
    if (level == irq_level_) return;
    irq_level_ = level;
    if (set_irq_) set_irq_(level);
}

} // namespace foldvm
