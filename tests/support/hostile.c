/* A hostile neighbour: replays real envelopes under its own keys (hostile.h). */
#include "support/hostile.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "crypto/encode.h"
#include "crypto/identity.h"
#include "crypto/receipt.h"
#include "proto/err.h"
#include "proto/wire.h"
#include "store/store.h"
#include "support/cluster.h"

struct copy {
	uint8_t *env;
	size_t len;
};

static int copy_env(void *arg, const struct store_delivery_row *row)
{
	struct copy *c = arg;
	c->env = malloc(row->envelope_len);
	if (!c->env)
		return LIMES_E_NOMEM;
	memcpy(c->env, row->envelope, row->envelope_len);
	c->len = row->envelope_len;
	return 1;
}

int hostile_envelope_of(struct agentproc *owner, const char *id_hex, uint8_t **env, size_t *len)
{
	char path[700];
	int err = 0;
	uint8_t raw[16];
	struct copy cp = { 0 };

	snprintf(path, sizeof(path), "%s/data", agentproc_dir(owner));
	struct store *st = store_open(path, &err);
	if (!st)
		return -1;
	int rc = encode_unhex(raw, sizeof(raw), id_hex, 32);
	if (rc == 0)
		rc = store_message_get(st, raw, copy_env, &cp);
	store_destroy(&st);
	if (rc < 0 || !cp.env)
		return -1;
	*env = cp.env;
	*len = cp.len;
	return 0;
}

static const struct peer_key *lookup_key(void *arg, const char *issuer, const uint8_t key_id[8], uint64_t t,
					 int *err)
{
	const struct peer_key *k = arg;
	(void)issuer;
	(void)t;
	if (memcmp(k->key_id, key_id, 8) != 0) {
		*err = LIMES_E_ENV_UNKNOWN_KEY;
		return NULL;
	}
	return k;
}

/* A DEALER connected to `to` over CURVE with the keys of `as` (its
 * keys/identity.key); *tk gets to's key, *ctx the context to end. */
static void *dealer_as(struct agentproc *as, struct agentproc *to, struct peer_key *tk, void **ctx)
{
	char path[700], why[256];
	int err = 0;

	snprintf(path, sizeof(path), "%s/keys", agentproc_dir(as));
	struct identity *me = identity_load(path, &err, why, sizeof(why));
	if (!me)
		return NULL;
	if (identity_line_parse(agentproc_pubkey(to), tk, why, sizeof(why)) < 0) {
		identity_destroy(&me);
		return NULL;
	}
	*ctx = zmq_ctx_new();
	void *s = zmq_socket(*ctx, ZMQ_DEALER);
	int linger = 0, timeout = 5000;
	zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof(linger));
	zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
	zmq_setsockopt(s, ZMQ_CURVE_SERVERKEY, tk->box_pk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_PUBLICKEY, identity_public(me)->box_pk, 32);
	zmq_setsockopt(s, ZMQ_CURVE_SECRETKEY, identity_curve_secret(me), 32);
	identity_destroy(&me);
	if (zmq_connect(s, agentproc_endpoint(to)) != 0) {
		zmq_close(s);
		zmq_ctx_term(*ctx);
		return NULL;
	}
	return s;
}

int hostile_send_as(struct agentproc *as, struct agentproc *to, const uint8_t *env, size_t len, int *status,
		    int *reason)
{
	int result = -1;
	struct peer_key tk;
	struct wire_header h;
	struct wire_envelope we = { 0 };

	if (wire_envelope_unpack(env, len, len, &we) < 0 ||
	    wire_header_unpack(we.header, we.header_len, we.header_len, &h) < 0) {
		wire_envelope_clear(&we);
		return -1;
	}
	wire_envelope_clear(&we);
	void *ctx = NULL;
	void *s = dealer_as(as, to, &tk, &ctx);
	if (!s)
		return -1;
	{
		struct wire_frame f = { .kind = WIRE_FRAME_ENVELOPE, .bytes = env, .len = len };
		uint8_t *fb = NULL;
		size_t fl = 0;
		if (wire_frame_pack(&f, &fb, &fl) == 0 && zmq_send(s, fb, fl, 0) == (int)fl) {
			for (int tries = 0; tries < 20 && result < 0; tries++) {
				static uint8_t buf[1 << 20];
				int n = zmq_recv(s, buf, sizeof(buf), 0);
				if (n <= 0)
					break;
				struct wire_frame in;
				if (wire_frame_unpack(buf, (size_t)n, sizeof(buf), &in) < 0 ||
				    in.kind != WIRE_FRAME_RECEIPT)
					continue; /* a heartbeat */
				struct wire_receipt_body body;
				if (receipt_open(in.bytes, in.len, sizeof(buf), lookup_key, &tk, &body) < 0)
					continue;
				for (size_t i = 0; i < body.n_entries; i++) {
					if (memcmp(body.entries[i].message_id, h.message_id, 16) == 0) {
						*status = (int)body.entries[i].status;
						*reason = body.entries[i].reason;
						result = 0;
					}
				}
				wire_receipt_body_clear(&body);
			}
		}
		free(fb);
	}
	zmq_close(s);
	zmq_ctx_term(ctx);
	return result;
}

int hostile_frame_as(struct agentproc *as, struct agentproc *to, const struct wire_frame *f, uint8_t *answer,
		     size_t *answer_len)
{
	struct peer_key tk;
	void *ctx = NULL;
	void *s = dealer_as(as, to, &tk, &ctx);
	uint8_t *fb = NULL;
	size_t fl = 0;
	int result = -1;

	if (!s)
		return -1;
	if (wire_frame_pack(f, &fb, &fl) == 0 && zmq_send(s, fb, fl, 0) == (int)fl) {
		int timeout = 2000;
		zmq_setsockopt(s, ZMQ_RCVTIMEO, &timeout, sizeof(timeout));
		for (int tries = 0; tries < 20 && result < 0; tries++) {
			static uint8_t buf[1 << 16];
			int n = zmq_recv(s, buf, sizeof(buf), 0);
			if (n <= 0)
				break;
			struct wire_frame in;
			if (wire_frame_unpack(buf, (size_t)n, sizeof(buf), &in) < 0 || in.kind != WIRE_FRAME_KEY_UPDATE_ACK)
				continue;
			if (in.len <= *answer_len) {
				memcpy(answer, in.bytes, in.len);
				*answer_len = in.len;
				result = 0;
			}
		}
	}
	free(fb);
	zmq_close(s);
	zmq_ctx_term(ctx);
	return result;
}

pid_t hostile_relay_spawn(const char *out_path, const char *const *argv)
{
	fflush(NULL);
	pid_t pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		if (fd >= 0) {
			dup2(fd, 1);
			dup2(fd, 2);
			close(fd);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	return pid;
}

int hostile_relay_end(pid_t *pid)
{
	int status = -1;
	if (*pid <= 0 || kill(*pid, SIGTERM) < 0 || waitpid(*pid, &status, 0) != *pid)
		status = -1;
	*pid = 0;
	return status;
}

void hostile_relay_kill(pid_t *pid)
{
	if (*pid > 0) {
		kill(*pid, SIGKILL);
		waitpid(*pid, NULL, 0);
		*pid = 0;
	}
}

pid_t hostile_relay_between(struct cluster *c, const char *a, const char *r, const char *cc, const char *link,
			    const char *opt, const char *opt_value, char *out, size_t out_len)
{
	struct agentproc *pa = cluster_ap(c, a), *pr = cluster_ap(c, r), *pc = cluster_ap(c, cc);
	char relay_ep[64], nowhere[64], keys[700];
	snprintf(relay_ep, sizeof(relay_ep), "tcp://127.0.0.1:%u", agentproc_free_port());
	snprintf(nowhere, sizeof(nowhere), "tcp://127.0.0.1:%u", agentproc_free_port());
	agentproc_set_link_extra(pa, link);
	agentproc_set_link_extra(pc, link);
	agentproc_add_peer(pa, r, relay_ep, agentproc_pubkey(pr), "alert", "");
	agentproc_add_relayed_peer(pa, cc, r, agentproc_pubkey(pc), "alert", "");
	agentproc_add_peer(pc, r, nowhere, agentproc_pubkey(pr), "", "");
	agentproc_add_relayed_peer(pc, a, r, agentproc_pubkey(pa), "", "alert");
	cluster_start(c, cc);
	cluster_start(c, a);
	snprintf(keys, sizeof(keys), "%s/keys", agentproc_dir(pr));
	snprintf(out, out_len, "%s/relay.out", c->dir);
	const char *argv[] = { LIMES_HOSTILE_RELAY_BIN, "--keys", keys, "--id", r, "--listen", relay_ep, "--next",
			       agentproc_endpoint(pc), "--next-key", agentproc_pubkey(pc), opt, opt_value, NULL };
	return hostile_relay_spawn(out, argv);
}
