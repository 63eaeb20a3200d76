/* Must NOT build: store sits below core, so store cannot see core's headers (tests/CMakeLists.txt). */
#include "core/core.h"

typedef int layer_check_unused;
