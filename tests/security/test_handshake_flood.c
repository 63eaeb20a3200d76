/*
 * Hostile peers on the link port: 1,000 CURVE handshakes with unknown keys
 * (and their automatic retries) while a configured peer keeps sending. The
 * agent refuses every one at ZAP, logs a few lines a second with a count
 * of what it suppressed, and legitimate traffic keeps flowing: everything
 * accepted is delivered once. The throughput during the flood is printed
 * (recorded, never asserted: docs/reliability.md).
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "crypto/identity.h"
#include "support/cluster.h"
#include "support/faults.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"

TestSuite(handshake_flood, .timeout = 300);

static double now_s(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

Test(handshake_flood, a_thousand_unknown_keys_do_not_stop_a_configured_peer)
{
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	struct fault_ids ok = { 0 };

	cluster_configure(c, l, 1, NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	cr_assert(cluster_wait_up(c, A, B, 10000));

	void *ctx = zmq_ctx_new();
	int max_sockets = 2048;
	zmq_ctx_set(ctx, ZMQ_MAX_SOCKETS, max_sockets);
	const char *endpoint = agentproc_endpoint(cluster_ap(c, B));
	struct peer_key bk;
	char why[256];
	cr_assert(identity_line_parse(agentproc_pubkey(cluster_ap(c, B)), &bk, why, sizeof(why)) == 0, "%s", why);
	double start = now_s();
	size_t handshakes = 0;
	for (int round = 0; round < 10; round++) {
		void *s[100];
		for (int i = 0; i < 100; i++) {
			char pub[41], sec[41];
			cr_assert(zmq_curve_keypair(pub, sec) == 0);
			s[i] = zmq_socket(ctx, ZMQ_DEALER);
			int linger = 0;
			zmq_setsockopt(s[i], ZMQ_LINGER, &linger, sizeof(linger));
			zmq_setsockopt(s[i], ZMQ_CURVE_PUBLICKEY, pub, 41);
			zmq_setsockopt(s[i], ZMQ_CURVE_SECRETKEY, sec, 41);
			/* B's real server key: the handshake reaches ZAP, which refuses the client key */
			zmq_setsockopt(s[i], ZMQ_CURVE_SERVERKEY, bk.box_pk, 32);
			cr_assert(zmq_connect(s[i], endpoint) == 0);
			handshakes++;
		}
		/* legitimate traffic in the middle of the flood */
		char id[20][33];
		int st = cluster_submit(c, A, B, "alert", "normal", 20, id);
		cr_assert(st == 202, "A's API answers during the flood (%d)", st);
		for (int i = 0; i < 20; i++)
			fault_ids_add(&ok, id[i]);
		/* every handshake of the round answered by ZAP before its sockets close */
		for (int t = 0; t < 100; t++) {
			if (agentproc_metric(cluster_ap(c, B), "limes_link_refused_handshakes_total") >=
			    (double)handshakes)
				break;
			cluster_sleep_ms(100);
		}
		for (int i = 0; i < 100; i++)
			zmq_close(s[i]);
	}
	cr_assert(fault_wait_drained(c, A, B, 60));
	double elapsed = now_s() - start;
	zmq_ctx_term(ctx);
	fault_assert_invariant(c, A, B, &ok, 0);
	cr_assert(cluster_wait_up(c, A, B, 5000), "the configured peer's link stayed up");
	double refused = agentproc_metric(cluster_ap(c, B), "limes_link_refused_handshakes_total");
	cr_assert(refused >= (double)handshakes, "every unknown key refused at ZAP (%.0f)", refused);
	cr_assert(agentproc_log_contains(cluster_ap(c, B), "event=unknown_peer"));
	printf("handshake_flood refused_handshakes=%.0f unknown_keys=%zu delivered=%zu seconds=%.2f msgs_per_s=%.0f\n", refused, handshakes,
	       ok.n, elapsed, (double)ok.n / elapsed);
	fault_ids_free(&ok);
	cluster_destroy(&c);
}
