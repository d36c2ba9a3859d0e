// A kernel swap file for the yardstick: created in `dir`, formatted with a
// v1 swap header (what mkswap writes), swapon(2)'d; swapoff(2) and unlink on
// restore, destruction, exit or SIGINT/SIGTERM. Other swap areas are never
// touched.
#pragma once

#include "restore_registry.hpp"

#include <cstdint>
#include <string>

namespace foldvm::bench {

class SwapFile {
  public:
    SwapFile(const std::string& dir, uint64_t bytes); // throws SystemError
    SwapFile(const SwapFile&) = delete;
    SwapFile& operator=(const SwapFile&) = delete;

    const std::string& path() const { return path_; }
    uint64_t size_bytes() const { return bytes_; }
    uint64_t used_bytes() const; // per /proc/swaps
    void restore() { restorer_.restore(); }

  private:
    std::string path_;
    uint64_t bytes_;
    Restorer restorer_;
};

// Writes the swap header into an open file of `bytes` (a multiple of 4 KiB).
void write_swap_header(int fd, uint64_t bytes);

} // namespace foldvm::bench
