// vmm/overcommit/swap_file: the encrypted O_TMPFILE swap tier.
#include "common/error.hpp"
#include "page_mixes.hpp"
#include "vmm/overcommit/swap_file.hpp"
#include "vmm/overcommit/tier_errors.hpp"

#include <catch2/catch.hpp>

#include <linux/magic.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <future>
#include <string>
#include <vector>

using namespace foldvm;
using namespace foldvm::overcommit;
using namespace foldvm::test;

namespace {

std::string temp_dir() {
    const char* dir = std::getenv("TMPDIR");
    return dir && *dir ? dir : "/tmp";
}

SwapWriteResult write_sync(SwapFile& swap, const std::vector<PageBytes>& pages, size_t first = 0,
                           size_t count = ~size_t(0)) {
    count = std::min(count, pages.size() - first);
    std::vector<const uint8_t*> ptrs;
    for (size_t i = 0; i < count; ++i)
        ptrs.push_back(pages[first + i].data());
    std::promise<SwapWriteResult> done;
    auto fut = done.get_future();
    swap.write(ptrs, [&](SwapWriteResult r) { done.set_value(std::move(r)); });
    return fut.get();
}

// A marker that survives in the plaintext and cannot appear by chance.
PageBytes marker_page() {
    PageBytes p{};
    const std::string m = "FOLDVM-PLAINTEXT-MARKER-0123456789";
    for (size_t pos = 0; pos + m.size() <= kPageSize; pos += 512)
        std::copy(m.begin(), m.end(), p.begin() + long(pos));
    return p;
}

bool raw_slot_contains(int fd, SlotHandle slot, const std::string& needle) {
    PageBytes raw{};
    REQUIRE(::pread(fd, raw.data(), kPageSize, off_t(slot) * off_t(kPageSize)) ==
            ssize_t(kPageSize));
    return std::search(raw.begin(), raw.end(), needle.begin(), needle.end()) != raw.end();
}

// A small tmpfs on a fresh directory, unmounted and removed at scope exit.
class SmallTmpfs {
  public:
    explicit SmallTmpfs(const std::string& size) {
        path_ = temp_dir() + "/foldvm-swap-XXXXXX";
        if (!::mkdtemp(path_.data())) throw_errno("mkdtemp " + path_);
        std::string opts = "size=" + size;
        if (::mount("tmpfs", path_.c_str(), "tmpfs", 0, opts.c_str()) != 0) {
            error_ = std::string("mount tmpfs: ") + std::strerror(errno);
            ::rmdir(path_.c_str());
            return;
        }
        mounted_ = true;
    }
    ~SmallTmpfs() {
        if (mounted_) ::umount2(path_.c_str(), MNT_DETACH);
        ::rmdir(path_.c_str());
    }
    SmallTmpfs(const SmallTmpfs&) = delete;
    SmallTmpfs& operator=(const SmallTmpfs&) = delete;
    bool mounted() const { return mounted_; }
    const std::string& error() const { return error_; }
    const std::string& path() const { return path_; }

  private:
    std::string path_;
    std::string error_;
    bool mounted_ = false;
};

} // namespace

TEST_CASE("swap pages round-trip, encrypted or not", "[overcommit][swap]") {
    bool encrypt = GENERATE(true, false);
    INFO("encrypt=" << encrypt);
    SwapFile swap({.directory = temp_dir(), .encrypt = encrypt});
    CHECK(swap.encrypted() == encrypt);
    std::vector<PageBytes> pages;
    for (uint32_t i = 0; i < 100; ++i)
        pages.push_back(i % 2 ? random_page(i) : text_page(i));
    std::vector<SlotHandle> slots;
    for (size_t first = 0; first < pages.size(); first += SwapFile::kMaxCluster) {
        SwapWriteResult r = write_sync(swap, pages, first, SwapFile::kMaxCluster);
        REQUIRE(r.error == 0);
        slots.insert(slots.end(), r.slots.begin(), r.slots.end());
    }
    REQUIRE(slots.size() == pages.size());
    PageBytes out;
    for (size_t i = 0; i < pages.size(); ++i) {
        REQUIRE(slots[i] != kNoSlot);
        swap.read(slots[i], out.data());
        REQUIRE(out == pages[i]);
    }
    auto s = swap.stats();
    CHECK(s.slots_used == pages.size());
    CHECK(s.pages_written == pages.size());
    CHECK(s.bytes_written == pages.size() * kPageSize);
    CHECK(s.file_bytes == pages.size() * kPageSize);
    CHECK(s.reads == pages.size());
    CHECK(s.encrypted == encrypt);
    CHECK_FALSE(s.failed);
    CHECK_THROWS_AS(swap.read(100000, out.data()), InvalidInput);
}

TEST_CASE("dropped swap slots are reused before the file grows", "[overcommit][swap]") {
    SwapFile swap({.directory = temp_dir()});
    std::vector<PageBytes> pages;
    for (uint32_t i = 0; i < 16; ++i)
        pages.push_back(text_page(i));
    SwapWriteResult first = write_sync(swap, pages);
    REQUIRE(first.error == 0);
    std::vector<SlotHandle> freed = {first.slots[3], first.slots[4], first.slots[9]};
    for (SlotHandle s : freed)
        swap.drop(s);
    PageBytes out;
    CHECK_THROWS_AS(swap.read(first.slots[3], out.data()), InvalidInput);
    CHECK(swap.stats().slots_free == 3);

    std::vector<PageBytes> more = {random_page(1), random_page(2), random_page(3), random_page(4)};
    SwapWriteResult second = write_sync(swap, more);
    REQUIRE(second.error == 0);
    std::vector<SlotHandle> reused(second.slots.begin(), second.slots.begin() + 3);
    std::sort(reused.begin(), reused.end());
    CHECK(reused == freed);
    CHECK(second.slots[3] == 16); // only the fourth page grows the file
    auto s = swap.stats();
    CHECK(s.file_bytes == 17 * kPageSize);
    CHECK(s.slots_free == 0);
    for (size_t i = 0; i < more.size(); ++i) {
        swap.read(second.slots[i], out.data());
        CHECK(out == more[i]);
    }
    swap.read(first.slots[5], out.data());
    CHECK(out == pages[5]);
}

// Pages of `fd` in the page cache, through mincore on a mapping of it.
static size_t cached_pages(int fd) {
    struct stat st {};
    REQUIRE(::fstat(fd, &st) == 0);
    size_t pages = size_t(st.st_size) / kPageSize;
    if (!pages) return 0;
    void* map = ::mmap(nullptr, pages * kPageSize, PROT_READ, MAP_SHARED, fd, 0);
    REQUIRE(map != MAP_FAILED);
    std::vector<unsigned char> vec(pages);
    REQUIRE(::mincore(map, pages * kPageSize, vec.data()) == 0);
    ::munmap(map, pages * kPageSize);
    return size_t(std::count_if(vec.begin(), vec.end(), [](unsigned char v) { return v & 1; }));
}

TEST_CASE("swapped pages leave the page cache, written and read", "[overcommit][swap]") {
    struct statfs fs {};
    REQUIRE(::statfs(temp_dir().c_str(), &fs) == 0);
    if (fs.f_type == TMPFS_MAGIC) {
        WARN("SKIP: " << temp_dir() << " is a tmpfs, whose page cache is its storage");
        return;
    }
    // Cached slots are memory outside the RSS the governor holds to its
    // budget: swapping to them would free nothing.
    SwapFile swap({.directory = temp_dir()});
    std::vector<PageBytes> pages;
    for (uint32_t i = 0; i < 64; ++i)
        pages.push_back(random_page(i));
    std::vector<SlotHandle> slots;
    for (size_t first = 0; first < pages.size(); first += SwapFile::kMaxCluster) {
        SwapWriteResult r = write_sync(swap, pages, first, SwapFile::kMaxCluster);
        REQUIRE(r.error == 0);
        slots.insert(slots.end(), r.slots.begin(), r.slots.end());
    }
    CHECK(cached_pages(swap.fd_for_testing()) == 0);
    PageBytes out;
    for (size_t i = 0; i < pages.size(); ++i) {
        swap.read(slots[i], out.data());
        REQUIRE(out == pages[i]);
    }
    CHECK(cached_pages(swap.fd_for_testing()) == 0);
}

TEST_CASE("encryption is on by default: the file never holds the plaintext", "[overcommit][swap]") {
    PageBytes page = marker_page();
    const std::string marker = "FOLDVM-PLAINTEXT-MARKER";
    {
        SwapFile swap({.directory = temp_dir()});
        CHECK(swap.encrypted());
        SwapWriteResult r = write_sync(swap, {page});
        REQUIRE(r.error == 0);
        CHECK_FALSE(raw_slot_contains(swap.fd_for_testing(), r.slots[0], marker));
    }
    {
        SwapFile swap({.directory = temp_dir(), .encrypt = false});
        SwapWriteResult r = write_sync(swap, {page});
        REQUIRE(r.error == 0);
        CHECK(raw_slot_contains(swap.fd_for_testing(), r.slots[0], marker));
    }
}

TEST_CASE("a cluster goes out in one pwritev per run of consecutive slots", "[overcommit][swap]") {
    bool encrypt = GENERATE(true, false);
    INFO("encrypt=" << encrypt);
    SwapFile swap({.directory = temp_dir(), .encrypt = encrypt});
    std::vector<PageBytes> pages;
    for (uint32_t i = 0; i < SwapFile::kMaxCluster; ++i)
        pages.push_back(text_page(i));
    REQUIRE(write_sync(swap, pages).error == 0);
    CHECK(swap.stats().writes == 1);
    REQUIRE(write_sync(swap, pages).error == 0);
    CHECK(swap.stats().writes == 2);
    // Free two separate runs (2..5, 40..41): a 6-page cluster fills them in two writes.
    for (SlotHandle s : {2u, 3u, 4u, 5u, 40u, 41u})
        swap.drop(s);
    SwapWriteResult r = write_sync(swap, pages, 0, 6);
    REQUIRE(r.error == 0);
    CHECK(r.slots == std::vector<SlotHandle>{2, 3, 4, 5, 40, 41});
    CHECK(swap.stats().writes == 4);
    CHECK_THROWS_AS(swap.write({}, [](SwapWriteResult) {}), InvalidInput);
}

TEST_CASE("a wholly free 32-slot cluster is punched out of the file", "[overcommit][swap]") {
    SwapFile swap({.directory = temp_dir(), .encrypt = false});
    std::vector<PageBytes> pages;
    for (uint32_t i = 0; i < SwapFile::kMaxCluster; ++i)
        pages.push_back(random_page(i));
    SwapWriteResult a = write_sync(swap, pages), b = write_sync(swap, pages);
    REQUIRE((a.error == 0 && b.error == 0));
    uint64_t before = swap.stats().disk_bytes;
    for (SlotHandle s : a.slots)
        swap.drop(s);
    auto s = swap.stats();
    CHECK(s.holes_punched == 1);
    CHECK(s.disk_bytes + SwapFile::kMaxCluster * kPageSize <= before);
    PageBytes out;
    swap.read(b.slots[7], out.data());
    CHECK(out == pages[7]);
}

TEST_CASE("capacity_bytes limits the slots; pages beyond it stay with the caller",
          "[overcommit][swap]") {
    SwapFile swap({.directory = temp_dir(), .capacity_bytes = 8 * kPageSize});
    std::vector<PageBytes> pages;
    for (uint32_t i = 0; i < 10; ++i)
        pages.push_back(text_page(i));
    SwapWriteResult r = write_sync(swap, pages);
    CHECK(r.error == ENOSPC);
    CHECK(std::count(r.slots.begin(), r.slots.end(), kNoSlot) == 2);
    CHECK(r.slots[8] == kNoSlot);
    CHECK_FALSE(swap.failed()); // a policy limit, not a broken file
    auto s = swap.stats();
    CHECK(s.rejected_full == 2);
    CHECK(s.file_bytes == 8 * kPageSize);
    swap.drop(r.slots[0]);
    SwapWriteResult again = write_sync(swap, pages, 8, 1);
    CHECK(again.error == 0);
    CHECK(again.slots[0] == r.slots[0]);
    PageBytes out;
    swap.read(again.slots[0], out.data());
    CHECK(out == pages[8]);
}

TEST_CASE("ENOSPC fails the write and the file, earlier slots stay readable",
          "[overcommit][swap]") {
    SmallTmpfs fs("256k");
    if (!fs.mounted()) {
        WARN("SKIP: cannot mount a small tmpfs (" << fs.error() << ")");
        return;
    }
    SwapFile swap({.directory = fs.path()});
    std::vector<PageBytes> pages;
    for (uint32_t i = 0; i < 16; ++i)
        pages.push_back(text_page(i));
    std::vector<SlotHandle> written;
    SwapWriteResult r;
    for (int round = 0; round < 64; ++round) { // 256 KiB holds at most 64 pages
        r = write_sync(swap, pages);
        if (r.error) break;
        written.insert(written.end(), r.slots.begin(), r.slots.end());
    }
    CHECK(r.error == ENOSPC);
    REQUIRE(swap.failed());
    CHECK(swap.failure_reason() == "swap write failed: No space left on device");
    CHECK_FALSE(written.empty());
    auto s = swap.stats();
    CHECK(s.write_errors == 1);
    CHECK(s.slots_used == s.pages_written);
    uint64_t writes = s.writes;
    // Refused from now on, without touching the file.
    SwapWriteResult refused = write_sync(swap, pages, 0, 1);
    CHECK(refused.error == ENOSPC);
    CHECK(refused.slots[0] == kNoSlot);
    CHECK(swap.stats().writes == writes);
    PageBytes out;
    for (size_t i = 0; i < written.size(); ++i) {
        if (written[i] == kNoSlot) continue;
        swap.read(written[i], out.data());
        REQUIRE(out == pages[i % pages.size()]);
    }
}

TEST_CASE("a file truncated underneath gives SwapReadError, corrupted bytes CorruptPage",
          "[overcommit][swap]") {
    bool encrypt = GENERATE(true, false);
    INFO("encrypt=" << encrypt);
    std::vector<PageBytes> pages = {text_page(1), text_page(2), text_page(3)};
    {
        SwapFile swap({.directory = temp_dir(), .encrypt = encrypt});
        SwapWriteResult r = write_sync(swap, pages);
        REQUIRE(r.error == 0);
        uint8_t flip = 0x42;
        REQUIRE(::pwrite(swap.fd_for_testing(), &flip, 1,
                         off_t(r.slots[1]) * off_t(kPageSize) + 100) == 1);
        PageBytes out;
        CHECK_THROWS_AS(swap.read(r.slots[1], out.data()), CorruptPage);
        CHECK_THROWS_WITH(swap.read(r.slots[1], out.data()),
                          Catch::Contains("swap slot " + std::to_string(r.slots[1])));
        CHECK(out == PageBytes{}); // the damaged bytes are not left for the caller
        swap.read(r.slots[0], out.data());
        CHECK(out == pages[0]);

        REQUIRE(::ftruncate(swap.fd_for_testing(), 0) == 0);
        CHECK_THROWS_AS(swap.read(r.slots[2], out.data()), SwapReadError);
        CHECK_THROWS_WITH(swap.read(r.slots[2], out.data()),
                          Catch::Contains("slot " + std::to_string(r.slots[2])) &&
                              Catch::Contains("short read"));
        CHECK(swap.stats().read_errors == 4);
    }
}

TEST_CASE("a run of slots is read in one pread, and a bad page fails only itself",
          "[overcommit][swap]") {
    bool encrypt = GENERATE(true, false);
    INFO("encrypt=" << encrypt);
    SwapFile swap({.directory = temp_dir(), .encrypt = encrypt});
    std::vector<PageBytes> pages;
    for (uint32_t i = 0; i < 8; ++i)
        pages.push_back(random_page(100 + i));
    SwapWriteResult r = write_sync(swap, pages);
    REQUIRE(r.error == 0);
    for (size_t k = 1; k < pages.size(); ++k)
        REQUIRE(r.slots[k] == r.slots[0] + k);
    std::vector<PageBytes> out(pages.size());
    auto read_all = [&] { return swap.read_run(r.slots[0], pages.size(), out[0].data()); };

    auto errors = read_all();
    for (size_t k = 0; k < pages.size(); ++k) {
        CHECK_FALSE(errors[k]);
        CHECK(out[k] == pages[k]);
    }
    CHECK(swap.stats().reads == pages.size());

    uint8_t flip = 0x42;
    REQUIRE(::pwrite(swap.fd_for_testing(), &flip, 1, off_t(r.slots[3]) * off_t(kPageSize) + 7) ==
            1);
    REQUIRE(::ftruncate(swap.fd_for_testing(), off_t(r.slots[6]) * off_t(kPageSize)) == 0);
    errors = read_all();
    for (size_t k = 0; k < pages.size(); ++k) {
        INFO("page " << k);
        if (k == 3 || k >= 6) {
            REQUIRE(errors[k]);
            CHECK(out[k] == PageBytes{});
            if (k == 3)
                CHECK_THROWS_AS(std::rethrow_exception(errors[k]), CorruptPage);
            else
                CHECK_THROWS_AS(std::rethrow_exception(errors[k]), SwapReadError);
        } else {
            CHECK_FALSE(errors[k]);
            CHECK(out[k] == pages[k]);
        }
    }
    CHECK(swap.stats().read_errors == 3);
}

TEST_CASE("a missing swap directory is InvalidInput naming it", "[overcommit][swap]") {
    std::string dir = temp_dir() + "/foldvm-no-such-dir-" + std::to_string(::getpid());
    CHECK_THROWS_AS(SwapFile({.directory = dir}), InvalidInput);
    CHECK_THROWS_WITH(SwapFile({.directory = dir}),
                      Catch::Contains(dir) && Catch::Contains("No such file or directory"));
    CHECK_THROWS_AS(SwapFile({.directory = temp_dir(), .writer_threads = 3}), InvalidInput);
}

TEST_CASE("two writer threads, many clusters in flight, then the destructor drains",
          "[overcommit][swap]") {
    std::vector<PageBytes> pages;
    for (uint32_t i = 0; i < SwapFile::kMaxCluster; ++i)
        pages.push_back(random_page(i));
    std::vector<const uint8_t*> ptrs;
    for (auto& p : pages)
        ptrs.push_back(p.data());
    std::mutex m;
    std::vector<SlotHandle> all;
    int errors = 0;
    {
        SwapFile swap({.directory = temp_dir(), .writer_threads = 2});
        for (int i = 0; i < 40; ++i)
            swap.write(ptrs, [&](SwapWriteResult r) {
                std::lock_guard lock(m);
                errors += r.error != 0;
                all.insert(all.end(), r.slots.begin(), r.slots.end());
            });
        swap.flush();
        {
            std::lock_guard lock(m);
            REQUIRE(all.size() == 40 * SwapFile::kMaxCluster);
        }
        PageBytes out;
        for (size_t i = 0; i < all.size(); i += 37) {
            swap.read(all[i], out.data());
            // Slots of one cluster are consecutive, so the page index is slot % 32.
            REQUIRE(out == pages[all[i] % SwapFile::kMaxCluster]);
        }
        for (int i = 0; i < 10; ++i)
            swap.write(ptrs, [&](SwapWriteResult r) {
                std::lock_guard lock(m);
                all.insert(all.end(), r.slots.begin(), r.slots.end());
            });
    } // destructor runs the queued writes' callbacks
    CHECK(errors == 0);
    CHECK(all.size() == 50 * SwapFile::kMaxCluster);
    std::sort(all.begin(), all.end());
    CHECK(std::adjacent_find(all.begin(), all.end()) == all.end());
}
