// foldvm-bench boot: VM creation to the guest's first hypercall, whole-process
// exec-to-exit of `foldvm run hello`, monitor memory per idle VM.
#include "bench_util.hpp"

#include "common/procfs.hpp"

#include "vmm/boot/elf_loader.hpp"
#include "vmm/memory/process_memory.hpp"

#include <nlohmann/json.hpp>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cstdio>
#include <iostream>

extern char** environ;

namespace foldvm::bench {

int run_boot_bench(int argc, char** argv) {
    int vms = 200, execs = 30, idle = 100;
    for (int i = 0; i + 1 < argc; i += 2) {
        std::string k = argv[i];
        if (k == "--vms")
            vms = std::stoi(argv[i + 1]);
        else if (k == "--execs")
            execs = std::stoi(argv[i + 1]);
        else if (k == "--idle")
            idle = std::stoi(argv[i + 1]);
        else
            throw std::invalid_argument("unknown option " + k);
    }
    std::string dir = self_dir();
    std::string hello = dir + "/guest-kernels/hello.elf";
    std::string memfill = dir + "/guest-kernels/memfill.elf";
    Blob hello_image =
        std::make_shared<const std::vector<uint8_t>>(read_image_file(hello, 64 << 20));
    Blob memfill_image =
        std::make_shared<const std::vector<uint8_t>>(read_image_file(memfill, 64 << 20));

    // 1. In-process creation to first hypercall, one VM at a time.
    Host host;
    std::vector<double> create_ms;
    auto t_all = std::chrono::steady_clock::now();
    for (int i = 0; i < vms; ++i) {
        VmConfig c;
        c.image = hello_image;
        c.mem_bytes = 4 << 20;
        c.dirty_logging = false;
        auto t0 = std::chrono::steady_clock::now();
        uint64_t id = host.create_vm(c);
        auto vm = host.vm(id);
        vm->start();
        while (vm->first_hypercall_at().time_since_epoch().count() == 0 && !vm->finished())
            std::this_thread::yield();
        create_ms.push_back(
            std::chrono::duration<double, std::milli>(vm->first_hypercall_at() - t0).count());
        host.remove_vm(id);
    }
    double vms_per_s = vms / seconds_since(t_all);

    // 2. exec-to-exit of the CLI.
    std::vector<double> exec_ms;
    std::string foldvm = dir + "/foldvm";
    for (int i = 0; i < execs; ++i) {
        const char* args[] = {foldvm.c_str(), "run",     hello.c_str(), "--mem",
                              "4M",           "--dedup", "off",         nullptr};
        posix_spawn_file_actions_t fa;
        posix_spawn_file_actions_init(&fa);
        posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
        pid_t pid;
        auto t0 = std::chrono::steady_clock::now();
        if (posix_spawn(&pid, foldvm.c_str(), &fa, nullptr, const_cast<char**>(args), environ) != 0)
            throw std::runtime_error("posix_spawn foldvm failed");
        int status = 0;
        waitpid(pid, &status, 0);
        exec_ms.push_back(seconds_since(t0) * 1000);
        posix_spawn_file_actions_destroy(&fa);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0)
            throw std::runtime_error("foldvm run hello failed");
    }

    // 3. Monitor memory per idle VM: RSS growth minus the guests' own RAM.
    uint64_t rss0 = process_rss_kib();
    ConsoleLog console;
    std::vector<uint64_t> ids;
    for (int i = 0; i < idle; ++i) {
        VmConfig c;
        c.image = memfill_image;
        c.mem_bytes = 4 << 20;
        c.cmdline = "pages=1";
        c.index = uint64_t(i);
        ids.push_back(host.create_vm(c, console.events()));
        host.vm(ids.back())->start();
    }
    wait_until([&] { return console.vms_with("memfill: filled") == size_t(idle); }, 60);
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    uint64_t rss1 = process_rss_kib();
    uint64_t guest_kib = 0;
    for (uint64_t id : ids) {
        auto vm = host.vm(id);
        guest_kib += procfs::resident_pages(vm->memory().host_base(), vm->memory().size()) * 4;
    }
    double per_vm = (double(rss1) - double(rss0) - double(guest_kib)) / idle;
    host.stop_all();

    nlohmann::json out = {
        {"bench", "boot"},
        {"vms", vms},
        {"create_to_main_ms_p50", percentile(create_ms, 50)},
        {"create_to_main_ms_p99", percentile(create_ms, 99)},
        {"exec_to_exit_ms_p50", percentile(exec_ms, 50)},
        {"exec_to_exit_ms_p99", percentile(exec_ms, 99)},
        {"vmm_rss_kib_per_vm", per_vm},
        {"idle_vms", idle},
        {"guest_resident_kib_per_vm", double(guest_kib) / idle},
        {"vms_per_s", vms_per_s},
        {"targets",
         {{"create_to_main_ms_p50", 2.0}, {"exec_to_exit_ms", 4.5}, {"vmm_rss_kib_per_vm", 2048}}}};
    std::cout << out.dump() << std::endl;
    return 0;
}

} // namespace foldvm::bench
