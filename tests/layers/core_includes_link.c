/* Must NOT build: core sits below link, so core cannot see link's headers (tests/CMakeLists.txt). */
#include "link/link.h"

typedef int layer_check_unused;
