// /proc/self/pagemap readers shared by the dedup and device tests.
#include "dedup_fixture.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

using namespace foldvm;
using namespace foldvm::test;

std::vector<uint64_t> foldvm::test::pagemap_entries(const uint8_t* base, size_t pages) {
    int fd = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    REQUIRE(fd >= 0);
    std::vector<uint64_t> e(pages);
    off_t off = static_cast<off_t>(reinterpret_cast<uintptr_t>(base) / kPageSize * 8);
    REQUIRE(::pread(fd, e.data(), pages * 8, off) == static_cast<ssize_t>(pages * 8));
    ::close(fd);
    return e;
}

size_t foldvm::test::private_resident_pages(const uint8_t* base, size_t pages) {
    size_t n = 0;
    for (uint64_t v : pagemap_entries(base, pages))
        if ((v >> 63 & 1) && !(v >> 61 & 1)) ++n;
    return n;
}
