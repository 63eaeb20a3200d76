/* Must NOT build: api and link sit side by side and never include each other (tests/CMakeLists.txt). */
#include "link/link.h"

typedef int layer_check_unused;
