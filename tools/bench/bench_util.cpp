#include "bench_util.hpp"

#include <sys/mman.h>
#include <unistd.h>

namespace foldvm::bench {

uint64_t resident_pages(const void* base, size_t size) {
    std::vector<unsigned char> vec((size + 4095) / 4096);
    if (::mincore(const_cast<void*>(base), size, vec.data()) != 0) return 0;
    uint64_t n = 0;
    for (unsigned char c : vec) n += c & 1;
    return n;
}

std::string self_dir() {
    char buf[4096];
    ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
    if (n <= 0) return ".";
    std::string path(buf, static_cast<size_t>(n));
    return path.substr(0, path.rfind('/'));
}

} // namespace foldvm::bench
