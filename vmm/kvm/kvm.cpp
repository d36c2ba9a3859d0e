#include "kvm.hpp"

#include "common/error.hpp"
#include "common/linux_compat.h"
#include "common/userfaultfd.hpp"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <memory>
#include <sstream>

namespace foldvm {

namespace {

std::string open_failure_hint(int err, const std::string& path) {
    switch (err) {
    case ENOENT:
        return path + " does not exist: load kvm_intel or kvm_amd (modprobe) or run on a host "
                      "with hardware virtualization";
    case EACCES:
    case EPERM:
        return "no permission to open " + path +
               ": add your user to the 'kvm' group or run as root";
    default:
        return "cannot open " + path + ": " + std::strerror(err);
    }
}

} // namespace

std::string KvmCapabilities::describe() const {
    std::ostringstream out;
    out << "api=" << api_version << " manual_dirty_log_protect=" << dirty_log_manual_protect
        << " dirty_ring_bytes=" << dirty_ring_bytes << " irqfd=" << irqfd
        << " ioeventfd=" << ioeventfd << " irqchip=" << irqchip
        << " immediate_exit=" << immediate_exit << " max_vcpus=" << max_vcpus
        << " max_memslots=" << max_memslots << " userfaultfd=" << userfaultfd
        << " uffd_wp_async=" << uffd_wp_async << " uffd_wp_shmem=" << uffd_wp_shmem;
    return out.str();
}

std::string Kvm::unavailable_reason(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    if (fd < 0) return open_failure_hint(errno, path);
    ::close(fd);
    return "";
}

Kvm::Kvm(const std::string& path) {
    fd_.reset(::open(path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd_) throw SystemError(open_failure_hint(errno, path), errno);
    caps_.api_version = ::ioctl(fd_.get(), KVM_GET_API_VERSION, 0);
    if (caps_.api_version != KVM_API_VERSION)
        throw std::runtime_error("unsupported KVM API version " +
                                 std::to_string(caps_.api_version));
    auto cap = [&](long c) { return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, c); };
    caps_.user_memory = cap(KVM_CAP_USER_MEMORY) > 0;
    if (!caps_.user_memory)
        throw std::runtime_error("KVM lacks KVM_CAP_USER_MEMORY, which foldvm requires");
    caps_.dirty_log_manual_protect = cap(KVM_CAP_MANUAL_DIRTY_LOG_PROTECT2) > 0;
    caps_.dirty_ring_bytes = std::max(cap(KVM_CAP_DIRTY_LOG_RING), 0);
    caps_.irqfd = cap(KVM_CAP_IRQFD) > 0;
    caps_.ioeventfd = cap(KVM_CAP_IOEVENTFD) > 0;
    caps_.irqchip = cap(KVM_CAP_IRQCHIP) > 0;
    caps_.immediate_exit = cap(KVM_CAP_IMMEDIATE_EXIT) > 0;
    caps_.max_vcpus = cap(KVM_CAP_MAX_VCPUS);
    caps_.max_memslots = cap(KVM_CAP_NR_MEMSLOTS);
    auto uffd = userfaultfd_features();
    caps_.userfaultfd = uffd.available;
    caps_.uffd_wp_async = (uffd.features & UFFD_FEATURE_WP_ASYNC) != 0;
    caps_.uffd_wp_shmem = (uffd.features & UFFD_FEATURE_WP_HUGETLBFS_SHMEM) != 0;
    run_size_ = ::ioctl(fd_.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (run_size_ <= 0) throw_errno("KVM_GET_VCPU_MMAP_SIZE");
}

VmFd Kvm::create_vm() {
    int vm = -1;
    do {
        vm = ::ioctl(fd_.get(), KVM_CREATE_VM, 0);
    } while (vm < 0 && errno == EINTR);
    if (vm < 0) throw_errno("KVM_CREATE_VM");
    return VmFd(UniqueFd(vm), run_size_);
}

int VmFd::check_extension(long cap) const {
    return ::ioctl(fd_.get(), KVM_CHECK_EXTENSION, cap);
}

void VmFd::set_user_memory_region(uint32_t slot, uint64_t gpa, uint64_t size, void* host,
                                  uint32_t flags) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.flags = flags;
    region.guest_phys_addr = gpa;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<uint64_t>(host);
    if (::ioctl(fd_.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
        throw_errno("KVM_SET_USER_MEMORY_REGION slot " + std::to_string(slot));
}

void VmFd::enable_cap(uint32_t cap, uint64_t arg0) {
    kvm_enable_cap ec{};
    ec.cap = cap;
    ec.args[0] = arg0;
    if (::ioctl(fd_.get(), KVM_ENABLE_CAP, &ec) < 0)
        throw_errno("KVM_ENABLE_CAP " + std::to_string(cap));
}

VcpuFd VmFd::create_vcpu(int index) {
    int fd = ::ioctl(fd_.get(), KVM_CREATE_VCPU, index);
    if (fd < 0) throw_errno("KVM_CREATE_VCPU " + std::to_string(index));
    UniqueFd owned(fd);
    void* run = ::mmap(nullptr, run_size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (run == MAP_FAILED) throw_errno("mmap kvm_run");
    return VcpuFd(std::move(owned), Mapping(run, run_size_));
}

void VmFd::get_dirty_log(uint32_t slot, void* bitmap) {
    kvm_dirty_log log{};
    log.slot = slot;
    log.dirty_bitmap = bitmap;
    if (::ioctl(fd_.get(), KVM_GET_DIRTY_LOG, &log) < 0)
        throw_errno("KVM_GET_DIRTY_LOG slot " + std::to_string(slot));
}

void VmFd::clear_dirty_log(uint32_t slot, uint64_t first_page, uint32_t num_pages, void* bitmap) {
    kvm_clear_dirty_log clear{};
    clear.slot = slot;
    clear.first_page = first_page;
    clear.num_pages = num_pages;
    clear.dirty_bitmap = bitmap;
    if (::ioctl(fd_.get(), KVM_CLEAR_DIRTY_LOG, &clear) < 0)
        throw_errno("KVM_CLEAR_DIRTY_LOG slot " + std::to_string(slot));
}

void VmFd::reset_dirty_rings() {
    if (::ioctl(fd_.get(), KVM_RESET_DIRTY_RINGS, 0) < 0) throw_errno("KVM_RESET_DIRTY_RINGS");
}

void VmFd::create_irqchip() {
    if (::ioctl(fd_.get(), KVM_CREATE_IRQCHIP, 0) < 0) throw_errno("KVM_CREATE_IRQCHIP");
}

void VmFd::create_pit2() {
    kvm_pit_config config{};
    if (::ioctl(fd_.get(), KVM_CREATE_PIT2, &config) < 0) throw_errno("KVM_CREATE_PIT2");
}

void VmFd::set_tss_addr(uint64_t gpa) {
    if (::ioctl(fd_.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(gpa)) < 0)
        throw_errno("KVM_SET_TSS_ADDR");
}

void VmFd::set_identity_map_addr(uint64_t gpa) {
    uint64_t addr = gpa;
    if (::ioctl(fd_.get(), KVM_SET_IDENTITY_MAP_ADDR, &addr) < 0)
        throw_errno("KVM_SET_IDENTITY_MAP_ADDR");
}

void VmFd::set_irq_line(uint32_t gsi, bool level) {
    kvm_irq_level irq{};
    irq.irq = gsi;
    irq.level = level ? 1 : 0;
    if (::ioctl(fd_.get(), KVM_IRQ_LINE, &irq) < 0)
        throw_errno("KVM_IRQ_LINE " + std::to_string(gsi));
}

void VmFd::add_irqfd(int eventfd, uint32_t gsi) {
    kvm_irqfd irqfd{};
    irqfd.fd = static_cast<uint32_t>(eventfd);
    irqfd.gsi = gsi;
    if (::ioctl(fd_.get(), KVM_IRQFD, &irqfd) < 0) throw_errno("KVM_IRQFD " + std::to_string(gsi));
}

namespace {

// A variable-length KVM argument: foldvm_kvm_var_header, then `count` entries.
template <typename Entry> class VarArg {
  public:
    explicit VarArg(uint32_t count)
        : storage_((sizeof(foldvm_kvm_var_header) + count * sizeof(Entry) + 7) / 8, 0) {
        header()->count = count;
    }
    foldvm_kvm_var_header* header() {
        return reinterpret_cast<foldvm_kvm_var_header*>(storage_.data());
    }
    Entry* entries() { return reinterpret_cast<Entry*>(header() + 1); }

  private:
    std::vector<uint64_t> storage_;
};

} // namespace

std::vector<kvm_cpuid_entry2> Kvm::supported_cpuid() const {
    // The caller sizes the array; E2BIG means "bigger", so grow until it fits.
    for (uint32_t n = 128; n <= 4096; n *= 2) {
        VarArg<kvm_cpuid_entry2> arg(n);
        if (::ioctl(fd_.get(), FOLDVM_KVM_GET_SUPPORTED_CPUID, arg.header()) == 0)
            return {arg.entries(), arg.entries() + arg.header()->count};
        if (errno != E2BIG) throw_errno("KVM_GET_SUPPORTED_CPUID");
    }
    throw std::runtime_error("KVM_GET_SUPPORTED_CPUID: more than 4096 leaves");
}

int VcpuFd::run_once() {
    if (::ioctl(fd_.get(), KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) return -errno;
        throw_errno("KVM_RUN");
    }
    return 0;
}

kvm_regs VcpuFd::get_regs() const {
    kvm_regs r{};
    if (::ioctl(fd_.get(), KVM_GET_REGS, &r) < 0) throw_errno("KVM_GET_REGS");
    return r;
}
void VcpuFd::set_regs(const kvm_regs& r) {
    if (::ioctl(fd_.get(), KVM_SET_REGS, &r) < 0) throw_errno("KVM_SET_REGS");
}
kvm_sregs VcpuFd::get_sregs() const {
    kvm_sregs s{};
    if (::ioctl(fd_.get(), KVM_GET_SREGS, &s) < 0) throw_errno("KVM_GET_SREGS");
    return s;
}
void VcpuFd::set_sregs(const kvm_sregs& s) {
    if (::ioctl(fd_.get(), KVM_SET_SREGS, &s) < 0) throw_errno("KVM_SET_SREGS");
}

void VcpuFd::set_cpuid(const std::vector<kvm_cpuid_entry2>& entries) {
    VarArg<kvm_cpuid_entry2> arg(static_cast<uint32_t>(entries.size()));
    std::copy(entries.begin(), entries.end(), arg.entries());
    if (::ioctl(fd_.get(), FOLDVM_KVM_SET_CPUID2, arg.header()) < 0) throw_errno("KVM_SET_CPUID2");
}

kvm_lapic_state VcpuFd::get_lapic() const {
    kvm_lapic_state s{};
    if (::ioctl(fd_.get(), KVM_GET_LAPIC, &s) < 0) throw_errno("KVM_GET_LAPIC");
    return s;
}

void VcpuFd::set_lapic(const kvm_lapic_state& s) {
    if (::ioctl(fd_.get(), KVM_SET_LAPIC, &s) < 0) throw_errno("KVM_SET_LAPIC");
}

void VcpuFd::set_fpu(const kvm_fpu& fpu) {
    if (::ioctl(fd_.get(), KVM_SET_FPU, &fpu) < 0) throw_errno("KVM_SET_FPU");
}

void VcpuFd::set_msrs(const std::vector<std::pair<uint32_t, uint64_t>>& msrs) {
    VarArg<kvm_msr_entry> arg(static_cast<uint32_t>(msrs.size()));
    for (size_t i = 0; i < msrs.size(); ++i) {
        arg.entries()[i].index = msrs[i].first;
        arg.entries()[i].data = msrs[i].second;
    }
    int set = ::ioctl(fd_.get(), FOLDVM_KVM_SET_MSRS, arg.header());
    if (set < 0) throw_errno("KVM_SET_MSRS");
    if (static_cast<size_t>(set) != msrs.size())
        throw std::runtime_error("KVM_SET_MSRS refused MSR index " +
                                 std::to_string(msrs[static_cast<size_t>(set)].first));
}

} // namespace foldvm
