// A virtio driver played by the test: programs the virtio-mmio registers of
// any of a VM's devices through its MMIO bus and lays out split rings in its
// guest RAM, so device and transport tests need no guest code (and can
// misbehave on purpose).
#pragma once

#include "elf_builder.hpp"

#include "vmm/devices/virtio/balloon.hpp"
#include "vmm/devices/virtio/virtio_spec.hpp"
#include "vmm/machine/vm.hpp"

#include <cstring>
#include <memory>
#include <vector>

namespace foldvm::test {

// The configuration of a VM that never runs; add devices, then device_vm().
inline VmConfig device_vm_config(uint64_t mem = 16ull << 20) {
    VmConfig cfg;
    cfg.image = std::make_shared<std::vector<uint8_t>>(ElfBuilder().build());
    cfg.mem_bytes = mem;
    return cfg;
}

// A VM that never runs: the test is the driver of its devices.
inline std::unique_ptr<Vm> device_vm(Kvm& kvm, const VmConfig& cfg) {
    return std::make_unique<Vm>(kvm, cfg, VmEvents{});
}

inline std::unique_ptr<Vm> balloon_vm(Kvm& kvm, const BalloonConfig& balloon,
                                      uint64_t mem = 16ull << 20) {
    VmConfig cfg = device_vm_config(mem);
    cfg.balloon = balloon;
    return device_vm(kvm, cfg);
}

// A buffer of a descriptor chain.
struct Buf {
    uint64_t gpa;
    uint32_t len;
    bool writable;
};

struct UsedElem {
    uint32_t id;
    uint32_t len;
};

struct TestDriver {
    Vm& vm;
    uint32_t slot;
    uint64_t base;
    MmioHandler* dev;

    // Drives the device in boot-info slot `s`.
    explicit TestDriver(Vm& v, uint32_t s = 0)
        : vm(v), slot(s), base(v.boot_info().devices[s].mmio_base) {
        uint64_t offset = 0;
        dev = vm.mmio_bus().find(base, offset);
    }

    uint32_t read(uint64_t reg, uint32_t size = 4) {
        uint8_t data[8] = {};
        dev->mmio_read(reg, data, size);
        uint32_t v = 0;
        std::memcpy(&v, data, std::min<uint32_t>(size, 4));
        return v;
    }
    void write(uint64_t reg, uint32_t value, uint32_t size = 4) {
        uint8_t data[8] = {};
        std::memcpy(data, &value, std::min<uint32_t>(size, 4));
        dev->mmio_write(reg, data, size);
    }
    uint32_t status() { return read(virtio::mmio::kStatus); }
    bool needs_reset() { return status() & virtio::kDeviceNeedsReset; }

    // Reset, ACKNOWLEDGE, DRIVER, features; true if FEATURES_OK stuck.
    bool negotiate(uint64_t features) {
        using namespace virtio::mmio;
        write(kStatus, 0);
        write(kStatus, virtio::kAcknowledge);
        write(kStatus, virtio::kAcknowledge | virtio::kDriver);
        write(kDriverFeaturesSel, 0);
        write(kDriverFeatures, static_cast<uint32_t>(features));
        write(kDriverFeaturesSel, 1);
        write(kDriverFeatures, static_cast<uint32_t>(features >> 32));
        write(kStatus, virtio::kAcknowledge | virtio::kDriver | virtio::kFeaturesOk);
        return status() & virtio::kFeaturesOk;
    }
    uint64_t offered() {
        using namespace virtio::mmio;
        write(kDeviceFeaturesSel, 0);
        uint64_t f = read(kDeviceFeatures);
        write(kDeviceFeaturesSel, 1);
        return f | uint64_t(read(kDeviceFeatures)) << 32;
    }

    // Ring memory for queue q (< 4) of the device in `slot`: from 8 MiB up,
    // 256 KiB per slot, 64 KiB per queue, areas 16 KiB apart.
    static uint64_t desc_gpa(uint32_t q, uint32_t slot = 0) {
        return (8ull << 20) + slot * 0x40000ull + q * 0x10000ull;
    }
    static uint64_t avail_gpa(uint32_t q, uint32_t slot = 0) { return desc_gpa(q, slot) + 0x4000; }
    static uint64_t used_gpa(uint32_t q, uint32_t slot = 0) { return desc_gpa(q, slot) + 0x8000; }

    void setup_queue(uint32_t q, uint16_t size) {
        using namespace virtio::mmio;
        std::vector<uint8_t> zeros(0xc000, 0);
        vm.memory().write(desc_gpa(q, slot), zeros.data(), zeros.size());
        write(kQueueSel, q);
        write(kQueueNum, size);
        write(kQueueDescLow, static_cast<uint32_t>(desc_gpa(q, slot)));
        write(kQueueDescHigh, 0);
        write(kQueueDriverLow, static_cast<uint32_t>(avail_gpa(q, slot)));
        write(kQueueDriverHigh, 0);
        write(kQueueDeviceLow, static_cast<uint32_t>(used_gpa(q, slot)));
        write(kQueueDeviceHigh, 0);
        write(kQueueReady, 1);
        sizes[q] = size;
        avail_idx[q] = 0;
    }
    void driver_ok() { write(virtio::mmio::kStatus, status() | virtio::kDriverOk); }

    // Full bring-up with queues 0..nq-1 of `size`.
    void start(uint64_t features, uint32_t nq, uint16_t size = 16) {
        negotiate(features);
        for (uint32_t q = 0; q < nq; ++q)
            setup_queue(q, size);
        driver_ok();
    }

    void set_desc(uint32_t q, uint16_t i, uint64_t addr, uint32_t len, uint16_t flags,
                  uint16_t next = 0) {
        uint8_t d[16];
        std::memcpy(d, &addr, 8);
        std::memcpy(d + 8, &len, 4);
        std::memcpy(d + 12, &flags, 2);
        std::memcpy(d + 14, &next, 2);
        vm.memory().write(desc_gpa(q, slot) + 16ull * i, d, 16);
    }
    // Descriptors first, first+1, ... linked into one chain over `bufs`.
    void set_chain(uint32_t q, uint16_t first, const std::vector<Buf>& bufs) {
        for (size_t i = 0; i < bufs.size(); ++i) {
            bool last = i + 1 == bufs.size();
            auto flags = static_cast<uint16_t>((last ? 0 : virtio::kDescFNext) |
                                               (bufs[i].writable ? virtio::kDescFWrite : 0));
            auto idx = static_cast<uint16_t>(first + i);
            set_desc(q, idx, bufs[i].gpa, bufs[i].len, flags, static_cast<uint16_t>(idx + 1));
        }
    }
    // Offers chain `head` and notifies.
    void post(uint32_t q, uint16_t head, bool notify = true) {
        uint16_t n = sizes[q] ? sizes[q] : 1;
        vm.memory().write(avail_gpa(q, slot) + 4 + 2ull * (avail_idx[q] % n), &head, 2);
        ++avail_idx[q];
        vm.memory().write(avail_gpa(q, slot) + 2, &avail_idx[q], 2);
        if (notify) write(virtio::mmio::kQueueNotify, q);
    }
    void set_avail_idx(uint32_t q, uint16_t idx) {
        avail_idx[q] = idx;
        vm.memory().write(avail_gpa(q, slot) + 2, &idx, 2);
    }
    uint16_t used_idx(uint32_t q) {
        uint16_t v;
        vm.memory().read(used_gpa(q, slot) + 2, &v, 2);
        return v;
    }

    // Entry `i` (counted from 0 since the queue started) of the used ring.
    UsedElem used_elem(uint32_t q, uint16_t i) {
        uint16_t n = sizes[q] ? sizes[q] : 1;
        UsedElem e;
        vm.memory().read(used_gpa(q, slot) + 4 + 8ull * (i % n), &e, sizeof e);
        return e;
    }

    // Places `pfns` at `gpa` and sends them on queue q as one buffer.
    void send_pfns(uint32_t q, uint64_t gpa, const std::vector<uint32_t>& pfns) {
        vm.memory().write(gpa, pfns.data(), pfns.size() * 4);
        set_desc(q, 0, gpa, static_cast<uint32_t>(pfns.size() * 4), 0);
        post(q, 0);
    }

    uint16_t sizes[8] = {};
    uint16_t avail_idx[8] = {};
};

} // namespace foldvm::test
