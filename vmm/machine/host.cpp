#include "host.hpp"

namespace foldvm {

Host::Host(const HostOptions& opts) : kvm_(opts.kvm_path) {}

Host::~Host() {
    stop_all();
    for (auto& [id, vm] : vms()) remove_vm(id);
}

uint64_t Host::create_vm(VmConfig config, VmEvents events) {
    auto vm = std::make_shared<Vm>(kvm_, std::move(config), std::move(events));
    uint64_t id;
    {
        std::lock_guard lock(mutex_);
        id = next_id_++;
        vms_[id] = vm;
    }
    if (observer_) observer_->vm_created(id, *vm);
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
    if (observer_) observer_->vm_removed(id, *vm);
    return true;
}

void Host::stop_all() {
    for (auto& [id, vm] : vms()) vm->stop();
}

} // namespace foldvm
