/*
 * Validation of the advance passenger information and readmission bodies
 * (proto/limits.c formats, proto/schema_rules.c cross-field rules): every
 * field of the new messages has a bad value refused with its exact code and
 * field path, starting from the examples in docs/examples, and the same
 * rules hold for bodies received as protobuf.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/limes.pb-c.h"
#include "proto/limits.h"
#include "proto/schema.h"

TestSuite(schema_types, .timeout = 30);

static json_t *load_example(const char *name)
{
	char path[512];
	json_error_t jerr;
	json_t *j;

	snprintf(path, sizeof(path), "%s/docs/examples/%s", LIMES_SOURCE_DIR, name);
	j = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	cr_assert_not_null(j, "%s: line %d: %s", path, jerr.line, jerr.text);
	return j;
}

/* Sets (value not NULL, stolen) or removes (NULL) "a.b[2].c" in root; the
 * parents must exist. */
static void put(json_t *root, const char *path, json_t *value)
{
	char buf[256];
	char *tok = buf, *last = NULL;
	json_t *j = root, *parent = NULL;
	long last_index = -1;

	snprintf(buf, sizeof(buf), "%s", path);
	while (tok != NULL) {
		char *next = strchr(tok, '.'), *bracket;
		if (next != NULL)
			*next++ = '\0';
		bracket = strchr(tok, '[');
		if (bracket != NULL)
			*bracket = '\0';
		parent = j;
		last = tok;
		last_index = -1;
		if (next != NULL || bracket != NULL)
			j = json_object_get(j, tok);
		if (bracket != NULL) {
			last_index = strtol(bracket + 1, NULL, 10);
			parent = j;
			if (next != NULL)
				j = json_array_get(j, (size_t)last_index);
		}
		cr_assert_not_null(j, "no %s in the example", path);
		tok = next;
	}
	if (last_index >= 0 && value != NULL)
		cr_assert(eq(int, json_array_set_new(parent, (size_t)last_index, value), 0), "%s", path);
	else if (last_index >= 0)
		cr_assert(eq(int, json_array_remove(parent, (size_t)last_index), 0), "%s", path);
	else if (value != NULL)
		cr_assert(eq(int, json_object_set_new(parent, last, value), 0), "%s", path);
	else
		cr_assert(eq(int, json_object_del(parent, last), 0), "%s is not in the example", path);
}

struct bad_case {
	const char *example;
	const char *path;      /* where the change is made, under the body */
	const char *json;      /* the new value as JSON text; NULL removes the field */
	const char *code;      /* expected error code */
	const char *where;     /* expected error path */
};

static void expect_refused(const struct bad_case *c)
{
	json_t *body = load_example(c->example);
	int type = schema_type_from_name(strncmp(c->example, "passenger", 9) == 0   ? "passenger_manifest"
					 : strncmp(c->example, "readmission_request", 19) == 0 ? "readmission_request"
											    : "readmission_reply");
	json_error_t jerr;
	json_t *value = NULL;
	struct pbjson_error err;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (c->json != NULL) {
		value = json_loads(c->json, JSON_DECODE_ANY, &jerr);
		cr_assert_not_null(value, "%s: %s", c->json, jerr.text);
	}
	put(body, c->path, value);
	int rc = schema_body_from_json(type, body, "body", &buf, &len, &err);
	cr_expect(eq(int, rc, LIMES_E_SCHEMA), "%s: %s = %s was accepted", c->example, c->path,
		  c->json ? c->json : "(removed)");
	cr_expect(eq(str, (char *)pbjson_code_name(err.code), (char *)c->code), "%s = %s: at %s: %s", c->path,
		  c->json ? c->json : "(removed)", err.path, err.message);
	cr_expect(eq(str, err.path, (char *)c->where), "%s = %s: %s", c->path, c->json ? c->json : "(removed)",
		  err.message);
	cr_expect_null(buf);
	free(buf);
	json_decref(body);
}

static void run_all(const struct bad_case *cases, size_t n)
{
	for (size_t i = 0; i < n; i++)
		expect_refused(&cases[i]);
}

#define PM "passenger_manifest.json"
#define RQ "readmission_request.json"
#define RP "readmission_reply.json"
#define RA "readmission_reply_accepted.json"
#define RR "readmission_reply_refused.json"

Test(schema_types, refuses_every_bad_passenger_manifest_field_with_its_path)
{
	static const struct bad_case cases[] = {
		{ PM, "action", "\"replace\"", "bad_enum", "body.action" },
		{ PM, "action", "2", "wrong_type", "body.action" },
		{ PM, "manifest_reference", NULL, "missing_field", "body.manifest_reference" },
		{ PM, "manifest_reference", "\"VX-BEG-VIE-20261201-0715-0000000000000000\"", "too_long",
		  "body.manifest_reference" },
		{ PM, "carrier", NULL, "missing_field", "body.carrier" },
		{ PM, "carrier", "\"\"", "bad_format", "body.carrier" },
		{ PM, "carrier_code", "\"RS-PRV-0412/2019-RS-PRV-0412/2019-XX\"", "too_long", "body.carrier_code" },
		{ PM, "transport_mode", "\"coach\"", "bad_enum", "body.transport_mode" },
		{ PM, "means_registration", "\"ns 214-km\"", "bad_format", "body.means_registration" },
		{ PM, "journey_number", "\"BEG-VIE 715 EXPRESS\"", "too_long", "body.journey_number" },
		{ PM, "place_of_departure", "\"Beograd\"", "too_long", "body.place_of_departure" },
		{ PM, "place_of_departure", "\"ZZBEG\"", "bad_format", "body.place_of_departure" },
		{ PM, "border_crossing_point", "\"HUR10\"", "bad_format", "body.border_crossing_point" },
		{ PM, "border_crossing_point", NULL, "missing_field", "body.border_crossing_point" },
		{ PM, "final_destination", "\"atvie\"", "bad_format", "body.final_destination" },
		{ PM, "scheduled_departure", "\"2026-12-01 07:15:00Z\"", "bad_format", "body.scheduled_departure" },
		{ PM, "actual_departure", "\"2026-12-01T11:00:00Z\"", "inconsistent", "body.actual_departure" },
		{ PM, "expected_arrival", "\"2026-12-01T07:00:00Z\"", "inconsistent", "body.expected_arrival" },
		{ PM, "expected_arrival", NULL, "missing_field", "body.expected_arrival" },
		{ PM, "kind", "\"staff\"", "bad_enum", "body.kind" },
		{ PM, "total_count", "43", "inconsistent", "body.total_count" },
		{ PM, "total_count", "0", "out_of_range", "body.total_count" },
		{ PM, "total_count", "44.5", "wrong_type", "body.total_count" },
		{ PM, "total_count", NULL, "missing_field", "body.total_count" },
		{ PM, "travellers", "[]", "missing_field", "body.travellers" },
		{ PM, "travellers[3].family_name", NULL, "missing_field", "body.travellers[3].family_name" },
		{ PM, "travellers[3].family_name",
		  "\"NAGYNAGYNAGYNAGYNAGYNAGYNAGYNAGYNAGYNAGYNAGYNAGYNAGYNAGYNAGYNAGYN\"", "too_long",
		  "body.travellers[3].family_name" },
		{ PM, "travellers[4].given_names", "[\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"j\",\"k\"]",
		  "too_many", "body.travellers[4].given_names" },
		{ PM, "travellers[0].date_of_birth", "\"1984-02-30\"", "bad_format", "body.travellers[0].date_of_birth" },
		{ PM, "travellers[0].date_of_birth", "\"2026-12-02\"", "inconsistent",
		  "body.travellers[0].date_of_birth" },
		{ PM, "travellers[0].sex", "\"Q\"", "bad_enum", "body.travellers[0].sex" },
		{ PM, "travellers[0].sex", NULL, "missing_field", "body.travellers[0].sex" },
		{ PM, "travellers[0].nationality", "\"RS\"", "bad_format", "body.travellers[0].nationality" },
		{ PM, "travellers[0].nationality", "\"SCG\"", "bad_format", "body.travellers[0].nationality" },
		{ PM, "travellers[0].nationality", "\"srb\"", "bad_format", "body.travellers[0].nationality" },
		{ PM, "travellers[0].document", NULL, "missing_field", "body.travellers[0].document" },
		{ PM, "travellers[0].document.document_code", "\"X\"", "bad_format",
		  "body.travellers[0].document.document_code" },
		{ PM, "travellers[0].document.document_code", "\"P<\"", "bad_format",
		  "body.travellers[0].document.document_code" },
		{ PM, "travellers[0].document.document_code", "\"PPP\"", "too_long",
		  "body.travellers[0].document.document_code" },
		{ PM, "travellers[0].document.number", "\"01234<567\"", "bad_format",
		  "body.travellers[0].document.number" },
		{ PM, "travellers[0].document.number", "\"abc123\"", "bad_format", "body.travellers[0].document.number" },
		{ PM, "travellers[0].document.number", "\"012345678901234567890\"", "too_long",
		  "body.travellers[0].document.number" },
		{ PM, "travellers[0].document.issuing_state", "\"YUG\"", "bad_format",
		  "body.travellers[0].document.issuing_state" },
		{ PM, "travellers[0].document.expiry", "\"1980-01-01\"", "inconsistent",
		  "body.travellers[0].document.expiry" },
		{ PM, "travellers[0].document.expiry", NULL, "missing_field", "body.travellers[0].document.expiry" },
		{ PM, "travellers[1].place_of_embarkation", "\"BEG\"", "bad_format",
		  "body.travellers[1].place_of_embarkation" },
		{ PM, "travellers[1].place_of_disembarkation", "\"HUBU1\"", "bad_format",
		  "body.travellers[1].place_of_disembarkation" },
		{ PM, "travellers[2].seat", "\"1 C\"", "bad_format", "body.travellers[2].seat" },
		{ PM, "travellers[2].seat", "\"1A\"", "inconsistent", "body.travellers[2].seat" },
		{ PM, "travellers[2].seat", "\"W4-36-1234\"", "too_long", "body.travellers[2].seat" },
		{ PM, "travellers[2].transit", "\"yes\"", "wrong_type", "body.travellers[2].transit" },
		{ PM, "travellers[2].wheelchair", "true", "unknown_field", "body.travellers[2].wheelchair" },
	};
	run_all(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(schema_types, a_cancel_lists_no_travellers_and_no_count)
{
	json_t *body = load_example(PM);
	struct pbjson_error err;
	uint8_t *buf = NULL;
	size_t len = 0;

	json_object_set_new(body, "action", json_string("cancel"));
	cr_assert(eq(int, schema_body_from_json(4, body, "body", &buf, &len, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, err.path, "body.travellers"));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "inconsistent"));
	json_object_del(body, "travellers");
	cr_assert(eq(int, schema_body_from_json(4, body, "body", &buf, &len, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, err.path, "body.total_count"));
	json_object_del(body, "total_count");
	cr_assert(eq(int, schema_body_from_json(4, body, "body", &buf, &len, &err), 0), "%s: %s", err.path,
		  err.message);
	cr_assert(eq(int, schema_body_check(4, buf, len), 0));
	free(buf);
	json_decref(body);
}

Test(schema_types, refuses_every_bad_readmission_request_field_with_its_path)
{
	static const struct bad_case cases[] = {
		{ RQ, "kind", "\"urgent\"", "bad_enum", "body.kind" },
		{ RQ, "case_reference", NULL, "missing_field", "body.case_reference" },
		{ RQ, "case_reference", "\"HU-ORFK-RSZ-2026-004417-HU-ORFK-RSZ-2026\"", "too_long", "body.case_reference" },
		{ RQ, "requesting_state", "\"HU\"", "bad_format", "body.requesting_state" },
		{ RQ, "requesting_authority", NULL, "missing_field", "body.requesting_authority" },
		{ RQ, "requested_state", "\"HUN\"", "inconsistent", "body.requested_state" },
		{ RQ, "requested_state", "\"SER\"", "bad_format", "body.requested_state" },
		{ RQ, "requested_authority", "\"\"", "bad_format", "body.requested_authority" },
		{ RQ, "person", NULL, "missing_field", "body.person" },
		{ RQ, "person.family_name", "7", "wrong_type", "body.person.family_name" },
		{ RQ, "person.given_names[0]", "\"You\\u0001ssef\"", "bad_format", "body.person.given_names[0]" },
		{ RQ, "person.date_of_birth", "\"02.04.1996\"", "bad_format", "body.person.date_of_birth" },
		{ RQ, "person.place_of_birth", "\"\"", "bad_format", "body.person.place_of_birth" },
		{ RQ, "person.sex", "\"male\"", "bad_enum", "body.person.sex" },
		{ RQ, "person.nationalities[0]", "\"MA\"", "bad_format", "body.person.nationalities[0]" },
		{ RQ, "person.aliases[0].family_name", NULL, "missing_field", "body.person.aliases[0].family_name" },
		{ RQ, "person.aliases[0].date_of_birth", "\"1997-13-02\"", "bad_format",
		  "body.person.aliases[0].date_of_birth" },
		{ RQ, "person.documents[0].expiry", "\"1990-01-01\"", "inconsistent", "body.person.documents[0].expiry" },
		{ RQ, "person.documents[0].issuing_state", "\"MOR\"", "bad_format",
		  "body.person.documents[0].issuing_state" },
		{ RQ, "person.languages[1]", "\"French\"", "bad_format", "body.person.languages[1]" },
		{ RQ, "person.special_needs", "\"insulin\\u0007\"", "bad_format", "body.person.special_needs" },
		{ RQ, "person.escort_needed", NULL, "missing_field", "body.person.escort_needed" },
		{ RQ, "person.escort_needed", "1", "wrong_type", "body.person.escort_needed" },
		{ RQ, "ground", "\"illegal_entry\"", "bad_enum", "body.ground" },
		{ RQ, "evidence", "[]", "missing_field", "body.evidence" },
		{ RQ, "evidence[0].kind", "\"photo\"", "bad_enum", "body.evidence[0].kind" },
		{ RQ, "evidence[0].sha256", "\"3F2B9C0D8E7A6B5C4D3E2F1A0B9C8D7E6F5A4B3C2D1E0F9A8B7C6D5E4F3A2B1C\"",
		  "bad_format", "body.evidence[0].sha256" },
		{ RQ, "evidence[0].sha256", "\"3f2b9c\"", "bad_format", "body.evidence[0].sha256" },
		{ RQ, "evidence[0].issuing_state", "\"XK\"", "bad_format", "body.evidence[0].issuing_state" },
		{ RQ, "evidence[1].reference", "\"LS-27112026-0931-LS-27112026-0931-LS\"", "too_long",
		  "body.evidence[1].reference" },
		{ RQ, "evidence[2].date", "\"2026-11-31\"", "bad_format", "body.evidence[2].date" },
		{ RQ, "proposed_transfer.at", NULL, "missing_field", "body.proposed_transfer.at" },
		{ RQ, "proposed_transfer.crossing_point", "\"R0SZK\"", "bad_format",
		  "body.proposed_transfer.crossing_point" },
		{ RQ, "proposed_transfer.means", "\"bus\"", "bad_enum", "body.proposed_transfer.means" },
		{ RQ, "proposed_transfer.escorts", "21", "out_of_range", "body.proposed_transfer.escorts" },
		{ RQ, "accelerated_procedure", "\"true\"", "wrong_type", "body.accelerated_procedure" },
		{ RQ, "apprehended_at", "\"2026-11-29T02:40:00\"", "bad_format", "body.apprehended_at" },
		{ RQ, "legal_basis", "\"\"", "bad_format", "body.legal_basis" },
	};
	run_all(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(schema_types, refuses_every_bad_readmission_reply_field_with_its_path)
{
	static const struct bad_case cases[] = {
		{ RP, "case_reference", NULL, "missing_field", "body.case_reference" },
		{ RP, "requested_state_reference", "\"\"", "bad_format", "body.requested_state_reference" },
		{ RP, "replying_state", "\"RS\"", "bad_format", "body.replying_state" },
		{ RP, "replying_authority", NULL, "missing_field", "body.replying_authority" },
		{ RP, "decision", "\"maybe\"", "bad_enum", "body.decision" },
		{ RP, "information_requested", "[]", "missing_field", "body.information_requested" },
		{ RP, "information_requested[0]", "\"\"", "bad_format", "body.information_requested[0]" },
		{ RP, "confirmed_transfer",
		  "{\"at\":\"2026-12-04T09:00:00Z\",\"crossing_point\":\"RSHGS\",\"means\":\"road\"}", "inconsistent",
		  "body.confirmed_transfer" },
		{ RP, "refusal_grounds", "[\"outside_agreement\"]", "inconsistent", "body.refusal_grounds" },
		{ RP, "time_limit", NULL, "missing_field", "body.time_limit" },
		{ RP, "time_limit", "\"2026-12-08\"", "bad_format", "body.time_limit" },
		{ RP, "time_limit_basis", "\"\"", "bad_format", "body.time_limit_basis" },
		{ RP, "remarks", "\"\"", "bad_format", "body.remarks" },
		{ RA, "confirmed_transfer", NULL, "missing_field", "body.confirmed_transfer" },
		{ RA, "refusal_grounds", "[\"time_limit_expired\"]", "inconsistent", "body.refusal_grounds" },
		{ RA, "confirmed_transfer.crossing_point", "\"RSHG\"", "bad_format",
		  "body.confirmed_transfer.crossing_point" },
		{ RA, "confirmed_transfer.details", "\"\"", "bad_format", "body.confirmed_transfer.details" },
		{ RR, "refusal_grounds", "[]", "missing_field", "body.refusal_grounds" },
		{ RR, "refusal_grounds[1]", "\"no_reason\"", "bad_enum", "body.refusal_grounds[1]" },
		{ RR, "refusal_grounds",
		  "[\"outside_agreement\",\"outside_agreement\",\"outside_agreement\",\"outside_agreement\","
		  "\"outside_agreement\",\"outside_agreement\",\"outside_agreement\",\"outside_agreement\","
		  "\"outside_agreement\"]",
		  "too_many", "body.refusal_grounds" },
	};
	run_all(cases, sizeof(cases) / sizeof(cases[0]));
}

Test(schema_types, state_codes_are_icao_9303_codes)
{
	static const char *const good[] = { "SRB", "HUN", "DEU", "D", "XXA", "XXB", "XXC", "XXX", "UNO", "EUE",
					    "RKS", "GBD", "ZWE", "ABW" };
	static const char *const bad[] = { "", "RS", "DE", "srb", "SCG", "YUG", "XXD", "ZZZ", "DD", "SRBB", "S<B" };
	const char *why = NULL;

	/* every officially assigned ISO 3166-1 alpha-3 code, none twice */
	cr_assert(eq(sz, limits_iso_states_count(), 249));
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_expect(eq(int, limits_check_format(LIMITS_FORMAT_STATE, good[i], strlen(good[i]), &why), 0),
			  "%s refused", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect(eq(int, limits_check_format(LIMITS_FORMAT_STATE, bad[i], strlen(bad[i]), &why),
			     LIMES_E_SCHEMA),
			  "%s accepted", bad[i]);
	cr_assert_not_null(why);
}

/* The rules hold for a body received as protobuf, which never went through JSON. */
Test(schema_types, received_bodies_are_held_to_the_same_rules)
{
	json_t *body = load_example(PM);
	struct pbjson_error err;
	uint8_t *buf = NULL, *bad = NULL;
	size_t len = 0;

	cr_assert(eq(int, schema_body_from_json(4, body, "body", &buf, &len, &err), 0));
	Limes__PassengerManifest *m = limes__passenger_manifest__unpack(NULL, len, buf);
	cr_assert_not_null(m);
	m->total_count = 45;
	len = limes__passenger_manifest__get_packed_size(m);
	bad = malloc(len);
	limes__passenger_manifest__pack(m, bad);
	cr_assert(eq(int, schema_body_validate(4, bad, len, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, err.path, "body.total_count"));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "inconsistent"));
	cr_assert(eq(int, schema_body_check(4, bad, len), LIMES_E_SCHEMA));
	limes__passenger_manifest__free_unpacked(m, NULL);
	free(bad);
	free(buf);
	json_decref(body);

	Limes__ReadmissionReply r = LIMES__READMISSION_REPLY__INIT;
	Limes__Timestamp t = LIMES__TIMESTAMP__INIT;
	t.unix_ms = 1796000000000;
	r.case_reference = "HU-1";
	r.replying_state = "SRB";
	r.replying_authority = "MUP";
	r.decision = LIMES__READMISSION_DECISION__READMISSION_DECISION_ACCEPTED;
	r.time_limit = &t;
	len = limes__readmission_reply__get_packed_size(&r);
	bad = malloc(len);
	limes__readmission_reply__pack(&r, bad);
	cr_assert(eq(int, schema_body_validate(6, bad, len, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, err.path, "body.confirmed_transfer"));
	free(bad);
}
