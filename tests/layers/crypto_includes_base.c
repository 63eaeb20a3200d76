/* Must NOT build: crypto sits below base, so crypto cannot see base's headers (tests/CMakeLists.txt). */
#include "base/log.h"

typedef int layer_check_unused;
