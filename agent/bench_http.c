/*
 * `limes bench`: the API client, on libcurl's multi interface so one thread
 * keeps several POSTs in flight while it also watches the trace pipe. Owns
 * one easy handle per slot (each keeps its keep-alive connection) and the
 * answer buffers; request bodies are borrowed from the caller.
 */
#include "agent/bench.h"

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct slot {
	CURL *easy;
	bool busy;
	void *tag;
	char *buf;
	size_t len, cap;
};

struct bench_http {
	CURLM *multi;
	struct curl_slist *headers;
	char base[64];
	struct slot *slots;
	unsigned n_slots, running;
	CURL *get_easy;             /* for blocking GETs */
	struct slot get_slot;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct slot *s = arg;
	size_t n = size * nmemb;

	if (s->len + n + 1 > s->cap) {
		size_t cap = s->cap ? s->cap : 4096;
		while (cap < s->len + n + 1)
			cap *= 2;
		char *grown = realloc(s->buf, cap);
		if (!grown)
			return 0; /* curl reports a write error */
		s->buf = grown;
		s->cap = cap;
	}
	memcpy(s->buf + s->len, data, n);
	s->len += n;
	s->buf[s->len] = '\0';
	return n;
}

static CURL *easy_new(struct bench_http *h, struct slot *s)
{
	CURL *e = curl_easy_init();

	if (!e)
		return NULL;
	curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers);
	curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(e, CURLOPT_WRITEDATA, s);
	curl_easy_setopt(e, CURLOPT_PRIVATE, s);
	curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, 600000L);
	return e;
}

struct bench_http *bench_http_new(uint16_t port, const char *token, unsigned slots)
{
	static bool global_done;
	char auth[160];
	struct bench_http *h = NULL;

	if (!global_done) {
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
			return NULL;
		global_done = true;
	}
	h = calloc(1, sizeof(*h));
	if (!h)
		return NULL;
	snprintf(h->base, sizeof(h->base), "http://127.0.0.1:%u", port);
	snprintf(auth, sizeof(auth), "Authorization: Bearer %s", token);
	struct curl_slist *l = curl_slist_append(NULL, auth);
	if (l)
		h->headers = l;
	/* No "Expect: 100-continue" round trip before large POSTs. */
	if (l && (l = curl_slist_append(h->headers, "Expect:")))
		h->headers = l;
	if (l && (l = curl_slist_append(h->headers, "Content-Type: application/json")))
		h->headers = l;
	h->multi = curl_multi_init();
	h->slots = calloc(slots ? slots : 1, sizeof(*h->slots));
	h->n_slots = slots ? slots : 1;
	if (!l || !h->multi || !h->slots)
		goto fail;
	curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->n_slots);
	for (unsigned i = 0; i < h->n_slots; i++)
		if (!(h->slots[i].easy = easy_new(h, &h->slots[i])))
			goto fail;
	if (!(h->get_easy = easy_new(h, &h->get_slot)))
		goto fail;
	curl_easy_setopt(h->get_easy, CURLOPT_TIMEOUT_MS, 5000L);
	return h;
fail:
	bench_http_destroy(&h);
	return NULL;
}

void bench_http_destroy(struct bench_http **hp)
{
	struct bench_http *h = hp ? *hp : NULL;

	if (!h)
		return;
	for (unsigned i = 0; h->slots && i < h->n_slots; i++) {
		if (h->slots[i].easy) {
			if (h->slots[i].busy)
				curl_multi_remove_handle(h->multi, h->slots[i].easy);
			curl_easy_cleanup(h->slots[i].easy);
		}
		free(h->slots[i].buf);
	}
	free(h->slots);
	if (h->get_easy)
		curl_easy_cleanup(h->get_easy);
	free(h->get_slot.buf);
	if (h->multi)
		curl_multi_cleanup(h->multi);
	curl_slist_free_all(h->headers);
	free(h);
	*hp = NULL;
}

int bench_http_get(struct bench_http *h, const char *path, long *status, char **body, size_t *len)
{
	char url[256];

	*status = 0;
	*body = NULL;
	*len = 0;
	snprintf(url, sizeof(url), "%s%s", h->base, path);
	h->get_slot.len = 0;
	curl_easy_setopt(h->get_easy, CURLOPT_URL, url);
	curl_easy_setopt(h->get_easy, CURLOPT_HTTPGET, 1L);
	if (curl_easy_perform(h->get_easy) != CURLE_OK)
		return -1;
	curl_easy_getinfo(h->get_easy, CURLINFO_RESPONSE_CODE, status);
	*body = malloc(h->get_slot.len + 1);
	if (!*body)
		return -1;
	if (h->get_slot.len)
		memcpy(*body, h->get_slot.buf, h->get_slot.len);
	(*body)[h->get_slot.len] = '\0';
	*len = h->get_slot.len;
	return 0;
}

unsigned bench_http_free_slots(const struct bench_http *h)
{
	return h->n_slots - h->running;
}

unsigned bench_http_running(const struct bench_http *h)
{
	return h->running;
}

int bench_http_post(struct bench_http *h, const char *path, const char *body, size_t len, void *tag)
{
	char url[256];

	for (unsigned i = 0; i < h->n_slots; i++) {
		struct slot *s = &h->slots[i];
		if (s->busy)
			continue;
		snprintf(url, sizeof(url), "%s%s", h->base, path);
		s->len = 0;
		s->tag = tag;
		curl_easy_setopt(s->easy, CURLOPT_URL, url);
		curl_easy_setopt(s->easy, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(s->easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
		if (curl_multi_add_handle(h->multi, s->easy) != CURLM_OK)
			return -1;
		s->busy = true;
		h->running++;
		/* Start the transfer now: the submit time is taken before this call. */
		int still;
		curl_multi_perform(h->multi, &still);
		return 0;
	}
	return -1;
}

int bench_http_poll(struct bench_http *h, int extra_fd, int timeout_ms, bench_http_done_fn done, void *arg)
{
	struct curl_waitfd extra = { .fd = extra_fd, .events = CURL_WAIT_POLLIN };
	int still, queued;
	CURLMsg *m;

	if (curl_multi_perform(h->multi, &still) != CURLM_OK)
		return -1;
	while ((m = curl_multi_info_read(h->multi, &queued)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *e = m->easy_handle;
		CURLcode result = m->data.result;
		struct slot *s = NULL;
		long status = 0;
		curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s);
		if (result == CURLE_OK)
			curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
		curl_multi_remove_handle(h->multi, e);
		s->busy = false;
		h->running--;
		done(arg, s->tag, status, s->buf ? s->buf : "", s->len);
	}
	if (timeout_ms > 0 &&
	    curl_multi_poll(h->multi, extra_fd >= 0 ? &extra : NULL, extra_fd >= 0 ? 1 : 0, timeout_ms, NULL) !=
		    CURLM_OK)
		return -1;
	return 0;
}
