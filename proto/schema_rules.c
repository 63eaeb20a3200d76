/*
 * Rules between fields of one body that the per-field limits cannot state:
 * counts that match their list, fields one action needs and another
 * forbids, dates in the order the world puts them, seats taken once. Each
 * failure names the field path, as the mapper's own errors do. Run by
 * schema.c on the way in from JSON and on every body received.
 */
#include "schema_rules.h"

#include <string.h>

#include "proto/err.h"
#include "proto/limes.pb-c.h"

static uint32_t date_key(const Limes__Date *d)
{
	return d->year * 10000u + d->month * 100u + d->day;
}

/* The UTC calendar day of a Timestamp, as date_key() orders it. */
static uint32_t day_key_of(const Limes__Timestamp *t)
{
	int64_t days = t->unix_ms / 86400000;
	/* civil_from_days (H. Hinnant): days since 1970-01-01 to y-m-d */
	int64_t z = days + 719468, era = z / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int64_t d = doy - (153 * mp + 2) / 5 + 1;
	int64_t m = mp < 10 ? mp + 3 : mp - 9;
	int64_t y = yoe + era * 400 + (m <= 2);
	return (uint32_t)(y * 10000 + m * 100 + d);
}

/* Fails at path (relative to the walk's current path). */
static int fail_at(struct pbjson_walk *w, const char *field, int code, const char *why)
{
	pbjson_path_field(w, field);
	return pbjson_fail(w, code, "%s", why);
}

/* A document's expiry after its holder's birth; base is the document's path. */
static int document_after_birth(struct pbjson_walk *w, const Limes__MachineReadableDocument *doc,
				const Limes__Date *born)
{
	if (doc == NULL || doc->expiry == NULL || born == NULL || date_key(doc->expiry) > date_key(born))
		return 0;
	pbjson_path_field(w, "expiry");
	return pbjson_fail(w, PBJSON_INCONSISTENT, "must be after the holder's date_of_birth");
}

static int manifest_rules(const ProtobufCMessage *msg, struct pbjson_walk *w)
{
	const Limes__PassengerManifest *m = (const Limes__PassengerManifest *)msg;
	size_t base = pbjson_path_mark(w);
	char why[128];

	if (m->action == LIMES__MANIFEST_ACTION__MANIFEST_ACTION_CANCEL) {
		if (m->n_travellers > 0)
			return fail_at(w, "travellers", PBJSON_INCONSISTENT, "a cancel lists no travellers");
		if (m->has_total_count)
			return fail_at(w, "total_count", PBJSON_INCONSISTENT, "a cancel carries no total_count");
	} else {
		if (m->n_travellers == 0)
			return fail_at(w, "travellers", PBJSON_MISSING_FIELD,
				       "at least one traveller is required unless action is cancel");
		if (!m->has_total_count)
			return fail_at(w, "total_count", PBJSON_MISSING_FIELD, "required unless action is cancel");
		if (m->total_count != m->n_travellers) {
			snprintf(why, sizeof(why), "must equal the number of travellers listed (%zu)", m->n_travellers);
			return fail_at(w, "total_count", PBJSON_INCONSISTENT, why);
		}
	}
	if (m->scheduled_departure && m->expected_arrival &&
	    m->expected_arrival->unix_ms < m->scheduled_departure->unix_ms)
		return fail_at(w, "expected_arrival", PBJSON_INCONSISTENT, "must not be before scheduled_departure");
	if (m->actual_departure && m->expected_arrival && m->expected_arrival->unix_ms < m->actual_departure->unix_ms)
		return fail_at(w, "actual_departure", PBJSON_INCONSISTENT, "must not be after expected_arrival");
	for (size_t i = 0; i < m->n_travellers; i++) {
		const Limes__Traveller *t = m->travellers[i];
		int rc;

		pbjson_path_field(w, "travellers");
		pbjson_path_index(w, i);
		if (t->date_of_birth && m->scheduled_departure &&
		    date_key(t->date_of_birth) > day_key_of(m->scheduled_departure))
			return fail_at(w, "date_of_birth", PBJSON_INCONSISTENT, "must not be after scheduled_departure");
		pbjson_path_field(w, "document");
		if ((rc = document_after_birth(w, t->document, t->date_of_birth)) != 0)
			return rc;
		pbjson_path_pop(w, base);
		for (size_t j = 0; t->seat != NULL && j < i; j++) {
			if (m->travellers[j]->seat == NULL || strcmp(m->travellers[j]->seat, t->seat) != 0)
				continue;
			pbjson_path_field(w, "travellers");
			pbjson_path_index(w, i);
			snprintf(why, sizeof(why), "is the same seat as travellers[%zu]", j);
			return fail_at(w, "seat", PBJSON_INCONSISTENT, why);
		}
	}
	return 0;
}

static int person_rules(struct pbjson_walk *w, const Limes__ReadmissionPerson *p)
{
	size_t base = pbjson_path_mark(w);
	int rc;

	for (size_t i = 0; p != NULL && i < p->n_documents; i++) {
		pbjson_path_field(w, "documents");
		pbjson_path_index(w, i);
		if ((rc = document_after_birth(w, p->documents[i], p->date_of_birth)) != 0)
			return rc;
		pbjson_path_pop(w, base);
	}
	return 0;
}

static int request_rules(const ProtobufCMessage *msg, struct pbjson_walk *w)
{
	const Limes__ReadmissionRequest *r = (const Limes__ReadmissionRequest *)msg;
	size_t base = pbjson_path_mark(w);
	int rc;

	if (r->requesting_state && r->requested_state && strcmp(r->requesting_state, r->requested_state) == 0)
		return fail_at(w, "requested_state", PBJSON_INCONSISTENT, "must differ from requesting_state");
	if ((r->ground == LIMES__READMISSION_GROUND__READMISSION_GROUND_THIRD_COUNTRY_NATIONAL ||
	     r->ground == LIMES__READMISSION_GROUND__READMISSION_GROUND_STATELESS_PERSON) &&
	    r->kind != LIMES__READMISSION_REQUEST_KIND__READMISSION_REQUEST_KIND_WITHDRAWAL && r->n_evidence == 0)
		return fail_at(w, "evidence", PBJSON_MISSING_FIELD,
			       "evidence of entry or stay is required for this ground");
	pbjson_path_field(w, "person");
	if ((rc = person_rules(w, r->person)) != 0)
		return rc;
	pbjson_path_pop(w, base);
	return 0;
}

static int reply_rules(const ProtobufCMessage *msg, struct pbjson_walk *w)
{
	const Limes__ReadmissionReply *r = (const Limes__ReadmissionReply *)msg;

	switch (r->decision) {
	case LIMES__READMISSION_DECISION__READMISSION_DECISION_ACCEPTED:
		if (r->confirmed_transfer == NULL)
			return fail_at(w, "confirmed_transfer", PBJSON_MISSING_FIELD, "required when decision is accepted");
		if (r->n_refusal_grounds > 0)
			return fail_at(w, "refusal_grounds", PBJSON_INCONSISTENT, "only with decision refused");
		break;
	case LIMES__READMISSION_DECISION__READMISSION_DECISION_REFUSED:
		if (r->n_refusal_grounds == 0)
			return fail_at(w, "refusal_grounds", PBJSON_MISSING_FIELD, "required when decision is refused");
		if (r->confirmed_transfer != NULL)
			return fail_at(w, "confirmed_transfer", PBJSON_INCONSISTENT, "only with decision accepted");
		break;
	case LIMES__READMISSION_DECISION__READMISSION_DECISION_MORE_INFORMATION_REQUESTED:
		if (r->n_information_requested == 0)
			return fail_at(w, "information_requested", PBJSON_MISSING_FIELD,
				       "required when decision is more_information_requested");
		if (r->confirmed_transfer != NULL)
			return fail_at(w, "confirmed_transfer", PBJSON_INCONSISTENT, "only with decision accepted");
		if (r->n_refusal_grounds > 0)
			return fail_at(w, "refusal_grounds", PBJSON_INCONSISTENT, "only with decision refused");
		break;
	default:
		break;
	}
	return 0;
}

schema_rules_fn schema_rules_for(const char *message_name)
{
	static const struct {
		const char *name;
		schema_rules_fn fn;
	} rules[] = {
		{ "limes.PassengerManifest", manifest_rules },
		{ "limes.ReadmissionRequest", request_rules },
		{ "limes.ReadmissionReply", reply_rules },
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (strcmp(rules[i].name, message_name) == 0)
			return rules[i].fn;
	return NULL;
}

int schema_rules_check(const ProtobufCMessage *msg, const char *path_prefix, struct pbjson_error *err)
{
	schema_rules_fn fn = schema_rules_for(msg->descriptor->name);
	struct pbjson_walk w;

	if (fn == NULL)
		return 0;
	pbjson_walk_init(&w, err, path_prefix);
	return fn(msg, &w);
}
