// Fuzz-style test: random register accesses and random ring contents on one
// VM's balloon, while a second VM's balloon keeps doing real work. The
// monitor must survive, the fuzzed device may only break itself, and the
// other VM must not notice.
#include "virtio_test_driver.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace foldvm;
using namespace foldvm::test;
using namespace foldvm::virtio;
namespace vb = foldvm::virtio::balloon;

namespace {

constexpr uint64_t kSentinel = 13ull << 20;
constexpr size_t kSentinelPages = 64;
constexpr uint64_t kVictim = 12ull << 20;

uint8_t sentinel_byte(size_t i) {
    return static_cast<uint8_t>(i * 131 + 7);
}

} // namespace

TEST_CASE("random and hostile driver input never escapes the fuzzed device", "[virtio][fuzz]") {
    Kvm kvm;
    BalloonConfig all{.amount_mib = 4,
                      .deflate_on_oom = true,
                      .stats_polling_interval_s = 1,
                      .free_page_reporting = true};
    auto a = balloon_vm(kvm, all);
    auto b = balloon_vm(kvm, all);
    TestDriver fa(*a), fb(*b);
    fb.start(kFVersion1 | vb::kFStatsVq | vb::kFPageReporting, 4);

    std::vector<uint8_t> sentinel(kSentinelPages * kPageSize);
    for (size_t i = 0; i < sentinel.size(); ++i)
        sentinel[i] = sentinel_byte(i);
    b->memory().write(kSentinel, sentinel.data(), sentinel.size());

    std::mt19937_64 rng(GENERATE(1u, 2u, 3u));
    auto below = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
    const uint64_t ram = a->memory().size();
    uint64_t resets_seen = 0, b_rounds = 0;

    for (int op = 0; op < 20000; ++op) {
        switch (below(10)) {
        case 0: // well-formed bring-up, so the rings get exercised
            fa.start(kFVersion1 | (below(2) ? vb::kFStatsVq : 0) |
                         (below(2) ? vb::kFPageReporting : 0),
                     2 + static_cast<uint32_t>(below(3)), static_cast<uint16_t>(1u << below(5)));
            break;
        case 1: { // random register write of any width
            uint8_t data[8];
            uint64_t v = rng();
            std::memcpy(data, &v, 8);
            uint32_t size = 1u << below(4);
            uint64_t off = below(0x140);
            if (off == mmio::kQueueNotify && below(2)) off = mmio::kStatus;
            CHECK_NOTHROW(fa.dev->mmio_write(off, data, size));
            break;
        }
        case 2: { // random register read
            uint8_t data[8];
            CHECK_NOTHROW(fa.dev->mmio_read(below(0x200), data, 1u << below(4)));
            break;
        }
        case 3: { // random descriptors: addresses in and out of RAM
            uint32_t q = static_cast<uint32_t>(below(4));
            for (int i = 0; i < 4; ++i) {
                uint64_t addr = below(3) ? below(ram) : rng();
                uint16_t flags = static_cast<uint16_t>(below(8));
                fa.set_desc(q, static_cast<uint16_t>(below(32)), addr,
                            static_cast<uint32_t>(below(3) ? below(4 * kPageSize) : rng()), flags,
                            static_cast<uint16_t>(below(40)));
            }
            break;
        }
        case 4: { // random avail ring entries and index, then notify
            uint32_t q = static_cast<uint32_t>(below(4));
            fa.post(q, static_cast<uint16_t>(below(40)), below(4) != 0);
            if (below(4) == 0) fa.set_avail_idx(q, static_cast<uint16_t>(rng()));
            break;
        }
        case 5: { // random bytes over a ring area
            uint32_t q = static_cast<uint32_t>(below(4));
            uint64_t gpa = TestDriver::desc_gpa(q) + below(0xc000 - 64);
            uint8_t junk[64];
            for (auto& byte : junk)
                byte = static_cast<uint8_t>(rng());
            a->memory().write(gpa, junk, sizeof junk);
            break;
        }
        case 6: // notify any queue
            fa.write(mmio::kQueueNotify, static_cast<uint32_t>(below(10)));
            break;
        case 7: // PFN buffers full of random numbers
            fa.send_pfns(static_cast<uint32_t>(below(2)), 10ull << 20,
                         {static_cast<uint32_t>(rng()), static_cast<uint32_t>(below(ram / 4096)),
                          static_cast<uint32_t>(rng())});
            break;
        case 8: // the control API, concurrently meaningful
            CHECK_NOTHROW(a->balloon()->set_target_mib(below(17)));
            CHECK_NOTHROW(a->balloon()->stats());
            break;
        default: // reset
            fa.write(mmio::kStatus, 0);
            break;
        }
        resets_seen += fa.needs_reset();

        if (op % 500 == 0) { // the other VM does real work and sees nothing odd
            ++b_rounds;
            std::vector<uint8_t> page(kPageSize, 0x99);
            b->memory().write(kVictim, page.data(), page.size());
            fb.send_pfns(0, 10ull << 20, {static_cast<uint32_t>(kVictim / kPageSize)});
            REQUIRE_FALSE(fb.needs_reset());
            REQUIRE(fb.used_idx(0) == static_cast<uint16_t>(b_rounds));
            REQUIRE(b->memory().translate(kVictim, kPageSize)[0] == 0);
        }
    }
    CHECK(resets_seen > 0);
    std::vector<uint8_t> now(sentinel.size());
    b->memory().read(kSentinel, now.data(), now.size());
    CHECK(now == sentinel);
    CHECK(b->balloon()->stats().inflated_pages == b_rounds);
    CHECK(b->balloon()->stats().device_error.empty());
}
