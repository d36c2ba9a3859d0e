// Compression of single 4 KiB pages for the compressed tier.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>
#include <vector>

namespace foldvm::overcommit {

enum class Codec { Lz4, Zstd };

// "lz4" or "zstd"; anything else is InvalidInput naming the allowed values.
Codec parse_codec(std::string_view name);
std::string_view to_string(Codec codec);

// One compressor with its working state. Not thread-safe: callers keep one
// per thread (the state is what makes repeated calls cheap).
class PageCodec {
  public:
    explicit PageCodec(Codec codec, int zstd_level = 1);
    ~PageCodec();
    PageCodec(PageCodec&&) noexcept;
    PageCodec& operator=(PageCodec&&) noexcept;

    Codec codec() const { return codec_; }
    int zstd_level() const { return zstd_level_; }

    // Compresses one page into `out`; returns the compressed length, or 0 when
    // it does not fit in `out_cap` bytes.
    size_t compress(const uint8_t* page, uint8_t* out, size_t out_cap);
    // Inflates `len` bytes into one page; throws CorruptPage unless they
    // decode to exactly kPageSize bytes.
    void decompress(const uint8_t* in, size_t len, uint8_t* page);

  private:
    struct ZstdContexts;

    Codec codec_;
    int zstd_level_;
    std::vector<uint8_t> lz4_state_;     // LZ4 extState, reused across calls
    std::unique_ptr<ZstdContexts> zstd_; // only for Codec::Zstd
};

} // namespace foldvm::overcommit
