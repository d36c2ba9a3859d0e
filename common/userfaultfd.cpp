#include "userfaultfd.hpp"

#include "error.hpp"
#include "linux_compat.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/syscall.h>

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
    uffdio_register reg{};
    reg.range.start = reinterpret_cast<uint64_t>(addr);
    reg.range.len = len;
    reg.mode = UFFDIO_REGISTER_MODE_WP;
    if (::ioctl(fd_.get(), UFFDIO_REGISTER, &reg) < 0) throw_errno("UFFDIO_REGISTER(WP)");
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
        if (errno != EAGAIN) throw_errno("UFFDIO_WRITEPROTECT");
    }
}

void Userfaultfd::wake(void* addr, size_t len) {
    uffdio_range range{reinterpret_cast<uint64_t>(addr), len};
    if (::ioctl(fd_.get(), UFFDIO_WAKE, &range) < 0) throw_errno("UFFDIO_WAKE");
}

} // namespace foldvm
