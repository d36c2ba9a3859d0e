#include "vm.hpp"

#include "common/error.hpp"
#include "vm_guest_services.hpp"

#include "vmm/boot/bzimage.hpp"
#include "vmm/boot/unikernel_boot.hpp"
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
      console_([this](const std::string& line) {
          if (events_.console_line) events_.console_line(config_.index, line);
      }),
      parking_([this] { kick_vcpus(); }) {
    config_.validate();
    linux_ = looks_like_boot_image({config_.image->data(), config_.image->size()});
    install_kick_handler();
    if (linux_) create_linux_platform();
    GuestMemoryOptions mem_opts;
    mem_opts.size = config_.mem_bytes;
    mem_opts.dirty_logging = config_.dirty_logging;
    mem_opts.dirty_ring = config_.dirty_ring;
    mem_opts.userfaultfd = config_.userfaultfd;
    memory_ = std::make_unique<GuestMemory>(vm_fd_, mem_opts);
    if (config_.ksm_mergeable &&
        ::madvise(memory_->host_base(), memory_->size(), MADV_MERGEABLE) != 0)
        throw_errno("madvise(MADV_MERGEABLE) on guest RAM");
    // Unikernels poll for device events; Linux takes real interrupts.
    auto interrupt = [this](uint32_t irq) {
        if (irq_lines_)
            irq_lines_->pulse(irq);
        else
            parking_.raise_event();
    };
    devices_ = std::make_unique<DeviceManager>(*memory_, mmio_bus_, interrupt,
                                               [this] { yield_to_pause(); });
    if (config_.balloon) devices_->add_balloon(*config_.balloon);
    for (const BlockConfig& drive : config_.drives)
        devices_->add_block(drive);
    if (linux_) {
        boot_linux(kvm);
    } else {
        auto abi = make_guest_abi(config_.abi);
        boot_unikernel(*abi);
        abi->attach(guest_services());
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

void Vm::boot_unikernel(GuestAbi& abi) {
    UnikernelBootParams params;
    params.image = {config_.image->data(), config_.image->size()};
    if (config_.initrd) params.initrd.emplace(config_.initrd->data(), config_.initrd->size());
    params.cmdline = config_.cmdline;
    params.guest_cpl = config_.guest_cpl;
    params.vm_index = config_.index;
    params.devices = devices_->boot_devices();
    params.device_window_base = devices_->window_base();
    params.device_window_size = devices_->window_size();
    UnikernelBoot boot = abi.load(*memory_, params);
    boot_info_ = boot.info;

    for (int i = 0; i < config_.vcpus; ++i) {
        auto vcpu = std::make_unique<Vcpu>(Vcpu{i, vm_fd_.create_vcpu(i), {}});
        memory_->attach_vcpu(vcpu->fd.fd());
        abi.setup_vcpu(vcpu->fd, boot, i, config_.guest_cpl);
        vcpus_.push_back(std::move(vcpu));
    }
}

GuestServices& Vm::guest_services() {
    if (!guest_services_)
        guest_services_ = std::make_unique<VmGuestServices>(io_bus_, *memory_, boot_info_, console_,
                                                            parking_, timeline_);
    return *guest_services_;
}

void Vm::start() {
    VmState expected = VmState::Created;
    if (!state_.compare_exchange_strong(expected, VmState::Running))
        throw std::logic_error("VM already started");
    parking_.vcpus_started(static_cast<int>(vcpus_.size()));
    for (auto& v : vcpus_) {
        v->thread = std::thread([this, vcpu = v.get()] { vcpu_loop(*vcpu); });
        // Named like Firecracker's "fc_vcpu N", so per-thread CPU (top -H,
        // the benchmarks) can tell guest time from the VMM's own threads.
        std::string name = "foldvm-vcpu" + std::to_string(v->index);
        pthread_setname_np(v->thread.native_handle(), name.substr(0, 15).c_str());
    }
}

void Vm::kick_vcpus() {
    for (auto& v : vcpus_) {
        v->fd.run()->immediate_exit = 1;
        if (v->thread.joinable()) ::pthread_kill(v->thread.native_handle(), kKickSignal);
    }
}

void Vm::pause() {
    if (state_ != VmState::Running) return;
    if (!parking_.pause()) return;
    std::lock_guard lock(mutex_);
    if (!finished()) state_ = VmState::Paused;
}

void Vm::resume() {
    std::lock_guard lock(mutex_);
    if (state_ != VmState::Paused) return;
    parking_.resume();
    state_ = VmState::Running;
}

void Vm::hold() {
    if (finished()) return;
    // Also before start(): vCPUs started during the hold must park at once,
    // or a merge batch under the pause freeze races their first writes (a
    // zeroed stack page, a guest that returns to 0 and triple faults).
    parking_.hold();
}

void Vm::hold_nowait() {
    if (!finished()) parking_.hold_nowait();
}

void Vm::release() {
    parking_.release();
}

void Vm::stop() {
    parking_.stop();
}

void Vm::fail(const std::string& reason) {
    finish(VmState::Crashed, kCrashExitCode, reason);
    parking_.stop();
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
    bool done = parking_.wait_exited(timeout);
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
    parking_.finish();
    console_.flush(); // a last line without '\n' (a prompt, a panic) still reaches the host
    if (final_state == VmState::Crashed && events_.diagnostic)
        events_.diagnostic(config_.index, reason);
}

void Vm::vcpu_loop(Vcpu& vcpu) {
    parking_.enter_vcpu_thread();
    // Block the kick signal everywhere except inside KVM_RUN would need
    // KVM_SET_SIGNAL_MASK; immediate_exit covers the race instead.
    try {
        while (!parking_.stop_requested()) {
            if (parking_.park_requested()) {
                parking_.park();
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
    parking_.vcpu_exited();
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
        result = handler->on_port_io(run->io.port, is_write, data, run->io.size * run->io.count);
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

} // namespace foldvm
