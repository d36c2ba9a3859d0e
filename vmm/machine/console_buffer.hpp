// A VM's console: bytes from the guest become lines, which go to the host as
// they complete and are kept (the last 1000) for the console API.
#pragma once

#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace foldvm {

class ConsoleBuffer {
  public:
    // `on_line` gets each complete line (without the newline), outside the lock.
    using LineSink = std::function<void(const std::string& line)>;
    static constexpr size_t kHistoryLines = 1000;
    static constexpr size_t kLineMax = 4096; // longer lines are split

    explicit ConsoleBuffer(LineSink on_line) : on_line_(std::move(on_line)) {}

    void write(const char* data, size_t len);
    // Ends a last line without '\n' (a prompt, a panic) so it still reaches the host.
    void flush();
    // The last `lines` complete lines, oldest first.
    std::vector<std::string> tail(size_t lines) const;

  private:
    void keep_locked(const std::string& line);

    LineSink on_line_;
    mutable std::mutex mutex_;
    std::string partial_;
    std::deque<std::string> lines_;
};

} // namespace foldvm
