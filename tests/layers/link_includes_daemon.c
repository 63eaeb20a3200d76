/* Must NOT build: link sits below daemon, so link cannot see daemon's headers (tests/CMakeLists.txt). */
#include "daemon/daemon.h"

typedef int layer_check_unused;
