/*
 * limes-bench: which message was submitted when and delivered when. Owns
 * an open-addressing table keyed by message id, filled from two sides in any
 * order: the API's 202 answers (submit time, taken before the POST) and the
 * sender's --trace-fd lines (receipt verified time). A receipt can come
 * back before the harness has read the 202 that named the id, so either side
 * may create the entry.
 */
#include "bench.h"

#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "crypto/encode.h"
#include "proto/idhash.h"

enum { ST_NONE = 0, ST_DELIVERED = 1, ST_REJECTED = 2 };

struct entry {
	uint8_t id[16];
	uint64_t submit_ns;         /* 0: not seen in a 202 yet */
	uint64_t deliver_ns;        /* 0: no receipt yet */
	uint8_t used, state, flags;
};

struct bench_trace {
	struct entry *tab;
	size_t mask;                /* size - 1, size a power of two */
	size_t used;
	uint64_t complete, rejected;
	int fd;
	char buf[65536];
	size_t buf_len;
};

static size_t table_size_for(size_t capacity)
{
	size_t size = 1024;
	while (size < capacity * 2)
		size *= 2;
	return size;
}

struct bench_trace *bench_trace_new(size_t capacity, int fd)
{
	struct bench_trace *t = calloc(1, sizeof(*t));
	size_t size = table_size_for(capacity);

	if (!t)
		return NULL;
	t->tab = calloc(size, sizeof(*t->tab));
	if (!t->tab) {
		free(t);
		return NULL;
	}
	t->mask = size - 1;
	t->fd = fd;
	return t;
}

void bench_trace_destroy(struct bench_trace **tp)
{
	if (!tp || !*tp)
		return;
	free((*tp)->tab);
	free(*tp);
	*tp = NULL;
}

void bench_trace_reset(struct bench_trace *t, int fd)
{
	memset(t->tab, 0, (t->mask + 1) * sizeof(*t->tab));
	t->used = 0;
	t->complete = t->rejected = 0;
	t->fd = fd;
	t->buf_len = 0;
}

static size_t slot_of(const struct bench_trace *t, const uint8_t id[16])
{
	return (size_t)id_hash(id) & t->mask; /* not the id's first bytes: they are its time */
}

static int grow(struct bench_trace *t)
{
	size_t size = (t->mask + 1) * 2;
	struct entry *old = t->tab, *tab = calloc(size, sizeof(*tab));
	size_t old_size = t->mask + 1;

	if (!tab)
		return -1;
	t->tab = tab;
	t->mask = size - 1;
	for (size_t i = 0; i < old_size; i++) {
		if (!old[i].used)
			continue;
		size_t j = slot_of(t, old[i].id);
		while (tab[j].used)
			j = (j + 1) & t->mask;
		tab[j] = old[i];
	}
	free(old);
	return 0;
}

/* The entry of id, created if absent; NULL only when out of memory. */
static struct entry *lookup(struct bench_trace *t, const uint8_t id[16])
{
	if ((t->used + 1) * 4 > (t->mask + 1) * 3 && grow(t) < 0)
		return NULL;
	size_t i = slot_of(t, id);
	while (t->tab[i].used && memcmp(t->tab[i].id, id, 16) != 0)
		i = (i + 1) & t->mask;
	struct entry *e = &t->tab[i];
	if (!e->used) {
		e->used = 1;
		memcpy(e->id, id, 16);
		t->used++;
	}
	return e;
}

static void note_complete(struct bench_trace *t, const struct entry *e)
{
	t->complete++;
	if (e->state == ST_REJECTED)
		t->rejected++;
}

int bench_trace_submitted(struct bench_trace *t, const char *hex, uint64_t submit_ns, unsigned flags)
{
	uint8_t id[16];

	if (strlen(hex) != BENCH_ID_HEX || encode_unhex(id, sizeof(id), hex, BENCH_ID_HEX) < 0)
		return -1;
	struct entry *e = lookup(t, id);
	if (!e)
		return -1;
	if (e->submit_ns != 0)
		return 0; /* the same id twice: keep the first */
	e->submit_ns = submit_ns ? submit_ns : 1;
	e->flags = (uint8_t)flags;
	if (e->state != ST_NONE)
		note_complete(t, e);
	return 0;
}

int bench_trace_submitted_json(struct bench_trace *t, const char *body, size_t len, uint64_t submit_ns,
			       unsigned (*flags_of)(size_t index, void *arg), void *arg)
{
	json_t *doc = json_loadb(body, len, 0, NULL);
	json_t *ids = json_object_get(doc, "ids");
	int rc = -1;
	size_t i;
	json_t *v;

	if (!json_is_array(ids)) {
		/* A single-object POST may answer {"id": "..."}. */
		const char *one = json_string_value(json_object_get(doc, "id"));
		if (one && bench_trace_submitted(t, one, submit_ns, flags_of ? flags_of(0, arg) : 0) == 0)
			rc = 1;
		goto out;
	}
	json_array_foreach(ids, i, v) {
		const char *hex = json_string_value(v);
		if (!hex || bench_trace_submitted(t, hex, submit_ns, flags_of ? flags_of(i, arg) : 0) < 0)
			goto out;
	}
	rc = (int)json_array_size(ids);
out:
	json_decref(doc);
	return rc;
}

int bench_trace_line(struct bench_trace *t, const char *line, size_t len)
{
	uint8_t id[16];

	if (len < BENCH_ID_HEX + 2 || line[BENCH_ID_HEX] != ' ' ||
	    encode_unhex(id, sizeof(id), line, BENCH_ID_HEX) < 0)
		return -1;
	const char *p = line + BENCH_ID_HEX + 1, *end = line + len;
	uint64_t ns = 0;
	while (p < end && *p >= '0' && *p <= '9')
		ns = ns * 10 + (uint64_t)(*p++ - '0');
	if (p >= end || *p != ' ' || ns == 0)
		return -1;
	p++;
	int state;
	if ((size_t)(end - p) == 9 && memcmp(p, "delivered", 9) == 0)
		state = ST_DELIVERED;
	else if ((size_t)(end - p) == 8 && memcmp(p, "rejected", 8) == 0)
		state = ST_REJECTED;
	else
		return -1;
	struct entry *e = lookup(t, id);
	if (!e)
		return -1;
	if (e->state != ST_NONE)
		return 0; /* a second receipt for the same id changes nothing */
	e->state = (uint8_t)state;
	e->deliver_ns = ns;
	if (e->submit_ns != 0)
		note_complete(t, e);
	return 0;
}

int bench_trace_read(struct bench_trace *t)
{
	if (t->fd < 0)
		return 0;
	for (;;) {
		ssize_t n = read(t->fd, t->buf + t->buf_len, sizeof(t->buf) - t->buf_len);
		if (n < 0)
			return (errno == EAGAIN || errno == EINTR) ? 0 : -1;
		if (n == 0)
			return -1;
		t->buf_len += (size_t)n;
		size_t start = 0;
		for (size_t i = 0; i < t->buf_len; i++) {
			if (t->buf[i] != '\n')
				continue;
			bench_trace_line(t, t->buf + start, i - start);
			start = i + 1;
		}
		memmove(t->buf, t->buf + start, t->buf_len - start);
		t->buf_len -= start;
		if (t->buf_len == sizeof(t->buf))
			t->buf_len = 0; /* no newline in 64 KiB: not our format */
	}
}

uint64_t bench_trace_complete(const struct bench_trace *t)
{
	return t->complete;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
	return x < y ? -1 : x > y;
}

void bench_trace_summary(const struct bench_trace *t, struct bench_trace_summary *s, uint64_t **lat,
			 size_t *n_lat)
{
	uint64_t *l = lat ? malloc((t->complete ? t->complete : 1) * sizeof(*l)) : NULL;
	size_t n = 0;

	memset(s, 0, sizeof(*s));
	s->complete = t->complete;
	s->rejected = t->rejected;
	for (size_t i = 0; i <= t->mask; i++) {
		const struct entry *e = &t->tab[i];
		if (!e->used || e->submit_ns == 0)
			continue;
		if (s->first_submit_ns == 0 || e->submit_ns < s->first_submit_ns)
			s->first_submit_ns = e->submit_ns;
		if (e->state == ST_NONE)
			continue;
		if (e->deliver_ns > s->last_delivery_ns)
			s->last_delivery_ns = e->deliver_ns;
		if (s->first_delivery_ns == 0 || e->deliver_ns < s->first_delivery_ns)
			s->first_delivery_ns = e->deliver_ns;
		if (e->flags & BENCH_TRACE_URGENT) {
			s->urgent++;
			if (e->deliver_ns > s->last_urgent_ns)
				s->last_urgent_ns = e->deliver_ns;
		} else {
			s->normal++;
			if (e->deliver_ns > s->last_normal_ns)
				s->last_normal_ns = e->deliver_ns;
		}
		/* A receipt verified before the harness took the submit time
		 * cannot happen (the time is taken before the POST): clamp. */
		if (l)
			l[n++] = e->deliver_ns > e->submit_ns ? e->deliver_ns - e->submit_ns : 0;
	}
	if (l) {
		qsort(l, n, sizeof(*l), cmp_u64);
		*lat = l;
		*n_lat = n;
	}
}
