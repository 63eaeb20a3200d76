/*
 * The data folder on a small tmpfs filled up: submissions are refused 503
 * and nothing acknowledged is lost; when space returns the agent takes
 * writes again by itself (no reserve set), and everything accepted is
 * delivered once.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include "support/cluster.h"
#include "support/faults.h"

#define A "RS-CUSTOMS-HORGOS"
#define B "HU-NAV-ROSZKE"

static char disk[600];

static void cleanup(void)
{
	if (disk[0])
		umount2(disk, MNT_DETACH);
}

TestSuite(disk_full, .fini = cleanup, .timeout = 180);

static inline int is(int cond)
{
	return cond;
}

Test(disk_full, refuses_while_full_and_recovers_alone_when_space_returns)
{
	static const char *const ids[] = { A, B };
	struct cluster *c = cluster_new(2, ids);
	struct cluster_link l[] = { { A, B, "alert", NULL } };
	struct fault_ids ok = { 0 };
	char filler[700], store_dir[700];

	cluster_configure(c, l, 1, NULL);
	snprintf(disk, sizeof(disk), "%s/disk", c->dir);
	cr_assert(eq(int, mkdir(disk, 0700), 0));
	cr_assert(eq(int, mount("tmpfs", disk, "tmpfs", 0, "size=4m,mode=0700"), 0), "the suite runs as root");
	snprintf(store_dir, sizeof(store_dir), "%s/store", disk);
	agentproc_set_data_dir(cluster_ap(c, A), store_dir);
	agentproc_set_agent_extra(cluster_ap(c, A), "min_free_mb = 0\n");
	cluster_start(c, A); /* B is down: everything queues on the small disk */

	snprintf(filler, sizeof(filler), "dd if=/dev/zero of=%s/filler bs=64k >/dev/null 2>&1", disk);
	cr_assert(system(filler) != -1);
	int refused = 0;
	for (int round = 0; round < 40 && refused < 3; round++) {
		char id[20][33];
		int st = cluster_submit(c, A, B, "alert", "normal", 20, id);
		if (st == 202)
			for (int i = 0; i < 20; i++)
				fault_ids_add(&ok, id[i]);
		else {
			cr_assert(eq(int, st, 503), "a full disk answers 503");
			refused++;
		}
	}
	cr_assert(eq(int, refused, 3), "the disk filled up");
	json_t *doc = NULL;
	cr_assert(eq(int, cluster_http(c, A, "GET", "/healthz", NULL, &doc), 503));
	json_decref(doc);

	/* space returns: the agent takes writes again without a restart */
	snprintf(filler, sizeof(filler), "%s/filler", disk);
	cr_assert(eq(int, unlink(filler), 0));
	int health = 0;
	for (int i = 0; i < 50 && health != 200; i++) {
		cluster_sleep_ms(200);
		health = cluster_http(c, A, "GET", "/healthz", NULL, NULL);
	}
	cr_assert(eq(int, health, 200), "healthy again once space returned");
	cr_assert(agentproc_log_contains(cluster_ap(c, A), "event=store_recovered"));
	char more[10][33];
	cr_assert(eq(int, cluster_submit(c, A, B, "alert", "normal", 10, more), 202));
	for (int i = 0; i < 10; i++)
		fault_ids_add(&ok, more[i]);

	/* and sending resumes: every accepted message delivered once */
	cluster_start(c, B);
	cr_assert(is(fault_wait_drained(c, A, B, 60)));
	fault_assert_invariant(c, A, B, &ok, 0);
	cr_log_info("accepted %zu messages, 3 batches refused 503 while full", ok.n);
	fault_ids_free(&ok);
	cluster_stop(c, A);
	cleanup();
	disk[0] = '\0';
	cluster_destroy(&c);
}
