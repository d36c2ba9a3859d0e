// The swap tier: evicted pages in 4 KiB slots of an unnamed (O_TMPFILE) file,
// which vanishes with the process.
//
// Pages are encrypted by default (XChaCha20-Poly1305, a random key per file,
// wiped on destruction), because guest memory must not outlive the VM on the
// host's disk (the data remanence Firecracker's production guide warns of).
// The tag also detects corruption; unencrypted slots keep an xxh3 checksum.
//
// Writes are asynchronous, in clusters of up to 32 pages, on a small pool of
// std::threads: each cluster gets the lowest free slots (freed slots first,
// then the file grows) and each run of consecutive slots is one pwritev.
// A thread pool rather than io_uring: writes are off the fault path, and the
// pool has no kernel-version or resource-limit failure modes to handle.
// Reads are synchronous pread + decrypt: they are on the fault path, and a
// run of consecutive slots (a fault-around block) is one I/O.
#pragma once

#include "common/unique_fd.hpp"

#include <array>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <vector>

namespace foldvm::overcommit {

struct SwapFileOptions {
    std::string directory = "/var/tmp"; // must support O_TMPFILE
    uint64_t capacity_bytes = 0;        // 0 = unlimited
    bool encrypt = true;
    unsigned writer_threads = 1; // 1..2
};

using SlotHandle = uint32_t;
constexpr SlotHandle kNoSlot = ~0u;

struct SwapWriteResult {
    // One per page of the cluster; kNoSlot where the page was not written
    // (the caller keeps that page in memory).
    std::vector<SlotHandle> slots;
    // 0 when every page was written; else the errno of the first failure:
    // ENOSPC also for capacity_bytes reached, which does not fail the file.
    int error = 0;
};

struct SwapFileStats {
    uint64_t slots_used = 0;
    uint64_t slots_free = 0;    // inside the file, reusable
    uint64_t file_bytes = 0;    // slots the file has room for, times 4 KiB
    uint64_t disk_bytes = 0;    // blocks the file really uses (holes are free)
    uint64_t bytes_written = 0; // every write, counted once per byte written
    uint64_t writes = 0;        // pwritev calls
    uint64_t pages_written = 0;
    uint64_t write_errors = 0;
    uint64_t rejected_full = 0; // pages refused by capacity_bytes
    uint64_t reads = 0;
    uint64_t read_errors = 0; // I/O errors and failed verification
    uint64_t holes_punched = 0;
    bool failed = false;
    std::string failure_reason;
    bool encrypted = false;
};

class SwapFile {
  public:
    static constexpr size_t kMaxCluster = 32;
    // Runs on a SwapFile worker thread, never inside write(); must not throw.
    using WriteDone = std::function<void(SwapWriteResult)>;

    // Throws InvalidInput naming the directory when it is missing or cannot
    // hold an O_TMPFILE file.
    explicit SwapFile(SwapFileOptions options);
    // Finishes the queued writes (their callbacks run), then wipes the key.
    ~SwapFile();
    SwapFile(const SwapFile&) = delete;
    SwapFile& operator=(const SwapFile&) = delete;

    // Queues up to kMaxCluster pages. Their memory must stay valid and
    // unchanged until `done` runs. After a write error the file is failed()
    // and every later write completes with that error and no slots.
    void write(std::span<const uint8_t* const> pages, WriteDone done);
    // Waits until every queued write has completed.
    void flush();

    // Fills `page` (4 KiB). Throws SwapReadError on an I/O error or short
    // read, CorruptPage when the tag or checksum does not verify,
    // InvalidInput for a slot not written.
    void read(SlotHandle slot, uint8_t* page) const;
    // Fills `count` pages at `pages` from slots first..first+count-1 with one
    // pread. Returns, per page, null or the error read() would have thrown
    // for it (that page then reads as zeros).
    std::vector<std::exception_ptr> read_run(SlotHandle first, size_t count, uint8_t* pages) const;
    // Frees the slot for reuse; punches a hole once its 32-slot cluster is free.
    void drop(SlotHandle slot);

    bool failed() const;
    std::string failure_reason() const;
    SwapFileStats stats() const;
    bool encrypted() const { return options_.encrypt; }

    // Fault injection: tests truncate or overwrite the file underneath.
    int fd_for_testing() const { return fd_.get(); }

  private:
    struct Job {
        std::vector<const uint8_t*> pages;
        WriteDone done;
    };
    enum class SlotState : uint8_t { Free, Writing, Used };
    struct Slot {
        SlotState state = SlotState::Free;
        uint64_t generation = 0; // nonce part (encrypted) or xxh3 checksum (plain)
        std::array<uint8_t, 16> tag{};
    };
    struct Run {
        SlotHandle first;
        size_t first_page;
        size_t count;
    };

    void worker();
    void verify(SlotHandle slot, const Slot& meta, uint8_t* page) const;
    SwapWriteResult write_cluster(const std::vector<const uint8_t*>& pages, uint8_t* cipher_buf);
    // The lowest free slots for `n` pages (fewer when capacity is reached),
    // as runs of consecutive slots.
    std::vector<Run> allocate_locked(size_t n);
    void release_locked(SlotHandle first, size_t count);
    void fail_locked(int err);
    void maybe_punch_hole_locked(SlotHandle slot);

    const SwapFileOptions options_;
    UniqueFd fd_;
    std::array<uint8_t, 32> key_{};
    uint64_t max_slots_ = 0; // 0 = unlimited

    mutable std::mutex mutex_;
    std::condition_variable work_cv_;
    std::condition_variable idle_cv_;
    std::deque<Job> queue_;
    size_t in_flight_ = 0;
    bool stopping_ = false;
    std::vector<Slot> slots_; // the file's slots; size() * 4 KiB = file high-water mark
    std::set<SlotHandle> free_slots_;
    uint64_t next_generation_ = 1;
    int failure_errno_ = 0;
    std::string failure_reason_;
    SwapFileStats counters_;
    mutable std::atomic<uint64_t> reads_{0};
    mutable std::atomic<uint64_t> read_errors_{0};

    std::vector<std::thread> workers_; // last: started after everything above exists
};

} // namespace foldvm::overcommit
