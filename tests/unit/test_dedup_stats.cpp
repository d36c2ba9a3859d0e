// The statistics list of dedup/stats.hpp is the one source of their JSON
// names (GET /dedup, CLI, benchmarks) and Prometheus metrics.
#include "dedup_fixture.hpp"

#include "vmm/sharing/stats_json.hpp"

#include <catch2/catch.hpp>

#include <set>
#include <string>

using namespace foldvm;
using namespace foldvm::test;

TEST_CASE("every declared statistic appears in the JSON view", "[dedup][stats]") {
    dedup::DedupStats stats;
    stats.pages_discarded = 7;
    stats.regions.push_back({});
    nlohmann::json j = to_json(stats);
    size_t listed = 0;
    dedup::for_each_stat(stats, [&](const dedup::StatInfo& s, const auto&) {
        ++listed;
        CHECK(j.contains(s.name));
    });
    CHECK(listed + 1 == j.size()); // and nothing else but "vms"
    CHECK(j["pages_discarded"] == 7);
    CHECK(j["phase_ms"].is_object());

    nlohmann::json region = j["vms"][0];
    listed = 0;
    dedup::for_each_stat(stats.regions[0], [&](const dedup::StatInfo& s, const auto&) {
        ++listed;
        CHECK(region.contains(s.name));
    });
    CHECK(listed == region.size());
}

TEST_CASE("statistics have unique, well-formed Prometheus names", "[dedup][stats]") {
    std::set<std::string> metrics;
    auto check = [&](const dedup::StatInfo& s) {
        std::string m = s.metric;
        if (m.empty()) return; // not exported (region name, domain, ...)
        INFO(s.name << " -> " << m);
        CHECK(m.rfind("foldvm_", 0) == 0);
        CHECK(metrics.insert(m).second);
        bool total = m.size() > 6 && m.compare(m.size() - 6, 6, "_total") == 0;
        CHECK(total == (s.type == dedup::MetricType::Counter));
        CHECK(s.help[0] != 0);
    };
    const dedup::DedupStats stats;
    dedup::for_each_stat(stats, [&](const dedup::StatInfo& s, const auto&) { check(s); });
    CHECK(metrics.count("foldvm_dedup_pages_discarded_total") == 1);
    const dedup::RegionStats region;
    dedup::for_each_stat(region, [&](const dedup::StatInfo& s, const auto&) { check(s); });
    CHECK(metrics.count("foldvm_vm_dedup_pages") == 1);
}

TEST_CASE("the engine reports discarded pages in the JSON view", "[dedup][stats][discard]") {
    dedup::Engine engine(fast_config());
    TestRegion a(engine, 16);
    for (size_t i = 0; i < 16; ++i)
        a.fill(i, 10 + i);
    engine.discard_range(a.id, 2, 5);
    CHECK(to_json(engine.stats())["pages_discarded"] == 5);
}
