// Changes /sys/kernel/mm/ksm for a benchmark and restores every value it
// changed: on destruction, at exit, and on SIGINT/SIGTERM (SysfsKnobs).
// KSM settings are machine-wide, so a benchmark must never leave them changed.
#pragma once

#include "sysfs_knobs.hpp"

#include <cstdint>
#include <string>

namespace foldvm::bench {

class KsmSettings {
  public:
    KsmSettings(); // throws unless KSM is available and writable
    void set(const std::string& knob, int64_t value) { knobs_.set(knob, std::to_string(value)); }
    static int64_t read(const std::string& knob);
    static bool available();
    void restore() { knobs_.restore(); }

  private:
    SysfsKnobs knobs_;
};

// CPU seconds ksmd has used so far (utime + stime), or -1 if not found.
double ksmd_cpu_seconds();

} // namespace foldvm::bench
