#include "mapping.hpp"

#include "error.hpp"

namespace foldvm {

Mapping Mapping::anonymous(size_t size, int extra_flags) {
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE | extra_flags, -1, 0);
    if (p == MAP_FAILED) throw_errno("mmap anonymous " + std::to_string(size) + " bytes");
    return Mapping(p, size);
}

} // namespace foldvm
