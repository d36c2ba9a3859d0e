// foldvm-bench linux-boot: Linux microVM boot time, foldvm against QEMU.
//
// Meant for the nested tier (tools/nested bench), where /dev/kvm can boot
// Linux. Each boot spawns a VMM whose guest runs the L2 initramfs's /init
// with a command that exits at once. Measured per boot:
//   init_reached_ms  wall time from spawn to the console line
//                    "foldvm-init: reached" (same definition for every VMM)
//   boot_marker_ms   foldvm only: its own "boot marker ... at X ms" (VM
//                    creation to the guest's write to port 0x600)
//   exit_ms          wall time from spawn to the VMM's exit
// Boots of the VMMs are interleaved so that noise hits them alike. QEMU runs
// with -enable-kvm, -M microvm (the fair, fastest yardstick) and -M pc.
#include "bench_util.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <optional>
#include <sstream>
#include <stdexcept>

extern char** environ;

namespace foldvm::bench {

namespace {

using Clock = std::chrono::steady_clock;

struct Options {
    int boots = 5;
    std::string kernel, initrd, foldvm, qemu, mem = "256M", dedup = "off";
    std::vector<std::string> vmms = {"foldvm", "qemu-microvm", "qemu-pc"};
    std::string cmdline = "console=ttyS0 reboot=k panic=-1 i8042.noaux i8042.nomux "
                          "i8042.nopnp i8042.dumbkbd quiet initcall_blacklist=add_rtc_cmos "
                          "foldvm.modules=none";
    double timeout_s = 120;
    bool verbose = false;
};

std::string env_or(const char* name, const std::string& fallback) {
    const char* v = std::getenv(name);
    return v && *v ? v : fallback;
}

std::vector<std::string> split(const std::string& s, char sep) {
    std::vector<std::string> out;
    std::stringstream ss(s);
    for (std::string item; std::getline(ss, item, sep);)
        if (!item.empty()) out.push_back(item);
    return out;
}

struct Boot {
    bool ok = false;
    std::string error;
    std::optional<double> init_reached_ms, boot_marker_ms, exit_ms;
    int exit_status = -1;
    std::vector<std::string> tail; // last console lines, for error reports
};

// Runs argv with stdout and stderr on pipes; watches for the init line.
Boot run_once(const std::vector<std::string>& argv, const Options& o) {
    int out[2], err[2];
    if (pipe2(out, O_CLOEXEC) != 0 || pipe2(err, O_CLOEXEC) != 0)
        throw std::runtime_error(std::string("pipe2: ") + std::strerror(errno));
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, err[1], 2);
    std::vector<char*> args;
    for (auto& a : argv)
        args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    pid_t pid;
    auto t0 = Clock::now();
    int rc = posix_spawnp(&pid, args[0], &fa, nullptr, args.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    ::close(err[1]);
    Boot b;
    if (rc != 0) {
        ::close(out[0]);
        ::close(err[0]);
        b.error = "cannot start " + argv[0] + ": " + std::strerror(rc);
        return b;
    }
    auto ms_since_start = [&] {
        return std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
    };

    std::string partial[2];
    bool open[2] = {true, true};
    int fds[2] = {out[0], err[0]};
    const std::string marker = "foldvm: vm 0 boot marker ";
    auto on_line = [&](int which, std::string line) {
        if (!line.empty() && line.back() == '\r') line.pop_back();
        if (o.verbose) std::cerr << (which == 0 ? "  out| " : "  err| ") << line << "\n";
        if (which == 0 && !b.init_reached_ms && line.rfind("foldvm-init: reached", 0) == 0)
            b.init_reached_ms = ms_since_start();
        if (which == 1 && line.rfind(marker, 0) == 0) {
            auto at = line.find(" at ");
            if (at != std::string::npos)
                b.boot_marker_ms = std::strtod(line.c_str() + at + 4, nullptr);
        }
        b.tail.push_back(line);
        if (b.tail.size() > 8) b.tail.erase(b.tail.begin());
    };
    // After init is reached the guest exits by itself; grace for that, then kill.
    const double grace_ms = 20000;
    bool killed = false;
    while (open[0] || open[1]) {
        double now = ms_since_start();
        double limit = b.init_reached_ms ? *b.init_reached_ms + grace_ms : o.timeout_s * 1000;
        if (now >= limit) {
            if (!b.init_reached_ms) b.error = "no 'foldvm-init: reached' within the timeout";
            ::kill(pid, SIGKILL);
            killed = true;
            break;
        }
        pollfd p[2] = {{open[0] ? fds[0] : -1, POLLIN, 0}, {open[1] ? fds[1] : -1, POLLIN, 0}};
        int n = ::poll(p, 2, static_cast<int>(std::min(limit - now, 200.0)) + 1);
        if (n < 0 && errno != EINTR) throw std::runtime_error("poll failed");
        for (int i = 0; i < 2; ++i) {
            if (!open[i] || !(p[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            char buf[4096];
            ssize_t got = ::read(fds[i], buf, sizeof buf);
            if (got <= 0) {
                open[i] = false;
                if (!partial[i].empty()) on_line(i, partial[i]);
                continue;
            }
            partial[i].append(buf, static_cast<size_t>(got));
            for (size_t nl; (nl = partial[i].find('\n')) != std::string::npos;) {
                on_line(i, partial[i].substr(0, nl));
                partial[i].erase(0, nl + 1);
            }
        }
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    if (!killed) b.exit_ms = ms_since_start();
    ::close(out[0]);
    ::close(err[0]);
    if (WIFEXITED(status)) b.exit_status = WEXITSTATUS(status);
    b.ok = b.init_reached_ms.has_value();
    if (!b.ok && b.error.empty())
        b.error = "exited (status " + std::to_string(b.exit_status) + ") before init was reached";
    return b;
}

std::vector<std::string> command_for(const std::string& vmm, const Options& o) {
    if (vmm == "foldvm")
        return {o.foldvm, "run", "--kernel", o.kernel, "--initrd",  o.initrd,
                "--mem",  o.mem, "--dedup",  o.dedup,  "--cmdline", o.cmdline + " pci=off -- true"};
    if (vmm.rfind("qemu-", 0) == 0) {
        std::string machine = vmm.substr(5);
        // microvm has no i8042: reset by triple fault; pc has PCI: keep it on.
        std::string cmdline = o.cmdline;
        if (machine == "microvm") {
            auto k = cmdline.find("reboot=k");
            if (k != std::string::npos) cmdline.replace(k, 8, "reboot=t");
            cmdline += " pci=off";
        }
        return {o.qemu,
                "-M",
                machine,
                "-enable-kvm",
                "-cpu",
                "host",
                "-m",
                o.mem,
                "-smp",
                "1",
                "-nodefaults",
                "-no-user-config",
                "-display",
                "none",
                "-monitor",
                "none",
                "-serial",
                "stdio",
                "-no-reboot",
                "-kernel",
                o.kernel,
                "-initrd",
                o.initrd,
                "-append",
                cmdline + " -- true"};
    }
    throw std::invalid_argument("unknown VMM " + vmm + " (foldvm, qemu-microvm, qemu-pc)");
}

nlohmann::json summary(const std::vector<double>& v) {
    if (v.empty()) return nullptr;
    return {{"p50", percentile(v, 50)},
            {"min", *std::min_element(v.begin(), v.end())},
            {"max", *std::max_element(v.begin(), v.end())}};
}

} // namespace

int run_linux_boot_bench(int argc, char** argv) {
    Options o;
    o.kernel = env_or("L2_KERNEL", "/opt/l2/vmlinuz");
    o.initrd = env_or("L2_INITRD", "/opt/l2/initramfs.cpio");
    o.foldvm = self_dir() + "/foldvm";
    o.qemu = env_or("QEMU", "qemu-system-x86_64");
    for (int i = 0; i < argc; ++i) {
        std::string k = argv[i];
        auto value = [&]() -> std::string {
            if (i + 1 >= argc) throw std::invalid_argument(k + " needs a value");
            return argv[++i];
        };
        if (k == "--boots")
            o.boots = std::stoi(value());
        else if (k == "--kernel")
            o.kernel = value();
        else if (k == "--initrd")
            o.initrd = value();
        else if (k == "--foldvm")
            o.foldvm = value();
        else if (k == "--qemu")
            o.qemu = value();
        else if (k == "--mem")
            o.mem = value();
        else if (k == "--dedup")
            o.dedup = value();
        else if (k == "--vmms")
            o.vmms = split(value(), ',');
        else if (k == "--cmdline")
            o.cmdline = value();
        else if (k == "--timeout")
            o.timeout_s = std::stod(value());
        else if (k == "--verbose")
            o.verbose = true;
        else
            throw std::invalid_argument("unknown option " + k);
    }
    if (o.boots < 1) throw std::invalid_argument("--boots must be at least 1");
    for (auto& f : {o.kernel, o.initrd})
        if (::access(f.c_str(), R_OK) != 0) throw std::invalid_argument("cannot read " + f);
    for (auto& v : o.vmms)
        command_for(v, o); // validates the names

    std::map<std::string, std::vector<Boot>> boots;
    for (int i = 0; i < o.boots; ++i)
        for (auto& v : o.vmms) {
            Boot b = run_once(command_for(v, o), o);
            std::cerr << "linux-boot: " << v << " #" << i + 1 << ": ";
            if (b.ok)
                std::cerr << "init reached at " << *b.init_reached_ms << " ms\n";
            else {
                std::cerr << "FAILED: " << b.error << "\n";
                for (auto& l : b.tail)
                    std::cerr << "    | " << l << "\n";
            }
            boots[v].push_back(std::move(b));
        }

    nlohmann::json out = {{"bench", "linux-boot"}, {"boots", o.boots}, {"kernel", o.kernel},
                          {"initrd", o.initrd},    {"mem", o.mem},     {"cmdline", o.cmdline}};
    std::map<std::string, double> p50;
    bool all_ok = true;
    for (auto& v : o.vmms) {
        std::vector<double> reached, marker, exited;
        int ok = 0;
        for (auto& b : boots[v]) {
            if (b.boot_marker_ms)
                marker.push_back(*b.boot_marker_ms); // even without the console line
            if (!b.ok) continue;
            ++ok;
            reached.push_back(*b.init_reached_ms);
            if (b.exit_ms) exited.push_back(*b.exit_ms);
        }
        all_ok = all_ok && ok == o.boots;
        nlohmann::json r = {{"ok", ok},
                            {"init_reached_ms", summary(reached)},
                            {"exit_ms", summary(exited)},
                            {"command", command_for(v, o)}};
        if (v == "foldvm") r["boot_marker_ms"] = summary(marker);
        if (!reached.empty()) p50[v] = percentile(reached, 50);
        out[v] = r;
    }
    if (p50.count("foldvm"))
        for (auto& [v, ms] : p50)
            if (v != "foldvm") out["ratio_init_reached_p50_foldvm_to_" + v] = p50["foldvm"] / ms;
    std::cout << out.dump() << std::endl;
    return all_ok ? 0 : 1;
}

} // namespace foldvm::bench
