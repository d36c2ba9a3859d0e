#include "userfaultfd.hpp"

#include "mapping.hpp"
#include "page.hpp"

#include "error.hpp"
#include "linux_compat.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <mutex>

namespace foldvm {

namespace {

int open_uffd() {
    // The device node works without vm.unprivileged_userfaultfd; fall back to
    // the syscall for older systems.
    int dev = ::open("/dev/userfaultfd", O_RDWR | O_CLOEXEC);
    if (dev >= 0) {
        int fd = ::ioctl(dev, USERFAULTFD_IOC_NEW, O_CLOEXEC | O_NONBLOCK);
        int err = errno;
        ::close(dev);
        if (fd >= 0) return fd;
        errno = err;
    }
    return static_cast<int>(::syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK));
}

} // namespace

UffdProbe userfaultfd_features() {
    static UffdProbe probe;
    static std::once_flag once;
    std::call_once(once, [] {
        int fd = open_uffd();
        if (fd < 0) {
            probe.reason = std::string("userfaultfd unavailable: ") + std::strerror(errno);
            return;
        }
        uffdio_api api{};
        api.api = UFFD_API;
        api.features = 0;
        if (::ioctl(fd, UFFDIO_API, &api) < 0) {
            probe.reason = std::string("UFFDIO_API failed: ") + std::strerror(errno);
        } else {
            probe.available = true;
            probe.features = api.features;
        }
        ::close(fd);
    });
    return probe;
}

bool userfaultfd_wp_spans_mappings() {
    static bool ok = false;
    static std::once_flag once;
    std::call_once(once, [] {
        try {
            auto probe = userfaultfd_features();
            if (!probe.available || !(probe.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM)) return;
            const size_t page = 4096;
            void* base = ::mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE,
                                MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
            if (base == MAP_FAILED) return;
            Mapping area(base, 2 * page);
            UniqueFd memfd(static_cast<int>(::syscall(SYS_memfd_create, "foldvm-uffd-probe", 0)));
            if (!memfd || ::ftruncate(memfd.get(), page) != 0) return;
            void* second = static_cast<char*>(base) + page;
            if (::mmap(second, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_FIXED, memfd.get(),
                       0) == MAP_FAILED)
                return;
            static_cast<volatile char*>(base)[0] = 1;
            static_cast<volatile char*>(second)[0] = 1;
            Userfaultfd uffd(UFFD_FEATURE_WP_HUGETLBFS_SHMEM);
            uffd.register_wp(base, 2 * page);
            uffd.write_protect(base, 2 * page, true);
            uffd.write_protect(base, 2 * page, false);
            ok = true;
        } catch (const std::exception&) {
            ok = false;
        }
    });
    return ok;
}

Userfaultfd::Userfaultfd(uint64_t features) {
    fd_.reset(open_uffd());
    if (!fd_) throw_errno("userfaultfd (needs /dev/userfaultfd access or root)");
    uffdio_api api{};
    api.api = UFFD_API;
    api.features = features;
    if (::ioctl(fd_.get(), UFFDIO_API, &api) < 0) throw_errno("UFFDIO_API");
    features_ = api.features;
}

void Userfaultfd::register_wp(void* addr, size_t len) {
    std::lock_guard lock(modes_mutex_);
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uint64_t>(addr);
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_WP | extra_modes_;
    if (::ioctl(fd_.get(), UFFDIO_REGISTER, &reg) < 0) throw_errno("UFFDIO_REGISTER(WP)");
}

void Userfaultfd::add_missing_mode(void* addr, size_t len) {
    std::lock_guard lock(modes_mutex_);
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uint64_t>(addr);
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_WP | UFFDIO_REGISTER_MODE_MISSING;
    if (::ioctl(fd_.get(), UFFDIO_REGISTER, &reg) < 0) throw_errno("UFFDIO_REGISTER(MISSING|WP)");
    extra_modes_ |= UFFDIO_REGISTER_MODE_MISSING;
}

bool Userfaultfd::missing_mode() const {
    std::lock_guard lock(modes_mutex_);
    return extra_modes_ & UFFDIO_REGISTER_MODE_MISSING;
}

namespace {

// One UFFDIO_COPY or ZEROPAGE (and before Linux 6.5 one WRITEPROTECT) must lie
// in one mapping (ENOENT otherwise), and
// a guest range can hold several: mappings that dedup made or moved do not
// always merge with their neighbours. Runs `one(offset)` for each page and,
// like the ioctls, stops at the first page that is present already.
template <typename OnePage> size_t by_page(size_t len, OnePage one) {
    for (size_t off = 0; off < len; off += kPageSize)
        if (one(off) < kPageSize) return off;
    return len;
}

} // namespace

size_t Userfaultfd::copy(void* dst, const void* src, size_t len, bool wake) {
    uffdio_copy c{};
    c.dst = reinterpret_cast<uint64_t>(dst);
    c.src = reinterpret_cast<uint64_t>(src);
    c.len = len;
    c.mode = wake ? 0 : UFFDIO_COPY_MODE_DONTWAKE;
    size_t done = 0;
    for (;;) {
        c.copy = 0;
        if (::ioctl(fd_.get(), UFFDIO_COPY, &c) == 0) return len;
        int err = errno;
        size_t part = c.copy > 0 ? static_cast<size_t>(c.copy) : 0;
        done += part;
        // EAGAIN: the mappings changed under the copy; retry the rest.
        // EEXIST: a page is present already: report how far it got.
        if (err == EAGAIN) {
            c.dst += part, c.src += part, c.len -= part;
            continue;
        }
        if (err == EEXIST) return done;
        if (err == ENOENT && part == 0 && c.len > kPageSize) {
            auto* to = reinterpret_cast<uint8_t*>(c.dst);
            auto* from = reinterpret_cast<const uint8_t*>(c.src);
            return done + by_page(c.len, [&](size_t off) {
                       return copy(to + off, from + off, kPageSize, wake);
                   });
        }
        errno = err;
        throw_errno("UFFDIO_COPY");
    }
}

size_t Userfaultfd::zeropage(void* dst, size_t len, bool wake) {
    uffdio_zeropage z{};
    z.range.start = reinterpret_cast<uint64_t>(dst);
    z.range.len = len;
    z.mode = wake ? 0 : UFFDIO_ZEROPAGE_MODE_DONTWAKE;
    size_t done = 0;
    for (;;) {
        z.zeropage = 0;
        if (::ioctl(fd_.get(), UFFDIO_ZEROPAGE, &z) == 0) return len;
        int err = errno;
        size_t part = z.zeropage > 0 ? static_cast<size_t>(z.zeropage) : 0;
        done += part;
        if (err == EAGAIN) {
            z.range.start += part, z.range.len -= part;
            continue;
        }
        if (err == EEXIST) return done;
        if (err == ENOENT && part == 0 && z.range.len > kPageSize) {
            auto* at = reinterpret_cast<uint8_t*>(z.range.start);
            return done + by_page(z.range.len,
                                  [&](size_t off) { return zeropage(at + off, kPageSize, wake); });
        }
        errno = err;
        throw_errno("UFFDIO_ZEROPAGE");
    }
}

void Userfaultfd::unregister(void* addr, size_t len) {
    uffdio_range range{reinterpret_cast<uint64_t>(addr), len};
    if (::ioctl(fd_.get(), UFFDIO_UNREGISTER, &range) < 0) throw_errno("UFFDIO_UNREGISTER");
}

void Userfaultfd::write_protect(void* addr, size_t len, bool protect) {
    uffdio_writeprotect wp{};
    wp.range.start = reinterpret_cast<uint64_t>(addr);
    wp.range.len = len;
    wp.mode = protect ? UFFDIO_WRITEPROTECT_MODE_WP : 0;
    while (::ioctl(fd_.get(), UFFDIO_WRITEPROTECT, &wp) < 0) {
        // Before Linux 6.5 the range must lie in one mapping, as for COPY.
        if (errno == ENOENT && len > kPageSize) {
            auto* at = static_cast<uint8_t*>(addr);
            by_page(len, [&](size_t off) {
                write_protect(at + off, kPageSize, protect);
                return kPageSize;
            });
            return;
        }
        if (errno != EAGAIN) throw_errno("UFFDIO_WRITEPROTECT");
    }
}

void Userfaultfd::wake(void* addr, size_t len) {
    uffdio_range range{reinterpret_cast<uint64_t>(addr), len};
    if (::ioctl(fd_.get(), UFFDIO_WAKE, &range) < 0) throw_errno("UFFDIO_WAKE");
}

} // namespace foldvm
