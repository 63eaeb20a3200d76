/*
 * Cross-field rules of the business messages (schema_rules.c); internal to
 * proto/. The per-field limits live in limits.c.
 */
#ifndef LIMES_PROTO_SCHEMA_RULES_H
#define LIMES_PROTO_SCHEMA_RULES_H

#include "pbjson_impl.h"

/* Checks one decoded message of its type; 0 or LIMES_E_SCHEMA with w's error set. */
typedef int (*schema_rules_fn)(const ProtobufCMessage *msg, struct pbjson_walk *w);

/* The rules of a message ("limes.PassengerManifest"), or NULL when it has none. */
schema_rules_fn schema_rules_for(const char *message_name);
/* Runs msg's rules (borrowed) with paths under path_prefix; err must not be NULL. */
int schema_rules_check(const ProtobufCMessage *msg, const char *path_prefix, struct pbjson_error *err);

#endif
