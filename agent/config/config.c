/*
 * INI config parsing with inih. We feed inih through our own line reader so
 * that every handler call knows its line number and section header, and so
 * an over-long line is an error instead of being split silently. This file
 * owns the reading (from a file or a string into a fresh struct config,
 * with its defaults), the sections (which kinds exist, each singleton once,
 * no key twice) and the first error with its file:line; each key goes to
 * its section's file (config_int.h) and the whole to validate.c.
 */
#include "config/config.h"

#include <errno.h>
#include <fcntl.h>
#include <ini.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "crypto/secret.h"
#include "proto/err.h"
#include "base/log.h"
#include "config_int.h"
#include "proto/sizes.h"

#define LINE_MAX_BYTES 200 /* inih's INI_MAX_LINE as Debian builds it */

void config_fail(struct parse_state *st, unsigned line, const char *fmt, ...)
{
	if (st->err[0])
		return; /* keep the first error */
	int n = snprintf(st->err, sizeof(st->err), "%s:%u: ", st->name, line);
	if (n < 0 || (size_t)n >= sizeof(st->err))
		return;
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(st->err + n, sizeof(st->err) - (size_t)n, fmt, ap);
	va_end(ap);
}

static char *reader(char *buf, int size, void *arg)
{
	struct parse_state *st = arg;
	const char *p = st->text;

	if (!p || !*p)
		return NULL;
	const char *nl = strchr(p, '\n');
	size_t len = nl ? (size_t)(nl - p) : strlen(p);
	st->line++;
	st->text = nl ? nl + 1 : p + len;
	if (len >= (size_t)size - 1 || len >= LINE_MAX_BYTES - 1) {
		config_fail(st, st->line, "line is too long (%zu bytes, at most %d)", len, LINE_MAX_BYTES - 2);
		len = 0;
	}
	memcpy(buf, p, len);
	buf[len] = '\0';
	const char *s = buf;
	while (*s == ' ' || *s == '\t')
		s++;
	if (*s == '[') {
		/* inih calls the handler only for keys: a section without any
		 * (a [peer] left empty, an unknown section at the end) would be
		 * dropped without a word */
		if (st->header_seen != st->header_used)
			config_fail(st, st->header_line, "section %s has no keys", st->header_text);
		st->header_line = st->line;
		st->header_seen++;
		snprintf(st->header_text, sizeof(st->header_text), "%s", s);
	}
	return buf;
}

/* A new section header: decide its kind, refuse duplicates. */
static int begin_section(struct parse_state *st, const char *section)
{
	struct config *cfg = st->cfg;

	st->peer = NULL;
	if (strcmp(section, "agent") == 0) {
		if (st->seen_agent) {
			config_fail(st, st->header_line, "section [agent] appears twice (first at line %u)", st->agent_line);
			return -1;
		}
		st->seen_agent = true;
		st->agent_line = st->header_line;
		st->kind = SECTION_AGENT;
		return 0;
	}
	if (strcmp(section, "api") == 0) {
		if (st->seen_api) {
			config_fail(st, st->header_line, "section [api] appears twice (first at line %u)", st->api_line);
			return -1;
		}
		st->seen_api = true;
		st->api_line = st->header_line;
		st->kind = SECTION_API;
		return 0;
	}
	if (strcmp(section, "link") == 0) {
		if (st->seen_link) {
			config_fail(st, st->header_line, "section [link] appears twice");
			return -1;
		}
		st->seen_link = true;
		st->kind = SECTION_LINK;
		return 0;
	}
	if (strcmp(section, "store") == 0) {
		if (st->seen_store) {
			config_fail(st, st->header_line, "section [store] appears twice (first at line %u)", st->store_line);
			return -1;
		}
		st->seen_store = true;
		st->store_line = st->header_line;
		st->kind = SECTION_STORE;
		return 0;
	}
	if (strcmp(section, "retention") == 0) {
		st->kind = SECTION_RETENTION; /* repeated keys are refused like anywhere */
		return 0;
	}
	if (strncmp(section, "peer ", 5) == 0) {
		const char *q = section + 5;
		size_t n = strlen(q);
		char id[CONFIG_ID_MAX + 1];
		if (n < 3 || q[0] != '"' || q[n - 1] != '"' || n - 2 > CONFIG_ID_MAX) {
			config_fail(st, st->header_line, "section [%s]: write it as [peer \"AGENCY-ID\"]", section);
			return -1;
		}
		memcpy(id, q + 1, n - 2);
		id[n - 2] = '\0';
		if (!config_valid_id(id)) {
			config_fail(st, st->header_line, "section [%s]: '%s' is not an agency id", section, id);
			return -1;
		}
		for (size_t i = 0; i < cfg->n_peers; i++)
			if (strcmp(cfg->peers[i].id, id) == 0) {
				config_fail(st, st->header_line, "duplicate peer \"%s\" (first at line %u)", id,
				     cfg->peers[i].line);
				return -1;
			}
		struct config_peer *grown = realloc(cfg->peers, (cfg->n_peers + 1) * sizeof(*grown));
		if (!grown) {
			config_fail(st, st->header_line, "out of memory");
			return -1;
		}
		cfg->peers = grown;
		st->peer = &cfg->peers[cfg->n_peers++];
		memset(st->peer, 0, sizeof(*st->peer));
		memcpy(st->peer->id, id, n - 1);
		st->peer->line = st->header_line;
		st->kind = SECTION_PEER;
		return 0;
	}
	if (strncmp(section, "client ", 7) == 0 || strcmp(section, "audit") == 0) {
		char why[CONFIG_ERR_MAX];
		if (section[0] == 'a') {
			if (st->seen_audit) {
				config_fail(st, st->header_line, "section [audit] appears twice");
				return -1;
			}
			st->seen_audit = true;
			st->kind = SECTION_AUDIT;
			return 0;
		}
		if (config_client_begin(cfg, section, st->header_line, why, sizeof(why)) < 0) {
			config_fail(st, st->header_line, "%s", why);
			return -1;
		}
		st->kind = SECTION_CLIENT;
		return 0;
	}
	config_fail(st, st->header_line, "unknown section [%s] (known: agent, api, link, store, retention, audit, peer \"ID\", client \"NAME\")",
	     section);
	return -1;
}

static int handler(void *arg, const char *section, const char *name, const char *value)
{
	struct parse_state *st = arg;

	if (st->err[0])
		return 0;
	if (st->header_seen == 0) {
		config_fail(st, st->line, "key '%s' outside any section", name);
		return 0;
	}
	if (st->header_used != st->header_seen) {
		st->header_used = st->header_seen;
		st->n_keys = 0;
		if (begin_section(st, section) < 0)
			return 0;
	}
	/* a repeated key would silently override the first: refuse it */
	for (unsigned i = 0; i < st->n_keys; i++)
		if (strcmp(st->keys_seen[i], name) == 0) {
			config_fail(st, st->line, "key '%s' given twice in this section (first at line %u)", name,
			     st->keys_line[i]);
			return 0;
		}
	if (st->n_keys < sizeof(st->keys_seen) / sizeof(st->keys_seen[0]) && strlen(name) < sizeof(st->keys_seen[0])) {
		memcpy(st->keys_seen[st->n_keys], name, strlen(name) + 1);
		st->keys_line[st->n_keys++] = st->line;
	}
	int rc;
	switch (st->kind) {
	case SECTION_AGENT: rc = config_agent_key(st, name, value); break;
	case SECTION_API: rc = config_api_key(st, name, value); break;
	case SECTION_LINK: rc = config_link_key(st, name, value); break;
	case SECTION_PEER: rc = config_peer_key(st, name, value); break;
	case SECTION_STORE: rc = config_store_key(st, name, value); break;
	case SECTION_CLIENT:
	case SECTION_AUDIT: {
		char why[CONFIG_ERR_MAX];
		rc = st->kind == SECTION_CLIENT ? config_client_key(st->cfg, name, value, why, sizeof(why))
						: config_audit_key(st->cfg, name, value, why, sizeof(why));
		if (rc < 0)
			config_fail(st, st->line, "%s", why);
		break;
	}
	case SECTION_RETENTION: {
		char why[256];
		rc = config_retention_key(st->cfg, name, value, why, sizeof(why));
		if (rc < 0)
			config_fail(st, st->line, "[retention]: %s", why);
		break;
	}
	default: rc = -1; break;
	}
	return rc == 0;
}

static void set_defaults(struct config *cfg)
{
	cfg->log_level = LOG_LEVEL_INFO;
	cfg->default_ttl_ms = 24ull * 3600 * 1000;
	cfg->max_ttl_ms = 30ull * 86400 * 1000;
	cfg->max_clock_skew_ms = 5ull * 60 * 1000;
	cfg->retention_ms = 90ull * 86400 * 1000;
	cfg->min_free_bytes = 64ull << 20;
	snprintf(cfg->api_host, sizeof(cfg->api_host), "127.0.0.1");
	cfg->api_port = 7480;
	cfg->max_body_bytes = 16u << 20;
	cfg->window = 2048;
	cfg->protocol = 2;
	cfg->retry_initial_ms = 2000;
	cfg->retry_max_ms = 5 * 60 * 1000;
	cfg->heartbeat_ms = 5000;
	cfg->history_interval_ms = 60 * 1000;
	cfg->dead_after_ms = 15000;
	cfg->max_frame_bytes = SIZES_FRAME_DEFAULT; /* carries the largest body the schema allows */
	cfg->audit_checkpoint_entries = 1000;
	cfg->audit_checkpoint_ms = 60 * 1000;
	cfg->ha_poll_ms = 500;
	/* a node's default name: its host name, when that is a usable name */
	if (gethostname(cfg->node, sizeof(cfg->node)) < 0 || !config_valid_id(cfg->node))
		snprintf(cfg->node, sizeof(cfg->node), "node");
	cfg->node[sizeof(cfg->node) - 1] = '\0';
	cfg->key_overlap_ms = 7ull * 86400 * 1000;
}

struct config *config_load_string(const char *text, const char *name, const char *dir, char *err,
				  size_t err_len)
{
	struct parse_state st;
	struct config *cfg = calloc(1, sizeof(*cfg));

	memset(&st, 0, sizeof(st));
	if (!cfg) {
		snprintf(err, err_len, "%s: out of memory", name);
		return NULL;
	}
	set_defaults(cfg);
	if (strncmp(text, "\xEF\xBB\xBF", 3) == 0)
		text += 3; /* a UTF-8 byte-order mark, as some editors write */
	snprintf(cfg->path, sizeof(cfg->path), "%s", name);
	snprintf(cfg->dir, sizeof(cfg->dir), "%s", dir);
	st.cfg = cfg;
	st.name = name;
	st.text = text;

	int rc = ini_parse_stream(reader, &st, handler, &st);
	if (rc != 0 && !st.err[0]) {
		/* inih found a line it cannot parse (no '=' or an unclosed '[') */
		config_fail(&st, rc > 0 ? (unsigned)rc : st.line, "syntax error: expected [section] or key = value");
	}
	if (!st.err[0])
		config_validate(&st);
	if (st.err[0]) {
		snprintf(err, err_len, "%s", st.err);
		config_destroy(&cfg);
		return NULL;
	}
	return cfg;
}

struct config *config_load(const char *file, char *err, size_t err_len)
{
	struct config *cfg = NULL;
	char *text = NULL;
	char dir[PATH_MAX];
	/* non-blocking: opening a FIFO for reading would wait for a writer
	 * (and a SIGHUP reload would freeze the loop); fstat refuses it below */
	int fd = open(file, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	FILE *f = fd >= 0 ? fdopen(fd, "r") : NULL;

	if (!f) {
		if (fd >= 0)
			close(fd);
		snprintf(err, err_len, "%s: cannot open: %s", file, strerror(errno));
		return NULL;
	}
	struct stat sb;
	if (fstat(fileno(f), &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size > (1 << 20)) {
		snprintf(err, err_len, "%s: not a regular file of at most 1 MiB", file);
		goto out;
	}
	text = malloc((size_t)sb.st_size + 1);
	if (!text) {
		snprintf(err, err_len, "%s: out of memory", file);
		goto out;
	}
	size_t got = fread(text, 1, (size_t)sb.st_size, f);
	if (ferror(f)) {
		snprintf(err, err_len, "%s: read error: %s", file, strerror(errno));
		goto out;
	}
	text[got] = '\0';
	if (memchr(text, '\0', got)) {
		snprintf(err, err_len, "%s: contains a NUL byte: not a text file", file);
		goto out;
	}
	/* folder of the file, absolute, for relative paths */
	char abs[PATH_MAX];
	if (!realpath(file, abs)) {
		snprintf(err, err_len, "%s: %s", file, strerror(errno));
		goto out;
	}
	char *slash = strrchr(abs, '/');
	if (slash == abs)
		snprintf(dir, sizeof(dir), "/");
	else {
		*slash = '\0';
		snprintf(dir, sizeof(dir), "%s", abs);
	}
	cfg = config_load_string(text, file, dir, err, err_len);
out:
	free(text);
	fclose(f);
	return cfg;
}

void config_destroy(struct config **cfg)
{
	if (!cfg || !*cfg)
		return;
	free((*cfg)->peers);
	free((*cfg)->clients);
	free(*cfg);
	*cfg = NULL;
}

const struct config_peer *config_peer_find(const struct config *cfg, const char *id)
{
	for (size_t i = 0; i < cfg->n_peers; i++)
		if (strcmp(cfg->peers[i].id, id) == 0)
			return &cfg->peers[i];
	return NULL;
}

int config_read_token(const struct config *cfg, char *buf, size_t len, char *err, size_t err_len)
{
	size_t n = 0;
	int rc = secret_file_read(cfg->token_file, "token file", buf, len, &n, err, err_len);

	if (rc < 0)
		return rc;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	if (memchr(buf, '\0', n)) {
		snprintf(err, err_len, "%s: the token contains a NUL byte", cfg->token_file);
		return LIMES_E_INVAL;
	}
	if (n < 16) {
		snprintf(err, err_len, "%s: token is shorter than 16 characters", cfg->token_file);
		return LIMES_E_INVAL;
	}
	return 0;
}

