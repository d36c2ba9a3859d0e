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
    // The kernel may accept the write yet keep its compressor (no lz4 for
    // zswap here): what reads back is what runs.
    knobs_.try_set("compressor", "lz4");
    compressor_ = knobs_.get("compressor");
    knobs_.set("max_pool_percent", std::to_string(max_pool_percent));
    knobs_.set("enabled", "Y");
}

} // namespace foldvm::bench
