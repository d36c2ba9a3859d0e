#include "compressed_store.hpp"

#include "common/error.hpp"
#include "common/page.hpp"
#include "tier_errors.hpp"

#include <sys/mman.h>
#include <xxhash.h>

#include <array>
#include <cstdio>
#include <cstring>
#include <optional>
#include <string>

namespace foldvm::overcommit {

namespace {

// One codec per thread and configuration: compression runs outside the
// store's lock, and codecs are not thread-safe.
PageCodec& thread_codec(Codec codec, int zstd_level) {
    thread_local std::optional<PageCodec> lz4;
    thread_local std::optional<PageCodec> zstd;
    std::optional<PageCodec>& slot = codec == Codec::Lz4 ? lz4 : zstd;
    if (!slot || (codec == Codec::Zstd && slot->zstd_level() != zstd_level))
        slot.emplace(codec, zstd_level);
    return *slot;
}

std::string handle_name(BlockHandle h) {
    return "compressed block " + std::to_string(h);
}

} // namespace

CompressedStore::CompressedStore(CompressedStoreOptions options) : options_(options) {
    if (options_.max_compressed_bytes < kClassStep || options_.max_compressed_bytes > kPageSize)
        throw InvalidInput("max_compressed_bytes " + std::to_string(options_.max_compressed_bytes) +
                           " out of range " + std::to_string(kClassStep) + ".." +
                           std::to_string(kPageSize));
    thread_codec(options_.codec, options_.zstd_level); // validates the level now
    classes_.resize((options_.max_compressed_bytes + kClassStep - 1) / kClassStep);
}

PutResult CompressedStore::put(const uint8_t* page) {
    std::array<uint8_t, kPageSize> buf;
    size_t len = thread_codec(options_.codec, options_.zstd_level)
                     .compress(page, buf.data(), options_.max_compressed_bytes);
    bool zstd = options_.codec == Codec::Zstd;
    if (len == 0 && !zstd && options_.zstd_retry) {
        len = thread_codec(Codec::Zstd, options_.zstd_level)
                  .compress(page, buf.data(), options_.max_compressed_bytes);
        zstd = len != 0;
    }
    if (len == 0) {
        std::lock_guard lock(mutex_);
        ++rejected_incompressible_;
        return {kNoBlock, PutStatus::Incompressible, 0};
    }
    uint64_t checksum = XXH3_64bits(page, kPageSize);
    uint32_t size_class = uint32_t((len - 1) / kClassStep);

    std::lock_guard lock(mutex_);
    Block b{checksum, 0, 0, uint16_t(len), zstd};
    if (!allocate_locked(size_class, b.slab, b.slot)) {
        ++rejected_full_;
        return {kNoBlock, PutStatus::Full, uint32_t(len)};
    }
    std::memcpy(block_bytes_locked(b), buf.data(), len);
    BlockHandle h;
    if (!free_handles_.empty()) {
        h = free_handles_.back();
        free_handles_.pop_back();
        blocks_[h] = b;
    } else {
        h = BlockHandle(blocks_.size());
        blocks_.push_back(b);
    }
    ++pages_;
    stored_bytes_ += len;
    if (zstd && options_.codec != Codec::Zstd) ++zstd_retries_stored_;
    ++classes_[size_class].blocks;
    return {h, PutStatus::Stored, uint32_t(len)};
}

void CompressedStore::get(BlockHandle handle, uint8_t* page) const {
    std::array<uint8_t, kPageSize> buf;
    Block b;
    {
        std::lock_guard lock(mutex_);
        b = block_locked(handle);
        std::memcpy(buf.data(), block_bytes_locked(b), b.length);
    }
    try {
        thread_codec(b.zstd ? Codec::Zstd : Codec::Lz4, options_.zstd_level)
            .decompress(buf.data(), b.length, page);
    } catch (const CorruptPage& e) {
        std::memset(page, 0, kPageSize);
        throw CorruptPage(handle_name(handle) + ": " + e.what());
    }
    uint64_t actual = XXH3_64bits(page, kPageSize);
    if (actual != b.checksum) {
        std::memset(page, 0, kPageSize);
        throw checksum_mismatch(handle_name(handle), b.checksum, actual);
    }
}

void CompressedStore::drop(BlockHandle handle) {
    std::lock_guard lock(mutex_);
    Block& b = const_cast<Block&>(block_locked(handle));
    --classes_[slabs_[b.slab].size_class].blocks;
    free_locked(b.slab, b.slot);
    --pages_;
    stored_bytes_ -= b.length;
    b.length = 0;
    free_handles_.push_back(handle);
}

CompressedStoreStats CompressedStore::stats() const {
    std::lock_guard lock(mutex_);
    CompressedStoreStats s;
    s.pages = pages_;
    s.stored_bytes = stored_bytes_;
    s.rejected_incompressible = rejected_incompressible_;
    s.rejected_full = rejected_full_;
    s.zstd_retries_stored = zstd_retries_stored_;
    std::vector<uint64_t> class_slabs(classes_.size());
    // Counted from the slabs' mappings themselves, so a slab that was not
    // really returned shows.
    for (const Slab& slab : slabs_) {
        if (!slab.memory.get()) continue;
        s.allocated_bytes += slab.memory.size();
        ++s.slabs;
        ++class_slabs[slab.size_class];
    }
    for (uint32_t c = 0; c < classes_.size(); ++c)
        if (class_slabs[c])
            s.classes.push_back({class_bytes(c), classes_[c].blocks, class_slabs[c]});
    if (s.allocated_bytes)
        s.fragmentation = 1.0 - double(s.stored_bytes) / double(s.allocated_bytes);
    return s;
}

void CompressedStore::corrupt_for_testing(BlockHandle handle) {
    std::lock_guard lock(mutex_);
    const Block& b = block_locked(handle);
    block_bytes_locked(b)[b.length / 2] ^= 0x5a;
}

const CompressedStore::Block& CompressedStore::block_locked(BlockHandle handle) const {
    if (handle >= blocks_.size() || blocks_[handle].length == 0)
        throw InvalidInput(handle_name(handle) + " is not stored");
    return blocks_[handle];
}

uint8_t* CompressedStore::block_bytes_locked(const Block& b) const {
    const Slab& slab = slabs_[b.slab];
    return slab.memory.bytes() + size_t(b.slot) * class_bytes(slab.size_class);
}

bool CompressedStore::allocate_locked(uint32_t size_class, uint32_t& slab_id, uint16_t& slot) {
    SizeClass& cls = classes_[size_class];
    if (cls.partial.empty()) {
        if (options_.capacity_bytes && mapped_bytes_ + kSlabBytes > options_.capacity_bytes)
            return false;
        Slab slab;
        slab.memory = Mapping::anonymous(kSlabBytes);
        // Slabs are freed one by one: a huge page would pin 2 MiB for 64 KiB.
        ::madvise(slab.memory.get(), kSlabBytes, MADV_NOHUGEPAGE);
        slab.size_class = size_class;
        uint32_t slots = uint32_t(kSlabBytes / class_bytes(size_class));
        slab.free_slots.reserve(slots);
        for (uint32_t i = slots; i-- > 0;)
            slab.free_slots.push_back(uint16_t(i));
        uint32_t id;
        if (!free_slab_ids_.empty()) {
            id = free_slab_ids_.back();
            free_slab_ids_.pop_back();
            slabs_[id] = std::move(slab);
        } else {
            id = uint32_t(slabs_.size());
            slabs_.push_back(std::move(slab));
        }
        mapped_bytes_ += kSlabBytes;
        add_partial_locked(id);
    }
    slab_id = cls.partial.back();
    Slab& slab = slabs_[slab_id];
    slot = slab.free_slots.back();
    slab.free_slots.pop_back();
    ++slab.used;
    if (slab.free_slots.empty()) remove_partial_locked(slab_id);
    return true;
}

void CompressedStore::free_locked(uint32_t slab_id, uint16_t slot) {
    Slab& slab = slabs_[slab_id];
    if (slab.free_slots.empty()) add_partial_locked(slab_id);
    slab.free_slots.push_back(slot);
    if (--slab.used > 0) return;
    remove_partial_locked(slab_id);
    slab.memory.reset(); // munmap: an empty slab goes back to the OS
    slab.free_slots = {};
    mapped_bytes_ -= kSlabBytes;
    free_slab_ids_.push_back(slab_id);
}

void CompressedStore::add_partial_locked(uint32_t slab_id) {
    auto& partial = classes_[slabs_[slab_id].size_class].partial;
    slabs_[slab_id].partial_pos = uint32_t(partial.size());
    partial.push_back(slab_id);
}

void CompressedStore::remove_partial_locked(uint32_t slab_id) {
    auto& partial = classes_[slabs_[slab_id].size_class].partial;
    uint32_t pos = slabs_[slab_id].partial_pos;
    partial[pos] = partial.back();
    slabs_[partial[pos]].partial_pos = pos;
    partial.pop_back();
    slabs_[slab_id].partial_pos = ~0u;
}

} // namespace foldvm::overcommit
