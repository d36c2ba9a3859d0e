// The Linux half of Vm: the in-kernel irqchip and PIT, the boot protocol,
// ACPI tables describing the virtio-mmio devices, and the legacy devices a
// PC kernel expects (COM1, the i8042 reset line, foldvm's debug port).
#include "vm.hpp"

#include "common/error.hpp"
#include "vmm/boot/acpi_tables.hpp"
#include "vmm/boot/bzimage.hpp"
#include "vmm/boot/linux_layout.hpp"
#include "vmm/boot/linux_loader.hpp"
#include "vmm/boot/linux_vcpu.hpp"
#include "vmm/devices/device_manager.hpp"
#include "vmm/devices/legacy/debug_port.hpp"
#include "vmm/devices/legacy/i8042.hpp"
#include "vmm/devices/legacy/serial8250.hpp"
#include "vmm/machine/irq_lines.hpp"

#include <optional>

namespace foldvm {

namespace {

// Without a command line the guest still gets a console and clean exits.
constexpr const char* kDefaultLinuxCmdline =
    "console=ttyS0 reboot=k panic=-1 pci=off i8042.noaux i8042.nomux i8042.nopnp "
    "i8042.dumbkbd";

} // namespace

void Vm::create_linux_platform() {
    using namespace linux_layout;
    // Order matters: the irqchip must exist before any vCPU, the PIT after it.
    vm_fd_.set_tss_addr(kTssAddr);
    vm_fd_.set_identity_map_addr(kIdentityMap);
    vm_fd_.create_irqchip();
    vm_fd_.create_pit2();
    irq_lines_ = std::make_unique<IrqLines>(vm_fd_, vm_fd_.check_extension(KVM_CAP_IRQFD) > 0);
}

void Vm::boot_linux(Kvm& kvm) {
    using namespace linux_layout;
    std::span<const uint8_t> file(config_.image->data(), config_.image->size());
    BzImage image = parse_bzimage(file);

    AcpiPlatform platform;
    platform.vcpus = config_.vcpus;
    platform.lapic_base = kLapic;
    platform.ioapic_base = kIoApic;
    platform.serial_port = Serial8250::kCom1Base;
    platform.serial_gsi = Serial8250::kCom1Irq;
    platform.reset_port = I8042::kCommandPort;
    platform.reset_value = I8042::kResetCommand;
    for (const foldvm_device& d : devices_->boot_devices()) {
        platform.virtio_devices.push_back({d.mmio_base, d.mmio_size, d.irq});
        irq_lines_->prepare_edge(d.irq);
    }
    AcpiBlob acpi = build_acpi_tables(platform, kAcpiTables, kAcpiTablesEnd);
    memory_->write(acpi.gpa, acpi.bytes.data(), acpi.bytes.size());

    std::span<const uint8_t> initrd;
    if (config_.initrd) initrd = {config_.initrd->data(), config_.initrd->size()};
    std::string cmdline = config_.cmdline.empty() ? kDefaultLinuxCmdline : config_.cmdline;
    LinuxLoad load =
        load_linux(*memory_, file, image, initrd, cmdline, acpi.rsdp_gpa, config_.host_decompress);
    write_linux_boot_tables(*memory_);

    boot_info_ = {};
    boot_info_.ram_size = memory_->size();
    boot_info_.vm_index = config_.index;
    const auto& devices = devices_->boot_devices();
    boot_info_.device_count = static_cast<uint32_t>(devices.size());
    std::copy(devices.begin(), devices.end(), boot_info_.devices);

    serial_ = std::make_shared<Serial8250>(
        [this](const char* data, size_t len) {
            // Linux sends "\r\n"; the console is line-based.
            if (len == 1 && data[0] == '\r') return;
            console_.write(data, len);
        },
        [this](bool level) { irq_lines_->set_level(Serial8250::kCom1Irq, level); });
    io_bus_.add(Serial8250::kCom1Base, Serial8250::kPortCount, serial_);
    auto i8042 = std::make_shared<I8042>([this] { irq_lines_->pulse(I8042::kKeyboardIrq); });
    io_bus_.add(I8042::kDataPort, 1, i8042);
    io_bus_.add(I8042::kCommandPort, 1, i8042);
    io_bus_.add(DebugPort::kBase, DebugPort::kPortCount,
                std::make_shared<DebugPort>([this](uint8_t v) { note_boot_marker(v); }));

    std::vector<kvm_cpuid_entry2> supported = kvm.supported_cpuid();
    for (int i = 0; i < config_.vcpus; ++i) {
        auto vcpu = std::make_unique<Vcpu>(Vcpu{i, vm_fd_.create_vcpu(i), {}});
        memory_->attach_vcpu(vcpu->fd.fd());
        setup_linux_vcpu(vcpu->fd, linux_cpuid(supported, i, config_.vcpus), i == 0, load.entry,
                         kZeroPage);
        vcpus_.push_back(std::move(vcpu));
    }
}

void Vm::note_boot_marker(uint8_t value) {
    std::optional<double> ms = timeline_.note_boot_marker();
    if (ms && events_.boot_marker) events_.boot_marker(config_.index, value, *ms);
}

void Vm::console_input(const uint8_t* data, size_t size) {
    if (serial_) serial_->receive(data, size);
}

} // namespace foldvm
