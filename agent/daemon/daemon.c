/*
 * The agent daemon, the composition root: builds every part from the config
 * and wires them (the links and the API hear the commit through listeners,
 * the API reads the links' figures through a getter), runs the libuv loop,
 * handles signals (SIGTERM/SIGINT stop, SIGHUP reloads peers and policy) and
 * the housekeeping timer (expiry, retention purge). Owns the data-folder
 * lock; struct agent is private to this file.
 */
#include "daemon/daemon.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>
#include <uv.h>

#include "api/api.h"
#include "base/clock.h"
#include "base/log.h"
#include "config/config.h"
#include "core/core.h"
#include "core/history.h"
#include "crypto/identity.h"
#include "crypto/random.h"
#include "crypto/secret.h"
#include "link/link.h"
#include "proto/err.h"
#include "store/store.h"

#include "heap.h"
#include "role.h"
#include "storeconf.h"
#include "walgate.h"

#define HOUSEKEEPING_MS 1000
#define PURGE_EVERY_MS (3600 * 1000)

struct agent {
	uv_loop_t loop;
	bool loop_ready, stopping;
	char config_file[PATH_MAX];
	char id[CONFIG_ID_MAX + 1];
	struct identity *me;
	struct store *store;
	struct peers *peers;                /* owns the config */
	struct commit *commit;
	struct audit *audit;                /* the audit trail, riding on the commit */
	struct submit *submit;
	struct rotation *rotation;          /* key rotation: ours and the neighbours' */
	struct links *links;
	struct api *api;
	struct history *history;            /* the console's charts, sampled by housekeeping */
	struct role *role;                  /* active or standby (docs/availability.md) */
	int trace_fd;
	uv_signal_t sig_term, sig_int, sig_hup;
	uv_timer_t housekeeping;
	struct heap_trim heap;              /* freed pages back to the system when idle (heap.h) */
	uint64_t last_purge_ms;
	struct clock_bound purge_clock;     /* the purge's "now": a clock step ahead cannot advance it */
	bool purge_clock_vouched;           /* a neighbour's clock agreed with ours: the purge may run */
	bool purge_wait_logged;
	uint64_t last_body_purge_ms;  /* last body purge (retention per type) */
	int lock_fd;                        /* flock on DATA/agent.lock */
	bool role_lost;                     /* stopped because the node lost its role */
};

const char *agent_id(const struct agent *agent)
{
	return agent->id;
}

/* A standby has no links yet: no link figures. */
static const struct link_stats *link_stats_of(void *arg)
{
	struct agent *agent = arg;
	return agent->links ? links_stats(agent->links) : NULL;
}

static void role_of(void *arg, struct api_role *out)
{
	struct agent *agent = arg;
	out->standby = !role_is_active(agent->role);
	out->node = role_node(agent->role);
}

/* Active: bind the ROUTER, connect the links, hear the commits. */
static int on_active(void *arg)
{
	struct agent *agent = arg;
	char err[512];
	const struct link_deps ld = {
		.loop = &agent->loop, .peers = agent->peers, .store = agent->store,
		.commit = agent->commit, .me = agent->me, .trace_fd = agent->trace_fd,
		.rotation = agent->rotation, .submit = agent->submit,
	};

	/* The trail is the agency's, in the store: after a takeover its head
	 * is read there, never remembered. The config and key this node runs
	 * with go on the record before it does anything else. */
	audit_set_active(agent->audit, true);
	int rc = audit_config_file(agent->audit, "load", agent->config_file);
	if (rc == 0)
		rc = audit_key(agent->audit, agent->id, identity_public(agent->me)->key_id, IDENTITY_KEY_ID_LEN,
			       "agent key in use at start");
	if (rc == 0)
		rc = commit_flush(agent->commit);
	if (rc < 0) {
		log_error("event=audit_failed what=load reason=\"cannot write the audit trail: %s\"", limes_strerror(rc));
		return rc;
	}
	agent->links = links_new(&ld, err, sizeof(err));
	if (!agent->links) {
		log_error("event=links_failed reason=\"%s\"", err);
		return LIMES_E_IO;
	}
	rotation_set_rekey(agent->rotation, links_rekey, agent->links);
	return commit_listen(agent->commit, links_on_commit, agent->links);
}

/* The session (and with it the lock) is gone: stop acting at once. */
static void on_lost(void *arg, const char *reason)
{
	struct agent *agent = arg;
	agent->role_lost = true;
	agent_stop(agent);
}

static void on_stop_signal(uv_signal_t *sig, int signum)
{
	struct agent *agent = sig->data;
	log_info("event=stop signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	agent_stop(agent);
}

/* SIGHUP: parse into a fresh config and swap it in whole, or keep the old. */
static void reload(struct agent *agent)
{
	char err[CONFIG_ERR_MAX];
	struct config *cfg = config_load(agent->config_file, err, sizeof(err));
	const struct config *old = peers_config(agent->peers);

	if (!cfg) {
		log_error("event=reload_failed keeping=old_config reason=\"%s\"", err);
		return;
	}
	/* identity, store and endpoints are fixed for the process' life */
	if (strcmp(cfg->id, old->id) || strcmp(cfg->keys_dir, old->keys_dir) || strcmp(cfg->listen, old->listen) ||
	    strcmp(cfg->data_dir, old->data_dir) || strcmp(cfg->api_host, old->api_host) ||
	    cfg->api_port != old->api_port) {
		log_error("event=reload_failed keeping=old_config reason=\"[agent] id, keys, listen, data "
			  "and [api] listen change only with a restart\"");
		config_destroy(&cfg);
		return;
	}
	/* the token is read before anything is swapped: a bad token file keeps
	 * the old config whole, and the token in force stays valid */
	char token[512];
	for (size_t i = 0; i < cfg->n_clients; i++)
		if (config_read_client_token(&cfg->clients[i], token, sizeof(token), err, sizeof(err)) < 0) {
			log_error("event=reload_failed keeping=old_config client=%s reason=\"%s\"", cfg->clients[i].name,
				  err);
			memset(token, 0, sizeof(token));
			config_destroy(&cfg);
			return;
		}
	memset(token, 0, sizeof(token));
	/* peers whose key is new or changed, noted before the old config goes */
	/* as many as there are peers: a key change left off would be missing
	 * from the audit trail */
	struct { char id[CONFIG_ID_MAX + 1]; uint8_t key_id[IDENTITY_KEY_ID_LEN]; } *changed;
	size_t n_changed = 0;
	changed = calloc(cfg->n_peers ? cfg->n_peers : 1, sizeof(*changed));
	if (!changed) {
		log_error("event=reload_failed keeping=old_config reason=\"out of memory\"");
		config_destroy(&cfg);
		return;
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct config_peer *was = config_peer_find(old, cfg->peers[i].id);
		if (was && memcmp(was->key.key_id, cfg->peers[i].key.key_id, IDENTITY_KEY_ID_LEN) == 0)
			continue;
		snprintf(changed[n_changed].id, sizeof(changed[n_changed].id), "%s", cfg->peers[i].id);
		memcpy(changed[n_changed++].key_id, cfg->peers[i].key.key_id, IDENTITY_KEY_ID_LEN);
	}
	if (peers_reload(agent->peers, &cfg, err, sizeof(err)) < 0) {
		log_error("event=reload_failed keeping=old_config reason=\"%s\"", err);
		config_destroy(&cfg);
		free(changed);
		return;
	}
	cfg = NULL; /* the peer table owns it now */
	/* the reload and any key it changed go on the record (staged with the turn) */
	audit_set_checkpoints(agent->audit, peers_config(agent->peers)->audit_checkpoint_entries,
			      peers_config(agent->peers)->audit_checkpoint_ms);
	/* a standby records nothing: the config it runs with is recorded
	 * when it becomes active */
	int arc = role_is_active(agent->role) ? audit_config_file(agent->audit, "reload", agent->config_file) : 0;
	for (size_t i = 0; arc == 0 && role_is_active(agent->role) && i < n_changed; i++)
		arc = audit_key(agent->audit, changed[i].id, changed[i].key_id, sizeof(changed[i].key_id),
				"peer key changed by reload");
	free(changed);
	if (arc < 0)
		log_error("event=audit_failed what=reload reason=\"%s\"", limes_strerror(arc));
	rotation_apply(agent->rotation);
	int rc = agent->links ? links_reload(agent->links) : 0;
	if (rc < 0)
		log_error("event=reload_links_failed reason=\"%s\"", limes_strerror(rc));
	const struct config *now = peers_config(agent->peers);
	if (agent->api && api_reload_token(agent->api, now, err, sizeof(err)) < 0)
		log_error("event=reload_token_failed keeping=old_token reason=\"%s\"", err);
	log_set_level(now->log_level);
	log_info("event=reload peers=%zu config=%s", now->n_peers, now->path);
}

static void on_hup(uv_signal_t *sig, int signum)
{
	(void)signum;
	reload(sig->data);
}

static void on_housekeeping(uv_timer_t *timer)
{
	struct agent *agent = timer->data;
	uint64_t now = clock_now_ms();

	/* before the store check: the charts should show an unhealthy spell too */
	int sampled = history_sample(agent->history, agent->peers, agent->store, now);
	if (sampled < 0)
		log_warn("event=history_sample_failed reason=\"%s\"", limes_strerror(sampled));
	if (!store_healthy(agent->store)) {
		/* a full disk with room again: take writes again without a restart
		 * (only then: after an I/O error what was written is in doubt) */
		uint64_t need = peers_config(agent->peers)->min_free_bytes;
		if (store_recover(agent->store, need > (1u << 20) ? need : (1u << 20)) < 0)
			return;
	}
	/* a standby never writes: the active node keeps the shared store */
	if (!role_is_active(agent->role))
		return;
	rotation_tick(agent->rotation, now);
	int expired = core_expire(agent->peers, agent->store, agent->commit, now);
	if (expired < 0)
		log_error("event=expire_failed reason=\"%s\"", limes_strerror(expired));
	/* Seen ids are forgotten once their envelope has expired (plus the
	 * allowed skew); judged by the wall clock alone, a clock stepped ahead
	 * for a few seconds forgot ids whose envelopes the sender still
	 * resends, and they were delivered twice. */
	/* ... and an agent started while its clock was ahead purged by that
	 * clock: nothing is forgotten until a neighbour's clock vouches for
	 * ours; the bounded clock starts from that moment */
	if (!agent->purge_clock_vouched) {
		double offset = 0;
		const struct peer *w = peers_clock_witness(agent->peers, &offset);
		if (!w) {
			if (!agent->purge_wait_logged)
				log_info("event=purge_waiting reason=\"no neighbour's clock has vouched for ours yet (within "
					 "max_clock_skew)\" action=\"seen ids and retention are purged once one does\"");
			agent->purge_wait_logged = true;
			goto purged;
		}
		log_info("event=purge_clock_vouched peer=%s offset_ms=%.0f action=\"seen ids and retention purged from now on\"",
			 peer_id(w), offset);
		agent->purge_clock_vouched = true;
		agent->purge_clock = (struct clock_bound){ 0 };
		agent->last_purge_ms = clock_bounded_ms(&agent->purge_clock) - PURGE_EVERY_MS - 1;
	}
	uint64_t purge_now = clock_bounded_ms(&agent->purge_clock);
	if (purge_now - agent->last_purge_ms > PURGE_EVERY_MS || purge_now < agent->last_purge_ms) {
		int rc = commit_stage(agent->commit, 0);
		if (rc == 0)
			rc = store_purge(agent->store, purge_now, peers_config(agent->peers)->retention_ms);
		if (rc == 0)
			rc = audit_purged(agent->audit, peers_config(agent->peers)->retention_ms,
					  "bodies and inbox rows past retention removed; entries kept");
		if (rc < 0)
			log_error("event=purge_failed reason=\"%s\"", limes_strerror(rc));
		agent->last_purge_ms = purge_now;
	}
purged:
	if (now - agent->last_body_purge_ms >= core_purge_bodies_every_ms(peers_config(agent->peers))) {
		int rc = core_purge_bodies(agent->peers, agent->store, agent->commit, now);
		if (rc < 0)
			log_error("event=purge_failed reason=\"%s\"", limes_strerror(rc));
		agent->last_body_purge_ms = now;
	}
	int rc = audit_checkpoint_tick(agent->audit, now, false);
	if (rc < 0)
		log_error("event=audit_checkpoint_failed reason=\"%s\"", limes_strerror(rc));
	/* committed with the rest of the turn */
}

/* The data folder holds the store: create it 0700, refuse one others can enter. */
static int check_data_dir(const char *dir, char *err, size_t err_len)
{
	struct stat sb;

	if (mkdir(dir, 0700) < 0 && errno != EEXIST) {
		int rc = limes_from_errno(errno);
		snprintf(err, err_len, "%s: cannot create the data folder: %s", dir, strerror(errno));
		return rc;
	}
	if (lstat(dir, &sb) < 0) {
		int rc = limes_from_errno(errno);
		snprintf(err, err_len, "%s: %s", dir, strerror(errno));
		return rc;
	}
	return secret_path_check(dir, &sb, "data folder", true, err, err_len);
}

/* One agent per data folder: two would interleave their commits and
 * receipts. Taken before the store is opened; lives as long as the process
 * and names the holder's pid. */
static int lock_data_dir(struct agent *agent, const char *dir, char *err, size_t err_len)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/agent.lock", dir);
	agent->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (agent->lock_fd < 0) {
		int rc = limes_from_errno(errno);
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return rc;
	}
	if (flock(agent->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		char pid[32] = "";
		ssize_t n = pread(agent->lock_fd, pid, sizeof(pid) - 1, 0);
		pid[n > 0 ? n : 0] = '\0';
		pid[strcspn(pid, "\n")] = '\0';
		snprintf(err, err_len, "%s: another agent is running on this data folder (pid %s)", dir,
			 pid[0] ? pid : "unknown");
		return LIMES_E_EXISTS;
	}
	char pid[32];
	int n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	if (ftruncate(agent->lock_fd, 0) < 0 || pwrite(agent->lock_fd, pid, (size_t)n, 0) != n) {
		int rc = limes_from_errno(errno);
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return rc;
	}
	return 0;
}

/* Opens the configured store; the PostgreSQL conninfo (a secret: it may
 * hold a password) is read from its 0600 file when given so, and wiped. */
static struct store *open_store(const struct config *cfg, bool accept_wal_loss, char *err, size_t err_len)
{
	char conninfo[4096];
	int rc = 0;
	struct store *store = NULL;
	struct store_settings settings;

	if (storeconf_settings(cfg, &settings, conninfo, sizeof(conninfo), err, err_len) < 0)
		return NULL;
	/* before SQLite replays the WAL and drops what lies past damage */
	if (cfg->store_backend != 1 && walgate_check(cfg->data_dir, accept_wal_loss, err, err_len) < 0)
		return NULL;
	store = store_open_with(&settings, &rc);
	if (!store)
		snprintf(err, err_len, "%s: cannot open the store (%s): %s",
			 cfg->store_backend == 1 ? "[store] postgres" : cfg->data_dir,
			 cfg->store_backend == 1 ? "see the log for the server's answer" : "sqlite",
			 limes_strerror(rc));
	secret_wipe(conninfo, sizeof(conninfo));
	return store;
}

struct agent *agent_new(const struct agent_options *opts, char *err, size_t err_len)
{
	struct agent *agent;
	struct config *cfg = NULL;
	char why[512];
	int rc;

	heap_setup(); /* before any thread allocates */
	agent = calloc(1, sizeof(*agent));
	if (!agent) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	agent->lock_fd = -1;
	/* no core dumps: they would hold the secret keys */
	struct rlimit nocore = { 0, 0 };
	if (setrlimit(RLIMIT_CORE, &nocore) < 0 || prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0)
		log_warn("event=core_dumps_not_disabled reason=\"%s\"", strerror(errno));

	/* The descriptor budget (docs/security.md): the API holds at most 256,
	 * the store a handful, the links one per neighbour plus every
	 * connection still in its CURVE handshake (10 s at most). Take the soft
	 * limit up to the hard one so a handshake flood needs thousands of
	 * connections a second; the unit sets LimitNOFILE=65536. */
	struct rlimit nofile;
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
		nofile.rlim_cur = nofile.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &nofile) < 0)
			log_warn("event=nofile_not_raised reason=\"%s\"", strerror(errno));
	}
	if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < 4096)
		log_warn("event=nofile_low limit=%llu action=\"raise LimitNOFILE (65536 in deploy/limes.service)\"",
			 (unsigned long long)nofile.rlim_cur);

	snprintf(agent->config_file, sizeof(agent->config_file), "%s", opts->config_file);
	cfg = config_load(opts->config_file, err, err_len);
	if (!cfg)
		goto fail;
	snprintf(agent->id, sizeof(agent->id), "%s", cfg->id);
	log_set_level(cfg->log_level);
	if (random_init() < 0) {
		snprintf(err, err_len, "libsodium failed to initialise");
		goto fail;
	}
	agent->me = identity_load(cfg->keys_dir, &rc, why, sizeof(why));
	if (!agent->me) {
		snprintf(err, err_len, "%s", why);
		goto fail;
	}
	if (check_data_dir(cfg->data_dir, err, err_len) < 0 || lock_data_dir(agent, cfg->data_dir, err, err_len) < 0)
		goto fail;
	agent->store = open_store(cfg, opts->accept_wal_loss, err, err_len);
	if (!agent->store)
		goto fail;
	agent->peers = peers_new(&cfg, agent->me, err, err_len);
	if (!agent->peers)
		goto fail;

	if (uv_loop_init(&agent->loop) < 0) {
		snprintf(err, err_len, "cannot create the event loop");
		goto fail;
	}
	agent->loop_ready = true;
	agent->commit = commit_new(&agent->loop, agent->store);
	/* the audit trail rides on the commit; it records nothing until this
	 * node is active (on_active): a standby never writes the shared store */
	if (agent->commit) {
		const struct config *ac = peers_config(agent->peers);
		agent->audit = audit_new(agent->store, agent->commit, agent->me, ac->id, ac->audit_checkpoint_entries,
					 ac->audit_checkpoint_ms);
		if (!agent->audit) {
			snprintf(err, err_len, "out of memory");
			goto fail;
		}
		audit_set_active(agent->audit, false);
		commit_set_audit(agent->commit, agent->audit);
	}
	if (agent->commit) {
		agent->rotation = rotation_new(agent->peers, agent->store, agent->commit, agent->audit, agent->me, err,
					       err_len);
		if (!agent->rotation)
			goto fail;
	}
	agent->submit = agent->commit ? submit_new(agent->peers, agent->store, agent->commit, agent->me) : NULL;
	if (!agent->submit) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	submit_set_rotation(agent->submit, agent->rotation);
	rotation_set_submit(agent->rotation, agent->submit);
	agent->trace_fd = opts->trace_fd;
	const struct config *now_cfg = peers_config(agent->peers);
	char api_addr[128];
	snprintf(api_addr, sizeof(api_addr), "%s:%u", now_cfg->api_host, now_cfg->api_port);
	agent->role = role_new(&agent->loop, agent->store, now_cfg->node, api_addr, now_cfg->ha_poll_ms,
			       on_active, on_lost, agent);
	if (!agent->role) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	agent->history = history_new(peers_config(agent->peers)->history_interval_ms);
	if (!agent->history) {
		snprintf(err, err_len, "out of memory");
		goto fail;
	}
	const struct api_deps ad = {
		.loop = &agent->loop, .peers = agent->peers, .store = agent->store, .commit = agent->commit,
		.submit = agent->submit, .link_stats = link_stats_of, .link_stats_arg = agent,
		.started_ms = clock_now_ms(), .me = agent->me, .history = agent->history,
		.role = role_of, .role_arg = agent, .rotation = agent->rotation,
	};
	agent->api = api_new(&ad, err, err_len);
	if (!agent->api)
		goto fail;
	/* after each commit: the API answers the submissions and long-polls
	 * that waited on it, the links (once active) send receipts and what
	 * became due */
	if (commit_listen(agent->commit, api_on_commit, agent->api) < 0) {
		snprintf(err, err_len, "cannot wire the commit listeners");
		goto fail;
	}
	/* before the role starts: if the links cannot start (a taken listen
	 * port), it stops the agent at once, and agent_stop closes these */
	uv_signal_init(&agent->loop, &agent->sig_term);
	uv_signal_init(&agent->loop, &agent->sig_int);
	uv_signal_init(&agent->loop, &agent->sig_hup);
	uv_timer_init(&agent->loop, &agent->housekeeping);
	agent->sig_term.data = agent->sig_int.data = agent->sig_hup.data = agent;
	agent->housekeeping.data = agent;
	/* active at once (SQLite, or the lock is free), else a standby that
	 * polls; the links start when the node becomes active */
	rc = role_start(agent->role);
	if (rc < 0) {
		snprintf(err, err_len, "cannot become active: %s (see the log)", limes_strerror(rc));
		goto fail;
	}

	uv_signal_start(&agent->sig_term, on_stop_signal, SIGTERM);
	uv_signal_start(&agent->sig_int, on_stop_signal, SIGINT);
	uv_signal_start(&agent->sig_hup, on_hup, SIGHUP);
	uv_timer_start(&agent->housekeeping, on_housekeeping, HOUSEKEEPING_MS, HOUSEKEEPING_MS);
	if (agent->commit && heap_trim_start(&agent->heap, &agent->loop, agent->commit) < 0)
		log_warn("event=heap_trim_off reason=\"cannot start its timer\"");
	agent->last_purge_ms = clock_bounded_ms(&agent->purge_clock) - PURGE_EVERY_MS; /* purge once at start */
	return agent;

fail:
	config_destroy(&cfg);
	agent_destroy(&agent);
	return NULL;
}

int agent_run(struct agent *agent)
{
	const struct config *cfg = peers_config(agent->peers);
	log_info("event=start id=%s listen=%s api=%s:%u peers=%zu version=%s", cfg->id, cfg->listen, cfg->api_host,
		 cfg->api_port, cfg->n_peers, LIMES_VERSION);
	uv_run(&agent->loop, UV_RUN_DEFAULT);
	return store_healthy(agent->store) && !agent->role_lost ? 0 : LIMES_E_STORE_FAILED;
}

static void close_walk(uv_handle_t *handle, void *arg)
{
	(void)arg;
	if (!uv_is_closing(handle))
		uv_close(handle, NULL);
}

static void stop_parts(struct agent *agent)
{
	/* what the last turn staged is committed and answered before the API
	 * goes, with a checkpoint of the trail's head as it stops */
	links_flush_audit(agent->links);
	if (agent->audit && store_healthy(agent->store) &&
	    audit_checkpoint_tick(agent->audit, clock_now_ms(), true) < 0)
		log_error("event=audit_checkpoint_failed at=stop");
	if (agent->commit && commit_flush(agent->commit) < 0)
		log_error("event=final_commit_failed");
	api_stop(agent->api);
	links_stop(agent->links);
	role_stop(agent->role);
	commit_stop(agent->commit);
}

void agent_stop(struct agent *agent)
{
	if (agent->stopping)
		return;
	agent->stopping = true;
	uv_signal_stop(&agent->sig_term);
	uv_signal_stop(&agent->sig_int);
	uv_signal_stop(&agent->sig_hup);
	uv_timer_stop(&agent->housekeeping);
	heap_trim_stop(&agent->heap);
	stop_parts(agent);
	uv_close((uv_handle_t *)&agent->sig_term, NULL);
	uv_close((uv_handle_t *)&agent->sig_int, NULL);
	uv_close((uv_handle_t *)&agent->sig_hup, NULL);
	uv_close((uv_handle_t *)&agent->housekeeping, NULL);
}

void agent_destroy(struct agent **pagent)
{
	if (!pagent || !*pagent)
		return;
	struct agent *agent = *pagent;
	if (agent->loop_ready) {
		/* make sure every handle is closed before the loop goes */
		if (!agent->stopping)
			stop_parts(agent);
		uv_walk(&agent->loop, close_walk, NULL);
		uv_run(&agent->loop, UV_RUN_DEFAULT);
		api_destroy(&agent->api);
		links_destroy(&agent->links);
		if (uv_loop_close(&agent->loop) < 0)
			log_warn("event=loop_not_closed reason=\"handles still open\"");
	}
	role_destroy(&agent->role);
	submit_destroy(&agent->submit);
	rotation_destroy(&agent->rotation);
	history_destroy(&agent->history);
	commit_destroy(&agent->commit);
	audit_destroy(&agent->audit);
	peers_destroy(&agent->peers);
	store_destroy(&agent->store);
	if (agent->lock_fd >= 0)
		close(agent->lock_fd);
	identity_destroy(&agent->me);
	free(agent);
	*pagent = NULL;
}
