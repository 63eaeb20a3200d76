/*
 * The store settings a config describes (storeconf.h): backend, data
 * folder, agency, schema, and the PostgreSQL conninfo, given inline or in
 * its own 0600 file (it may hold a password).
 */
#include "storeconf.h"

#include <string.h>

#include "crypto/secret.h"

int storeconf_settings(const struct config *cfg, struct store_settings *settings, char *conninfo,
		       size_t conninfo_len, char *err, size_t err_len)
{
	size_t len = 0;
	int rc;

	memset(settings, 0, sizeof(*settings));
	settings->backend = cfg->store_backend == 1 ? STORE_BACKEND_POSTGRES : STORE_BACKEND_SQLITE;
	settings->dir = cfg->data_dir;
	settings->conninfo = cfg->store_conninfo;
	settings->agency = cfg->id;
	settings->schema = cfg->store_schema[0] ? cfg->store_schema : NULL;
	if (cfg->store_backend != 1 || !cfg->store_conninfo_file[0])
		return 0;
	rc = secret_file_read(cfg->store_conninfo_file, "conninfo file", conninfo, conninfo_len - 1, &len, err,
			      err_len);
	if (rc < 0)
		return rc;
	conninfo[len] = '\0';
	conninfo[strcspn(conninfo, "\r\n")] = '\0';
	settings->conninfo = conninfo;
	return 0;
}
