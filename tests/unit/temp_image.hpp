// A temporary raw disk image for virtio-blk tests, removed when the test
// ends; its contents are checked with plain pread/pwrite, not the device.
#pragma once

#include "common/error.hpp"
#include "common/unique_fd.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

namespace foldvm::test {

class TempImage {
  public:
    // `size` bytes; byte i holds pattern_byte(i) unless `zeros`.
    explicit TempImage(uint64_t size, bool zeros = false) {
        const char* dir = std::getenv("TMPDIR");
        path_ = std::string(dir && *dir ? dir : "/tmp") + "/foldvm-blk-XXXXXX";
        fd_.reset(::mkstemp(path_.data()));
        if (!fd_) throw_errno("mkstemp " + path_);
        if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) throw_errno("ftruncate");
        if (!zeros) {
            std::vector<uint8_t> bytes(size);
            for (uint64_t i = 0; i < size; ++i)
                bytes[i] = pattern_byte(i);
            write(0, bytes);
        }
    }
    ~TempImage() { ::unlink(path_.c_str()); }
    TempImage(const TempImage&) = delete;
    TempImage& operator=(const TempImage&) = delete;

    static uint8_t pattern_byte(uint64_t i) { return static_cast<uint8_t>(i * 7 + i / 4096); }

    const std::string& path() const { return path_; }
    uint64_t size() const {
        struct stat st {};
        if (::fstat(fd_.get(), &st) != 0) throw_errno("fstat");
        return static_cast<uint64_t>(st.st_size);
    }
    std::vector<uint8_t> read(uint64_t offset, uint64_t len) const {
        std::vector<uint8_t> out(len);
        if (::pread(fd_.get(), out.data(), len, static_cast<off_t>(offset)) !=
            static_cast<ssize_t>(len))
            throw_errno("pread " + path_);
        return out;
    }
    void write(uint64_t offset, const std::vector<uint8_t>& bytes) {
        if (::pwrite(fd_.get(), bytes.data(), bytes.size(), static_cast<off_t>(offset)) !=
            static_cast<ssize_t>(bytes.size()))
            throw_errno("pwrite " + path_);
    }
    void truncate(uint64_t size) {
        if (::ftruncate(fd_.get(), static_cast<off_t>(size)) != 0) throw_errno("ftruncate");
    }

  private:
    std::string path_;
    UniqueFd fd_;
};

} // namespace foldvm::test
