#include "common/error.hpp"
#include "vmm/devices/mmio_layout.hpp"
#include "vmm/devices/virtio/balloon_config.hpp"

#include <catch2/catch.hpp>

using namespace foldvm;

TEST_CASE("--balloon options parse with Firecracker's meanings", "[balloon][config]") {
    BalloonConfig c = parse_balloon_options("");
    CHECK(c.amount_mib == 0);
    CHECK_FALSE(c.deflate_on_oom);
    CHECK(c.stats_polling_interval_s == 0);
    CHECK_FALSE(c.free_page_reporting);

    c = parse_balloon_options(
        "target_mib=96,deflate_on_oom=1,stats_polling_interval_s=5,free_page_reporting=true");
    CHECK(c.amount_mib == 96);
    CHECK(c.deflate_on_oom);
    CHECK(c.stats_polling_interval_s == 5);
    CHECK(c.free_page_reporting);
    CHECK(parse_balloon_options("amount_mib=7").amount_mib == 7);

    CHECK_THROWS_WITH(parse_balloon_options("target_mib=-1"), Catch::Contains("number"));
    CHECK_THROWS_WITH(parse_balloon_options("target_mib=12x"), Catch::Contains("number"));
    CHECK_THROWS_WITH(parse_balloon_options("deflate_on_oom=2"), Catch::Contains("0 or 1"));
    CHECK_THROWS_WITH(parse_balloon_options("bogus=1"), Catch::Contains("unknown balloon option"));
    CHECK_THROWS_WITH(parse_balloon_options("target_mib"), Catch::Contains("key=value"));
    CHECK_THROWS_AS(parse_balloon_options("stats_polling_interval_s=99999999"), InvalidInput);

    CHECK_NOTHROW(BalloonConfig{.amount_mib = 64}.validate(64ull << 20));
    CHECK_THROWS_WITH(BalloonConfig{.amount_mib = 65}.validate(64ull << 20),
                      Catch::Contains("exceeds guest memory"));
}

TEST_CASE("the device window sits at 0xd0000000 or right after RAM", "[balloon][layout]") {
    CHECK(mmio_window_base(32ull << 20) == 0xd0000000ull);
    CHECK(mmio_window_base(0xd0000000ull) == 0xd0000000ull);
    CHECK(mmio_window_base(4ull << 30) == 4ull << 30);
    CHECK(mmio_window_base((4ull << 30) + 4096) == (4ull << 30) + (2ull << 20));
    CHECK(mmio_slot_base(32ull << 20, 2) == 0xd0002000ull);
    CHECK(mmio_window_fits(63ull << 30));
    CHECK_FALSE(mmio_window_fits(64ull << 30));
}
