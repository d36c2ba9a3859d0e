#include "host_memory.hpp"

#include <cstdio>

namespace foldvm::api {

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

} // namespace foldvm::api
