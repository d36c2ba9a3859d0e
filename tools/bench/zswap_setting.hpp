// Turns the kernel's zswap on for the yardstick (/sys/module/zswap/
// parameters) and restores the previous values. lz4 is tried first; kernels
// without it for zswap (these machines) keep their compressor (lzo).
#pragma once

#include "sysfs_knobs.hpp"

#include <string>

namespace foldvm::bench {

class ZswapSetting {
  public:
    static bool available();
    // Throws SystemError if zswap cannot be enabled.
    explicit ZswapSetting(unsigned max_pool_percent = 20);
    const std::string& compressor() const { return compressor_; }
    void restore() { knobs_.restore(); }

  private:
    SysfsKnobs knobs_;
    std::string compressor_;
};

} // namespace foldvm::bench
