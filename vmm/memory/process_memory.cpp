#include "process_memory.hpp"

#include <cstdio>
#include <cstring>
#include <initializer_list>

namespace foldvm {

namespace {
// The sum of the named /proc/self/status fields in KiB, read in one pass.
uint64_t status_fields_kib(std::initializer_list<const char*> fields) {
    FILE* f = std::fopen("/proc/self/status", "r");
    if (!f) return 0;
    char line[256];
    uint64_t sum = 0;
    while (std::fgets(line, sizeof line, f))
        for (const char* field : fields) {
            size_t n = std::strlen(field);
            unsigned long long kib = 0;
            if (std::strncmp(line, field, n) == 0 && std::sscanf(line + n, "%llu", &kib) == 1)
                sum += kib;
        }
    std::fclose(f);
    return sum;
}
} // namespace

uint64_t process_rss_kib() {
    return status_fields_kib({"VmRSS:"});
}
uint64_t process_anon_rss_kib() {
    return status_fields_kib({"RssAnon:"});
}
uint64_t process_private_rss_kib() {
    return status_fields_kib({"RssAnon:", "RssFile:"});
}

} // namespace foldvm
