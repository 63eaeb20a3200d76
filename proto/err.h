/*
 * The one error space of every module: 0 is success, every failure a named
 * negative value, limes_strerror() gives its text and limes_errname() its
 * stable machine name (used in logs, API errors and rejection receipts).
 * It lives in the bottom layer so that nothing has to reach up for it.
 */
#ifndef LIMES_ERR_H
#define LIMES_ERR_H

#define LIMES_ERRORS(X) \
	X(OK,               0,   "ok",                 "success") \
	X(NOMEM,           -1,   "nomem",              "out of memory") \
	X(IO,              -2,   "io",                 "input/output error") \
	X(INVAL,           -3,   "invalid",            "invalid argument") \
	X(NOTFOUND,        -4,   "not_found",          "not found") \
	X(EXISTS,          -5,   "exists",             "already exists") \
	X(TOOBIG,          -6,   "too_large",          "too large") \
	X(AGAIN,           -7,   "again",              "try again") \
	X(MISSING,         -8,   "missing_field",      "a required field is missing") \
	X(RANGE,           -9,   "out_of_range",       "value out of range") \
	X(NOT_REQUEUEABLE, -10,  "not_requeueable",    "only expired or rejected deliveries can be re-queued") \
	X(ACCES,           -11,  "permission_denied",  "permission denied") \
	X(NOENT,           -12,  "no_such_file",       "no such file or folder") \
	X(INTERNAL,        -13,  "internal",           "internal error") \
	X(FORBIDDEN,       -14,  "forbidden",          "the API client lacks the right for this request") \
	X(KEY_NOT_REGULAR, -20,  "key_not_regular",    "key file is not a regular file") \
	X(KEY_SYMLINK,     -21,  "key_symlink",        "key file is a symbolic link") \
	X(KEY_OWNER,       -22,  "key_owner",          "key file is not owned by the running user") \
	X(KEY_MODE,        -23,  "key_mode",           "key file is readable or writable by group or others") \
	X(KEY_FORMAT,      -24,  "key_format",         "key file or identity line is malformed") \
	X(ENV_TRUNCATED,   -40,  "truncated",          "envelope is truncated") \
	X(ENV_OVERSIZED,   -41,  "oversized",          "envelope exceeds the size limit") \
	X(ENV_MALFORMED,   -42,  "malformed",          "envelope does not decode") \
	X(ENV_VERSION,     -43,  "unknown_version",    "envelope major version is not supported") \
	X(ENV_RECIPIENT,   -44,  "wrong_recipient",    "envelope is addressed to another agent") \
	X(ENV_EXPIRED,     -45,  "expired",            "envelope has expired") \
	X(ENV_FUTURE,      -46,  "not_yet_valid",      "envelope was created in the future beyond the allowed clock skew") \
	X(ENV_UNKNOWN_KEY, -47,  "unknown_key",        "envelope is signed with an unknown key") \
	X(ENV_KEY_INVALID, -48,  "key_not_valid",      "envelope is signed with a key that is not valid at its creation time") \
	X(ENV_BAD_SIG,     -49,  "bad_signature",      "envelope signature does not verify") \
	X(ENV_DECRYPT,     -50,  "decrypt_failed",     "sealed payload does not open") \
	X(ENV_REPLAY,      -51,  "replay",             "message id was already seen") \
	X(ENV_TTL,         -52,  "ttl_too_long",       "envelope lifetime exceeds the maximum TTL") \
	X(SCHEMA,          -60,  "schema",             "payload does not match its schema") \
	X(POLICY,          -61,  "policy_deny",        "policy forbids this message type for this peer") \
	X(SCHEMA_MAJOR,    -63,  "unknown_schema_major", "payload schema major version is not supported") \
	X(UNKNOWN_PEER,    -62,  "unknown_peer",       "peer is not configured") \
	X(PEER_LACKS_TYPE, -64,  "peer_lacks_type",    "the peer said over the link that it does not accept this message type") \
	X(STORE_FAILED,    -80,  "store_failed",       "store is unusable after an I/O or fsync error") \
	X(STORE_FULL,      -81,  "disk_full",          "store disk is full") \
	X(STORE_CORRUPT,   -82,  "store_corrupt",      "store database is corrupt") \
	X(CONFIG,          -90,  "config",             "configuration error")

enum limes_err {
#define LIMES_ERR_ENUM(name, value, id, text) LIMES_E_##name = value,
	LIMES_ERRORS(LIMES_ERR_ENUM)
#undef LIMES_ERR_ENUM
};

/* Human text for an error code; static storage, never NULL. */
const char *limes_strerror(int err);
/* Stable snake_case name for an error code; static storage, never NULL. */
const char *limes_errname(int err);
/* Our code for a system errno (EACCES, ENOENT, ENOSPC, ENOMEM...); LIMES_E_IO otherwise. */
int limes_from_errno(int errnum);

#endif
