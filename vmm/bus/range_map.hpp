// An address space split into claimed ranges, each served by one handler.
// The port-I/O bus and the MMIO bus are two instances; a vCPU exit looks up
// the handler of the accessed address and its offset inside the claim.
#pragma once

#include "common/error.hpp"

#include <cinttypes>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <map>
#include <memory>
#include <string>

namespace foldvm {

template <typename Addr, typename Handler> class RangeMap {
  public:
    // `space` names the address space in errors ("I/O port", "MMIO").
    explicit RangeMap(const char* space) : space_(space) {}

    // Claims [base, base + size). Refuses an empty range, one running past
    // the end of the address space, and one overlapping an earlier claim:
    // two devices answering one address would be a silent wiring bug.
    void add(Addr base, uint64_t size, std::shared_ptr<Handler> handler) {
        constexpr uint64_t kLast = std::numeric_limits<Addr>::max();
        if (size == 0 || size - 1 > kLast - base)
            throw InvalidInput(std::string(space_) + " range " + describe(base, size) +
                               " is empty or runs past the end of the address space");
        uint64_t last = uint64_t(base) + (size - 1);
        auto next = ranges_.lower_bound(base);
        if (next != ranges_.end() && next->first <= last) refuse(base, size, *next);
        if (next != ranges_.begin()) {
            auto prev = std::prev(next);
            if (uint64_t(prev->first) + (prev->second.size - 1) >= base) refuse(base, size, *prev);
        }
        ranges_.emplace(base, Range{size, std::move(handler)});
    }

    // The handler claiming `addr`, or nullptr; `offset` is `addr` relative to
    // the start of the claim.
    Handler* find(Addr addr, Addr& offset) const {
        auto it = ranges_.upper_bound(addr);
        if (it == ranges_.begin()) return nullptr;
        --it;
        if (uint64_t(addr - it->first) >= it->second.size) return nullptr;
        offset = static_cast<Addr>(addr - it->first);
        return it->second.handler.get();
    }
    Handler* find(Addr addr) const {
        Addr offset;
        return find(addr, offset);
    }

  private:
    struct Range {
        uint64_t size;
        std::shared_ptr<Handler> handler;
    };

    static std::string describe(uint64_t base, uint64_t size) {
        char buf[64];
        std::snprintf(buf, sizeof buf, "0x%" PRIx64 "+0x%" PRIx64, base, size);
        return buf;
    }
    [[noreturn]] void refuse(Addr base, uint64_t size,
                             const std::pair<const Addr, Range>& claimed) const {
        throw InvalidInput(std::string(space_) + " range " + describe(base, size) +
                           " overlaps the range " + describe(claimed.first, claimed.second.size) +
                           " claimed earlier");
    }

    const char* space_;
    std::map<Addr, Range> ranges_;
};

} // namespace foldvm
