/*
 * A message's case: the messages linked to it by ref, both ways and across
 * the outbox and the inbox (a readmission request, the reply asking for
 * more, the supplementary request, the acceptance), in the order they were
 * created. GET /v1/messages/{id} shows it, and with it what a received or
 * purged message still says of itself.
 */
#include <stdlib.h>
#include <string.h>

#include "api_int.h"
#include "proto/err.h"
#include "proto/schema.h"

#define CASE_MAX 128     /* messages shown in one case */
#define CASE_DEPTH 64    /* refs followed up to the first message */

struct case_walk {
	struct store_case_entry e[CASE_MAX];
	size_t n;
};

static bool seen_in(const struct case_walk *w, const uint8_t id[STORE_ID_LEN])
{
	for (size_t i = 0; i < w->n; i++)
		if (memcmp(w->e[i].id, id, STORE_ID_LEN) == 0)
			return true;
	return false;
}

static int cmp_created(const void *a, const void *b)
{
	const struct store_case_entry *x = a, *y = b;
	uint64_t tx = x->created_ms, ty = y->created_ms;
	return tx < ty ? -1 : tx > ty ? 1 : 0;
}

static int add_state(void *arg, const struct store_delivery_row *row)
{
	json_t *list = arg;
	json_array_append_new(list, json_pack("{s:s, s:s}", "to", row->recipient, "state",
					      store_delivery_state_name(row->state)));
	return 0;
}

static json_t *entry_json(const struct api_deps *deps, const struct store_case_entry *e)
{
	const char *type = schema_type_name(e->type);
	json_t *o = json_pack("{s:o, s:s, s:s, s:o, s:o?, s:b}", "id", api_json_id_value(e->id), "direction",
			      e->received ? "received" : "sent", "type", type ? type : "unknown", "created",
			      api_json_time_value(e->created_ms), "ref", e->has_ref ? api_json_id_value(e->ref) : NULL,
			      "body_purged", e->body_purged);
	if (!o)
		return NULL;
	if (e->received) {
		json_object_set_new(o, "from", json_string(e->sender));
		json_object_set_new(o, "received", api_json_time_value(e->received_ms));
	} else {
		json_t *to = json_array();
		if (to && store_message_get(deps->store, e->id, add_state, to) >= 0)
			json_object_set_new(o, "recipients", to);
		else
			json_decref(to);
	}
	return o;
}

int api_case_entry(const struct api_deps *deps, const uint8_t id[STORE_ID_LEN], struct store_case_entry *e)
{
	return store_case_get(deps->store, id, e);
}

json_t *api_case_json(const struct api_deps *deps, const uint8_t id[STORE_ID_LEN])
{
	struct case_walk *w = calloc(1, sizeof(*w));
	struct store_case_entry cur;
	uint8_t kids[CASE_MAX][STORE_ID_LEN];
	json_t *out = NULL;
	int rc;

	if (!w)
		return NULL;
	/* up the refs to the first message still held */
	if (store_case_get(deps->store, id, &cur) < 0)
		goto out;
	for (int depth = 0; depth < CASE_DEPTH && cur.has_ref; depth++) {
		struct store_case_entry up;
		if (store_case_get(deps->store, cur.ref, &up) < 0)
			break;
		cur = up;
	}
	/* then down, breadth first: every message answering one in the case */
	w->e[w->n++] = cur;
	for (size_t i = 0; i < w->n && w->n < CASE_MAX; i++) {
		size_t n = 0;
		if ((rc = store_case_children(deps->store, w->e[i].id, kids, CASE_MAX, &n)) < 0)
			goto out;
		for (size_t k = 0; k < n && w->n < CASE_MAX; k++) {
			if (seen_in(w, kids[k]) || store_case_get(deps->store, kids[k], &w->e[w->n]) < 0)
				continue;
			w->n++;
		}
	}
	qsort(w->e, w->n, sizeof(w->e[0]), cmp_created);
	out = json_array();
	for (size_t i = 0; out && i < w->n; i++) {
		json_t *o = entry_json(deps, &w->e[i]);
		if (!o || json_array_append_new(out, o) < 0) {
			json_decref(out);
			out = NULL;
		}
	}
out:
	free(w);
	return out;
}
