// The virtio balloon device (virtio 1.2 section 5.5) with STATS_VQ,
// DEFLATE_ON_OOM and FREE_PAGE_REPORTING.
//   - inflate: the PFNs the driver hands over are released through
//     GuestMemory::discard (MADV_DONTNEED, or the dedup engine's discard for
//     shared guest RAM, which handles merged pages);
//   - deflate: nothing to undo, the pages fault back in as zeros;
//   - statistics: the driver's buffer is held and handed back every
//     stats_polling_interval_s to ask for fresh numbers;
//   - free page reporting: reported ranges are released like inflated pages.
// The public methods are the control API (CLI, REST) and are thread-safe.
#pragma once

#include "balloon_config.hpp"
#include "virtio_device.hpp"

#include "vmm/abi/virtio_abi.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>

namespace foldvm {

namespace virtio::balloon {
constexpr uint64_t kFMustTellHost = VIRTIO_BALLOON_F_MUST_TELL_HOST;
constexpr uint64_t kFStatsVq = VIRTIO_BALLOON_F_STATS_VQ;
constexpr uint64_t kFDeflateOnOom = VIRTIO_BALLOON_F_DEFLATE_ON_OOM;
constexpr uint64_t kFFreePageHint = VIRTIO_BALLOON_F_FREE_PAGE_HINT;
constexpr uint64_t kFPagePoison = VIRTIO_BALLOON_F_PAGE_POISON;
constexpr uint64_t kFPageReporting = VIRTIO_BALLOON_F_REPORTING;
constexpr uint32_t kPfnShift = VIRTIO_BALLOON_PFN_SHIFT;
constexpr uint16_t kQueueSize = 256;
// Statistics tags (5.5.6.3) and the names Firecracker reports them under.
const char* stat_name(uint16_t tag); // nullptr for unknown tags
} // namespace virtio::balloon

struct BalloonStats {
    uint32_t target_pages = 0; // the device's num_pages
    uint32_t actual_pages = 0; // the driver's actual
    uint64_t target_mib = 0;
    uint64_t actual_mib = 0;
    // Guest statistics by Firecracker name (swap_in, free_memory, ...); only
    // tags the guest reported. Empty until the first statistics buffer.
    std::map<std::string, uint64_t> guest;
    // Seconds since the guest last updated its statistics (< 0: never).
    double stats_age_s = -1;
    // Host-side counters since boot.
    uint64_t inflated_pages = 0;
    uint64_t deflated_pages = 0;
    uint64_t reported_pages = 0; // released through free page reporting
    uint64_t invalid_pfns = 0;   // outside guest RAM, ignored
    bool driver_ok = false;
    bool needs_reset = false;
    std::string device_error; // why the device last needed a reset
};

class BalloonDevice final : public virtio::VirtioDevice {
  public:
    BalloonDevice(const BalloonConfig& config, uint64_t guest_mem_bytes);
    ~BalloonDevice() override;

    // --- control API (any thread) ---
    // New target size of the balloon (Firecracker's PATCH amount_mib).
    // Throws InvalidInput if larger than guest memory.
    void set_target_mib(uint64_t amount_mib);
    // Firecracker's PATCH /balloon/statistics: statistics must have been
    // enabled at boot and cannot be switched off (InvalidInput otherwise).
    void set_stats_polling_interval(uint32_t seconds);
    BalloonConfig config() const;
    BalloonStats stats() const;

    // --- VirtioDevice ---
    void attach(virtio::VirtioContext& ctx) override;
    void detach() override;
    uint32_t device_id() const override;
    uint64_t device_features() const override;
    uint16_t queue_max_size(uint32_t index, uint64_t features) const override;
    uint32_t config_size() const override { return sizeof(Config); }
    void read_config(uint32_t offset, uint8_t* data, uint32_t size) override;
    void write_config(uint32_t offset, const uint8_t* data, uint32_t size) override;
    void activate(uint64_t features) override;
    void reset() override;
    void queue_notify(uint32_t index) override;
    void service() override;

  private:
    enum class Role { Inflate, Deflate, Stats, Reporting, None };
    struct Config {
        uint32_t num_pages;
        uint32_t actual;
        uint32_t free_page_hint_cmd_id;
        uint32_t poison_val;
    };
    Role role(uint32_t index, uint64_t features) const;
    void handle_pfns(virtio::Virtqueue& q, bool inflate);
    void handle_stats(virtio::Virtqueue& q);
    void handle_reports(virtio::Virtqueue& q);
    void discard_run(uint64_t first_pfn, uint64_t count);
    void timer_main();

    const uint64_t ram_bytes_;
    const uint64_t ram_pages_;
    virtio::VirtioContext* ctx_ = nullptr;

    // Guarded by the transport lock (ctx_->lock()).
    BalloonConfig config_;
    Config space_{};
    uint64_t features_ = 0;
    bool active_ = false;
    std::optional<uint16_t> stats_head_; // statistics buffer held by the device
    bool stats_due_ = false;
    std::map<std::string, uint64_t> guest_stats_;
    std::chrono::steady_clock::time_point stats_time_{};
    bool have_stats_ = false;
    uint64_t inflated_ = 0, deflated_ = 0, reported_ = 0, invalid_ = 0;

    // Statistics timer; its own lock is never held while taking the transport's.
    std::mutex timer_mutex_;
    std::condition_variable timer_cv_;
    bool timer_stop_ = false;
    uint32_t timer_interval_s_ = 0;
    std::thread timer_;
};

} // namespace foldvm
