#include "vm.hpp"

#include "common/error.hpp"
#include "vmm/boot/bzimage.hpp"
#include "vmm/boot/elf_loader.hpp"
#include "vmm/boot/x86_setup.hpp"
#include "vmm/devices/device_manager.hpp"
#include "vmm/devices/legacy/serial8250.hpp"
#include "vmm/hypercall/guest_abi.hpp"
#include "vmm/machine/irq_lines.hpp"

#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>

#include <cstring>

namespace foldvm {

namespace {

constexpr int kKickSignal = SIGUSR2;
constexpr size_t kConsoleHistoryLines = 1000;
constexpr size_t kConsoleLineMax = 4096;

thread_local const void* t_vcpu_owner = nullptr; // the Vm whose vCPU runs on this thread

// KVM_RUN returns EINTR when a kick signal arrives; the handler does nothing.
void install_kick_handler() {
    static std::once_flag once;
    std::call_once(once, [] {
        struct sigaction sa {};
        sa.sa_handler = [](int) {};
        sigemptyset(&sa.sa_mask);
        ::sigaction(kKickSignal, &sa, nullptr);
    });
}

std::string format_hex(const char* name, uint64_t v) {
    char buf[48];
    std::snprintf(buf, sizeof buf, "%-6s=%016llx", name, static_cast<unsigned long long>(v));
    return buf;
}

} // namespace

const char* to_string(VmState s) {
    switch (s) {
    case VmState::Created:
        return "created";
    case VmState::Running:
        return "running";
    case VmState::Paused:
        return "paused";
    case VmState::Exited:
        return "exited";
    case VmState::Crashed:
        return "crashed";
    case VmState::Stopped:
        return "stopped";
    }
    return "unknown";
}

Vm::Vm(Kvm& kvm, VmConfig config, VmEvents events)
    : config_(std::move(config)), events_(std::move(events)), vm_fd_(kvm.create_vm()),
      created_at_(std::chrono::steady_clock::now()) {
    config_.validate();
    linux_ = looks_like_boot_image({config_.image->data(), config_.image->size()});
    install_kick_handler();
    if (linux_) create_linux_platform();
    GuestMemoryOptions mem_opts;
    mem_opts.size = config_.mem_bytes;
    mem_opts.dirty_logging = config_.dirty_logging;
    mem_opts.dirty_ring = config_.dirty_ring;
    memory_ = std::make_unique<GuestMemory>(vm_fd_, mem_opts);
    if (config_.ksm_mergeable &&
        ::madvise(memory_->host_base(), memory_->size(), MADV_MERGEABLE) != 0)
        throw_errno("madvise(MADV_MERGEABLE) on guest RAM");
    // Unikernels poll for device events; Linux takes real interrupts.
    auto interrupt = [this](uint32_t irq) {
        if (irq_lines_)
            irq_lines_->pulse(irq);
        else
            raise_guest_event();
    };
    devices_ = std::make_unique<DeviceManager>(*memory_, mmio_bus_, interrupt,
                                               [this] { yield_to_pause(); });
    if (config_.balloon) devices_->add_balloon(*config_.balloon);
    for (const BlockConfig& drive : config_.drives)
        devices_->add_block(drive);
    if (linux_) {
        boot_linux(kvm);
    } else {
        load_unikernel();
        make_guest_abi(config_.abi)->attach(*this);
    }
}

Vm::~Vm() {
    stop();
    wait();
    devices_.reset(); // stops device threads while the VM is still whole
}

BalloonDevice* Vm::balloon() const {
    return devices_ ? devices_->balloon() : nullptr;
}

void Vm::load_unikernel() {
    std::span<const uint8_t> file(config_.image->data(), config_.image->size());
    uint64_t heap_end = memory_->size();
    if (config_.initrd) {
        uint64_t size = config_.initrd->size();
        if (size == 0 || size > memory_->size() / 2)
            throw InvalidInput("initrd of " + std::to_string(size) +
                               " bytes does not fit in half of guest RAM");
        heap_end = (memory_->size() - size) & ~(kPageSize - 1);
    }
    ElfLimits limits{FOLDVM_IMAGE_MIN_GPA, heap_end};
    ElfImage image = parse_elf(file, limits);
    load_elf(file, image, *memory_);
    build_page_tables_and_gdt(*memory_, devices_->window_base(), devices_->window_size());

    boot_info_.magic = FOLDVM_BOOT_INFO_MAGIC;
    boot_info_.version = FOLDVM_ABI_VERSION;
    boot_info_.ram_size = memory_->size();
    boot_info_.kernel_end = image.end;
    boot_info_.heap_end = heap_end;
    boot_info_.cmdline_gpa = FOLDVM_CMDLINE_GPA;
    boot_info_.cmdline_len = config_.cmdline.size();
    boot_info_.cpl = static_cast<uint32_t>(config_.guest_cpl);
    boot_info_.vm_index = config_.index;
    const auto& devices = devices_->boot_devices();
    boot_info_.device_count = static_cast<uint32_t>(devices.size());
    std::copy(devices.begin(), devices.end(), boot_info_.devices);
    if (config_.initrd) {
        boot_info_.initrd_gpa = heap_end;
        boot_info_.initrd_size = config_.initrd->size();
        memory_->write(heap_end, config_.initrd->data(), config_.initrd->size());
    }
    memory_->write(FOLDVM_CMDLINE_GPA, config_.cmdline.c_str(), config_.cmdline.size() + 1);
    memory_->write(FOLDVM_BOOT_INFO_GPA, &boot_info_, sizeof boot_info_);

    for (int i = 0; i < config_.vcpus; ++i) {
        auto vcpu = std::make_unique<Vcpu>(Vcpu{i, vm_fd_.create_vcpu(i), {}});
        memory_->attach_vcpu(vcpu->fd.fd());
        kvm_sregs sregs = vcpu->fd.get_sregs();
        setup_long_mode_sregs(sregs, config_.guest_cpl);
        vcpu->fd.set_sregs(sregs);
        // Secondary vCPUs start parked in the guest's poll loop is a guest
        // concern; every vCPU enters at the image entry with its index in RSI.
        kvm_regs regs = initial_regs(image.entry, FOLDVM_BOOT_INFO_GPA, config_.guest_cpl);
        regs.rsi = static_cast<uint64_t>(i);
        regs.rsp -= static_cast<uint64_t>(i) * 0x4000; // 16 KiB stack per extra vCPU
        vcpu->fd.set_regs(regs);
        vcpus_.push_back(std::move(vcpu));
    }
}

void Vm::start() {
    VmState expected = VmState::Created;
    if (!state_.compare_exchange_strong(expected, VmState::Running))
        throw std::logic_error("VM already started");
    running_vcpus_ = static_cast<int>(vcpus_.size());
    for (auto& v : vcpus_)
        v->thread = std::thread([this, vcpu = v.get()] { vcpu_loop(*vcpu); });
}

void Vm::kick_all() {
    for (auto& v : vcpus_) {
        v->fd.run()->immediate_exit = 1;
        if (v->thread.joinable()) ::pthread_kill(v->thread.native_handle(), kKickSignal);
    }
    cv_.notify_all();
}

void Vm::pause() {
    std::unique_lock lock(mutex_);
    if (state_ != VmState::Running) return;
    pause_requested_ = true;
    kick_all();
    cv_.wait(lock, [&] { return parked_vcpus_ >= running_vcpus_.load() || finished(); });
    if (!finished()) state_ = VmState::Paused;
}

void Vm::resume() {
    std::lock_guard lock(mutex_);
    if (state_ != VmState::Paused) return;
    pause_requested_ = false;
    state_ = VmState::Running;
    cv_.notify_all();
}

void Vm::hold() {
    std::unique_lock lock(mutex_);
    if (finished()) return;
    // Also before start(): vCPUs started during the hold must park at once,
    // or a merge batch under the pause freeze races their first writes (a
    // zeroed stack page, a guest that returns to 0 and triple faults).
    ++holds_;
    kick_all();
    cv_.wait(lock, [&] { return parked_vcpus_ >= running_vcpus_.load() || finished(); });
}

void Vm::release() {
    std::lock_guard lock(mutex_);
    if (holds_ > 0) --holds_;
    cv_.notify_all();
}

void Vm::stop() {
    stop_requested_ = true;
    std::lock_guard lock(mutex_);
    kick_all();
}

bool Vm::finished() const {
    VmState s = state_.load();
    return s == VmState::Exited || s == VmState::Crashed || s == VmState::Stopped;
}

int Vm::wait() {
    // Host::remove_vm (API) and a foreground run may both wait for one VM;
    // joining one std::thread from two threads at once is undefined.
    std::lock_guard lock(join_mutex_);
    for (auto& v : vcpus_)
        if (v->thread.joinable()) v->thread.join();
    return exit_code_;
}

bool Vm::wait_for(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    bool done = cv_.wait_for(lock, timeout, [&] { return running_vcpus_.load() == 0; });
    lock.unlock();
    if (done) wait();
    return done;
}

std::string Vm::crash_reason() const {
    std::lock_guard lock(mutex_);
    return crash_reason_;
}

void Vm::finish(VmState final_state, int code, const std::string& reason) {
    {
        std::lock_guard lock(mutex_);
        if (finished()) return; // the first vCPU to finish decides
        exit_code_ = code;
        crash_reason_ = reason;
        state_ = final_state;
    }
    stop_requested_ = true;
    kick_all();
    flush_console(); // a last line without '\n' (a prompt, a panic) still reaches the host
    if (final_state == VmState::Crashed && events_.diagnostic)
        events_.diagnostic(config_.index, reason);
}

void Vm::vcpu_loop(Vcpu& vcpu) {
    t_vcpu_owner = this;
    // Block the kick signal everywhere except inside KVM_RUN would need
    // KVM_SET_SIGNAL_MASK; immediate_exit covers the race instead.
    try {
        while (!stop_requested_) {
            if (pause_requested_ || holds_ > 0) {
                std::unique_lock lock(mutex_);
                ++parked_vcpus_;
                cv_.notify_all();
                cv_.wait(lock,
                         [&] { return (!pause_requested_ && holds_ == 0) || stop_requested_; });
                --parked_vcpus_;
                continue;
            }
            int rc = vcpu.fd.run_once();
            if (rc < 0) {
                vcpu.fd.run()->immediate_exit = 0;
                continue;
            }
            if (!handle_exit(vcpu)) break;
        }
    } catch (const std::exception& e) {
        finish(VmState::Crashed, kCrashExitCode, std::string("vCPU error: ") + e.what());
    }
    finish(VmState::Stopped, kStoppedExitCode, "");
    std::lock_guard lock(mutex_);
    --running_vcpus_;
    cv_.notify_all();
}

bool Vm::handle_exit(Vcpu& vcpu) {
    kvm_run* run = vcpu.fd.run();
    switch (run->exit_reason) {
    case KVM_EXIT_IO: {
        auto* data = reinterpret_cast<uint8_t*>(run) + run->io.data_offset;
        bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
        PortIoHandler* handler = io_bus_.find(run->io.port);
        IoResult result;
        if (!handler) {
            if (!is_write) std::memset(data, 0xff, run->io.size * run->io.count);
            return true; // unclaimed ports read as all-ones, like real hardware
        }
        result = handler->on_port_io(*this, vcpu.index, run->io.port, is_write, data,
                                     run->io.size * run->io.count);
        switch (result.outcome) {
        case IoResult::Outcome::Continue:
            return true;
        case IoResult::Outcome::Exit:
            finish(VmState::Exited, result.status, "");
            return false;
        case IoResult::Outcome::Fault:
            finish(VmState::Crashed, kCrashExitCode, result.message + "\n" + register_dump(vcpu));
            return false;
        }
        return false;
    }
    case KVM_EXIT_HLT:
        finish(VmState::Exited, 0, "");
        return false;
    case KVM_EXIT_SHUTDOWN:
        finish(VmState::Crashed, kCrashExitCode,
               "guest triple fault (shutdown)\n" + register_dump(vcpu));
        return false;
    case KVM_EXIT_INTERNAL_ERROR:
        finish(VmState::Crashed, kCrashExitCode,
               "KVM internal error, suberror " + std::to_string(run->internal.suberror) + "\n" +
                   register_dump(vcpu));
        return false;
    case KVM_EXIT_FAIL_ENTRY:
        finish(VmState::Crashed, kCrashExitCode,
               "KVM entry failed, hardware reason 0x" +
                   std::to_string(run->fail_entry.hardware_entry_failure_reason) + "\n" +
                   register_dump(vcpu));
        return false;
    case KVM_EXIT_MMIO: {
        uint64_t offset = 0;
        MmioHandler* handler = mmio_bus_.find(run->mmio.phys_addr, offset);
        uint32_t len = std::min<uint32_t>(run->mmio.len, sizeof run->mmio.data);
        if (handler) {
            if (run->mmio.is_write)
                handler->mmio_write(offset, run->mmio.data, len);
            else
                handler->mmio_read(offset, run->mmio.data, len);
            return true;
        }
        char addr[20];
        std::snprintf(addr, sizeof addr, "%llx",
                      static_cast<unsigned long long>(run->mmio.phys_addr));
        finish(VmState::Crashed, kCrashExitCode,
               std::string("guest accessed unmapped physical address 0x") + addr + "\n" +
                   register_dump(vcpu));
        return false;
    }
    case KVM_EXIT_DIRTY_RING_FULL:
        memory_->harvest_dirty_rings(); // make room, then re-enter
        return true;
    case KVM_EXIT_INTR:
        return true;
    default:
        finish(VmState::Crashed, kCrashExitCode,
               "unhandled KVM exit reason " + std::to_string(run->exit_reason) + "\n" +
                   register_dump(vcpu));
        return false;
    }
}

std::string Vm::register_dump(Vcpu& vcpu) const {
    std::string out = "vcpu " + std::to_string(vcpu.index) + " registers:\n";
    try {
        kvm_regs r = vcpu.fd.get_regs();
        kvm_sregs s = vcpu.fd.get_sregs();
        const std::pair<const char*, uint64_t> rows[] = {
            {"rip", r.rip},   {"rsp", r.rsp},        {"rbp", r.rbp},        {"rflags", r.rflags},
            {"rax", r.rax},   {"rbx", r.rbx},        {"rcx", r.rcx},        {"rdx", r.rdx},
            {"rsi", r.rsi},   {"rdi", r.rdi},        {"r8", r.r8},          {"r9", r.r9},
            {"cr0", s.cr0},   {"cr2", s.cr2},        {"cr3", s.cr3},        {"cr4", s.cr4},
            {"efer", s.efer}, {"cs", s.cs.selector}, {"ss", s.ss.selector}, {"cpl", s.cs.dpl}};
        int col = 0;
        for (auto& [name, value] : rows) {
            out += "  " + format_hex(name, value);
            if (++col % 4 == 0) out += "\n";
        }
    } catch (const std::exception& e) {
        out += std::string("  (unavailable: ") + e.what() + ")\n";
    }
    return out;
}

void Vm::console_write(const char* data, size_t len) {
    std::vector<std::string> complete;
    {
        std::lock_guard lock(mutex_);
        for (size_t i = 0; i < len; ++i) {
            char c = data[i];
            if (c == '\n' || console_partial_.size() >= kConsoleLineMax) {
                complete.push_back(std::move(console_partial_));
                console_partial_.clear();
                if (c == '\n') continue;
            }
            console_partial_.push_back(c);
        }
        for (auto& line : complete) {
            console_lines_.push_back(line);
            if (console_lines_.size() > kConsoleHistoryLines) console_lines_.pop_front();
        }
    }
    if (events_.console_line)
        for (auto& line : complete)
            events_.console_line(config_.index, line);
}

void Vm::flush_console() {
    std::string line;
    {
        std::lock_guard lock(mutex_);
        if (console_partial_.empty()) return;
        line = std::move(console_partial_);
        console_partial_.clear();
        console_lines_.push_back(line);
        if (console_lines_.size() > kConsoleHistoryLines) console_lines_.pop_front();
    }
    if (events_.console_line) events_.console_line(config_.index, line);
}

std::vector<std::string> Vm::console_tail(size_t lines) const {
    std::lock_guard lock(mutex_);
    size_t n = std::min(lines, console_lines_.size());
    return {console_lines_.end() - static_cast<long>(n), console_lines_.end()};
}

bool Vm::guest_poll(uint64_t timeout_ns) {
    std::unique_lock lock(mutex_);
    cv_.wait_for(lock, std::chrono::nanoseconds(timeout_ns), [&] {
        return stop_requested_.load() || pause_requested_.load() || holds_ > 0 ||
               guest_event_.load();
    });
    return guest_event_.exchange(false);
}

void Vm::raise_guest_event() {
    {
        std::lock_guard lock(mutex_);
        guest_event_ = true;
    }
    cv_.notify_all();
}

void Vm::yield_to_pause() {
    if (t_vcpu_owner != this || !(pause_requested_ || holds_ > 0)) return;
    std::unique_lock lock(mutex_);
    ++parked_vcpus_;
    cv_.notify_all();
    cv_.wait(lock, [&] { return (!pause_requested_ && holds_ == 0) || stop_requested_; });
    --parked_vcpus_;
}

void Vm::note_hypercall() {
    if (first_hypercall_ns_.load(std::memory_order_relaxed) != 0) return;
    int64_t now = std::chrono::steady_clock::now().time_since_epoch().count();
    int64_t zero = 0;
    first_hypercall_ns_.compare_exchange_strong(zero, now);
}

std::chrono::steady_clock::time_point Vm::first_hypercall_at() const {
    return std::chrono::steady_clock::time_point(
        std::chrono::steady_clock::duration(first_hypercall_ns_.load()));
}

} // namespace foldvm
