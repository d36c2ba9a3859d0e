// The thread that answers every VM's userfaultfd faults. It blocks in
// epoll_wait while nothing faults, and after a fault keeps polling for a
// short while: faults come in bursts (a guest walking evicted memory), and
// on these machines a woken thread costs ~70 us against ~18 us spinning.
#pragma once

#include "common/unique_fd.hpp"

#include <atomic>
#include <chrono>
#include <mutex>
#include <shared_mutex>
#include <thread>
#include <vector>

namespace foldvm::overcommit {

class Pager;

class FaultServer {
  public:
    explicit FaultServer(std::chrono::microseconds spin = std::chrono::microseconds(200));
    ~FaultServer();
    FaultServer(const FaultServer&) = delete;
    FaultServer& operator=(const FaultServer&) = delete;

    void add(Pager& pager);
    // Returns once the thread no longer uses the pager.
    void remove(Pager& pager);

  private:
    void run();
    std::chrono::microseconds spin_;
    UniqueFd epoll_, wake_;
    std::shared_mutex mutex_; // the thread holds it shared while serving
    std::vector<Pager*> pagers_;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

} // namespace foldvm::overcommit
