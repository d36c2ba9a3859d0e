// Boots real guests through the library API (Host/Vm), the way an embedding
// platform would.
#include "dedup/page_pool.hpp"
#include "vmm/boot/elf_loader.hpp"
#include "vmm/machine/console_log.hpp"
#include "vmm/machine/host.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <catch2/catch.hpp>
#include <xxhash.h>

#include <cstring>
#include <mutex>
#include <thread>
#include <unordered_map>

using namespace foldvm;
using namespace std::chrono_literals;

namespace {

std::string guest(const char* name) {
    return std::string(GUEST_DIR) + "/" + name + ".elf";
}

Blob load(const char* name) {
    return std::make_shared<const std::vector<uint8_t>>(read_image_file(guest(name), 64 << 20));
}

VmConfig config(const char* name, uint64_t index, const std::string& cmdline = "",
                uint64_t mem = 8 << 20) {
    VmConfig c;
    c.image = load(name);
    c.kernel_path = guest(name);
    c.index = index;
    c.cmdline = cmdline;
    c.mem_bytes = mem;
    return c;
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

} // namespace

TEST_CASE("a crashing guest dies alone; its neighbours finish normally", "[library]") {
    Host host;
    ConsoleLog console;
    std::vector<uint64_t> ids;
    for (uint64_t i = 0; i < 3; ++i)
        ids.push_back(host.create_vm(config("hello", i), console.events()));
    uint64_t crasher = host.create_vm(config("crash", 3), console.events());
    uint64_t bad = host.create_vm(config("badcall", 4, "mode=argptr"), console.events());
    for (auto& [id, vm] : host.vms())
        vm->start();
    for (auto& [id, vm] : host.vms())
        vm->wait();
    for (uint64_t id : ids) {
        CHECK(host.vm(id)->state() == VmState::Exited);
        CHECK(host.vm(id)->exit_code() == 0);
        CHECK(console.starts_with(id - 1, "Hello from foldvm guest"));
    }
    CHECK(host.vm(crasher)->state() == VmState::Crashed);
    CHECK(host.vm(crasher)->exit_code() == kCrashExitCode);
    CHECK_THAT(host.vm(crasher)->crash_reason(), Catch::Contains("triple fault"));
    CHECK(host.vm(bad)->state() == VmState::Crashed);
    CHECK_THAT(host.vm(bad)->crash_reason(), Catch::Contains("bad hypercall"));
}

TEST_CASE("pause stops guest progress and resume continues it", "[library]") {
    Host host;
    ConsoleLog console;
    uint64_t id =
        host.create_vm(config("memfill", 0, "shared=0.5 zero=0.1 churn=1000 verify verify_ms=50"),
                       console.events());
    auto vm = host.vm(id);
    vm->start();
    REQUIRE(wait_until([&] { return console.starts_with(0, "memfill: verify"); }, 10s));
    vm->pause();
    CHECK(vm->state() == VmState::Paused);
    size_t before = vm->console_tail(1000).size();
    std::this_thread::sleep_for(300ms);
    CHECK(vm->console_tail(1000).size() == before);
    vm->resume();
    CHECK(vm->state() == VmState::Running);
    CHECK(wait_until([&] { return vm->console_tail(1000).size() > before; }, 5s));
    vm->stop();
    vm->wait();
    CHECK(vm->state() == VmState::Stopped);
    for (auto& line : vm->console_tail(1000))
        CHECK_THAT(line, !Catch::Contains("MISMATCH"));
}

TEST_CASE("many VMs in one host", "[library]") {
    Host host;
    ConsoleLog console;
    for (uint64_t i = 0; i < 64; ++i)
        host.create_vm(config("hello", i, "", 4 << 20), console.events());
    for (auto& [id, vm] : host.vms())
        vm->start();
    int exited = 0;
    for (auto& [id, vm] : host.vms())
        exited += vm->wait() == 0 && vm->state() == VmState::Exited;
    CHECK(exited == 64);
}

TEST_CASE("built-in dedup converges to the ground truth on real guests", "[library][dedup]") {
    Host host;
    dedup::DedupConfig cfg;
    cfg.sleep_millisecs = 5;
    cfg.pages_to_scan = 20000;
    DedupService sharing(host, DedupMode::Builtin, cfg);
    ConsoleLog console;
    std::vector<uint64_t> ids;
    for (uint64_t i = 0; i < 3; ++i)
        ids.push_back(host.create_vm(config("memfill", i, "shared=0.7 zero=0.1", 16 << 20),
                                     console.events()));
    for (uint64_t id : ids)
        host.vm(id)->start();
    REQUIRE(wait_until(
        [&] {
            for (uint64_t i = 0; i < 3; ++i)
                if (!console.starts_with(i, "memfill: filled")) return false;
            return true;
        },
        30s));
    // Converged once two consecutive full scans change nothing.
    uint64_t last = ~0ull;
    REQUIRE(wait_until(
        [&] {
            auto s = sharing.engine()->stats();
            uint64_t now = s.pages_sharing + s.zero_pages;
            bool stable = now == last && s.full_scans > 4;
            last = now;
            return stable;
        },
        30s));
    for (uint64_t id : ids)
        host.vm(id)->pause();
    sharing.engine()->scan_now();
    std::this_thread::sleep_for(200ms);

    // Independent count: hash every guest page from the host side.
    std::unordered_map<uint64_t, uint64_t> counts;
    uint64_t zero = 0;
    static const uint8_t zeros[4096] = {};
    for (uint64_t id : ids) {
        GuestMemory& mem = host.vm(id)->memory();
        for (uint64_t gpa = 0; gpa < mem.size(); gpa += 4096) {
            const uint8_t* p = mem.translate(gpa, 4096);
            if (std::memcmp(p, zeros, 4096) == 0)
                ++zero;
            else
                ++counts[XXH3_64bits(p, 4096)];
        }
    }
    uint64_t dups = 0;
    for (auto& [h, n] : counts)
        dups += n - 1;
    auto s = sharing.engine()->stats();
    INFO("ground truth dups=" << dups << " zero=" << zero << "; engine sharing=" << s.pages_sharing
                              << " zero=" << s.zero_pages);
    CHECK(dups > 5000);
    CHECK(s.pages_sharing == dups);
    CHECK(s.zero_pages == zero);
    for (uint64_t id : ids) {
        host.vm(id)->resume();
        host.vm(id)->stop();
        host.remove_vm(id);
    }
    CHECK(sharing.engine()->stats().pages_shared == 0);
}

TEST_CASE("the pause fallback freeze loses no guest write", "[library][dedup]") {
    Host host;
    dedup::DedupConfig cfg;
    cfg.sleep_millisecs = 1;
    cfg.volatile_passes = 0;
    cfg.pause_freeze = 1;
    DedupService sharing(host, DedupMode::Builtin, cfg);
    ConsoleLog console;
    std::vector<uint64_t> ids;
    for (uint64_t i = 0; i < 3; ++i)
        ids.push_back(host.create_vm(
            config("memfill", i,
                   "shared=0.75 zero=0.05 churn=500 verify verify_ms=300 duration_ms=3000",
                   16 << 20),
            console.events()));
    for (uint64_t id : ids)
        host.vm(id)->start();
    for (uint64_t id : ids)
        CHECK(host.vm(id)->wait() == 0);
    auto s = sharing.engine()->stats();
    CHECK(s.freeze_mode == "pause");
    CHECK(s.pages_sharing > 1000);
    CHECK(s.cow_breaks > 100);
    for (uint64_t i = 0; i < 3; ++i)
        CHECK(console.starts_with(i, "memfill: done"));
    CHECK(console.find(0, "MISMATCH").empty());
}
