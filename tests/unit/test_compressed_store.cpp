// vmm/overcommit/compressed_store: the dense in-memory compressed tier.
#include "common/error.hpp"
#include "page_mixes.hpp"
#include "vmm/overcommit/compressed_store.hpp"
#include "vmm/overcommit/tier_errors.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace foldvm;
using namespace foldvm::overcommit;
using namespace foldvm::test;

namespace {

void check_fragmentation(const CompressedStoreStats& s) {
    if (s.allocated_bytes == 0) {
        CHECK(s.fragmentation == 0);
        return;
    }
    CHECK(s.fragmentation ==
          Approx(1.0 - double(s.stored_bytes) / double(s.allocated_bytes)).margin(1e-12));
}

} // namespace

TEST_CASE("pages of every mix round-trip; incompressible ones are rejected, not stored",
          "[overcommit][compressed]") {
    Codec codec = GENERATE(Codec::Lz4, Codec::Zstd);
    INFO(to_string(codec));
    CompressedStore store({.codec = codec});
    std::vector<PageBytes> pages;
    std::vector<BlockHandle> handles;
    for (uint32_t i = 0; i < 50; ++i) {
        pages.push_back(zeroish_page(i));
        pages.push_back(text_page(i));
        pages.push_back(half_compressible_page(i));
    }
    for (const PageBytes& p : pages) {
        PutResult r = store.put(p.data());
        REQUIRE(r.status == PutStatus::Stored);
        CHECK(r.compressed_bytes <= 2048);
        handles.push_back(r.handle);
    }
    uint64_t rejected = 0;
    for (uint32_t i = 0; i < 20; ++i) {
        PageBytes rnd = random_page(1000 + i);
        PutResult r = store.put(rnd.data());
        CHECK(r.status == PutStatus::Incompressible);
        CHECK(r.handle == kNoBlock);
        ++rejected;
    }
    auto s = store.stats();
    CHECK(s.pages == pages.size());
    CHECK(s.rejected_incompressible == rejected);
    CHECK(s.rejected_full == 0);
    PageBytes out;
    for (size_t i = 0; i < pages.size(); ++i) {
        store.get(handles[i], out.data());
        REQUIRE(out == pages[i]);
    }
}

TEST_CASE("the 2 KiB rule is configurable: a page compressing to ~1.4 KiB is kept or not",
          "[overcommit][compressed]") {
    PageBytes p = half_compressible_page(5);
    CompressedStore strict({.max_compressed_bytes = 1024});
    CompressedStore lenient({.max_compressed_bytes = 2048});
    CHECK(strict.put(p.data()).status == PutStatus::Incompressible);
    PutResult r = lenient.put(p.data());
    CHECK(r.status == PutStatus::Stored);
    CHECK(r.compressed_bytes > 1024);
    CHECK_THROWS_AS(CompressedStore({.max_compressed_bytes = 8192}), InvalidInput);
    CHECK_THROWS_AS(CompressedStore({.max_compressed_bytes = 10}), InvalidInput);
}

TEST_CASE("a page lz4 leaves above the limit is kept by the zstd retry, and read back",
          "[overcommit][compressed]") {
    CompressedStore lz4_only;
    CompressedStore retrying({.zstd_retry = true});
    std::vector<std::pair<BlockHandle, PageBytes>> kept;
    for (uint32_t i = 0; i < 50; ++i) {
        PageBytes p = word_salad_page(i);
        REQUIRE(lz4_only.put(p.data()).status == PutStatus::Incompressible);
        PutResult r = retrying.put(p.data());
        REQUIRE(r.status == PutStatus::Stored);
        CHECK(r.compressed_bytes <= 2048);
        kept.emplace_back(r.handle, p);
        // A page lz4 fits stays lz4 beside it.
        PageBytes t = text_page(i);
        kept.emplace_back(retrying.put(t.data()).handle, t);
    }
    CHECK(retrying.stats().zstd_retries_stored == 50);
    PageBytes out;
    for (auto& [h, p] : kept) {
        retrying.get(h, out.data());
        REQUIRE(out == p);
    }
}

TEST_CASE("text-like pages are packed densely, far below a page each", "[overcommit][compressed]") {
    Codec codec = GENERATE(Codec::Lz4, Codec::Zstd);
    CompressedStore store({.codec = codec});
    const uint32_t n = 2000;
    for (uint32_t i = 0; i < n; ++i) {
        PageBytes p = text_page(i);
        REQUIRE(store.put(p.data()).status == PutStatus::Stored);
    }
    auto s = store.stats();
    double per_page = double(s.allocated_bytes) / n;
    INFO(to_string(codec) << ": " << double(s.stored_bytes) / n << " stored, " << per_page
                          << " allocated bytes per page, fragmentation " << s.fragmentation);
    CHECK(per_page < 0.6 * kPageSize);
    // Size classes round up by < 64 bytes and slabs are full: little waste.
    CHECK(s.fragmentation < 0.1);
    check_fragmentation(s);
    uint64_t blocks = 0;
    for (const auto& c : s.classes)
        blocks += c.blocks;
    CHECK(blocks == n);
}

TEST_CASE("fragmentation follows drops; empty slabs go back to the OS",
          "[overcommit][compressed]") {
    CompressedStore store;
    std::vector<BlockHandle> handles;
    for (uint32_t i = 0; i < 1000; ++i) {
        PageBytes p = text_page(i);
        handles.push_back(store.put(p.data()).handle);
    }
    auto full = store.stats();
    check_fragmentation(full);
    REQUIRE(full.slabs > 4);
    // Every other block gone: the slabs stay (half full), so fragmentation rises.
    for (size_t i = 0; i < handles.size(); i += 2)
        store.drop(handles[i]);
    auto half = store.stats();
    check_fragmentation(half);
    CHECK(half.pages == 500);
    CHECK(half.allocated_bytes == full.allocated_bytes);
    CHECK(half.fragmentation > full.fragmentation + 0.3);
    PageBytes out;
    for (size_t i = 1; i < handles.size(); i += 2) {
        store.get(handles[i], out.data());
        REQUIRE(out == text_page(uint32_t(i)));
    }
    for (size_t i = 1; i < handles.size(); i += 2)
        store.drop(handles[i]);
    auto empty = store.stats();
    CHECK(empty.pages == 0);
    CHECK(empty.stored_bytes == 0);
    CHECK(empty.allocated_bytes == 0);
    CHECK(empty.slabs == 0);
    CHECK(empty.fragmentation == 0);
    CHECK_THROWS_AS(store.get(handles[1], out.data()), InvalidInput);
    CHECK_THROWS_AS(store.drop(handles[1]), InvalidInput);
    // The store is usable again after going empty (slab ids reused).
    PageBytes p = text_page(1);
    BlockHandle h = store.put(p.data()).handle;
    store.get(h, out.data());
    CHECK(out == p);
}

TEST_CASE("a corrupted block is CorruptPage naming the block, never wrong bytes",
          "[overcommit][compressed]") {
    Codec codec = GENERATE(Codec::Lz4, Codec::Zstd);
    INFO(to_string(codec));
    CompressedStore store({.codec = codec});
    for (uint32_t seed = 0; seed < 20; ++seed) {
        PageBytes p = seed % 2 ? text_page(seed) : half_compressible_page(seed);
        BlockHandle h = store.put(p.data()).handle;
        REQUIRE(h != kNoBlock);
        store.corrupt_for_testing(h);
        PageBytes out;
        out.fill(0xaa);
        CHECK_THROWS_WITH(store.get(h, out.data()),
                          Catch::Contains("compressed block " + std::to_string(h)));
        CHECK(out == PageBytes{}); // no half-decoded bytes left for the caller
        CHECK_THROWS_AS(store.get(h, out.data()), CorruptPage);
    }
}

TEST_CASE("capacity_bytes bounds the slab memory; full puts are told apart",
          "[overcommit][compressed]") {
    CompressedStore store({.capacity_bytes = 2 * CompressedStore::kSlabBytes});
    uint64_t stored = 0;
    PutResult r;
    for (uint32_t i = 0; i < 10000; ++i) {
        PageBytes p = text_page(i);
        r = store.put(p.data());
        if (r.status != PutStatus::Stored) break;
        ++stored;
    }
    CHECK(r.status == PutStatus::Full);
    CHECK(r.handle == kNoBlock);
    auto s = store.stats();
    CHECK(s.rejected_full == 1);
    CHECK(s.pages == stored);
    CHECK(s.allocated_bytes <= 2 * CompressedStore::kSlabBytes);
    CHECK(stored > 2 * CompressedStore::kSlabBytes / kPageSize); // denser than plain pages
}

TEST_CASE("concurrent put/get/drop from several threads keep every page intact",
          "[overcommit][compressed]") {
    CompressedStore store({.codec = Codec::Zstd});
    std::atomic<uint64_t> bad{0};
    auto work = [&](uint32_t base) {
        std::vector<std::pair<BlockHandle, uint32_t>> mine;
        PageBytes out;
        for (uint32_t i = 0; i < 3000; ++i) {
            uint32_t seed = base + i;
            PageBytes p = i % 3 ? text_page(seed) : zeroish_page(seed);
            PutResult r = store.put(p.data());
            if (r.status == PutStatus::Stored) mine.push_back({r.handle, seed});
            if (mine.size() > 64) {
                size_t idx = (size_t(i) * 7919) % mine.size();
                auto [h, sd] = mine[idx];
                store.get(h, out.data());
                uint32_t k = sd - base;
                if (out != (k % 3 ? text_page(sd) : zeroish_page(sd))) ++bad;
                store.drop(h);
                mine[idx] = mine.back();
                mine.pop_back();
            }
        }
    };
    std::thread a(work, 0), b(work, 1'000'000);
    a.join();
    b.join();
    CHECK(bad == 0);
}
