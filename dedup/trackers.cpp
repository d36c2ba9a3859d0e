#include "trackers.hpp"

#include "page_pool.hpp"

#include "common/error.hpp"
#include "common/linux_compat.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

namespace foldvm::dedup {

BitmapTracker::BitmapTracker(size_t pages)
    : pages_(pages), bits_(std::make_unique<std::atomic<uint64_t>[]>((pages + 63) / 64)) {}

void BitmapTracker::collect(uint64_t* bitmap) {
    size_t words = (pages_ + 63) / 64;
    for (size_t w = 0; w < words; ++w) {
        uint64_t v = bits_[w].exchange(0, std::memory_order_acq_rel);
        // The first collection reports everything: contents are unknown.
        bitmap[w] |= first_ ? ~0ull : v;
    }
    first_ = false;
}

std::string UffdAsyncTracker::unavailable_reason() {
    auto probe = userfaultfd_features();
    if (!probe.available) return probe.reason;
    if (!(probe.features & UFFD_FEATURE_WP_ASYNC))
        return "kernel lacks UFFD_FEATURE_WP_ASYNC (needs Linux 6.7+)";
    return "";
}

UffdAsyncTracker::UffdAsyncTracker(uint8_t* base, size_t size)
    : base_(base), size_(size),
      uffd_(UFFD_FEATURE_WP_ASYNC | UFFD_FEATURE_WP_UNPOPULATED |
            (userfaultfd_features().features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM)) {
    if (!(uffd_.features() & UFFD_FEATURE_WP_ASYNC))
        throw SystemError("userfaultfd without WP_ASYNC", ENOTSUP);
    uffd_.register_wp(base_, size_);
    uffd_.write_protect(base_, size_, true);
    vec_.resize(sizeof(page_region) * 512);
}

void UffdAsyncTracker::on_remap(void* addr, size_t len) {
    uffd_.register_wp(addr, len);
    uffd_.write_protect(addr, len, true);
}

void UffdAsyncTracker::collect(uint64_t* bitmap) {
    size_t pages = size_ / kPageSize;
    if (first_) {
        for (size_t w = 0; w < (pages + 63) / 64; ++w)
            bitmap[w] = ~0ull;
        first_ = false;
        // Fall through: also re-arm what was written so far.
    }
    static int pagemap = ::open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (pagemap < 0) throw_errno("open /proc/self/pagemap");
    uint64_t start = reinterpret_cast<uint64_t>(base_);
    uint64_t end = start + size_;
    auto* regions = reinterpret_cast<page_region*>(vec_.data());
    size_t vec_len = vec_.size() / sizeof(page_region);
    while (start < end) {
        pm_scan_arg arg{};
        arg.size = sizeof arg;
        arg.flags = PM_SCAN_WP_MATCHING | PM_SCAN_CHECK_WPASYNC;
        arg.start = start;
        arg.end = end;
        arg.vec = reinterpret_cast<uint64_t>(regions);
        arg.vec_len = vec_len;
        arg.category_mask = PAGE_IS_WRITTEN;
        arg.return_mask = PAGE_IS_WRITTEN;
        long n = ::ioctl(pagemap, PAGEMAP_SCAN, &arg);
        if (n < 0) throw_errno("ioctl(PAGEMAP_SCAN)");
        for (long i = 0; i < n; ++i) {
            for (uint64_t a = regions[i].start; a < regions[i].end; a += kPageSize) {
                size_t page = (a - reinterpret_cast<uint64_t>(base_)) / kPageSize;
                bitmap[page / 64] |= 1ull << (page % 64);
            }
        }
        if (arg.walk_end <= start) break;
        start = arg.walk_end;
    }
}

} // namespace foldvm::dedup
