// Requests a test driver sends to a virtio-blk device: where headers, status
// bytes and data live in guest RAM, and the checks most tests share.
#pragma once

#include "temp_image.hpp"
#include "virtio_test_driver.hpp"

#include "vmm/devices/virtio/block.hpp"

#include <catch2/catch.hpp>

#include <cstring>
#include <memory>
#include <vector>

namespace foldvm::test {

namespace vblk = foldvm::virtio::blk;

constexpr uint64_t kImageBytes = 1ull << 20;
constexpr uint64_t kCapacity = kImageBytes / 512;
constexpr uint64_t kHdr = 9ull << 20;      // request headers, 32 bytes apart
constexpr uint64_t kStat = kHdr + 0x10000; // status bytes, one per request
constexpr uint64_t kData = 10ull << 20;    // data buffers
constexpr uint64_t kAllFeatures =
    virtio::kFVersion1 | vblk::kFFlush | vblk::kFSegMax | vblk::kFBlkSize;

inline std::unique_ptr<Vm> blk_vm(Kvm& kvm, const std::vector<BlockConfig>& drives) {
    VmConfig cfg = device_vm_config();
    cfg.drives = drives;
    return device_vm(kvm, cfg);
}

// Request `n`: its header at kHdr + 32n, then `data`, then its status byte at
// kStat + n (preset to 0xff), in descriptors from `first`; offered on queue 0.
inline void offer(TestDriver& d, uint16_t first, uint32_t n, uint32_t type, uint64_t sector,
                  const std::vector<Buf>& data, bool notify = true) {
    uint8_t hdr[16] = {};
    std::memcpy(hdr, &type, 4);
    std::memcpy(hdr + 8, &sector, 8);
    d.vm.memory().write(kHdr + 32ull * n, hdr, 16);
    uint8_t unset = 0xff;
    d.vm.memory().write(kStat + n, &unset, 1);
    std::vector<Buf> bufs{{kHdr + 32ull * n, 16, false}};
    bufs.insert(bufs.end(), data.begin(), data.end());
    bufs.push_back({kStat + n, 1, true});
    d.set_chain(0, first, bufs);
    d.post(0, first, notify);
}

inline uint8_t status_of(Vm& vm, uint32_t n) {
    uint8_t s;
    vm.memory().read(kStat + n, &s, 1);
    return s;
}

// One request that must complete at once; returns its status.
inline uint8_t submit(TestDriver& d, uint32_t type, uint64_t sector, const std::vector<Buf>& data) {
    uint16_t before = d.used_idx(0);
    offer(d, 0, 0, type, sector, data);
    REQUIRE(d.used_idx(0) == static_cast<uint16_t>(before + 1));
    return status_of(d.vm, 0);
}

inline std::vector<uint8_t> guest_bytes(Vm& vm, uint64_t gpa, uint64_t len) {
    std::vector<uint8_t> v(len);
    vm.memory().read(gpa, v.data(), len);
    return v;
}

inline void put_guest_bytes(Vm& vm, uint64_t gpa, const std::vector<uint8_t>& v) {
    vm.memory().write(gpa, v.data(), v.size());
}

// What TempImage put at [offset, offset + len).
inline std::vector<uint8_t> pattern(uint64_t offset, uint64_t len) {
    std::vector<uint8_t> v(len);
    for (uint64_t i = 0; i < len; ++i)
        v[i] = TempImage::pattern_byte(offset + i);
    return v;
}

inline std::vector<uint8_t> noise(size_t len, uint8_t seed) {
    std::vector<uint8_t> v(len);
    for (size_t i = 0; i < len; ++i)
        v[i] = static_cast<uint8_t>(seed + i * 13 + i / 511);
    return v;
}

// A write then a read of `sectors` at `sector`, checked against the file.
inline void round_trip(TestDriver& d, TempImage& img, uint64_t sector, uint8_t seed) {
    auto data = noise(4096, seed);
    put_guest_bytes(d.vm, kData, data);
    REQUIRE(submit(d, vblk::kTOut, sector, {{kData, 4096, false}}) == vblk::kSOk);
    REQUIRE(img.read(sector * 512, 4096) == data);
    REQUIRE(submit(d, vblk::kTIn, sector, {{kData + 0x10000, 4096, true}}) == vblk::kSOk);
    REQUIRE(guest_bytes(d.vm, kData + 0x10000, 4096) == data);
}

} // namespace foldvm::test
