#include "vmm/machine/vcpu_parking.hpp"

#include <catch2/catch.hpp>

#include <atomic>
#include <thread>
#include <vector>

using namespace foldvm;
using namespace std::chrono_literals;

namespace {

// Threads playing vCPUs: they "run the guest" (count steps) until a park is
// requested, and park at the top of their loop as Vm's vCPU loop does.
struct FakeVcpus {
    VcpuParking parking{[this] { ++kicks; }};
    std::atomic<int> kicks{0};
    std::atomic<uint64_t> steps{0};
    std::vector<std::thread> threads;

    explicit FakeVcpus(int n) {
        parking.vcpus_started(n);
        for (int i = 0; i < n; ++i)
            threads.emplace_back([this] {
                parking.enter_vcpu_thread();
                while (!parking.stop_requested()) {
                    if (parking.park_requested()) {
                        parking.park();
                        continue;
                    }
                    std::this_thread::sleep_for(100us); // in KVM_RUN
                    ++steps;
                }
                parking.vcpu_exited();
            });
    }
    ~FakeVcpus() {
        parking.finish();
        for (auto& t : threads)
            t.join();
    }
    bool running() {
        uint64_t before = steps.load();
        for (int i = 0; i < 2000 && steps.load() == before; ++i)
            std::this_thread::sleep_for(1ms);
        return steps.load() != before;
    }
    bool parked() {
        uint64_t before = steps.load();
        std::this_thread::sleep_for(20ms);
        return steps.load() == before;
    }
};

} // namespace

TEST_CASE("pause returns with every vCPU parked, resume lets them run", "[parking]") {
    FakeVcpus v(2);
    REQUIRE(v.running());
    CHECK(v.parking.pause());
    CHECK(v.kicks > 0);
    CHECK(v.parked());
    v.parking.resume();
    CHECK(v.running());
}

TEST_CASE("holds nest, and releasing them never resumes a user pause", "[parking]") {
    FakeVcpus v(2);
    CHECK(v.parking.hold());
    CHECK(v.parking.hold());
    v.parking.release();
    CHECK(v.parked()); // one hold is still in place
    v.parking.release();
    CHECK(v.running());

    CHECK(v.parking.pause());
    CHECK(v.parking.hold());
    v.parking.release();
    CHECK(v.parked()); // still paused by the user
    v.parking.resume();
    CHECK(v.running());
}

TEST_CASE("a poll wakes for a guest event and consumes it", "[parking]") {
    VcpuParking parking([] {});
    CHECK_FALSE(parking.poll(1'000'000)); // 1 ms, nothing pending
    parking.raise_event();
    CHECK(parking.poll(10'000'000'000));  // pending: returns at once
    CHECK_FALSE(parking.poll(1'000'000)); // consumed
    std::thread waker([&] {
        std::this_thread::sleep_for(10ms);
        parking.raise_event();
    });
    auto start = std::chrono::steady_clock::now();
    CHECK(parking.poll(10'000'000'000));
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    waker.join();
}

TEST_CASE("a poll and a pause give way when the VM stops or ends", "[parking]") {
    VcpuParking parking([] {});
    std::thread stopper([&] {
        std::this_thread::sleep_for(10ms);
        parking.stop();
    });
    auto start = std::chrono::steady_clock::now();
    CHECK_FALSE(parking.poll(10'000'000'000));
    CHECK(std::chrono::steady_clock::now() - start < 5s);
    stopper.join();

    // A vCPU that never parks (it is ending the VM): pause() reports the end.
    VcpuParking ending([] {});
    ending.vcpus_started(1);
    std::thread finisher([&] {
        std::this_thread::sleep_for(10ms);
        ending.finish();
    });
    CHECK_FALSE(ending.pause());
    finisher.join();
    CHECK_FALSE(ending.wait_exited(1ms));
    ending.vcpu_exited();
    CHECK(ending.wait_exited(1ms));
}

TEST_CASE("yield parks only this VM's vCPU threads", "[parking]") {
    VcpuParking parking([] {});
    parking.vcpus_started(1);
    std::thread pauser([&] { CHECK(parking.pause()); });
    std::this_thread::sleep_for(10ms);
    parking.yield(); // not a vCPU thread: returns at once
    std::atomic<bool> yielded{false};
    std::thread vcpu([&] {
        parking.enter_vcpu_thread();
        parking.yield(); // parks: the pause completes
        yielded = true;
        parking.vcpu_exited();
    });
    pauser.join();
    CHECK_FALSE(yielded);
    parking.resume();
    vcpu.join();
    CHECK(yielded);
}
