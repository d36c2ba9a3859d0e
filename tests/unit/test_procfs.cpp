// common/procfs: the mapping budget, the mappings in use and residency, as
// the engine, the API and the benchmarks read them.
#include "common/error.hpp"
#include "common/mapping.hpp"
#include "common/page.hpp"
#include "common/procfs.hpp"

#include <catch2/catch.hpp>

#include <sys/mman.h>

#include <fstream>

using namespace foldvm;

TEST_CASE("max_map_count reads vm.max_map_count", "[procfs]") {
    std::ifstream in("/proc/sys/vm/max_map_count");
    uint64_t want = 0;
    REQUIRE(in >> want);
    CHECK(procfs::max_map_count() == want);
}

TEST_CASE("mapping counts follow the process's mappings", "[procfs]") {
    Mapping m = Mapping::anonymous(8 * kPageSize);
    CHECK(procfs::mappings_overlapping(m.get(), m.size()) == 1);
    uint64_t before = procfs::mapping_count();
    CHECK(before > 1);
    // A different protection in the middle splits the mapping in three.
    REQUIRE(::mprotect(m.bytes() + 3 * kPageSize, kPageSize, PROT_READ) == 0);
    CHECK(procfs::mappings_overlapping(m.get(), m.size()) == 3);
    CHECK(procfs::mappings_overlapping(m.bytes() + 4 * kPageSize, kPageSize) == 1);
    CHECK(procfs::mapping_count() == before + 2);
}

TEST_CASE("resident_pages counts the pages that were touched", "[procfs]") {
    Mapping m = Mapping::anonymous(64 * kPageSize);
    CHECK(procfs::resident_pages(m.get(), m.size()) == 0);
    for (size_t i : {0, 5, 6, 63})
        m.bytes()[i * kPageSize] = 1;
    CHECK(procfs::resident_pages(m.get(), m.size()) == 4);
    CHECK(procfs::resident_pages(m.bytes() + 5 * kPageSize, 2 * kPageSize) == 2);
    REQUIRE(::madvise(m.bytes(), kPageSize, MADV_DONTNEED) == 0);
    CHECK(procfs::resident_pages(m.get(), m.size()) == 3);
}

TEST_CASE("resident_pages of an unmapped range throws", "[procfs]") {
    Mapping m = Mapping::anonymous(4 * kPageSize);
    void* gone = m.get();
    m.reset();
    CHECK_THROWS_AS(procfs::resident_pages(gone, 4 * kPageSize), SystemError);
}
