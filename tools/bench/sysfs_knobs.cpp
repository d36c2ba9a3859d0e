#include "sysfs_knobs.hpp"

#include "common/error.hpp"
#include "common/unique_fd.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <fstream>

namespace foldvm::bench {

std::string read_word(const std::string& path) {
    std::ifstream in(path);
    std::string v;
    in >> v;
    return v;
}

void write_text(const std::string& path, const std::string& value) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC));
    if (!fd) throw_errno("open " + path);
    if (::write(fd.get(), value.data(), value.size()) != ssize_t(value.size()))
        throw_errno("write '" + value + "' to " + path);
}

SysfsKnobs::SysfsKnobs(std::string dir, std::string first)
    : dir_(std::move(dir)), first_(std::move(first)),
      restorer_("knobs under " + dir_, [this] { put_back(); }) {}

std::string SysfsKnobs::get(const std::string& knob) const {
    return read_word(dir_ + knob);
}

void SysfsKnobs::set(const std::string& knob, const std::string& value) {
    bool known = false;
    for (auto& [k, v] : saved_)
        known = known || k == knob;
    std::string old = get(knob);
    write_text(dir_ + knob, value);
    if (!known) saved_.emplace_back(knob, old);
}

bool SysfsKnobs::try_set(const std::string& knob, const std::string& value) {
    try {
        set(knob, value);
        return true;
    } catch (const SystemError&) {
        return false;
    }
}

void SysfsKnobs::put_back() noexcept {
    auto write_back = [&](const std::pair<std::string, std::string>& kv) {
        try {
            write_text(dir_ + kv.first, kv.second);
        } catch (...) {
        }
    };
    for (auto& kv : saved_)
        if (kv.first == first_) write_back(kv);
    for (auto it = saved_.rbegin(); it != saved_.rend(); ++it)
        if (it->first != first_) write_back(*it);
    saved_.clear();
}

} // namespace foldvm::bench
