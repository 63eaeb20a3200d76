/*
 * limes-bench: the physical limits measured in the same run. One core's
 * Ed25519 verify rate (every durable message costs the receiver one verify,
 * the sender one receipt verify shared by a batch) comes from crypto/verifyrate.c;
 * the fdatasync rate is measured here on the data folder's file system: a
 * 1 KiB append then fdatasync, the floor under any durable commit on that
 * disk (a real SQLite commit writes several pages before its sync). Owns only
 * its scratch file, removed before returning.
 */
#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "crypto/verifyrate.h"

/* The time is split into rounds and the fastest round is the core's rate:
 * on a VM a round can lose part of its core to the host (one 2 s probe on
 * a quiet machine read 15,300/s where the runs around it read 21,500/s),
 * and a slow probe would flatter every ratio taken against it. The
 * fastest round is the conservative denominator. */
#define VERIFY_ROUNDS 8

double bench_limits_verify_rate(size_t msg_len, double seconds)
{
	double best = -1.0;
	for (int i = 0; i < VERIFY_ROUNDS; i++) {
		double r = bench_verify_rate(msg_len, seconds / VERIFY_ROUNDS);
		if (r < 0)
			return r;
		if (r > best)
			best = r;
	}
	return best;
}

double bench_limits_fdatasync_rate(const char *dir, double seconds)
{
	char path[PATH_MAX], block[1024];
	double rate = -1.0;
	int fd = -1;

	if (snprintf(path, sizeof(path), "%s/fdatasync.probe", dir) >= (int)sizeof(path))
		goto out;
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		goto out;
	memset(block, 'x', sizeof(block));
	uint64_t start = bench_now_ns(), elapsed = 0, rounds = 0;
	do {
		if (write(fd, block, sizeof(block)) != (ssize_t)sizeof(block) || fdatasync(fd) < 0)
			goto out;
		rounds++;
		elapsed = bench_now_ns() - start;
	} while (elapsed < (uint64_t)(seconds * 1e9) && !bench_interrupted());
	rate = (double)rounds / ((double)elapsed / 1e9);
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	return rate;
}

static int cmp_ns(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

/* The back-to-back rate above is what a busy commit path gets; a lone
 * message's commit waits on a disk (and, in a VM, a CPU) that idled since
 * the last one, which costs more: this is the floor under each of the two
 * commits in series (the sender's, then the receiver's) of the latency
 * phase (docs/benchmarks.md). Overwrites, not appends, as a WAL in use. */
int bench_limits_fdatasync_paced(const char *dir, unsigned rounds, double *p50, double *p99)
{
	char path[PATH_MAX], block[4096];
	uint64_t *ns = NULL;
	int fd = -1, rc = -1;

	if (rounds == 0 || snprintf(path, sizeof(path), "%s/fdatasync-paced.probe", dir) >= (int)sizeof(path))
		return -1;
	ns = calloc(rounds, sizeof(*ns));
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (!ns || fd < 0)
		goto out;
	memset(block, 'x', sizeof(block));
	for (unsigned i = 0; i < rounds; i++)
		if (pwrite(fd, block, sizeof(block), (off_t)i * (off_t)sizeof(block)) != (ssize_t)sizeof(block))
			goto out;
	if (fsync(fd) < 0)
		goto out;
	const struct timespec pause = { 0, 1000000L };
	for (unsigned i = 0; i < rounds && !bench_interrupted(); i++) {
		block[0] = (char)i;
		if (pwrite(fd, block, sizeof(block), (off_t)i * (off_t)sizeof(block)) != (ssize_t)sizeof(block))
			goto out;
		uint64_t t0 = bench_now_ns();
		if (fdatasync(fd) < 0)
			goto out;
		ns[i] = bench_now_ns() - t0;
		nanosleep(&pause, NULL);
	}
	if (bench_interrupted())
		goto out;
	qsort(ns, rounds, sizeof(*ns), cmp_ns);
	*p50 = (double)bench_report_percentile(ns, rounds, 50) / 1e6;
	*p99 = (double)bench_report_percentile(ns, rounds, 99) / 1e6;
	rc = 0;
out:
	if (fd >= 0) {
		close(fd);
		unlink(path);
	}
	free(ns);
	return rc;
}

void bench_limits_fs_type(const char *dir, char *buf, size_t len)
{
	static const struct {
		long magic;
		const char *name;
	} known[] = {
		{ 0xEF53, "ext4" },       { 0x58465342, "xfs" },     { 0x9123683E, "btrfs" },
		{ 0x01021994, "tmpfs" },  { 0x794C7630, "overlay" }, { 0x2FC12FC1, "zfs" },
		{ 0x6969, "nfs" },        { 0xF2F52010, "f2fs" },
	};
	struct statfs sf;

	snprintf(buf, len, "unknown");
	if (statfs(dir, &sf) < 0)
		return;
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if ((long)sf.f_type == known[i].magic) {
			snprintf(buf, len, "%s", known[i].name);
			return;
		}
	snprintf(buf, len, "0x%lx", (unsigned long)sf.f_type);
}
