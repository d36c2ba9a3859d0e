#include "swap_file.hpp"

#include "common/error.hpp"
#include "common/mapping.hpp"
#include "common/page.hpp"
#include "tier_errors.hpp"

#include <fcntl.h>
#include <sodium.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <xxhash.h>

#include <cstdio>
#include <cstring>

namespace foldvm::overcommit {

namespace {

using Nonce = std::array<uint8_t, crypto_aead_xchacha20poly1305_ietf_NPUBBYTES>;

// Unique per write: the generation never repeats under one key; the slot
// number makes a block copied to another slot fail to authenticate.
Nonce make_nonce(SlotHandle slot, uint64_t generation) {
    Nonce n{};
    std::memcpy(n.data(), &generation, sizeof generation);
    std::memcpy(n.data() + sizeof generation, &slot, sizeof slot);
    return n;
}

off_t slot_offset(SlotHandle slot) {
    return off_t(slot) * off_t(kPageSize);
}

std::string slot_name(SlotHandle slot) {
    return "swap slot " + std::to_string(slot);
}

// Writes all of `iov` at `offset`, continuing after short writes. Returns 0
// or the errno that stopped it (EIO when the kernel wrote nothing).
int write_fully(int fd, iovec* iov, int iovcnt, off_t offset, uint64_t& syscalls, uint64_t& bytes) {
    while (iovcnt > 0) {
        ssize_t n = ::pwritev(fd, iov, iovcnt, offset);
        ++syscalls;
        if (n < 0) {
            if (errno == EINTR) continue;
            return errno;
        }
        if (n == 0) return EIO;
        bytes += uint64_t(n);
        offset += n;
        while (iovcnt > 0 && size_t(n) >= iov->iov_len) {
            n -= ssize_t(iov->iov_len);
            ++iov;
            --iovcnt;
        }
        if (iovcnt > 0) {
            iov->iov_base = static_cast<uint8_t*>(iov->iov_base) + n;
            iov->iov_len -= size_t(n);
        }
    }
    return 0;
}

// Written slots would otherwise stay in the page cache: memory charged to
// this process's cgroup, yet outside the RSS the governor holds to the
// budget, so evicting to swap would free nothing until the kernel reclaimed
// it. Write them back (off the fault path: this is a writer thread) and drop
// them. Returns 0 or the errno of a failed writeback, which is a failed
// write: the pages stay in memory.
int drop_from_page_cache(int fd, off_t offset, size_t len) {
    if (::sync_file_range(fd, offset, off_t(len),
                          SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                              SYNC_FILE_RANGE_WAIT_AFTER) != 0 &&
        errno != ESPIPE && errno != EINVAL)
        return errno;
    ::posix_fadvise(fd, offset, off_t(len), POSIX_FADV_DONTNEED);
    return 0;
}

} // namespace

SwapFile::SwapFile(SwapFileOptions options) : options_(std::move(options)) {
    if (options_.writer_threads < 1 || options_.writer_threads > 2)
        throw InvalidInput("swap writer_threads must be 1 or 2, not " +
                           std::to_string(options_.writer_threads));
    if (options_.capacity_bytes && options_.capacity_bytes < kPageSize)
        throw InvalidInput("swap capacity_bytes " + std::to_string(options_.capacity_bytes) +
                           " is less than one page");
    max_slots_ = options_.capacity_bytes / kPageSize;
    if (sodium_init() < 0) throw std::runtime_error("libsodium initialisation failed");

    fd_.reset(::open(options_.directory.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600));
    if (!fd_) {
        int err = errno;
        std::string why = std::strerror(err);
        if (err == EOPNOTSUPP || err == EISDIR) why += " (no O_TMPFILE support there)";
        throw InvalidInput("swap directory '" + options_.directory + "': " + why);
    }
    // Reads are single slots at random: readahead would only fill the
    // page cache with slots nobody asked for.
    ::posix_fadvise(fd_.get(), 0, 0, POSIX_FADV_RANDOM);
    if (options_.encrypt) crypto_aead_xchacha20poly1305_ietf_keygen(key_.data());
    counters_.encrypted = options_.encrypt;
    for (unsigned i = 0; i < options_.writer_threads; ++i)
        workers_.emplace_back([this] { worker(); });
}

SwapFile::~SwapFile() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    work_cv_.notify_all();
    for (std::thread& t : workers_)
        t.join();
    sodium_memzero(key_.data(), key_.size());
}

void SwapFile::write(std::span<const uint8_t* const> pages, WriteDone done) {
    if (pages.empty() || pages.size() > kMaxCluster)
        throw InvalidInput("swap cluster of " + std::to_string(pages.size()) + " pages (1.." +
                           std::to_string(kMaxCluster) + " allowed)");
    {
        std::lock_guard lock(mutex_);
        queue_.push_back({{pages.begin(), pages.end()}, std::move(done)});
    }
    work_cv_.notify_one();
}

void SwapFile::flush() {
    std::unique_lock lock(mutex_);
    idle_cv_.wait(lock, [&] { return queue_.empty() && in_flight_ == 0; });
}

void SwapFile::worker() {
    // Ciphertext of one cluster: pages are encrypted here, off the caller's thread.
    Mapping cipher = options_.encrypt ? Mapping::anonymous(kMaxCluster * kPageSize) : Mapping();
    std::unique_lock lock(mutex_);
    for (;;) {
        work_cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
        if (queue_.empty()) return; // stopping, and every queued write is done
        Job job = std::move(queue_.front());
        queue_.pop_front();
        ++in_flight_;
        lock.unlock();
        SwapWriteResult result = write_cluster(job.pages, cipher.bytes());
        job.done(std::move(result));
        lock.lock();
        if (--in_flight_ == 0 && queue_.empty()) idle_cv_.notify_all();
    }
}

SwapWriteResult SwapFile::write_cluster(const std::vector<const uint8_t*>& pages,
                                        uint8_t* cipher_buf) {
    const size_t n = pages.size();
    SwapWriteResult result{std::vector<SlotHandle>(n, kNoSlot), 0};
    std::vector<Run> runs;
    std::vector<uint64_t> generations(n);
    {
        std::lock_guard lock(mutex_);
        if (failure_errno_) {
            result.error = failure_errno_;
            return result;
        }
        runs = allocate_locked(n);
        size_t placed = 0;
        for (const Run& r : runs)
            placed += r.count;
        if (placed < n) {
            counters_.rejected_full += n - placed;
            result.error = ENOSPC;
        }
        for (size_t i = 0; i < placed; ++i)
            generations[i] = next_generation_++;
    }

    std::vector<std::array<uint8_t, 16>> tags(n);
    std::array<iovec, kMaxCluster> iov;
    uint64_t syscalls = 0, bytes = 0;
    int err = 0;
    size_t runs_done = 0;
    for (const Run& r : runs) {
        for (size_t k = 0; k < r.count; ++k) {
            size_t i = r.first_page + k;
            SlotHandle slot = r.first + SlotHandle(k);
            if (options_.encrypt) {
                uint8_t* out = cipher_buf + i * kPageSize;
                Nonce nonce = make_nonce(slot, generations[i]);
                crypto_aead_xchacha20poly1305_ietf_encrypt_detached(
                    out, tags[i].data(), nullptr, pages[i], kPageSize, nullptr, 0, nullptr,
                    nonce.data(), key_.data());
                iov[k] = {out, kPageSize};
            } else {
                generations[i] = XXH3_64bits(pages[i], kPageSize);
                iov[k] = {const_cast<uint8_t*>(pages[i]), kPageSize};
            }
        }
        err =
            write_fully(fd_.get(), iov.data(), int(r.count), slot_offset(r.first), syscalls, bytes);
        if (err) break;
        err = drop_from_page_cache(fd_.get(), slot_offset(r.first), r.count * kPageSize);
        if (err) break;
        ++runs_done;
    }

    std::lock_guard lock(mutex_);
    counters_.writes += syscalls;
    counters_.bytes_written += bytes;
    for (size_t ri = 0; ri < runs.size(); ++ri) {
        const Run& r = runs[ri];
        if (ri >= runs_done) { // failed, or not tried after a failure
            release_locked(r.first, r.count);
            continue;
        }
        for (size_t k = 0; k < r.count; ++k) {
            size_t i = r.first_page + k;
            Slot& s = slots_[r.first + k];
            s.state = SlotState::Used;
            s.generation = generations[i];
            s.tag = tags[i];
            result.slots[i] = r.first + SlotHandle(k);
        }
        counters_.pages_written += r.count;
        counters_.slots_used += r.count;
    }
    if (err) {
        ++counters_.write_errors;
        fail_locked(err);
        result.error = err;
    }
    return result;
}

std::vector<SwapFile::Run> SwapFile::allocate_locked(size_t n) {
    std::vector<Run> runs;
    auto take = [&](SlotHandle slot, size_t page) {
        if (!runs.empty() && runs.back().first + runs.back().count == slot)
            ++runs.back().count;
        else
            runs.push_back({slot, page, 1});
        slots_[slot].state = SlotState::Writing;
    };
    size_t page = 0;
    // Freed slots first, lowest first, so neighbours freed together are
    // written together again.
    while (page < n && !free_slots_.empty()) {
        take(*free_slots_.begin(), page++);
        free_slots_.erase(free_slots_.begin());
    }
    while (page < n && (max_slots_ == 0 || slots_.size() < max_slots_)) {
        slots_.emplace_back();
        take(SlotHandle(slots_.size() - 1), page++);
    }
    return runs;
}

void SwapFile::release_locked(SlotHandle first, size_t count) {
    for (size_t k = 0; k < count; ++k) {
        slots_[first + k].state = SlotState::Free;
        free_slots_.insert(first + SlotHandle(k));
    }
}

void SwapFile::fail_locked(int err) {
    if (failure_errno_) return;
    failure_errno_ = err;
    failure_reason_ = std::string("swap write failed: ") + std::strerror(err);
}

void SwapFile::read(SlotHandle slot, uint8_t* page) const {
    std::exception_ptr err = read_run(slot, 1, page).front();
    if (err) std::rethrow_exception(err);
}

std::vector<std::exception_ptr> SwapFile::read_run(SlotHandle first, size_t count,
                                                   uint8_t* pages) const {
    std::vector<std::exception_ptr> errors(count);
    std::vector<Slot> meta(count);
    {
        std::lock_guard lock(mutex_);
        for (size_t k = 0; k < count; ++k) {
            SlotHandle slot = first + SlotHandle(k);
            if (slot >= slots_.size() || slots_[slot].state != SlotState::Used)
                errors[k] =
                    std::make_exception_ptr(InvalidInput(slot_name(slot) + " is not written"));
            else
                meta[k] = slots_[slot];
        }
    }
    reads_.fetch_add(count, std::memory_order_relaxed);
    const size_t len = count * kPageSize;
    const off_t offset = slot_offset(first);
    size_t got = 0;
    while (got < len) {
        ssize_t n = ::pread(fd_.get(), pages + got, len - got, offset + off_t(got));
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int err = n < 0 ? errno : EIO;
            std::memset(pages + got, 0, len - got);
            // Pages read in full before the failure are still good.
            for (size_t k = got / kPageSize; k < count; ++k) {
                if (errors[k]) continue;
                read_errors_.fetch_add(1, std::memory_order_relaxed);
                SlotHandle slot = first + SlotHandle(k);
                std::string what =
                    "read " + slot_name(slot) + " at offset " + std::to_string(slot_offset(slot));
                if (n == 0)
                    what += ": short read (" +
                            std::to_string(got > k * kPageSize ? got - k * kPageSize : 0) + " of " +
                            std::to_string(kPageSize) + " bytes, file truncated?)";
                errors[k] = std::make_exception_ptr(SwapReadError(what, err));
            }
            break;
        }
        got += size_t(n);
    }
    ::posix_fadvise(fd_.get(), offset, off_t(len), POSIX_FADV_DONTNEED);
    for (size_t k = 0; k < count; ++k) {
        uint8_t* page = pages + k * kPageSize;
        if (errors[k]) {
            std::memset(page, 0, kPageSize);
            continue;
        }
        try {
            verify(first + SlotHandle(k), meta[k], page);
        } catch (...) {
            read_errors_.fetch_add(1, std::memory_order_relaxed);
            std::memset(page, 0, kPageSize);
            errors[k] = std::current_exception();
        }
    }
    return errors;
}

void SwapFile::verify(SlotHandle slot, const Slot& meta, uint8_t* page) const {
    if (options_.encrypt) {
        Nonce nonce = make_nonce(slot, meta.generation);
        if (crypto_aead_xchacha20poly1305_ietf_decrypt_detached(page, nullptr, page, kPageSize,
                                                                meta.tag.data(), nullptr, 0,
                                                                nonce.data(), key_.data()) != 0)
            throw CorruptPage(slot_name(slot) + ": authentication tag does not verify");
        return;
    }
    uint64_t actual = XXH3_64bits(page, kPageSize);
    if (actual != meta.generation)
        throw checksum_mismatch(slot_name(slot), meta.generation, actual);
}

void SwapFile::drop(SlotHandle slot) {
    std::lock_guard lock(mutex_);
    if (slot >= slots_.size() || slots_[slot].state != SlotState::Used)
        throw InvalidInput(slot_name(slot) + " is not written");
    slots_[slot] = Slot{};
    free_slots_.insert(slot);
    --counters_.slots_used;
    maybe_punch_hole_locked(slot);
}

void SwapFile::maybe_punch_hole_locked(SlotHandle slot) {
    SlotHandle first = slot - slot % kMaxCluster;
    if (first + kMaxCluster > slots_.size()) return;
    for (SlotHandle s = first; s < first + kMaxCluster; ++s)
        if (slots_[s].state != SlotState::Free) return;
    // Under the lock, so no write can take these slots before the hole is made.
    if (::fallocate(fd_.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, slot_offset(first),
                    off_t(kMaxCluster * kPageSize)) == 0)
        ++counters_.holes_punched;
}

bool SwapFile::failed() const {
    std::lock_guard lock(mutex_);
    return failure_errno_ != 0;
}

std::string SwapFile::failure_reason() const {
    std::lock_guard lock(mutex_);
    return failure_reason_;
}

SwapFileStats SwapFile::stats() const {
    std::lock_guard lock(mutex_);
    SwapFileStats s = counters_;
    s.slots_free = free_slots_.size();
    s.file_bytes = slots_.size() * kPageSize;
    struct stat st {};
    if (::fstat(fd_.get(), &st) == 0) s.disk_bytes = uint64_t(st.st_blocks) * 512;
    s.reads = reads_.load(std::memory_order_relaxed);
    s.read_errors = read_errors_.load(std::memory_order_relaxed);
    s.failed = failure_errno_ != 0;
    s.failure_reason = failure_reason_;
    return s;
}

} // namespace foldvm::overcommit
