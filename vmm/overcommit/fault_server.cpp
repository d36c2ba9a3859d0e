#include "fault_server.hpp"

#include "pager.hpp"

#include "common/error.hpp"
#include "common/thread_priority.hpp"

#include <pthread.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>

namespace foldvm::overcommit {

FaultServer::FaultServer(std::chrono::microseconds spin) : spin_(spin) {
    epoll_.reset(::epoll_create1(EPOLL_CLOEXEC));
    if (!epoll_) throw_errno("epoll_create1");
    wake_.reset(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_) throw_errno("eventfd");
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = nullptr;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev) != 0) throw_errno("epoll_ctl");
    thread_ = std::thread([this] { run(); });
    pthread_setname_np(thread_.native_handle(), "foldvm-faults");
}

FaultServer::~FaultServer() {
    stop_ = true;
    uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof(one));
    thread_.join();
}

void FaultServer::add(Pager& pager) {
    std::unique_lock lock(mutex_);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = &pager;
    if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, pager.uffd_fd(), &ev) != 0)
        throw_errno("epoll_ctl(userfaultfd)");
    pagers_.push_back(&pager);
}

void FaultServer::remove(Pager& pager) {
    std::unique_lock lock(mutex_);
    ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, pager.uffd_fd(), nullptr);
    std::erase(pagers_, &pager);
}

void FaultServer::run() {
    // A vCPU waiting here should not also wait for a core behind the other
    // vCPUs (best effort: without CAP_SYS_NICE it keeps the default weight).
    set_thread_nice(-10);
    std::array<epoll_event, 32> events;
    auto spin_until = std::chrono::steady_clock::time_point{};
    while (!stop_) {
        bool spinning = std::chrono::steady_clock::now() < spin_until;
        int n = ::epoll_wait(epoll_.get(), events.data(), static_cast<int>(events.size()),
                             spinning ? 0 : -1);
        if (n < 0) continue; // EINTR
        size_t served = 0;
        {
            std::shared_lock lock(mutex_);
            for (int k = 0; k < n; ++k) {
                auto* pager = static_cast<Pager*>(events[k].data.ptr);
                // Skip the eventfd and pagers removed since epoll_wait.
                if (!pager || std::find(pagers_.begin(), pagers_.end(), pager) == pagers_.end())
                    continue;
                try {
                    served += pager->serve_faults();
                } catch (const std::exception&) {
                    // A VM whose faults cannot be served is failed by its
                    // pager; the server goes on for the others.
                }
            }
        }
        if (served) spin_until = std::chrono::steady_clock::now() + spin_;
    }
}

} // namespace foldvm::overcommit
