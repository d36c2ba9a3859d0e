// One virtual machine: its lifecycle (create, run, pause/resume, stop) and
// its vCPU threads, over guest RAM, the buses and the devices. Boot loading
// lives in vmm/boot/, the console and vCPU parking in their own classes.
// A guest failure ends only this VM.
#pragma once

#include "boot_timeline.hpp"
#include "console_buffer.hpp"
#include "vcpu_parking.hpp"
#include "vm_config.hpp"
#include "vmm/abi/foldvm_abi.h"
#include "vmm/bus/mmio.hpp"
#include "vmm/bus/port_io.hpp"
#include "vmm/kvm/kvm.hpp"
#include "vmm/memory/guest_memory.hpp"

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace foldvm {

class BalloonDevice;
class DeviceManager;
class GuestAbi;
class GuestServices;
class IrqLines;
class Serial8250;
class VmGuestServices;

enum class VmState { Created, Running, Paused, Exited, Crashed, Stopped };
const char* to_string(VmState s);

// Exit codes for VMs that did not exit through the exit hypercall.
constexpr int kCrashExitCode = 70;  // like EX_SOFTWARE
constexpr int kStoppedExitCode = 0; // stopped on request

struct VmEvents {
    // One complete line of console output (without the newline).
    std::function<void(uint64_t vm_index, const std::string& line)> console_line;
    // Crash reports and other diagnostics for the operator.
    std::function<void(uint64_t vm_index, const std::string& text)> diagnostic;
    // A Linux guest wrote the boot marker (debug_port.hpp), `ms` after creation.
    std::function<void(uint64_t vm_index, uint8_t value, double ms)> boot_marker;
};

class Vm {
  public:
    Vm(Kvm& kvm, VmConfig config, VmEvents events);
    ~Vm();
    Vm(const Vm&) = delete;
    Vm& operator=(const Vm&) = delete;

    void start();
    // Blocks until every vCPU is parked outside KVM_RUN (used by dedup's
    // fallback freeze and the API). No-op unless running.
    void pause();
    void resume();
    // Parks every vCPU (like pause) for a short internal operation, such as
    // dedup's fallback freeze, independent of the user-visible paused state:
    // holds nest, and release() never resumes a VM the user paused.
    void hold();
    // hold() without waiting for the vCPUs to park (they are kicked).
    void hold_nowait();
    void release();
    // Requests stop; returns without waiting. wait() joins.
    void stop();
    // Ends the VM as crashed from outside its vCPUs (the pager could not
    // restore a page): the reason reaches crash_reason() and the operator.
    void fail(const std::string& reason);
    int wait();
    // Waits up to `timeout`; returns true if the VM finished.
    bool wait_for(std::chrono::milliseconds timeout);

    VmState state() const { return state_.load(); }
    bool finished() const;
    int exit_code() const { return exit_code_.load(); }
    std::string crash_reason() const;
    const VmConfig& config() const { return config_; }

    GuestMemory& memory() { return *memory_; }
    IoBus& io_bus() { return io_bus_; }
    MmioBus& mmio_bus() { return mmio_bus_; }
    DeviceManager& devices() { return *devices_; }
    // The balloon (control API: target, statistics), or nullptr without one.
    BalloonDevice* balloon() const;
    const foldvm_boot_info& boot_info() const { return boot_info_; }
    // What the guest ABI module works through (hypercall handlers, tests).
    GuestServices& guest_services();
    // A Linux kernel (bzImage) rather than a foldvm-ABI unikernel.
    bool is_linux() const { return linux_; }
    // Milliseconds from creation to the guest's boot marker; negative until then.
    double boot_marker_ms() const { return timeline_.boot_marker_ms(); }
    // Host input for a Linux guest's ttyS0; ignored for unikernels.
    void console_input(const uint8_t* data, size_t size);
    std::vector<std::string> console_tail(size_t lines) const { return console_.tail(lines); }

    // Called by device code on a vCPU thread that must wait for something a
    // pause could be holding up: parks this vCPU while a pause is requested.
    // No-op on other threads.
    void yield_to_pause() { parking_.yield(); }

    std::chrono::steady_clock::time_point created_at() const { return timeline_.created_at(); }
    // Zero until the guest's first hypercall.
    std::chrono::steady_clock::time_point first_hypercall_at() const {
        return timeline_.first_hypercall_at();
    }

  private:
    struct Vcpu {
        int index;
        VcpuFd fd;
        std::thread thread;
    };
    // Loads the image and enters it through the guest ABI module.
    void boot_unikernel(GuestAbi& abi);
    // vm_linux.cpp: irqchip, boot structures, ACPI and legacy devices.
    void create_linux_platform();
    void boot_linux(Kvm& kvm);
    void note_boot_marker(uint8_t value);
    void vcpu_loop(Vcpu& vcpu);
    bool handle_exit(Vcpu& vcpu);
    void finish(VmState final_state, int code, const std::string& reason);
    void kick_vcpus();
    std::string register_dump(Vcpu& vcpu) const;

    VmConfig config_;
    VmEvents events_;
    VmFd vm_fd_;
    BootTimeline timeline_;
    ConsoleBuffer console_;
    VcpuParking parking_;
    std::unique_ptr<GuestMemory> memory_;
    IoBus io_bus_;
    MmioBus mmio_bus_;
    std::unique_ptr<DeviceManager> devices_;
    bool linux_ = false;
    std::unique_ptr<IrqLines> irq_lines_;
    std::shared_ptr<Serial8250> serial_;
    foldvm_boot_info boot_info_{};
    std::unique_ptr<VmGuestServices> guest_services_;
    std::vector<std::unique_ptr<Vcpu>> vcpus_;

    std::atomic<VmState> state_{VmState::Created};
    std::atomic<int> exit_code_{0};
    std::mutex join_mutex_;    // wait() may be called from several threads
    mutable std::mutex mutex_; // guards state changes and crash_reason_
    std::string crash_reason_;
};

} // namespace foldvm
