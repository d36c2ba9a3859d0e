// The benchmarks' machine-wide settings come back as they were: restore
// order, the signal path, memory cgroups, a swap file, zswap. Parts that need
// root, cgroup v1, swapon or zswap SKIP without them.
#define CATCH_CONFIG_MAIN
#include "memory_cgroup.hpp"
#include "proc_stats.hpp"
#include "restore_registry.hpp"
#include "swap_file.hpp"
#include "sysfs_knobs.hpp"
#include "zswap_setting.hpp"

#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <optional>
#include <vector>

using namespace foldvm::bench;

namespace {

std::string make_temp_dir() {
    char tmpl[] = "/tmp/foldvm-host-settings-XXXXXX";
    REQUIRE(::mkdtemp(tmpl) != nullptr);
    return tmpl;
}

void put(const std::string& path, const std::string& text) {
    std::ofstream(path) << text;
}

bool file_exists(const std::string& path) {
    return ::access(path.c_str(), F_OK) == 0;
}

} // namespace

TEST_CASE("restore actions run once, newest first") {
    std::vector<int> order;
    {
        Restorer a("a", [&] { order.push_back(1); });
        Restorer b("b", [&] { order.push_back(2); });
        RestoreRegistry::Id c = RestoreRegistry::add("c", [&] { order.push_back(3); });
        RestoreRegistry::run_all();
        RestoreRegistry::run(c); // already ran: nothing
    }
    CHECK(order == std::vector<int>{3, 2, 1});
    CHECK(RestoreRegistry::pending() == 0);
}

TEST_CASE("knobs come back in reverse order, `first` first, also when SIGTERM kills the process") {
    std::string dir = make_temp_dir() + "/";
    put(dir + "run", "0");
    put(dir + "pace", "100");
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        SysfsKnobs knobs(dir, "run");
        knobs.set("run", "1");
        knobs.set("pace", "5");
        knobs.set("pace", "7"); // the saved value stays the original
        ::raise(SIGTERM);
        ::_exit(0); // not reached
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    CHECK(WIFSIGNALED(status));
    CHECK(read_word(dir + "run") == "0");
    CHECK(read_word(dir + "pace") == "100");
}

TEST_CASE("a memory cgroup limits its processes and is removed with them moved home") {
    if (::geteuid() != 0 || !MemoryCgroup::available()) {
        WARN("SKIP: needs root and the cgroup v1 memory controller");
        return;
    }
    std::string home = MemoryCgroup::own_path();
    std::string path;
    int pipefd[2];
    REQUIRE(::pipe(pipefd) == 0);
    pid_t sleeper = ::fork();
    REQUIRE(sleeper >= 0);
    if (sleeper == 0) {
        char c;
        (void)::read(pipefd[0], &c, 1);
        ::_exit(0);
    }
    {
        MemoryCgroup outer("foldvm-test");
        MemoryCgroup inner("run", &outer);
        path = inner.path();
        CHECK(path.rfind(outer.path() + "/", 0) == 0);
        inner.set_limit(32ull << 20);
        CHECK(inner.limit() == 32ull << 20);
        inner.add(sleeper);
        CHECK(inner.procs() == std::vector<pid_t>{sleeper});

        // A child touching 64 MiB in a 32 MiB group: reclaimed to swap if the
        // machine has some, else OOM-killed; either way never above the limit.
        pid_t hog = ::fork();
        REQUIRE(hog >= 0);
        if (hog == 0) {
            inner.add(::getpid());
            size_t n = 64ull << 20;
            void* p =
                ::mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            std::memset(p, 1, n);
            ::_exit(0);
        }
        int status = 0;
        ::waitpid(hog, &status, 0);
        CHECK(inner.max_usage_bytes() <= 32ull << 20);
        CHECK(inner.max_usage_bytes() > 16ull << 20);
        if (WIFSIGNALED(status)) CHECK(inner.oom_kills() >= 1);
        CHECK(inner.stat().count("rss") == 1);
    }
    CHECK_FALSE(file_exists(path));
    std::ifstream cg("/proc/" + std::to_string(sleeper) + "/cgroup");
    std::string all((std::istreambuf_iterator<char>(cg)), {});
    CHECK(all.find(home.substr(std::strlen(MemoryCgroup::root()))) != std::string::npos);
    (void)::write(pipefd[1], "x", 1);
    ::waitpid(sleeper, nullptr, 0);
    ::close(pipefd[0]);
    ::close(pipefd[1]);
}

TEST_CASE("a swap file is on while owned and gone afterwards") {
    if (::geteuid() != 0) {
        WARN("SKIP: swapon needs root");
        return;
    }
    std::string dir = make_temp_dir(), path;
    {
        std::optional<SwapFile> swap;
        try {
            swap.emplace(dir, 16ull << 20);
        } catch (const std::exception& e) {
            WARN("SKIP: no swap file here: " << e.what());
            return;
        }
        path = swap->path();
        std::ifstream in("/proc/swaps");
        std::string all((std::istreambuf_iterator<char>(in)), {});
        CHECK(all.find(path) != std::string::npos);
        CHECK(swap->used_bytes() == 0);
    }
    std::ifstream in("/proc/swaps");
    std::string all((std::istreambuf_iterator<char>(in)), {});
    CHECK(all.find(path) == std::string::npos);
    CHECK_FALSE(file_exists(path));
    ::rmdir(dir.c_str());
}

TEST_CASE("zswap is enabled while owned and restored afterwards") {
    if (::geteuid() != 0 || !ZswapSetting::available()) {
        WARN("SKIP: needs root and zswap");
        return;
    }
    const std::string dir = "/sys/module/zswap/parameters/";
    std::string enabled = read_word(dir + "enabled"), compressor = read_word(dir + "compressor"),
                pool = read_word(dir + "max_pool_percent");
    {
        ZswapSetting z(17);
        CHECK(read_word(dir + "enabled") == "Y");
        CHECK(read_word(dir + "max_pool_percent") == "17");
        CHECK(z.compressor() == read_word(dir + "compressor"));
    }
    CHECK(read_word(dir + "enabled") == enabled);
    CHECK(read_word(dir + "compressor") == compressor);
    CHECK(read_word(dir + "max_pool_percent") == pool);
}

TEST_CASE("kernel thread CPU and vmstat are readable") {
    CHECK(vmstat().count("pswpout") == 1);
    CHECK(pid_cpu_seconds(::getpid()) >= 0);
    CHECK(kernel_threads_cpu_seconds("kthreadd") >= 0);
    CHECK(kernel_threads_cpu_seconds("no-such-thread-xyz") < 0);
}
