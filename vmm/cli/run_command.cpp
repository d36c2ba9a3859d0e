#include "run_command.hpp"

#include "common/error.hpp"
#include "vmm/api/api_server.hpp"
#include "vmm/api/memory_json.hpp"
#include "vmm/boot/elf_loader.hpp"
#include "vmm/machine/host.hpp"
#include "vmm/memory/process_memory.hpp"
#include "vmm/sharing/dedup_service.hpp"
#include "vmm/sharing/stats_json.hpp"

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <thread>

namespace foldvm::cli {

namespace {

constexpr uint64_t kMaxImageBytes = 256ull << 20;
constexpr int kTimeoutExitCode = 124; // as timeout(1)

std::mutex g_output_mutex;

Blob read_blob(const std::string& path) {
    return std::make_shared<const std::vector<uint8_t>>(read_image_file(path, kMaxImageBytes));
}

void log_line(const std::string& msg) {
    std::lock_guard lock(g_output_mutex);
    std::fprintf(stderr, "foldvm: %s\n", msg.c_str());
}

nlohmann::json stats_line(Host& host, DedupService& sharing, OvercommitService& overcommit,
                          double t) {
    nlohmann::json j = {{"t_s", t}, {"mode", to_string(sharing.mode())}};
    if (auto stats = sharing.stats()) j["dedup"] = to_json(*stats, false);
    if (sharing.mode() == DedupMode::Ksm) j["ksm"] = ksm_json(read_ksm_counters());
    j["memory"] = api::memory_summary_json(overcommit, host);
    j["rss_kib"] = process_rss_kib();
    j["anon_rss_kib"] = process_anon_rss_kib();
    return j;
}

// Prints a JSON line of stats every interval until stopped.
class StatsPrinter {
  public:
    StatsPrinter(Host& host, DedupService& sharing, OvercommitService& overcommit,
                 double interval_s, std::chrono::steady_clock::time_point t0) {
        if (interval_s <= 0) return;
        thread_ = std::thread([this, &host, &sharing, &overcommit, interval_s, t0] {
            std::unique_lock lock(mutex_);
            while (!cv_.wait_for(lock, std::chrono::duration<double>(interval_s),
                                 [&] { return done_; })) {
                double t =
                    std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
                std::string line = stats_line(host, sharing, overcommit, t).dump();
                std::lock_guard out(g_output_mutex);
                std::fprintf(stderr, "%s\n", line.c_str());
            }
        });
    }
    ~StatsPrinter() { stop(); }
    void stop() {
        {
            std::lock_guard lock(mutex_);
            done_ = true;
        }
        cv_.notify_all();
        if (thread_.joinable()) thread_.join();
    }

  private:
    std::mutex mutex_;
    std::condition_variable cv_;
    bool done_ = false;
    std::thread thread_;
};

// Copies stdin to a guest's serial port until EOF or destruction.
class StdinPump {
  public:
    explicit StdinPump(std::shared_ptr<Vm> vm) : vm_(std::move(vm)) {
        if (::pipe2(wake_, O_CLOEXEC) != 0) return;
        thread_ = std::thread([this] { pump(); });
    }
    ~StdinPump() {
        if (thread_.joinable()) {
            char c = 0;
            [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
            thread_.join();
        }
        for (int fd : wake_)
            if (fd >= 0) ::close(fd);
    }

  private:
    void pump() {
        uint8_t buf[512];
        while (true) {
            pollfd fds[2] = {{STDIN_FILENO, POLLIN, 0}, {wake_[0], POLLIN, 0}};
            if (::poll(fds, 2, -1) < 0) {
                if (errno == EINTR) continue;
                return;
            }
            if (fds[1].revents) return;
            if (!fds[0].revents) continue;
            ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
            if (n <= 0) return; // EOF or error: the guest just gets no more input
            vm_->console_input(buf, static_cast<size_t>(n));
        }
    }

    std::shared_ptr<Vm> vm_;
    int wake_[2] = {-1, -1};
    std::thread thread_;
};

void print_summary(Host& host, DedupService& sharing, size_t vms, uint64_t mem_bytes) {
    std::lock_guard out(g_output_mutex);
    uint64_t guest_mib = vms * mem_bytes >> 20;
    std::optional<dedup::DedupStats> stats = sharing.stats();
    uint64_t pool_mib = stats ? stats->pool_bytes >> 20 : 0;
    uint64_t anon_mib = process_anon_rss_kib() / 1024;
    std::fprintf(stderr,
                 "foldvm: summary: %zu VM(s), %llu MiB guest RAM; memory in use %llu MiB "
                 "(private %llu MiB + dedup pool %llu MiB); VmRSS %llu MiB counts pool pages once "
                 "per mapping\n",
                 vms, (unsigned long long)guest_mib, (unsigned long long)(anon_mib + pool_mib),
                 (unsigned long long)anon_mib, (unsigned long long)pool_mib,
                 (unsigned long long)(process_rss_kib() / 1024));
    if (stats) {
        const dedup::DedupStats& s = *stats;
        std::fprintf(stderr,
                     "foldvm: dedup(builtin): pages_shared=%llu pages_sharing=%llu zero_pages=%llu "
                     "saved=%.1f MiB full_scans=%llu cow_breaks=%llu mappings=%llu/%llu\n",
                     (unsigned long long)s.pages_shared, (unsigned long long)s.pages_sharing,
                     (unsigned long long)s.zero_pages,
                     double((s.pages_sharing + s.zero_pages) * 4096) / (1 << 20),
                     (unsigned long long)s.full_scans, (unsigned long long)s.cow_breaks,
                     (unsigned long long)s.mappings_used, (unsigned long long)s.mappings_limit);
    } else if (sharing.mode() == DedupMode::Ksm) {
        std::fprintf(stderr, "foldvm: dedup(ksm): %s\n",
                     ksm_json(read_ksm_counters()).dump().c_str());
    }
    (void)host;
}

} // namespace

void add_run_command(CLI::App& app, RunOptions& o, int& result) {
    auto* run = app.add_subcommand(
        "run", "Boot microVMs: foldvm-ABI unikernels (ELF64) or Linux (bzImage), auto-detected");
    auto* guest =
        run->add_option("guest", o.guest, "Guest image: unikernel ELF64 or Linux bzImage");
    auto* kernel = run->add_option("--kernel", o.guest, "Same as the positional guest image");
    guest->excludes(kernel);
    kernel->excludes(guest);
    run->add_option("--mem", o.mem, "Guest RAM per VM (e.g. 64M, 1G)")->capture_default_str();
    run->add_option("--vcpus", o.vcpus, "vCPUs per VM")
        ->check(CLI::Range(1, 64))
        ->capture_default_str();
    run->add_option("--cmdline", o.cmdline,
                    "Guest command line (Linux default: console=ttyS0 reboot=k panic=-1 ...)");
    run->add_option("--initrd", o.initrd,
                    "Linux initramfs, or a blob whose address a unikernel finds in boot info");
    run->add_option("--count", o.count, "Number of identical VMs")
        ->check(CLI::Range(1, 4096))
        ->capture_default_str();
    run->add_option("--guest-cpl", o.guest_cpl, "Guest privilege level")
        ->check(CLI::IsMember({0, 3}))
        ->capture_default_str();
    run->add_option("--timeout", o.timeout_s, "Stop all VMs after SEC seconds (exit 124)")
        ->check(CLI::NonNegativeNumber);
    run->add_option("--dedup", o.dedup_mode, "Page sharing: builtin, ksm (host KSM) or off")
        ->check(CLI::IsMember(dedup_mode_names()))
        ->capture_default_str();
    run->add_option("--dedup-domain", o.dedup_domain,
                    "Dedup domain of these VMs; non-zero pages merge only within one")
        ->capture_default_str();
    run->add_option("--dedup-opt", o.dedup_opts, "Dedup knob KEY=VALUE (repeatable)");
    run->add_option("--stats-interval", o.stats_interval_s,
                    "Print dedup and memory stats as JSON lines to stderr every SEC seconds")
        ->check(CLI::NonNegativeNumber);
    run->add_option("--dirty-log", o.dirty_log,
                    "How guest writes are tracked for dedup: bitmap or ring (KVM dirty ring)")
        ->check(CLI::IsMember({"bitmap", "ring"}))
        ->capture_default_str();
    run->add_option("--kernel-decompress", o.kernel_decompress,
                    "Linux: inflate the bzImage on the host and boot the vmlinux (host), or let "
                    "the guest decompress itself (guest)")
        ->check(CLI::IsMember({"host", "guest"}))
        ->capture_default_str();
    run->add_flag("--summary", o.summary, "Print a memory summary to stderr at the end");
    run->add_option("--api-sock", o.api_sock,
                    "Serve the REST API on this Unix socket during the run");
    auto* balloon = run->add_option("--balloon", o.balloon,
                                    "Add a virtio balloon: [target_mib=N,deflate_on_oom=1,"
                                    "stats_polling_interval_s=S,free_page_reporting=1]")
                        ->expected(0, 1);
    run->add_option("--drive", o.drives,
                    "Add a virtio-blk drive (repeatable): path=FILE[,readonly=1][,id=NAME]")
        ->allow_extra_args(false);
    add_overcommit_options(*run, o.overcommit);
    run->callback([&o, &result, balloon, guest, kernel] {
        if (guest->count() == 0 && kernel->count() == 0)
            throw CLI::RequiredError("a guest image (positional) or --kernel");
        o.balloon_enabled = balloon->count() > 0;
        result = run_command(o);
    });
}

int run_command(const RunOptions& o) {
    VmConfig base;
    base.kernel_path = o.guest;
    base.image = read_blob(o.guest);
    if (!o.initrd.empty()) {
        base.initrd = read_blob(o.initrd);
        base.initrd_path = o.initrd;
    }
    base.mem_bytes = parse_size(o.mem);
    base.vcpus = o.vcpus;
    base.cmdline = o.cmdline;
    base.guest_cpl = o.guest_cpl;
    base.dedup_domain = o.dedup_domain;
    DedupMode mode = parse_dedup_mode(o.dedup_mode);
    base.dirty_ring = o.dirty_log == "ring";
    if (o.balloon_enabled) base.balloon = parse_balloon_options(o.balloon);
    base.host_decompress = o.kernel_decompress == "host";
    for (size_t i = 0; i < o.drives.size(); ++i)
        base.drives.push_back(parse_drive_options(o.drives[i], "drive" + std::to_string(i)));
    base.validate();
    dedup::DedupConfig dedup_config = dedup_config_from_options(o.dedup_opts);
    OvercommitConfig overcommit_config = cli::overcommit_config(o.overcommit);

    Host host;
    DedupService sharing(host, mode, dedup_config);
    OvercommitService overcommit(host, sharing, overcommit_config, log_line);
    OvercommitRegistration registration(host, overcommit); // after dedup's
    sharing.prepare(base);
    overcommit.prepare(base);
    bool prefix = o.count > 1;
    VmEvents events;
    events.console_line = [prefix](uint64_t index, const std::string& line) {
        std::lock_guard lock(g_output_mutex);
        if (prefix) std::fprintf(stdout, "[vm%llu] ", static_cast<unsigned long long>(index));
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
    };
    events.boot_marker = [](uint64_t index, uint8_t value, double ms) {
        std::lock_guard lock(g_output_mutex);
        std::fprintf(stderr, "foldvm: vm %llu boot marker %u at %.3f ms\n",
                     static_cast<unsigned long long>(index), value, ms);
    };
    events.diagnostic = [](uint64_t index, const std::string& text) {
        std::lock_guard lock(g_output_mutex);
        std::fprintf(stderr, "foldvm: vm%llu crashed: %s\n", static_cast<unsigned long long>(index),
                     text.c_str());
    };

    std::vector<uint64_t> ids;
    for (int i = 0; i < o.count; ++i) {
        VmConfig cfg = base;
        cfg.index = static_cast<uint64_t>(i);
        ids.push_back(host.create_vm(cfg, events));
    }
    // The socket appears only once the VMs exist, so a client that waits for
    // it never sees an empty host.
    std::unique_ptr<api::ApiServer> api_server;
    if (!o.api_sock.empty())
        api_server = std::make_unique<api::ApiServer>(
            host, sharing, overcommit, api::ApiServerOptions{.socket_path = o.api_sock});
    for (uint64_t id : ids)
        host.vm(id)->start();
    auto started = std::chrono::steady_clock::now();
    // A single Linux guest's ttyS0 reads the host's stdin, as with Firecracker.
    std::unique_ptr<StdinPump> stdin_pump;
    if (o.count == 1 && host.vm(ids[0])->is_linux())
        stdin_pump = std::make_unique<StdinPump>(host.vm(ids[0]));
    StatsPrinter printer(host, sharing, overcommit, o.stats_interval_s, started);

    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
    bool timed_out = false;
    for (uint64_t id : ids) {
        auto vm = host.vm(id);
        if (!vm) continue; // removed through the API
        if (o.timeout_s > 0) {
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() < 0 || !vm->wait_for(left)) {
                timed_out = true;
                break;
            }
        } else {
            vm->wait();
        }
    }
    if (timed_out) {
        std::fprintf(stderr, "foldvm: timeout after %.3g s, stopping %d VM(s)\n", o.timeout_s,
                     o.count);
        host.stop_all();
    }
    int status = 0;
    for (uint64_t id : ids) {
        auto vm = host.vm(id);
        if (!vm) continue;
        vm->wait();
        if (status == 0 && vm->exit_code() != 0) status = vm->exit_code();
    }
    if (timed_out) status = kTimeoutExitCode;
    printer.stop();
    stdin_pump.reset();
    if (api_server) api_server->stop();
    if (o.summary) print_summary(host, sharing, ids.size(), base.mem_bytes);
    return status;
}

} // namespace foldvm::cli
