// Errors of the pager's storage tiers. Both mean "this page cannot be given
// back": the pager must not map anything for it and treats the VM's memory as
// lost, rather than handing the guest wrong bytes.
#pragma once

#include "common/error.hpp"

#include <stdexcept>

namespace foldvm::overcommit {

// A stored page that fails its checksum, its authentication tag, or does not
// decompress to exactly one page.
class CorruptPage : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A swap slot that could not be read (EIO, a file truncated underneath).
class SwapReadError : public SystemError {
  public:
    using SystemError::SystemError;
};

} // namespace foldvm::overcommit
