/*
 * Real `limes agent` processes for integration tests: each agent gets a
 * folder in the test's scratch dir with its keys, token and config, free
 * loopback ports, a log file; start waits for /healthz; stop sends SIGTERM
 * and reaps; kill9 kills for real. Requests go over HTTP with httpc, and
 * the CLI runs as a child with its stdout captured. Agents die with the test
 * process (PR_SET_PDEATHSIG) so a failed assertion leaves nothing running.
 */
#ifndef LIMES_TEST_AGENTPROC_H
#define LIMES_TEST_AGENTPROC_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

struct agentproc;

/* A free TCP port on 127.0.0.1, below the range the kernel hands out to
 * outgoing connections when it leaves room (checked by binding it), or 0. */
unsigned agentproc_free_port(void);

/* Makes ROOT/ID with keys (identity), a 0600 token and ports; no config yet. Caller owns it. */
struct agentproc *agentproc_new(const char *root, const char *id);
/* Stops it if running (SIGKILL), frees; accepts NULL and nulls *ap. */
void agentproc_destroy(struct agentproc **ap);

/* Its folder, config path, public identity line, token, API port, ZeroMQ endpoint; owned by ap. */
const char *agentproc_id(const struct agentproc *ap);
const char *agentproc_dir(const struct agentproc *ap);
const char *agentproc_config(const struct agentproc *ap);
const char *agentproc_pubkey(const struct agentproc *ap);
const char *agentproc_token(const struct agentproc *ap);
unsigned agentproc_api_port(const struct agentproc *ap);
const char *agentproc_endpoint(const struct agentproc *ap);

/* Extra lines for [agent], [api] and [link] (each replaces the previous). */
void agentproc_set_agent_extra(struct agentproc *ap, const char *lines);
void agentproc_set_api_extra(struct agentproc *ap, const char *lines);
void agentproc_set_link_extra(struct agentproc *ap, const char *lines);
/* The [api] listen host (an IP address; IPv6 without brackets), instead of
 * 127.0.0.1; requests go there too. */
void agentproc_set_api_host(struct agentproc *ap, const char *host);
/* Requests speak HTTPS, trusting the PEM file ca_file (copied). */
void agentproc_set_tls_ca(struct agentproc *ap, const char *ca_file);
/* Starts the agent as `argv... LIMES_BIN agent -c CONFIG` (argv: NULL-terminated,
 * at most 7 entries, borrowed until the agent stops; NULL for none). */
void agentproc_set_wrapper(struct agentproc *ap, const char *const *argv);
/* The [agent] listen endpoint (e.g. "tcp://0.0.0.0:PORT" in a network
 * namespace), instead of tcp://127.0.0.1:PORT; agentproc_endpoint() gives it. */
void agentproc_set_listen(struct agentproc *ap, const char *endpoint);
/* The ZeroMQ port it was given (the one in its default endpoint). */
unsigned agentproc_zmq_port(const struct agentproc *ap);
/* Sets the data folder (absolute), instead of ROOT/ID/data. */
void agentproc_set_data_dir(struct agentproc *ap, const char *dir);
/* Adds [peer "ID"] with endpoint, key, send and accept lists. */
void agentproc_add_peer(struct agentproc *ap, const char *id, const char *endpoint, const char *key,
			const char *send, const char *accept);
/* Adds [peer "ID"] reached through the relay peer `via`. */
void agentproc_add_relayed_peer(struct agentproc *ap, const char *id, const char *via, const char *key,
				const char *send, const char *accept);
/* Adds a peer section for another test agent. */
void agentproc_add_agent_peer(struct agentproc *ap, const struct agentproc *other, const char *send,
			      const char *accept);
/* Writes the config file (0600); 0 or -1. */
int agentproc_write_config(struct agentproc *ap);
/* Writes arbitrary text as the config file; 0 or -1. */
int agentproc_write_config_text(struct agentproc *ap, const char *text);

/* Writes the config if not written, starts the agent and waits until /healthz answers; 0 or -1. */
int agentproc_start(struct agentproc *ap);
/* The same, once, run as PREFIX... limes agent -c CONFIG (e.g. under
 * strace; PREFIX[0] an absolute path, at most 7 words, NULL-terminated). */
int agentproc_start_wrapped(struct agentproc *ap, const char *const *prefix);
/* SIGTERM and wait (up to 10 s); the exit status (0..255), or -1 when it did not exit normally. */
int agentproc_stop(struct agentproc *ap);
/* SIGKILL and reap. */
void agentproc_kill9(struct agentproc *ap);
/* Sends a signal; 0 or -1. */
int agentproc_signal(struct agentproc *ap, int sig);
/* Its process id while started (0 once reaped). */
int agentproc_pid(const struct agentproc *ap);
/* True while the process runs. */
bool agentproc_running(struct agentproc *ap);
/* True when the agent's log contains needle. */
bool agentproc_log_contains(const struct agentproc *ap, const char *needle);
/* Waits up to timeout_ms for needle in the log. */
bool agentproc_wait_log(const struct agentproc *ap, const char *needle, int timeout_ms);

/* One HTTP request to the agent's API; token NULL = its own, "" = none. Returns the status (0 when
 * unreachable); *body (may be NULL) gets the malloc'd answer. */
long agentproc_http(struct agentproc *ap, const char *method, const char *path, const char *body, size_t len,
		    const char *token, char **answer);
/* Same, parsing the answer as JSON into *doc (caller's; NULL when not JSON). */
long agentproc_json(struct agentproc *ap, const char *method, const char *path, const char *body, json_t **doc);
/* A number from GET /metrics: the line starting with `series ` (e.g. "limes_store_healthy"); -1 if absent. */
double agentproc_metric(struct agentproc *ap, const char *series);
/* GET /v1/peers: the "queued" figure of peer id, or -1. */
long agentproc_queued(struct agentproc *ap, const char *peer_id);

/* Runs `limes ARGS...` (NULL-terminated), stdin from stdin_text (may be NULL); exit status, stdout into
 * *out (caller frees; may be NULL). */
int agentproc_cli(char **out, const char *stdin_text, const char *arg, ...) __attribute__((sentinel));

/* The messages an audit JSON line `entry` records as `kind`: the entry
 * itself when its kind is `kind`, each object of its "messages" when it is
 * `kind`_batch (docs/audit.md), else none. A new array (caller owns it)
 * holding borrowed references into entry. */
json_t *agentproc_audit_messages(json_t *entry, const char *kind);

#endif
