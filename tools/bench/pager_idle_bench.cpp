// foldvm-bench pager-idle: what an idle pager costs memory that was never
// evicted. The same guests boot and fill their RAM on two hosts in one
// process, interleaved round by round: one with the OvercommitService (its
// userfaultfd registered, a budget nothing comes near), one without. The
// target is a ratio <= 1.05 for boot and for fill.
#include "bench_util.hpp"
#include "timed_console.hpp"

#include "vmm/boot/elf_loader.hpp"
#include "vmm/machine/host.hpp"
#include "vmm/overcommit/overcommit_service.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>

namespace foldvm::bench {

namespace {

struct Side {
    Host host;
    dedup::DedupConfig dedup_config;
    DedupService dedup{host, DedupMode::Off, dedup_config};
    std::optional<OvercommitService> overcommit;
    TimedConsole console;
    uint64_t next_index = 0;

    uint64_t create(Blob image, uint64_t mem, const std::string& cmdline) {
        VmConfig c;
        c.image = std::move(image);
        c.mem_bytes = mem;
        c.cmdline = cmdline;
        c.dirty_logging = false;
        c.index = next_index++;
        dedup.prepare(c);
        if (overcommit) overcommit->prepare(c);
        return host.create_vm(std::move(c), console.events());
    }
    void remove(uint64_t id) {
        host.vm(id)->stop();
        host.vm(id)->wait_for(std::chrono::seconds(10));
        host.remove_vm(id);
    }
};

double median(std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v.empty() ? 0 : v[v.size() / 2];
}

// Creation to the guest's first hypercall.
double boot_ms(Side& s, const Blob& hello) {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t id = s.create(hello, 4 << 20, "");
    auto vm = s.host.vm(id);
    vm->start();
    while (vm->first_hypercall_at().time_since_epoch().count() == 0 && !vm->finished())
        std::this_thread::yield();
    double ms = std::chrono::duration<double, std::milli>(vm->first_hypercall_at() - t0).count();
    s.remove(id);
    return ms;
}

// Pages per second from start to memfill's "filled" line (first touch of
// every page: the path the pager would be on).
double fill_pages_per_s(Side& s, const Blob& memfill, uint64_t mem) {
    uint64_t id = s.create(memfill, mem, "shared=0.3 zero=0.1 text=0.3 verify verify_ms=100000");
    uint64_t index = s.next_index - 1;
    auto vm = s.host.vm(id);
    auto t0 = TimedConsole::Clock::now();
    vm->start();
    std::optional<TimedConsole::Line> filled;
    while (!(filled = s.console.find(index, "memfill: filled")) && !vm->finished() &&
           seconds_since(t0) < 120)
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    s.remove(id);
    if (!filled) throw std::runtime_error("memfill did not fill its memory within 120 s");
    return double(mem / 4096) / std::chrono::duration<double>(filled->t - t0).count();
}

} // namespace

int run_pager_idle_bench(int argc, char** argv) {
    int rounds = 10;
    uint64_t mem = 64ull << 20;
    for (int i = 0; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        if (k == "--rounds")
            rounds = std::stoi(argv[i + 1]);
        else if (k == "--mem")
            mem = std::stoull(argv[i + 1]) << 20;
        else
            throw std::invalid_argument("unknown option " + k + " (--rounds N, --mem MIB)");
    }
    if (rounds < 1 || mem < (4ull << 20))
        throw std::invalid_argument("--rounds >= 1 and --mem >= 4 (MiB)");
    std::string dir = self_dir();
    Blob hello = std::make_shared<const std::vector<uint8_t>>(
        read_image_file(dir + "/guest-kernels/hello.elf", 64 << 20));
    Blob memfill = std::make_shared<const std::vector<uint8_t>>(
        read_image_file(dir + "/guest-kernels/memfill.elf", 64 << 20));

    Side off, on;
    OvercommitConfig oc;
    oc.budget_mib = 16384; // far above what the guests use: nothing is evicted
    oc.swap_dir = "/var/tmp";
    on.overcommit.emplace(on.host, on.dedup, oc);

    std::vector<double> boot_off, boot_on, fill_off, fill_on;
    for (int r = 0; r < rounds; ++r) {
        // Alternate which side goes first, so drift hits both alike.
        Side* first = r % 2 ? &on : &off;
        Side* second = r % 2 ? &off : &on;
        for (Side* s : {first, second}) {
            (s == &on ? boot_on : boot_off).push_back(boot_ms(*s, hello));
            (s == &on ? fill_on : fill_off).push_back(fill_pages_per_s(*s, memfill, mem));
        }
    }
    uint64_t evicted = on.overcommit->host_stats().governor.pages_swapped +
                       on.overcommit->host_stats().governor.pages_compressed +
                       on.overcommit->host_stats().governor.pages_zero;
    nlohmann::json out = {
        {"bench", "pager-idle"},
        {"rounds", rounds},
        {"mem_bytes", mem},
        {"note", "median per side; ratio = pager on / off (boot: time, lower is better; fill: "
                 "pages/s, higher is better); target boot <= 1.05, fill >= 0.95"},
        {"boot_ms",
         {{"off", median(boot_off)},
          {"on", median(boot_on)},
          {"ratio", median(boot_on) / median(boot_off)}}},
        {"fill_pages_per_s",
         {{"off", median(fill_off)},
          {"on", median(fill_on)},
          {"ratio", median(fill_on) / median(fill_off)}}},
        {"pages_evicted", evicted},
    };
    std::cout << out.dump() << std::endl;
    return 0;
}

} // namespace foldvm::bench
