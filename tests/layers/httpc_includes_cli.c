/* Must NOT build: httpc sits below cli, so httpc cannot see cli's headers (tests/CMakeLists.txt). */
#include "cli/cli.h"

typedef int layer_check_unused;
