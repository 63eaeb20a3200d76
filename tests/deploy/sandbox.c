/*
 * limes-test-sandbox: runs a program under the kernel-enforced restrictions
 * of a systemd unit, as systemd's service manager applies them, where no
 * systemd runs as PID 1 (containers, CI) and `systemd-run` cannot:
 *
 *   limes-test-sandbox UNIT [--uid UID] -- PROGRAM [ARGS...]
 *
 * With --uid, PROGRAM runs as that user and group id, as the unit's User=
 * would make it (the unit's user need not exist here).
 *
 * Reads UNIT's [Service] section and applies what systemd would before it
 * executes the service, in systemd's order: CapabilityBoundingSet= (only
 * the empty set: every capability dropped from the bounding, inheritable
 * and ambient sets), NoNewPrivileges=, then one seccomp filter each for
 * RestrictAddressFamilies= (others get EAFNOSUPPORT),
 * MemoryDenyWriteExecute=, and last SystemCallFilter= with
 * SystemCallArchitectures=native: systemd's groups expanded with
 * `systemd-analyze syscall-filter`, the first assignment choosing an
 * allow- or a deny-list, an allow-list implicitly holding @default, `~`
 * entries removing; a forbidden call kills the process (SIGSYS), as without
 * SystemCallErrorNumber=. Settings it cannot apply exactly are refused, not
 * ignored; the mount, user and other namespace settings (ProtectSystem=,
 * PrivateTmp=, PrivateUsers=, ...) are outside its reach and left out,
 * which it says on stderr.
 *
 *   limes-test-sandbox --probe-family   socket(AF_PACKET): prints its errno name
 *   limes-test-sandbox --probe-privileged   swapoff("/nonexistent"): killed under the filter
 * are the probes the test runs under the sandbox to show it bites.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <linux/capability.h>
#include <seccomp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/shm.h>
#include <sys/socket.h>
#include <grp.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#define MAX_NAMES 4096

struct names {
	char *v[MAX_NAMES];
	size_t n;
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("limes-test-sandbox: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(125);
}

static bool has(const struct names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0)
			return true;
	return false;
}

static void add(struct names *s, const char *name)
{
	if (has(s, name))
		return;
	if (s->n == MAX_NAMES)
		die("too many names");
	s->v[s->n++] = strdup(name);
}

static void del(struct names *s, const char *name)
{
	for (size_t i = 0; i < s->n; i++)
		if (strcmp(s->v[i], name) == 0) {
			free(s->v[i]);
			s->v[i] = s->v[--s->n];
			return;
		}
}

/* systemd's syscall groups, as `systemd-analyze syscall-filter` lists them. */
struct syscall_group {
	char name[64];
	struct names members; /* syscalls and @subgroups */
};
static struct syscall_group groups[64];
static size_t n_groups;

static void load_groups(void)
{
	FILE *p = popen("systemd-analyze syscall-filter --no-pager 2>/dev/null", "r");
	char line[256];
	struct syscall_group *g = NULL;

	if (!p)
		die("cannot run systemd-analyze syscall-filter");
	while (fgets(line, sizeof(line), p)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '@') {
			if (n_groups == sizeof(groups) / sizeof(groups[0]))
				die("too many syscall groups");
			g = &groups[n_groups++];
			snprintf(g->name, sizeof(g->name), "%.63s", line);
		} else if (line[0] == ' ' && g) {
			char *w = line + strspn(line, " ");
			if (*w && *w != '#')
				add(&g->members, w);
		} else {
			g = NULL; /* a blank line or a comment of its own ends the group */
		}
	}
	if (pclose(p) != 0 || n_groups == 0)
		die("systemd-analyze syscall-filter gave no groups");
}

/* Adds (or removes) a syscall or a group, recursively, as systemd does. */
static void apply_word(struct names *set, const char *word, bool remove, int depth)
{
	if (depth > 16)
		die("syscall groups nest too deeply at %s", word);
	if (word[0] != '@') {
		if (remove)
			del(set, word);
		else
			add(set, word);
		return;
	}
	for (size_t i = 0; i < n_groups; i++)
		if (strcmp(groups[i].name, word) == 0) {
			for (size_t j = 0; j < groups[i].members.n; j++)
				apply_word(set, groups[i].members.v[j], remove, depth + 1);
			return;
		}
	die("unknown syscall group %s", word);
}

struct unit {
	bool filter_set, allow_list;
	struct names syscalls;
	bool native_only;           /* libseccomp's default: other ABIs are killed */
	bool families_set;
	struct names families;
	bool mdwe, nnp, no_caps;
};

static void parse_words(char *value, void (*fn)(struct unit *, const char *, bool), struct unit *u, bool invert)
{
	for (char *w = strtok(value, " \t"); w; w = strtok(NULL, " \t"))
		fn(u, w, invert);
}

static void syscall_word(struct unit *u, const char *w, bool invert)
{
	/* in an allow-list, `~` removes; in a deny-list, plain words remove */
	apply_word(&u->syscalls, w, invert == u->allow_list, 0);
}

static void family_word(struct unit *u, const char *w, bool invert)
{
	if (invert)
		die("RestrictAddressFamilies=~ is not supported here");
	add(&u->families, w);
}

static bool yes(const char *v)
{
	return strcmp(v, "yes") == 0 || strcmp(v, "true") == 0 || strcmp(v, "1") == 0 || strcmp(v, "on") == 0;
}

static void parse_unit(const char *path, struct unit *u)
{
	FILE *f = fopen(path, "re");
	char line[1024];
	bool service = false;

	if (!f)
		die("%s: %s", path, strerror(errno));
	memset(u, 0, sizeof(*u));
	while (fgets(line, sizeof(line), f)) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '[') {
			service = strcmp(line, "[Service]") == 0;
			continue;
		}
		char *eq = strchr(line, '=');
		if (!service || line[0] == '#' || line[0] == ';' || !eq)
			continue;
		*eq = '\0';
		char *key = line, *value = eq + 1;
		if (strcmp(key, "SystemCallFilter") == 0) {
			bool invert = value[0] == '~';
			if (invert)
				value++;
			if (!*value) {
				die("SystemCallFilter= (reset) is not supported here");
			}
			if (!u->filter_set) {
				u->filter_set = true;
				u->allow_list = !invert;
				if (u->allow_list)
					apply_word(&u->syscalls, "@default", false, 0);
			}
			parse_words(value, syscall_word, u, invert);
		} else if (strcmp(key, "SystemCallErrorNumber") == 0) {
			die("SystemCallErrorNumber= is not supported here (the unit kills on a forbidden call)");
		} else if (strcmp(key, "SystemCallArchitectures") == 0) {
			if (strcmp(value, "native") != 0)
				die("SystemCallArchitectures=%s: only native is supported here", value);
			u->native_only = true;
		} else if (strcmp(key, "RestrictAddressFamilies") == 0) {
			u->families_set = true;
			parse_words(value, family_word, u, false);
		} else if (strcmp(key, "MemoryDenyWriteExecute") == 0) {
			u->mdwe = yes(value);
		} else if (strcmp(key, "NoNewPrivileges") == 0) {
			u->nnp = yes(value);
		} else if (strcmp(key, "CapabilityBoundingSet") == 0) {
			if (*value)
				die("CapabilityBoundingSet=%s: only the empty set is supported here", value);
			u->no_caps = true;
		}
	}
	fclose(f);
}

static int family_number(const char *name)
{
	static const struct { const char *name; int af; } known[] = {
		{ "AF_UNIX", AF_UNIX }, { "AF_LOCAL", AF_LOCAL }, { "AF_INET", AF_INET },
		{ "AF_INET6", AF_INET6 }, { "AF_NETLINK", AF_NETLINK }, { "AF_PACKET", AF_PACKET },
	};
	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(known[i].name, name) == 0)
			return known[i].af;
	die("unknown address family %s", name);
}

static void drop_capabilities(void)
{
	FILE *f = fopen("/proc/sys/kernel/cap_last_cap", "re");
	int last = 40;
	struct __user_cap_header_struct h = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct d[2];

	if (f) {
		if (fscanf(f, "%d", &last) != 1)
			last = 40;
		fclose(f);
	}
	for (int c = 0; c <= last; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) < 0 && errno != EINVAL)
			die("cannot drop capability %d from the bounding set: %s", c, strerror(errno));
	if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0)
		die("cannot clear ambient capabilities: %s", strerror(errno));
	/* root keeps its inheritable set across execve: empty it (the bounding
	 * set empties the permitted set of what runs next) */
	if (syscall(SYS_capget, &h, d) < 0)
		die("capget: %s", strerror(errno));
	d[0].inheritable = d[1].inheritable = 0;
	if (syscall(SYS_capset, &h, d) < 0)
		die("capset: %s", strerror(errno));
}

static void load(scmp_filter_ctx ctx, const char *what)
{
	int rc = seccomp_load(ctx);
	if (rc < 0)
		die("cannot load the %s filter: %s", what, strerror(-rc));
	seccomp_release(ctx);
}

/* Drops the capability sets first (that needs CAP_SETPCAP), then becomes
 * uid: setresuid empties the permitted and effective sets. */
static void apply(const struct unit *u, long uid)
{
	int rc;

	if (u->no_caps)
		drop_capabilities();
	if (uid >= 0) {
		pid_t parent = getppid();
		if (setgroups(0, NULL) < 0 || setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) < 0 ||
		    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) < 0)
			die("cannot become uid %ld: %s", uid, strerror(errno));
		/* a change of credentials clears the parent-death signal the
		 * test set: set it again, so a test that dies stops its agents */
		if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) < 0 || getppid() != parent)
			die("the test went away");
	}
	if (u->nnp && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
		die("PR_SET_NO_NEW_PRIVS: %s", strerror(errno));
	if (u->families_set) {
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
		if (!ctx)
			die("seccomp_init failed");
		int allowed[16], n = 0;
		for (size_t i = 0; i < u->families.n && n < 16; i++)
			allowed[n++] = family_number(u->families.v[i]);
		for (int af = 0; af < AF_MAX; af++) {
			bool ok = false;
			for (int i = 0; i < n; i++)
				ok |= allowed[i] == af;
			if (!ok && seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
						    SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)af)) < 0)
				die("seccomp rule for family %d failed", af);
		}
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EAFNOSUPPORT), SCMP_SYS(socket), 1,
				     SCMP_A0(SCMP_CMP_GE, (scmp_datum_t)AF_MAX)) < 0)
			die("seccomp rule for families above AF_MAX failed");
		load(ctx, "RestrictAddressFamilies");
	}
	if (u->mdwe) {
		scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ALLOW);
		if (!ctx)
			die("seccomp_init failed");
		if (seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mmap), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC | PROT_WRITE, PROT_EXEC | PROT_WRITE)) < 0 ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)) < 0 ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(pkey_mprotect), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, PROT_EXEC)) < 0 ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(EPERM), SCMP_SYS(shmat), 1,
				     SCMP_A2(SCMP_CMP_MASKED_EQ, SHM_EXEC, SHM_EXEC)) < 0)
			die("MemoryDenyWriteExecute rules failed");
		load(ctx, "MemoryDenyWriteExecute");
	}
	/* last, as systemd does: it forbids seccomp() itself */
	if (u->filter_set) {
		uint32_t deny = SCMP_ACT_KILL_PROCESS;
		scmp_filter_ctx ctx = seccomp_init(u->allow_list ? deny : SCMP_ACT_ALLOW);
		if (!ctx)
			die("seccomp_init failed");
		if (seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH, SCMP_ACT_KILL_PROCESS) < 0)
			die("cannot set the bad-architecture action");
		size_t applied = 0;
		for (size_t i = 0; i < u->syscalls.n; i++) {
			int nr = seccomp_syscall_resolve_name(u->syscalls.v[i]);
			if (nr == __NR_SCMP_ERROR || nr < 0)
				continue; /* not a syscall of this architecture (systemd skips those too) */
			rc = seccomp_rule_add(ctx, u->allow_list ? SCMP_ACT_ALLOW : deny, nr, 0);
			if (rc < 0)
				die("seccomp rule for %s: %s", u->syscalls.v[i], strerror(-rc));
			applied++;
		}
		fprintf(stderr, "limes-test-sandbox: %s-list of %zu system calls, others kill the process\n",
			u->allow_list ? "allow" : "deny", applied);
		load(ctx, "SystemCallFilter");
	}
	fprintf(stderr, "limes-test-sandbox: not applied (namespaces and mounts): ProtectSystem=, PrivateTmp=, "
			"PrivateUsers=, PrivateDevices=, Protect*=, RestrictNamespaces=, ...\n");
}

int main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--probe-family") == 0) {
		int fd = socket(AF_PACKET, SOCK_RAW, 0);
		printf("%s\n", fd >= 0 ? "allowed" : errno == EAFNOSUPPORT ? "EAFNOSUPPORT" : strerrorname_np(errno));
		return 0;
	}
	if (argc == 2 && strcmp(argv[1], "--probe-privileged") == 0) {
		long rc = syscall(SYS_swapoff, "/nonexistent-limes-probe");
		printf("swapoff returned %ld (%s)\n", rc, rc < 0 ? strerrorname_np(errno) : "ok");
		return 0;
	}
	int sep = 2;
	long uid = -1;
	if (argc > 3 && strcmp(argv[2], "--uid") == 0) {
		char *end;
		uid = strtol(argv[3], &end, 10);
		if (*end || uid <= 0)
			die("--uid %s: not a user id above 0", argv[3]);
		sep = 4;
	}
	if (argc < sep + 2 || strcmp(argv[sep], "--") != 0) {
		fprintf(stderr, "usage: limes-test-sandbox UNIT [--uid UID] -- PROGRAM [ARGS...]\n");
		return 64;
	}
	struct unit u;
	load_groups();
	parse_unit(argv[1], &u);
	if (!u.filter_set || !u.families_set || !u.nnp || !u.native_only)
		die("%s lacks SystemCallFilter=, RestrictAddressFamilies=, NoNewPrivileges= or "
		    "SystemCallArchitectures=native",
		    argv[1]);
	apply(&u, uid);
	execv(argv[sep + 1], argv + sep + 1);
	die("cannot run %s: %s", argv[sep + 1], strerror(errno));
}
