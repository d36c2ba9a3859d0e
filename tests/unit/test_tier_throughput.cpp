// Throughput of the pager's tiers, for the numbers in DESIGN.md. Hidden
// ([.]): run by name, `foldvm-unit-tests "[tier-bench]"` on a release build.
#include "page_mixes.hpp"
#include "vmm/overcommit/compressed_store.hpp"
#include "vmm/overcommit/page_codec.hpp"
#include "vmm/overcommit/swap_file.hpp"

#include <catch2/catch.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <vector>

using namespace foldvm;
using namespace foldvm::overcommit;
using namespace foldvm::test;

namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point t0) {
    return std::chrono::duration<double>(Clock::now() - t0).count();
}

double mib_per_s(size_t pages, double s) {
    return double(pages * kPageSize) / s / (1 << 20);
}

} // namespace

TEST_CASE("compressed tier throughput on text-like pages", "[.][tier-bench]") {
    const size_t n = 4096;
    std::vector<PageBytes> pages;
    for (uint32_t i = 0; i < n; ++i)
        pages.push_back(text_page(i));
    for (Codec codec : {Codec::Lz4, Codec::Zstd}) {
        CompressedStore store({.codec = codec});
        std::vector<BlockHandle> handles(n);
        auto t0 = Clock::now();
        for (size_t i = 0; i < n; ++i)
            handles[i] = store.put(pages[i].data()).handle;
        double put_s = seconds_since(t0);
        PageBytes out;
        t0 = Clock::now();
        for (size_t i = 0; i < n; ++i)
            store.get(handles[i], out.data());
        double get_s = seconds_since(t0);
        auto s = store.stats();
        WARN(to_string(codec) << ": put " << mib_per_s(n, put_s) << " MiB/s (" << put_s / n * 1e6
                              << " us/page), get " << mib_per_s(n, get_s) << " MiB/s ("
                              << get_s / n * 1e6 << " us/page), " << double(s.allocated_bytes) / n
                              << " bytes/page");
        CHECK(s.pages == n);
    }
}

TEST_CASE("swap tier throughput: 32-page clusters, synchronous reads", "[.][tier-bench]") {
    const char* env = std::getenv("TMPDIR");
    std::string dir = env && *env ? env : "/tmp";
    const size_t n = 8192; // 32 MiB
    std::vector<PageBytes> pages;
    for (uint32_t i = 0; i < SwapFile::kMaxCluster; ++i)
        pages.push_back(random_page(i));
    std::vector<const uint8_t*> ptrs;
    for (auto& p : pages)
        ptrs.push_back(p.data());
    for (bool encrypt : {true, false}) {
        SwapFile swap({.directory = dir, .encrypt = encrypt});
        std::mutex m;
        std::vector<SlotHandle> slots;
        auto t0 = Clock::now();
        for (size_t i = 0; i < n / SwapFile::kMaxCluster; ++i)
            swap.write(ptrs, [&](SwapWriteResult r) {
                std::lock_guard lock(m);
                slots.insert(slots.end(), r.slots.begin(), r.slots.end());
            });
        swap.flush();
        double write_s = seconds_since(t0);
        std::vector<double> lat;
        PageBytes out;
        std::mt19937 rng(1);
        std::shuffle(slots.begin(), slots.end(), rng);
        t0 = Clock::now();
        for (SlotHandle s : slots) {
            auto r0 = Clock::now();
            swap.read(s, out.data());
            lat.push_back(seconds_since(r0) * 1e6);
        }
        double read_s = seconds_since(t0);
        std::sort(lat.begin(), lat.end());
        auto st = swap.stats();
        WARN((encrypt ? "encrypted" : "plain")
             << ": write " << mib_per_s(n, write_s) << " MiB/s in " << st.writes
             << " pwritev, read " << mib_per_s(n, read_s) << " MiB/s, p50 " << lat[lat.size() / 2]
             << " us, p99 " << lat[lat.size() * 99 / 100] << " us (page cache)");
        CHECK(st.pages_written == n);
    }
}
