#include "i8042.hpp"

namespace foldvm {

namespace {

// Status register bits.
constexpr uint8_t kStatusOutputFull = 0x01, kStatusSystem = 0x04, kStatusCommand = 0x08,
                  kStatusUnlocked = 0x10;
// Configuration byte bits.
constexpr uint8_t kConfigKeyboardIrq = 0x01, kConfigKeyboardOff = 0x10, kConfigAuxOff = 0x20;
// Controller commands.
constexpr uint8_t kReadConfig = 0x20, kWriteConfig = 0x60, kAuxDisable = 0xa7, kAuxEnable = 0xa8,
                  kAuxTest = 0xa9, kSelfTest = 0xaa, kKeyboardTest = 0xab, kKeyboardDisable = 0xad,
                  kKeyboardEnable = 0xae, kReadInput = 0xc0, kReadOutputPort = 0xd0,
                  kWriteOutputPort = 0xd1, kWriteKeyboardBuffer = 0xd2, kWriteAuxBuffer = 0xd3,
                  kWriteAux = 0xd4;
// Keyboard replies.
constexpr uint8_t kAck = 0xfa, kSelfTestPassed = 0xaa, kKeyboardReset = 0xff,
                  kKeyboardIdentify = 0xf2;
constexpr size_t kOutputLimit = 16;

} // namespace

IoResult I8042::on_port_io(uint16_t port, bool is_write, uint8_t* data, uint32_t size) {
    if (size == 0) return IoResult::cont();
    if (!is_write) {
        data[0] = port == kCommandPort ? read_status() : read_data();
        for (uint32_t i = 1; i < size; ++i)
            data[i] = 0;
        return IoResult::cont();
    }
    bool reset = port == kCommandPort ? write_command(data[0]) : write_data(data[0]);
    return reset ? IoResult::exit(0) : IoResult::cont();
}

uint8_t I8042::read_status() {
    std::lock_guard lock(mutex_);
    uint8_t s = kStatusSystem | kStatusUnlocked;
    if (!output_.empty()) s |= kStatusOutputFull;
    if (last_was_command_) s |= kStatusCommand;
    return s;
}

uint8_t I8042::read_data() {
    std::lock_guard lock(mutex_);
    if (output_.empty()) return 0;
    uint8_t v = output_.front();
    output_.pop_front();
    return v;
}

bool I8042::write_command(uint8_t command) {
    std::lock_guard lock(mutex_);
    last_was_command_ = true;
    pending_ = 0;
    if (output_.size() >= kOutputLimit) output_.clear(); // a guest that never reads
    switch (command) {
    case kReadConfig:
        push_controller(config_);
        break;
    case kWriteConfig:
    case kWriteOutputPort:
    case kWriteKeyboardBuffer:
    case kWriteAuxBuffer:
    case kWriteAux:
        pending_ = command;
        break;
    case kAuxDisable:
        config_ |= kConfigAuxOff;
        break;
    case kAuxEnable:
        config_ &= static_cast<uint8_t>(~kConfigAuxOff);
        break;
    case kAuxTest:
        push_controller(0xff);
        break; // no mouse port
    case kSelfTest:
        push_controller(0x55);
        break;
    case kKeyboardTest:
        push_controller(0x00);
        break;
    case kKeyboardDisable:
        config_ |= kConfigKeyboardOff;
        break;
    case kKeyboardEnable:
        config_ &= static_cast<uint8_t>(~kConfigKeyboardOff);
        break;
    case kReadInput:
        push_controller(0x00);
        break;
    case kReadOutputPort:
        push_controller(output_port_);
        break;
    case kResetCommand:
        return true;
    default:
        break; // unknown or LED/pulse commands: ignored
    }
    return false;
}

bool I8042::write_data(uint8_t value) {
    std::lock_guard lock(mutex_);
    last_was_command_ = false;
    if (output_.size() >= kOutputLimit) output_.clear();
    uint8_t pending = pending_;
    pending_ = 0;
    switch (pending) {
    case kWriteConfig:
        config_ = value;
        return false;
    case kWriteOutputPort:
        output_port_ = value;
        return !(value & 0x01); // bit 0 is the CPU reset line, active low
    case kWriteKeyboardBuffer:
        push_keyboard(value);
        return false;
    case kWriteAuxBuffer:
    case kWriteAux:
        return false; // no mouse
    default:
        break;
    }
    // A byte for the keyboard itself: acknowledge, and answer the two
    // commands whose replies drivers wait for.
    push_keyboard(kAck);
    if (value == kKeyboardReset) push_keyboard(kSelfTestPassed);
    if (value == kKeyboardIdentify) {
        push_keyboard(0xab);
        push_keyboard(0x83);
    }
    return false;
}

void I8042::push_keyboard(uint8_t v) {
    output_.push_back(v);
    if ((config_ & kConfigKeyboardIrq) && keyboard_irq_) keyboard_irq_();
}

} // namespace foldvm
