#include "console_buffer.hpp"

namespace foldvm {

void ConsoleBuffer::write(const char* data, size_t len) {
    std::vector<std::string> complete;
    {
        std::lock_guard lock(mutex_);
        for (size_t i = 0; i < len; ++i) {
            char c = data[i];
            if (c == '\n' || partial_.size() >= kLineMax) {
                complete.push_back(std::move(partial_));
                partial_.clear();
                if (c == '\n') continue;
            }
            partial_.push_back(c);
        }
        for (auto& line : complete)
            keep_locked(line);
    }
    if (on_line_)
        for (auto& line : complete)
            on_line_(line);
}

void ConsoleBuffer::flush() {
    std::string line;
    {
        std::lock_guard lock(mutex_);
        if (partial_.empty()) return;
        line = std::move(partial_);
        partial_.clear();
        keep_locked(line);
    }
    if (on_line_) on_line_(line);
}

std::vector<std::string> ConsoleBuffer::tail(size_t lines) const {
    std::lock_guard lock(mutex_);
    size_t n = std::min(lines, lines_.size());
    return {lines_.end() - static_cast<long>(n), lines_.end()};
}

void ConsoleBuffer::keep_locked(const std::string& line) {
    lines_.push_back(line);
    if (lines_.size() > kHistoryLines) lines_.pop_front();
}

} // namespace foldvm
