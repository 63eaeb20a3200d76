/* Must NOT build: cli sits below daemon, so cli cannot see daemon's headers (tests/CMakeLists.txt). */
#include "daemon/daemon.h"

typedef int layer_check_unused;
