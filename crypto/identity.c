/*
 * Identities: key generation, the key file (DIR/identity.key, text, versioned,
 * mode 0600, written with temp + fsync + rename + fsync of the folder), its
 * checks on load, and the public identity line. Owns the secret keys, kept in
 * sodium_malloc'd memory and wiped on every path.
 */
#include "crypto/identity.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "proto/err.h"
#include "crypto/encode.h"
#include "internal.h"
#include "crypto/random.h"
#include "crypto/secret.h"

#define LINE_PREFIX "limes1:"
#define KEY_FILE_MAGIC "limes-identity-key"
#define KEY_FILE_VERSION "v1"
#define KEY_FILE_MAX 4096

struct identity {
	uint8_t sign_sk[crypto_sign_SECRETKEYBYTES];  /* seed || sign_pk */
	uint8_t box_sk[crypto_box_SECRETKEYBYTES];
	struct peer_key pub;
};

/* Secrets decoded from a key file, kept apart until the identity is built. */
struct seeds {
	uint8_t sign_seed[IDENTITY_SEED_LEN];
	uint8_t box_sk[IDENTITY_SEED_LEN];
};

static void say(char *why, size_t why_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void say(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (!why || !why_len)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

void identity_key_id(const uint8_t sign_pk[IDENTITY_PK_LEN], const uint8_t box_pk[IDENTITY_PK_LEN],
		     uint8_t out[IDENTITY_KEY_ID_LEN])
{
	crypto_generichash_state st;
	uint8_t digest[32];

	crypto_generichash_init(&st, NULL, 0, sizeof(digest));
	crypto_generichash_update(&st, (const uint8_t *)DOMAIN_KEY_ID, sizeof(DOMAIN_KEY_ID));
	crypto_generichash_update(&st, sign_pk, IDENTITY_PK_LEN);
	crypto_generichash_update(&st, box_pk, IDENTITY_PK_LEN);
	crypto_generichash_final(&st, digest, sizeof(digest));
	memcpy(out, digest, IDENTITY_KEY_ID_LEN);
}

struct identity *identity_from_seeds(const uint8_t sign_seed[IDENTITY_SEED_LEN],
				     const uint8_t box_sk[IDENTITY_SEED_LEN])
{
	struct identity *id;

	if (random_init() < 0 || !sign_seed || !box_sk)
		return NULL;
	id = sodium_malloc(sizeof(*id));
	if (!id)
		return NULL;
	memset(id, 0, sizeof(*id));
	if (crypto_sign_seed_keypair(id->pub.sign_pk, id->sign_sk, sign_seed) != 0)
		goto fail;
	memcpy(id->box_sk, box_sk, sizeof(id->box_sk));
	if (crypto_scalarmult_base(id->pub.box_pk, id->box_sk) != 0)
		goto fail;
	identity_key_id(id->pub.sign_pk, id->pub.box_pk, id->pub.key_id);
	return id;
fail:
	sodium_free(id);  /* sodium_free wipes before unmapping */
	return NULL;
}

const struct peer_key *identity_public(const struct identity *id)
{
	return id ? &id->pub : NULL;
}

const uint8_t *identity_sign_sk(const struct identity *id)
{
	return id->sign_sk;
}

const uint8_t *identity_box_sk(const struct identity *id)
{
	return id->box_sk;
}

const uint8_t *identity_curve_secret(const struct identity *id)
{
	return identity_box_sk(id);
}

void identity_destroy(struct identity **id)
{
	if (!id || !*id)
		return;
	sodium_free(*id);
	*id = NULL;
}

/* ------------------------------------------------------------ public line */

int identity_line_format(const struct peer_key *pk, char *buf, size_t len)
{
	uint8_t keys[2 * IDENTITY_PK_LEN];
	char hex[ENCODE_HEX_SIZE(IDENTITY_KEY_ID_LEN)];
	char b64[ENCODE_BASE64URL_SIZE(2 * IDENTITY_PK_LEN)];

	if (!pk || !buf || len < IDENTITY_LINE_SIZE)
		return LIMES_E_TOOBIG;
	memcpy(keys, pk->sign_pk, IDENTITY_PK_LEN);
	memcpy(keys + IDENTITY_PK_LEN, pk->box_pk, IDENTITY_PK_LEN);
	if (encode_hex(hex, sizeof(hex), pk->key_id, IDENTITY_KEY_ID_LEN) < 0 ||
	    encode_base64url(b64, sizeof(b64), keys, sizeof(keys)) < 0)
		return LIMES_E_TOOBIG;
	snprintf(buf, len, LINE_PREFIX "%s:%s", hex, b64);
	return 0;
}

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Quotes at most 24 characters of an offending token, marking the cut. */
static const char *clip(const char *s, size_t n, char *buf, size_t buf_len)
{
	size_t keep = n < 24 ? n : 24;

	snprintf(buf, buf_len, "%.*s%s", (int)keep, s, n > keep ? "..." : "");
	return buf;
}

int identity_line_parse(const char *line, struct peer_key *out, char *why, size_t why_len)
{
	static const uint8_t probe_scalar[32] = { 0x4c, 0x69, 0x6d, 0x65, 0x73 };  /* any scalar works */
	struct peer_key pk;
	uint8_t keys[2 * IDENTITY_PK_LEN];
	uint8_t expect_id[IDENTITY_KEY_ID_LEN];
	uint8_t probe[32];
	char quoted[32];
	const char *start, *end, *kid, *colon, *b64;
	size_t n, written = 0;

	if (!line || !out) {
		say(why, why_len, "no identity line");
		return LIMES_E_KEY_FORMAT;
	}
	start = line;
	while (is_blank(*start))
		start++;
	end = start + strlen(start);
	while (end > start && is_blank(end[-1]))
		end--;
	n = (size_t)(end - start);
	if (n < sizeof(LINE_PREFIX) - 1 || memcmp(start, LINE_PREFIX, sizeof(LINE_PREFIX) - 1) != 0) {
		say(why, why_len, "identity line \"%s\" does not start with \"" LINE_PREFIX "\"",
		    clip(start, n, quoted, sizeof(quoted)));
		return LIMES_E_KEY_FORMAT;
	}
	kid = start + sizeof(LINE_PREFIX) - 1;
	colon = memchr(kid, ':', (size_t)(end - kid));
	if (!colon) {
		say(why, why_len, "identity line has no ':' between key id and keys");
		return LIMES_E_KEY_FORMAT;
	}
	if (colon - kid != 2 * IDENTITY_KEY_ID_LEN) {
		say(why, why_len, "key id \"%s\" is %zu characters, expected 16 lowercase hex digits",
		    clip(kid, (size_t)(colon - kid), quoted, sizeof(quoted)), (size_t)(colon - kid));
		return LIMES_E_KEY_FORMAT;
	}
	for (const char *p = kid; p < colon; p++) {
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f'))) {
			say(why, why_len, "key id \"%.16s\" is not 16 lowercase hex digits", kid);
			return LIMES_E_KEY_FORMAT;
		}
	}
	if (encode_unhex(pk.key_id, sizeof(pk.key_id), kid, (size_t)(colon - kid)) < 0) {
		say(why, why_len, "key id \"%.16s\" is not 16 lowercase hex digits", kid);
		return LIMES_E_KEY_FORMAT;
	}
	b64 = colon + 1;
	n = (size_t)(end - b64);
	for (const char *p = b64; p < end; p++) {
		bool ok = (*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
			  (*p >= '0' && *p <= '9') || *p == '-' || *p == '_';
		if (!ok) {
			say(why, why_len, "keys contain '%c' at character %zu: not base64url without padding",
			    *p, (size_t)(p - start) + 1);
			return LIMES_E_KEY_FORMAT;
		}
	}
	if (n != ENCODE_BASE64URL_SIZE(sizeof(keys)) - 1) {
		say(why, why_len, "keys are %zu base64url characters, expected %zu (64 bytes): the line is cut or has extra characters",
		    n, (size_t)ENCODE_BASE64URL_SIZE(sizeof(keys)) - 1);
		return LIMES_E_KEY_FORMAT;
	}
	if (encode_unbase64url(keys, sizeof(keys), &written, b64, n) < 0 || written != sizeof(keys)) {
		say(why, why_len, "keys \"%s\" are not valid base64url without padding",
		    clip(b64, n, quoted, sizeof(quoted)));
		return LIMES_E_KEY_FORMAT;
	}
	memcpy(pk.sign_pk, keys, IDENTITY_PK_LEN);
	memcpy(pk.box_pk, keys + IDENTITY_PK_LEN, IDENTITY_PK_LEN);
	identity_key_id(pk.sign_pk, pk.box_pk, expect_id);
	if (memcmp(expect_id, pk.key_id, sizeof(expect_id)) != 0) {
		char hex[ENCODE_HEX_SIZE(IDENTITY_KEY_ID_LEN)];

		encode_hex(hex, sizeof(hex), expect_id, sizeof(expect_id));
		say(why, why_len, "key id %.16s does not match the keys (they give %s): the line was damaged in copying",
		    kid, hex);
		return LIMES_E_KEY_FORMAT;
	}
	if (crypto_core_ed25519_is_valid_point(pk.sign_pk) != 1) {
		say(why, why_len, "signing key is not a valid Ed25519 public key");
		return LIMES_E_KEY_FORMAT;
	}
	/* A low-order X25519 key gives an all-zero shared secret to everyone. */
	if (crypto_scalarmult(probe, probe_scalar, pk.box_pk) != 0) {
		say(why, why_len, "encryption key is a low-order X25519 point");
		return LIMES_E_KEY_FORMAT;
	}
	*out = pk;
	return 0;
}

/* ------------------------------------------------------------ key file */

static int join(char *out, size_t out_len, const char *dir, const char *name)
{
	int n = snprintf(out, out_len, "%s/%s", dir, name);

	return n < 0 || (size_t)n >= out_len ? LIMES_E_INVAL : 0;
}

static int write_all(int fd, const char *data, size_t len)
{
	while (len) {
		ssize_t w = write(fd, data, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return LIMES_E_IO;
		data += w;
		len -= (size_t)w;
	}
	return 0;
}

static int fsync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	int rc = 0;

	if (fd < 0)
		return LIMES_E_IO;
	if (fsync(fd) != 0)
		rc = LIMES_E_IO;
	close(fd);
	return rc;
}

/* Writes dir/name atomically: a fresh O_EXCL temp file of the final mode, fsync, rename, fsync dir. */
static int write_atomic(const char *dir, const char *name, const char *data, size_t len, mode_t mode)
{
	char tmp[PATH_MAX], final[PATH_MAX], suffix[ENCODE_HEX_SIZE(8)];
	uint8_t rnd[8];
	int fd = -1, rc;

	random_fill(rnd, sizeof(rnd));
	encode_hex(suffix, sizeof(suffix), rnd, sizeof(rnd));
	if ((rc = join(final, sizeof(final), dir, name)) < 0)
		return rc;
	if (snprintf(tmp, sizeof(tmp), "%s/.%s.%s.tmp", dir, name, suffix) >= (int)sizeof(tmp))
		return LIMES_E_INVAL;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0)
		return limes_from_errno(errno);
	rc = LIMES_E_IO;
	/* The umask may have narrowed the mode; never widen it beyond what we asked. */
	if (fchmod(fd, mode) != 0 || write_all(fd, data, len) < 0 || fsync(fd) != 0)
		goto out;
	if (close(fd) != 0) {
		fd = -1;
		goto out;
	}
	fd = -1;
	if (rename(tmp, final) != 0)
		goto out;
	rc = fsync_dir(dir);
	return rc;
out:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return rc;
}

int identity_generate(const char *dir, bool force, char *line, size_t line_len)
{
	return identity_generate_as(dir, IDENTITY_CURRENT, force, line, line_len);
}

int identity_generate_as(const char *dir, const char *stem, bool force, char *line, size_t line_len)
{
	char key_file[32], pub_file[32];
	struct seeds *s = NULL;
	struct identity *id = NULL;
	char *text = NULL;
	char sign_hex[ENCODE_HEX_SIZE(IDENTITY_SEED_LEN)];
	char box_hex[ENCODE_HEX_SIZE(IDENTITY_SEED_LEN)];
	char pub[IDENTITY_LINE_SIZE + 1];
	char path[PATH_MAX];
	struct stat st;
	int rc, n;

	if (!dir || !*dir || !stem || snprintf(key_file, sizeof(key_file), "%s.key", stem) >= (int)sizeof(key_file) ||
	    snprintf(pub_file, sizeof(pub_file), "%s.pub", stem) >= (int)sizeof(pub_file))
		return LIMES_E_INVAL;
	if (line && line_len < IDENTITY_LINE_SIZE)
		return LIMES_E_TOOBIG;
	if ((rc = random_init()) < 0)
		return rc;
	if ((rc = join(path, sizeof(path), dir, key_file)) < 0)
		return rc;
	/* ENOENT (a missing parent) and EACCES are the operator's to fix: say so */
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return limes_from_errno(errno);
	if (lstat(path, &st) == 0 && !force)
		return LIMES_E_EXISTS;

	rc = LIMES_E_NOMEM;
	s = sodium_malloc(sizeof(*s));
	text = sodium_malloc(KEY_FILE_MAX);
	if (!s || !text)
		goto out;
	randombytes_buf(s->sign_seed, sizeof(s->sign_seed));
	randombytes_buf(s->box_sk, sizeof(s->box_sk));
	id = identity_from_seeds(s->sign_seed, s->box_sk);
	if (!id)
		goto out;
	identity_line_format(&id->pub, pub, sizeof(pub));
	encode_hex(sign_hex, sizeof(sign_hex), s->sign_seed, sizeof(s->sign_seed));
	encode_hex(box_hex, sizeof(box_hex), s->box_sk, sizeof(s->box_sk));
	n = snprintf(text, KEY_FILE_MAX,
		     "# Limes identity: SECRET. Keep it mode 0600, owned by the agent's user.\n"
		     KEY_FILE_MAGIC " " KEY_FILE_VERSION "\n"
		     "ed25519-seed %s\n"
		     "x25519-secret %s\n"
		     "public %s\n", sign_hex, box_hex, pub);
	if (n < 0 || n >= KEY_FILE_MAX) {
		rc = LIMES_E_INVAL;
		goto out;
	}
	if ((rc = write_atomic(dir, key_file, text, (size_t)n, 0600)) < 0)
		goto out;
	n = snprintf(text, KEY_FILE_MAX, "%s\n", pub);
	if ((rc = write_atomic(dir, pub_file, text, (size_t)n, 0644)) < 0)
		goto out;
	if (line)
		snprintf(line, line_len, "%s", pub);
	rc = 0;
out:
	sodium_memzero(sign_hex, sizeof(sign_hex));
	sodium_memzero(box_hex, sizeof(box_hex));
	identity_destroy(&id);
	if (text)
		sodium_free(text);
	if (s)
		sodium_free(s);
	return rc;
}

/* Next line of the text: [*pos, eol) without its newline; false at the end. */
static bool next_line(const char *text, size_t len, size_t *pos, const char **line, size_t *line_len)
{
	const char *nl;

	if (*pos >= len)
		return false;
	*line = text + *pos;
	nl = memchr(*line, '\n', len - *pos);
	*line_len = nl ? (size_t)(nl - *line) : len - *pos;
	*pos += *line_len + (nl ? 1 : 0);
	if (*line_len && (*line)[*line_len - 1] == '\r')
		(*line_len)--;
	return true;
}

static bool starts(const char *line, size_t len, const char *word)
{
	size_t n = strlen(word);

	return len >= n && memcmp(line, word, n) == 0;
}

/* Parses the key file text into s; fills why with "PATH:LINE: reason". */
static int parse_key_file(const char *path, const char *text, size_t len, struct seeds *s,
			  struct peer_key *claimed, char *why, size_t why_len)
{
	enum { WANT_MAGIC, WANT_SIGN, WANT_BOX, WANT_PUBLIC, DONE } want = WANT_MAGIC;
	size_t pos = 0, lineno = 0, n;
	const char *line;
	char publine[IDENTITY_LINE_SIZE + 64];
	char reason[192];

	while (next_line(text, len, &pos, &line, &n)) {
		lineno++;
		if (n == 0 || line[0] == '#')
			continue;
		switch (want) {
		case WANT_MAGIC:
			if (!starts(line, n, KEY_FILE_MAGIC " ")) {
				say(why, why_len, "%s:%zu: not a Limes identity key (expected \"" KEY_FILE_MAGIC " " KEY_FILE_VERSION "\")",
				    path, lineno);
				return LIMES_E_KEY_FORMAT;
			}
			if (n != sizeof(KEY_FILE_MAGIC " " KEY_FILE_VERSION) - 1 ||
			    !starts(line, n, KEY_FILE_MAGIC " " KEY_FILE_VERSION)) {
				say(why, why_len, "%s:%zu: unsupported key file version \"%.*s\" (this agent reads " KEY_FILE_VERSION ")",
				    path, lineno, (int)(n - sizeof(KEY_FILE_MAGIC) < 16 ? n - sizeof(KEY_FILE_MAGIC) : 16),
				    line + sizeof(KEY_FILE_MAGIC));
				return LIMES_E_KEY_FORMAT;
			}
			want = WANT_SIGN;
			break;
		case WANT_SIGN:
			if (!starts(line, n, "ed25519-seed ") ||
			    encode_unhex(s->sign_seed, sizeof(s->sign_seed), line + 13, n - 13) < 0) {
				say(why, why_len, "%s:%zu: expected \"ed25519-seed\" and 64 hex digits", path, lineno);
				return LIMES_E_KEY_FORMAT;
			}
			want = WANT_BOX;
			break;
		case WANT_BOX:
			if (!starts(line, n, "x25519-secret ") ||
			    encode_unhex(s->box_sk, sizeof(s->box_sk), line + 14, n - 14) < 0) {
				say(why, why_len, "%s:%zu: expected \"x25519-secret\" and 64 hex digits", path, lineno);
				return LIMES_E_KEY_FORMAT;
			}
			want = WANT_PUBLIC;
			break;
		case WANT_PUBLIC:
			if (!starts(line, n, "public ") || n - 7 >= sizeof(publine)) {
				say(why, why_len, "%s:%zu: expected \"public\" and the identity line", path, lineno);
				return LIMES_E_KEY_FORMAT;
			}
			memcpy(publine, line + 7, n - 7);
			publine[n - 7] = '\0';
			if (identity_line_parse(publine, claimed, reason, sizeof(reason)) < 0) {
				say(why, why_len, "%s:%zu: %s", path, lineno, reason);
				return LIMES_E_KEY_FORMAT;
			}
			want = DONE;
			break;
		case DONE:
			say(why, why_len, "%s:%zu: unexpected line after the public identity", path, lineno);
			return LIMES_E_KEY_FORMAT;
		}
	}
	if (want != DONE) {
		say(why, why_len, "%s: incomplete key file (no %s line)", path,
		    want == WANT_MAGIC ? "\"" KEY_FILE_MAGIC "\"" : want == WANT_SIGN ? "ed25519-seed" :
		    want == WANT_BOX ? "x25519-secret" : "public");
		return LIMES_E_KEY_FORMAT;
	}
	return 0;
}

struct identity *identity_load(const char *dir, int *err, char *why, size_t why_len)
{
	return identity_load_as(dir, IDENTITY_CURRENT, err, why, why_len);
}

struct identity *identity_load_as(const char *dir, const char *stem, int *err, char *why, size_t why_len)
{
	char key_file[32];
	struct identity *id = NULL;
	struct seeds *s = NULL;
	char *text = NULL;
	struct peer_key claimed;
	char path[PATH_MAX];
	size_t len = 0;
	int rc;

	say(why, why_len, "ok");
	if (!dir || !*dir) {
		rc = LIMES_E_INVAL;
		say(why, why_len, "no key folder given");
		goto out;
	}
	if ((rc = random_init()) < 0) {
		say(why, why_len, "libsodium does not initialise");
		goto out;
	}
	if (!stem || snprintf(key_file, sizeof(key_file), "%s.key", stem) >= (int)sizeof(key_file) ||
	    (rc = join(path, sizeof(path), dir, key_file)) < 0) {
		rc = LIMES_E_INVAL;
		say(why, why_len, "%s: path too long", dir);
		goto out;
	}
	rc = LIMES_E_NOMEM;
	text = sodium_malloc(KEY_FILE_MAX);
	s = sodium_malloc(sizeof(*s));
	if (!text || !s) {
		say(why, why_len, "out of memory");
		goto out;
	}
	rc = secret_file_read(path, "key file", text, KEY_FILE_MAX, &len, why, why_len);
	if (rc == LIMES_E_NOENT) {
		size_t n = why ? strlen(why) : 0;
		if (why)
			snprintf(why + n, why_len > n ? why_len - n : 0, "; run limes keygen --dir to make one");
		rc = LIMES_E_NOTFOUND;
	}
	if (rc == LIMES_E_TOOBIG)
		rc = LIMES_E_KEY_FORMAT;
	if (rc < 0)
		goto out;
	if (len == 0) {
		rc = LIMES_E_KEY_FORMAT;
		say(why, why_len, "%s: the key file is empty", path);
		goto out;
	}
	if ((rc = parse_key_file(path, text, len, s, &claimed, why, why_len)) < 0)
		goto out;
	id = identity_from_seeds(s->sign_seed, s->box_sk);
	if (!id) {
		rc = LIMES_E_KEY_FORMAT;
		say(why, why_len, "%s: secret keys are unusable", path);
		goto out;
	}
	if (sodium_memcmp(&claimed, &id->pub, sizeof(claimed)) != 0) {
		rc = LIMES_E_KEY_FORMAT;
		say(why, why_len, "%s: the public line does not match the secret keys: the file is damaged", path);
		identity_destroy(&id);
		goto out;
	}
	rc = 0;
	say(why, why_len, "ok");
out:
	if (text)
		sodium_free(text);
	if (s)
		sodium_free(s);
	if (err)
		*err = rc;
	return id;
}

/* ------------------------------------------------------------ rotation */

/* dir/from -> dir/to, if from exists; LIMES_E_NOENT when it does not. */
static int move(const char *dir, const char *from, const char *to)
{
	char a[PATH_MAX], b[PATH_MAX];
	int rc;

	if ((rc = join(a, sizeof(a), dir, from)) < 0 || (rc = join(b, sizeof(b), dir, to)) < 0)
		return rc;
	return rename(a, b) == 0 ? 0 : limes_from_errno(errno);
}

static bool present(const char *dir, const char *name)
{
	char path[PATH_MAX];
	struct stat st;

	return join(path, sizeof(path), dir, name) == 0 && lstat(path, &st) == 0;
}

int identity_promote(const char *dir)
{
	int rc;

	if (!dir || !*dir)
		return LIMES_E_INVAL;
	/* a promotion cut short between its two renames is finished, not refused */
	if (!present(dir, IDENTITY_NEXT ".key"))
		return LIMES_E_NOTFOUND;
	/* the key a promotion before replaced goes to the key ring: what is
	 * stored sealed to it must still open */
	if (present(dir, IDENTITY_PREVIOUS ".key") && present(dir, IDENTITY_CURRENT ".key")) {
		char stem[32], why[256];
		struct identity *old = identity_load_as(dir, IDENTITY_PREVIOUS, &rc, why, sizeof(why));
		if (!old)
			return rc;
		rc = identity_ring_stem(identity_public(old)->key_id, stem, sizeof(stem));
		identity_destroy(&old);
		if (rc < 0 || (rc = identity_rename(dir, IDENTITY_PREVIOUS, stem)) < 0)
			return rc;
	}
	if (present(dir, IDENTITY_CURRENT ".key")) {
		if ((rc = move(dir, IDENTITY_CURRENT ".key", IDENTITY_PREVIOUS ".key")) < 0)
			return rc;
		if (present(dir, IDENTITY_CURRENT ".pub") &&
		    (rc = move(dir, IDENTITY_CURRENT ".pub", IDENTITY_PREVIOUS ".pub")) < 0)
			return rc;
	}
	if (present(dir, IDENTITY_NEXT ".pub") && (rc = move(dir, IDENTITY_NEXT ".pub", IDENTITY_CURRENT ".pub")) < 0)
		return rc;
	if ((rc = move(dir, IDENTITY_NEXT ".key", IDENTITY_CURRENT ".key")) < 0)
		return rc;
	return fsync_dir(dir);
}

int identity_ring_stem(const uint8_t key_id[IDENTITY_KEY_ID_LEN], char *stem, size_t len)
{
	char hex[2 * IDENTITY_KEY_ID_LEN + 1];

	if (encode_hex(hex, sizeof(hex), key_id, IDENTITY_KEY_ID_LEN) < 0 ||
	    snprintf(stem, len, "%s%s", IDENTITY_RING_PREFIX, hex) >= (int)len)
		return LIMES_E_INVAL;
	return 0;
}

static int stem_file(char *out, size_t len, const char *stem, const char *ext)
{
	return snprintf(out, len, "%s.%s", stem, ext) < (int)len ? 0 : LIMES_E_INVAL;
}

int identity_rename(const char *dir, const char *from, const char *to)
{
	char a[64], b[64];
	int rc;

	if (!dir || !from || !to)
		return LIMES_E_INVAL;
	if ((rc = stem_file(a, sizeof(a), from, "pub")) < 0 || (rc = stem_file(b, sizeof(b), to, "pub")) < 0)
		return rc;
	if (present(dir, a) && (rc = move(dir, a, b)) < 0)
		return rc;
	if ((rc = stem_file(a, sizeof(a), from, "key")) < 0 || (rc = stem_file(b, sizeof(b), to, "key")) < 0)
		return rc;
	if ((rc = move(dir, a, b)) < 0)
		return rc;
	return fsync_dir(dir);
}

int identity_remove(const char *dir, const char *stem)
{
	char name[64], path[PATH_MAX];
	int rc;

	if (!dir || !stem)
		return LIMES_E_INVAL;
	if ((rc = stem_file(name, sizeof(name), stem, "key")) < 0 || (rc = join(path, sizeof(path), dir, name)) < 0)
		return rc;
	if (unlink(path) < 0 && errno != ENOENT)
		return limes_from_errno(errno);
	if ((rc = stem_file(name, sizeof(name), stem, "pub")) < 0 || (rc = join(path, sizeof(path), dir, name)) < 0)
		return rc;
	if (unlink(path) < 0 && errno != ENOENT)
		return limes_from_errno(errno);
	return fsync_dir(dir);
}

bool identity_file_exists(const char *dir, const char *stem)
{
	char name[32];
	return dir && stem && snprintf(name, sizeof(name), "%s.key", stem) < (int)sizeof(name) && present(dir, name);
}

void identity_exchange(struct identity *a, struct identity *b)
{
	struct identity t;

	/* both live in sodium_malloc'd memory: swap contents, never pointers,
	 * so every holder of either pointer sees the switch */
	memcpy(&t, a, sizeof(t));
	memcpy(a, b, sizeof(t));
	memcpy(b, &t, sizeof(t));
	sodium_memzero(&t, sizeof(t));
}
