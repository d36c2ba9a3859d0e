// Writes machine-wide sysfs/procfs knobs (KSM, zswap, ...) and puts back
// every value it changed, in reverse order, through the RestoreRegistry: on
// restore(), destruction, exit and SIGINT/SIGTERM.
#pragma once

#include "restore_registry.hpp"

#include <string>
#include <utility>
#include <vector>

namespace foldvm::bench {

class SysfsKnobs {
  public:
    // Knob names are relative to `dir` (with a trailing '/'). `first` is put
    // back before the others (KSM's `run`: ksmd stops before its pacing
    // changes back).
    explicit SysfsKnobs(std::string dir, std::string first = "");
    SysfsKnobs(const SysfsKnobs&) = delete;
    SysfsKnobs& operator=(const SysfsKnobs&) = delete;

    // Saves the old value the first time a knob is set. Throws SystemError.
    void set(const std::string& knob, const std::string& value);
    // Like set, but false (nothing changed) if the kernel rejects the value.
    bool try_set(const std::string& knob, const std::string& value);
    std::string get(const std::string& knob) const;
    void restore() { restorer_.restore(); }

  private:
    void put_back() noexcept;

    std::string dir_;
    std::string first_;
    std::vector<std::pair<std::string, std::string>> saved_; // in order first set
    Restorer restorer_;
};

// The first whitespace-delimited word of a file ("" if unreadable).
std::string read_word(const std::string& path);
// Writes `value` with one write(2); throws SystemError on failure.
void write_text(const std::string& path, const std::string& value);

} // namespace foldvm::bench
