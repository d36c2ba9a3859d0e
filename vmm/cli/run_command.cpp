#include "run_command.hpp"

#include "common/error.hpp"
#include "vmm/boot/elf_loader.hpp"
#include "vmm/machine/host.hpp"

#include <chrono>
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

} // namespace

void add_run_command(CLI::App& app, RunOptions& o, int& result) {
    auto* run = app.add_subcommand("run", "Boot unikernel microVMs from an ELF image");
    run->add_option("guest", o.guest, "Guest ELF64 image")->required();
    run->add_option("--mem", o.mem, "Guest RAM per VM (e.g. 64M, 1G)")->capture_default_str();
    run->add_option("--vcpus", o.vcpus, "vCPUs per VM")->check(CLI::Range(1, 64))
        ->capture_default_str();
    run->add_option("--cmdline", o.cmdline, "Guest command line");
    run->add_option("--initrd", o.initrd, "Blob loaded into guest RAM, address in boot info");
    run->add_option("--count", o.count, "Number of identical VMs")->check(CLI::Range(1, 4096))
        ->capture_default_str();
    run->add_option("--guest-cpl", o.guest_cpl, "Guest privilege level")
        ->check(CLI::IsMember({0, 3}))->capture_default_str();
    run->add_option("--timeout", o.timeout_s, "Stop all VMs after SEC seconds (exit 124)")
        ->check(CLI::NonNegativeNumber);
    run->add_flag("--summary", o.summary, "Print a memory summary to stderr at the end");
    run->callback([&o, &result] { result = run_command(o); });
}

int run_command(const RunOptions& o) {
    VmConfig base;
    base.kernel_path = o.guest;
    base.image = read_blob(o.guest);
    if (!o.initrd.empty()) base.initrd = read_blob(o.initrd);
    base.mem_bytes = parse_size(o.mem);
    base.vcpus = o.vcpus;
    base.cmdline = o.cmdline;
    base.guest_cpl = o.guest_cpl;
    base.dedup_domain = o.dedup_domain;
    base.validate();

    Host host;
    bool prefix = o.count > 1;
    VmEvents events;
    events.console_line = [prefix](uint64_t index, const std::string& line) {
        std::lock_guard lock(g_output_mutex);
        if (prefix) std::fprintf(stdout, "[vm%llu] ", static_cast<unsigned long long>(index));
        std::fwrite(line.data(), 1, line.size(), stdout);
        std::fputc('\n', stdout);
        std::fflush(stdout);
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
    for (uint64_t id : ids) host.vm(id)->start();

    auto deadline = std::chrono::steady_clock::now() +
                    std::chrono::milliseconds(static_cast<int64_t>(o.timeout_s * 1000));
    bool timed_out = false;
    for (uint64_t id : ids) {
        auto vm = host.vm(id);
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
        vm->wait();
        if (status == 0 && vm->exit_code() != 0) status = vm->exit_code();
    }
    if (timed_out) status = kTimeoutExitCode;
    return status;
}

} // namespace foldvm::cli
