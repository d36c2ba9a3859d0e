// virtio-blk reads land in guest RAM that the built-in dedup engine merges
// across VMs: the device's preadv must copy-on-write a merged page (never
// write the shared copy another VM sees), wait out a merge in progress, and
// show up in the write log so the engine hashes the new contents.
#include "dedup_fixture.hpp"
#include "virtio_blk_requests.hpp"

#include "vmm/machine/host.hpp"
#include "vmm/sharing/dedup_service.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <thread>

using namespace foldvm;
using namespace foldvm::test;
using namespace std::chrono_literals;

namespace {

constexpr size_t kPages = 32;
constexpr uint64_t kBytes = kPages * foldvm::kPageSize;

bool merged(Vm& vm) {
    return private_resident_pages(vm.memory().translate(kData, kBytes), kPages) == 0;
}

bool eventually(const std::function<bool()>& pred, std::chrono::milliseconds limit) {
    auto end = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(5ms);
    }
    return pred();
}

} // namespace

TEST_CASE("virtio-blk reads into merged guest pages never reach the shared copy",
          "[virtio][blk][dedup]") {
    TempImage img(kImageBytes);
    Host host;
    dedup::DedupConfig cfg;
    cfg.volatile_passes = 0;
    cfg.sleep_millisecs = 0;
    cfg.pages_to_scan = 1'000'000;
    DedupService sharing(host, DedupMode::Builtin, cfg);
    VmConfig with_drive = device_vm_config();
    with_drive.drives = {{.path = img.path()}};
    auto a = host.vm(host.create_vm(with_drive));
    auto b = host.vm(host.create_vm(device_vm_config()));
    TestDriver d(*a);
    d.start(kAllFeatures, 1, 64);

    // Merged first, then read into: the first half is copied on write.
    for (uint8_t round = 1; round <= 5; ++round) {
        INFO("round " << int(round));
        auto same = noise(kBytes, round);
        put_guest_bytes(*a, kData, same);
        put_guest_bytes(*b, kData, same);
        REQUIRE(eventually([&] { return merged(*a) && merged(*b); }, 20s));
        REQUIRE(sharing.stats()->pages_sharing >= kPages);
        uint64_t sector = round * 64;
        REQUIRE(submit(d, vblk::kTIn, sector, {{kData, kBytes / 2, true}}) == vblk::kSOk);
        CHECK(guest_bytes(*a, kData, kBytes / 2) == img.read(sector * 512, kBytes / 2));
        CHECK(guest_bytes(*a, kData + kBytes / 2, kBytes / 2) ==
              std::vector<uint8_t>(same.begin() + kBytes / 2, same.end()));
        CHECK(guest_bytes(*b, kData, kBytes) == same);
    }

    // Racing the scanner: reads land while pages are being merged.
    for (uint8_t round = 6; round < 206; ++round) {
        auto same = noise(kBytes, round);
        put_guest_bytes(*a, kData, same);
        put_guest_bytes(*b, kData, same);
        std::this_thread::sleep_for(std::chrono::microseconds(round * 37 % 2000));
        uint64_t sector = round % 64 * 16;
        REQUIRE(submit(d, vblk::kTIn, sector, {{kData, kBytes, true}}) == vblk::kSOk);
        REQUIRE(guest_bytes(*a, kData, kBytes) == img.read(sector * 512, kBytes));
        REQUIRE(guest_bytes(*b, kData, kBytes) == same);
    }

    // The engine saw the device's writes: a's pages hold image data now and
    // are not merged with b's, and stay correct while it keeps scanning.
    std::this_thread::sleep_for(100ms);
    CHECK(guest_bytes(*b, kData, kBytes) == noise(kBytes, 205));
    CHECK(guest_bytes(*a, kData, kBytes) == img.read(205 % 64 * 16 * 512, kBytes));
    CHECK_FALSE(d.needs_reset());
}
