/*
 * The agent daemon: builds every part from the config, runs the libuv loop,
 * handles signals (SIGTERM/SIGINT stop, SIGHUP reloads peers and policy) and
 * the housekeeping timer (expiry, retention purge).
 */
#include "agent/agent.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/file.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>

#include "agent/api.h"
#include "agent/err.h"
#include "agent/link.h"
#include "agent/log.h"
#include "crypto/envelope.h"
#include "crypto/identity.h"
#include "crypto/random.h"

#define HOUSEKEEPING_MS 1000
#define PURGE_EVERY_MS (3600 * 1000)

uint64_t agent_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

struct peer *agent_peer(struct agent *agent, const char *id)
{
	for (size_t i = 0; i < agent->n_peers; i++)
		if (strcmp(agent->peers[i].conf->id, id) == 0)
			return &agent->peers[i];
	return NULL;
}

int agent_outbox_stats(struct agent *agent, struct peer *p, uint64_t *queued, uint64_t *oldest_ms)
{
	uint64_t start = agent_now_ms();
	if (p->stats_valid && p->stats_cost_ms >= 10 && start - p->stats_at_ms < 50 * p->stats_cost_ms &&
	    start - p->stats_at_ms < 10000) {
		*queued = p->stats_queued;
		*oldest_ms = p->stats_oldest_ms;
		return 0;
	}
	int rc = store_outbox_stats(agent->store, p->conf->id, queued, oldest_ms);
	if (rc < 0)
		return rc;
	uint64_t end = agent_now_ms();
	p->stats_queued = *queued;
	p->stats_oldest_ms = *oldest_ms;
	p->stats_at_ms = end;
	p->stats_cost_ms = end - start;
	p->stats_valid = true;
	return 0;
}

static void free_peers(struct peer *peers, size_t n)
{
	for (size_t i = 0; i < n; i++)
		envelope_peer_destroy(&peers[i].crypto);
	free(peers);
}

/* Runtime peers for cfg, carrying over the figures of peers that stay. */
static struct peer *make_peers(const struct config *cfg, const struct identity *me,
			       const struct peer *old, size_t n_old, char *err, size_t err_len)
{
	struct peer *peers = calloc(cfg->n_peers ? cfg->n_peers : 1, sizeof(*peers));
	if (!peers) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	for (size_t i = 0; i < cfg->n_peers; i++) {
		const struct config_peer *cp = &cfg->peers[i];
		struct peer *p = &peers[i];
		for (size_t j = 0; j < n_old; j++)
			if (strcmp(old[j].conf->id, cp->id) == 0 &&
			    memcmp(old[j].conf->key.key_id, cp->key.key_id, sizeof(cp->key.key_id)) == 0) {
				*p = old[j];
				break;
			}
		p->conf = cp;
		p->crypto = envelope_peer_new(me, &cp->key, cp->id);
		if (!p->crypto) {
			snprintf(err, err_len, "%s:%u: peer \"%s\": cannot derive a shared key from its key",
				 cfg->path, cp->line, cp->id);
			free_peers(peers, i);
			return NULL;
		}
		if (!p->has_rtt)
			p->rtt_ms = -1;
	}
	return peers;
}

static void on_stop_signal(uv_signal_t *sig, int signum)
{
	struct agent *agent = sig->data;
	log_info("event=stop signal=%s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	agent_stop(agent);
}

static void reload(struct agent *agent)
{
	char err[CONFIG_ERR_MAX];
	struct config *cfg = config_load(agent->cfg->path, err, sizeof(err));
	struct peer *peers = NULL;

	if (!cfg) {
		log_error("event=reload_failed keeping=old_config reason=\"%s\"", err);
		return;
	}
	/* Identity, store and endpoints are fixed for the process' life. */
	if (strcmp(cfg->id, agent->cfg->id) || strcmp(cfg->keys_dir, agent->cfg->keys_dir) ||
	    strcmp(cfg->listen, agent->cfg->listen) || strcmp(cfg->data_dir, agent->cfg->data_dir) ||
	    strcmp(cfg->api_host, agent->cfg->api_host) || cfg->api_port != agent->cfg->api_port) {
		log_error("event=reload_failed keeping=old_config reason=\"[agent] id, keys, listen, data "
			  "and [api] listen change only with a restart\"");
		config_destroy(&cfg);
		return;
	}
	peers = make_peers(cfg, agent->me, agent->peers, agent->n_peers, err, sizeof(err));
	if (!peers) {
		log_error("event=reload_failed keeping=old_config reason=\"%s\"", err);
		config_destroy(&cfg);
		return;
	}
	struct config *old_cfg = agent->cfg;
	struct peer *old_peers = agent->peers;
	size_t old_n = agent->n_peers;
	agent->cfg = cfg;
	agent->peers = peers;
	agent->n_peers = cfg->n_peers;
	int rc = links_reload(agent->links, old_peers, old_n);
	if (rc < 0) {
		log_error("event=reload_failed keeping=old_config reason=\"links: %s\"", limes_strerror(rc));
		agent->cfg = old_cfg;
		agent->peers = old_peers;
		agent->n_peers = old_n;
		free_peers(peers, cfg->n_peers);
		config_destroy(&cfg);
		links_reload(agent->links, NULL, 0);
		return;
	}
	/* old peers' crypto was moved or is now unused: free only what did not move */
	for (size_t i = 0; i < old_n; i++) {
		bool moved = false;
		for (size_t j = 0; j < agent->n_peers; j++)
			if (agent->peers[j].crypto == old_peers[i].crypto)
				moved = true;
		if (moved)
			old_peers[i].crypto = NULL;
	}
	free_peers(old_peers, old_n);
	config_destroy(&old_cfg);
	log_set_level(cfg->log_level);
	log_info("event=reload peers=%zu config=%s", cfg->n_peers, cfg->path);
}

static void on_hup(uv_signal_t *sig, int signum)
{
	(void)signum;
	reload(sig->data);
}

static void on_housekeeping(uv_timer_t *timer)
{
	struct agent *agent = timer->data;
	static uint64_t last_purge;
	uint64_t now = agent_now_ms();

	if (!store_healthy(agent->store))
		return;
	if (store_begin(agent->store) < 0)
		return;
	int expired = store_expire(agent->store, now);
	if (now - last_purge > PURGE_EVERY_MS) {
		store_purge(agent->store, now, agent->cfg->retention_ms);
		last_purge = now;
	}
	if (store_commit(agent->store) < 0) {
		log_error("event=store_failed reason=\"%s\"", store_health_reason(agent->store));
		return;
	}
	if (expired > 0)
		log_warn("event=expired count=%d", expired);
}

/* Refuses a data folder others can enter: it holds the store. */
static int check_data_dir(const char *dir, char *err, size_t err_len)
{
	struct stat sb;
	if (stat(dir, &sb) < 0) {
		if (errno == ENOENT)
			return 0; /* the store creates it 0700 */
		snprintf(err, err_len, "%s: %s", dir, strerror(errno));
		return LIMES_E_IO;
	}
	if (!S_ISDIR(sb.st_mode)) {
		snprintf(err, err_len, "%s: data is not a folder", dir);
		return LIMES_E_INVAL;
	}
	if (sb.st_mode & 077) {
		snprintf(err, err_len, "%s: data folder mode %04o lets group or others in; run chmod 700", dir,
			 (unsigned)(sb.st_mode & 07777));
		return LIMES_E_KEY_MODE;
	}
	return 0;
}

/* One agent per data folder: two would interleave their commits and
 * receipts. The lock lives as long as the process. */
static int lock_data_dir(struct agent *agent, char *err, size_t err_len)
{
	char path[PATH_MAX + 16];
	snprintf(path, sizeof(path), "%s/agent.lock", agent->cfg->data_dir);
	agent->lock_fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (agent->lock_fd < 0) {
		snprintf(err, err_len, "%s: %s", path, strerror(errno));
		return LIMES_E_IO;
	}
	if (flock(agent->lock_fd, LOCK_EX | LOCK_NB) < 0) {
		snprintf(err, err_len, "%s: another agent is running on this data folder", agent->cfg->data_dir);
		return LIMES_E_EXISTS;
	}
	return 0;
}

struct agent *agent_new(const char *config_file, char *err, size_t err_len)
{
	struct agent *agent = calloc(1, sizeof(*agent));
	char why[512];
	int rc;

	if (!agent) {
		snprintf(err, err_len, "out of memory");
		return NULL;
	}
	agent->lock_fd = -1;
	/* No core dumps: they would hold the secret keys. */
	struct rlimit nocore = { 0, 0 };
	setrlimit(RLIMIT_CORE, &nocore);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);

	agent->cfg = config_load(config_file, err, err_len);
	if (!agent->cfg)
		goto fail;
	log_set_level(agent->cfg->log_level);
	if (random_init() < 0) {
		snprintf(err, err_len, "libsodium failed to initialise");
		goto fail;
	}
	agent->me = identity_load(agent->cfg->keys_dir, &rc, why, sizeof(why));
	if (!agent->me) {
		snprintf(err, err_len, "%s", why);
		goto fail;
	}
	if (check_data_dir(agent->cfg->data_dir, err, err_len) < 0)
		goto fail;
	agent->store = store_open(agent->cfg->data_dir, &rc);
	if (agent->store && lock_data_dir(agent, err, err_len) < 0)
		goto fail;
	if (!agent->store) {
		snprintf(err, err_len, "%s: cannot open the store: %s", agent->cfg->data_dir, limes_strerror(rc));
		goto fail;
	}
	agent->peers = make_peers(agent->cfg, agent->me, NULL, 0, err, err_len);
	if (!agent->peers)
		goto fail;
	agent->n_peers = agent->cfg->n_peers;
	agent->started_ms = agent_now_ms();
	agent->next_seq = agent->started_ms * 1000;

	if (uv_loop_init(&agent->loop) < 0) {
		snprintf(err, err_len, "cannot create the event loop");
		goto fail;
	}
	agent->loop_ready = true;
	agent->links = links_new(agent, err, err_len);
	if (!agent->links)
		goto fail;
	agent->api = api_new(agent, err, err_len);
	if (!agent->api)
		goto fail;

	uv_signal_init(&agent->loop, &agent->sig_term);
	uv_signal_init(&agent->loop, &agent->sig_int);
	uv_signal_init(&agent->loop, &agent->sig_hup);
	agent->sig_term.data = agent->sig_int.data = agent->sig_hup.data = agent;
	uv_signal_start(&agent->sig_term, on_stop_signal, SIGTERM);
	uv_signal_start(&agent->sig_int, on_stop_signal, SIGINT);
	uv_signal_start(&agent->sig_hup, on_hup, SIGHUP);
	uv_timer_init(&agent->loop, &agent->housekeeping);
	agent->housekeeping.data = agent;
	uv_timer_start(&agent->housekeeping, on_housekeeping, HOUSEKEEPING_MS, HOUSEKEEPING_MS);
	return agent;

fail:
	agent_destroy(&agent);
	return NULL;
}

int agent_run(struct agent *agent)
{
	log_info("event=start id=%s listen=%s api=%s:%u peers=%zu version=%s", agent->cfg->id,
		 agent->cfg->listen, agent->cfg->api_host, agent->cfg->api_port, agent->cfg->n_peers,
		 LIMES_VERSION);
	uv_run(&agent->loop, UV_RUN_DEFAULT);
	return store_healthy(agent->store) ? 0 : LIMES_E_STORE_FAILED;
}

static void close_walk(uv_handle_t *handle, void *arg)
{
	(void)arg;
	if (!uv_is_closing(handle))
		uv_close(handle, NULL);
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
	api_stop(agent->api);
	links_stop(agent->links);
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
		if (!agent->stopping) {
			api_stop(agent->api);
			links_stop(agent->links);
		}
		uv_walk(&agent->loop, close_walk, NULL);
		uv_run(&agent->loop, UV_RUN_DEFAULT);
		api_destroy(&agent->api);
		links_destroy(&agent->links);
		uv_loop_close(&agent->loop);
	}
	free_peers(agent->peers, agent->n_peers);
	store_destroy(&agent->store);
	if (agent->lock_fd >= 0)
		close(agent->lock_fd);
	identity_destroy(&agent->me);
	config_destroy(&agent->cfg);
	free(agent);
	*pagent = NULL;
}

void agent_inbox_changed(struct agent *agent)
{
	api_inbox_changed(agent->api);
}

void agent_outbox_changed(struct agent *agent, const char *next_hop)
{
	links_kick(agent->links, next_hop);
}
