// Everything needed to create one VM. Shared by the CLI, the library API and
// (later) the REST API, so validation lives in one place.
#pragma once

#include "vmm/devices/virtio/balloon_config.hpp"
#include "vmm/devices/virtio/block_config.hpp"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace foldvm {

using Blob = std::shared_ptr<const std::vector<uint8_t>>;

struct VmConfig {
    std::string kernel_path; // for display; `image` holds the bytes
    Blob image;
    Blob initrd;
    uint64_t mem_bytes = 32ull << 20;
    int vcpus = 1;
    std::string cmdline;
    int guest_cpl = 3;
    std::string abi = "foldvm";
    std::string dedup_domain = "default";
    uint64_t index = 0; // position in a launch group, exposed to the guest
    bool dirty_logging = true;
    bool dirty_ring = false; // per-vCPU dirty rings instead of the bitmap
    bool ksm_mergeable = false; // --dedup ksm: hand RAM to the host's ksmd
    std::optional<BalloonConfig> balloon; // a virtio balloon device
    // Linux: inflate the bzImage payload on the host and enter the vmlinux
    // directly (false: the guest's own decompressor runs, as under QEMU).
    bool host_decompress = true;
    std::vector<BlockConfig> drives; // virtio-blk devices, after the balloon

    // Throws InvalidInput describing the first out-of-range field.
    void validate() const;
};

// Parses sizes like "64M", "1G", "4096K", "1048576" into bytes.
uint64_t parse_size(const std::string& text);

} // namespace foldvm
