/* Must NOT build: proto sits below crypto, so proto cannot see crypto's headers (tests/CMakeLists.txt). */
#include "crypto/identity.h"

typedef int layer_check_unused;
