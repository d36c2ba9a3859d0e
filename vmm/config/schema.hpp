// Every configuration model's field table as data, keyed by the OpenAPI
// schema it is the body of; `foldvm config-schema` prints it, and
// tests/api/test_schema.py compares it with vmm/api/openapi.yaml.
#pragma once

#include <nlohmann/json.hpp>

namespace foldvm {

nlohmann::json config_schema();

} // namespace foldvm
