#include "block_config.hpp"

#include "block_image.hpp"

#include "common/error.hpp"
#include "vmm/devices/device_options.hpp"

#include <cctype>

namespace foldvm {

namespace {

constexpr const char* kDevice = "drive";

} // namespace

void check_drive_id(const std::string& id) {
    if (id.size() > kDriveIdBytes)
        throw InvalidInput("drive id '" + id + "' is longer than " + std::to_string(kDriveIdBytes) +
                           " characters");
    for (char c : id)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-' && c != '.')
            throw InvalidInput("drive id '" + id + "' may only contain letters, digits, _ - .");
}

void BlockConfig::validate() const {
    check_drive_id(id);
    BlockImage probe(path, read_only);
}

BlockConfig parse_drive_options(const std::string& text, const std::string& default_id) {
    BlockConfig c;
    bool have_path = false, have_id = false;
    for_each_device_option(text, kDevice, [&](const std::string& key, const std::string& value) {
        if (key == "path" || key == "path_on_host") {
            c.path = value;
            have_path = true;
        } else if (key == "readonly" || key == "read_only" || key == "is_read_only") {
            c.read_only = parse_option_bool(kDevice, key, value);
        } else if (key == "id" || key == "drive_id") {
            c.id = value;
            have_id = true;
        } else {
            throw InvalidInput("unknown drive option '" + key + "' (known: path, readonly, id)");
        }
    });
    if (!have_path || c.path.empty()) throw InvalidInput("--drive needs path=FILE");
    if (!have_id) c.id = default_id;
    check_drive_id(c.id);
    return c;
}

} // namespace foldvm
