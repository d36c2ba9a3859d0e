// Settings of a virtio-blk drive. The CLI also takes Firecracker's field
// names (path_on_host, is_read_only, drive_id) so its users feel at home.
// The field table below is the model for `foldvm run --drive` and the
// drive's checks.
#pragma once

#include "common/field_table.hpp"

#include <cstddef>
#include <string>

namespace foldvm {

// Drives per VM: leaves slots of the 16-slot device window for other devices.
constexpr size_t kMaxDrives = 8;
// The serial a driver reads with VIRTIO_BLK_T_GET_ID.
constexpr size_t kDriveIdBytes = 20;

struct BlockConfig {
    std::string path;       // raw image file or block device
    bool read_only = false; // opened O_RDONLY and offered as VIRTIO_BLK_F_RO
    std::string id;         // serial; empty gives an all-zero serial

    static const model::FieldTable<BlockConfig>& fields();

    // Checks the id and opens the image as the device will (throws
    // InvalidInput: missing or unreadable file, size not a multiple of 512,
    // image in use by a writable drive).
    void validate() const;
};

// Throws InvalidInput unless `id` is at most 20 characters of [A-Za-z0-9_.-].
void check_drive_id(const std::string& id);

// Parses `foldvm run --drive` options: comma-separated key=value with keys
// path (alias path_on_host), readonly (aliases read_only, is_read_only),
// id (alias drive_id); booleans take 0/1/true/false. `default_id` is used
// when no id is given. Paths cannot contain commas.
BlockConfig parse_drive_options(const std::string& text, const std::string& default_id = "");

} // namespace foldvm
