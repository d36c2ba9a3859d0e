#include "zswap_setting.hpp"

#include <unistd.h>

namespace foldvm::bench {

namespace {
const char* kDir = "/sys/module/zswap/parameters/";
}

bool ZswapSetting::available() {
    return ::access("/sys/module/zswap/parameters/enabled", W_OK) == 0;
}

ZswapSetting::ZswapSetting(unsigned max_pool_percent) : knobs_(kDir, "enabled") {
    // The kernel may accept the write yet keep, or fall back to, its own
    // compressor when the pool is created (no lz4 for zswap here): only what
    // reads back after enabling is what runs.
    knobs_.try_set("compressor", "lz4");
    knobs_.set("max_pool_percent", std::to_string(max_pool_percent));
    knobs_.set("enabled", "Y");
    compressor_ = knobs_.get("compressor");
}

} // namespace foldvm::bench
