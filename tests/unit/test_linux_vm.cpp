// A Linux VM as foldvm sets it up, inspected before it runs (the build
// machines' KVM cannot run a stock kernel; the nested tier boots real ones):
// the zero page, command line, initrd, ACPI pointer and platform devices.
#include "vmm/boot/linux_layout.hpp"
#include "vmm/devices/legacy/debug_port.hpp"
#include "vmm/devices/legacy/serial8250.hpp"
#include "vmm/machine/vm.hpp"

#include "common/error.hpp"

#include <asm/bootparam.h>
#include <catch2/catch.hpp>

#include <cstring>

using namespace foldvm;

namespace {

std::vector<uint8_t> fake_bzimage(size_t kernel_bytes = 64 * 1024) {
    std::vector<uint8_t> b(5 * 512 + kernel_bytes, 0xf4); // hlt
    auto put32 = [&](size_t off, uint32_t v) { std::memcpy(b.data() + off, &v, 4); };
    b[0x1f1] = 4;
    put32(0x1f4, static_cast<uint32_t>(kernel_bytes / 16));
    b[0x1fe] = 0x55;
    b[0x1ff] = 0xaa;
    b[0x200] = 0xeb;
    b[0x201] = 0x6a;
    std::memcpy(b.data() + 0x202, "HdrS", 4);
    b[0x206] = 0x0f;
    b[0x207] = 0x02;
    b[0x211] = 0x01;
    put32(0x22c, 0x7fffffff);
    put32(0x230, 0x200000);
    b[0x234] = 1;
    b[0x236] = 1;
    put32(0x238, 2047);
    put32(0x260, static_cast<uint32_t>(kernel_bytes * 4));
    put32(0x248, 0); // payload_offset
    put32(0x24c, 0); // payload_length: no payload, the "kernel" runs as is
    return b;
}

VmConfig linux_config() {
    VmConfig cfg;
    cfg.image = std::make_shared<std::vector<uint8_t>>(fake_bzimage());
    cfg.initrd = std::make_shared<std::vector<uint8_t>>(std::vector<uint8_t>(10000, 0x42));
    cfg.mem_bytes = 64ull << 20;
    cfg.cmdline = "console=ttyS0 -- /bin/true";
    cfg.balloon = BalloonConfig{};
    return cfg;
}

} // namespace

TEST_CASE("a bzImage VM gets the zero page, command line, initrd and ACPI", "[linux][kvm]") {
    Kvm kvm;
    Vm vm(kvm, linux_config(), VmEvents{});
    REQUIRE(vm.is_linux());
    boot_params params{};
    vm.memory().read(linux_layout::kZeroPage, &params, sizeof params);
    CHECK(std::memcmp(&params.hdr.header, "HdrS", 4) == 0);
    CHECK(params.hdr.type_of_loader == 0xff);
    CHECK(params.hdr.cmd_line_ptr == linux_layout::kCmdline);
    char cmdline[64] = {};
    vm.memory().read(linux_layout::kCmdline, cmdline, sizeof cmdline - 1);
    CHECK(std::string(cmdline) == "console=ttyS0 -- /bin/true");
    REQUIRE(params.hdr.ramdisk_size == 10000);
    uint8_t initrd_byte = 0;
    vm.memory().read(params.hdr.ramdisk_image + 9999, &initrd_byte, 1);
    CHECK(initrd_byte == 0x42);
    CHECK(params.hdr.ramdisk_image + 10000 <= 64ull << 20);
    CHECK(params.acpi_rsdp_addr == linux_layout::kAcpiTables);
    char rsdp[8];
    vm.memory().read(params.acpi_rsdp_addr, rsdp, 8);
    CHECK(std::memcmp(rsdp, "RSD PTR ", 8) == 0);
    CHECK(params.e820_entries == 4);
    CHECK(vm.io_bus().find(Serial8250::kCom1Base) != nullptr);
    CHECK(vm.io_bus().find(DebugPort::kExit) != nullptr);
    CHECK(vm.boot_marker_ms() < 0);
}

TEST_CASE("a malformed bzImage or an oversized Linux setup is refused before boot",
          "[linux][kvm]") {
    Kvm kvm;
    auto cfg = linux_config();
    auto bad = std::make_shared<std::vector<uint8_t>>(*cfg.image);
    (*bad)[0x206] = 0x01; // boot protocol 2.01
    cfg.image = bad;
    CHECK_THROWS_AS(Vm(kvm, cfg, VmEvents{}), InvalidInput);

    cfg = linux_config();
    bad = std::make_shared<std::vector<uint8_t>>(*cfg.image);
    (*bad)[0x202] = 'X'; // "HdrS" magic broken: still judged as a bzImage
    cfg.image = bad;
    try {
        Vm vm(kvm, cfg, VmEvents{});
        FAIL("accepted a bzImage without its header magic");
    } catch (const InvalidInput& e) {
        CHECK_THAT(e.what(), Catch::Contains("invalid bzImage"));
    }

    cfg = linux_config();
    cfg.initrd = std::make_shared<std::vector<uint8_t>>(std::vector<uint8_t>(63ull << 20, 0));
    CHECK_THROWS_AS(Vm(kvm, cfg, VmEvents{}), InvalidInput); // initrd over the kernel

    cfg = linux_config();
    cfg.mem_bytes = 4ull << 30;
    CHECK_THROWS_AS(Vm(kvm, cfg, VmEvents{}), InvalidInput); // above the 3.25 GiB limit
}
