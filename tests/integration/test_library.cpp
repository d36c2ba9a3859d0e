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
            auto s = *sharing.stats();
            uint64_t now = s.pages_sharing + s.zero_pages;
            bool stable = now == last && s.full_scans > 4;
            last = now;
            return stable;
        },
        30s));
    for (uint64_t id : ids)
        host.vm(id)->pause();
    sharing.scan_now();
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
    auto s = *sharing.stats();
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
    CHECK(sharing.stats()->pages_shared == 0);
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
    for (uint64_t id : ids) {
        int rc = host.vm(id)->wait();
        INFO("vm " << id << ": " << host.vm(id)->crash_reason());
        CHECK(rc == 0);
    }
    auto s = *sharing.stats();
    CHECK(s.freeze_mode == "pause");
    CHECK(s.pages_sharing > 1000);
    CHECK(s.cow_breaks > 100);
    for (uint64_t i = 0; i < 3; ++i)
        CHECK(console.starts_with(i, "memfill: done"));
    CHECK(console.find(0, "MISMATCH").empty());
}

namespace {
// Logs what it hears, with whether the dedup service still knows the VM at
// that moment (it does for as long as its region is registered).
struct RecordingObserver : Host::Observer {
    RecordingObserver(std::string n, std::vector<std::string>& l, const DedupService* d = nullptr)
        : name(std::move(n)), log(l), dedup(d) {}
    void vm_created(uint64_t id, Vm&) override { record("created", id); }
    void vm_removed(uint64_t id, Vm&) override { record("removed", id); }
    void record(const char* what, uint64_t id) {
        std::string line = name + " " + what + " " + std::to_string(id);
        if (dedup) line += dedup->stats(id) ? " (dedup has it)" : " (dedup lost it)";
        log.push_back(line);
    }
    std::string name;
    std::vector<std::string>& log;
    const DedupService* dedup;
};
} // namespace

TEST_CASE("every Host observer hears of VMs, added first created first, removed last",
          "[library][host]") {
    Host host;
    DedupService sharing(host, DedupMode::Builtin, {});
    std::vector<std::string> log;
    // Added after the dedup service, like the pager: it must see the VM while
    // the service still has its region, on both ends.
    RecordingObserver first("first", log, &sharing);
    RecordingObserver second("second", log);
    host.add_observer(&first);
    host.add_observer(&second);

    uint64_t a = host.create_vm(config("hello", 0));
    CHECK(sharing.stats(a));
    host.remove_observer(&second);
    uint64_t b = host.create_vm(config("hello", 1));
    host.add_observer(&second);
    host.remove_vm(a);
    host.remove_vm(b);
    host.remove_observer(&first);
    host.remove_observer(&second);
    uint64_t c = host.create_vm(config("hello", 2));
    host.remove_vm(c);

    auto n = [](uint64_t id) { return std::to_string(id); };
    std::vector<std::string> expected = {
        "first created " + n(a) + " (dedup has it)",
        "second created " + n(a),
        "first created " + n(b) + " (dedup has it)",
        "second removed " + n(a), // never told of b's creation, but of its removal
        "first removed " + n(a) + " (dedup has it)",
        "second removed " + n(b),
        "first removed " + n(b) + " (dedup has it)",
    };
    CHECK(log == expected);
    CHECK_FALSE(sharing.stats(c));
}

TEST_CASE("the dedup service decides RAM marking, and knob updates need builtin",
          "[library][dedup]") {
    Host host;
    SECTION("builtin") {
        DedupService sharing(host, DedupMode::Builtin, {});
        VmConfig c;
        c.ksm_mergeable = true;
        c.dirty_logging = false;
        sharing.prepare(c);
        CHECK(c.dirty_logging);
        CHECK_FALSE(c.ksm_mergeable);
        auto cfg = sharing.update_knobs([](dedup::DedupConfig& k) { k.sleep_millisecs = 3; });
        CHECK(cfg.sleep_millisecs == 3);
        CHECK(sharing.config().sleep_millisecs == 3);
    }
    SECTION("ksm") {
        DedupService sharing(host, DedupMode::Ksm, {});
        VmConfig c;
        sharing.prepare(c);
        CHECK_FALSE(c.dirty_logging);
        CHECK(c.ksm_mergeable);
        CHECK_FALSE(sharing.stats());
        CHECK_THROWS_AS(sharing.update_knobs([](dedup::DedupConfig&) {}), DedupUnavailable);
        CHECK_THROWS_WITH(sharing.scan_now(), Catch::Contains("needs the built-in engine"));
    }
    SECTION("off") {
        DedupService sharing(host, DedupMode::Off, {});
        VmConfig c;
        sharing.prepare(c);
        CHECK_FALSE(c.dirty_logging);
        CHECK_FALSE(c.ksm_mergeable);
        CHECK_THROWS_AS(sharing.unmerge_all(), DedupUnavailable);
    }
}
