// Changes /sys/kernel/mm/ksm for a benchmark and restores every value it
// changed: on destruction, at exit, and on SIGINT/SIGTERM. KSM settings are
// machine-wide, so a benchmark must never leave them changed.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace foldvm::bench {

class KsmSettings {
  public:
    KsmSettings();
    ~KsmSettings();
    KsmSettings(const KsmSettings&) = delete;
    KsmSettings& operator=(const KsmSettings&) = delete;

    void set(const std::string& knob, int64_t value);
    static int64_t read(const std::string& knob);
    static bool available();
    void restore();

  private:
    std::map<std::string, std::string> saved_;
};

// CPU seconds ksmd has used so far (utime + stime), or -1 if not found.
double ksmd_cpu_seconds();

} // namespace foldvm::bench
