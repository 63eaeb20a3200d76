/* Digest, constant-time comparison and wiping of secrets held by other modules. */
#include "crypto/secret.h"

#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/err.h"

#define DOMAIN_SECRET "limes/secret/v1"

void secret_digest(const void *buf, size_t len, uint8_t out[SECRET_DIGEST_LEN])
{
	crypto_generichash(out, SECRET_DIGEST_LEN, buf, len, (const unsigned char *)DOMAIN_SECRET,
			   sizeof(DOMAIN_SECRET));
}

bool secret_digest_equal(const uint8_t a[SECRET_DIGEST_LEN], const uint8_t b[SECRET_DIGEST_LEN])
{
	return sodium_memcmp(a, b, SECRET_DIGEST_LEN) == 0;
}

bool secret_matches(const void *candidate, size_t len, const uint8_t expected[SECRET_DIGEST_LEN])
{
	uint8_t d[SECRET_DIGEST_LEN];
	bool same;

	/* Comparing digests hides the expected length as well as the contents. */
	secret_digest(candidate, len, d);
	same = secret_digest_equal(d, expected);
	sodium_memzero(d, sizeof(d));
	return same;
}

void secret_wipe(void *buf, size_t len)
{
	if (buf && len)
		sodium_memzero(buf, len);
}

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

int secret_path_check(const char *path, const struct stat *st, const char *what, bool want_dir, char *why,
		      size_t why_len)
{
	if (S_ISLNK(st->st_mode)) {
		say(why, why_len, "%s: %s is a symbolic link; it must be a regular %s", path, what,
		    want_dir ? "folder" : "file");
		return LIMES_E_KEY_SYMLINK;
	}
	if (want_dir ? !S_ISDIR(st->st_mode) : !S_ISREG(st->st_mode)) {
		say(why, why_len, "%s: %s is not a %s (%s)", path, what, want_dir ? "folder" : "regular file",
		    S_ISDIR(st->st_mode) ? "a directory" : S_ISFIFO(st->st_mode) ? "a FIFO" :
		    S_ISSOCK(st->st_mode) ? "a socket" : S_ISREG(st->st_mode) ? "a file" : "a device");
		return LIMES_E_KEY_NOT_REGULAR;
	}
	if (st->st_uid != geteuid()) {
		say(why, why_len, "%s: %s owned by uid %u, not by uid %u running the agent; run chown %u %s", path,
		    what, (unsigned)st->st_uid, (unsigned)geteuid(), (unsigned)geteuid(), path);
		return LIMES_E_KEY_OWNER;
	}
	if (st->st_mode & 077) {
		say(why, why_len, "%s: %s mode %04o lets group or others %s it; run chmod %s %s", path, what,
		    (unsigned)(st->st_mode & 07777), want_dir ? "into" : (st->st_mode & 044) ? "read" : "access",
		    want_dir ? "700" : "600", path);
		return LIMES_E_KEY_MODE;
	}
	return 0;
}

int secret_file_read(const char *path, const char *what, void *buf, size_t cap, size_t *len, char *why,
		     size_t why_len)
{
	struct stat st;
	size_t got = 0;
	int fd = -1, rc;

	*len = 0;
	/* lstat first: never open a FIFO or follow a link we are about to refuse */
	if (lstat(path, &st) != 0) {
		rc = limes_from_errno(errno);
		say(why, why_len, "%s: cannot read %s: %s", path, what, strerror(errno));
		return rc;
	}
	if ((rc = secret_path_check(path, &st, what, false, why, why_len)) < 0)
		return rc;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		rc = errno == ELOOP ? LIMES_E_KEY_SYMLINK : limes_from_errno(errno);
		say(why, why_len, "%s: cannot open %s: %s", path, what, strerror(errno));
		return rc;
	}
	/* check again what was opened: the path may have changed under us */
	if (fstat(fd, &st) != 0) {
		rc = limes_from_errno(errno);
		say(why, why_len, "%s: %s", path, strerror(errno));
		goto out;
	}
	if ((rc = secret_path_check(path, &st, what, false, why, why_len)) < 0)
		goto out;
	for (;;) {
		ssize_t r = read(fd, (char *)buf + got, cap - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			rc = limes_from_errno(errno);
			say(why, why_len, "%s: cannot read %s: %s", path, what, strerror(errno));
			goto out;
		}
		if (r == 0)
			break;
		got += (size_t)r;
		if (got == cap) {
			rc = LIMES_E_TOOBIG;
			say(why, why_len, "%s: %s is larger than %zu bytes", path, what, cap - 1);
			goto out;
		}
	}
	*len = got;
	rc = 0;
out:
	/* a refused file (too large, unreadable half way) leaves none of
	 * itself behind in the caller's buffer */
	if (rc < 0)
		secret_wipe(buf, got);
	close(fd);
	return rc;
}
