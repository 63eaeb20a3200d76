/*
 * A hostile peer for security tests: takes a real envelope out of a stopped
 * agent's store and sends it to another agent over CURVE with the keys of a
 * third (a neighbour holding a copy), then reads the signed receipt; and
 * the relay gone bad of tools/hostile_relay.c started as a process.
 */
#ifndef LIMES_TEST_HOSTILE_H
#define LIMES_TEST_HOSTILE_H
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include "support/agentproc.h"

/* The envelope bytes of message id_hex in the stopped agent's outbox;
 * 0 or -1. *env is the caller's (free). */
int hostile_envelope_of(struct agentproc *owner, const char *id_hex, uint8_t **env, size_t *len);

/* Sends env to `to` over a fresh CURVE connection with the keys of `as`
 * and waits up to 5 s for a receipt from `to` covering the message;
 * *status and *reason get its entry (WIRE_RECEIPT_*, reason number);
 * 0, or -1 when nothing answered. */
int hostile_send_as(struct agentproc *as, struct agentproc *to, const uint8_t *env, size_t len, int *status,
		    int *reason);
/* Sends frame f to `to` with the keys of `as` and waits up to 2 s for a key
 * update answer, copied into answer (*answer_len: its size in, length
 * out); 0, or -1 when none came. */
struct wire_frame;
int hostile_frame_as(struct agentproc *as, struct agentproc *to, const struct wire_frame *f, uint8_t *answer,
		     size_t *answer_len);
/* Starts tools/hostile_relay.c (argv: LIMES_HOSTILE_RELAY_BIN and its
 * options, NULL-terminated) with its stdout and stderr to out_path, killed
 * when the test process dies; its pid (the caller SIGTERMs and reaps it).
 * Fails the test when it cannot fork. */
pid_t hostile_relay_spawn(const char *out_path, const char *const *argv);
/* Wires a -> r -> cc: a sends alert to cc through r, whose endpoint is a
 * fresh loopback port; cc's own link to r goes nowhere (r only relays to
 * it); `link` goes into a's and cc's [link]. Starts cc and a, then the
 * relay as r (r's keys) with one more option `opt` and its value (NULL
 * for none), its output to c->dir/relay.out, copied into out (out_len
 * bytes). Its pid, to end with hostile_relay_end or _kill. */
struct cluster;
pid_t hostile_relay_between(struct cluster *c, const char *a, const char *r, const char *cc, const char *link,
			    const char *opt, const char *opt_value, char *out, size_t out_len);
/* SIGTERM (it prints its counts and ends) and reaps it: its wait status
 * (0: a clean end), or -1 when it could not be signalled or reaped. *pid
 * becomes 0. */
int hostile_relay_end(pid_t *pid);
/* SIGKILL and reap, for a test's teardown; nothing when *pid is 0. */
void hostile_relay_kill(pid_t *pid);
#endif
