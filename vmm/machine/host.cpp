#include "host.hpp"

#include <algorithm>

namespace foldvm {

Host::Host(const HostOptions& opts) : kvm_(opts.kvm_path) {}

Host::~Host() {
    stop_all();
    for (auto& [id, vm] : vms())
        remove_vm(id);
}

uint64_t Host::create_vm(VmConfig config, VmEvents events) {
    auto vm = std::make_shared<Vm>(kvm_, std::move(config), std::move(events));
    uint64_t id;
    {
        std::lock_guard lock(mutex_);
        id = next_id_++;
        vms_[id] = vm;
    }
    {
        std::shared_lock lock(observers_mutex_);
        for (Observer* o : observers_)
            o->vm_created(id, *vm);
    }
    return id;
}

std::shared_ptr<Vm> Host::vm(uint64_t id) const {
    std::lock_guard lock(mutex_);
    auto it = vms_.find(id);
    return it == vms_.end() ? nullptr : it->second;
}

std::vector<std::pair<uint64_t, std::shared_ptr<Vm>>> Host::vms() const {
    std::lock_guard lock(mutex_);
    return {vms_.begin(), vms_.end()};
}

bool Host::remove_vm(uint64_t id) {
    std::shared_ptr<Vm> vm;
    {
        std::lock_guard lock(mutex_);
        auto it = vms_.find(id);
        if (it == vms_.end()) return false;
        vm = it->second;
        vms_.erase(it);
    }
    vm->stop();
    vm->wait();
    {
        std::shared_lock lock(observers_mutex_);
        for (auto it = observers_.rbegin(); it != observers_.rend(); ++it)
            (*it)->vm_removed(id, *vm);
    }
    return true;
}

void Host::add_observer(Observer* observer) {
    std::unique_lock lock(observers_mutex_);
    observers_.push_back(observer);
}

void Host::remove_observer(Observer* observer) {
    std::unique_lock lock(observers_mutex_);
    std::erase(observers_, observer);
}

void Host::stop_all() {
    for (auto& [id, vm] : vms())
        vm->stop();
}

} // namespace foldvm
