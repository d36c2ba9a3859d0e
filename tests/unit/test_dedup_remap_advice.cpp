// Pages in a pool mapping that are given fresh anonymous memory (a zero-page
// merge after a COW break, or a discard) keep guest RAM's MADV_NOHUGEPAGE:
// a huge page would hide 4 KiB duplicates again.
#include "dedup_fixture.hpp"

#include <catch2/catch.hpp>

#include <cstdio>
#include <cstring>
#include <string>

using namespace foldvm;
using namespace foldvm::test;

namespace {

// The VmFlags line of the /proc/self/smaps entry that contains `addr`.
std::string vma_flags(const void* addr) {
    FILE* f = std::fopen("/proc/self/smaps", "re");
    REQUIRE(f);
    auto a = reinterpret_cast<uintptr_t>(addr);
    bool inside = false;
    std::string flags;
    char line[512];
    while (std::fgets(line, sizeof line, f)) {
        unsigned long s = 0, e = 0;
        if (std::sscanf(line, "%lx-%lx ", &s, &e) == 2) { // a mapping's first line
            inside = s <= a && a < e;
        } else if (inside && std::strncmp(line, "VmFlags:", 8) == 0) {
            flags = line + 8;
            break;
        }
    }
    std::fclose(f);
    return flags;
}

bool no_huge_pages(const void* addr) {
    return vma_flags(addr).find(" nh") != std::string::npos;
}

} // namespace

TEST_CASE("fresh anonymous memory over pool pages keeps MADV_NOHUGEPAGE",
          "[dedup][discard][mappings]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 8), b(engine, 8);
    for (size_t i = 0; i < 8; ++i)
        a.fill(i, 40 + i), b.fill(i, 40 + i);
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_sharing == 8);
    REQUIRE_FALSE(no_huge_pages(a.page(0))); // a pool mapping now

    // Zero-page merge of a page still in a pool mapping (after a COW break).
    a.fill(0, 1);
    engine.run_full_pass();
    a.fill(0, 0);
    engine.run_full_pass();
    REQUIRE(engine.stats().zero_pages == 1);
    CHECK(a.holds(0, 0));
    CHECK(no_huge_pages(a.page(0)));

    // Discard of a merged page.
    engine.discard_range(a.id, 4, 1);
    CHECK(a.holds(4, 0));
    CHECK(no_huge_pages(a.page(4)));
}
