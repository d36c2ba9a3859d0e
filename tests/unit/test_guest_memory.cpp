#include "common/error.hpp"
#include "vmm/kvm/kvm.hpp"
#include "vmm/memory/guest_memory.hpp"

#include <catch2/catch.hpp>

using namespace foldvm;

TEST_CASE("gpa translation is bounds-checked and overflow-safe", "[memory]") {
    Kvm kvm;
    VmFd vm = kvm.create_vm();
    GuestMemory mem(vm, {.size = 4ull << 20});
    const uint64_t size = mem.size();
    CHECK(mem.translate(0, size) == mem.host_base());
    CHECK(mem.translate(size - 1, 1) == mem.host_base() + size - 1);
    CHECK(mem.translate(size, 0) != nullptr);
    CHECK(mem.translate(size, 1) == nullptr);
    CHECK(mem.translate(size - 1, 2) == nullptr);
    CHECK(mem.translate(~0ull, 2) == nullptr);
    CHECK(mem.translate(4096, ~0ull - 100) == nullptr);
    uint8_t byte = 0;
    CHECK_THROWS_AS(mem.read(size, &byte, 1), InvalidInput);
    CHECK_THROWS_AS(mem.write(size - 1, "ab", 2), InvalidInput);
}

TEST_CASE("VMM writes are recorded in the dirty log exactly", "[memory]") {
    Kvm kvm;
    VmFd vm = kvm.create_vm();
    GuestMemory mem(vm, {.size = 4ull << 20});
    std::vector<uint64_t> bitmap(mem.size() / kPageSize / 64);
    mem.collect_dirty(bitmap.data()); // initial: everything reported once
    std::fill(bitmap.begin(), bitmap.end(), 0);
    mem.collect_dirty(bitmap.data());
    CHECK(std::all_of(bitmap.begin(), bitmap.end(), [](uint64_t w) { return w == 0; }));

    mem.write(5 * kPageSize + 4090, "0123456789", 10); // spans pages 5 and 6
    mem.collect_dirty(bitmap.data());
    CHECK(bitmap[0] == ((1ull << 5) | (1ull << 6)));
    std::fill(bitmap.begin(), bitmap.end(), 0);
    mem.collect_dirty(bitmap.data());
    CHECK(bitmap[0] == 0);
}
