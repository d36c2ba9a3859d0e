#include "page_codec.hpp"

#include "common/error.hpp"
#include "common/page.hpp"
#include "tier_errors.hpp"

#include <lz4.h>
#include <zstd.h>
#include <zstd_errors.h>

#include <algorithm>
#include <string>

namespace foldvm::overcommit {

Codec parse_codec(std::string_view name) {
    if (name == "lz4") return Codec::Lz4;
    if (name == "zstd") return Codec::Zstd;
    throw InvalidInput("unknown codec '" + std::string(name) + "' (allowed: lz4, zstd)");
}

std::string_view to_string(Codec codec) {
    return codec == Codec::Lz4 ? "lz4" : "zstd";
}

struct PageCodec::ZstdContexts {
    struct FreeC {
        void operator()(ZSTD_CCtx* c) const { ZSTD_freeCCtx(c); }
    };
    struct FreeD {
        void operator()(ZSTD_DCtx* d) const { ZSTD_freeDCtx(d); }
    };
    std::unique_ptr<ZSTD_CCtx, FreeC> cctx{ZSTD_createCCtx()};
    std::unique_ptr<ZSTD_DCtx, FreeD> dctx{ZSTD_createDCtx()};
};

PageCodec::PageCodec(Codec codec, int zstd_level) : codec_(codec), zstd_level_(zstd_level) {
    if (codec_ == Codec::Lz4) {
        lz4_state_.resize(static_cast<size_t>(LZ4_sizeofState()));
        return;
    }
    if (zstd_level < ZSTD_minCLevel() || zstd_level > ZSTD_maxCLevel())
        throw InvalidInput("zstd level " + std::to_string(zstd_level) + " out of range " +
                           std::to_string(ZSTD_minCLevel()) + ".." +
                           std::to_string(ZSTD_maxCLevel()));
    zstd_ = std::make_unique<ZstdContexts>();
    if (!zstd_->cctx || !zstd_->dctx) throw std::bad_alloc();
    // A page is small: the frame's checksum and dictionary id are overhead
    // (the store keeps its own checksum of the uncompressed page).
    ZSTD_CCtx_setParameter(zstd_->cctx.get(), ZSTD_c_compressionLevel, zstd_level);
    ZSTD_CCtx_setParameter(zstd_->cctx.get(), ZSTD_c_checksumFlag, 0);
    ZSTD_CCtx_setParameter(zstd_->cctx.get(), ZSTD_c_dictIDFlag, 0);
}

PageCodec::~PageCodec() = default;
PageCodec::PageCodec(PageCodec&&) noexcept = default;
PageCodec& PageCodec::operator=(PageCodec&&) noexcept = default;

size_t PageCodec::compress(const uint8_t* page, uint8_t* out, size_t out_cap) {
    if (codec_ == Codec::Lz4) {
        int n = LZ4_compress_fast_extState(lz4_state_.data(), reinterpret_cast<const char*>(page),
                                           reinterpret_cast<char*>(out), int(kPageSize),
                                           int(std::min<size_t>(out_cap, 1 << 30)), 1);
        return n > 0 ? size_t(n) : 0;
    }
    size_t n = ZSTD_compress2(zstd_->cctx.get(), out, out_cap, page, kPageSize);
    if (ZSTD_isError(n)) {
        if (ZSTD_getErrorCode(n) == ZSTD_error_dstSize_tooSmall) return 0;
        throw std::runtime_error(std::string("zstd compress: ") + ZSTD_getErrorName(n));
    }
    return n;
}

void PageCodec::decompress(const uint8_t* in, size_t len, uint8_t* page) {
    if (codec_ == Codec::Lz4) {
        int n =
            LZ4_decompress_safe(reinterpret_cast<const char*>(in), reinterpret_cast<char*>(page),
                                int(std::min<size_t>(len, 1 << 30)), int(kPageSize));
        if (n != int(kPageSize))
            throw CorruptPage("lz4 block of " + std::to_string(len) + " bytes " +
                              (n < 0 ? std::string("does not decode")
                                     : "decodes to " + std::to_string(n) + " bytes, not a page"));
        return;
    }
    size_t n = ZSTD_decompressDCtx(zstd_->dctx.get(), page, kPageSize, in, len);
    if (ZSTD_isError(n))
        throw CorruptPage("zstd frame of " + std::to_string(len) +
                          " bytes does not decode: " + ZSTD_getErrorName(n));
    if (n != kPageSize)
        throw CorruptPage("zstd frame of " + std::to_string(len) + " bytes decodes to " +
                          std::to_string(n) + " bytes, not a page");
}

} // namespace foldvm::overcommit
