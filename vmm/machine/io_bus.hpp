// Port-I/O dispatch. Hypercall ABIs and devices register port ranges here, so
// a second guest ABI is a new handler, not a change to the vCPU loop.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

namespace foldvm {

class Vm;

struct IoResult {
    enum class Outcome { Continue, Exit, Fault } outcome = Outcome::Continue;
    int status = 0;      // exit status for Exit
    std::string message; // reason for Fault

    static IoResult cont() { return {}; }
    static IoResult exit(int status) { return {Outcome::Exit, status, {}}; }
    static IoResult fault(std::string why) { return {Outcome::Fault, 0, std::move(why)}; }
};

class PortIoHandler {
  public:
    virtual ~PortIoHandler() = default;
    // `data` holds `size` bytes: the value written, or the buffer to fill on a read.
    virtual IoResult on_port_io(Vm& vm, int vcpu, uint16_t port, bool is_write, uint8_t* data,
                                uint32_t size) = 0;
};

class IoBus {
  public:
    void add(uint16_t base, uint16_t count, std::shared_ptr<PortIoHandler> handler) {
        ranges_[base] = Range{count, std::move(handler)};
    }
    PortIoHandler* find(uint16_t port) const {
        auto it = ranges_.upper_bound(port);
        if (it == ranges_.begin()) return nullptr;
        --it;
        return port - it->first < it->second.count ? it->second.handler.get() : nullptr;
    }

  private:
    struct Range {
        uint16_t count;
        std::shared_ptr<PortIoHandler> handler;
    };
    std::map<uint16_t, Range> ranges_;
};

} // namespace foldvm
