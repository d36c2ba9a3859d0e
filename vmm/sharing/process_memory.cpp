#include "process_memory.hpp"

#include <cstdio>
#include <cstring>

namespace foldvm {

uint64_t process_rss_kib() {
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, "VmRSS:", 6) == 0) std::sscanf(line + 6, "%llu", &kib);
    std::fclose(f);
    return kib;
}

} // namespace foldvm
