/*
 * Shared by the config's files only: the [client "NAME"] and [audit]
 * sections live in clients.c, the rest of the parser in config.c. Each
 * function writes a reason (without file:line, which config.c adds) into
 * why and returns -1 on error, 0 on success.
 */
#ifndef LIMES_CONFIG_INT_H
#define LIMES_CONFIG_INT_H

#include "config/config.h"

/* A [client "NAME"] header (the text inside the brackets): adds a client. */
int config_client_begin(struct config *cfg, const char *section, unsigned line, char *why, size_t why_len);
/* One key of the last client added. */
int config_client_key(struct config *cfg, const char *key, const char *value, char *why, size_t why_len);
/* One key of [audit]. */
int config_audit_key(struct config *cfg, const char *key, const char *value, char *why, size_t why_len);
/* After the whole file: checks the clients (token file, known peers) and
 * turns [api] token_file, when given, into the client "default" with every
 * right. *line says where the error is. */
int config_clients_finish(struct config *cfg, char *why, size_t why_len, unsigned *line);

#endif
