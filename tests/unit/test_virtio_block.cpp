// The virtio-blk device, driven by a test driver through the VM's MMIO bus
// against temporary image files whose contents are checked with plain pread.
#include "virtio_blk_requests.hpp"

#include "common/error.hpp"
#include "vmm/devices/device_manager.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <functional>

using namespace foldvm;
using namespace foldvm::test;
using namespace foldvm::virtio;

TEST_CASE("virtio-blk identifies itself with features and config space", "[virtio][blk]") {
    Kvm kvm;
    TempImage rw(kImageBytes), ro(3 * 512);
    VmConfig cfg = device_vm_config();
    cfg.balloon = BalloonConfig{};
    cfg.drives = {{.path = rw.path(), .id = "rw"}, {.path = ro.path(), .read_only = true}};
    auto vm = device_vm(kvm, cfg);
    REQUIRE(vm->boot_info().device_count == 3);
    CHECK(vm->devices().linux_cmdline() ==
          "virtio_mmio.device=4K@0xd0000000:5 virtio_mmio.device=4K@0xd0001000:6 "
          "virtio_mmio.device=4K@0xd0002000:7");
    REQUIRE(vm->devices().blocks().size() == 2);
    CHECK(vm->devices().blocks()[1]->stats().capacity_sectors == 3);

    TestDriver d(*vm, 1), r(*vm, 2);
    CHECK(d.read(mmio::kDeviceId) == kDeviceIdBlock);
    CHECK(d.offered() == kAllFeatures);
    CHECK(r.offered() == (kAllFeatures | vblk::kFRo));
    // capacity (le64), seg_max, blk_size
    CHECK(d.read(mmio::kConfig) == kCapacity);
    CHECK(d.read(mmio::kConfig + 4) == 0);
    CHECK(r.read(mmio::kConfig) == 3);
    CHECK(d.read(mmio::kConfig + 12) == vblk::kSegMax);
    CHECK(d.read(mmio::kConfig + 20) == 512);
    CHECK(d.read(mmio::kConfig + 20, 2) == 512);
    CHECK(d.read(mmio::kConfig + 60) == 0); // past the config space
    // One request queue.
    REQUIRE(d.negotiate(kAllFeatures));
    d.write(mmio::kQueueSel, 0);
    CHECK(d.read(mmio::kQueueNumMax) == vblk::kQueueSize);
    d.write(mmio::kQueueSel, 1);
    CHECK(d.read(mmio::kQueueNumMax) == 0);
    // The config space is read-only.
    d.write(mmio::kConfig, 7);
    CHECK(d.read(mmio::kConfig) == kCapacity);
}

TEST_CASE("virtio-blk writes and reads reach the image file", "[virtio][blk]") {
    Kvm kvm;
    TempImage img(kImageBytes);
    auto vm = blk_vm(kvm, {{.path = img.path()}});
    TestDriver d(*vm);
    d.start(kAllFeatures, 1, 64);

    // OUT of 8 sectors from three scattered buffers.
    auto data = noise(4096, 1);
    put_guest_bytes(*vm, kData, {data.begin(), data.begin() + 512});
    put_guest_bytes(*vm, kData + 0x3000, {data.begin() + 512, data.begin() + 1536});
    put_guest_bytes(*vm, kData + 0x8000, {data.begin() + 1536, data.end()});
    CHECK(submit(d, vblk::kTOut, 8,
                 {{kData, 512, false},
                  {kData + 0x3000, 1024, false},
                  {kData + 0x8000, 2560, false}}) == vblk::kSOk);
    CHECK(d.used_elem(0, 0).len == 1); // only the status was written
    CHECK(img.read(8 * 512, 4096) == data);
    // Neighbours untouched.
    CHECK(img.read(7 * 512, 512) == pattern(7 * 512, 512));
    CHECK(img.read(16 * 512, 512) == pattern(16 * 512, 512));

    // IN with the header split over two descriptors and the status byte in the
    // same descriptor as the data (the device may not assume any framing).
    uint32_t in = vblk::kTIn;
    uint64_t sector = 8;
    uint8_t hdr[16] = {};
    std::memcpy(hdr, &in, 4);
    std::memcpy(hdr + 8, &sector, 8);
    vm->memory().write(kHdr, hdr, 16);
    d.set_chain(0, 0, {{kHdr, 6, false}, {kHdr + 6, 10, false}, {kData + 0x20000, 4097, true}});
    d.post(0, 0);
    REQUIRE(d.used_idx(0) == 2);
    CHECK(d.used_elem(0, 1).len == 4097);
    CHECK(guest_bytes(*vm, kData + 0x20000, 4096) == data);
    CHECK(guest_bytes(*vm, kData + 0x20000 + 4096, 1)[0] == vblk::kSOk);

    // The file changed underneath: the guest reads what is there now.
    auto outside = noise(1024, 99);
    img.write(100 * 512, outside);
    CHECK(submit(d, vblk::kTIn, 100, {{kData, 1024, true}}) == vblk::kSOk);
    CHECK(guest_bytes(*vm, kData, 1024) == outside);
    // The last sector, and an empty read at the very end, are in range.
    CHECK(submit(d, vblk::kTIn, kCapacity - 1, {{kData, 512, true}}) == vblk::kSOk);
    CHECK(guest_bytes(*vm, kData, 512) == img.read(kImageBytes - 512, 512));
    CHECK(submit(d, vblk::kTIn, kCapacity, {}) == vblk::kSOk);

    auto s = vm->devices().blocks()[0]->stats();
    CHECK(s.writes == 1);
    CHECK(s.reads == 4);
    CHECK(s.write_bytes == 4096);
    CHECK(s.read_bytes == 4096 + 1024 + 512);
    CHECK(s.io_errors == 0);
    CHECK(s.driver_ok);
    CHECK_FALSE(s.needs_reset);
    CHECK(d.read(mmio::kInterruptStatus) & mmio::kInterruptVring);
}

TEST_CASE("virtio-blk reads into guest RAM are in the dirty log", "[virtio][blk]") {
    Kvm kvm;
    TempImage img(kImageBytes);
    auto vm = blk_vm(kvm, {{.path = img.path()}});
    TestDriver d(*vm);
    d.start(kAllFeatures, 1, 64);
    GuestMemory& mem = vm->memory();
    REQUIRE(mem.dirty_logging());
    std::vector<uint64_t> bits((mem.size() / kPageSize + 63) / 64);
    auto page_dirty = [&](uint64_t gpa) {
        uint64_t page = gpa / kPageSize;
        return (bits[page / 64] >> (page % 64)) & 1;
    };
    mem.collect_dirty(bits.data()); // re-arms: only new writes from here on
    std::fill(bits.begin(), bits.end(), 0);
    // Only the device writes the data pages: three pages and a bit.
    REQUIRE(submit(d, vblk::kTIn, 0, {{kData + 0x800, 3 * 4096, true}}) == vblk::kSOk);
    mem.collect_dirty(bits.data());
    for (uint64_t p = 0; p < 4; ++p)
        CHECK(page_dirty(kData + p * kPageSize));
    CHECK_FALSE(page_dirty(kData + 4 * kPageSize));
    CHECK(page_dirty(TestDriver::used_gpa(0))); // the used ring, too
}

TEST_CASE("read-only drives refuse writes with IOERR", "[virtio][blk]") {
    Kvm kvm;
    TempImage img(kImageBytes);
    auto vm = blk_vm(kvm, {{.path = img.path(), .read_only = true}});
    TestDriver d(*vm);
    REQUIRE(d.offered() & vblk::kFRo);
    d.start(kAllFeatures | vblk::kFRo, 1, 64);
    auto before = img.read(0, 8192);
    put_guest_bytes(*vm, kData, noise(4096, 5));
    CHECK(submit(d, vblk::kTOut, 0, {{kData, 4096, false}}) == vblk::kSIoErr);
    CHECK(img.read(0, 8192) == before);
    CHECK_FALSE(d.needs_reset());
    CHECK(submit(d, vblk::kTIn, 0, {{kData, 4096, true}}) == vblk::kSOk);
    CHECK(guest_bytes(*vm, kData, 4096) ==
          std::vector<uint8_t>(before.begin(), before.begin() + 4096));
    CHECK(submit(d, vblk::kTFlush, 0, {}) == vblk::kSOk);
    CHECK(vm->devices().blocks()[0]->stats().io_errors == 1);
}

TEST_CASE("out-of-range and partial-sector requests complete with IOERR", "[virtio][blk]") {
    Kvm kvm;
    TempImage img(kImageBytes);
    auto vm = blk_vm(kvm, {{.path = img.path()}});
    TestDriver d(*vm);
    d.start(kAllFeatures, 1, 64);
    auto before = img.read(0, kImageBytes);
    put_guest_bytes(*vm, kData, noise(8192, 3));

    struct Case {
        uint32_t type;
        uint64_t sector;
        uint32_t len;
    };
    const Case cases[] = {
        {vblk::kTIn, kCapacity, 512},        // one past the end
        {vblk::kTIn, kCapacity - 1, 1024},   // runs off the end
        {vblk::kTOut, kCapacity, 512},       // would grow the file
        {vblk::kTOut, kCapacity - 1, 1024},  // would grow the file
        {vblk::kTIn, ~0ull, 512},            // sector + count overflows
        {vblk::kTOut, ~0ull / 512 + 1, 512}, // sector * 512 wraps to 0
        {vblk::kTIn, 1ull << 55, 512},       // sector * 512 wraps to 0
        {vblk::kTIn, 0, 100},                // not whole sectors
        {vblk::kTOut, 0, 513},               // not whole sectors
        {vblk::kTIn, kCapacity + 1, 0},      // empty, but past the end
    };
    uint64_t n = 0;
    for (const Case& c : cases) {
        INFO("type " << c.type << " sector " << c.sector << " len " << c.len);
        std::vector<Buf> data;
        if (c.len) data.push_back({kData, c.len, c.type == vblk::kTIn});
        CHECK(submit(d, c.type, c.sector, data) == vblk::kSIoErr);
        CHECK_FALSE(d.needs_reset());
        ++n;
    }
    CHECK(img.size() == kImageBytes);
    CHECK(img.read(0, kImageBytes) == before);
    CHECK(vm->devices().blocks()[0]->stats().io_errors == n);
    round_trip(d, img, kCapacity - 8, 7); // and the drive still works
}

TEST_CASE("GET_ID returns the drive id as a 20-byte serial", "[virtio][blk]") {
    Kvm kvm;
    TempImage a(kImageBytes), b(kImageBytes);
    auto vm = blk_vm(kvm, {{.path = a.path(), .id = "disk-0"},
                           {.path = b.path(), .id = "abcdefghijklmnopqrst"}});
    TestDriver d(*vm, 0), e(*vm, 1);
    d.start(kAllFeatures, 1, 64);
    e.start(kAllFeatures, 1, 64);

    put_guest_bytes(*vm, kData, std::vector<uint8_t>(32, 0xee));
    CHECK(submit(d, vblk::kTGetId, 0, {{kData, 20, true}}) == vblk::kSOk);
    CHECK(d.used_elem(0, 0).len == 21);
    std::vector<uint8_t> want(20, 0);
    std::memcpy(want.data(), "disk-0", 6);
    CHECK(guest_bytes(*vm, kData, 20) == want);

    // A 20-character id fills the buffer without a terminator; a longer
    // buffer gets 20 bytes, a shorter one what fits.
    put_guest_bytes(*vm, kData, std::vector<uint8_t>(32, 0xee));
    CHECK(submit(e, vblk::kTGetId, 0, {{kData, 32, true}}) == vblk::kSOk);
    CHECK(e.used_elem(0, 0).len == 20);
    auto got = guest_bytes(*vm, kData, 32);
    CHECK(std::string(got.begin(), got.begin() + 20) == "abcdefghijklmnopqrst");
    CHECK(got[20] == 0xee);
    CHECK(submit(e, vblk::kTGetId, 0, {{kData, 8, true}}) == vblk::kSOk);
    CHECK(e.used_elem(0, 1).len == 9);
    CHECK(std::string(reinterpret_cast<const char*>(vm->memory().translate(kData, 8)), 8) ==
          "abcdefgh");
}

TEST_CASE("FLUSH only when negotiated; unknown request types are unsupported", "[virtio][blk]") {
    Kvm kvm;
    TempImage img(kImageBytes);
    auto vm = blk_vm(kvm, {{.path = img.path()}});
    BlockDevice& dev = *vm->devices().blocks()[0];
    TestDriver d(*vm);
    d.start(kAllFeatures, 1, 64);
    CHECK(submit(d, vblk::kTFlush, 0, {}) == vblk::kSOk);
    CHECK(submit(d, vblk::kTFlush, 0, {{kData, 512, true}}) == vblk::kSOk); // stray data
    CHECK(dev.stats().flushes == 2);
    for (uint32_t type : {2u, 11u, 13u, 14u, 0xdeadbeefu})
        CHECK(submit(d, type, 0, {{kData, 512, true}}) == vblk::kSUnsupp);
    CHECK(dev.stats().unsupported == 5);

    // Without FLUSH the drive is write-through, and FLUSH is not a command.
    d.start(kFVersion1, 1, 64);
    CHECK(submit(d, vblk::kTFlush, 0, {}) == vblk::kSUnsupp);
    round_trip(d, img, 0, 9);
    CHECK(dev.stats().flushes == 2);
    CHECK_FALSE(d.needs_reset());
}

TEST_CASE("malformed virtio-blk chains break only their own device", "[virtio][blk]") {
    Kvm kvm;
    TempImage ia(kImageBytes), ib(kImageBytes);
    auto a = blk_vm(kvm, {{.path = ia.path()}});
    auto b = blk_vm(kvm, {{.path = ib.path()}});
    TestDriver fa(*a), fb(*b);
    fb.start(kAllFeatures, 1, 64);
    const uint64_t ram = a->memory().size();

    struct Hostile {
        const char* name;
        const char* error;
        std::function<void(TestDriver&)> send;
    };
    const auto hdr = [](TestDriver& d, uint32_t type) {
        uint8_t h[16] = {};
        std::memcpy(h, &type, 4);
        d.vm.memory().write(kHdr, h, 16);
        return Buf{kHdr, 16, false};
    };
    const std::vector<Hostile> cases = {
        {"status not writable", "no device-writable status",
         [&](TestDriver& d) {
             d.set_chain(0, 0, {hdr(d, vblk::kTIn), {kData, 512, false}, {kStat, 1, false}});
             d.post(0, 0);
         }},
        {"header too short", "less than its 16-byte header",
         [&](TestDriver& d) {
             d.set_chain(0, 0, {{kHdr, 8, false}, {kStat, 1, true}});
             d.post(0, 0);
         }},
        {"descriptor loop", "longer than the queue",
         [&](TestDriver& d) {
             d.set_desc(0, 0, kHdr, 16, kDescFNext, 1);
             d.set_desc(0, 1, kData, 512, kDescFNext, 0);
             d.post(0, 0);
         }},
        {"buffer outside RAM", "outside guest RAM",
         [&](TestDriver& d) {
             d.set_chain(0, 0, {hdr(d, vblk::kTIn), {ram - 100, 512, true}, {kStat, 1, true}});
             d.post(0, 0);
         }},
        {"IN with readable data", "device-readable data",
         [&](TestDriver& d) {
             d.set_chain(0, 0, {hdr(d, vblk::kTIn), {kData, 512, false}, {kStat, 1, true}});
             d.post(0, 0);
         }},
        {"OUT with writable data", "device-writable bytes",
         [&](TestDriver& d) {
             d.set_chain(0, 0, {hdr(d, vblk::kTOut), {kData, 512, true}, {kStat, 1, true}});
             d.post(0, 0);
         }},
        {"readable after writable", "follows a device-writable",
         [&](TestDriver& d) {
             d.set_chain(0, 0, {hdr(d, vblk::kTOut), {kStat, 1, true}, {kData, 512, false}});
             d.post(0, 0);
         }},
        {"available index far ahead", "entries ahead",
         [&](TestDriver& d) {
             d.set_avail_idx(0, 1000);
             d.write(mmio::kQueueNotify, 0);
         }},
    };
    uint8_t seed = 0;
    for (const Hostile& h : cases) {
        INFO(h.name);
        auto before = ia.read(0, 64 * 1024);
        fa.start(kAllFeatures, 1, 64);
        REQUIRE_FALSE(fa.needs_reset());
        h.send(fa);
        CHECK(fa.needs_reset());
        auto s = a->devices().blocks()[0]->stats();
        CHECK_THAT(s.device_error, Catch::Contains(h.error));
        CHECK(ia.read(0, 64 * 1024) == before);
        // Requests on a broken device are ignored until the driver resets it.
        offer(fa, 8, 1, vblk::kTIn, 0, {{kData, 512, true}});
        CHECK(status_of(*a, 1) == 0xff);
        // The other VM's drive carries on, and so does this one after a reset.
        round_trip(fb, ib, seed, seed);
        fa.start(kAllFeatures, 1, 64);
        round_trip(fa, ia, 64, ++seed);
    }
    CHECK(b->devices().blocks()[0]->stats().device_error.empty());
}

TEST_CASE("virtio-blk does bounded work per exit and the rest at the next access",
          "[virtio][blk]") {
    Kvm kvm;
    TempImage img(kImageBytes);
    auto vm = blk_vm(kvm, {{.path = img.path()}});
    TestDriver d(*vm);
    d.start(kAllFeatures, 1, 128);
    constexpr uint32_t kRequests = 24;
    constexpr uint64_t kChainBytes = kImageBytes + 17; // header + 1 MiB + status
    for (uint32_t n = 0; n < kRequests; ++n)
        offer(d, static_cast<uint16_t>(3 * n), n, vblk::kTIn, 0, {{kData, kImageBytes, true}},
              n + 1 == kRequests);
    const uint64_t first_round = (vblk::kBytesPerRound + kChainBytes - 1) / kChainBytes;
    REQUIRE(first_round < kRequests);
    CHECK(d.used_idx(0) == first_round);
    CHECK(status_of(*vm, static_cast<uint32_t>(first_round)) == 0xff);
    // The driver's interrupt handler reads the status: the rest is done by then.
    CHECK(d.read(mmio::kInterruptStatus) & mmio::kInterruptVring);
    CHECK(d.used_idx(0) == kRequests);
    for (uint32_t n = 0; n < kRequests; ++n)
        CHECK(status_of(*vm, n) == vblk::kSOk);
    CHECK(guest_bytes(*vm, kData, kImageBytes) == img.read(0, kImageBytes));
}

TEST_CASE("drive images are checked when the VM is created", "[virtio][blk]") {
    Kvm kvm;
    TempImage odd(1000), rw(kImageBytes);
    CHECK_THROWS_WITH(blk_vm(kvm, {{.path = odd.path()}}),
                      Catch::Contains("not a multiple of 512"));
    CHECK_THROWS_WITH(blk_vm(kvm, {{.path = rw.path() + ".missing"}}),
                      Catch::Contains("cannot open"));
    CHECK_THROWS_AS(blk_vm(kvm, {{.path = rw.path(), .id = "no spaces"}}), InvalidInput);
    CHECK_THROWS_WITH(
        blk_vm(kvm, {{.path = rw.path(), .id = "x"}, {.path = odd.path(), .id = "x"}}),
        Catch::Contains("not a multiple of 512"));

    // One writer per image; readers share it.
    auto first = blk_vm(kvm, {{.path = rw.path()}});
    CHECK_THROWS_WITH(blk_vm(kvm, {{.path = rw.path()}}), Catch::Contains("in use"));
    CHECK_THROWS_WITH(blk_vm(kvm, {{.path = rw.path(), .read_only = true}}),
                      Catch::Contains("in use"));
    first.reset();
    auto r1 = blk_vm(kvm, {{.path = rw.path(), .read_only = true}});
    auto r2 = blk_vm(kvm, {{.path = rw.path(), .read_only = true}});
    CHECK_THROWS_WITH(blk_vm(kvm, {{.path = rw.path()}}), Catch::Contains("in use"));
}
