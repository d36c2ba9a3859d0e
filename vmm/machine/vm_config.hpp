// The VM's model lives in vmm/config/.
#pragma once

#include "vmm/config/vm_config.hpp"
