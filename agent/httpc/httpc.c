/*
 * The one HTTP client (see httpc.h), on libcurl. Owns one easy handle for
 * blocking requests and one per slot for the multi interface; each keeps
 * its keep-alive connection across requests (curl_easy_reset keeps it).
 * Owns the header list (with the token, wiped on destroy) and the answer
 * buffers of the slots; request bodies are borrowed from the caller.
 */
#include "httpc/httpc.h"

#include <curl/curl.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "crypto/secret.h"
#include "proto/err.h"

#define CONNECT_TIMEOUT_MS 5000L

/* A growing, NUL-terminated answer buffer. */
struct buf {
	char *data;
	size_t len, cap;
};

struct slot {
	CURL *easy;
	bool busy;
	void *tag;
	struct buf answer;
	char error[CURL_ERROR_SIZE];
};

struct httpc {
	char base[128];
	char ca_file[PATH_MAX];     /* "" for plain HTTP */
	char auth[640];             /* "Authorization: Bearer ..." */
	struct curl_slist *headers;
	bool curl_started;          /* curl_global_init succeeded: one cleanup owed */
	struct slot blocking;
	CURLM *multi;
	struct slot *slots;
	unsigned n_slots, running;
};

static size_t on_data(char *data, size_t size, size_t nmemb, void *arg)
{
	struct buf *b = arg;
	size_t n = size * nmemb;

	if (b->len + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 4096;
		while (cap < b->len + n + 1)
			cap *= 2;
		char *grown = realloc(b->data, cap);
		if (!grown)
			return 0; /* libcurl reports a write error */
		b->data = grown;
		b->cap = cap;
	}
	memcpy(b->data + b->len, data, n);
	b->len += n;
	b->data[b->len] = '\0';
	return n;
}

/* Sets up s->easy for one request: the options every request shares, then
 * the method, URL and body. The connection survives curl_easy_reset. */
static int prepare(struct httpc *h, struct slot *s, const char *method, const char *path, const char *body,
		   size_t len, long timeout_ms)
{
	char url[1024];
	CURL *e = s->easy;
	bool ok = true;

	if (snprintf(url, sizeof(url), "%s%s", h->base, path) >= (int)sizeof(url))
		return LIMES_E_TOOBIG;
	curl_easy_reset(e);
	s->answer.len = 0;
	s->error[0] = '\0';
	ok &= curl_easy_setopt(e, CURLOPT_URL, url) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_HTTPHEADER, h->headers) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_data) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_WRITEDATA, &s->answer) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_PRIVATE, s) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_ERRORBUFFER, s->error) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_TCP_NODELAY, 1L) == CURLE_OK;
	/* The local API is never reached through a proxy, whatever the environment says. */
	ok &= curl_easy_setopt(e, CURLOPT_NOPROXY, "*") == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, CONNECT_TIMEOUT_MS) == CURLE_OK;
	ok &= curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 0L) == CURLE_OK;
	if (h->ca_file[0]) {
		/* this CA file only, not the system's store: the agent's
		 * certificate is the agency's own, never a public one */
		ok &= curl_easy_setopt(e, CURLOPT_CAINFO, h->ca_file) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_CAPATH, NULL) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2) == CURLE_OK;
	}
	if (body) {
		ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDS, body) == CURLE_OK;
		ok &= curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len) == CURLE_OK;
	}
	/* A body makes libcurl POST, none makes it GET: name any other method. */
	if (strcmp(method, body ? "POST" : "GET") != 0)
		ok &= curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method) == CURLE_OK;
	return ok ? 0 : LIMES_E_INVAL;
}

/* Fills a from a finished transfer on s (body still in s->answer). */
static void finish(struct httpc *h, struct slot *s, CURLcode result, struct httpc_answer *a)
{
	memset(a, 0, sizeof(*a));
	if (result == CURLE_OK && curl_easy_getinfo(s->easy, CURLINFO_RESPONSE_CODE, &a->status) != CURLE_OK)
		a->status = 0;
	if (result != CURLE_OK || a->status == 0) {
		a->status = 0;
		snprintf(a->error, sizeof(a->error), "%s: %.120s", h->base,
			 s->error[0] ? s->error : curl_easy_strerror(result));
	}
}

static int slot_init(struct slot *s)
{
	memset(s, 0, sizeof(*s));
	s->easy = curl_easy_init();
	return s->easy ? 0 : LIMES_E_NOMEM;
}

static void slot_free(struct httpc *h, struct slot *s)
{
	if (s->easy) {
		if (s->busy && h->multi)
			curl_multi_remove_handle(h->multi, s->easy);
		curl_easy_cleanup(s->easy);
	}
	free(s->answer.data);
	memset(s, 0, sizeof(*s));
}

struct httpc *httpc_new(const char *host, uint16_t port, const char *token, unsigned slots)
{
	struct httpc *h = calloc(1, sizeof(*h));
	struct curl_slist *l;

	if (!h)
		return NULL;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
		goto fail;
	h->curl_started = true;
	if (snprintf(h->base, sizeof(h->base), strchr(host, ':') ? "http://[%s]:%u" : "http://%s:%u", host,
		     (unsigned)port) >= (int)sizeof(h->base))
		goto fail;
	/* No "Expect: 100-continue" round trip before large bodies. */
	if (!(l = curl_slist_append(NULL, "Expect:")))
		goto fail;
	h->headers = l;
	if (!(l = curl_slist_append(h->headers, "Content-Type: application/json")))
		goto fail;
	if (token && token[0]) {
		if (snprintf(h->auth, sizeof(h->auth), "Authorization: Bearer %s", token) >= (int)sizeof(h->auth) ||
		    !(l = curl_slist_append(h->headers, h->auth)))
			goto fail;
	}
	h->n_slots = slots ? slots : 1;
	h->multi = curl_multi_init();
	h->slots = calloc(h->n_slots, sizeof(*h->slots));
	if (!h->multi || !h->slots || slot_init(&h->blocking) < 0)
		goto fail;
	if (curl_multi_setopt(h->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long)h->n_slots) != CURLM_OK)
		goto fail;
	for (unsigned i = 0; i < h->n_slots; i++)
		if (slot_init(&h->slots[i]) < 0)
			goto fail;
	return h;
fail:
	httpc_destroy(&h);
	return NULL;
}

void httpc_destroy(struct httpc **hp)
{
	struct httpc *h = hp ? *hp : NULL;

	if (!h)
		return;
	for (unsigned i = 0; h->slots && i < h->n_slots; i++)
		slot_free(h, &h->slots[i]);
	free(h->slots);
	slot_free(h, &h->blocking);
	if (h->multi)
		curl_multi_cleanup(h->multi);
	/* libcurl copied the header strings into the list: wipe both copies. */
	for (struct curl_slist *l = h->headers; l; l = l->next)
		secret_wipe(l->data, strlen(l->data));
	curl_slist_free_all(h->headers);
	secret_wipe(h->auth, sizeof(h->auth));
	if (h->curl_started)
		curl_global_cleanup();
	free(h);
	*hp = NULL;
}

int httpc_use_tls(struct httpc *h, const char *ca_file)
{
	char base[sizeof(h->base)];

	if (snprintf(h->ca_file, sizeof(h->ca_file), "%s", ca_file) >= (int)sizeof(h->ca_file) ||
	    strncmp(h->base, "http://", 7) != 0 ||
	    snprintf(base, sizeof(base), "https://%s", h->base + 7) >= (int)sizeof(base)) {
		h->ca_file[0] = '\0';
		return LIMES_E_TOOBIG;
	}
	memcpy(h->base, base, sizeof(base));
	return 0;
}

const char *httpc_base(const struct httpc *h)
{
	return h->base;
}

int httpc_request(struct httpc *h, const char *method, const char *path, const char *body, size_t len,
		  long timeout_ms, struct httpc_answer *a)
{
	struct slot *s = &h->blocking;
	int rc = prepare(h, s, method, path, body, len, timeout_ms);

	memset(a, 0, sizeof(*a));
	if (rc < 0) {
		snprintf(a->error, sizeof(a->error), "%s%s: %s", h->base, path, limes_strerror(rc));
		return rc;
	}
	CURLcode result = curl_easy_perform(s->easy);
	finish(h, s, result, a);
	if (a->status == 0)
		return result == CURLE_WRITE_ERROR || result == CURLE_OUT_OF_MEMORY ? LIMES_E_NOMEM : LIMES_E_IO;
	/* Hand the buffer over to the caller; the slot grows a new one. */
	a->body = s->answer.data ? s->answer.data : calloc(1, 1);
	a->len = s->answer.len;
	s->answer = (struct buf){ 0 };
	if (!a->body) {
		a->status = 0;
		snprintf(a->error, sizeof(a->error), "%s: out of memory", h->base);
		return LIMES_E_NOMEM;
	}
	return 0;
}

void httpc_answer_clear(struct httpc_answer *a)
{
	if (!a)
		return;
	free(a->body);
	memset(a, 0, sizeof(*a));
}

int httpc_start(struct httpc *h, const char *method, const char *path, const char *body, size_t len,
		long timeout_ms, void *tag)
{
	for (unsigned i = 0; i < h->n_slots; i++) {
		struct slot *s = &h->slots[i];
		if (s->busy)
			continue;
		int rc = prepare(h, s, method, path, body, len, timeout_ms);
		if (rc < 0)
			return rc;
		s->tag = tag;
		if (curl_multi_add_handle(h->multi, s->easy) != CURLM_OK)
			return LIMES_E_IO;
		s->busy = true;
		h->running++;
		/* Start the transfer now, not at the next poll. */
		int still;
		if (curl_multi_perform(h->multi, &still) != CURLM_OK)
			return LIMES_E_IO;
		return 0;
	}
	return LIMES_E_AGAIN;
}

unsigned httpc_free_slots(const struct httpc *h)
{
	return h->n_slots - h->running;
}

unsigned httpc_running(const struct httpc *h)
{
	return h->running;
}

int httpc_poll(struct httpc *h, int extra_fd, int timeout_ms, httpc_done_fn done, void *arg)
{
	struct curl_waitfd extra = { .fd = extra_fd, .events = CURL_WAIT_POLLIN };
	int still, queued;
	CURLMsg *m;

	if (curl_multi_perform(h->multi, &still) != CURLM_OK)
		return LIMES_E_IO;
	while ((m = curl_multi_info_read(h->multi, &queued)) != NULL) {
		if (m->msg != CURLMSG_DONE)
			continue;
		CURL *e = m->easy_handle;
		CURLcode result = m->data.result;
		struct slot *s = NULL;
		struct httpc_answer a;
		if (curl_easy_getinfo(e, CURLINFO_PRIVATE, (char **)&s) != CURLE_OK || !s)
			return LIMES_E_IO;
		finish(h, s, result, &a);
		a.body = a.status && s->answer.data ? s->answer.data : (char *)"";
		a.len = a.status && s->answer.data ? s->answer.len : 0;
		curl_multi_remove_handle(h->multi, e);
		s->busy = false;
		h->running--;
		done(arg, s->tag, &a);
	}
	if (timeout_ms > 0 &&
	    curl_multi_poll(h->multi, extra_fd >= 0 ? &extra : NULL, extra_fd >= 0 ? 1 : 0, timeout_ms, NULL) !=
		    CURLM_OK)
		return LIMES_E_IO;
	return 0;
}
