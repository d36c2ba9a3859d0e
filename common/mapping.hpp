// RAII owner of an mmap()ed range.
#pragma once

#include <sys/mman.h>

#include <cstddef>
#include <cstdint>
#include <utility>

namespace foldvm {

class Mapping {
  public:
    Mapping() = default;
    Mapping(void* addr, size_t size) : addr_(addr), size_(size) {}
    Mapping(const Mapping&) = delete;
    Mapping& operator=(const Mapping&) = delete;
    Mapping(Mapping&& o) noexcept
        : addr_(std::exchange(o.addr_, nullptr)), size_(std::exchange(o.size_, 0)) {}
    Mapping& operator=(Mapping&& o) noexcept {
        if (this != &o) {
            reset();
            addr_ = std::exchange(o.addr_, nullptr);
            size_ = std::exchange(o.size_, 0);
        }
        return *this;
    }
    ~Mapping() { reset(); }

    // Anonymous private memory, the backing of guest RAM and test regions.
    static Mapping anonymous(size_t size, int extra_flags = 0);

    void* get() const { return addr_; }
    uint8_t* bytes() const { return static_cast<uint8_t*>(addr_); }
    size_t size() const { return size_; }
    // Gives up ownership (the range was moved or handed on); returns it.
    void* release() {
        size_ = 0;
        return std::exchange(addr_, nullptr);
    }
    void reset() {
        if (addr_) ::munmap(addr_, size_);
        addr_ = nullptr;
        size_ = 0;
    }

  private:
    void* addr_ = nullptr;
    size_t size_ = 0;
};

} // namespace foldvm
