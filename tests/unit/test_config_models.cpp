// The configuration models (vmm/config/): one field table each, from which
// the CLI parser, the JSON reader and writer and validate() derive.
#include "common/error.hpp"
#include "vmm/config/balloon_json.hpp"
#include "vmm/config/dedup_knobs.hpp"
#include "vmm/config/json_fields.hpp"
#include "vmm/config/overcommit_config.hpp"
#include "vmm/config/schema.hpp"
#include "vmm/config/vm_json.hpp"

#include <catch2/catch.hpp>

using namespace foldvm;
using model::FieldError;
using model::FieldProblem;
using nlohmann::json;

namespace {

// The problem and field of the FieldError `f` throws.
template <class F> std::pair<FieldProblem, std::string> refusal(F f) {
    try {
        f();
    } catch (const FieldError& e) {
        return {e.problem(), e.field()};
    }
    FAIL("no FieldError thrown");
    return {};
}

} // namespace

TEST_CASE("every model's defaults lie within its own ranges", "[config]") {
    json models = config_schema()["models"];
    REQUIRE(models.size() == 6); // + OvercommitConfig, VmMemoryUpdate
    for (auto& [model, fields] : models.items())
        for (auto& [name, f] : fields.items()) {
            INFO(model << "." << name);
            if (f["type"] == "integer" && f.contains("default")) {
                CHECK(f["default"] >= f["minimum"]);
                if (!f["maximum"].is_null()) CHECK(f["default"] <= f["maximum"]);
                if (f.contains("enum"))
                    CHECK(std::count(f["enum"].begin(), f["enum"].end(), f["default"]) == 1);
            }
            if (f["type"] == "string" && f.contains("default") && f["default"].is_string()) {
                CHECK(f["default"].get<std::string>().size() >= f["minLength"]);
                CHECK(f["default"].get<std::string>().size() <= f["maxLength"]);
            }
        }
    CHECK_NOTHROW(dedup::DedupConfig{}.validate());
    CHECK_NOTHROW(BalloonConfig{}.validate(32ull << 20));
    CHECK_NOTHROW(OvercommitConfig{}.validate());
}

TEST_CASE("the JSON reader refuses by field: unknown, type, range, missing", "[config]") {
    CHECK(refusal([] {
              read_vm_config({{"kernel", "/k"}, {"memory", 32}});
          }) == std::pair{FieldProblem::Unknown, std::string("memory")});
    CHECK(refusal([] {
              read_vm_config({{"kernel", "/k"}, {"vcpus", 2.5}});
          }) == std::pair{FieldProblem::WrongType, std::string("vcpus")});
    CHECK(refusal([] {
              read_vm_config({{"kernel", "/k"}, {"vcpus", -1}});
          }) == std::pair{FieldProblem::OutOfRange, std::string("vcpus")});
    CHECK(refusal([] {
              read_vm_config({{"kernel", "/k"}, {"guest_cpl", 1}});
          }) == std::pair{FieldProblem::OutOfRange, std::string("guest_cpl")});
    CHECK(refusal([] {
              read_vm_config({{"mem_mib", 32}});
          }) == std::pair{FieldProblem::Missing, std::string("kernel")});
    // Nested: the balloon's range follows mem_mib, and errors carry the path.
    CHECK(
        refusal([] {
            read_vm_config({{"kernel", "/k"}, {"mem_mib", 16}, {"balloon", {{"amount_mib", 17}}}});
        }) == std::pair{FieldProblem::OutOfRange, std::string("balloon.amount_mib")});
    CHECK(refusal([] {
              read_vm_config({{"kernel", "/k"}, {"balloon", 5}});
          }) == std::pair{FieldProblem::WrongType, std::string("balloon")});
    // A 32-bit knob is not truncated: 2^32 is out of range.
    dedup::DedupConfig knobs;
    CHECK(refusal([&] {
              apply_knobs_json(knobs, {{"sleep_millisecs", 1ull << 32}});
          }) == std::pair{FieldProblem::OutOfRange, std::string("sleep_millisecs")});
    CHECK(refusal([&] {
              apply_knobs_json(knobs, {{"sleep_millisecs", 1e20}});
          }) == std::pair{FieldProblem::WrongType, std::string("sleep_millisecs")});
    CHECK(knobs.sleep_millisecs == dedup::DedupConfig{}.sleep_millisecs);
}

TEST_CASE("read and written JSON round-trip in the model's units", "[config]") {
    json body = {{"kernel", "/k.elf"},  {"mem_mib", 64},
                 {"vcpus", 2},          {"cmdline", "x=1"},
                 {"initrd", "/i"},      {"dedup_domain", "d"},
                 {"guest_cpl", 0},      {"balloon", {{"amount_mib", 8}, {"deflate_on_oom", true}}},
                 {"mem_limit_mib", 48}, {"mem_priority", 70}};
    VmConfig c = read_vm_config(body);
    CHECK(c.mem_limit_mib == 48);
    CHECK(c.mem_priority == 70);
    CHECK(c.mem_bytes == 64ull << 20);
    CHECK(c.kernel_path == "/k.elf");
    CHECK(c.initrd_path == "/i");
    REQUIRE(c.balloon);
    CHECK(c.balloon->amount_mib == 8);
    json back = to_json(c);
    CHECK(back["balloon"]["stats_polling_interval_s"] == 0);
    back["balloon"] = body["balloon"];
    CHECK(back == body);
    // null reads as the default; no initrd writes as null.
    VmConfig d = read_vm_config({{"kernel", "/k"}, {"cmdline", nullptr}, {"initrd", nullptr}});
    CHECK(d.cmdline.empty());
    CHECK(to_json(d)["initrd"].is_null());
    CHECK(to_json(d)["mem_mib"] == 32);
}

TEST_CASE("PUT and PATCH bodies of the balloon: only and required fields", "[config][balloon]") {
    BalloonConfig now{.amount_mib = 4, .stats_polling_interval_s = 1};
    BalloonConfig patched = read_balloon_config({{"amount_mib", 6}}, 32, now, "", {"amount_mib"});
    CHECK(patched.amount_mib == 6);
    CHECK(patched.stats_polling_interval_s == 1); // untouched
    CHECK(refusal([&] {
              read_balloon_config({{"amount_mib", 6}, {"deflate_on_oom", true}}, 32, now, "",
                                  {"amount_mib"});
          }) == std::pair{FieldProblem::Unknown, std::string("deflate_on_oom")});
    CHECK(refusal([&] {
              read_balloon_config({{"amount_mib", 6}}, 32, {}, "", {},
                                  {"amount_mib", "deflate_on_oom"});
          }) == std::pair{FieldProblem::Missing, std::string("deflate_on_oom")});
    CHECK(refusal([] { BalloonConfig{.stats_polling_interval_s = 86401}.validate(32ull << 20); }) ==
          std::pair{FieldProblem::OutOfRange, std::string("stats_polling_interval_s")});
}

TEST_CASE("pages_to_scan is refused while the advisor sets the scan rate", "[config][dedup]") {
    CHECK(refusal([] {
              dedup_config_from_options({"advisor_target_scan_time_s=60", "pages_to_scan=5"});
          }) == std::pair{FieldProblem::Conflict, std::string("pages_to_scan")});
    CHECK(dedup_config_from_options({"advisor_target_scan_time_s=60"}).advisor_target_scan_time_s ==
          60);
    dedup::DedupConfig c;
    c.advisor_target_scan_time_s = 60;
    CHECK(refusal([&] {
              apply_knobs_json(c, {{"pages_to_scan", 100}});
          }) == std::pair{FieldProblem::Conflict, std::string("pages_to_scan")});
    CHECK(c.pages_to_scan == dedup::DedupConfig{}.pages_to_scan); // nothing applied
    apply_knobs_json(c, {{"pages_to_scan", 100}, {"advisor_target_scan_time_s", 0}});
    CHECK(c.pages_to_scan == 100);
    CHECK(to_json(c)["pages_to_scan"] == 100);
}
