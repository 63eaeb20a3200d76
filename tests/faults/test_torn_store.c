/*
 * Torn and corrupt store: the database and WAL of a stopped receiver are
 * truncated or bit-flipped. The agent must refuse to start with a clear
 * message or recover; it never hands a national system a payload that is
 * not byte for byte what its author signed and sealed.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "store/store.h"
#include "support/cluster.h"
#include "support/faults.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"

TestSuite(torn_store, .timeout = 300);

/* cp -a FROM TO (TO removed first). */
static void copy_tree(const char *from, const char *to)
{
	char cmd[2048];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s' && cp -a '%s' '%s'", to, from, to);
	cr_assert(system(cmd) == 0, "%s", cmd);
}

/* Damages file: mode 't' truncates to half (a -wal file: half of the log it
 * holds, since the agent writes the file in full up front and the log is at
 * its start), 'f' flips one bit in every 4 KiB page past the first. */
static bool damage(const char *file, char mode, unsigned seed)
{
	struct stat st;
	if (stat(file, &st) < 0 || st.st_size == 0)
		return false;
	if (mode == 't' && strstr(file, "-wal")) {
		char dir[800];
		struct store_wal_report r;
		snprintf(dir, sizeof(dir), "%s", file);
		*strrchr(dir, '/') = '\0';
		cr_assert(eq(int, store_wal_check(dir, &r), 0));
		cr_assert(ge(u64, r.replayed, 2), "the WAL holds %llu frames of commits", (unsigned long long)r.replayed);
		return truncate(file, (off_t)(32 + r.replayed * (4096 + 24) / 2)) == 0;
	}
	if (mode == 't')
		return truncate(file, st.st_size / 2) == 0;
	int fd = open(file, O_RDWR);
	cr_assert(fd >= 0);
	srand(seed);
	for (off_t off = 4096 + (off_t)(rand() % 4096); off < st.st_size; off += 4096) {
		unsigned char c;
		cr_assert(pread(fd, &c, 1, off) == 1);
		c ^= (unsigned char)(1u << (rand() % 8));
		cr_assert(pwrite(fd, &c, 1, off) == 1);
	}
	close(fd);
	return true;
}

Test(torn_store, a_damaged_store_refuses_to_start_or_delivers_only_genuine_payloads)
{
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	char data[700], pristine[700], file[800];

	cluster_configure(c, l, 1, NULL);
	cluster_start(c, A);
	cluster_start(c, B);
	char id[60][33];
	cr_assert(cluster_submit(c, A, B, "alert", "normal", 60, id) == 202);
	cr_assert(fault_wait_drained(c, A, B, 30));
	/* two stores: killed (the WAL holds what was not checkpointed) and
	 * stopped cleanly (checkpointed into the database) */
	char pristine_stopped[700];
	snprintf(data, sizeof(data), "%s/data", agentproc_dir(cluster_ap(c, B)));
	snprintf(pristine, sizeof(pristine), "%s/pristine", c->dir);
	snprintf(pristine_stopped, sizeof(pristine_stopped), "%s/pristine-stopped", c->dir);
	cluster_kill(c, B);
	copy_tree(data, pristine);
	cluster_start(c, B);
	cr_assert(cluster_stop(c, B) == 0);
	copy_tree(data, pristine_stopped);
	json_t *want = json_loads(cluster_example("alert"), 0, NULL);
	cr_assert(want != NULL);

	static const struct { const char *file; char mode; bool stopped; } cases[] = {
		{ "limes.db", 't', false }, { "limes.db", 'f', false }, { "limes.db-wal", 't', false },
		{ "limes.db-wal", 'f', false }, { "limes.db", 't', true }, { "limes.db", 'f', true },
	};
	int refused = 0, recovered = 0, wal_refused = 0;
	for (size_t k = 0; k < sizeof(cases) / sizeof(cases[0]); k++) {
		copy_tree(cases[k].stopped ? pristine_stopped : pristine, data);
		snprintf(file, sizeof(file), "%s/%s", data, cases[k].file);
		if (!damage(file, cases[k].mode, (unsigned)k + 1))
			continue; /* no WAL left to damage: nothing to test in this case */
		bool wal_flip = cases[k].mode == 'f' && strstr(cases[k].file, "-wal");
		if (wal_flip) {
			/* SQLite would replay up to the damage and silently drop the
			 * commits after it: the agent must refuse, naming the file
			 * and the frame, unless the loss is acknowledged */
			cr_assert(agentproc_start(cluster_ap(c, B)) < 0, "case %zu: started over a damaged WAL", k);
			cr_assert(agentproc_log_contains(cluster_ap(c, B), "limes.db-wal: frame "),
				  "case %zu: the refusal names the WAL and the frame", k);
			cr_assert(agentproc_log_contains(cluster_ap(c, B), "--accept-wal-loss"));
			static const char *const accept[] = { "/bin/sh", "-c", "exec \"$@\" --accept-wal-loss", "sh", NULL };
			cr_assert(agentproc_start_wrapped(cluster_ap(c, B), accept) == 0,
				  "case %zu: --accept-wal-loss starts it", k);
			cr_assert(agentproc_log_contains(cluster_ap(c, B), "event=wal_loss_accepted"));
			wal_refused++;
		} else if (agentproc_start(cluster_ap(c, B)) < 0) {
			/* refused: the log must say it is the store */
			cr_assert(agentproc_log_contains(cluster_ap(c, B), "store"), "case %zu refused without a reason", k);
			cr_log_info("case %zu (%s %c%s): refused to start, naming the store", k, cases[k].file,
				    cases[k].mode, cases[k].stopped ? ", after a clean stop" : "");
			refused++;
			continue;
		}
		/* it started: whatever it hands out is genuine */
		json_t *inbox = cluster_inbox(c, B);
		size_t i, bodies = 0;
		json_t *m;
		json_array_foreach(inbox, i, m) {
			json_t *body = json_object_get(m, "body");
			if (json_is_null(body) || !body)
				continue; /* refused to unseal: said in body_error, never a wrong body */
			cr_assert(json_equal(body, want), "case %zu: a damaged payload was handed out", k);
			bodies++;
		}
		cr_log_info("case %zu (%s %c%s): started, %zu of %zu bodies genuine, the rest refused", k,
			    cases[k].file, cases[k].mode, cases[k].stopped ? ", after a clean stop" : "", bodies, json_array_size(inbox));
		json_decref(inbox);
		recovered++;
		cluster_kill(c, B);
	}
	printf("torn_store refused=%d recovered=%d wal_loss_refused=%d\n", refused, recovered, wal_refused);
	cr_assert(eq(int, wal_refused, 1), "the WAL bit flips were tested");
	cr_assert(refused + recovered >= 3, "the damage reached the store");
	json_decref(want);
	cluster_destroy(&c);
}
