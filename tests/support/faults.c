/* The durability invariant of the fault suite (faults.h). */
#include "support/faults.h"

#include <criterion/criterion.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

void fault_ids_add(struct fault_ids *ids, const char *id)
{
	if (ids->n == ids->cap) {
		ids->cap = ids->cap ? 2 * ids->cap : 256;
		ids->id = realloc(ids->id, ids->cap * sizeof(*ids->id));
		cr_assert(ids->id != NULL);
	}
	snprintf(ids->id[ids->n++], 33, "%s", id);
}

void fault_ids_free(struct fault_ids *ids)
{
	free(ids->id);
	memset(ids, 0, sizeof(*ids));
}

bool fault_wait_drained(struct cluster *c, const char *from, const char *to, int seconds)
{
	for (int i = 0; i < seconds * 10; i++) {
		if (cluster_queued(c, from, to) == 0)
			return true;
		cluster_sleep_ms(100);
	}
	return false;
}

static int cmp_id(const void *x, const void *y)
{
	return memcmp(x, y, 33);
}

void fault_assert_invariant(struct cluster *c, const char *from, const char *to, const struct fault_ids *ids,
			    size_t uncertain)
{
	json_t *inbox = cluster_inbox(c, to);
	size_t got = 0, i;
	json_t *m;
	char (*seen)[33] = calloc(json_array_size(inbox) + 1, 33);
	json_array_foreach(inbox, i, m)
		if (strcmp(json_string_value(json_object_get(m, "from")), from) == 0)
			snprintf(seen[got++], 33, "%s", json_string_value(json_object_get(m, "id")));
	json_decref(inbox);
	char (*want)[33] = calloc(ids->n + 1, 33);
	memcpy(want, ids->id, ids->n * 33);
	qsort(seen, got, 33, cmp_id);
	qsort(want, ids->n, 33, cmp_id);
	size_t dup = 0;
	for (i = 0; i + 1 < got; i++)
		dup += strcmp(seen[i], seen[i + 1]) == 0;
	cr_assert(dup == 0, "%zu messages in %s's inbox twice", dup, to);
	cr_assert(got >= ids->n && got <= ids->n + uncertain,
		  "%s's inbox holds %zu messages from %s, %zu were accepted (%zu answers lost)", to, got, from, ids->n,
		  uncertain);
	/* every accepted id is there (both lists sorted) */
	size_t j = 0;
	for (i = 0; i < ids->n; i++) {
		while (j < got && strcmp(seen[j], want[i]) < 0)
			j++;
		cr_assert(j < got && strcmp(seen[j], want[i]) == 0, "accepted %s is not in %s's inbox", want[i], to);
	}
	/* marked delivered at the sender: nothing left queued or sent */
	cr_assert(cluster_queued(c, from, to) == 0, "%s still has %ld queued for %s", from,
		  cluster_queued(c, from, to), to);
	for (i = 0; i < ids->n; i += ids->n > 200 ? ids->n / 100 : 1) {
		char state[32];
		cluster_state(c, from, ids->id[i], to, state, sizeof(state), NULL);
		cr_assert(strcmp(state, "delivered") == 0, "message %s to %s is %s", ids->id[i], to, state);
	}
	free(seen);
	free(want);
}
