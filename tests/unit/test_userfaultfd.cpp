#include "common/mapping.hpp"
#include "common/page.hpp"
#include "common/userfaultfd.hpp"

#include <catch2/catch.hpp>

#include <sys/mman.h>

#include <cstring>
#include <vector>

using namespace foldvm;

TEST_CASE("a pager's copy into a range over two mappings fills both", "[userfaultfd]") {
    // One UFFDIO_COPY must lie in one mapping; a guest range can hold
    // several (dedup maps and moves memory over guest RAM).
    if (!userfaultfd_features().available) {
        WARN("SKIP: " << userfaultfd_features().reason);
        return;
    }
    Mapping mem = Mapping::anonymous(4 * kPageSize);
    // Different advice keeps the two halves separate mappings.
    REQUIRE(::madvise(mem.bytes() + 2 * kPageSize, 2 * kPageSize, MADV_NOHUGEPAGE) == 0);
    Userfaultfd uffd(0);
    uffd.add_missing_mode(mem.get(), mem.size());
    std::vector<uint8_t> src(4 * kPageSize);
    for (size_t i = 0; i < src.size(); ++i)
        src[i] = static_cast<uint8_t>(i / kPageSize + 1);
    // REQUIRE: reading a page the copy missed would block this thread.
    REQUIRE(uffd.copy(mem.bytes() + kPageSize, src.data() + kPageSize, 2 * kPageSize) ==
            2 * kPageSize);
    CHECK(mem.bytes()[kPageSize] == 2);
    CHECK(mem.bytes()[2 * kPageSize] == 3);
    // A present page still stops the copy where it lies.
    REQUIRE(uffd.copy(mem.bytes(), src.data(), 2 * kPageSize) == kPageSize);
    CHECK(mem.bytes()[0] == 1);
    // Over both mappings, stopping at page 1, which is present.
    REQUIRE(uffd.zeropage(mem.bytes() + kPageSize, 3 * kPageSize) == 0);
    REQUIRE(uffd.zeropage(mem.bytes() + 3 * kPageSize, kPageSize) == kPageSize);
    CHECK(mem.bytes()[3 * kPageSize] == 0);
}
