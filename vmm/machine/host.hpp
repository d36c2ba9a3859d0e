// A Host owns many VMs in one process plus the services they share (the KVM
// handle and, when enabled, the dedup engine).
#pragma once

#include "vm.hpp"
#include "vmm/kvm/kvm.hpp"

#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <vector>

namespace foldvm {

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

    // Hooks called for every VM created/removed (the dedup service uses
    // these to register guest RAM). Observers hear of creations in the order
    // they were added and of removals in reverse order (a later observer may
    // build on an earlier one). An observer hears only of creations after it
    // was added, but of every removal while it is added, so it ignores ids it
    // does not know. Callbacks must not add or remove observers.
    struct Observer {
        virtual ~Observer() = default;
        virtual void vm_created(uint64_t id, Vm& vm) = 0;
        virtual void vm_removed(uint64_t id, Vm& vm) = 0;
    };
    void add_observer(Observer* observer);
    // Returns once no callback of `observer` is running, so it can be
    // destroyed right after. An observer must remove itself before it dies.
    void remove_observer(Observer* observer);

  private:
    Kvm kvm_;
    mutable std::mutex mutex_;
    std::map<uint64_t, std::shared_ptr<Vm>> vms_;
    uint64_t next_id_ = 1;
    // Callbacks run under a shared lock; add/remove take it exclusively and
    // so wait for callbacks in flight.
    mutable std::shared_mutex observers_mutex_;
    std::vector<Observer*> observers_;
};

} // namespace foldvm
