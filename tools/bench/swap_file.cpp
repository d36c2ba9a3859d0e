#include "swap_file.hpp"

#include "proc_stats.hpp"

#include "common/error.hpp"
#include "common/unique_fd.hpp"

#include <fcntl.h>
#include <sys/swap.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <random>
#include <vector>

namespace foldvm::bench {

namespace {
constexpr uint64_t kPage = 4096;
std::atomic<int> g_counter{0};
} // namespace

void write_swap_header(int fd, uint64_t bytes) {
    // include/linux/swap.h, union swap_header: the info block at 1024, the
    // magic in the last 10 bytes of the first page.
    std::vector<uint8_t> page(kPage, 0);
    uint32_t version = 1, last_page = uint32_t(bytes / kPage - 1), nr_badpages = 0;
    std::memcpy(&page[1024], &version, 4);
    std::memcpy(&page[1028], &last_page, 4);
    std::memcpy(&page[1032], &nr_badpages, 4);
    std::random_device rd;
    for (int i = 0; i < 16; ++i)
        page[1036 + size_t(i)] = uint8_t(rd());   // uuid
    std::memcpy(&page[1052], "foldvm-bench", 12); // volume label
    std::memcpy(&page[kPage - 10], "SWAPSPACE2", 10);
    if (::pwrite(fd, page.data(), kPage, 0) != ssize_t(kPage)) throw_errno("write swap header");
    if (::fsync(fd) != 0) throw_errno("fsync swap file");
}

SwapFile::SwapFile(const std::string& dir, uint64_t bytes)
    : path_(dir + "/foldvm-bench-swap-" + std::to_string(::getpid()) + "-" +
            std::to_string(g_counter++)),
      bytes_(bytes / kPage * kPage) {
    if (bytes_ < 16 * kPage) throw InvalidInput("swap file too small");
    UniqueFd fd(::open(path_.c_str(), O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0600));
    if (!fd) throw_errno("create swap file " + path_);
    // From here on the file exists: the restorer removes it whatever fails.
    restorer_ = Restorer("swap file " + path_, [p = path_] {
        if (::swapoff(p.c_str()) != 0 && errno != EINVAL) throw_errno("swapoff " + p);
        ::unlink(p.c_str());
    });
    if (::fallocate(fd.get(), 0, 0, off_t(bytes_)) != 0) throw_errno("fallocate " + path_);
    write_swap_header(fd.get(), bytes_);
    fd.reset();
    if (::swapon(path_.c_str(), 0) != 0) throw_errno("swapon " + path_);
}

uint64_t SwapFile::used_bytes() const {
    return swap_used_bytes(path_);
}

} // namespace foldvm::bench
