#include "procfs.hpp"

#include "error.hpp"
#include "page.hpp"
#include "unique_fd.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <fstream>
#include <functional>
#include <string>
#include <vector>

namespace foldvm::procfs {

namespace {

// Calls `line` for each line of /proc/self/maps. Reads with plain read()
// into a fixed buffer: the file can run to megabytes with many merges.
void for_each_maps_line(const std::function<void(const char* line, size_t len)>& line) {
    UniqueFd fd(::open("/proc/self/maps", O_RDONLY | O_CLOEXEC));
    if (!fd) return;
    std::vector<char> buf(1 << 16);
    size_t kept = 0; // bytes of an unfinished line at the front of buf
    for (;;) {
        ssize_t n = ::read(fd.get(), buf.data() + kept, buf.size() - kept);
        if (n <= 0) break;
        size_t end = kept + static_cast<size_t>(n), start = 0;
        for (size_t i = kept; i < end; ++i) {
            if (buf[i] != '\n') continue;
            line(buf.data() + start, i - start);
            start = i + 1;
        }
        kept = end - start;
        std::copy(buf.begin() + long(start), buf.begin() + long(end), buf.begin());
        if (kept == buf.size()) kept = 0; // a line longer than the buffer: drop it
    }
}

} // namespace

uint64_t max_map_count() {
    constexpr uint64_t kKernelDefault = 65530;
    FILE* f = std::fopen("/proc/sys/vm/max_map_count", "re");
    if (!f) return kKernelDefault;
    uint64_t v = kKernelDefault;
    if (std::fscanf(f, "%" SCNu64, &v) != 1) v = kKernelDefault;
    std::fclose(f);
    return v;
}

uint64_t mapping_count() {
    uint64_t lines = 0;
    for_each_maps_line([&](const char*, size_t) { ++lines; });
    return lines;
}

uint64_t mappings_overlapping(const void* base, size_t size) {
    auto lo = reinterpret_cast<uintptr_t>(base), hi = lo + size;
    uint64_t inside = 0;
    for_each_maps_line([&](const char* line, size_t len) {
        // "start-end perms ..." in hex; the line is not NUL-terminated.
        uintptr_t s = 0, e = 0;
        const char* end = line + len;
        auto r1 = std::from_chars(line, end, s, 16);
        if (r1.ec != std::errc() || r1.ptr == end || *r1.ptr != '-') return;
        if (std::from_chars(r1.ptr + 1, end, e, 16).ec != std::errc()) return;
        if (s < hi && e > lo) ++inside;
    });
    return inside;
}

uint64_t resident_pages(const void* base, size_t size) {
    constexpr size_t kChunkPages = 16384; // 64 MiB per mincore() call bounds the vector
    std::vector<unsigned char> vec(kChunkPages);
    size_t pages = (size + kPageSize - 1) / kPageSize;
    uint64_t resident = 0;
    auto* p = static_cast<char*>(const_cast<void*>(base));
    for (size_t done = 0; done < pages;) {
        size_t n = std::min(kChunkPages, pages - done);
        if (::mincore(p + done * kPageSize, n * kPageSize, vec.data()) != 0)
            throw_errno("mincore over " + std::to_string(size) + " bytes");
        for (size_t i = 0; i < n; ++i)
            resident += vec[i] & 1;
        done += n;
    }
    return resident;
}

uint64_t meminfo_bytes(const std::string& field) {
    std::ifstream in("/proc/meminfo");
    std::string key, unit;
    uint64_t kib = 0;
    while (in >> key >> kib >> unit)
        if (key.size() == field.size() + 1 && key.compare(0, field.size(), field) == 0 &&
            key.back() == ':')
            return kib << 10;
    return 0;
}

} // namespace foldvm::procfs
