// A Host owns many VMs in one process plus the services they share (the KVM
// handle and, when enabled, the dedup engine).
#pragma once

#include "vm.hpp"
#include "vmm/kvm/kvm.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <vector>

namespace foldvm {

class DedupAttachment;

struct HostOptions {
    std::string kvm_path = "/dev/kvm";
};

class Host {
  public:
    explicit Host(const HostOptions& opts = {});
    ~Host();

    Kvm& kvm() { return kvm_; }

    // Creates a VM (not started) and returns its id.
    uint64_t create_vm(VmConfig config, VmEvents events = {});
    std::shared_ptr<Vm> vm(uint64_t id) const; // nullptr if unknown
    std::vector<std::pair<uint64_t, std::shared_ptr<Vm>>> vms() const;
    // Stops, joins and forgets a VM. Returns false if unknown.
    bool remove_vm(uint64_t id);
    void stop_all();

    // Hooks called for every VM created/removed (the dedup attachment uses
    // these to register guest RAM).
    struct Observer {
        virtual ~Observer() = default;
        virtual void vm_created(uint64_t id, Vm& vm) = 0;
        virtual void vm_removed(uint64_t id, Vm& vm) = 0;
    };
    void set_observer(Observer* observer) { observer_ = observer; }

  private:
    Kvm kvm_;
    mutable std::mutex mutex_;
    std::map<uint64_t, std::shared_ptr<Vm>> vms_;
    uint64_t next_id_ = 1;
    Observer* observer_ = nullptr;
};

} // namespace foldvm
