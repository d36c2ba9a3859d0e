#include "block_config.hpp"

#include "block_image.hpp"

#include "common/error.hpp"

#include <cctype>
#include <sstream>

namespace foldvm {

namespace {

bool parse_bool(const std::string& key, const std::string& value) {
    if (value == "1" || value == "true" || value == "on" || value == "yes") return true;
    if (value == "0" || value == "false" || value == "off" || value == "no") return false;
    throw InvalidInput("drive option '" + key + "' needs 0 or 1, got '" + value + "'");
}

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
    std::stringstream in(text);
    std::string item;
    while (std::getline(in, item, ',')) {
        if (item.empty()) continue;
        auto eq = item.find('=');
        std::string key = item.substr(0, eq);
        if (eq == std::string::npos)
            throw InvalidInput("drive option '" + key + "' needs a value (key=value)");
        std::string value = item.substr(eq + 1);
        if (key == "path" || key == "path_on_host") {
            c.path = value;
            have_path = true;
        } else if (key == "readonly" || key == "read_only" || key == "is_read_only") {
            c.read_only = parse_bool(key, value);
        } else if (key == "id" || key == "drive_id") {
            c.id = value;
            have_id = true;
        } else {
            throw InvalidInput("unknown drive option '" + key + "' (known: path, readonly, id)");
        }
    }
    if (!have_path || c.path.empty()) throw InvalidInput("--drive needs path=FILE");
    if (!have_id) c.id = default_id;
    check_drive_id(c.id);
    return c;
}

} // namespace foldvm
