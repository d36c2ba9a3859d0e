// foldvm-bench balloon: how fast the balloon gives guest memory back.
//
// One balloon guest with its RAM resident on the host; the benchmark sets
// the balloon target to --fraction of RAM and times
//   inflate: target change -> the guest reports `actual` == target;
//   reclaim: target change -> the VM's resident memory (mincore over guest
//            RAM) has dropped by 99% of the balloon's size;
//   deflate: target back to 0 -> the guest reports `actual` == 0.
// Rates are balloon bytes per second (GiB/s). Prints one JSON object.
//
// Guest RAM is made resident from the host (MADV_POPULATE_WRITE) by default:
// a guest's first touch of a page costs ~30 us under the build machines'
// nested KVM, which would make filling GiBs take minutes. --populate guest
// has the guest touch its whole heap instead.
#include "bench_util.hpp"

#include "vmm/boot/elf_loader.hpp"
#include "vmm/devices/virtio/balloon.hpp"
#include "vmm/machine/host.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <nlohmann/json.hpp>

#include <sys/mman.h>

#include <cstdio>
#include <iostream>
#include <stdexcept>

namespace foldvm::bench {

namespace {

struct Options {
    std::string mem = "2G";
    double fraction = 0.75;
    int rounds = 3;
    std::string dedup = "off";
    std::string populate = "host";
    std::string guest;
    double timeout_s = 60;
};

Options parse(int argc, char** argv) {
    Options o;
    for (int i = 0; i < argc; ++i) {
        std::string a = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(a + " needs a value");
            return argv[++i];
        };
        if (a == "--mem")
            o.mem = value();
        else if (a == "--fraction")
            o.fraction = std::stod(value());
        else if (a == "--rounds")
            o.rounds = std::stoi(value());
        else if (a == "--dedup")
            o.dedup = value();
        else if (a == "--populate")
            o.populate = value();
        else if (a == "--guest")
            o.guest = value();
        else if (a == "--timeout")
            o.timeout_s = std::stod(value());
        else
            throw std::invalid_argument("unknown option " + a);
    }
    if (o.fraction <= 0 || o.fraction > 1)
        throw std::invalid_argument("--fraction must be in (0, 1]");
    if (o.rounds < 1) throw std::invalid_argument("--rounds must be at least 1");
    if (o.populate != "host" && o.populate != "guest")
        throw std::invalid_argument("--populate must be host or guest");
    return o;
}

double gib_per_s(uint64_t bytes, double seconds) {
    return seconds > 0 ? double(bytes) / double(1ull << 30) / seconds : 0;
}

} // namespace

int run_balloon_bench(int argc, char** argv) {
    Options o = parse(argc, argv);
    VmConfig cfg;
    cfg.kernel_path = o.guest.empty() ? self_dir() + "/guest-kernels/balloon.elf" : o.guest;
    cfg.image = std::make_shared<const std::vector<uint8_t>>(
        read_image_file(cfg.kernel_path, 256ull << 20));
    cfg.mem_bytes = parse_size(o.mem);
    DedupMode mode = parse_dedup_mode(o.dedup);
    cfg.balloon = BalloonConfig{};
    // Idle between target changes: the balloon's interrupt ends the sleep.
    cfg.cmdline = "keep=1M scratch=0 churn=0 tick_ms=1000 verify_ms=3600000";
    if (o.populate == "guest") cfg.cmdline += " touch";

    Host host;
    DedupService sharing(host, mode, dedup::DedupConfig{});
    sharing.prepare(cfg);
    ConsoleLog console;
    uint64_t id = host.create_vm(cfg, console.events());
    auto vm = host.vm(id);
    BalloonDevice& balloon = *vm->balloon();
    uint8_t* ram = vm->memory().host_base();
    const uint64_t ram_bytes = vm->memory().size();
    if (o.populate == "host" && ::madvise(ram, ram_bytes, MADV_POPULATE_WRITE) != 0)
        throw std::runtime_error("madvise(MADV_POPULATE_WRITE) failed");
    vm->start();
    if (!wait_until([&] { return console.vms_with("balloon: device ready") > 0; }, o.timeout_s))
        throw std::runtime_error("the guest's balloon driver did not start");
    if (o.populate == "guest" &&
        !wait_until([&] { return console.vms_with("balloon: touched") > 0; }, o.timeout_s * 10))
        throw std::runtime_error("the guest did not finish touching its heap");

    const uint64_t target_mib = static_cast<uint64_t>(double(ram_bytes >> 20) * o.fraction);
    const uint64_t target_bytes = target_mib << 20;
    std::vector<double> inflate_s, reclaim_s, deflate_s;
    uint64_t resident_before = 0, resident_after = 0;
    for (int round = 0; round < o.rounds; ++round) {
        if (round > 0 && o.populate == "host" &&
            ::madvise(ram, ram_bytes, MADV_POPULATE_WRITE) != 0)
            throw std::runtime_error("madvise(MADV_POPULATE_WRITE) failed");
        resident_before = resident_pages(ram, ram_bytes) * 4096;
        // Reclaimed: 99% of the balloon's size left the VM's resident set (the
        // guest's own PFN array grows while it inflates).
        uint64_t drop = target_bytes / 100 * 99;
        uint64_t goal = resident_before > drop ? resident_before - drop : 0;
        auto t0 = std::chrono::steady_clock::now();
        balloon.set_target_mib(target_mib);
        double t_reclaim = -1, t_inflate = -1;
        while (seconds_since(t0) < o.timeout_s && (t_reclaim < 0 || t_inflate < 0) &&
               !vm->finished()) {
            if (t_inflate < 0 && balloon.stats().actual_pages == target_mib * 256)
                t_inflate = seconds_since(t0);
            if (t_reclaim < 0 && resident_pages(ram, ram_bytes) * 4096 <= goal)
                t_reclaim = seconds_since(t0);
            std::this_thread::sleep_for(std::chrono::microseconds(200));
        }
        if (t_inflate < 0 || t_reclaim < 0) {
            auto s = balloon.stats();
            for (const auto& line : console.all())
                std::cerr << "guest: " << line << "\n";
            throw std::runtime_error(
                "the balloon did not reach its target in time (actual " +
                std::to_string(s.actual_pages) + " of " + std::to_string(s.target_pages) +
                " pages, resident " + std::to_string(resident_pages(ram, ram_bytes) >> 8) +
                " MiB, goal " + std::to_string(goal >> 20) + " MiB" +
                (s.device_error.empty() ? "" : ", device: " + s.device_error) + ")");
        }
        resident_after = resident_pages(ram, ram_bytes) * 4096;
        inflate_s.push_back(t_inflate);
        reclaim_s.push_back(t_reclaim);

        auto t1 = std::chrono::steady_clock::now();
        balloon.set_target_mib(0);
        if (!wait_until([&] { return balloon.stats().actual_pages == 0; }, o.timeout_s, 0))
            throw std::runtime_error("the balloon did not deflate in time");
        deflate_s.push_back(seconds_since(t1));
    }
    BalloonStats stats = balloon.stats();
    vm->stop();
    vm->wait();
    for (const auto& line : console.all())
        if (line.find("MISMATCH") != std::string::npos)
            throw std::runtime_error("guest reported a data mismatch: " + line);

    double inflate = percentile(inflate_s, 50), reclaim = percentile(reclaim_s, 50),
           deflate = percentile(deflate_s, 50);
    nlohmann::json out = {
        {"bench", "balloon"},
        {"mem_mib", ram_bytes >> 20},
        {"balloon_mib", target_mib},
        {"rounds", o.rounds},
        {"dedup", o.dedup},
        {"populate", o.populate},
        {"inflate_gib_s", gib_per_s(target_bytes, inflate)},
        {"reclaim_gib_s", gib_per_s(target_bytes, reclaim)},
        {"deflate_gib_s", gib_per_s(target_bytes, deflate)},
        {"inflate_ms_median", inflate * 1e3},
        {"reclaim_ms_median", reclaim * 1e3},
        {"deflate_ms_median", deflate * 1e3},
        {"reclaim_ms_all",
         [&] {
             std::vector<double> ms;
             for (double s : reclaim_s)
                 ms.push_back(s * 1e3);
             return ms;
         }()},
        {"resident_before_mib", resident_before >> 20},
        {"resident_after_mib", resident_after >> 20},
        {"inflated_pages_total", stats.inflated_pages},
        {"deflated_pages_total", stats.deflated_pages},
        {"target_reclaim_gib_s", 4.0},
    };
    std::cout << out.dump() << std::endl;
    return 0;
}

} // namespace foldvm::bench
