#include "foldvm_hypercalls.hpp"

#include "common/error.hpp"
#include "guest_services.hpp"
#include "vmm/abi/foldvm_abi.h"
#include "vmm/memory/guest_memory.hpp"

#include <cstring>
#include <time.h>

namespace foldvm {

namespace {

// Largest console write accepted in one call; longer writes are a guest bug.
constexpr uint64_t kMaxConsoleWrite = 64 * 1024;
constexpr uint64_t kMaxPollNs = 1'000'000'000;

uint64_t monotonic_ns() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return uint64_t(ts.tv_sec) * 1'000'000'000ull + uint64_t(ts.tv_nsec);
}

template <typename T> bool read_args(GuestMemory& memory, uint64_t gpa, T& out) {
    const uint8_t* src = memory.translate(gpa, sizeof(T));
    if (!src) return false;
    std::memcpy(&out, src, sizeof(T));
    return true;
}

template <typename T> void write_args(GuestMemory& memory, uint64_t gpa, const T& in) {
    memory.write(gpa, &in, sizeof(T));
}

std::string bad_arg(const char* call, const char* what, uint64_t v) {
    char buf[160];
    std::snprintf(buf, sizeof buf, "bad hypercall %s: %s 0x%llx outside guest RAM", call, what,
                  static_cast<unsigned long long>(v));
    return buf;
}

} // namespace

IoResult FoldvmHypercalls::on_port_io(uint16_t port, bool is_write, uint8_t* data, uint32_t size) {
    if (!is_write || size != 4)
        return IoResult::fault("bad hypercall: port 0x" + std::to_string(port) +
                               " needs a 32-bit out");
    services_.note_hypercall();
    GuestMemory& memory = services_.memory();
    uint32_t gpa;
    std::memcpy(&gpa, data, 4);
    unsigned call = port - FOLDVM_HC_PORT_BASE;
    switch (call) {
    case FOLDVM_HC_CONSOLE: {
        foldvm_hc_console a;
        if (!read_args(memory, gpa, a)) return IoResult::fault(bad_arg("console", "args", gpa));
        if (a.len > kMaxConsoleWrite)
            return IoResult::fault("bad hypercall console: len " + std::to_string(a.len) +
                                   " exceeds " + std::to_string(kMaxConsoleWrite));
        const uint8_t* text = memory.translate(a.data, a.len);
        if (!text) return IoResult::fault(bad_arg("console", "data", a.data));
        services_.console_write(reinterpret_cast<const char*>(text), a.len);
        a.ret = static_cast<int64_t>(a.len);
        write_args(memory, gpa, a);
        return IoResult::cont();
    }
    case FOLDVM_HC_EXIT: {
        foldvm_hc_exit a;
        if (!read_args(memory, gpa, a)) return IoResult::fault(bad_arg("exit", "args", gpa));
        return IoResult::exit(static_cast<int>(a.status & 0xff));
    }
    case FOLDVM_HC_TIME: {
        foldvm_hc_time a{monotonic_ns()};
        if (!memory.contains(gpa, sizeof a)) return IoResult::fault(bad_arg("time", "args", gpa));
        write_args(memory, gpa, a);
        return IoResult::cont();
    }
    case FOLDVM_HC_POLL: {
        foldvm_hc_poll a;
        if (!read_args(memory, gpa, a)) return IoResult::fault(bad_arg("poll", "args", gpa));
        a.ret = services_.poll(std::min(a.timeout_ns, kMaxPollNs)) ? 1 : 0;
        write_args(memory, gpa, a);
        return IoResult::cont();
    }
    case FOLDVM_HC_BOOTINFO: {
        foldvm_hc_bootinfo a;
        if (!read_args(memory, gpa, a)) return IoResult::fault(bad_arg("bootinfo", "args", gpa));
        const auto& info = services_.boot_info();
        uint64_t n = std::min<uint64_t>(a.len, sizeof info);
        if (!memory.contains(a.buf, n)) return IoResult::fault(bad_arg("bootinfo", "buf", a.buf));
        memory.write(a.buf, &info, n);
        a.ret = static_cast<int64_t>(n);
        write_args(memory, gpa, a);
        return IoResult::cont();
    }
    default:
        return IoResult::fault("bad hypercall: unknown call number " + std::to_string(call));
    }
}

UnikernelBoot FoldvmAbi::load(GuestMemory& memory, const UnikernelBootParams& params) {
    return load_unikernel(memory, params);
}

void FoldvmAbi::setup_vcpu(VcpuFd& vcpu, const UnikernelBoot& boot, int index, int guest_cpl) {
    setup_unikernel_vcpu(vcpu, boot.entry, index, guest_cpl);
}

void FoldvmAbi::attach(GuestServices& services) {
    services.claim_ports(FOLDVM_HC_PORT_BASE, FOLDVM_HC_COUNT,
                         std::make_shared<FoldvmHypercalls>(services));
}

} // namespace foldvm
