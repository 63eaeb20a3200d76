/*
 * Private to the daemon: the store settings a config describes, shared by
 * the agent (daemon.c) and the audit reader (audit_dump.c), so both open
 * the same store the same way.
 */
#ifndef LIMES_DAEMON_STORECONF_H
#define LIMES_DAEMON_STORECONF_H

#include <stddef.h>

#include "config/config.h"
#include "store/store.h"

/* Fills *settings from cfg (its strings borrowed from cfg). A PostgreSQL
 * conninfo_file is read under the secret-file rule into the caller's
 * conninfo buffer, which settings then points to: the caller wipes it
 * (secret_wipe) once the store is open. 0, or an error with the reason in err. */
int storeconf_settings(const struct config *cfg, struct store_settings *settings, char *conninfo,
		       size_t conninfo_len, char *err, size_t err_len);

#endif
