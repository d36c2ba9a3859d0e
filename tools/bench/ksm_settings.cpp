#include "ksm_settings.hpp"

#include "proc_stats.hpp"

#include <unistd.h>

#include <stdexcept>

namespace foldvm::bench {

namespace {
const char* kDir = "/sys/kernel/mm/ksm/";
}

bool KsmSettings::available() {
    return ::access("/sys/kernel/mm/ksm/run", W_OK) == 0;
}

KsmSettings::KsmSettings() : knobs_(kDir, "run") {
    if (!available()) throw std::runtime_error("KSM is not available or not writable here");
}

int64_t KsmSettings::read(const std::string& knob) {
    std::string v = read_word(kDir + knob);
    return v.empty() ? -1 : std::stoll(v);
}

double ksmd_cpu_seconds() {
    return kernel_threads_cpu_seconds("ksmd");
}

} // namespace foldvm::bench
