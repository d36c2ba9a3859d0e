// Fuzz-style test: random virtio-blk requests (valid and hostile), random
// ring bytes and register writes on one VM's drive, while a second VM's
// drive does verified I/O. The monitor must survive, the fuzzed drive may
// only break itself and never grow or leave its image, and the other VM
// must not notice.
#include "virtio_blk_requests.hpp"

#include "vmm/devices/device_manager.hpp"

#include <catch2/catch.hpp>

#include <random>

using namespace foldvm;
using namespace foldvm::test;
using namespace foldvm::virtio;

TEST_CASE("random virtio-blk requests never escape the fuzzed drive", "[virtio][blk][fuzz]") {
    Kvm kvm;
    TempImage ia(kImageBytes), ib(kImageBytes);
    auto a = blk_vm(kvm, {{.path = ia.path()}});
    auto b = blk_vm(kvm, {{.path = ib.path()}});
    TestDriver fa(*a), fb(*b);
    fb.start(kAllFeatures, 1, 64);
    std::vector<uint8_t> model = ib.read(0, kImageBytes);

    std::mt19937_64 rng(GENERATE(1u, 2u, 3u));
    auto below = [&](uint64_t n) { return std::uniform_int_distribution<uint64_t>(0, n - 1)(rng); };
    const uint64_t ram = a->memory().size();
    const uint32_t types[] = {vblk::kTIn, vblk::kTOut, vblk::kTFlush, vblk::kTGetId, 0};
    uint64_t resets_seen = 0, b_rounds = 0;
    fa.start(kAllFeatures, 1, 32);

    for (int op = 0; op < 4000; ++op) {
        switch (below(10)) {
        case 0: // bring-up with random features and queue size
            fa.start(kFVersion1 | (below(2) ? vblk::kFFlush : 0) | (below(2) ? vblk::kFRo : 0), 1,
                     static_cast<uint16_t>(1u << below(8)));
            break;
        case 1:
        case 2:
        case 3:
        case 4: { // a request, mostly well-formed
            uint32_t type = types[below(5)];
            if (type == 0) type = static_cast<uint32_t>(rng());
            uint64_t sector = below(2)   ? below(kCapacity + 4)
                              : below(2) ? kCapacity - below(4)
                                         : rng();
            bool in = type == vblk::kTIn || type == vblk::kTGetId;
            std::vector<Buf> data;
            for (uint64_t i = below(5); i > 0; --i) {
                uint64_t gpa = below(8)   ? kData + below(1ull << 20)
                               : below(2) ? rng()
                                          : ram - below(1024);
                auto len = static_cast<uint32_t>(below(4) ? 512 * below(9) : below(5000));
                data.push_back({gpa, len, below(8) ? in : !in});
            }
            auto first = static_cast<uint16_t>(below(24));
            if (below(10)) {
                offer(fa, first, 0, type, sector, data, below(8) != 0);
            } else { // raw: short header, missing or readable status
                data.insert(data.begin(), {kHdr, static_cast<uint32_t>(below(20)), false});
                if (below(2)) data.push_back({kStat, 1, below(2) != 0});
                fa.set_chain(0, first, data);
                fa.post(0, first);
            }
            break;
        }
        case 5: { // random bytes over the ring area
            uint64_t gpa = TestDriver::desc_gpa(0) + below(0xc000 - 64);
            uint8_t junk[64];
            for (auto& byte : junk)
                byte = static_cast<uint8_t>(rng());
            a->memory().write(gpa, junk, sizeof junk);
            break;
        }
        case 6: { // random register or config write of any width
            uint8_t bytes[8];
            uint64_t v = rng();
            std::memcpy(bytes, &v, 8);
            uint64_t off = below(0x140);
            if (off == mmio::kStatus && below(2)) off = mmio::kQueueNotify;
            CHECK_NOTHROW(fa.dev->mmio_write(off, bytes, 1u << below(4)));
            break;
        }
        case 7: { // random register or config read
            uint8_t bytes[8];
            CHECK_NOTHROW(fa.dev->mmio_read(below(0x180), bytes, 1u << below(4)));
            break;
        }
        case 8:
            fa.write(mmio::kQueueNotify, static_cast<uint32_t>(below(3)));
            break;
        default:
            fa.write(mmio::kStatus, 0);
            break;
        }
        resets_seen += fa.needs_reset();

        if (op % 200 == 0) { // the other VM does verified I/O
            ++b_rounds;
            uint64_t sector = below(kCapacity - 8);
            auto seed = static_cast<uint8_t>(rng());
            round_trip(fb, ib, sector, seed);
            auto data = noise(4096, seed);
            std::copy(data.begin(), data.end(), model.begin() + static_cast<long>(sector * 512));
            REQUIRE_FALSE(fb.needs_reset());
        }
    }
    CHECK(resets_seen > 0);
    CHECK(ia.size() == kImageBytes);
    CHECK(ib.read(0, kImageBytes) == model);
    auto sa = a->devices().blocks()[0]->stats();
    CHECK(sa.reads + sa.writes > 0); // the fuzz got past validation too
    auto sb = b->devices().blocks()[0]->stats();
    CHECK(sb.writes == b_rounds);
    CHECK(sb.io_errors == 0);
    CHECK(sb.device_error.empty());
}
