// Engine::discard_range: pages given back by a balloon must read as zeros,
// hold no memory, drop their pool references, and still dedup afterwards.
#include "dedup_fixture.hpp"

#include "common/error.hpp"

#include <catch2/catch.hpp>

#include <fcntl.h>
#include <unistd.h>

using namespace foldvm;
using namespace foldvm::test;

namespace {

// Pages in the range that map something (anonymous or file) right now.
size_t present_pages(const uint8_t* base, size_t pages) {
    size_t n = 0;
    for (uint64_t v : pagemap_entries(base, pages))
        if (v >> 63 & 1) ++n;
    return n;
}

} // namespace

TEST_CASE("discarding merged pages maps zeros and drops pool sharers", "[dedup][discard]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 64), b(engine, 64);
    for (size_t i = 0; i < 64; ++i)
        a.fill(i, 100 + i), b.fill(i, 100 + i);
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_sharing == 64);
    REQUIRE(engine.stats().pages_shared == 64);

    engine.discard_range(a.id, 0, 32);
    auto s = engine.stats();
    CHECK(s.pages_discarded == 32);
    CHECK(s.pages_shared == 64);  // b still holds every pool copy
    CHECK(s.pages_sharing == 32); // but a's 32 sharers are gone
    CHECK(present_pages(a.page(0), 32) == 0);
    for (size_t i = 0; i < 32; ++i)
        REQUIRE(a.holds(i, 0));
    for (size_t i = 32; i < 64; ++i)
        REQUIRE(a.holds(i, 100 + i));
    for (size_t i = 0; i < 64; ++i)
        REQUIRE(b.holds(i, 100 + i));

    // The last sharer leaving frees the pool copy.
    engine.discard_range(b.id, 0, 32);
    s = engine.stats();
    CHECK(s.pages_shared == 32);
    CHECK(s.pages_sharing == 32);
}

TEST_CASE("a COW-broken page in a pool mapping is discarded to zeros, not the pool copy",
          "[dedup][discard]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 8), b(engine, 8);
    a.fill(0, 7), b.fill(0, 7);
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_sharing == 1);
    a.fill(0, 8), b.fill(0, 9); // both break away: the pool slot is freed...
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_shared == 0);
    a.fill(1, 42), b.fill(1, 42); // ...and reused for another content
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_shared == 1);
    REQUIRE(engine.stats().pool_slots_reused == 1);

    // MADV_DONTNEED alone would now show a the pool slot's new content.
    engine.discard_range(a.id, 0, 1);
    CHECK(a.holds(0, 0));
    CHECK(a.holds(1, 42));
    CHECK(b.holds(0, 9));
}

TEST_CASE("discarded anonymous pages leave the trees and free their memory", "[dedup][discard]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 128);
    for (size_t i = 0; i < 128; ++i)
        a.fill(i, 5000 + i);
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_unshared == 128);
    REQUIRE(private_resident_pages(a.page(0), 128) == 128);
    engine.discard_range(a.id, 16, 96);
    CHECK(engine.stats().pages_unshared == 32);
    CHECK(private_resident_pages(a.page(0), 128) == 32);
    // Discarded pages are not scanned (nor counted as zero pages) until written.
    engine.run_full_pass();
    CHECK(engine.stats().zero_pages == 0);
    for (size_t i = 16; i < 112; ++i)
        REQUIRE(a.holds(i, 0));
}

TEST_CASE("dedup keeps working on discarded pages once they are written again",
          "[dedup][discard]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 32), b(engine, 32);
    for (size_t i = 0; i < 32; ++i)
        a.fill(i, 300 + i), b.fill(i, 300 + i);
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_sharing == 32);
    engine.discard_range(a.id, 0, 32); // inflate
    REQUIRE(engine.stats().pages_sharing == 0);
    for (size_t i = 0; i < 32; ++i)
        a.fill(i, 300 + i); // deflate and reuse
    engine.run_full_pass();
    engine.run_full_pass();
    CHECK(engine.stats().pages_sharing == 32);
    for (size_t i = 0; i < 32; ++i)
        REQUIRE((a.holds(i, 300 + i) && b.holds(i, 300 + i)));
}

TEST_CASE("discard rejects unknown regions and ranges outside the region", "[dedup][discard]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 8);
    CHECK_THROWS_AS(engine.discard_range(a.id + 100, 0, 1), InvalidInput);
    CHECK_THROWS_AS(engine.discard_range(a.id, 4, 5), InvalidInput);
    CHECK_THROWS_AS(engine.discard_range(a.id, 9, 0), InvalidInput);
    CHECK_THROWS_AS(engine.discard_range(a.id, 1, SIZE_MAX), InvalidInput);
    CHECK_NOTHROW(engine.discard_range(a.id, 8, 0));
}
