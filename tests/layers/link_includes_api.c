/* Must NOT build: link and api sit side by side and never include each other (tests/CMakeLists.txt). */
#include "api/api.h"

typedef int layer_check_unused;
