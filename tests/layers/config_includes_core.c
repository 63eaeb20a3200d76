/* Must NOT build: config sits below core, so config cannot see core's headers (tests/CMakeLists.txt). */
#include "core/core.h"

typedef int layer_check_unused;
