/* Network namespaces, veth pairs and link cuts for fault tests (netns.h). */
#define _GNU_SOURCE /* pipe2, close_range */
#include "support/netns.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define IP "/usr/sbin/ip"

int netns_run(const char *const *argv)
{
	int status;
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);
		if (null >= 0)
			dup2(null, 1); /* stderr stays: a failing command says why */
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static int ip(const char *const *args)
{
	const char *argv[16] = { IP };
	size_t n = 1;
	for (; args[n - 1] && n < 15; n++)
		argv[n] = args[n - 1];
	argv[n] = NULL;
	int rc = netns_run(argv);
	if (rc != 0) {
		fprintf(stderr, "netns: exit %d from", rc);
		for (size_t i = 0; argv[i]; i++)
			fprintf(stderr, " %s", argv[i]);
		fprintf(stderr, "\n");
	}
	return rc == 0 ? 0 : -1;
}

/* SIGKILLs every process in namespace `name`, then deletes it (quietly:
 * it may never have been made). */
static void sweep(const char *name)
{
	char cmd[400], line[256];
	snprintf(cmd, sizeof(cmd), IP " netns pids %.63s 2>/dev/null", name);
	for (int round = 0; round < 3; round++) {
		FILE *p = popen(cmd, "r");
		int killed = 0;
		if (!p)
			break;
		while (fgets(line, sizeof(line), p)) {
			long pid = strtol(line, NULL, 10);
			if (pid > 1 && kill((pid_t)pid, SIGKILL) == 0)
				killed++;
		}
		pclose(p);
		if (!killed)
			break;
		usleep(100 * 1000);
	}
	/* the veths go now, not when the kernel lets the namespace go: sockets
	 * orphaned by the kill hold it for a minute or more */
	snprintf(cmd, sizeof(cmd), IP " -n %.63s -br link 2>/dev/null", name);
	FILE *p = popen(cmd, "r");
	char dev[64][64];
	size_t n_dev = 0;
	while (p && n_dev < 64 && fgets(line, sizeof(line), p)) {
		line[strcspn(line, "@ \t\n")] = '\0';
		if (line[0] && strcmp(line, "lo") != 0)
			snprintf(dev[n_dev++], sizeof(dev[0]), "%.63s", line);
	}
	if (p)
		pclose(p);
	for (size_t i = 0; i < n_dev; i++) {
		snprintf(cmd, sizeof(cmd), IP " -n %.63s link del dev %.63s 2>/dev/null", name, dev[i]);
		if (system(cmd) < 0)
			fprintf(stderr, "netns: cannot run %s\n", cmd);
	}
	snprintf(cmd, sizeof(cmd), IP " netns del %.63s 2>/dev/null", name);
	if (system(cmd) < 0)
		fprintf(stderr, "netns: cannot run %s\n", cmd);
}

/* Namespaces of earlier runs whose test process is gone (a janitor that was
 * itself killed): "limes-t<pid>-<i>". */
static void sweep_stale(void)
{
	DIR *d = opendir("/run/netns");
	struct dirent *e;
	if (!d)
		return;
	while ((e = readdir(d))) {
		long pid;
		int i;
		char proc[64];
		if (sscanf(e->d_name, "limes-t%ld-%d", &pid, &i) != 2)
			continue;
		snprintf(proc, sizeof(proc), "/proc/%ld", pid);
		if (access(proc, F_OK) != 0)
			sweep(e->d_name);
	}
	closedir(d);
	/* and the root ends of their management veths ("lh<pid>-<i>") */
	d = opendir("/sys/class/net");
	while (d && (e = readdir(d))) {
		long pid;
		int i;
		char proc[64], cmd[128];
		if (sscanf(e->d_name, "lh%ld-%d", &pid, &i) != 2)
			continue;
		snprintf(proc, sizeof(proc), "/proc/%ld", pid);
		snprintf(cmd, sizeof(cmd), IP " link del dev %.15s 2>/dev/null", e->d_name);
		if (access(proc, F_OK) != 0 && system(cmd) < 0)
			fprintf(stderr, "netns: cannot run %s\n", cmd);
	}
	if (d)
		closedir(d);
}

/* The janitor: waits for EOF on the pipe (the test process ended, however
 * it ended), then removes everything. It runs in its own session so a kill
 * of the test's process group does not take it along. */
static void janitor(int fd, const struct netns *ns)
{
	char b;
	/* hold nothing of the test's but the pipe (its runner may wait for
	 * EOF on descriptors the test inherited) */
	if (fd != 3) {
		dup2(fd, 3);
		fd = 3;
	}
	close_range(4, ~0U, 0);
	int null = open("/dev/null", O_RDWR);
	if (null >= 0) {
		dup2(null, 0);
		dup2(null, 1);
	}
	setsid();
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	while (read(fd, &b, 1) != 0)
		if (errno != EINTR && errno != EAGAIN)
			break;
	for (size_t i = 0; i < ns->n; i++)
		sweep(ns->name[i]);
	_exit(0);
}

struct netns *netns_new(size_t n)
{
	struct netns *ns = calloc(1, sizeof(*ns));
	int fds[2];
	uint8_t r[2];

	if (!ns || n > NETNS_MAX || pipe2(fds, O_CLOEXEC) < 0) {
		free(ns);
		return NULL;
	}
	sweep_stale();
	ns->n = n;
	for (size_t i = 0; i < n; i++)
		snprintf(ns->name[i], sizeof(ns->name[i]), "limes-t%ld-%zu", (long)getpid(), i);
	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		free(ns);
		return NULL;
	}
	if (pid == 0) {
		close(fds[1]);
		janitor(fds[0], ns);
	}
	close(fds[0]);
	ns->janitor_pipe = fds[1];
	ns->janitor_pid = pid;
	/* the management /30s live in the root namespace, where other test runs
	 * may have theirs: a random 10.64-127.x.y/30 each makes a clash unlikely */
	if (getrandom(r, sizeof(r), 0) != sizeof(r))
		goto fail;
	for (size_t i = 0; i < n; i++) {
		char host[16], inner[16], root_addr[32];
		snprintf(host, sizeof(host), "lh%ld-%zu", (long)getpid(), i);
		snprintf(inner, sizeof(inner), "mgmt%zu", i);
		snprintf(root_addr, sizeof(root_addr), "10.%u.%u.%zu/30", 64 + r[0] % 64, r[1], 4 * i + 1);
		snprintf(ns->mgmt_addr[i], sizeof(ns->mgmt_addr[i]), "10.%u.%u.%zu", 64 + r[0] % 64, r[1], 4 * i + 2);
		char inner_addr[40];
		snprintf(inner_addr, sizeof(inner_addr), "%s/30", ns->mgmt_addr[i]);
		if (ip((const char *[]){ "netns", "add", ns->name[i], NULL }) < 0 ||
		    ip((const char *[]){ "-n", ns->name[i], "link", "set", "lo", "up", NULL }) < 0 ||
		    ip((const char *[]){ "link", "add", host, "type", "veth", "peer", "name", inner, "netns",
					 ns->name[i], NULL }) < 0 ||
		    ip((const char *[]){ "addr", "add", root_addr, "dev", host, NULL }) < 0 ||
		    ip((const char *[]){ "link", "set", host, "up", NULL }) < 0 ||
		    ip((const char *[]){ "-n", ns->name[i], "addr", "add", inner_addr, "dev", inner, NULL }) < 0 ||
		    ip((const char *[]){ "-n", ns->name[i], "link", "set", inner, "up", NULL }) < 0)
			goto fail;
	}
	return ns;
fail:
	netns_destroy(&ns);
	return NULL;
}

int netns_join(struct netns *ns, int a, int b)
{
	if (ns->n_links >= NETNS_LINKS_MAX)
		return -1;
	int i = (int)ns->n_links;
	struct netns_link *l = &ns->link[i];
	char cidr_a[40], cidr_b[40];
	l->a = a;
	l->b = b;
	snprintf(l->dev_a, sizeof(l->dev_a), "v%d-%d", a, b);
	snprintf(l->dev_b, sizeof(l->dev_b), "v%d-%d", b, a);
	snprintf(l->addr_a, sizeof(l->addr_a), "10.77.%d.1", i + 1);
	snprintf(l->addr_b, sizeof(l->addr_b), "10.77.%d.2", i + 1);
	snprintf(cidr_a, sizeof(cidr_a), "%s/24", l->addr_a);
	snprintf(cidr_b, sizeof(cidr_b), "%s/24", l->addr_b);
	if (ip((const char *[]){ "link", "add", l->dev_a, "netns", ns->name[a], "type", "veth", "peer", "name",
				 l->dev_b, "netns", ns->name[b], NULL }) < 0 ||
	    ip((const char *[]){ "-n", ns->name[a], "addr", "add", cidr_a, "dev", l->dev_a, NULL }) < 0 ||
	    ip((const char *[]){ "-n", ns->name[b], "addr", "add", cidr_b, "dev", l->dev_b, NULL }) < 0)
		return -1;
	ns->n_links++;
	return netns_link_set(ns, i, true) < 0 ? -1 : i;
}

int netns_link_set(struct netns *ns, int i, bool up)
{
	struct netns_link *l = &ns->link[i];
	const char *state = up ? "up" : "down";
	if (ip((const char *[]){ "-n", ns->name[l->a], "link", "set", l->dev_a, state, NULL }) < 0 ||
	    ip((const char *[]){ "-n", ns->name[l->b], "link", "set", l->dev_b, state, NULL }) < 0)
		return -1;
	return 0;
}

void netns_destroy(struct netns **pns)
{
	if (!pns || !*pns)
		return;
	struct netns *ns = *pns;
	for (size_t i = 0; i < ns->n; i++)
		sweep(ns->name[i]);
	if (ns->janitor_pid > 0) {
		close(ns->janitor_pipe);
		waitpid(ns->janitor_pid, NULL, 0);
	}
	free(ns);
	*pns = NULL;
}
