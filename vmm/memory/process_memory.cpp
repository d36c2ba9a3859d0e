#include "process_memory.hpp"

#include <cstdio>
#include <cstring>

namespace foldvm {

namespace {
uint64_t status_field_kib(const char* field) {
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    unsigned long long kib = 0;
    size_t n = std::strlen(field);
    while (std::fgets(line, sizeof line, f))
        if (std::strncmp(line, field, n) == 0) std::sscanf(line + n, "%llu", &kib);
    std::fclose(f);
    return kib;
}
} // namespace

uint64_t process_rss_kib() {
    return status_field_kib("VmRSS:");
}
uint64_t process_anon_rss_kib() {
    return status_field_kib("RssAnon:");
}

} // namespace foldvm
