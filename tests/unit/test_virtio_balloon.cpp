// virtio-mmio transport and balloon device, driven by a test driver through
// the VM's MMIO bus (no guest code runs).
#include "virtio_test_driver.hpp"

#include "common/error.hpp"
#include "common/procfs.hpp"
#include "vmm/config/balloon_json.hpp"
#include "vmm/devices/device_manager.hpp"
#include "vmm/devices/mmio_layout.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace foldvm;
using namespace foldvm::test;
using namespace foldvm::virtio;
namespace vb = foldvm::virtio::balloon;

namespace {

constexpr uint64_t kData = 12ull << 20; // test pages live here
constexpr uint64_t kPfnBuf = 10ull << 20;

size_t resident(Vm& vm, uint64_t gpa, size_t pages) {
    return procfs::resident_pages(vm.memory().host_base() + gpa, pages * kPageSize);
}

void fill_pages(Vm& vm, uint64_t gpa, size_t pages, uint8_t value) {
    std::vector<uint8_t> buf(pages * kPageSize, value);
    vm.memory().write(gpa, buf.data(), buf.size());
}

bool pages_hold(Vm& vm, uint64_t gpa, size_t pages, uint8_t value) {
    const uint8_t* p = vm.memory().translate(gpa, pages * kPageSize);
    for (size_t i = 0; i < pages * kPageSize; ++i)
        if (p[i] != value) return false;
    return true;
}

std::vector<uint32_t> pfn_range(uint64_t gpa, size_t pages) {
    std::vector<uint32_t> v;
    for (size_t i = 0; i < pages; ++i)
        v.push_back(static_cast<uint32_t>(gpa / kPageSize + i));
    return v;
}

} // namespace

TEST_CASE("virtio-mmio registers identify a modern balloon", "[virtio]") {
    Kvm kvm;
    auto vm = balloon_vm(kvm, {.deflate_on_oom = true, .free_page_reporting = true});
    const auto& bi = vm->boot_info();
    REQUIRE(bi.device_count == 1);
    CHECK(bi.devices[0].type == FOLDVM_DEV_VIRTIO_MMIO);
    CHECK(bi.devices[0].mmio_base == kMmioLowWindow);
    CHECK(bi.devices[0].mmio_size == kMmioSlotSize);
    CHECK(bi.devices[0].irq == kFirstDeviceIrq);
    CHECK(vm->devices().linux_cmdline() == "virtio_mmio.device=4K@0xd0000000:5");

    TestDriver d(*vm);
    CHECK(d.read(mmio::kMagicValue) == 0x74726976);
    CHECK(d.read(mmio::kVersionReg) == 2);
    CHECK(d.read(mmio::kDeviceId) == kDeviceIdBalloon);
    CHECK(d.offered() == (kFVersion1 | vb::kFDeflateOnOom | vb::kFPageReporting));
    // Unaligned and narrow register accesses read as zero.
    CHECK(d.read(mmio::kMagicValue + 1) == 0);
    CHECK(d.read(mmio::kMagicValue, 2) == 0);
    // Config space: num_pages then actual, any width.
    CHECK(d.read(mmio::kConfig) == 0);
    CHECK(d.read(mmio::kShmLenLow) == 0xffffffff);
}

TEST_CASE("feature negotiation refuses legacy drivers and unknown features", "[virtio]") {
    Kvm kvm;
    auto vm = balloon_vm(kvm, {.stats_polling_interval_s = 1});
    TestDriver d(*vm);
    CHECK_FALSE(d.negotiate(vb::kFStatsVq));                    // no VERSION_1
    CHECK_FALSE(d.negotiate(kFVersion1 | vb::kFPageReporting)); // not offered
    CHECK(d.negotiate(kFVersion1 | vb::kFStatsVq));
    CHECK(d.negotiate(kFVersion1));
}

TEST_CASE("balloon queues are numbered by the negotiated features", "[virtio]") {
    Kvm kvm;
    auto vm = balloon_vm(kvm, {.stats_polling_interval_s = 5, .free_page_reporting = true});
    TestDriver d(*vm);
    auto max_of = [&](uint32_t q) {
        d.write(mmio::kQueueSel, q);
        return d.read(mmio::kQueueNumMax);
    };
    REQUIRE(d.negotiate(kFVersion1 | vb::kFStatsVq | vb::kFPageReporting));
    CHECK(max_of(2) == vb::kQueueSize); // statsq
    CHECK(max_of(3) == vb::kQueueSize); // reporting_vq
    CHECK(max_of(4) == 0);
    REQUIRE(d.negotiate(kFVersion1 | vb::kFPageReporting));
    CHECK(max_of(2) == vb::kQueueSize); // reporting_vq moves up
    CHECK(max_of(3) == 0);
}

TEST_CASE("inflate releases pages and deflate lets them come back as zeros", "[virtio][balloon]") {
    Kvm kvm;
    auto vm = balloon_vm(kvm, {.amount_mib = 1});
    TestDriver d(*vm);
    d.start(kFVersion1, 2);
    CHECK(d.read(mmio::kConfig) == 256); // num_pages = 1 MiB

    fill_pages(*vm, kData, 256, 0xab);
    REQUIRE(resident(*vm, kData, 256) == 256);
    d.send_pfns(0, kPfnBuf, pfn_range(kData, 256));
    CHECK_FALSE(d.needs_reset());
    CHECK(d.used_idx(0) == 1);
    CHECK(d.read(mmio::kInterruptStatus) & mmio::kInterruptVring);
    CHECK(resident(*vm, kData, 256) == 0);
    CHECK(pages_hold(*vm, kData, 256, 0));
    d.write(mmio::kConfig + 4, 256); // actual
    auto s = vm->balloon()->stats();
    CHECK(s.actual_pages == 256);
    CHECK(s.inflated_pages == 256);
    CHECK(s.driver_ok);

    d.send_pfns(1, kPfnBuf, pfn_range(kData, 256));
    CHECK(d.used_idx(1) == 1);
    CHECK(vm->balloon()->stats().deflated_pages == 256);
    fill_pages(*vm, kData, 4, 0xcd); // the guest uses the pages again
    CHECK(pages_hold(*vm, kData, 4, 0xcd));
}

TEST_CASE("PFNs outside guest RAM are ignored without breaking the device", "[virtio][balloon]") {
    Kvm kvm;
    auto vm = balloon_vm(kvm, {});
    TestDriver d(*vm);
    d.start(kFVersion1, 2);
    fill_pages(*vm, kData, 2, 0x11);
    d.send_pfns(0, kPfnBuf, {0xffffffffu, 1u << 20, static_cast<uint32_t>(kData / kPageSize)});
    CHECK_FALSE(d.needs_reset());
    auto s = vm->balloon()->stats();
    CHECK(s.invalid_pfns == 2);
    CHECK(s.inflated_pages == 1);
    CHECK(pages_hold(*vm, kData, 1, 0));
    CHECK(pages_hold(*vm, kData + kPageSize, 1, 0x11));
}

TEST_CASE("the target is config space and changes raise a config interrupt", "[virtio][balloon]") {
    Kvm kvm;
    auto vm = balloon_vm(kvm, {});
    TestDriver d(*vm);
    d.start(kFVersion1, 2);
    uint32_t gen = d.read(mmio::kConfigGeneration);
    vm->balloon()->set_target_mib(8);
    CHECK(d.read(mmio::kConfig) == 8 * 256);
    CHECK(d.read(mmio::kConfigGeneration) != gen);
    CHECK(d.read(mmio::kInterruptStatus) & mmio::kInterruptConfig);
    d.write(mmio::kInterruptAck, mmio::kInterruptConfig);
    CHECK(d.read(mmio::kInterruptStatus) == 0);
    d.write(mmio::kConfig, 77); // num_pages belongs to the device
    CHECK(d.read(mmio::kConfig) == 8 * 256);
    CHECK(vm->balloon()->config().amount_mib == 8);
    CHECK_THROWS_AS(vm->balloon()->set_target_mib(17), InvalidInput); // 16 MiB guest
    CHECK_THROWS_AS(vm->balloon()->set_stats_polling_interval(1), InvalidInput);
}

TEST_CASE("statistics are collected at the polling interval", "[virtio][balloon][stats]") {
    Kvm kvm;
    auto vm = balloon_vm(kvm, {.stats_polling_interval_s = 1});
    TestDriver d(*vm);
    d.start(kFVersion1 | vb::kFStatsVq, 3);
    auto send_stats = [&](uint64_t free_bytes) {
        uint8_t buf[20];
        uint16_t tag = 4; // free_memory
        std::memcpy(buf, &tag, 2);
        std::memcpy(buf + 2, &free_bytes, 8);
        tag = 5; // total_memory
        uint64_t total = 16ull << 20;
        std::memcpy(buf + 10, &tag, 2);
        std::memcpy(buf + 12, &total, 8);
        vm->memory().write(kPfnBuf, buf, sizeof buf);
        d.set_desc(2, 0, kPfnBuf, sizeof buf, 0);
        d.post(2, 0);
    };
    send_stats(1000);
    auto s = vm->balloon()->stats();
    CHECK(s.guest.at("free_memory") == 1000);
    CHECK(s.guest.at("total_memory") == 16ull << 20);
    CHECK(s.stats_age_s >= 0);
    CHECK(d.used_idx(2) == 0); // held until the device wants new numbers

    // After the interval the buffer comes back at the driver's next access.
    std::this_thread::sleep_for(std::chrono::milliseconds(1300));
    CHECK(d.read(mmio::kInterruptStatus) & mmio::kInterruptVring);
    CHECK(d.used_idx(2) == 1);
    send_stats(2000);
    CHECK(vm->balloon()->stats().guest.at("free_memory") == 2000);

    vm->balloon()->set_stats_polling_interval(2);
    CHECK(vm->balloon()->config().stats_polling_interval_s == 2);
    CHECK_THROWS_AS(vm->balloon()->set_stats_polling_interval(0), InvalidInput);
}

TEST_CASE("free page reports release whole pages of device-writable buffers", "[virtio][balloon]") {
    Kvm kvm;
    auto vm = balloon_vm(kvm, {.free_page_reporting = true});
    TestDriver d(*vm);
    d.start(kFVersion1 | vb::kFPageReporting, 3);
    fill_pages(*vm, kData, 64, 0x77);
    // Two runs: 16 whole pages, and a range covering 7 whole pages plus bits.
    d.set_desc(2, 0, kData, 16 * kPageSize, kDescFWrite | kDescFNext, 1);
    d.set_desc(2, 1, kData + 32 * kPageSize + 100, 8 * kPageSize, kDescFWrite);
    d.post(2, 0);
    CHECK_FALSE(d.needs_reset());
    CHECK(d.used_idx(2) == 1);
    CHECK(vm->balloon()->stats().reported_pages == 16 + 7);
    CHECK(pages_hold(*vm, kData, 16, 0));
    CHECK(pages_hold(*vm, kData + 16 * kPageSize, 17, 0x77));
    CHECK(pages_hold(*vm, kData + 33 * kPageSize, 7, 0));
    CHECK(pages_hold(*vm, kData + 40 * kPageSize, 24, 0x77));
    // A device-readable report is a protocol error.
    d.set_desc(2, 0, kData, kPageSize, 0);
    d.post(2, 0);
    CHECK(d.needs_reset());
    CHECK(pages_hold(*vm, kData + 16 * kPageSize, 1, 0x77));
}

TEST_CASE("hostile descriptor chains only put the device into NEEDS_RESET", "[virtio][hostile]") {
    Kvm kvm;
    auto vm = balloon_vm(kvm, {.free_page_reporting = true});
    const uint64_t ram = vm->memory().size();
    TestDriver d(*vm);
    struct Case {
        const char* name;
        std::function<void()> attack;
        const char* reason;
    };
    std::vector<Case> cases = {
        {"loop",
         [&] {
             d.set_desc(0, 0, kPfnBuf, 4, kDescFNext, 1);
             d.set_desc(0, 1, kPfnBuf, 4, kDescFNext, 0);
             d.post(0, 0);
         },
         "longer than the queue"},
        {"self loop",
         [&] {
             d.set_desc(0, 3, kPfnBuf, 4, kDescFNext, 3);
             d.post(0, 3);
         },
         "longer than the queue"},
        {"buffer past the end of RAM",
         [&] {
             d.set_desc(0, 0, ram - 8, 16, 0);
             d.post(0, 0);
         },
         "outside guest RAM"},
        {"address wrap",
         [&] {
             d.set_desc(0, 0, ~0ull - 3, 16, 0);
             d.post(0, 0);
         },
         "outside guest RAM"},
        {"head outside the queue", [&] { d.post(0, 16); }, "outside a queue"},
        {"next outside the queue",
         [&] {
             d.set_desc(0, 0, kPfnBuf, 4, kDescFNext, 99);
             d.post(0, 0);
         },
         "outside a queue"},
        {"available index far ahead",
         [&] {
             d.set_avail_idx(0, 40);
             d.write(mmio::kQueueNotify, 0);
         },
         "ahead of a queue"},
        {"indirect descriptor",
         [&] {
             d.set_desc(0, 0, kPfnBuf, 16, kDescFIndirect);
             d.post(0, 0);
         },
         "indirect"},
        {"readable after writable",
         [&] {
             d.set_desc(2, 0, kData, kPageSize, kDescFWrite | kDescFNext, 1);
             d.set_desc(2, 1, kData, kPageSize, 0);
             d.post(2, 0);
         },
         "follows a device-writable"},
        {"writable inflate buffer",
         [&] {
             d.set_desc(0, 0, kPfnBuf, 16, kDescFWrite);
             d.post(0, 0);
         },
         "device-writable"},
        {"chain longer than RAM's PFNs",
         [&] {
             for (uint16_t i = 0; i < 16; ++i)
                 d.set_desc(1, i, 0, static_cast<uint32_t>(ram / 8), kDescFNext, i + 1);
             d.set_desc(1, 15, 0, static_cast<uint32_t>(ram / 8), 0);
             d.post(1, 0);
         },
         "exceeds"},
    };
    for (auto& c : cases) {
        INFO(c.name);
        d.start(kFVersion1 | vb::kFPageReporting, 3);
        REQUIRE_FALSE(d.needs_reset());
        c.attack();
        CHECK(d.needs_reset());
        CHECK(d.read(mmio::kInterruptStatus) & mmio::kInterruptConfig);
        CHECK_THAT(vm->balloon()->stats().device_error, Catch::Contains(c.reason));
        // Notifications are ignored until the driver resets the device.
        d.send_pfns(0, kPfnBuf, {static_cast<uint32_t>(kData / kPageSize)});
        d.write(mmio::kStatus, 0);
        CHECK(d.status() == 0);
    }
    // After a reset the device works again.
    d.start(kFVersion1, 2);
    fill_pages(*vm, kData, 1, 0x42);
    d.send_pfns(0, kPfnBuf, {static_cast<uint32_t>(kData / kPageSize)});
    CHECK_FALSE(d.needs_reset());
    CHECK(pages_hold(*vm, kData, 1, 0));
}

TEST_CASE("bad queue setups are refused", "[virtio][hostile]") {
    Kvm kvm;
    auto vm = balloon_vm(kvm, {});
    TestDriver d(*vm);
    auto try_setup = [&](uint16_t size, uint64_t desc) {
        d.negotiate(kFVersion1);
        d.write(mmio::kQueueSel, 0);
        d.write(mmio::kQueueNum, size);
        d.write(mmio::kQueueDescLow, static_cast<uint32_t>(desc));
        d.write(mmio::kQueueDescHigh, static_cast<uint32_t>(desc >> 32));
        d.write(mmio::kQueueDriverLow, static_cast<uint32_t>(TestDriver::avail_gpa(0)));
        d.write(mmio::kQueueDeviceLow, static_cast<uint32_t>(TestDriver::used_gpa(0)));
        d.write(mmio::kQueueReady, 1);
        bool ok = d.read(mmio::kQueueReady) == 1 && !d.needs_reset();
        d.write(mmio::kStatus, 0);
        return ok;
    };
    CHECK(try_setup(16, TestDriver::desc_gpa(0)));
    CHECK_FALSE(try_setup(0, TestDriver::desc_gpa(0)));
    CHECK_FALSE(try_setup(12, TestDriver::desc_gpa(0)));     // not a power of two
    CHECK_FALSE(try_setup(512, TestDriver::desc_gpa(0)));    // above QueueNumMax
    CHECK_FALSE(try_setup(16, TestDriver::desc_gpa(0) + 8)); // misaligned
    CHECK_FALSE(try_setup(16, vm->memory().size() - 64));    // runs past RAM
    CHECK_FALSE(try_setup(16, 1ull << 45));
    // Enabling a queue before FEATURES_OK, or DRIVER_OK before it, also fails.
    d.write(mmio::kStatus, kAcknowledge | kDriver);
    d.write(mmio::kQueueSel, 0);
    d.write(mmio::kQueueNum, 16);
    d.write(mmio::kQueueReady, 1);
    CHECK(d.needs_reset());
    d.write(mmio::kStatus, 0);
    d.write(mmio::kStatus, kAcknowledge | kDriver | kDriverOk);
    CHECK(d.needs_reset());
}

TEST_CASE("balloon JSON uses Firecracker's field names", "[virtio][balloon]") {
    Kvm kvm;
    auto vm = balloon_vm(kvm, {.amount_mib = 3, .stats_polling_interval_s = 2});
    auto cfg = to_json(vm->balloon()->config());
    CHECK(cfg == nlohmann::json{{"amount_mib", 3},
                                {"deflate_on_oom", false},
                                {"stats_polling_interval_s", 2},
                                {"free_page_reporting", false}});
    auto stats = to_json(vm->balloon()->stats());
    CHECK(stats["target_pages"] == 768);
    CHECK(stats["target_mib"] == 3);
    CHECK(stats["actual_mib"] == 0);
    CHECK(stats["host"]["driver_ok"] == false);
    CHECK_FALSE(stats.contains("free_memory")); // the guest has not reported yet
}
