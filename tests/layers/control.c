/*
 * Must build: every header the checks A_includes_B.c beside it reach for,
 * included from a target that may use them all (it links the daemon and the
 * CLI). So a check fails because its header is out of its module's reach,
 * never because the header is missing, misspelt or broken.
 */
#include "api/api.h"
#include "base/log.h"
#include "cli/cli.h"
#include "core/core.h"
#include "crypto/identity.h"
#include "daemon/daemon.h"
#include "link/link.h"
#include "store/store.h"

typedef int layer_check_unused;
