// The virtio block device (virtio 1.2 section 5.2) on a raw image file, with
// FLUSH, SEG_MAX, BLK_SIZE and RO (read-only drives). One request queue;
// requests run synchronously on the vCPU thread that notified, at most a
// queue's worth of chains and kBytesPerRound bytes at a time (the rest is
// picked up by service() at the driver's next register access).
//
// A request is a header (16 device-readable bytes), data, and a status byte
// (the last device-writable byte); the device makes no assumption about how
// these are split into descriptors. Malformed chains (no header, no status,
// data in the wrong direction) are protocol violations and throw
// VirtioError; a well-formed request the drive cannot serve (out of range,
// not whole sectors, write to a read-only drive, I/O error) completes with
// VIRTIO_BLK_S_IOERR, and an unknown type with VIRTIO_BLK_S_UNSUPP.
#pragma once

#include "block_config.hpp"
#include "block_image.hpp"
#include "virtio_device.hpp"

#include "vmm/abi/virtio_abi.h"

#include <cstdint>
#include <string>

namespace foldvm {

namespace virtio::blk {
constexpr uint64_t kFSegMax = VIRTIO_BLK_F_SEG_MAX;
constexpr uint64_t kFRo = VIRTIO_BLK_F_RO;
constexpr uint64_t kFBlkSize = VIRTIO_BLK_F_BLK_SIZE;
constexpr uint64_t kFFlush = VIRTIO_BLK_F_FLUSH;

constexpr uint32_t kTIn = VIRTIO_BLK_T_IN;
constexpr uint32_t kTOut = VIRTIO_BLK_T_OUT;
constexpr uint32_t kTFlush = VIRTIO_BLK_T_FLUSH;
constexpr uint32_t kTGetId = VIRTIO_BLK_T_GET_ID;

constexpr uint8_t kSOk = VIRTIO_BLK_S_OK;
constexpr uint8_t kSIoErr = VIRTIO_BLK_S_IOERR;
constexpr uint8_t kSUnsupp = VIRTIO_BLK_S_UNSUPP;

constexpr uint32_t kHeaderBytes = VIRTIO_BLK_OUTHDR_SIZE; // struct virtio_blk_outhdr
constexpr uint16_t kQueueSize = 256;
// Data descriptors per request: the header and status need one each.
constexpr uint32_t kSegMax = kQueueSize - 2;
constexpr uint64_t kBytesPerRound = 16ull << 20;
} // namespace virtio::blk

struct BlockStats {
    uint64_t capacity_sectors = 0;
    uint64_t reads = 0, writes = 0, flushes = 0, get_ids = 0;
    uint64_t read_bytes = 0, write_bytes = 0;
    uint64_t io_errors = 0;   // requests completed with IOERR
    uint64_t unsupported = 0; // requests completed with UNSUPP
    bool driver_ok = false;
    bool needs_reset = false;
    std::string device_error; // why the device last needed a reset
};

class BlockDevice final : public virtio::VirtioDevice {
  public:
    // Opens the image; throws InvalidInput like BlockConfig::validate().
    explicit BlockDevice(const BlockConfig& config);

    // --- control API (any thread) ---
    const BlockConfig& config() const { return config_; }
    BlockStats stats() const;

    // --- VirtioDevice ---
    void attach(virtio::VirtioContext& ctx) override { ctx_ = &ctx; }
    uint32_t device_id() const override;
    uint64_t device_features() const override;
    uint16_t queue_max_size(uint32_t index, uint64_t features) const override;
    uint32_t config_size() const override;
    void read_config(uint32_t offset, uint8_t* data, uint32_t size) override;
    void write_config(uint32_t, const uint8_t*, uint32_t) override {} // all read-only
    void activate(uint64_t features) override;
    void reset() override;
    void queue_notify(uint32_t index) override;
    void service() override;

  private:
    // struct virtio_blk_config up to write_zeroes_may_unmap (60 bytes).
    struct Config {
        uint64_t capacity;
        uint32_t size_max;
        uint32_t seg_max;
        uint16_t cylinders;
        uint8_t heads;
        uint8_t sectors;
        uint32_t blk_size;
        uint8_t physical_block_exp;
        uint8_t alignment_offset;
        uint16_t min_io_size;
        uint32_t opt_io_size;
        uint8_t writeback;
        uint8_t unused0;
        uint16_t num_queues;
        uint32_t max_discard_sectors;
        uint32_t max_discard_seg;
        uint32_t discard_sector_alignment;
        uint32_t max_write_zeroes_sectors;
        uint32_t max_write_zeroes_seg;
        uint8_t write_zeroes_may_unmap;
        uint8_t unused1[3];
    };
    struct Outcome {
        uint8_t status;
        uint64_t data_written; // bytes written into the request's data area
    };

    void process_queue();
    // Serves one chain; returns the used length (bytes written from the start
    // of its device-writable part).
    uint32_t handle(const virtio::Chain& chain);
    Outcome do_read(const virtio::Chain& chain, uint64_t sector, uint64_t len);
    Outcome do_write(const virtio::Chain& chain, uint64_t sector, uint64_t len);
    Outcome do_flush();
    Outcome do_get_id(const virtio::Chain& chain, uint64_t len);
    bool in_range(uint64_t sector, uint64_t len) const;

    const BlockConfig config_;
    BlockImage image_;
    const uint64_t capacity_; // in 512-byte sectors
    Config space_{};
    virtio::VirtioContext* ctx_ = nullptr;

    // Guarded by the transport lock (ctx_->lock()).
    uint64_t features_ = 0;
    bool active_ = false;
    BlockStats counters_;
};

} // namespace foldvm
