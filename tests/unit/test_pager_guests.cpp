// The overcommit pager with real guests: memfill fills its RAM with known
// contents and keeps verifying them while the host evicts its pages, so a
// vCPU that touches an evicted page must block in userfaultfd and resume
// with the right bytes, or the guest reports a mismatch.
#include "temp_image.hpp"

#include "common/procfs.hpp"
#include "vmm/boot/elf_loader.hpp"
#include "vmm/devices/virtio/balloon.hpp"
#include "vmm/machine/console_log.hpp"
#include "vmm/machine/host.hpp"
#include "vmm/overcommit/budget_guard.hpp"
#include "vmm/overcommit/overcommit_service.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <catch2/catch.hpp>

#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <functional>
#include <thread>

using namespace foldvm;
using namespace std::chrono_literals;

namespace {

Blob load(const char* name) {
    return std::make_shared<const std::vector<uint8_t>>(
        read_image_file(std::string(GUEST_DIR) + "/" + name + ".elf", 64 << 20));
}

// Every test here needs the pager's userfaultfd: without it, one line says why.
#define SKIP_WITHOUT_USERFAULTFD()                                                                 \
    do {                                                                                           \
        if (!userfaultfd_features().available) {                                                   \
            WARN("SKIP: " << userfaultfd_features().reason);                                       \
            return;                                                                                \
        }                                                                                          \
    } while (0)

bool wait_until(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

uint64_t resident_pages(Vm& vm) {
    return procfs::resident_pages(vm.memory().host_base(), vm.memory().size());
}

// A host whose budget is far above what the tests use: evictions come only
// from park() and per-VM limits, so each test decides what leaves memory.
struct PagedHost {
    explicit PagedHost(DedupMode mode, OvercommitConfig oc = {})
        : dedup(host, mode, {}), overcommit(host, dedup, with_budget(oc)) {}
    ~PagedHost() {
        host.stop_all();
        for (auto& [id, vm] : host.vms())
            host.remove_vm(id);
    }
    static OvercommitConfig with_budget(OvercommitConfig oc) {
        if (!oc.budget_mib) oc.budget_mib = 16384;
        if (oc.swap_dir == OvercommitConfig{}.swap_dir) oc.swap_dir = "/tmp";
        return oc;
    }
    uint64_t create(const std::string& cmdline, uint64_t mem, uint64_t index, VmEvents events,
                    const char* guest = "memfill",
                    const std::function<void(VmConfig&)>& edit = {}) {
        VmConfig c;
        c.image = load(guest);
        c.kernel_path = guest;
        c.mem_bytes = mem;
        c.cmdline = cmdline;
        c.index = index;
        if (edit) edit(c);
        dedup.prepare(c);
        overcommit.prepare(c);
        uint64_t id = host.create_vm(std::move(c), std::move(events));
        host.vm(id)->start();
        return id;
    }
    Host host;
    DedupService dedup;
    OvercommitService overcommit;
};

} // namespace

TEST_CASE("a vCPU touching evicted pages blocks in userfaultfd and resumes with its bytes",
          "[pager][guest]") {
    SKIP_WITHOUT_USERFAULTFD();
    ConsoleLog console;
    PagedHost h(DedupMode::Off);
    uint64_t id =
        h.create("shared=0.3 zero=0.2 verify verify_ms=1500", 64ull << 20, 0, console.events());
    Vm& vm = *h.host.vm(id);
    REQUIRE(wait_until([&] { return !console.find(0, "memfill: filled").empty(); }, 60s));
    uint64_t before = resident_pages(vm);
    auto t0 = std::chrono::steady_clock::now();
    REQUIRE(h.overcommit.park(id));
    double park_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    uint64_t after = resident_pages(vm);
    auto parked = *h.overcommit.vm_stats(id);
    INFO("resident " << before << " -> " << after << " pages; park " << park_ms << " ms; zero "
                     << parked.zero_pages << " compressed " << parked.compressed_pages
                     << " swapped " << parked.swapped_pages);
    CHECK(parked.state == "parked");
    CHECK(before > 15000);
    // The guest verifies every 1.5 s: right after parking, almost nothing is
    // back yet.
    CHECK(after < before / 10);
    CHECK(parked.zero_pages > 0);
    CHECK(parked.compressed_pages + parked.swapped_pages > 0);
    REQUIRE(h.overcommit.unpark(id));

    // Every page is read again by the guest's next verify rounds.
    REQUIRE(wait_until([&] { return !console.find(0, "verify round=2 ").empty(); }, 60s));
    auto back = *h.overcommit.vm_stats(id);
    INFO(console.dump(0));
    INFO("faults: zero " << back.faults_zero << " compressed " << back.faults_compressed << " swap "
                         << back.faults_swap << " fresh " << back.faults_fresh << " around "
                         << back.pages_faulted_around << "; p50 " << back.fault_latency_us_p50
                         << " us p99 " << back.fault_latency_us_p99 << " us");
    CHECK(console.find(0, "MISMATCH").empty());
    CHECK_FALSE(console.find(0, "verify round=1 pages=").empty());
    CHECK(console.find(0, "mismatches=1").empty());
    CHECK(back.faults_zero + back.faults_compressed + back.faults_swap > 0);
    CHECK(back.pages_faulted_around > 0);
    CHECK(vm.state() == VmState::Running);
    WARN("pager: park " << park_ms << " ms, fault service p50 " << back.fault_latency_us_p50
                        << " us p99 " << back.fault_latency_us_p99 << " us");
}

TEST_CASE("a VM's dedup region is gone before its pager stops serving faults", "[pager][guest]") {
    SKIP_WITHOUT_USERFAULTFD();
    // The scanner reads guest RAM; a page not in memory makes it wait on
    // the userfaultfd only the pager serves. Removing the pager first left
    // the scanner blocked for good and `foldvm serve` hung on SIGTERM.
    ConsoleLog console;
    PagedHost h(DedupMode::Builtin);
    uint64_t id = h.create("shared=0.3 zero=0.2", 16ull << 20, 0, console.events());
    std::shared_ptr<Vm> vm = h.host.vm(id);
    REQUIRE(wait_until([&] { return !console.find(0, "memfill: filled").empty(); }, 60s));
    REQUIRE(h.overcommit.park(id));
    REQUIRE(h.dedup.stats(id).has_value());
    vm->stop();
    vm->wait();
    h.overcommit.vm_removed(id, *vm);
    CHECK_FALSE(h.dedup.stats(id).has_value());
}

namespace {

// A small tmpfs for the swap directory, unmounted at the end whatever
// happens.
struct SmallTmpfs {
    explicit SmallTmpfs(const char* size) {
        char tmpl[] = "/tmp/foldvm-swapfs-XXXXXX";
        if (!::mkdtemp(tmpl)) return;
        dir = tmpl;
        std::string opts = std::string("size=") + size;
        mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, opts.c_str()) == 0;
        if (!mounted) why = std::strerror(errno);
    }
    ~SmallTmpfs() {
        if (mounted) ::umount2(dir.c_str(), MNT_DETACH);
        if (!dir.empty()) ::rmdir(dir.c_str());
    }
    std::string dir, why;
    bool mounted = false;
};

// The fd of this process's O_TMPFILE swap file in `dir` ("dir/#ino (deleted)").
int find_swap_fd(const std::string& dir) {
    for (int fd = 3; fd < 4096; ++fd) {
        char link[64], target[512];
        std::snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
        ssize_t n = ::readlink(link, target, sizeof target - 1);
        if (n <= 0) continue;
        target[n] = 0;
        if (std::string(target).rfind(dir + "/#", 0) == 0) return fd;
    }
    return -1;
}

} // namespace

TEST_CASE("a VM's swap file is opened only when a page first goes to swap",
          "[pager][guest][faults]") {
    SKIP_WITHOUT_USERFAULTFD();
    ConsoleLog console;
    OvercommitConfig oc;
    oc.compress_max_bytes = 256; // nothing fits the compressed tier
    PagedHost h(DedupMode::Off, oc);
    uint64_t id = h.create("shared=0.5 verify verify_ms=200", 16ull << 20, 0, console.events());
    REQUIRE(wait_until([&] { return !console.find(0, "memfill: filled").empty(); }, 60s));
    CHECK(find_swap_fd("/tmp") < 0); // running, never evicted: no file, key or thread
    REQUIRE(h.overcommit.park(id));
    REQUIRE(wait_until([&] { return h.overcommit.vm_stats(id)->swapped_pages > 0; }, 30s));
    CHECK(find_swap_fd("/tmp") >= 0);
    REQUIRE(h.overcommit.unpark(id));
    std::this_thread::sleep_for(500ms);
    CHECK(console.find(0, "MISMATCH").empty());
}

TEST_CASE("a full compressed tier moves its oldest pages on to swap; they come back intact",
          "[pager][guest]") {
    SKIP_WITHOUT_USERFAULTFD();
    ConsoleLog console;
    OvercommitConfig oc;
    oc.compressed_max_mib = 1;
    oc.compress_max_bytes = 4032; // text pages (lz4: about 3 KiB) are kept: a few hundred fit
    PagedHost h(DedupMode::Off, oc);
    uint64_t old_vm = h.create("text=0.8 verify verify_ms=2500", 16ull << 20, 0, console.events());
    uint64_t new_vm = h.create("text=0.8 verify verify_ms=2500", 16ull << 20, 1, console.events());
    REQUIRE(wait_until(
        [&] {
            return !console.find(0, "memfill: filled").empty() &&
                   !console.find(1, "memfill: filled").empty();
        },
        60s));
    // The first VM parked fills the tier; the rest of it goes to swap.
    REQUIRE(h.overcommit.park(old_vm));
    auto first = *h.overcommit.vm_stats(old_vm);
    auto tier = h.overcommit.host_stats().compressed;
    INFO("old VM parked: zero " << first.zero_pages << ", compressed " << first.compressed_pages
                                << ", swapped " << first.swapped_pages << "; tier "
                                << tier.allocated_bytes << " of " << tier.limit_bytes << " bytes");
    REQUIRE(first.compressed_pages > 100);
    REQUIRE(wait_until([&] { return h.overcommit.vm_stats(old_vm)->swapped_pages > 0; }, 5s));
    // The second one's pages are turned away by the full tier: as many of
    // the first one's, compressed earlier, move on to swap.
    REQUIRE(h.overcommit.park(new_vm));
    REQUIRE(wait_until([&] { return h.overcommit.host_stats().governor.pages_demoted > 0; }, 5s));
    auto later = *h.overcommit.vm_stats(old_vm);
    INFO("old VM compressed " << first.compressed_pages << " -> " << later.compressed_pages
                              << ", swapped " << first.swapped_pages << " -> "
                              << later.swapped_pages << "; demoted "
                              << h.overcommit.host_stats().governor.pages_demoted);
    CHECK(later.compressed_pages < first.compressed_pages);
    CHECK(h.overcommit.vm_stats(new_vm)->compressed_pages > 0);
    // Both read every page again; the demoted ones come from swap.
    REQUIRE(h.overcommit.unpark(old_vm));
    REQUIRE(h.overcommit.unpark(new_vm));
    REQUIRE(wait_until(
        [&] {
            return !console.find(0, "verify round=2 ").empty() &&
                   !console.find(1, "verify round=2 ").empty();
        },
        60s));
    INFO(console.dump(0));
    CHECK(console.find(0, "MISMATCH").empty());
    CHECK(console.find(1, "MISMATCH").empty());
    CHECK(h.overcommit.vm_stats(old_vm)->faults_swap > 0);
}

TEST_CASE("a full swap directory keeps pages in memory and the guest running",
          "[pager][guest][faults]") {
    SKIP_WITHOUT_USERFAULTFD();
    SmallTmpfs fs("256k");
    if (!fs.mounted) {
        WARN("SKIP: cannot mount a tmpfs: " << fs.why);
        return;
    }
    ConsoleLog console;
    OvercommitConfig oc;
    oc.budget_mib = 16384;
    oc.swap_dir = fs.dir;
    // Nothing fits the compressed tier: every page goes to swap.
    oc.compress_max_bytes = 256;
    Host host;
    DedupService dedup(host, DedupMode::Off, {});
    OvercommitService overcommit(host, dedup, oc);
    VmConfig c;
    c.image = load("memfill");
    c.mem_bytes = 32ull << 20;
    c.cmdline = "verify verify_ms=1000";
    overcommit.prepare(c);
    uint64_t id = host.create_vm(std::move(c), console.events());
    host.vm(id)->start();
    REQUIRE(wait_until([&] { return !console.find(0, "memfill: filled").empty(); }, 60s));
    REQUIRE(overcommit.park(id));
    REQUIRE(wait_until([&] { return !overcommit.host_stats().swap.enabled; }, 10s));
    auto hs = overcommit.host_stats();
    INFO("swap: " << hs.swap.disabled_reason << ", written " << hs.swap.bytes_written);
    CHECK(hs.swap.disabled_reason.find("No space left") != std::string::npos);
    REQUIRE(wait_until([&] { return !console.find(0, "verify round=2 ").empty(); }, 60s));
    INFO(console.dump(0));
    CHECK(console.find(0, "MISMATCH").empty());
    CHECK(host.vm(id)->state() == VmState::Running);
    host.stop_all();
    host.remove_vm(id);
}

TEST_CASE("a damaged stored page fails only its own VM, with the reason",
          "[pager][guest][faults]") {
    SKIP_WITHOUT_USERFAULTFD();
    std::string what = GENERATE(std::string("compressed"), std::string("swap"));
    ConsoleLog console;
    OvercommitConfig oc;
    if (what == "swap") oc.compress_max_bytes = 256; // everything to swap
    PagedHost h(DedupMode::Off, oc);
    uint64_t victim =
        h.create("shared=0.5 verify verify_ms=1000", 32ull << 20, 0, console.events());
    uint64_t bystander =
        h.create("shared=0.5 verify verify_ms=300", 32ull << 20, 1, console.events());
    REQUIRE(wait_until([&] { return !console.find(0, "memfill: filled").empty(); }, 60s));
    REQUIRE(h.overcommit.park(victim));
    if (what == "compressed") {
        REQUIRE(h.overcommit.corrupt_compressed_for_testing(victim));
    } else {
        REQUIRE(
            wait_until([&] { return h.overcommit.vm_stats(victim)->swapped_pages > 100; }, 10s));
        int fd = find_swap_fd("/tmp");
        REQUIRE(fd >= 0);
        REQUIRE(::ftruncate(fd, 0) == 0); // the file "removed" underneath
    }
    Vm& vm = *h.host.vm(victim);
    REQUIRE(wait_until([&] { return vm.finished(); }, 30s));
    INFO(vm.crash_reason());
    CHECK(vm.state() == VmState::Crashed);
    CHECK(vm.crash_reason().find("could not be restored") != std::string::npos);
    // The other VM goes on verifying its memory.
    size_t rounds_before = console.dump(1).size();
    std::this_thread::sleep_for(1s);
    CHECK(h.host.vm(bystander)->state() == VmState::Running);
    CHECK(console.dump(1).size() > rounds_before);
    CHECK(console.find(1, "MISMATCH").empty());
}

TEST_CASE("the budget guard holds every VM over the low line until the release line",
          "[pager][guest][guard]") {
    SKIP_WITHOUT_USERFAULTFD();
    ConsoleLog console;
    PagedHost h(DedupMode::Off);
    uint64_t a = h.create("verify verify_ms=50", 16ull << 20, 0, console.events());
    uint64_t b = h.create("verify verify_ms=50", 16ull << 20, 1, console.events());
    REQUIRE(wait_until(
        [&] {
            return !console.find(0, "memfill: verify").empty() &&
                   !console.find(1, "memfill: verify").empty();
        },
        60s));
    std::atomic<uint64_t> used{100};
    overcommit::BudgetGuard guard(5ms, [&] { return used.load(); });
    guard.set_lines(1000, 500);
    guard.add(a, *h.host.vm(a));
    guard.add(b, *h.host.vm(b));
    std::this_thread::sleep_for(100ms);
    CHECK_FALSE(guard.stats().holding);

    used = 2000;
    REQUIRE(wait_until([&] { return guard.stats().holding; }, 5s));
    std::this_thread::sleep_for(300ms); // a round already under way may still print
    size_t seen_a = console.dump(0).size(), seen_b = console.dump(1).size();
    std::this_thread::sleep_for(500ms);
    CHECK(console.dump(0).size() == seen_a);
    CHECK(console.dump(1).size() == seen_b);
    used = 700; // between the lines: still held
    std::this_thread::sleep_for(100ms);
    CHECK(guard.stats().holding);

    used = 400;
    REQUIRE(wait_until([&] { return !guard.stats().holding; }, 5s));
    CHECK(wait_until(
        [&] { return console.dump(0).size() > seen_a && console.dump(1).size() > seen_b; }, 10s));
    CHECK(guard.stats().brakes == 1);
    CHECK(guard.stats().held_ms >= 800);
    guard.remove(a);
    guard.remove(b);
    CHECK(console.find(0, "MISMATCH").empty());
}

TEST_CASE("no write is lost under dedup, eviction, the balloon and virtio-blk at once",
          "[pager][guest][stress]") {
    SKIP_WITHOUT_USERFAULTFD();
    ConsoleLog console;
    OvercommitConfig oc;
    oc.governor_interval_ms = 5;
    // On tmpfs: this test is about lost writes, and on a disk each of its
    // ~500k swap-ins is a real read (swapped slots leave the page cache).
    oc.swap_dir = "/dev/shm";
    PagedHost h(DedupMode::Builtin, oc);
    // Per-VM limits far below what the guests touch keep the pager evicting
    // the whole time; memfill checks every page against its checksum.
    auto limit = [](uint64_t mib) { return [mib](VmConfig& c) { c.mem_limit_mib = mib; }; };
    const std::string churn =
        "shared=0.5 zero=0.1 churn=100000 verify verify_ms=400 duration_ms=6000 "
        "min_writes=500000";
    uint64_t a = h.create(churn, 64ull << 20, 0, console.events(), "memfill", limit(40));
    uint64_t b = h.create(churn, 64ull << 20, 1, console.events(), "memfill", limit(40));
    uint64_t balloon = h.create("touch keep=8M scratch=64 churn=4 verify_ms=100", 64ull << 20, 2,
                                console.events(), "balloon", [&](VmConfig& c) {
                                    c.balloon = BalloonConfig{};
                                    c.balloon->free_page_reporting = true;
                                    c.mem_limit_mib = 4;
                                });
    test::TempImage img(1 << 20);
    REQUIRE(wait_until([&] { return !console.find(2, "balloon: touched").empty(); }, 60s));
    BalloonDevice& dev = *h.host.vm(balloon)->balloon();
    for (int round = 0; round < 4; ++round) {
        // blkcheck's rings and buffers live under a 2 MiB limit: device
        // threads read and write evicted guest pages.
        uint64_t blk =
            h.create("", 32ull << 20, 3 + round, console.events(), "blkcheck", [&](VmConfig& c) {
                c.drives = {{.path = img.path()}};
                c.mem_limit_mib = 2;
            });
        dev.set_target_mib(round % 2 ? 8 : 40);
        REQUIRE(h.host.vm(blk)->wait_for(60s));
        INFO(console.dump(3 + round));
        CHECK(h.host.vm(blk)->exit_code() == 0);
        h.host.remove_vm(blk);
        REQUIRE_FALSE(h.dedup.stats(blk));
    }
    {
        bool a_done = h.host.vm(a)->wait_for(400s);
        auto st = *h.overcommit.vm_stats(a);
        INFO("vm a: " << console.dump(0));
        INFO("vm a resident " << st.resident_pages << " faults compressed " << st.faults_compressed
                              << " zero " << st.faults_zero << " swap " << st.faults_swap
                              << " fresh " << st.faults_fresh << " p99 " << st.fault_latency_us_p99
                              << " us");
        REQUIRE(a_done);
    }
    REQUIRE(h.host.vm(b)->wait_for(60s));
    uint64_t writes = 0;
    for (uint64_t vm : {0, 1}) {
        std::string done = console.find(vm, "memfill: done");
        INFO(console.dump(vm));
        REQUIRE_FALSE(done.empty());
        CHECK(done.find("mismatches=0") != std::string::npos);
        writes += std::stoull(done.substr(done.find("writes=") + 7));
    }
    CHECK(h.host.vm(a)->exit_code() == 0);
    CHECK(h.host.vm(b)->exit_code() == 0);
    CHECK(writes >= 1000000);
    auto sa = *h.overcommit.vm_stats(a);
    auto sballoon = *h.overcommit.vm_stats(balloon);
    INFO("vm a faults: compressed " << sa.faults_compressed << " zero " << sa.faults_zero
                                    << " swap " << sa.faults_swap);
    CHECK(sa.faults_compressed + sa.faults_zero + sa.faults_swap > 1000);
    CHECK(sballoon.faults_compressed + sballoon.faults_zero + sballoon.faults_swap > 0);
    CHECK(console.find(2, "MISMATCH").empty());
    CHECK(h.host.vm(balloon)->state() == VmState::Running);
    CHECK(h.dedup.stats()->pages_sharing > 0);
    WARN("stress: " << writes << " checked writes; vm a p50 " << sa.fault_latency_us_p50
                    << " us p99 " << sa.fault_latency_us_p99 << " us");
}
