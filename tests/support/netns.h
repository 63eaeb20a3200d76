/*
 * Network namespaces for link fault tests (needs root): named namespaces
 * joined by veth pairs, each also reachable from the test through a veth of
 * its own (its "management" address, for the API), and the link cuts the
 * tests make. Whatever happens to the test process (a failed assertion, a
 * timeout's SIGKILL), a janitor process it forks kills every process left
 * in the namespaces and deletes them once the test process is gone.
 */
#ifndef LIMES_TEST_NETNS_H
#define LIMES_TEST_NETNS_H
#include <stdbool.h>
#include <stddef.h>

#define NETNS_MAX 4
#define NETNS_LINKS_MAX 4

struct netns_link {
	int a, b;                 /* namespace indexes */
	char dev_a[16], dev_b[16];
	char addr_a[32], addr_b[32];
};

struct netns {
	size_t n, n_links;
	char name[NETNS_MAX][32];
	char mgmt_addr[NETNS_MAX][32]; /* the namespace's side of its management veth */
	struct netns_link link[NETNS_LINKS_MAX];
	int janitor_pipe;              /* write end; the janitor cleans up at EOF */
	int janitor_pid;
};

/* Makes n namespaces (lo up, a management veth each) and a janitor; NULL
 * (with the failing command on stderr) on failure. Caller owns it. */
struct netns *netns_new(size_t n);
/* Joins namespaces a and b with a veth pair on 10.77.<index+1>.0/24; the
 * link's index, or -1. */
int netns_join(struct netns *ns, int a, int b);
/* Sets both ends of link i down or up; 0 or -1. */
int netns_link_set(struct netns *ns, int i, bool up);
/* Kills every process left in the namespaces, deletes them, stops the
 * janitor; accepts NULL and nulls *ns. */
void netns_destroy(struct netns **ns);
/* Runs a command (argv NULL-terminated, argv[0] a path); its exit status or -1. */
int netns_run(const char *const *argv);
#endif
