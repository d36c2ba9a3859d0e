#include "host_memory.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <vector>

namespace foldvm::api {

uint64_t resident_bytes(const void* base, uint64_t size) {
    static const uint64_t page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    constexpr uint64_t kChunkPages = 16384; // 64 MiB per mincore() call
    std::vector<unsigned char> vec(kChunkPages);
    uint64_t pages = size / page, resident = 0;
    auto* p = static_cast<const char*>(base);
    for (uint64_t done = 0; done < pages;) {
        uint64_t n = std::min(kChunkPages, pages - done);
        if (::mincore(const_cast<char*>(p + done * page), n * page, vec.data()) != 0) return 0;
        for (uint64_t i = 0; i < n; ++i)
            resident += vec[i] & 1;
        done += n;
    }
    return resident * page;
}

MemInfo read_meminfo() {
    MemInfo m;
    FILE* f = std::fopen("/proc/meminfo", "r");
    if (!f) return m;
    char line[256];
    while (std::fgets(line, sizeof line, f)) {
        unsigned long long kib = 0;
        if (std::sscanf(line, "MemTotal: %llu kB", &kib) == 1)
            m.total_bytes = kib << 10;
        else if (std::sscanf(line, "MemFree: %llu kB", &kib) == 1)
            m.free_bytes = kib << 10;
        else if (std::sscanf(line, "MemAvailable: %llu kB", &kib) == 1)
            m.available_bytes = kib << 10;
    }
    std::fclose(f);
    return m;
}

uint64_t max_map_count() {
    FILE* f = std::fopen("/proc/sys/vm/max_map_count", "r");
    unsigned long long v = 65530;
    if (f) {
        if (std::fscanf(f, "%llu", &v) != 1) v = 65530;
        std::fclose(f);
    }
    return v;
}

uint64_t process_mapping_count() {
    int fd = ::open("/proc/self/maps", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    uint64_t lines = 0;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n <= 0) break;
        for (ssize_t i = 0; i < n; ++i)
            lines += buf[i] == '\n';
    }
    ::close(fd);
    return lines;
}

} // namespace foldvm::api
