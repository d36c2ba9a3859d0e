// Everything needed to create one VM. Shared by the CLI, the library API and
// the REST API, so validation lives in one place: the field table below
// (what POST /vms takes and GET /vms/{id} shows) plus the rules that tie
// fields together.
#pragma once

#include "balloon_config.hpp"
#include "drive_config.hpp"

#include "common/field_table.hpp"

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
    std::string initrd_path; // for display; empty without an initrd
    uint64_t mem_bytes = 32ull << 20;
    int vcpus = 1;
    std::string cmdline;
    int guest_cpl = 3;
    std::string abi = "foldvm";
    std::string dedup_domain = "default";
    uint64_t index = 0; // position in a launch group, exposed to the guest
    bool dirty_logging = true;
    bool dirty_ring = false;              // per-vCPU dirty rings instead of the bitmap
    bool ksm_mergeable = false;           // --dedup ksm: hand RAM to the host's ksmd
    bool userfaultfd = false; // guest RAM gets a userfaultfd (dedup freeze, pager)
    std::optional<BalloonConfig> balloon; // a virtio balloon device
    // Linux: inflate the bzImage payload on the host and enter the vmlinux
    // directly (false: the guest's own decompressor runs, as under QEMU).
    bool host_decompress = true;
    std::vector<BlockConfig> drives; // virtio-blk devices, after the balloon
    // Overcommit: the most resident memory the governor lets this VM keep
    // (0 = none) and its share when memory is tight (higher keeps more).
    uint64_t mem_limit_mib = 0;
    uint32_t mem_priority = 50;

    // The fields a REST client sets (POST /vms) and reads back; "balloon"
    // is the nested BalloonConfig model. None changes after creation.
    static const model::FieldTable<VmConfig>& fields();

    // Throws InvalidInput (a FieldError where one field is at fault)
    // describing the first out-of-range field.
    void validate() const;
};

// Parses sizes like "64M", "1G", "4096K", "1048576" into bytes.
uint64_t parse_size(const std::string& text);

} // namespace foldvm
