// The balloon's model lives in vmm/config/.
#pragma once

#include "vmm/config/balloon_config.hpp"
