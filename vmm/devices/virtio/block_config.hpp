// The drive's model lives in vmm/config/.
#pragma once

#include "vmm/config/drive_config.hpp"
