// The balloon with real guests (guest-kernels/guests/balloon.c and
// balloonfuzz.c): the host moves the target through the C++ control API and
// measures the VM's resident memory with mincore over guest RAM.
#include "vmm/boot/elf_loader.hpp"
#include "vmm/devices/virtio/balloon.hpp"
#include "vmm/machine/console_log.hpp"
#include "vmm/machine/host.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <catch2/catch.hpp>

#include <sys/mman.h>

#include <chrono>
#include <functional>
#include <map>
#include <mutex>
#include <thread>

using namespace foldvm;
using namespace std::chrono_literals;

namespace {

Blob load(const char* name) {
    return std::make_shared<const std::vector<uint8_t>>(
        read_image_file(std::string(GUEST_DIR) + "/" + name + ".elf", 64 << 20));
}

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

uint64_t resident_bytes(Vm& vm) {
    std::vector<unsigned char> v(vm.memory().size() / 4096);
    REQUIRE(::mincore(vm.memory().host_base(), vm.memory().size(), v.data()) == 0);
    uint64_t n = 0;
    for (unsigned char c : v)
        n += c & 1;
    return n * 4096;
}

VmConfig balloon_guest(const char* name, uint64_t mem, const std::string& cmdline,
                       BalloonConfig balloon, uint64_t index = 0) {
    VmConfig c;
    c.image = load(name);
    c.kernel_path = name;
    c.mem_bytes = mem;
    c.cmdline = cmdline;
    c.balloon = balloon;
    c.index = index;
    return c;
}

uint64_t number_after(const std::string& line, const std::string& key) {
    auto pos = line.find(key);
    return pos == std::string::npos ? 0 : std::stoull(line.substr(pos + key.size()));
}

} // namespace

TEST_CASE("inflating to 75% of RAM frees >= 70% of RAM; deflating makes it usable again",
          "[balloon][guest]") {
    constexpr uint64_t kMem = 256ull << 20;
    ConsoleLog console;
    Kvm kvm;
    Vm vm(kvm,
          balloon_guest("balloon", kMem,
                        "touch keep=8M scratch=64 churn=4 verify_ms=100 exit_on_zero", {}),
          console.events());
    vm.start();
    REQUIRE(wait_until([&] { return !console.find(0, "balloon: touched").empty(); }, 60s));
    uint64_t before = resident_bytes(vm);
    INFO("resident before " << (before >> 20) << " MiB");
    CHECK(before > kMem * 9 / 10);

    BalloonDevice& balloon = *vm.balloon();
    balloon.set_target_mib(kMem * 3 / 4 >> 20);
    REQUIRE(wait_until([&] { return balloon.stats().actual_pages == (kMem * 3 / 4) / 4096; }, 30s));
    uint64_t after = resident_bytes(vm);
    INFO("resident after inflate " << (after >> 20) << " MiB");
    CHECK(before - after >= kMem * 7 / 10);
    auto s = balloon.stats();
    CHECK(s.inflated_pages >= (kMem * 3 / 4) / 4096);
    CHECK(s.target_mib == 192);
    CHECK(s.actual_mib == 192);

    std::this_thread::sleep_for(300ms); // the guest keeps churning and verifying
    balloon.set_target_mib(0);
    REQUIRE(vm.wait_for(60s));
    INFO(console.dump(0));
    CHECK(vm.exit_code() == 0);
    std::string usable = console.find(0, "balloon: usable pages=");
    REQUIRE_FALSE(usable.empty());
    // Everything but the guest's own tables and working set is usable again.
    CHECK(number_after(usable, "pages=") * 4096 >= kMem - (24ull << 20));
    CHECK_FALSE(console.find(0, "mismatches=0").empty());
    CHECK(console.find(0, "MISMATCH").empty());
}

TEST_CASE("dedup keeps working across inflate and deflate", "[balloon][guest][dedup]") {
    constexpr uint64_t kMem = 64ull << 20;
    ConsoleLog console;
    Host host;
    dedup::DedupConfig cfg;
    cfg.volatile_passes = 0;
    cfg.sleep_millisecs = 5;
    cfg.pages_to_scan = 100000;
    DedupService sharing(host, DedupMode::Builtin, cfg);
    const std::string cmd = "touch keep=4M scratch=0 churn=0 verify_ms=50 exit_on_zero";
    std::vector<uint64_t> ids;
    for (uint64_t i = 0; i < 2; ++i)
        ids.push_back(host.create_vm(balloon_guest("balloon", kMem, cmd, {}, i), console.events()));
    for (auto id : ids)
        host.vm(id)->start();
    for (uint64_t i = 0; i < 2; ++i)
        REQUIRE(wait_until([&] { return !console.find(i, "balloon: touched").empty(); }, 60s));

    // Identical guests: their touched heaps merge.
    uint64_t merged = 0;
    REQUIRE(wait_until(
        [&] { // settled: no change over 200 ms
            uint64_t before = sharing.stats()->pages_sharing;
            std::this_thread::sleep_for(200ms);
            merged = sharing.stats()->pages_sharing;
            return merged > 10000 && merged == before;
        },
        30s));

    // Inflating over merged pages drops their sharers.
    for (auto id : ids)
        host.vm(id)->balloon()->set_target_mib(32);
    for (auto id : ids)
        REQUIRE(wait_until([&] { return host.vm(id)->balloon()->stats().actual_mib == 32; }, 30s));
    auto s = *sharing.stats();
    CHECK(s.pages_discarded >= 2 * 8192);
    CHECK(s.pages_sharing + 7000 <= merged);

    // Deflate: the guests reuse every free page with identical contents
    // (their usable-memory check), which merges again.
    for (auto id : ids)
        host.vm(id)->balloon()->set_target_mib(0);
    for (auto id : ids)
        REQUIRE(host.vm(id)->wait_for(60s));
    for (uint64_t i = 0; i < 2; ++i) {
        INFO(console.dump(i));
        CHECK(host.vm(ids[i])->exit_code() == 0);
        CHECK_FALSE(console.find(i, "mismatches=0").empty());
    }
    CHECK(wait_until([&] { return sharing.stats()->pages_sharing > 10000; }, 30s));
}

TEST_CASE("a hostile guest breaks only its own balloon; its neighbour is unaffected",
          "[balloon][guest][hostile]") {
    ConsoleLog console;
    Host host;
    DedupService sharing(host, DedupMode::Builtin, dedup::DedupConfig{});
    BalloonConfig all{.stats_polling_interval_s = 1, .free_page_reporting = true};
    uint64_t evil = host.create_vm(balloon_guest("balloonfuzz", 32ull << 20, "rounds=400", all, 0),
                                   console.events());
    BalloonConfig good_cfg = all;
    good_cfg.amount_mib = 16;
    uint64_t good = host.create_vm(
        balloon_guest("balloon", 64ull << 20, "touch keep=8M exit_at_target", good_cfg, 1),
        console.events());
    host.vm(evil)->start();
    host.vm(good)->start();
    REQUIRE(host.vm(evil)->wait_for(120s));
    REQUIRE(host.vm(good)->wait_for(120s));
    INFO(console.dump(0) << console.dump(1));
    CHECK(host.vm(evil)->state() == VmState::Exited);
    CHECK(host.vm(evil)->exit_code() == 0);
    std::string fuzz = console.find(0, "balloonfuzz: ok");
    REQUIRE_FALSE(fuzz.empty());
    CHECK(number_after(fuzz, "needs_reset=") > 100);
    CHECK(host.vm(evil)->balloon()->stats().device_error != "");

    CHECK(host.vm(good)->exit_code() == 0);
    CHECK_FALSE(console.find(1, "done (at target)").empty());
    CHECK_FALSE(console.find(1, "mismatches=0").empty());
    auto s = host.vm(good)->balloon()->stats();
    CHECK(s.device_error.empty());
    CHECK(s.actual_mib == 16);
}

TEST_CASE("a real guest's statistics arrive at the polling interval", "[balloon][guest][stats]") {
    ConsoleLog console;
    Kvm kvm;
    Vm vm(
        kvm,
        balloon_guest("balloon", 64ull << 20, "duration_ms=10000", {.stats_polling_interval_s = 1}),
        console.events());
    vm.start();
    BalloonDevice& balloon = *vm.balloon();
    REQUIRE(wait_until([&] { return balloon.stats().guest.count("total_memory") > 0; }, 10s));
    // The first numbers come with the initial buffer; later ones on request.
    REQUIRE(wait_until([&] { return balloon.stats().stats_age_s < 0.5; }, 5s));
    balloon.set_target_mib(16);
    REQUIRE(wait_until(
        [&] {
            auto s = balloon.stats();
            return s.actual_mib == 16 && s.stats_age_s < 1.2 &&
                   s.guest.at("free_memory") < (48ull << 20);
        },
        10s));
    auto s = balloon.stats();
    CHECK(s.guest.at("total_memory") == 64ull << 20);
    CHECK(s.guest.at("available_memory") == s.guest.at("free_memory"));
    CHECK(s.guest.count("swap_in") == 1);
    vm.stop();
    vm.wait();
}

TEST_CASE("free page reporting gives freed memory back without inflating",
          "[balloon][guest][reporting]") {
    constexpr uint64_t kMem = 128ull << 20;
    ConsoleLog console;
    Kvm kvm;
    Vm vm(kvm,
          balloon_guest("balloon", kMem, "touch keep=4M report_threshold=512 duration_ms=60000",
                        {.free_page_reporting = true}),
          console.events());
    vm.start();
    REQUIRE(wait_until([&] { return !console.find(0, "balloon: touched").empty(); }, 60s));
    BalloonDevice& balloon = *vm.balloon();
    REQUIRE(wait_until([&] { return balloon.stats().reported_pages > 20000; }, 10s));
    INFO("resident " << (resident_bytes(vm) >> 20) << " MiB");
    CHECK(resident_bytes(vm) < kMem / 4);
    CHECK(balloon.stats().actual_pages == 0);
    vm.stop();
    vm.wait();
    CHECK(console.find(0, "MISMATCH").empty());
}
