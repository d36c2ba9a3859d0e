// vmm/overcommit/memory_meter: what the governor counts as memory in use.
#include "common/mapping.hpp"
#include "common/unique_fd.hpp"
#include "vmm/overcommit/memory_meter.hpp"

#include <catch2/catch.hpp>

#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <string>

using namespace foldvm;
using namespace foldvm::overcommit;

namespace {

constexpr size_t kMiB = 1 << 20;
constexpr size_t kSize = 64 * kMiB;

// Touches 64 MiB of private memory, then 64 MiB of a memfd mapped twice (as
// a pool page is mapped by each VM sharing it); returns what the meter saw
// each add, in MiB. The memfd must count once.
std::pair<long, long> growth_seen(MemoryMeter& meter, int memfd) {
    auto mib = [&] { return long(meter.used_bytes() / kMiB); };
    long base = mib();
    Mapping anon = Mapping::anonymous(kSize);
    std::memset(anon.bytes(), 1, kSize);
    long after_anon = mib();
    auto map = [&](int prot) {
        void* p = ::mmap(nullptr, kSize, prot, MAP_SHARED, memfd, 0);
        REQUIRE(p != MAP_FAILED);
        return Mapping(p, kSize);
    };
    Mapping a = map(PROT_READ | PROT_WRITE), b = map(PROT_READ);
    std::memset(a.get(), 2, kSize);
    volatile unsigned sum = 0;
    for (size_t off = 0; off < kSize; off += 4096)
        sum = sum + b.bytes()[off]; // maps every page a second time
    long after_shared = mib();
    return {after_anon - base, after_shared - after_anon};
}

UniqueFd make_memfd() {
    UniqueFd fd(static_cast<int>(::syscall(SYS_memfd_create, "meter-test", 0)));
    REQUIRE(fd.get() >= 0);
    REQUIRE(::ftruncate(fd.get(), kSize) == 0);
    return fd;
}

uint64_t memfd_bytes(int fd) {
    struct stat st {};
    return ::fstat(fd, &st) == 0 ? uint64_t(st.st_blocks) * 512 : 0;
}

} // namespace

TEST_CASE("the meter counts a page mapped twice once", "[overcommit][meter]") {
    // VmRSS would see 128 MiB for the memfd: one count per mapping.
    UniqueFd fd = make_memfd();
    MemoryMeter meter([&] { return memfd_bytes(fd.get()); });
    auto [anon, shared] = growth_seen(meter, fd.get());
    INFO("source: " << meter.source());
    CHECK(anon >= 60);
    CHECK(anon <= 72);
    CHECK(shared >= 60);
    CHECK(shared <= 72);
}

TEST_CASE("in a memory cgroup of its own the meter reads the cgroup", "[overcommit][meter]") {
    const std::string root = "/sys/fs/cgroup/memory";
    if (::geteuid() != 0 || ::access((root + "/cgroup.procs").c_str(), W_OK) != 0) {
        WARN("SKIP: needs root and the cgroup v1 memory controller");
        return;
    }
    std::string dir = root + "/foldvm-meter-test-" + std::to_string(::getpid());
    REQUIRE(::mkdir(dir.c_str(), 0755) == 0);
    // The child joins the cgroup alone, so its meter reads the cgroup (which
    // also counts the memfd once); the parent removes the cgroup after.
    pid_t child = ::fork();
    REQUIRE(child >= 0);
    if (child == 0) {
        int rc = 1;
        try {
            std::ofstream(dir + "/cgroup.procs") << ::getpid() << "\n";
            UniqueFd fd = make_memfd();
            MemoryMeter meter([&] { return memfd_bytes(fd.get()); });
            auto [anon, shared] = growth_seen(meter, fd.get());
            bool from_cgroup = meter.source().rfind("cgroup " + dir, 0) == 0;
            rc = from_cgroup && anon >= 60 && anon <= 72 && shared >= 60 && shared <= 72 ? 0 : 2;
            if (rc)
                std::fprintf(stderr, "%s: anon %ld shared %ld MiB\n", meter.source().c_str(), anon,
                             shared);
        } catch (...) {
            rc = 3;
        }
        ::_exit(rc);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    ::rmdir(dir.c_str());
    REQUIRE(WIFEXITED(status));
    CHECK(WEXITSTATUS(status) == 0);
}
