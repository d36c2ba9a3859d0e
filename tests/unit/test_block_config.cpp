// --drive parsing, drive validation and the image file layer (no KVM needed).
#include "temp_image.hpp"

#include "common/error.hpp"
#include "vmm/devices/virtio/block_config.hpp"
#include "vmm/devices/virtio/block_image.hpp"
#include "vmm/machine/vm_config.hpp"

#include <catch2/catch.hpp>

#include <sys/stat.h>

using namespace foldvm;
using namespace foldvm::test;

TEST_CASE("--drive options parse, with Firecracker's names as aliases", "[blk][config]") {
    BlockConfig c = parse_drive_options("path=/tmp/a.img", "drive0");
    CHECK(c.path == "/tmp/a.img");
    CHECK_FALSE(c.read_only);
    CHECK(c.id == "drive0");

    c = parse_drive_options("path=/x,readonly=1,id=root_fs");
    CHECK(c.path == "/x");
    CHECK(c.read_only);
    CHECK(c.id == "root_fs");
    c = parse_drive_options("path_on_host=/y,is_read_only=true,drive_id=rootfs", "drive3");
    CHECK(c.path == "/y");
    CHECK(c.read_only);
    CHECK(c.id == "rootfs");
    CHECK_FALSE(parse_drive_options("read_only=0,path=/z").read_only);
    CHECK(parse_drive_options("path=/z,id=").id.empty()); // explicitly no serial

    CHECK_THROWS_WITH(parse_drive_options("readonly=1"), Catch::Contains("needs path=FILE"));
    CHECK_THROWS_WITH(parse_drive_options("path="), Catch::Contains("needs path=FILE"));
    CHECK_THROWS_WITH(parse_drive_options("path=/x,readonly=2"), Catch::Contains("0 or 1"));
    CHECK_THROWS_WITH(parse_drive_options("path=/x,cache=none"),
                      Catch::Contains("unknown drive option 'cache'"));
    CHECK_THROWS_WITH(parse_drive_options("path"), Catch::Contains("key=value"));
    CHECK_THROWS_WITH(parse_drive_options("path=/x,id=abcdefghijklmnopqrstu"),
                      Catch::Contains("longer than 20"));
    CHECK_THROWS_WITH(parse_drive_options("path=/x,id=a/b"), Catch::Contains("may only contain"));
}

TEST_CASE("drive images are validated: existence, size, kind", "[blk][config]") {
    TempImage good(4096), odd(4097), empty(0);
    CHECK_NOTHROW(BlockConfig{.path = good.path()}.validate());
    CHECK_NOTHROW(BlockConfig{.path = empty.path()}.validate()); // a 0-sector disk
    CHECK_THROWS_WITH(BlockConfig{.path = odd.path()}.validate(),
                      Catch::Contains("4097 bytes is not a multiple of 512"));
    CHECK_THROWS_WITH(BlockConfig{.path = good.path() + ".nope"}.validate(),
                      Catch::Contains("cannot open") && Catch::Contains("No such file"));
    CHECK_THROWS_WITH((BlockConfig{.path = "/tmp", .read_only = true}.validate()),
                      Catch::Contains("not a regular file or block device"));
    CHECK_THROWS_WITH(BlockConfig{.path = ""}.validate(), Catch::Contains("empty"));
    CHECK_THROWS_AS((BlockConfig{.path = good.path(), .id = "bad id"}.validate()), InvalidInput);
}

TEST_CASE("VmConfig checks the drive list", "[blk][config]") {
    TempImage a(4096), b(4096);
    VmConfig cfg;
    cfg.image = std::make_shared<std::vector<uint8_t>>(1, 0);
    cfg.drives = {{.path = a.path(), .id = "a"}, {.path = b.path(), .id = "b"}};
    CHECK_NOTHROW(cfg.validate());
    cfg.drives[1].id = cfg.drives[0].id;
    CHECK_THROWS_WITH(cfg.validate(), Catch::Contains("used twice"));
    cfg.drives.assign(kMaxDrives + 1, {.path = a.path(), .read_only = true});
    CHECK_THROWS_WITH(cfg.validate(), Catch::Contains("at most"));
    cfg.drives = {{.path = a.path() + ".gone"}};
    CHECK_THROWS_AS(cfg.validate(), InvalidInput);
}

TEST_CASE("image reads and writes are whole or report how far they got", "[blk][config]") {
    TempImage file(8192);
    BlockImage img(file.path(), false);
    CHECK(img.size() == 8192);
    std::vector<uint8_t> a(1000, 0x11), b(3096, 0x22), out(4096);
    iovec w[] = {{a.data(), a.size()}, {nullptr, 0}, {b.data(), b.size()}};
    CHECK(img.write(w, 4096) == 4096);
    iovec r[] = {{out.data(), 10}, {out.data() + 10, 4086}};
    CHECK(img.read(r, 4096) == 4096);
    CHECK(std::equal(a.begin(), a.end(), out.begin()));
    CHECK(std::equal(b.begin(), b.end(), out.begin() + 1000));
    CHECK(img.flush());
    // The file shrank underneath: a read stops at its end.
    file.truncate(6144);
    CHECK(img.read(r, 4096) == 2048);
}

TEST_CASE("images are locked: one writer, or any number of readers", "[blk][config]") {
    TempImage file(4096);
    {
        BlockImage rw(file.path(), false);
        CHECK_THROWS_WITH(BlockImage(file.path(), false), Catch::Contains("in use by another"));
        CHECK_THROWS_WITH(BlockImage(file.path(), true), Catch::Contains("in use by a writable"));
    }
    BlockImage r1(file.path(), true), r2(file.path(), true);
    CHECK_THROWS_WITH(BlockImage(file.path(), false), Catch::Contains("in use"));
    std::vector<uint8_t> data(512, 1);
    iovec w[] = {{data.data(), data.size()}};
    CHECK(r1.write(w, 0) == 0); // read-only images take no writes
    CHECK(file.read(0, 512) != data);
}
