// vmm/overcommit/page_codec: single-page lz4/zstd compression.
#include "common/error.hpp"
#include "page_mixes.hpp"
#include "vmm/overcommit/page_codec.hpp"
#include "vmm/overcommit/tier_errors.hpp"

#include <catch2/catch.hpp>
#include <lz4.h>
#include <zstd.h>

#include <vector>

using namespace foldvm;
using namespace foldvm::overcommit;
using namespace foldvm::test;

TEST_CASE("codec names parse and print; others are rejected naming the allowed ones",
          "[overcommit][codec]") {
    CHECK(parse_codec("lz4") == Codec::Lz4);
    CHECK(parse_codec("zstd") == Codec::Zstd);
    CHECK(to_string(Codec::Lz4) == "lz4");
    CHECK(to_string(Codec::Zstd) == "zstd");
    CHECK_THROWS_WITH(parse_codec("lzo"), Catch::Contains("lzo") && Catch::Contains("lz4, zstd"));
}

TEST_CASE("a page round-trips through each codec; a full output buffer gives 0",
          "[overcommit][codec]") {
    Codec codec = GENERATE(Codec::Lz4, Codec::Zstd);
    PageCodec pc(codec);
    PageBytes in = text_page(7), out{};
    std::vector<uint8_t> buf(kPageSize * 2);
    size_t n = pc.compress(in.data(), buf.data(), buf.size());
    REQUIRE(n > 0);
    CHECK(n < kPageSize / 2);
    pc.decompress(buf.data(), n, out.data());
    CHECK(out == in);
    CHECK(pc.compress(in.data(), buf.data(), n - 1) == 0);
    PageBytes rnd = random_page(1);
    CHECK(pc.compress(rnd.data(), buf.data(), kPageSize) == 0);
}

TEST_CASE("input that does not decode to exactly one page is CorruptPage", "[overcommit][codec]") {
    Codec codec = GENERATE(Codec::Lz4, Codec::Zstd);
    INFO(to_string(codec));
    PageCodec pc(codec);
    PageBytes in = text_page(3), out{};
    std::vector<uint8_t> buf(kPageSize * 2);
    size_t n = pc.compress(in.data(), buf.data(), buf.size());
    REQUIRE(n > 0);
    CHECK_THROWS_AS(pc.decompress(buf.data(), n / 2, out.data()), CorruptPage);
    // A valid stream of half a page.
    std::vector<uint8_t> half(2048, 'x');
    if (codec == Codec::Lz4) {
        int m = LZ4_compress_default(reinterpret_cast<const char*>(half.data()),
                                     reinterpret_cast<char*>(buf.data()), int(half.size()),
                                     int(buf.size()));
        REQUIRE(m > 0);
        CHECK_THROWS_AS(pc.decompress(buf.data(), size_t(m), out.data()), CorruptPage);
    } else {
        size_t m = ZSTD_compress(buf.data(), buf.size(), half.data(), half.size(), 1);
        REQUIRE(!ZSTD_isError(m));
        CHECK_THROWS_AS(pc.decompress(buf.data(), m, out.data()), CorruptPage);
    }
    std::vector<uint8_t> garbage(100, 0xff);
    CHECK_THROWS_AS(pc.decompress(garbage.data(), garbage.size(), out.data()), CorruptPage);
}

TEST_CASE("a zstd level out of range is InvalidInput", "[overcommit][codec]") {
    CHECK_THROWS_AS(PageCodec(Codec::Zstd, 1000), InvalidInput);
}
