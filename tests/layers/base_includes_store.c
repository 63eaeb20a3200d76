/* Must NOT build: base sits below store, so base cannot see store's headers (tests/CMakeLists.txt). */
#include "store/store.h"

typedef int layer_check_unused;
