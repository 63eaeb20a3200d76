/*
 * The one HTTP client of Limes (libcurl), for everything that talks to an
 * agent's local API from outside it: the `limes` CLI, limes-bench and the
 * tests. A client is bound to one host, port and bearer token. It makes
 * blocking requests on one keep-alive connection, and, for the bench, keeps
 * up to `slots` requests in flight at once (libcurl's multi interface, one
 * keep-alive connection per slot) driven by httpc_poll(). It knows nothing
 * of config files or exit codes: that is the caller's business.
 */
#ifndef LIMES_HTTPC_H
#define LIMES_HTTPC_H

#include <stddef.h>
#include <stdint.h>

struct httpc;

/* One answer. status is 0 when no HTTP answer came (error then says why);
 * body is NUL-terminated and never NULL once status is set. */
struct httpc_answer {
	long status;
	char *body;
	size_t len;
	char error[256];
};

/* One finished request started with httpc_start(): the caller's tag and the
 * answer, which is owned by the client and valid during the call only. */
typedef void (*httpc_done_fn)(void *arg, void *tag, const struct httpc_answer *answer);

/* A client for http://HOST:PORT (an IPv6 HOST is bracketed) that sends
 * "Authorization: Bearer TOKEN" unless token is NULL or ""; the token is
 * copied and wiped on destroy. slots: requests httpc_start() may keep in
 * flight (0 counts as 1). Caller owns the result; NULL on failure. */
struct httpc *httpc_new(const char *host, uint16_t port, const char *token, unsigned slots);
/* Frees the client, wiping the token; accepts NULL and nulls *h. Requests
 * still in flight are abandoned without their done callback. */
void httpc_destroy(struct httpc **h);
/* Makes the client speak HTTPS (TLS 1.2 or later) to its host, trusting
 * only the PEM certificate(s) in ca_file (the path is copied; a server's own
 * certificate will do), whose names must include the host. Call before any
 * request. 0, or LIMES_E_TOOBIG when the path is too long. */
int httpc_use_tls(struct httpc *h, const char *ca_file);
/* "http://HOST:PORT" (https once httpc_use_tls), for messages; owned by h. */
const char *httpc_base(const struct httpc *h);

/* Makes one request and waits for it, at most timeout_ms in all. body
 * (len bytes, borrowed) may be NULL. Fills the caller's answer, whose body
 * the caller then owns (free with httpc_answer_clear). 0 when the server
 * answered (any status), LIMES_E_IO when it could not be reached or did not
 * answer in time (answer->error says why), LIMES_E_NOMEM. */
int httpc_request(struct httpc *h, const char *method, const char *path, const char *body, size_t len,
		  long timeout_ms, struct httpc_answer *answer);
/* Frees answer->body and zeroes the answer; accepts NULL. */
void httpc_answer_clear(struct httpc_answer *answer);

/* Starts a request in a free slot without waiting; body (borrowed) must
 * live until its done callback. The submit time is the caller's, taken
 * before this call. 0, LIMES_E_AGAIN when no slot is free, LIMES_E_IO. */
int httpc_start(struct httpc *h, const char *method, const char *path, const char *body, size_t len,
		long timeout_ms, void *tag);
/* Slots free for httpc_start() now. */
unsigned httpc_free_slots(const struct httpc *h);
/* Requests started and not yet reported done. */
unsigned httpc_running(const struct httpc *h);
/* Drives the started requests, calls done(arg, tag, answer) for each one
 * finished, then waits up to timeout_ms (0: not at all) for network
 * activity or for extra_fd (if >= 0, not owned) to become readable.
 * 0, or LIMES_E_IO when libcurl fails. */
int httpc_poll(struct httpc *h, int extra_fd, int timeout_ms, httpc_done_fn done, void *arg);

#endif
