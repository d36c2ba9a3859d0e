#include "pager.hpp"

#include "tier_errors.hpp"

#include "common/error.hpp"
#include "common/linux_compat.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace foldvm::overcommit {

namespace {

const uint8_t kZeroPage[kPageSize] = {};

bool is_zero_page(const uint8_t* p) {
    const uint64_t* w = reinterpret_cast<const uint64_t*>(p);
    uint64_t acc = 0;
    for (size_t i = 0; i < kPageSize / 8; i += 8)
        acc |= w[i] | w[i + 1] | w[i + 2] | w[i + 3] | w[i + 4] | w[i + 5] | w[i + 6] | w[i + 7];
    return acc == 0;
}

uint64_t ns_since(std::chrono::steady_clock::time_point t0) {
    return static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0)
            .count());
}

} // namespace

Pager::Pager(GuestMemory& memory, PagerOptions options)
    : memory_(memory), options_(std::move(options)), uffd_([&]() -> Userfaultfd& {
          if (!memory.userfaultfd())
              throw SystemError("guest RAM has no userfaultfd for the pager", ENOSYS);
          return *memory.userfaultfd();
      }()),
      base_(memory.host_base()), pages_(memory.size() / kPageSize), entries_(pages_),
      last_access_s_(pages_, 0), evicted_at_s_(pages_, 0),
      scratch_(std::max<uint32_t>(options_.fault_around_pages, 1) * kPageSize) {}

Pager::~Pager() {
    // Swap writes in flight call back into this pager: finish them first.
    if (options_.swap) options_.swap->flush();
}

int Pager::uffd_fd() const {
    return uffd_.fd();
}

uint32_t Pager::now_s() const {
    return static_cast<uint32_t>(
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - start_)
            .count());
}

void Pager::enable_missing_faults() {
    if (missing_on_.load(std::memory_order_acquire)) return;
    // Only now: until a VM first gives a page up, none of its faults goes
    // through userfaultfd (an idle pager costs nothing).
    uffd_.add_missing_mode(base_, pages_ * kPageSize);
    missing_on_.store(true, std::memory_order_release);
}

void Pager::set_absent(size_t i, bool absent) {
    auto* bits = memory_.absent_bitmap();
    uint64_t bit = 1ull << (i % 64);
    if (absent)
        bits[i / 64].fetch_or(bit, std::memory_order_acq_rel);
    else
        bits[i / 64].fetch_and(~bit, std::memory_order_acq_rel);
}

size_t Pager::evict(size_t first, size_t count, std::chrono::seconds min_idle,
                    ShareFirst share_first) {
    if (first >= pages_ || failed_.load()) return 0;
    count = std::min(count, pages_ - first);
    std::lock_guard evict_lock(evict_mutex_);
    enable_missing_faults();
    size_t evicted = 0;
    auto run = [&](size_t f, size_t n) {
        // Runs of at most 64 pages: the write-protect window stays short.
        for (size_t k = 0; k < n; k += 64)
            evict_run(f + k, std::min<size_t>(64, n - k), min_idle, evicted);
    };
    if (options_.evictable)
        options_.evictable(first, count, min_idle, share_first, run);
    else
        run(first, count);
    return evicted;
}

void Pager::evict_run(size_t first, size_t count, std::chrono::seconds min_idle, size_t& evicted) {
    uint32_t now = now_s();
    uint32_t idle = static_cast<uint32_t>(min_idle.count());
    std::array<unsigned char, 64> present{};
    std::vector<size_t> picks;
    {
        std::lock_guard lock(mutex_);
        for (size_t i = first; i < first + count; ++i)
            if (entries_[i].where == Where::Resident && now - last_access_s_[i] >= idle)
                picks.push_back(i);
    }
    if (picks.empty()) return;
    uint8_t* run_addr = base_ + first * kPageSize;
    // Pages never touched (or given back) hold no memory: leave them.
    if (::mincore(run_addr, count * kPageSize, present.data()) != 0) return;
    std::erase_if(picks, [&](size_t i) { return !(present[i - first] & 1); });
    if (picks.empty()) return;

    // Freeze writers, copy out, then drop: a write can never land between
    // the copy and the drop. The copies happen without mutex_: should a page
    // vanish meanwhile (a balloon discard), the copy faults and the handler,
    // which needs mutex_, serves it.
    uffd_.write_protect(run_addr, count * kPageSize, true);
    struct Copy {
        size_t page;
        bool zero;
        std::vector<uint8_t> bytes;
    };
    std::vector<Copy> copies;
    copies.reserve(picks.size());
    for (size_t i : picks) {
        const uint8_t* src = base_ + i * kPageSize;
        if (is_zero_page(src)) {
            copies.push_back({i, true, {}});
        } else {
            copies.push_back({i, false, std::vector<uint8_t>(src, src + kPageSize)});
        }
    }
    {
        std::lock_guard lock(mutex_);
        uint16_t batch = ++batch_;
        for (Copy& c : copies) {
            Entry& e = entries_[c.page];
            if (e.where != Where::Resident) continue; // cannot happen: evict_mutex_
            e.batch = batch;
            if (c.zero) {
                e.where = Where::Zero;
                ++counters_.zero_pages;
                ++counters_.evicted_zero;
            } else {
                uint32_t id = next_staged_++;
                staged_.emplace(id, Staged{std::move(c.bytes), c.page, false});
                e.where = Where::Staged;
                e.handle = id;
                ++counters_.staged_pages;
            }
            evicted_at_s_[c.page] = now;
            set_absent(c.page, true);
            ++evicted;
        }
        // Drop them while mutex_ is held: a fault on them waits for the
        // entries above.
        for (size_t k = 0; k < copies.size();) {
            size_t j = k + 1;
            while (j < copies.size() && copies[j].page == copies[j - 1].page + 1)
                ++j;
            ::madvise(base_ + copies[k].page * kPageSize, (j - k) * kPageSize, MADV_DONTNEED);
            k = j;
        }
    }
    uffd_.write_protect(run_addr, count * kPageSize, false);
}

size_t Pager::settle_staged() {
    struct Job {
        uint32_t id;
        size_t page;
        std::vector<uint8_t> bytes;
    };
    std::vector<Job> jobs;
    {
        std::lock_guard lock(mutex_);
        // Oldest first (ids grow with each eviction); only staged copies are
        // looked at, not every page of the VM.
        for (auto& [id, s] : staged_) {
            if (jobs.size() >= 512) break;
            const Entry& e = entries_[s.page];
            if (s.swapping || e.where != Where::Staged || e.handle != id) continue;
            jobs.push_back({id, s.page, s.bytes});
        }
    }
    size_t settled = 0;
    std::vector<size_t> to_swap_pages;
    std::vector<uint32_t> to_swap_ids;
    for (Job& j : jobs) {
        PutResult put;
        if (options_.compressed)
            put = options_.compressed->put(j.bytes.data());
        else
            put.status = PutStatus::Full;
        std::lock_guard lock(mutex_);
        Entry& e = entries_[j.page];
        bool still = e.where == Where::Staged && e.handle == j.id;
        if (put.status == PutStatus::Stored) {
            if (!still) {
                options_.compressed->drop(put.handle);
                continue;
            }
            staged_.erase(j.id);
            e.where = Where::Compressed;
            e.handle = put.handle;
            compressed_order_.push_back(
                {static_cast<uint32_t>(j.page), put.handle, evicted_at_s_[j.page]});
            // Faults and discards leave stale entries behind: compact once
            // they are most of the queue.
            if (compressed_order_.size() > 2 * counters_.compressed_pages + 4096)
                std::erase_if(compressed_order_,
                              [&](const CompressedAt& c) { return !in_tier_locked(c); });
            --counters_.staged_pages;
            ++counters_.compressed_pages;
            ++counters_.evicted_compressed;
            ++settled;
        } else if (still && swap_usable_locked()) {
            staged_.at(j.id).swapping = true;
            to_swap_pages.push_back(j.page);
            to_swap_ids.push_back(j.id);
        }
        // Otherwise it stays staged (in memory, served from its copy) until a
        // tier has room: nothing is lost.
    }
    write_to_swap(to_swap_pages, to_swap_ids, false);
    return settled + to_swap_pages.size();
}

void Pager::write_to_swap(const std::vector<size_t>& pages, const std::vector<uint32_t>& ids,
                          bool demoted) {
    for (size_t k = 0; k < pages.size(); k += SwapFile::kMaxCluster) {
        size_t n = std::min<size_t>(SwapFile::kMaxCluster, pages.size() - k);
        std::vector<size_t> pg(pages.begin() + k, pages.begin() + k + n);
        std::vector<uint32_t> cluster(ids.begin() + k, ids.begin() + k + n);
        std::vector<const uint8_t*> ptrs;
        {
            std::lock_guard lock(mutex_);
            // Staged records being swapped are never erased before swap_done.
            for (uint32_t id : cluster)
                ptrs.push_back(staged_.at(id).bytes.data());
        }
        options_.swap->write(ptrs, [this, pg, cluster, demoted](SwapWriteResult r) {
            swap_done(pg, cluster, std::move(r), demoted);
        });
    }
}

size_t Pager::demote_compressed(size_t max_pages) {
    std::vector<size_t> pages;
    std::vector<uint32_t> ids;
    {
        std::lock_guard lock(mutex_);
        if (!options_.compressed || !swap_usable_locked()) return 0;
        while (pages.size() < max_pages && !compressed_order_.empty()) {
            CompressedAt c = compressed_order_.front();
            compressed_order_.pop_front();
            Entry& e = entries_[c.page];
            if (!in_tier_locked(c)) continue;
            Staged s{std::vector<uint8_t>(kPageSize), c.page, true};
            try {
                options_.compressed->get(c.handle, s.bytes.data());
            } catch (const std::exception&) {
                continue; // left in place: its fault reports the damage and stops the VM
            }
            options_.compressed->drop(c.handle);
            uint32_t id = next_staged_++;
            staged_.emplace(id, std::move(s));
            e.where = Where::Staged;
            e.handle = id;
            --counters_.compressed_pages;
            ++counters_.staged_pages;
            pages.push_back(c.page);
            ids.push_back(id);
        }
    }
    write_to_swap(pages, ids, true);
    return pages.size();
}

bool Pager::in_tier_locked(const CompressedAt& c) const {
    const Entry& e = entries_[c.page];
    return e.where == Where::Compressed && e.handle == c.handle &&
           evicted_at_s_[c.page] == c.evicted_at_s;
}

std::optional<std::chrono::steady_clock::time_point> Pager::oldest_compressed() {
    std::lock_guard lock(mutex_);
    while (!compressed_order_.empty()) {
        const CompressedAt& c = compressed_order_.front();
        if (in_tier_locked(c)) return start_ + std::chrono::seconds(c.evicted_at_s);
        compressed_order_.pop_front();
    }
    return std::nullopt;
}

void Pager::swap_done(std::vector<size_t> pages, std::vector<uint32_t> ids, SwapWriteResult result,
                      bool demoted) {
    std::lock_guard lock(mutex_);
    if (result.error) {
        ++counters_.swap_write_errors;
        if (tier_failure_.empty())
            tier_failure_ = std::string("swap write failed: ") + std::strerror(result.error);
    }
    for (size_t k = 0; k < pages.size(); ++k) {
        size_t i = pages[k];
        Entry& e = entries_[i];
        SlotHandle slot = k < result.slots.size() ? result.slots[k] : kNoSlot;
        bool mine = e.where == Where::Staged && e.handle == ids[k];
        if (!mine) {
            // Faulted back (or discarded) while the write was in flight.
            if (slot != kNoSlot) options_.swap->drop(slot);
            staged_.erase(ids[k]);
            continue;
        }
        if (slot != kNoSlot) {
            staged_.erase(ids[k]);
            e.where = Where::Swapped;
            e.handle = slot;
            --counters_.staged_pages;
            ++counters_.swapped_pages;
            ++(demoted ? counters_.demoted_swapped : counters_.evicted_swapped);
            continue;
        }
        // Not written: it stays staged in memory; later settles try again
        // (or another tier) unless the file failed.
        staged_.at(ids[k]).swapping = false;
    }
}

bool Pager::swap_usable_locked() {
    if (!options_.swap && options_.open_swap) {
        auto open = std::move(options_.open_swap);
        options_.open_swap = nullptr; // one try
        try {
            options_.swap = open();
        } catch (const std::exception& e) {
            if (options_.log) options_.log(std::string("pager: no swap tier: ") + e.what());
        }
    }
    return options_.swap && !options_.swap->failed();
}

bool Pager::fetch_locked(size_t i, uint8_t* dst) {
    const Entry& e = entries_[i];
    switch (e.where) {
    case Where::Resident:
        return false;
    case Where::Zero:
        std::memset(dst, 0, kPageSize);
        return true;
    case Where::Staged:
        std::memcpy(dst, staged_.at(e.handle).bytes.data(), kPageSize);
        return true;
    case Where::Compressed:
        options_.compressed->get(e.handle, dst);
        return true;
    case Where::Swapped:
        options_.swap->read(e.handle, dst);
        return true;
    }
    return false;
}

void Pager::release_locked(size_t i) {
    Entry& e = entries_[i];
    switch (e.where) {
    case Where::Resident:
        return;
    case Where::Zero:
        --counters_.zero_pages;
        break;
    case Where::Staged: {
        Staged& s = staged_.at(e.handle);
        // A swap write in flight still reads the copy: swap_done erases it.
        if (!s.swapping) staged_.erase(e.handle);
        --counters_.staged_pages;
        break;
    }
    case Where::Compressed:
        options_.compressed->drop(e.handle);
        --counters_.compressed_pages;
        break;
    case Where::Swapped:
        options_.swap->drop(e.handle);
        --counters_.swapped_pages;
        break;
    }
    e.where = Where::Resident;
    set_absent(i, false);
}

size_t Pager::serve_faults() {
    std::array<uffd_msg, 16> msgs;
    size_t served = 0;
    for (;;) {
        ssize_t n = ::read(uffd_.fd(), msgs.data(), sizeof(msgs));
        if (n <= 0) break; // EAGAIN: nothing pending
        for (size_t k = 0; k < static_cast<size_t>(n) / sizeof(uffd_msg); ++k) {
            if (msgs[k].event != UFFD_EVENT_PAGEFAULT) continue;
            // Write-protect faults belong to whoever froze the page (dedup's
            // merge, an eviction): lifting the protection wakes them.
            if (msgs[k].arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WP) continue;
            try {
                serve_fault(msgs[k]);
            } catch (const std::exception& e) {
                fail_unserved(msgs[k], e.what());
            }
            ++served;
        }
    }
    return served;
}

void Pager::fail_vm_locked(const std::string& reason) {
    if (tier_failure_.empty()) tier_failure_ = reason;
    failed_ = true;
    if (options_.log) options_.log("pager: " + reason);
    // Its vCPUs leave KVM_RUN on the kick.
    if (options_.fail_vm) options_.fail_vm(reason);
}

void Pager::fail_unserved(const uffd_msg& msg, const std::string& why) {
    // The faulting thread would wait for ever: stop the VM, then release it.
    {
        std::lock_guard lock(mutex_);
        fail_vm_locked(
            "a fault at guest offset " +
            std::to_string(msg.arg.pagefault.address - reinterpret_cast<uint64_t>(base_)) +
            " could not be served: " + why);
    }
    try {
        uffd_.wake(reinterpret_cast<void*>(msg.arg.pagefault.address & ~(kPageSize - 1)),
                   kPageSize);
    } catch (const std::exception&) {
    }
}

void Pager::serve_fault(const uffd_msg& msg) {
    auto t0 = std::chrono::steady_clock::now();
    uint64_t addr = msg.arg.pagefault.address & ~(kPageSize - 1);
    uint64_t base = reinterpret_cast<uint64_t>(base_);
    if (addr < base || addr >= base + pages_ * kPageSize) return;
    size_t i = (addr - base) / kPageSize;
    bool write = msg.arg.pagefault.flags & UFFD_PAGEFAULT_FLAG_WRITE;
    std::lock_guard lock(mutex_);
    Entry& e = entries_[i];
    if (e.where == Where::Resident) {
        // Never evicted (first touch since registration) or given back by
        // the balloon: it reads as zeros. A write fault gets a real page
        // right away rather than a zero page and a second fault.
        size_t done = write ? uffd_.copy(base_ + i * kPageSize, kZeroPage, kPageSize)
                            : uffd_.zeropage(base_ + i * kPageSize, kPageSize);
        if (done == 0) uffd_.wake(base_ + i * kPageSize, kPageSize);
        ++counters_.faults_fresh;
        latency_.record(ns_since(t0));
        return;
    }
    Where kind = e.where;
    uint16_t batch = e.batch;
    size_t around = std::max<uint32_t>(options_.fault_around_pages, 1);
    size_t block = i - i % around, end = std::min(pages_, block + around);
    std::vector<bool> take(end - block, false);
    uint32_t now = now_s();
    auto wanted = [&](size_t j) {
        const Entry& n = entries_[j];
        return n.where != Where::Resident && (j == i || n.batch == batch);
    };
    // `err` is null when page j's bytes are in scratch_.
    auto settle = [&](size_t j, const std::exception_ptr& err) {
        uint8_t* bytes = scratch_.data() + (j - block) * kPageSize;
        if (!err) {
            take[j - block] = true;
            return;
        }
        ++counters_.read_errors;
        if (j != i) return; // a neighbour: leave it for its own fault
        std::string why;
        try {
            std::rethrow_exception(err);
        } catch (const std::exception& e) {
            why = e.what();
        }
        std::string reason =
            std::string("guest page ") + std::to_string(i) + " could not be restored: " + why;
        // Stop the VM first, then release the faulting thread: never hand
        // it wrong bytes silently.
        fail_vm_locked(reason);
        std::memset(bytes, 0, kPageSize);
        take[j - block] = true;
    };
    for (size_t j = block; j < end;) {
        if (!wanted(j)) {
            ++j;
            continue;
        }
        // Neighbours swapped out together sit in consecutive slots: one I/O.
        size_t k = j + 1;
        if (entries_[j].where == Where::Swapped)
            while (k < end && wanted(k) && entries_[k].where == Where::Swapped &&
                   entries_[k].handle == entries_[k - 1].handle + 1)
                ++k;
        if (k - j > 1) {
            auto errors = options_.swap->read_run(entries_[j].handle, k - j,
                                                  scratch_.data() + (j - block) * kPageSize);
            for (size_t p = j; p < k; ++p)
                settle(p, errors[p - j]);
        } else {
            std::exception_ptr err;
            bool stored = true;
            try {
                stored = fetch_locked(j, scratch_.data() + (j - block) * kPageSize);
            } catch (...) {
                err = std::current_exception();
            }
            if (stored) settle(j, err);
        }
        j = k;
    }
    // Copy runs of the same kind (zero pages map the zero page), then wake.
    for (size_t j = block; j < end;) {
        if (!take[j - block]) {
            ++j;
            continue;
        }
        bool zero = entries_[j].where == Where::Zero;
        size_t k = j + 1;
        while (k < end && take[k - block] && (entries_[k].where == Where::Zero) == zero)
            ++k;
        bool map_zero = zero && !(write && i >= j && i < k);
        // A copy stops at a page that is present already (EEXIST): that one
        // holds its newest bytes, and the rest of the run is copied after it.
        for (size_t p = j; p < k;) {
            uint8_t* dst = base_ + p * kPageSize;
            size_t len = (k - p) * kPageSize;
            size_t done =
                map_zero ? uffd_.zeropage(dst, len, false)
                         : uffd_.copy(dst, scratch_.data() + (p - block) * kPageSize, len, false);
            p += done / kPageSize + (done < len ? 1 : 0);
        }
        for (size_t p = j; p < k; ++p) {
            if (now - evicted_at_s_[p] < cold_age_s_) ++counters_.refaults_recent;
            last_access_s_[p] = now;
            release_locked(p);
            if (p != i) ++counters_.pages_faulted_around;
        }
        j = k;
    }
    uffd_.wake(base_ + block * kPageSize, (end - block) * kPageSize);
    switch (kind) {
    case Where::Zero:
        ++counters_.faults_zero;
        break;
    case Where::Staged:
        ++counters_.faults_staged;
        break;
    case Where::Compressed:
        ++counters_.faults_compressed;
        break;
    case Where::Swapped:
        ++counters_.faults_swap;
        break;
    case Where::Resident:
        break;
    }
    latency_.record(ns_since(t0));
}

void Pager::discarded(uint64_t gpa, uint64_t len) {
    std::lock_guard lock(mutex_);
    for (size_t i = gpa / kPageSize; i < (gpa + len) / kPageSize && i < pages_; ++i)
        release_locked(i);
}

uint64_t Pager::evicted_pages() const {
    return counters_.zero_pages + counters_.compressed_pages + counters_.swapped_pages +
           counters_.staged_pages;
}

bool Pager::corrupt_compressed_for_testing() {
    std::lock_guard lock(mutex_);
    for (const Entry& e : entries_) {
        if (e.where != Where::Compressed) continue;
        options_.compressed->corrupt_for_testing(e.handle);
        return true;
    }
    return false;
}

std::string Pager::tier_failure() const {
    std::lock_guard lock(mutex_);
    return tier_failure_;
}

} // namespace foldvm::overcommit
