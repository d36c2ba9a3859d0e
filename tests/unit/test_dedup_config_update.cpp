// Engine::update_config is one read-modify-write under the engine lock: the
// API's concurrent PATCHes rely on it to keep each other's fields.
#include "common/error.hpp"
#include "dedup/engine.hpp"

#include <catch2/catch.hpp>

#include <thread>

using namespace foldvm;

TEST_CASE("concurrent config updates keep each other's fields", "[dedup][config]") {
    dedup::Engine engine; // not started: only the config is exercised
    const dedup::DedupConfig before = engine.config();
    constexpr uint32_t kRounds = 5000;
    auto bump = [&engine](uint32_t dedup::DedupConfig::*field) {
        for (uint32_t i = 0; i < kRounds; ++i)
            engine.update_config([field](dedup::DedupConfig& c) {
                c.*field += 1;
                std::this_thread::yield(); // a slow editor, like a PATCH body
            });
    };
    std::thread a(bump, &dedup::DedupConfig::pages_to_scan);
    std::thread b(bump, &dedup::DedupConfig::max_page_sharing);
    a.join();
    b.join();
    dedup::DedupConfig after = engine.config();
    CHECK(after.pages_to_scan == before.pages_to_scan + kRounds);
    CHECK(after.max_page_sharing == before.max_page_sharing + kRounds);
}

TEST_CASE("an update that fails validation changes nothing", "[dedup][config]") {
    dedup::Engine engine;
    engine.update_config([](dedup::DedupConfig& c) { c.sleep_millisecs = 7; });
    CHECK_THROWS_AS(engine.update_config([](dedup::DedupConfig& c) {
        c.sleep_millisecs = 9;
        c.pages_to_scan = 0; // below its minimum
    }),
                    InvalidInput);
    CHECK(engine.config().sleep_millisecs == 7);
    CHECK(engine.config().pages_to_scan == dedup::DedupConfig{}.pages_to_scan);
    CHECK(engine.update_config([](dedup::DedupConfig&) {}).sleep_millisecs == 7);
}
