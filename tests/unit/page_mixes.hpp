// Page contents with known compressibility for the storage-tier tests.
#pragma once

#include "common/page.hpp"

#include <array>
#include <cstdint>
#include <cstring>
#include <iterator>
#include <random>
#include <string>

namespace foldvm::test {

using PageBytes = std::array<uint8_t, kPageSize>;

// Nearly all zero: a few counters, as in a freshly used heap page.
inline PageBytes zeroish_page(uint32_t seed) {
    PageBytes p{};
    for (size_t i = 0; i < 8; ++i)
        std::memcpy(&p[i * 512], &seed, sizeof seed);
    return p;
}

// Log-like ASCII text: lines from a small set of phrases with varying
// numbers, which is roughly how lz4 and zstd see logs, source and configs.
inline PageBytes text_page(uint32_t seed) {
    static const char* const phrases[] = {
        "guest page fault handled",   "evicted cold page to the compressed tier",
        "swap slot written",          "vcpu exit on port io",
        "balloon inflated by pages",  "dedup merged identical pages",
        "timer interrupt delivered",  "virtio block request completed",
        "memory pressure rising",     "worker thread woke up",
        "config reloaded from disk",  "connection accepted from client",
        "request served in us",       "cache miss on lookup",
        "retrying after short write", "checkpoint finished"};
    static const char* const levels[] = {"INFO", "WARN", "DEBUG"};
    std::mt19937 rng(seed);
    PageBytes p;
    size_t pos = 0;
    while (pos < kPageSize) {
        std::string line = "2024-05-17 12:0" + std::to_string(rng() % 4) + " " + levels[rng() % 3] +
                           " " + phrases[rng() % std::size(phrases)] +
                           " id=" + std::to_string(rng() % 100) + "\n";
        for (char c : line) {
            if (pos == kPageSize) break;
            p[pos++] = uint8_t(c);
        }
    }
    return p;
}

inline PageBytes random_page(uint32_t seed) {
    std::mt19937 rng(seed);
    PageBytes p;
    for (auto& b : p)
        b = uint8_t(rng());
    return p;
}

// 768 random bytes, then text: compresses to 35-45% of a page.
// Random words from a small dictionary, like memfill's text class: lz4 finds
// few 4-byte matches in it (about 2.3 KiB), zstd's entropy coding about 1.4.
inline PageBytes word_salad_page(uint32_t seed) {
    static const char* const words[] = {
        "the",   "memory", "of",      "a",     "virtual", "machine", "is",     "page",    "and",
        "host",  "guest",  "kernel",  "cold",  "hot",     "swap",    "budget", "request", "server",
        "cache", "value",  "key",     "table", "index",   "query",   "time",   "error",   "info",
        "debug", "user",   "session", "http",  "json",    "true",    "false",  "null",    "config",
        "lock",  "queue",  "worker",  "ok",    "id",      "name"};
    std::mt19937_64 rng(seed);
    PageBytes p;
    size_t pos = 0;
    while (pos < kPageSize) {
        uint64_t x = rng();
        for (const char* w = words[x % std::size(words)]; *w && pos < kPageSize; ++w)
            p[pos++] = uint8_t(*w);
        if (pos < kPageSize) p[pos++] = (x >> 32) % 16 == 0 ? '\n' : ' ';
    }
    return p;
}

inline PageBytes half_compressible_page(uint32_t seed) {
    PageBytes p = text_page(seed);
    PageBytes r = random_page(seed ^ 0x9e3779b9u);
    std::memcpy(p.data(), r.data(), 768);
    return p;
}

} // namespace foldvm::test
