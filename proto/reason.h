/*
 * Rejection reasons: the RejectReason numbers of proto/limes.proto, their
 * stable names (logs, the API, docs/protocol.md) and the error each one
 * answers. The one place these facts live; wire.c checks at build time that
 * every number matches the generated enum.
 */
#ifndef LIMES_REASON_H
#define LIMES_REASON_H

/*  X(NAME,            number, name,                   error that yields it) */
#define LIMES_REASONS(X) \
	X(NONE,                 0, "none",                 0) \
	X(MALFORMED,            1, "malformed",            LIMES_E_ENV_MALFORMED) \
	X(UNKNOWN_VERSION,      2, "unknown_version",      LIMES_E_ENV_VERSION) \
	X(WRONG_RECIPIENT,      3, "wrong_recipient",      LIMES_E_ENV_RECIPIENT) \
	X(EXPIRED,              4, "expired",              LIMES_E_ENV_EXPIRED) \
	X(NOT_YET_VALID,        5, "not_yet_valid",        LIMES_E_ENV_FUTURE) \
	X(UNKNOWN_KEY,          6, "unknown_key",          LIMES_E_ENV_UNKNOWN_KEY) \
	X(KEY_NOT_VALID,        7, "key_not_valid",        LIMES_E_ENV_KEY_INVALID) \
	X(BAD_SIGNATURE,        8, "bad_signature",        LIMES_E_ENV_BAD_SIG) \
	X(DECRYPT_FAILED,       9, "decrypt_failed",       LIMES_E_ENV_DECRYPT) \
	X(POLICY_DENY,         10, "policy_deny",          LIMES_E_POLICY) \
	X(SCHEMA,              11, "schema",               LIMES_E_SCHEMA) \
	X(UNKNOWN_SCHEMA_MAJOR,12, "unknown_schema_major", LIMES_E_SCHEMA_MAJOR) \
	X(TTL_TOO_LONG,        13, "ttl_too_long",         LIMES_E_ENV_TTL) \
	X(UNROUTABLE,          14, "unroutable",           LIMES_E_UNKNOWN_PEER) \
	X(INTERNAL,            15, "internal",             LIMES_E_IO) \
	X(REPLAY,              16, "replay",               LIMES_E_ENV_REPLAY)

enum reject_reason {
#define LIMES_REASON_ENUM(name, num, id, err) REASON_##name = num,
	LIMES_REASONS(LIMES_REASON_ENUM)
#undef LIMES_REASON_ENUM
	REASON_COUNT
};

/* The reason a refusal with LIMES_E_* err is sent with (MALFORMED for an
 * error no row names). */
int reason_of_error(int err);
/* Stable name of a reason number ("policy_deny"), "unknown" out of range;
 * static storage, never NULL. */
const char *reason_name(int reason);

#endif
