/*
 * Shared by the config's files only. config.c reads the file and hands each
 * key to its section: [agent], [api], [link], [store] and [peer "ID"] in
 * sections.c, [client "NAME"] and [audit] in clients.c, [retention] in
 * retention.c; validate.c checks what only the whole file tells. The
 * clients' functions write a reason (without file:line, which config.c
 * adds) into why; the others report through config_fail(). All return -1
 * on error, 0 on success.
 */
#ifndef LIMES_CONFIG_INT_H
#define LIMES_CONFIG_INT_H

#include "config/config.h"

enum section_kind { SECTION_NONE, SECTION_AGENT, SECTION_API, SECTION_LINK, SECTION_PEER, SECTION_STORE,
		    SECTION_RETENTION, SECTION_CLIENT, SECTION_AUDIT };

struct parse_state {
	struct config *cfg;
	const char *name;      /* file name for messages */
	const char *text;      /* remaining input */
	unsigned line;         /* line last handed to inih */
	unsigned header_line;  /* line of the current section header */
	unsigned header_seen;  /* headers read so far */
	unsigned header_used;  /* header number the handler last saw */
	char header_text[80];  /* the current section header, for "has no keys" */
	char keys_seen[24][32];/* keys of the current section, to refuse repeats */
	unsigned keys_line[24];
	unsigned n_keys;
	enum section_kind kind;
	struct config_peer *peer;
	bool seen_agent, seen_api, seen_link, seen_store, seen_audit;
	unsigned store_line;
	unsigned agent_line, api_line;
	unsigned max_body_line, max_frame_line; /* 0: the default */
	unsigned retry_line, retry_max_line;    /* 0: the default */
	char err[CONFIG_ERR_MAX];
	/* which keys were given, to find missing ones */
	bool has_id, has_keys, has_listen, has_data, has_api_listen, has_token;
};

/* config.c: records the first error at `line` of the file (later ones are
 * dropped: the first is the one to fix). */
void config_fail(struct parse_state *st, unsigned line, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* sections.c: one key of the current [agent], [api], [link], [store] or
 * [peer "ID"] section (st->peer). */
int config_agent_key(struct parse_state *st, const char *key, const char *value);
int config_api_key(struct parse_state *st, const char *key, const char *value);
int config_link_key(struct parse_state *st, const char *key, const char *value);
int config_store_key(struct parse_state *st, const char *key, const char *value);
int config_peer_key(struct parse_state *st, const char *key, const char *value);
/* An agency id or node name: 1-64 of A-Z a-z 0-9 . _ - */
bool config_valid_id(const char *s);

/* validate.c: after the whole file: required keys, sizes that agree, peers
 * complete, the clients checked. */
int config_validate(struct parse_state *st);

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
