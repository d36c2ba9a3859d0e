// Error types with context. Library code throws; only main() turns them into
// exit codes.
#pragma once

#include <cerrno>
#include <cstring>
#include <stdexcept>
#include <string>

namespace foldvm {

// A failure caused by the caller's input (bad image, bad option, ...).
class InvalidInput : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// A failed system call, with the call's purpose and errno text.
class SystemError : public std::runtime_error {
  public:
    SystemError(const std::string& what, int err)
        : std::runtime_error(what + ": " + std::strerror(err)), err_(err) {}
    int code() const { return err_; }

  private:
    int err_;
};

[[noreturn]] inline void throw_errno(const std::string& what) {
    throw SystemError(what, errno);
}

} // namespace foldvm
