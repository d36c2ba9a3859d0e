// Writers hammer pages while the engine merges at full speed. Every page's
// expected value is known to its single writer, so a write lost to a racing
// merge shows up as a mismatch.
#include "dedup_fixture.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <shared_mutex>
#include <thread>

using namespace foldvm;
using namespace foldvm::test;

namespace {

constexpr size_t kPages = 2048;
constexpr uint64_t kValues = 12; // few values: pages are equal (mergeable) often

// Page content: word 0..7 carry the value, the rest is identical everywhere.
void write_value(uint8_t* page, uint64_t v) {
    auto* w = reinterpret_cast<volatile uint64_t*>(page);
    for (int k = 0; k < 8; ++k)
        w[k] = v;
}
bool has_value(const uint8_t* page, uint64_t v) {
    auto* w = reinterpret_cast<const volatile uint64_t*>(page);
    for (int k = 0; k < 8; ++k)
        if (w[k] != v) return false;
    return true;
}

struct StressResult {
    uint64_t writes = 0;
    uint64_t lost = 0;
};

template <typename BeforeWrite, typename Guard>
StressResult hammer(uint8_t* base, int threads, uint64_t writes_per_thread, BeforeWrite before,
                    Guard guard) {
    std::atomic<uint64_t> lost{0}, writes{0};
    std::vector<std::thread> pool;
    for (int t = 0; t < threads; ++t) {
        pool.emplace_back([&, t] {
            std::vector<uint64_t> expected(kPages, 1);
            uint64_t rng = 0x9e3779b97f4a7c15ull * uint64_t(t + 1);
            auto verify = [&] {
                for (size_t i = size_t(t); i < kPages; i += size_t(threads))
                    if (!has_value(base + i * kPageSize, expected[i])) {
                        lost.fetch_add(1);
                        expected[i] = reinterpret_cast<uint64_t*>(base + i * kPageSize)[0];
                    }
            };
            // Run long enough for many merge passes to race with the writes.
            auto start = std::chrono::steady_clock::now();
            uint64_t n = 0;
            for (; n < writes_per_thread ||
                   std::chrono::steady_clock::now() - start < std::chrono::seconds(2);
                 ++n) {
                rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
                size_t i = (rng % (kPages / size_t(threads))) * size_t(threads) + size_t(t);
                uint64_t v = 1 + (rng >> 32) % kValues;
                {
                    [[maybe_unused]] auto lock = guard();
                    before(i);
                    write_value(base + i * kPageSize, v);
                }
                expected[i] = v;
                if (n % 50000 == 0) verify();
            }
            verify();
            writes.fetch_add(n);
        });
    }
    for (auto& th : pool)
        th.join();
    return {writes.load(), lost.load()};
}

} // namespace

TEST_CASE("no write is lost while the engine merges at full speed (userfaultfd freeze)",
          "[dedup][stress]") {
    auto cfg = fast_config();
    cfg.merge_batch_pages = 64;
    dedup::Engine engine(cfg);
    TestRegion region(engine, kPages);
    for (size_t i = 0; i < kPages; ++i)
        region.fill(i, 1), write_value(region.page(i), 1);
    engine.start();
    auto result = hammer(
        region.page(0), 1, 1'000'000, [&](size_t i) { region.tracker->mark(i); }, [] { return 0; });
    engine.stop();
    auto s = engine.stats();
    INFO("merge_batches=" << s.merge_batches << " cow_breaks=" << s.cow_breaks << " freeze_p99_us="
                          << s.freeze_wait_us_p99 << " writes=" << result.writes);
    CHECK(result.writes >= 1'000'000);
    CHECK(result.lost == 0);
    CHECK(s.merge_batches > 10);
    CHECK(s.cow_breaks > 100); // merges really raced with writes
}

TEST_CASE("no write is lost with async write-protect tracking and the pause freeze",
          "[dedup][stress]") {
    std::string why = dedup::UffdAsyncTracker::unavailable_reason();
    if (!why.empty()) {
        WARN("SKIP: " << why);
        return;
    }
    auto cfg = fast_config();
    cfg.merge_batch_pages = 64;
    dedup::Engine engine(cfg);
    Mapping mem = Mapping::anonymous(kPages * kPageSize);
    ::madvise(mem.get(), mem.size(), MADV_NOHUGEPAGE);
    for (size_t i = 0; i < kPages; ++i)
        write_value(mem.bytes() + i * kPageSize, 1);
    std::shared_mutex writers;
    dedup::RegionSpec spec;
    spec.name = "async";
    spec.base = mem.bytes();
    spec.size = mem.size();
    spec.tracker = std::make_unique<dedup::UffdAsyncTracker>(mem.bytes(), mem.size());
    spec.uffd_freeze = false;
    spec.pause = [&] { writers.lock(); };
    spec.resume = [&] { writers.unlock(); };
    engine.add_region(std::move(spec));
    engine.start();
    auto result = hammer(
        mem.bytes(), 1, 200'000, [](size_t) {},
        [&] { return std::shared_lock<std::shared_mutex>(writers); });
    engine.stop();
    auto s = engine.stats();
    INFO("merge_batches=" << s.merge_batches << " cow_breaks=" << s.cow_breaks
                          << " writes=" << result.writes);
    CHECK(s.freeze_mode == "pause");
    CHECK(result.lost == 0);
    CHECK(s.merge_batches > 10);
    CHECK(s.cow_breaks > 100);
}
