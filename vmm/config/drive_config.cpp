#include "drive_config.hpp"

#include "vmm/devices/virtio/block_image.hpp"

#include <cctype>
#include <cstring>

namespace foldvm {

const model::FieldTable<BlockConfig>& BlockConfig::fields() {
    using C = BlockConfig;
    static const model::FieldTable<C> table(
        "drive option",
        {
            {.name = "path",
             .member = &C::path,
             .min = 0,
             .max = 4096,
             .doc = "raw image file or block device",
             .required = true,
             .aliases = {"path_on_host"}},
            {.name = "readonly",
             .member = &C::read_only,
             .doc = "opened read-only and offered as VIRTIO_BLK_F_RO",
             .aliases = {"read_only", "is_read_only"}},
            {.name = "id",
             .member = &C::id,
             .min = 0,
             .max = kDriveIdBytes,
             .doc = "serial (VIRTIO_BLK_T_GET_ID) of [A-Za-z0-9_.-]; empty = all zero",
             .aliases = {"drive_id"}},
        });
    return table;
}

void check_drive_id(const std::string& id) {
    if (id.size() > kDriveIdBytes)
        throw model::FieldError(model::FieldProblem::OutOfRange, "id",
                                "drive id '" + id + "' is longer than " +
                                    std::to_string(kDriveIdBytes) + " characters");
    for (char c : id)
        if (!std::isalnum(static_cast<unsigned char>(c)) && !std::strchr("_-.", c))
            throw model::FieldError(model::FieldProblem::OutOfRange, "id",
                                    "drive id '" + id +
                                        "' may only contain letters, digits, _ - .");
}

void BlockConfig::validate() const {
    check_drive_id(id);
    fields().validate(*this);
    BlockImage probe(path, read_only);
}

BlockConfig parse_drive_options(const std::string& text, const std::string& default_id) {
    BlockConfig c;
    bool have_id = false;
    BlockConfig::fields().parse_list(c, text, [&](const char* name) {
        if (std::strcmp(name, "id") == 0) have_id = true;
    });
    if (c.path.empty()) throw InvalidInput("--drive needs path=FILE");
    if (!have_id) c.id = default_id;
    check_drive_id(c.id);
    return c;
}

} // namespace foldvm
