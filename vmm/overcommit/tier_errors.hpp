// Errors of the pager's storage tiers. Both mean "this page cannot be given
// back": the pager must not map anything for it and treats the VM's memory as
// lost, rather than handing the guest wrong bytes.
#pragma once

#include "common/error.hpp"

#include <cstdint>
#include <cstdio>
#include <stdexcept>
#include <string>

namespace foldvm::overcommit {

// A stored page that fails its checksum, its authentication tag, or does not
// decompress to exactly one page.
class CorruptPage : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The CorruptPage both tiers throw when a page's xxh3 checksum does not
// match; `what` names the block or slot.
inline CorruptPage checksum_mismatch(const std::string& what, uint64_t expected, uint64_t actual) {
    char msg[128];
    std::snprintf(msg, sizeof msg, ": checksum mismatch (expected %016llx, actual %016llx)",
                  static_cast<unsigned long long>(expected),
                  static_cast<unsigned long long>(actual));
    return CorruptPage(what + msg);
}

// A swap slot that could not be read (EIO, a file truncated underneath).
class SwapReadError : public SystemError {
  public:
    using SystemError::SystemError;
};

} // namespace foldvm::overcommit
