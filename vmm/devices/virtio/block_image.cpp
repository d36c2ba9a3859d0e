#include "block_image.hpp"

#include "common/error.hpp"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <algorithm>
#include <climits>
#include <vector>

namespace foldvm {

BlockImage::BlockImage(const std::string& path, bool read_only)
    : path_(path), read_only_(read_only) {
    auto fail = [&](const std::string& why) {
        throw InvalidInput("drive image '" + path + "': " + why);
    };
    if (path.empty()) throw InvalidInput("drive image path is empty");
    fd_.reset(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!fd_)
        fail(std::string("cannot open ") + (read_only ? "for reading" : "for reading and writing") +
             ": " + std::strerror(errno));
    struct stat st {};
    if (::fstat(fd_.get(), &st) != 0) fail(std::string("fstat: ") + std::strerror(errno));
    if (S_ISREG(st.st_mode)) {
        size_ = static_cast<uint64_t>(st.st_size);
    } else if (S_ISBLK(st.st_mode)) {
        if (::ioctl(fd_.get(), BLKGETSIZE64, &size_) != 0)
            fail(std::string("BLKGETSIZE64: ") + std::strerror(errno));
    } else {
        fail("not a regular file or block device");
    }
    if (size_ % kSectorSize)
        fail("size " + std::to_string(size_) + " bytes is not a multiple of 512");
    // Advisory, so only a conflict is an error (some file systems lack flock).
    if (::flock(fd_.get(), (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) != 0 && errno == EWOULDBLOCK)
        fail(read_only ? "in use by a writable drive" : "in use by another drive");
}

uint64_t BlockImage::read(std::span<const iovec> iov, uint64_t offset) {
    return transfer(false, iov, offset);
}

uint64_t BlockImage::write(std::span<const iovec> iov, uint64_t offset) {
    if (read_only_) return 0;
    return transfer(true, iov, offset);
}

bool BlockImage::flush() {
    int rc;
    do {
        rc = ::fdatasync(fd_.get());
    } while (rc != 0 && errno == EINTR);
    return rc == 0;
}

uint64_t BlockImage::transfer(bool write, std::span<const iovec> in, uint64_t offset) {
    std::vector<iovec> iov(in.begin(), in.end());
    size_t first = 0;
    uint64_t done = 0;
    for (;;) {
        while (first < iov.size() && iov[first].iov_len == 0)
            ++first;
        if (first == iov.size()) break;
        int count = static_cast<int>(std::min<size_t>(iov.size() - first, IOV_MAX));
        auto at = static_cast<off_t>(offset + done);
        ssize_t n = write ? ::pwritev(fd_.get(), &iov[first], count, at)
                          : ::preadv(fd_.get(), &iov[first], count, at);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break; // I/O error, or end of file
        done += static_cast<uint64_t>(n);
        // Skip what was transferred; a short transfer resumes mid-buffer.
        for (auto left = static_cast<size_t>(n); left > 0; ++first) {
            size_t step = std::min(left, iov[first].iov_len);
            iov[first].iov_base = static_cast<uint8_t*>(iov[first].iov_base) + step;
            iov[first].iov_len -= step;
            left -= step;
            if (iov[first].iov_len > 0) break;
        }
    }
    return done;
}

} // namespace foldvm
