// The compressed tier: evicted pages kept in memory, compressed and packed
// densely. Blocks go into size classes of 64-byte steps carved from 64 KiB
// slabs, so a page that compresses to 700 bytes costs 704, not 4096.
//
// Following VMware ESX, a page is kept only if it compresses to at most
// max_compressed_bytes (2 KiB by default); otherwise the caller sends it to
// swap. Every block carries an xxh3 checksum of the uncompressed page, so a
// damaged block is an exception, never wrong bytes handed to the guest.
#pragma once

#include "common/mapping.hpp"
#include "page_codec.hpp"

#include <cstdint>
#include <mutex>
#include <vector>

namespace foldvm::overcommit {

struct CompressedStoreOptions {
    Codec codec = Codec::Lz4;
    int zstd_level = 1;
    uint32_t max_compressed_bytes = 2048; // 64..4096
    // A page lz4 leaves above max_compressed_bytes gets a second try with
    // zstd, which packs about a third tighter (word-like data lz4 barely
    // compresses): kept in memory, not written to swap.
    bool zstd_retry = false;
    uint64_t capacity_bytes = 0; // slab bytes mapped at most; 0 = unlimited
};

using BlockHandle = uint32_t;
constexpr BlockHandle kNoBlock = ~0u;

enum class PutStatus {
    Stored,
    Incompressible, // compressed to more than max_compressed_bytes
    Full,           // capacity_bytes reached
};

struct PutResult {
    BlockHandle handle = kNoBlock; // kNoBlock unless status == Stored
    PutStatus status = PutStatus::Stored;
    uint32_t compressed_bytes = 0; // 0 when incompressible
};

struct CompressedStoreStats {
    uint64_t pages = 0;
    uint64_t stored_bytes = 0;    // compressed payload
    uint64_t allocated_bytes = 0; // slab bytes mapped
    uint64_t slabs = 0;
    double fragmentation = 0; // 1 - stored/allocated; 0 when empty
    uint64_t rejected_incompressible = 0;
    uint64_t rejected_full = 0;
    uint64_t zstd_retries_stored = 0; // pages kept thanks to the zstd retry
    struct SizeClass {
        uint32_t slot_bytes = 0;
        uint64_t blocks = 0;
        uint64_t slabs = 0;
    };
    std::vector<SizeClass> classes; // only the classes with slabs
};

// Thread-safe. put() compresses and checksums with a thread_local PageCodec
// before taking the lock, get() copies the block out under the lock and
// decompresses after it: the lock only covers slot bookkeeping and a memcpy.
class CompressedStore {
  public:
    static constexpr size_t kSlabBytes = 64 * 1024;
    static constexpr uint32_t kClassStep = 64;

    explicit CompressedStore(CompressedStoreOptions options = {});

    const CompressedStoreOptions& options() const { return options_; }

    PutResult put(const uint8_t* page);
    // Fills `page` (4 KiB); throws CorruptPage when the block does not decode
    // or its checksum does not match, InvalidInput for a handle not stored.
    void get(BlockHandle handle, uint8_t* page) const;
    void drop(BlockHandle handle);
    CompressedStoreStats stats() const;

    // Fault injection: flips one byte of a stored block.
    void corrupt_for_testing(BlockHandle handle);

  private:
    struct Slab {
        Mapping memory; // empty once the slab is returned
        uint32_t size_class = 0;
        uint32_t used = 0;
        std::vector<uint16_t> free_slots;
        uint32_t partial_pos = ~0u; // index in its class's partial list, ~0u when full
    };
    struct Block {
        uint64_t checksum = 0;
        uint32_t slab = 0;
        uint16_t slot = 0;
        uint16_t length : 15 = 0; // 0 = handle not in use
        uint16_t zstd : 1 = 0;    // compressed by the zstd retry
    };
    struct SizeClass {
        std::vector<uint32_t> partial; // slabs of this class with a free slot
        uint64_t blocks = 0;
    };

    uint32_t class_bytes(uint32_t size_class) const { return (size_class + 1) * kClassStep; }
    const Block& block_locked(BlockHandle handle) const;
    uint8_t* block_bytes_locked(const Block& b) const;
    // A free slot of `size_class`, mapping a new slab if needed; false when full.
    bool allocate_locked(uint32_t size_class, uint32_t& slab, uint16_t& slot);
    void free_locked(uint32_t slab, uint16_t slot);
    void add_partial_locked(uint32_t slab_id);
    void remove_partial_locked(uint32_t slab_id);

    const CompressedStoreOptions options_;
    mutable std::mutex mutex_;
    std::vector<Slab> slabs_;
    std::vector<uint32_t> free_slab_ids_; // entries of slabs_ whose memory was returned
    std::vector<SizeClass> classes_;
    std::vector<Block> blocks_;
    std::vector<BlockHandle> free_handles_;
    uint64_t pages_ = 0;
    uint64_t stored_bytes_ = 0;
    uint64_t mapped_bytes_ = 0;
    uint64_t rejected_incompressible_ = 0;
    uint64_t rejected_full_ = 0;
    uint64_t zstd_retries_stored_ = 0;
};

} // namespace foldvm::overcommit
