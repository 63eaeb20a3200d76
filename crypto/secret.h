/*
 * Small helpers for secrets held outside crypto/ (the API bearer token):
 * a keyed digest to keep instead of the secret, a constant-time comparison
 * and wiping. Holds no state; the only place outside crypto/ gets these is
 * through this header, so sodium.h stays in crypto/.
 */
#ifndef LIMES_CRYPTO_SECRET_H
#define LIMES_CRYPTO_SECRET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define SECRET_DIGEST_LEN 32

/* BLAKE2b-256 of buf[0..len) under the domain "limes/secret/v1" into the caller's out. */
void secret_digest(const void *buf, size_t len, uint8_t out[SECRET_DIGEST_LEN]);
/* True when the two digests are equal; constant time in their contents. */
bool secret_digest_equal(const uint8_t a[SECRET_DIGEST_LEN], const uint8_t b[SECRET_DIGEST_LEN]);
/* True when candidate[0..len) digests to expected; time does not depend on where they differ, nor on len beyond hashing. */
bool secret_matches(const void *candidate, size_t len, const uint8_t expected[SECRET_DIGEST_LEN]);
/* Wipes buf[0..len) in a way the compiler keeps; accepts NULL. */
void secret_wipe(void *buf, size_t len);

struct stat;

/* The one permission rule for anything that holds secrets (key files, token
 * files, the data folder): not a symbolic link, a regular file (or a folder
 * when want_dir), owned by the running user, no group or other permission
 * bit. `what` names it in the reason ("key file", "token file"). 0, or
 * LIMES_E_KEY_SYMLINK/_NOT_REGULAR/_OWNER/_MODE with why filled. */
int secret_path_check(const char *path, const struct stat *st, const char *what, bool want_dir, char *why,
		      size_t why_len);
/* Reads a secret file into buf (cap bytes; the caller may pass sodium
 * memory) after secret_path_check on both the path and what was opened;
 * never blocks on a FIFO nor follows a link. 0 with *len set, or
 * LIMES_E_NOENT/_ACCES/_TOOBIG/_IO/the check's code, with why filled and
 * whatever was read into buf wiped. */
int secret_file_read(const char *path, const char *what, void *buf, size_t cap, size_t *len, char *why,
		     size_t why_len);

#endif
