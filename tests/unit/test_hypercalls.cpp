#include "elf_builder.hpp"

#include "vmm/abi/foldvm_abi.h"
#include "vmm/hypercall/foldvm_hypercalls.hpp"
#include "vmm/machine/vm.hpp"

#include <catch2/catch.hpp>

using namespace foldvm;

namespace {

struct HypercallFixture {
    Kvm kvm;
    std::vector<std::string> lines;
    std::unique_ptr<Vm> vm;
    std::unique_ptr<FoldvmHypercalls> calls;

    HypercallFixture() {
        VmConfig cfg;
        cfg.image = std::make_shared<std::vector<uint8_t>>(test::ElfBuilder().build());
        cfg.mem_bytes = 4ull << 20;
        VmEvents ev;
        ev.console_line = [this](uint64_t, const std::string& l) { lines.push_back(l); };
        vm = std::make_unique<Vm>(kvm, cfg, ev);
        calls = std::make_unique<FoldvmHypercalls>(vm->guest_services());
    }

    IoResult call(unsigned nr, uint32_t arg_gpa, uint32_t size = 4) {
        uint8_t data[4];
        std::memcpy(data, &arg_gpa, 4);
        return calls->on_port_io(static_cast<uint16_t>(FOLDVM_HC_PORT_BASE + nr), true, data, size);
    }
    template <typename T> void put(uint64_t gpa, const T& v) {
        vm->memory().write(gpa, &v, sizeof v);
    }
    template <typename T> T get(uint64_t gpa) {
        T v;
        vm->memory().read(gpa, &v, sizeof v);
        return v;
    }
};

constexpr uint32_t kArgs = 0x200000, kText = 0x201000;

} // namespace

TEST_CASE("valid hypercalls succeed", "[hypercall]") {
    HypercallFixture f;
    f.vm->memory().write(kText, "hi\n", 3);
    f.put(kArgs, foldvm_hc_console{kText, 3, 0});
    CHECK(f.call(FOLDVM_HC_CONSOLE, kArgs).outcome == IoResult::Outcome::Continue);
    CHECK(f.get<foldvm_hc_console>(kArgs).ret == 3);
    REQUIRE(f.lines.size() == 1);
    CHECK(f.lines[0] == "hi");

    CHECK(f.call(FOLDVM_HC_TIME, kArgs).outcome == IoResult::Outcome::Continue);
    CHECK(f.get<foldvm_hc_time>(kArgs).ns > 0);

    f.put(kArgs, foldvm_hc_bootinfo{kText, sizeof(foldvm_boot_info), 0});
    CHECK(f.call(FOLDVM_HC_BOOTINFO, kArgs).outcome == IoResult::Outcome::Continue);
    CHECK(f.get<foldvm_boot_info>(kText).magic == FOLDVM_BOOT_INFO_MAGIC);

    f.put(kArgs, foldvm_hc_exit{7});
    auto r = f.call(FOLDVM_HC_EXIT, kArgs);
    CHECK(r.outcome == IoResult::Outcome::Exit);
    CHECK(r.status == 7);
}

TEST_CASE("bad hypercall pointers and lengths are faults, not crashes", "[hypercall]") {
    HypercallFixture f;
    const uint64_t ram = f.vm->memory().size();
    // Argument struct outside RAM, and straddling the end of RAM.
    CHECK(f.call(FOLDVM_HC_CONSOLE, 0xfffff000).outcome == IoResult::Outcome::Fault);
    CHECK(f.call(FOLDVM_HC_EXIT, static_cast<uint32_t>(ram - 4)).outcome ==
          IoResult::Outcome::Fault);
    CHECK(f.call(FOLDVM_HC_TIME, static_cast<uint32_t>(ram - 4)).outcome ==
          IoResult::Outcome::Fault);
    // Data pointer outside RAM, huge length, length wrapping around.
    f.put(kArgs, foldvm_hc_console{0xfffffffff000ull, 100, 0});
    auto r = f.call(FOLDVM_HC_CONSOLE, kArgs);
    CHECK(r.outcome == IoResult::Outcome::Fault);
    CHECK_THAT(r.message, Catch::Contains("outside guest RAM"));
    f.put(kArgs, foldvm_hc_console{kText, 1ull << 40, 0});
    CHECK(f.call(FOLDVM_HC_CONSOLE, kArgs).outcome == IoResult::Outcome::Fault);
    f.put(kArgs, foldvm_hc_console{kText, ~0ull, 0});
    CHECK(f.call(FOLDVM_HC_CONSOLE, kArgs).outcome == IoResult::Outcome::Fault);
    f.put(kArgs, foldvm_hc_bootinfo{ram - 8, 4096, 0});
    CHECK(f.call(FOLDVM_HC_BOOTINFO, kArgs).outcome == IoResult::Outcome::Fault);
    // Unknown call number and wrong access width.
    CHECK(f.call(FOLDVM_HC_COUNT, kArgs).outcome == IoResult::Outcome::Fault);
    CHECK(f.call(FOLDVM_HC_CONSOLE, kArgs, 2).outcome == IoResult::Outcome::Fault);
    CHECK(f.lines.empty());
}
