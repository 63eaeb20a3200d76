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
#include <string.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "crypto/verifyrate.h"

double bench_limits_verify_rate(size_t msg_len, double seconds)
{
	return bench_verify_rate(msg_len, seconds);
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
