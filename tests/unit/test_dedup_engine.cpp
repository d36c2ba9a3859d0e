#include "dedup_fixture.hpp"

#include "common/error.hpp"
#include "common/procfs.hpp"
#include "common/userfaultfd.hpp"
#include "dedup/page_meta.hpp"

#include <catch2/catch.hpp>
#include <xxhash.h>

#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <thread>
#include <unordered_map>

using namespace foldvm;
using namespace foldvm::test;

TEST_CASE("per-page metadata is at most 32 bytes", "[dedup]") {
    STATIC_REQUIRE(sizeof(dedup::PageMeta) <= 32);
}

TEST_CASE("identical pages merge, zero pages are released, contents stay", "[dedup]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 64), b(engine, 64);
    for (size_t i = 0; i < 64; ++i) {
        uint64_t v = i < 8 ? 0 : (i < 40 ? 1000 + i : 5000 + i);
        a.fill(i, v);
        b.fill(i, i < 40 ? v : 7000 + i); // 8 zero + 32 shared + 24 unique each
    }
    engine.run_full_pass();
    auto s = engine.stats();
    CHECK(s.zero_pages == 16);
    CHECK(s.pages_shared == 32);
    CHECK(s.pages_sharing == 32);
    CHECK(s.pages_unshared == 48);
    // Merged and zero pages no longer hold private memory (checked before
    // the reads below map the zero page back in).
    CHECK(private_resident_pages(a.page(0), 64) == 24);
    for (size_t i = 0; i < 64; ++i) {
        uint64_t v = i < 8 ? 0 : (i < 40 ? 1000 + i : 5000 + i);
        REQUIRE(a.holds(i, v));
        REQUIRE(b.holds(i, i < 40 ? v : 7000 + i));
    }
    CHECK(s.mappings_used > 0);
}

TEST_CASE("a write to a merged page stays private to its writer", "[dedup][cow]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 16), b(engine, 16), c(engine, 16);
    for (size_t i = 0; i < 16; ++i)
        a.fill(i, 42 + i), b.fill(i, 42 + i), c.fill(i, 42 + i);
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_sharing == 32);

    b.fill(3, 99); // breaks COW for b's page 3 only
    CHECK(b.holds(3, 99));
    CHECK(a.holds(3, 45));
    CHECK(c.holds(3, 45));
    engine.run_full_pass();
    auto s = engine.stats();
    CHECK(s.cow_breaks == 1);
    CHECK(s.pages_sharing == 31);
    // Writing the last two sharers of page 3 away frees its pool copy.
    a.fill(3, 1), c.fill(3, 2);
    engine.run_full_pass();
    s = engine.stats();
    CHECK(s.cow_breaks == 3);
    CHECK(s.pages_shared == 15);
    CHECK(b.holds(3, 99));
}

TEST_CASE("a released pool slot is reused", "[dedup][pool]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 4), b(engine, 4);
    a.fill(0, 11), b.fill(0, 11);
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_shared == 1);
    a.fill(0, 12), b.fill(0, 13);
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_shared == 0);
    a.fill(1, 21), b.fill(1, 21);
    engine.run_full_pass();
    auto s = engine.stats();
    CHECK(s.pages_shared == 1);
    CHECK(s.pool_slots_reused == 1);
    CHECK(a.holds(1, 21));
}

TEST_CASE("neighbouring merges coalesce into one mapping", "[dedup][mappings]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 256), b(engine, 256);
    for (size_t i = 0; i < 256; ++i)
        a.fill(i, 300 + i), b.fill(i, 300 + i);
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_sharing == 256);
    // Count VMAs that cover region b: coalesced runs give very few.
    uint64_t inside = procfs::mappings_overlapping(b.page(0), 256 * kPageSize);
    REQUIRE(inside >= 1); // the region itself is mapped: the count is real
    CHECK(inside <= 2);
}

TEST_CASE("the mapping budget stops new mappings but zero pages still merge", "[dedup][mappings]") {
    auto cfg = fast_config();
    dedup::Engine probe(cfg);
    uint64_t used = probe.stats().mappings_used;
    cfg.mappings_limit = used + 40;
    std::vector<std::string> logs;
    dedup::Engine engine(cfg, [&](const std::string& m) { logs.push_back(m); });
    TestRegion a(engine, 512), b(engine, 512);
    // Isolated duplicates: every other page, each needs its own mapping.
    for (size_t i = 0; i < 512; ++i) {
        a.fill(i, i % 2 ? 0 : 10 + i);
        b.fill(i, i % 2 ? 0 : 10 + i);
    }
    CHECK_NOTHROW(engine.run_full_pass());
    CHECK_NOTHROW(engine.run_full_pass());
    auto s = engine.stats();
    CHECK(s.mappings_exhausted);
    CHECK(s.zero_pages == 512);
    CHECK(s.pages_sharing < 256);
    REQUIRE(logs.size() == 1);
    CHECK_THAT(logs[0], Catch::Contains("mapping budget"));
    for (size_t i = 0; i < 512; ++i)
        REQUIRE(a.holds(i, i % 2 ? 0 : 10 + i));
}

TEST_CASE("max_page_sharing splits a popular content into a chain", "[dedup][chains]") {
    auto cfg = fast_config();
    cfg.max_page_sharing = 4;
    dedup::Engine engine(cfg);
    TestRegion a(engine, 10);
    for (size_t i = 0; i < 10; ++i)
        a.fill(i, 777);
    engine.run_full_pass();
    engine.run_full_pass();
    auto s = engine.stats();
    CHECK(s.pages_shared == 3); // 4 + 4 + 2 sharers
    CHECK(s.pages_sharing == 7);
    CHECK(s.stable_node_chains == 1);
    for (size_t i = 0; i < 10; ++i)
        REQUIRE(a.holds(i, 777));
}

TEST_CASE("domains isolate non-zero pages but zero pages merge everywhere", "[dedup][domains]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 8, "tenant-a"), b(engine, 8, "tenant-b");
    for (size_t i = 0; i < 8; ++i)
        a.fill(i, i < 4 ? 0 : 55 + i), b.fill(i, i < 4 ? 0 : 55 + i);
    engine.run_full_pass();
    auto s = engine.stats();
    CHECK(s.pages_sharing == 0);
    CHECK(s.zero_pages == 8);
}

TEST_CASE("volatile pages are skipped until they settle", "[dedup][volatile]") {
    auto cfg = fast_config();
    cfg.volatile_passes = 2;
    dedup::Engine engine(cfg);
    TestRegion a(engine, 4), b(engine, 4);
    a.fill(0, 5), b.fill(0, 5);
    engine.run_full_pass();
    CHECK(engine.stats().pages_volatile == 8);
    CHECK(engine.stats().pages_sharing == 0);
    engine.run_full_pass();
    engine.run_full_pass();
    CHECK(engine.stats().pages_sharing == 1);
}

TEST_CASE("unchanged pages are not re-hashed", "[dedup]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 128);
    for (size_t i = 0; i < 128; ++i)
        a.fill(i, 1 + i);
    engine.run_full_pass();
    uint64_t hashed = engine.stats().pages_hashed;
    CHECK(hashed == 128);
    a.fill(7, 1000);
    engine.run_full_pass();
    engine.run_full_pass();
    CHECK(engine.stats().pages_hashed == hashed + 1);
}

TEST_CASE("unmerge_all gives every sharer a private copy", "[dedup]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 32), b(engine, 32);
    for (size_t i = 0; i < 32; ++i)
        a.fill(i, 9 + i), b.fill(i, 9 + i);
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_shared == 32);
    engine.unmerge_all();
    auto s = engine.stats();
    CHECK(s.pages_shared == 0);
    CHECK(s.pages_sharing == 0);
    CHECK(private_resident_pages(a.page(0), 32) == 32);
    for (size_t i = 0; i < 32; ++i)
        REQUIRE((a.holds(i, 9 + i) && b.holds(i, 9 + i)));
}

TEST_CASE("ground truth: sharing + zero equals an independent duplicate count", "[dedup]") {
    dedup::Engine engine(fast_config());
    std::vector<std::unique_ptr<TestRegion>> regions;
    uint64_t rng = 12345;
    for (int r = 0; r < 4; ++r) {
        regions.push_back(std::make_unique<TestRegion>(engine, 1024));
        for (size_t i = 0; i < 1024; ++i) {
            rng = rng * 6364136223846793005ull + 1;
            unsigned kind = (rng >> 33) % 100;
            uint64_t v = kind < 5    ? 0
                         : kind < 70 ? 1 + (rng >> 40) % 300
                                     : (uint64_t(r) << 32) + i + 1;
            regions.back()->fill(i, v);
        }
    }
    engine.run_full_pass();
    engine.run_full_pass();
    std::unordered_map<uint64_t, uint64_t> counts;
    uint64_t zero = 0;
    static const uint8_t zeros[kPageSize] = {};
    for (auto& reg : regions)
        for (size_t i = 0; i < 1024; ++i) {
            if (std::memcmp(reg->page(i), zeros, kPageSize) == 0)
                ++zero;
            else
                ++counts[XXH3_64bits(reg->page(i), kPageSize)];
        }
    uint64_t duplicates = 0;
    for (auto& [h, n] : counts)
        duplicates += n - 1;
    auto s = engine.stats();
    CHECK(s.zero_pages == zero);
    CHECK(s.pages_sharing == duplicates);
}

TEST_CASE("knobs reject out-of-range values with the allowed range", "[dedup][config]") {
    dedup::DedupConfig c;
    CHECK_THROWS_WITH(c.set("run", "3"), Catch::Contains("[0, 2]"));
    CHECK_THROWS_WITH(c.set("pages_to_scan", "0"), Catch::Contains("[1, 10000000]"));
    CHECK_THROWS_WITH(c.set("max_cpu_percent", "-5"), Catch::Contains("non-negative integer"));
    CHECK_THROWS_WITH(c.set("sleep_millisecs", "12abc"), Catch::Contains("non-negative integer"));
    CHECK_THROWS_WITH(c.set("bogus", "1"), Catch::Contains("unknown dedup knob"));
    CHECK_THROWS_AS(dedup::apply_option(c, "novalue"), InvalidInput);
    dedup::apply_option(c, "pages_to_scan=500");
    CHECK(c.pages_to_scan == 500);
}

TEST_CASE("removing a region forgets its merged, zero and unstable pages", "[dedup][remove]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 32), b(engine, 32);
    for (size_t i = 0; i < 32; ++i) {
        uint64_t v = i < 8 ? 0 : (i < 24 ? 100 + i : 900 + i);
        a.fill(i, v);
        b.fill(i, i < 24 ? v : 1900 + i); // 8 zero + 16 shared + 8 unique each
    }
    engine.run_full_pass();
    auto s = engine.stats();
    REQUIRE(s.zero_pages == 16);
    REQUIRE(s.pages_shared == 16);
    REQUIRE(s.pages_sharing == 16);
    REQUIRE(s.pages_unshared == 16);

    engine.remove_region(b.id);
    s = engine.stats();
    CHECK(s.zero_pages == 8);
    CHECK(s.pages_shared == 16); // a still maps every pool copy
    CHECK(s.pages_sharing == 0);
    CHECK(s.pages_unshared == 8);
    REQUIRE(s.regions.size() == 1);
    CHECK(s.regions[0].pages_merged == 16);
    CHECK(s.regions[0].zero_pages == 8);
    CHECK(s.regions[0].pages_unshared == 8);

    // The engine goes on merging against what is left.
    TestRegion c(engine, 32);
    for (size_t i = 0; i < 32; ++i)
        c.fill(i, i < 8 ? 0 : (i < 24 ? 100 + i : 900 + i));
    engine.run_full_pass();
    s = engine.stats();
    CHECK(s.pages_shared == 24); // a's 16 copies and 8 pairs of a's unique pages
    CHECK(s.pages_sharing == 24);
    CHECK(s.zero_pages == 16);
    for (size_t i = 0; i < 32; ++i)
        REQUIRE(a.holds(i, i < 8 ? 0 : (i < 24 ? 100 + i : 900 + i)));
}

TEST_CASE("an unstable-tree page a pager evicted is not merged until it is back",
          "[dedup][absent]") {
    // Reading an evicted page would fault it back in writable, outside the
    // freeze, and a write landing before the remap would be lost.
    dedup::Engine engine(fast_config());
    std::atomic<uint64_t> absent{0};
    TestRegion a(engine, 1, "default", "a", &absent), b(engine, 1);
    a.fill(0, 42);
    b.fill(0, 43);
    engine.run_full_pass(); // both wait in the unstable tree
    REQUIRE(engine.stats().pages_unshared == 2);

    absent = 1; // the pager took a's page (its bytes stay here: a reader would see them)
    b.fill(0, 42);
    engine.run_full_pass();
    auto s = engine.stats();
    CHECK(s.pages_shared == 0);
    CHECK(s.pages_sharing == 0);
    CHECK(private_resident_pages(a.page(0), 1) == 1);

    absent = 0; // faulted back in
    engine.run_full_pass();
    engine.run_full_pass();
    s = engine.stats();
    CHECK(s.pages_shared == 1);
    CHECK(s.pages_sharing == 1);
    CHECK(a.holds(0, 42));
    CHECK(b.holds(0, 42));
}

TEST_CASE("pages the dirty log saw written lately are not offered for eviction",
          "[dedup][evictable]") {
    // A page written all the time never faults, so only the dirty log tells
    // a pager that it is hot.
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 16);
    for (size_t i = 0; i < 16; ++i)
        a.fill(i, 100 + i);
    engine.run_full_pass(); // the first collection reports every page written
    std::this_thread::sleep_for(std::chrono::milliseconds(1100));
    for (size_t i = 0; i < 8; ++i)
        a.fill(i, 200 + i); // written again, within the window below
    engine.run_full_pass();
    auto evictable = [&](std::chrono::seconds window) {
        std::vector<size_t> pages;
        // Not waiting for dedup's visits: this is about the dirty log.
        engine.for_each_evictable(a.id, 0, 16, window, ShareFirst::no,
                                  [&](size_t first, size_t count) {
                                      for (size_t i = first; i < first + count; ++i)
                                          pages.push_back(i);
                                  });
        return pages;
    };
    std::vector<size_t> not_written_lately = {8, 9, 10, 11, 12, 13, 14, 15};
    CHECK(evictable(std::chrono::seconds(1)) == not_written_lately);
    CHECK(evictable(std::chrono::seconds(0)).size() == 16); // no window: anything evictable
}

TEST_CASE("a page that broke copy-on-write moves to anonymous memory before eviction",
          "[dedup][evictable][rehome]") {
    // Dropping such a page where it lies would expose the pool copy under it,
    // so a pager could never evict what a copy-on-write storm leaves behind.
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 4), b(engine, 4);
    for (size_t i = 0; i < 4; ++i)
        a.fill(i, 300 + i), b.fill(i, 300 + i);
    engine.run_full_pass();
    REQUIRE(engine.stats().pages_sharing == 4);
    if (engine.stats().freeze_mode != "userfaultfd") {
        WARN("SKIP: rehome needs a userfaultfd freeze (" << userfaultfd_features().reason << ")");
        return;
    }
    b.fill(0, 400), b.fill(1, 401); // copy-on-write breaks for b's pages 0 and 1
    engine.run_full_pass();
    REQUIRE(engine.stats().cow_breaks == 2);

    std::vector<size_t> offered;
    engine.for_each_evictable(b.id, 0, 4, std::chrono::seconds(0), ShareFirst::no,
                              [&](size_t first, size_t n) {
                                  for (size_t i = first; i < first + n; ++i)
                                      offered.push_back(i);
                              });
    CHECK(offered == std::vector<size_t>{0, 1}); // 2 and 3 are still shared
    CHECK(engine.stats().pages_rehomed == 2);
    CHECK(b.holds(0, 400));
    CHECK(b.holds(1, 401));
    CHECK(private_resident_pages(b.page(0), 2) == 2);
    // What a pager does to an evicted page: now it reads back zeros, not
    // the pool copy of 300.
    REQUIRE(::madvise(b.page(0), kPageSize, MADV_DONTNEED) == 0);
    CHECK(b.holds(0, 0));
    CHECK(a.holds(0, 300));
    CHECK(b.holds(2, 302));
}

TEST_CASE("pages dedup has not visited since their last write wait for it before eviction",
          "[dedup][evictable]") {
    // Share before evict: a page that may still merge costs nothing to keep.
    auto config = fast_config();
    config.volatile_passes = 1; // a pass leaves just-written pages pending
    dedup::Engine engine(config);
    TestRegion a(engine, 8);
    for (size_t i = 0; i < 8; ++i)
        a.fill(i, 500 + i);
    engine.run_full_pass(); // collected, but too fresh to visit
    auto evictable = [&](std::chrono::seconds window, ShareFirst share_first = ShareFirst::yes) {
        size_t pages = 0;
        engine.for_each_evictable(a.id, 0, 8, window, share_first,
                                  [&](size_t, size_t n) { pages += n; });
        return pages;
    };
    CHECK(evictable(std::chrono::seconds(0)) == 0); // even when memory is low
    // Parking a VM or holding it to its limit does not wait.
    CHECK(evictable(std::chrono::seconds(0), ShareFirst::no) == 8);
    engine.run_full_pass(); // visited now: they wait in the unstable tree for a twin
    CHECK(evictable(std::chrono::seconds(0)) == 0);
    engine.run_full_pass(); // a twin had a whole pass to come
    CHECK(evictable(std::chrono::seconds(0)) == 8);
    // Written after the pass's collection: still not offered (a pass over
    // many VMs takes seconds).
    std::this_thread::sleep_for(std::chrono::milliseconds(150));
    a.fill(0, 600);
    CHECK(evictable(std::chrono::seconds(0)) == 7);
    // A stopped engine visits nothing, so nothing waits for it.
    engine.update_config([](dedup::DedupConfig& c) { c.run = 0; });
    CHECK(evictable(std::chrono::seconds(0)) == 8);
}
