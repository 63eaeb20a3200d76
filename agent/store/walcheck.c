/*
 * A look at the SQLite WAL before the store opens it. SQLite replays the WAL
 * up to the first frame whose salts or cumulative checksum do not match
 * (https://www.sqlite.org/fileformat2.html#walformat) and silently drops
 * everything after it: a torn tail after a crash, which is harmless, looks
 * the same to it as a damaged frame in the middle, after which commits that
 * were acknowledged (receipts sent) would vanish. Here the two are told
 * apart: after the first bad frame, a commit frame with the current salts
 * that is itself followed by another frame with the current salts can only
 * be a commit that completed (SQLite syncs each commit before the next
 * transaction writes; a transaction cut short by a kill leaves no commit
 * frame), so commits would be lost. Frames of an earlier WAL generation
 * carry other salts (salt-1 grows at every restart of the WAL) and end the
 * log normally.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "proto/err.h"
#include "store/store.h"

#define WAL_HEADER 32
#define WAL_FRAME_HEADER 24
#define WAL_MAGIC 0x377f0682u /* | 1: checksum words are big-endian */

static uint32_t be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static uint32_t le32(const uint8_t *p)
{
	return (uint32_t)p[3] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[1] << 8 | p[0];
}

/* SQLite's WAL checksum over len bytes (a multiple of 8), continuing s[2]. */
static void wal_sum(bool big, const uint8_t *p, size_t len, uint32_t s[2])
{
	for (size_t i = 0; i + 8 <= len; i += 8) {
		s[0] += (big ? be32(p + i) : le32(p + i)) + s[1];
		s[1] += (big ? be32(p + i + 4) : le32(p + i + 4)) + s[0];
	}
}

static bool read_at(int fd, uint8_t *buf, size_t len, off_t off)
{
	size_t done = 0;
	while (done < len) {
		ssize_t n = pread(fd, buf + done, len - done, off + (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		done += (size_t)n;
	}
	return true;
}

int store_wal_check(const char *dir, struct store_wal_report *r)
{
	uint8_t hdr[WAL_HEADER];
	struct stat st;

	if (!dir || !r)
		return LIMES_E_INVAL;
	memset(r, 0, sizeof(*r));
	if ((size_t)snprintf(r->path, sizeof(r->path), "%s/limes.db-wal", dir) >= sizeof(r->path))
		return LIMES_E_TOOBIG;
	int fd = open(r->path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return errno == ENOENT ? 0 : limes_from_errno(errno);
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return LIMES_E_IO;
	}
	/* SQLite ignores a WAL shorter than its header */
	if (st.st_size < WAL_HEADER || !read_at(fd, hdr, sizeof(hdr), 0)) {
		close(fd);
		return 0;
	}
	uint32_t magic = be32(hdr), page = be32(hdr + 8);
	bool big = magic & 1;
	uint32_t s[2] = { 0, 0 };
	wal_sum(big, hdr, 24, s);
	r->header_ok = (magic & ~1u) == WAL_MAGIC && page >= 512 && page <= 65536 && (page & (page - 1)) == 0 &&
		       s[0] == be32(hdr + 24) && s[1] == be32(hdr + 28);
	if (!r->header_ok) {
		/* nothing in it will be replayed: whole frames of any page size
		 * would be lost, but with no trusted salts a stale file cannot be
		 * told from a damaged one; report frames only if the header looks
		 * like a WAL's */
		close(fd);
		if ((magic & ~1u) == WAL_MAGIC && st.st_size > WAL_HEADER) {
			r->lost = true;
			r->bad_frame = 0;
		}
		return 0;
	}
	size_t fsize = WAL_FRAME_HEADER + page;
	uint8_t *frame = malloc(fsize);
	if (!frame) {
		close(fd);
		return LIMES_E_NOMEM;
	}
	uint32_t salt1 = be32(hdr + 16), salt2 = be32(hdr + 20);
	uint64_t n = ((uint64_t)st.st_size - WAL_HEADER) / fsize;
	bool pending_commit = false; /* a current-salt commit after the damage, not yet followed */
	int rc = 0;
	r->frames = n;
	for (uint64_t i = 0; i < n; i++) {
		if (!read_at(fd, frame, fsize, (off_t)(WAL_HEADER + i * fsize))) {
			rc = LIMES_E_IO;
			break;
		}
		bool current = be32(frame + 8) == salt1 && be32(frame + 12) == salt2;
		bool commit = be32(frame + 4) != 0;
		if (!r->bad_frame) {
			uint32_t t[2] = { s[0], s[1] };
			wal_sum(big, frame, 8, t);
			wal_sum(big, frame + WAL_FRAME_HEADER, page, t);
			if (current && t[0] == be32(frame + 16) && t[1] == be32(frame + 20)) {
				s[0] = t[0], s[1] = t[1];
				if (commit)
					r->replayed = i + 1;
				continue;
			}
			if (!current) {
				/* an earlier generation's frame: the normal end of the log,
				 * unless current frames follow (a flipped salt) */
				r->end_frame = i + 1;
			}
			r->bad_frame = i + 1;
			r->bad_offset = (uint64_t)(WAL_HEADER + i * fsize);
			continue;
		}
		if (!current)
			continue;
		if (pending_commit)
			r->lost = true;
		if (commit) {
			r->commits_after++;
			pending_commit = true;
		}
	}
	/* a stale frame that only ended the log is no damage */
	if (r->bad_frame && r->end_frame == r->bad_frame && !r->lost && !r->commits_after)
		r->bad_frame = 0;
	free(frame);
	close(fd);
	return rc;
}
