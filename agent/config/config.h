/*
 * The agent's configuration: one INI file parsed with inih into a fresh
 * struct config. Every error names the file, the line and the key; unknown
 * sections and keys are errors; relative paths are resolved against the
 * config file's folder. A load either yields a complete, checked config or
 * nothing, so a reload can keep the old config when the new one is bad.
 */
#ifndef LIMES_CONFIG_H
#define LIMES_CONFIG_H

#include <limits.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "crypto/identity.h"

#define CONFIG_ID_MAX 64
#define CONFIG_ENDPOINT_MAX 256
#define CONFIG_ERR_MAX 512

/* Bit for MessageType t in a send/accept mask. */
#define CONFIG_TYPE_BIT(t) (1u << (unsigned)(t))

struct config_peer {
	char id[CONFIG_ID_MAX + 1];
	char endpoint[CONFIG_ENDPOINT_MAX]; /* "" when relayed; one or more, comma-separated
					     * (the nodes of an HA pair: the DEALER connects to each) */
	char via[CONFIG_ID_MAX + 1];        /* relay peer id, "" when direct */
	struct peer_key key;
	bool key_set;
	uint32_t send_mask;                 /* types we may send to it */
	uint32_t accept_mask;               /* types we accept from it */
	bool rotation_accept;               /* rotation = accept: adopt its announced next key at once
					     * (default confirm: wait for `limes peer accept-key`) */
	unsigned line;                      /* line of its section header */
};

/* Every message type, for a right given as "*". */
#define CONFIG_TYPES_ALL 0xfffffffeu
#define CONFIG_CLIENT_TO_MAX 32
/* The client [api] token_file stands for (the simple setup). */
#define CONFIG_DEFAULT_CLIENT "default"

/* A named API client ([client "NAME"]) and its rights; closed by default. */
struct config_client {
	char name[CONFIG_ID_MAX + 1];
	char token_file[PATH_MAX];
	uint32_t submit_mask;               /* types it may submit */
	bool to_any;                        /* to = *: any configured peer */
	char to[CONFIG_CLIENT_TO_MAX][CONFIG_ID_MAX + 1]; /* peers it may send to */
	size_t n_to;
	uint32_t read_mask;                 /* types it may read from the inbox */
	bool admin;                         /* status, requeue, backup, audit */
	bool simple;                        /* the [api] token_file client: every right */
	unsigned line;                      /* line of its section header */
};

struct config {
	char path[PATH_MAX];        /* the config file as given */
	char dir[PATH_MAX];         /* its folder, for relative paths */

	/* [agent] */
	char id[CONFIG_ID_MAX + 1];
	char keys_dir[PATH_MAX];
	char listen[CONFIG_ENDPOINT_MAX];
	char data_dir[PATH_MAX];
	int log_level;              /* enum log_level */
	uint64_t default_ttl_ms;
	uint64_t max_ttl_ms;
	uint64_t max_clock_skew_ms;
	uint64_t retention_ms;
	uint64_t min_free_bytes;    /* free space the data folder keeps; below it the store is "full" */

	/* [api] */
	char api_host[64];
	uint16_t api_port;
	char token_file[PATH_MAX];
	size_t max_body_bytes;      /* largest accepted HTTP request body */
	char tls_cert[PATH_MAX];    /* PEM chain: the API speaks HTTPS; "" = plain HTTP */
	char tls_key[PATH_MAX];     /* its private key (a secret file: ours, 0600); set with tls_cert */
	char tls_ca[PATH_MAX];      /* what clients (the CLI) trust; "" = tls_cert itself */
	bool allow_plaintext;       /* plain HTTP on a non-loopback address, warned at every start */
	uint64_t history_interval_ms; /* the console's chart samples: one per interval (1s to 1h) */

	/* [link] */
	uint32_t window;            /* envelopes in flight per link */
	uint64_t retry_initial_ms;
	uint64_t retry_max_ms;
	uint64_t heartbeat_ms;      /* idle interval before a heartbeat */
	uint64_t dead_after_ms;     /* silence after which a link is down */
	size_t max_frame_bytes;     /* ZMQ_MAXMSGSIZE */
	uint32_t protocol;          /* highest envelope version offered and taken: 1, or 2 (batch signatures) */
	uint64_t key_overlap_ms;    /* a replaced peer key stays valid for receiving this long */

	/* [store] (docs/store.md, docs/availability.md) */
	int store_backend;          /* enum store_backend: 0 sqlite, 1 postgres */
	char store_conninfo[1024];  /* postgres: libpq conninfo, when given inline (a secret) */
	char store_conninfo_file[PATH_MAX]; /* or read from this file, kept 0600 */
	char store_schema[49];      /* postgres: "" or a schema of its own */
	char node[CONFIG_ID_MAX + 1]; /* this node's name among the agency's (default: host name) */
	uint64_t ha_poll_ms;        /* how often a standby tries to become active */

	struct config_peer *peers;
	size_t n_peers;

	/* [client "NAME"], plus "default" for [api] token_file */
	struct config_client *clients;
	size_t n_clients;

	/* [audit] */
	uint64_t audit_checkpoint_entries; /* checkpoint after this many entries */
	uint64_t audit_checkpoint_ms;      /* ...or this long */
	/* [retention]: how long bodies of each MessageType are kept, when set */
	uint64_t type_retention_ms[32];
	bool type_retention_set[32];
};

/* Parses and checks FILE. On success returns a config the caller owns; on
 * failure NULL with "file:line: key: reason" in err. */
struct config *config_load(const char *file, char *err, size_t err_len);
/* Parses a config held in memory; `name` stands for the file in messages and
 * `dir` anchors relative paths. For tests and fuzzing. */
struct config *config_load_string(const char *text, const char *name, const char *dir,
				  char *err, size_t err_len);
/* Frees a config; accepts NULL and sets *cfg to NULL. */
void config_destroy(struct config **cfg);

/* The configured peer with that id, or NULL. Borrowed from cfg. */
const struct config_peer *config_peer_find(const struct config *cfg, const char *id);

/* One [retention] key: a type name and a duration ("passenger_manifest",
 * "24h"). 0, or -1 with the reason in why. */
int config_retention_key(struct config *cfg, const char *name, const char *value, char *why, size_t why_len);
/* How long bodies of `type` are kept: its [retention] entry, else its
 * type's default (schema_type_default_retention_ms), else [agent]
 * retention; never longer than [agent] retention, after which the whole
 * record goes. */
uint64_t config_body_retention_ms(const struct config *cfg, int type);

/* Parses "30s", "5m", "24h", "7d", "250ms" or plain seconds into ms. */
int config_parse_duration(const char *text, uint64_t *ms);

/* Reads the API bearer token from cfg->token_file, refusing a loose mode or a
 * foreign owner. Writes a NUL-terminated token into buf. */
int config_read_token(const struct config *cfg, char *buf, size_t len, char *err, size_t err_len);

/* Reads one client's token like config_read_token(). */
int config_read_client_token(const struct config_client *c, char *buf, size_t len, char *err, size_t err_len);

#endif
