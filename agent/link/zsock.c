/* ZeroMQ sockets on the libuv loop: see zsock.h for the edge-trigger rules. */
#include "zsock.h"

#include <stdlib.h>
#include <zmq.h>

#include "base/log.h"

struct zsock {
	uv_poll_t poll;
	struct zloop *zl;
	void *socket;
	zsock_drain_fn drain;
	void *arg;
	struct zsock *next;
	bool closing;
	bool pending;   /* its edge fired or we used it: ZMQ_EVENTS must be read */
};

struct zloop {
	uv_check_t check;
	uv_idle_t idle;
	struct zsock *socks;
	bool idle_on;
	bool closed;
};

static bool has_input(void *socket)
{
	int events = 0;
	size_t len = sizeof(events);
	if (zmq_getsockopt(socket, ZMQ_EVENTS, &events, &len) < 0)
		return false;
	return (events & ZMQ_POLLIN) != 0;
}

/*
 * Drains the sockets that may have input; returns true if any still has.
 * A socket needs a look only when its fd fired or when we sent or received
 * on it (either may consume the edge); the others cannot have changed, and
 * reading ZMQ_EVENTS costs syscalls, so an idle socket is left alone.
 */
static bool drain_all(struct zloop *zl)
{
	bool more = false;
	for (struct zsock *zs = zl->socks; zs; zs = zs->next) {
		if (zs->closing || !zs->pending)
			continue;
		zs->pending = false;
		if (has_input(zs->socket)) {
			/* the drain received (and may have sent): look again next turn */
			zs->drain(zs, zs->arg);
			zs->pending = true;
		}
	}
	for (struct zsock *zs = zl->socks; zs; zs = zs->next)
		if (!zs->closing && zs->pending)
			more = true;
	return more;
}

static void on_idle(uv_idle_t *idle)
{
	(void)idle;
	/* only keeps the loop from blocking; the check handle does the work */
}

/* Keeps the loop from sleeping until the next check has looked. */
static void keep_awake(struct zloop *zl)
{
	if (zl->idle_on || zl->closed)
		return;
	int rc = uv_idle_start(&zl->idle, on_idle);
	if (rc == 0)
		zl->idle_on = true;
	else
		log_error("event=loop_error reason=\"cannot start the idle handle: %s\"", uv_strerror(rc));
}

static void on_check(uv_check_t *check)
{
	struct zloop *zl = check->data;
	bool more = drain_all(zl);
	if (more)
		keep_awake(zl);
	else if (zl->idle_on) {
		uv_idle_stop(&zl->idle);
		zl->idle_on = false;
	}
}

static void on_poll(uv_poll_t *poll, int status, int events)
{
	struct zsock *zs = poll->data;
	(void)status;
	(void)events;
	/* the fd only signals "look at ZMQ_EVENTS"; the check handle drains */
	zs->pending = true;
	keep_awake(zs->zl);
}

struct zloop *zloop_new(uv_loop_t *loop)
{
	struct zloop *zl = calloc(1, sizeof(*zl));
	if (!zl)
		return NULL;
	zl->check.data = zl;
	zl->idle.data = zl;
	/* libuv fails these only for a NULL callback: a broken invariant */
	if (uv_check_init(loop, &zl->check) < 0 || uv_idle_init(loop, &zl->idle) < 0 ||
	    uv_check_start(&zl->check, on_check) < 0)
		fatal("event=loop_error reason=\"cannot add the ZeroMQ glue to the loop\"");
	return zl;
}

void zloop_close(struct zloop *zl)
{
	if (!zl || zl->closed)
		return;
	zl->closed = true;
	uv_check_stop(&zl->check);
	uv_idle_stop(&zl->idle);
	uv_close((uv_handle_t *)&zl->check, NULL);
	uv_close((uv_handle_t *)&zl->idle, NULL);
}

void zloop_destroy(struct zloop **zl)
{
	if (!zl || !*zl)
		return;
	free(*zl);
	*zl = NULL;
}

static void on_poll_closed(uv_handle_t *handle)
{
	free(handle->data);
}

struct zsock *zsock_watch(struct zloop *zl, void *socket, zsock_drain_fn drain, void *arg)
{
	int fd;
	size_t len = sizeof(fd);
	struct zsock *zs;

	if (zmq_getsockopt(socket, ZMQ_FD, &fd, &len) < 0)
		return NULL;
	zs = calloc(1, sizeof(*zs));
	if (!zs)
		return NULL;
	zs->zl = zl;
	zs->socket = socket;
	zs->drain = drain;
	zs->arg = arg;
	if (uv_poll_init(uv_handle_get_loop((uv_handle_t *)&zl->check), &zs->poll, fd) < 0) {
		free(zs);
		return NULL;
	}
	zs->poll.data = zs;
	if (uv_poll_start(&zs->poll, UV_READABLE, on_poll) < 0) {
		uv_close((uv_handle_t *)&zs->poll, on_poll_closed); /* frees zs */
		return NULL;
	}
	zs->next = zl->socks;
	zl->socks = zs;
	zs->pending = true;
	return zs;
}

void zsock_close(struct zsock *zs)
{
	if (!zs || zs->closing)
		return;
	zs->closing = true;
	for (struct zsock **pp = &zs->zl->socks; *pp; pp = &(*pp)->next)
		if (*pp == zs) {
			*pp = zs->next;
			break;
		}
	uv_poll_stop(&zs->poll);
	uv_close((uv_handle_t *)&zs->poll, on_poll_closed);
}

void *zsock_socket(const struct zsock *zs)
{
	return zs->socket;
}

void zsock_poke(struct zsock *zs)
{
	if (!zs || zs->closing)
		return;
	zs->pending = true;
	keep_awake(zs->zl);
}
