/*
 * Tests of the message-type registry (proto/schema.c) through the example
 * bodies in docs/examples: round trips, field coverage of the examples, every
 * validation error kind with its exact code and path, and decoding of
 * hostile protobuf bodies.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/limes.pb-c.h"
#include "proto/schema.h"
#include "support/fuzzseed.h"

TestSuite(schema, .timeout = 30);

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

/* An example's type: the longest type name its file name starts with. */
static int type_of(const char *example)
{
	int best = -1;
	size_t best_len = 0;

	for (size_t i = 0; i < schema_type_count(); i++) {
		const char *name = schema_type_name(schema_type_at(i));
		size_t n = strlen(name);
		if (strncmp(example, name, n) == 0 && (example[n] == '.' || example[n] == '_') && n > best_len) {
			best = schema_type_at(i);
			best_len = n;
		}
	}
	cr_assert_gt(best, 0, "%s is named after no type", example);
	return best;
}

static const char *const examples[] = {
	"alert.json", "alert_hit_report.json", "pre_arrival.json", "control_result.json",
	"passenger_manifest.json", "readmission_request.json", "readmission_request_supplementary.json",
	"readmission_reply.json", "readmission_reply_accepted.json", "readmission_reply_refused.json",
};

/* Maps body (borrowed) and expects an error of that code at that path. */
static void expect_error(int type, json_t *body, const char *code, const char *path)
{
	struct pbjson_error err;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = schema_body_from_json(type, body, "body", &buf, &len, &err);

	cr_assert(eq(int, rc, LIMES_E_SCHEMA), "expected %s at %s", code, path);
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), (char *)code), "path %s: %s", err.path, err.message);
	cr_assert(eq(str, err.path, (char *)path), "%s", err.message);
	cr_assert_null(buf);
	cr_assert(eq(sz, len, 0));
	cr_assert_gt(strlen(err.message), 0);
}

static void expect_ok(int type, json_t *body)
{
	struct pbjson_error err;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc = schema_body_from_json(type, body, "body", &buf, &len, &err);

	cr_assert(eq(int, rc, 0), "%s at %s: %s", pbjson_code_name(err.code), err.path, err.message);
	cr_assert(eq(int, schema_body_check(type, buf, len), 0));
	free(buf);
}

/* The JSON at "a.b[2].c" within root (borrowed). */
static json_t *at(json_t *root, const char *path)
{
	char buf[256];
	char *tok = buf;
	json_t *j = root;

	snprintf(buf, sizeof(buf), "%s", path);
	while (tok != NULL) {
		char *next = strchr(tok, '.'), *bracket;
		if (next != NULL)
			*next++ = '\0';
		bracket = strchr(tok, '[');
		if (bracket != NULL)
			*bracket = '\0';
		j = json_object_get(j, tok);
		if (bracket != NULL)
			j = json_array_get(j, strtoul(bracket + 1, NULL, 10));
		cr_assert_not_null(j, "no %s in example", path);
		tok = next;
	}
	return j;
}

/* ------------------------------------------------------------ registry */

Test(schema, maps_type_names_to_message_type_values)
{
	cr_assert(eq(int, schema_type_from_name("alert"), 1));
	cr_assert(eq(int, schema_type_from_name("pre_arrival"), 2));
	cr_assert(eq(int, schema_type_from_name("control_result"), 3));
	cr_assert_lt(schema_type_from_name("Alert"), 0);
	cr_assert_lt(schema_type_from_name(""), 0);
	cr_assert_lt(schema_type_from_name(NULL), 0);
	cr_assert(eq(str, (char *)schema_type_name(1), "alert"));
	cr_assert(eq(str, (char *)schema_type_name(2), "pre_arrival"));
	cr_assert(eq(str, (char *)schema_type_name(3), "control_result"));
	cr_assert(eq(int, schema_type_from_name("passenger_manifest"), 4));
	cr_assert(eq(int, schema_type_from_name("readmission_request"), 5));
	cr_assert(eq(int, schema_type_from_name("readmission_reply"), 6));
	cr_assert(eq(str, (char *)schema_type_name(6), "readmission_reply"));
	cr_assert_null(schema_type_name(0));
	cr_assert_null(schema_type_name(7));
	/* the one table: every type listed, each once, each with a schema major */
	cr_assert(eq(sz, schema_type_count(), 6));
	for (size_t i = 0; i < schema_type_count(); i++) {
		int t = schema_type_at(i);
		cr_assert(eq(int, schema_type_from_name(schema_type_name(t)), t));
		cr_assert(eq(u32, schema_type_major(t), 1));
	}
	cr_assert(eq(int, schema_type_at(schema_type_count()), LIMES_E_NOTFOUND));
	cr_assert(eq(u32, schema_type_major(7), 0));
	char list[256];
	schema_type_list(list, sizeof(list));
	cr_assert(eq(str, list, "alert, pre_arrival, control_result, passenger_manifest, readmission_request, "
				"readmission_reply"));
	cr_assert(eq(int, LIMES__MESSAGE_TYPE__MESSAGE_TYPE_PRE_ARRIVAL, 2));
}

Test(schema, parses_priorities)
{
	cr_assert(eq(int, schema_parse_priority("normal"), LIMES__PRIORITY__PRIORITY_NORMAL));
	cr_assert(eq(int, schema_parse_priority("urgent"), LIMES__PRIORITY__PRIORITY_URGENT));
	cr_assert(eq(int, schema_parse_priority("URGENT"), LIMES_E_INVAL));
	cr_assert(eq(int, schema_parse_priority(NULL), LIMES_E_INVAL));
	cr_assert(eq(str, (char *)schema_priority_name(1), "urgent"));
	cr_assert_null(schema_priority_name(7));
}

Test(schema, refuses_unknown_type)
{
	json_t *body = json_object();
	struct pbjson_error err;
	uint8_t *buf = NULL;
	size_t len = 0;
	json_t *out = NULL;

	cr_assert(eq(int, schema_body_from_json(9, body, "body", &buf, &len, &err), LIMES_E_INVAL));
	cr_assert(eq(int, schema_body_to_json(0, (const uint8_t *)"", 0, &out, &err), LIMES_E_INVAL));
	cr_assert(eq(int, schema_body_check(7, (const uint8_t *)"", 0), LIMES_E_INVAL));
	cr_assert_null(out);
	json_decref(body);
}

/* ------------------------------------------------------------ examples */

static void round_trip(const char *example)
{
	json_t *body = load_example(example), *back = NULL;
	struct pbjson_error err;
	uint8_t *buf = NULL;
	size_t len = 0;
	int type = type_of(example);
	int rc = schema_body_from_json(type, body, "body", &buf, &len, &err);

	cr_assert(eq(int, rc, 0), "%s: %s at %s: %s", example, pbjson_code_name(err.code), err.path, err.message);
	cr_assert_gt(len, 0);
	cr_assert(eq(int, schema_body_check(type, buf, len), 0));
	fuzzseed_write("fuzz_schema_decode", example, buf, len);
	char *text = json_dumps(body, JSON_COMPACT);
	fuzzseed_write("fuzz_json_mapper", example, text, strlen(text));
	free(text);
	rc = schema_body_to_json(type, buf, len, &back, &err);
	cr_assert(eq(int, rc, 0), "%s: %s at %s", example, pbjson_code_name(err.code), err.path);
	if (!json_equal(body, back)) {
		char *a = json_dumps(body, JSON_SORT_KEYS | JSON_INDENT(1));
		char *b = json_dumps(back, JSON_SORT_KEYS | JSON_INDENT(1));
		cr_fatal("%s does not round-trip:\n%s\n---\n%s", example, a, b);
	}
	json_decref(back);
	json_decref(body);
	free(buf);
}

Test(schema, round_trips_alert_example) { round_trip("alert.json"); }
Test(schema, round_trips_alert_hit_report_example) { round_trip("alert_hit_report.json"); }
Test(schema, round_trips_pre_arrival_example) { round_trip("pre_arrival.json"); }
Test(schema, round_trips_control_result_example) { round_trip("control_result.json"); }
Test(schema, round_trips_passenger_manifest_example) { round_trip("passenger_manifest.json"); }
Test(schema, round_trips_readmission_request_example) { round_trip("readmission_request.json"); }
Test(schema, round_trips_readmission_request_supplementary_example)
{
	round_trip("readmission_request_supplementary.json");
}
Test(schema, round_trips_readmission_reply_example) { round_trip("readmission_reply.json"); }
Test(schema, round_trips_readmission_reply_accepted_example) { round_trip("readmission_reply_accepted.json"); }
Test(schema, round_trips_readmission_reply_refused_example) { round_trip("readmission_reply_refused.json"); }

static bool is_atom(const ProtobufCMessageDescriptor *d)
{
	return strcmp(d->name, "limes.Timestamp") == 0 || strcmp(d->name, "limes.Date") == 0;
}

/* Records "limes.Msg.field" for every field set anywhere in obj. */
static void mark_seen(const ProtobufCMessageDescriptor *d, json_t *obj, json_t *seen)
{
	const char *key;
	json_t *value;
	char name[256];

	json_object_foreach(obj, key, value) {
		const ProtobufCFieldDescriptor *f = protobuf_c_message_descriptor_get_field_by_name(d, key);
		cr_assert_not_null(f, "%s has no field %s", d->name, key);
		snprintf(name, sizeof(name), "%s.%s", d->name, f->name);
		json_object_set_new(seen, name, json_true());
		if (f->type != PROTOBUF_C_TYPE_MESSAGE || is_atom(f->descriptor))
			continue;
		if (json_is_array(value)) {
			for (size_t i = 0; i < json_array_size(value); i++)
				mark_seen(f->descriptor, json_array_get(value, i), seen);
		} else {
			mark_seen(f->descriptor, value, seen);
		}
	}
}

static void assert_all_seen(const ProtobufCMessageDescriptor *d, json_t *seen, json_t *visited)
{
	char name[256];

	if (json_object_get(visited, d->name) != NULL)
		return;
	json_object_set_new(visited, d->name, json_true());
	for (unsigned i = 0; i < d->n_fields; i++) {
		const ProtobufCFieldDescriptor *f = &d->fields[i];
		snprintf(name, sizeof(name), "%s.%s", d->name, f->name);
		cr_expect_not_null(json_object_get(seen, name),
				   "field %s is in no example of docs/examples: add it", name);
		if (f->type == PROTOBUF_C_TYPE_MESSAGE && !is_atom(f->descriptor))
			assert_all_seen(f->descriptor, seen, visited);
	}
}

static void coverage(const ProtobufCMessageDescriptor *d, const char *const *names, size_t n)
{
	json_t *seen = json_object(), *visited = json_object();

	for (size_t i = 0; i < n; i++) {
		json_t *body = load_example(names[i]);
		mark_seen(d, body, seen);
		json_decref(body);
	}
	assert_all_seen(d, seen, visited);
	cr_assert_gt(json_object_size(visited), 0);
	json_decref(seen);
	json_decref(visited);
}

Test(schema, alert_examples_set_every_field_reachable_from_alert)
{
	const char *const names[] = { "alert.json", "alert_hit_report.json" };
	coverage(&limes__alert__descriptor, names, 2);
}

Test(schema, pre_arrival_example_sets_every_field_reachable)
{
	const char *const names[] = { "pre_arrival.json" };
	coverage(&limes__pre_arrival_declaration__descriptor, names, 1);
}

Test(schema, control_result_example_sets_every_field_reachable)
{
	const char *const names[] = { "control_result.json" };
	coverage(&limes__control_result__descriptor, names, 1);
}

Test(schema, passenger_manifest_example_sets_every_field_reachable)
{
	const char *const names[] = { "passenger_manifest.json" };
	coverage(&limes__passenger_manifest__descriptor, names, 1);
}

Test(schema, readmission_request_examples_set_every_field_reachable)
{
	const char *const names[] = { "readmission_request.json", "readmission_request_supplementary.json" };
	coverage(&limes__readmission_request__descriptor, names, 2);
}

Test(schema, readmission_reply_examples_set_every_field_reachable)
{
	const char *const names[] = { "readmission_reply.json", "readmission_reply_accepted.json",
				      "readmission_reply_refused.json" };
	coverage(&limes__readmission_reply__descriptor, names, 3);
}

Test(schema, every_example_maps_to_a_registered_type)
{
	for (size_t i = 0; i < sizeof(examples) / sizeof(examples[0]); i++) {
		json_t *body = load_example(examples[i]);
		expect_ok(type_of(examples[i]), body);
		json_decref(body);
	}
}

/* ------------------------------------------------------------ error kinds */

Test(schema, refuses_gross_mass_out_of_range_with_path)
{
	json_t *body = load_example("pre_arrival.json");

	json_object_set_new(at(body, "goods_items[2]"), "gross_mass_kg", json_real(0.0));
	expect_error(2, body, "out_of_range", "body.goods_items[2].gross_mass_kg");
	json_object_set_new(at(body, "goods_items[2]"), "gross_mass_kg", json_real(10000000.5));
	expect_error(2, body, "out_of_range", "body.goods_items[2].gross_mass_kg");
	json_object_set_new(at(body, "goods_items[2]"), "gross_mass_kg", json_integer(-3));
	expect_error(2, body, "out_of_range", "body.goods_items[2].gross_mass_kg");
	json_object_set_new(at(body, "goods_items[2]"), "gross_mass_kg", json_integer(10000000));
	expect_ok(2, body);
	json_decref(body);
}

Test(schema, refuses_unknown_field_at_depth)
{
	json_t *body = load_example("alert.json");

	json_object_set_new(at(body, "persons[0].documents[1]"), "colour", json_string("red"));
	expect_error(1, body, "unknown_field", "body.persons[0].documents[1].colour");
	json_decref(body);

	body = load_example("alert.json");
	json_object_set_new(body, "priority", json_string("urgent"));
	expect_error(1, body, "unknown_field", "body.priority");
	json_decref(body);
}

Test(schema, refuses_wrong_types)
{
	json_t *body = load_example("pre_arrival.json");

	json_object_set_new(body, "total_items", json_string("3"));
	expect_error(2, body, "wrong_type", "body.total_items");
	json_object_set_new(body, "total_items", json_integer(3));
	json_object_set_new(at(body, "goods_items[1]"), "item_number", json_real(2.5));
	expect_error(2, body, "wrong_type", "body.goods_items[1].item_number");
	json_object_set_new(at(body, "goods_items[1]"), "item_number", json_integer(2));
	json_object_set_new(body, "countries_of_routing", json_string("TR,BG"));
	expect_error(2, body, "wrong_type", "body.countries_of_routing");
	json_object_set_new(body, "countries_of_routing", json_pack("[s,i]", "TR", 7));
	expect_error(2, body, "wrong_type", "body.countries_of_routing[1]");
	json_object_set_new(body, "countries_of_routing", json_pack("[s]", "TR"));
	json_object_set_new(body, "transport_means", json_string("truck"));
	expect_error(2, body, "wrong_type", "body.transport_means");
	json_object_set_new(body, "transport_means", json_pack("{s:s}", "mode", "road"));
	json_object_set_new(body, "estimated_arrival", json_integer(1795718607120));
	expect_error(2, body, "wrong_type", "body.estimated_arrival");
	json_object_set_new(body, "estimated_arrival", json_string("2026-11-26T17:30:00Z"));
	json_object_set_new(body, "declaration_type", json_integer(4));
	expect_error(2, body, "wrong_type", "body.declaration_type");
	json_decref(body);

	body = json_array();
	expect_error(1, body, "wrong_type", "body");
	json_decref(body);
}

Test(schema, refuses_bad_enum_names)
{
	json_t *body = load_example("alert.json");

	json_object_set_new(body, "category", json_string("stolen_car"));
	expect_error(1, body, "bad_enum", "body.category");
	json_object_set_new(body, "category", json_string("ALERT_CATEGORY_STOLEN_VEHICLE"));
	expect_error(1, body, "bad_enum", "body.category");
	json_object_set_new(body, "category", json_string("stolen_vehicle"));
	json_object_set_new(at(body, "persons[0]"), "sex", json_string(""));
	expect_error(1, body, "bad_enum", "body.persons[0].sex");
	json_decref(body);
}

Test(schema, accepts_enum_names_in_any_case_and_emits_canonical_ones)
{
	json_t *body = load_example("alert.json"), *back = NULL;
	struct pbjson_error err;
	uint8_t *buf = NULL;
	size_t len = 0;

	json_object_set_new(body, "handling_code", json_string("h1"));
	json_object_set_new(body, "source_reliability", json_string("b"));
	json_object_set_new(body, "category", json_string("Stolen_Vehicle"));
	cr_assert(eq(int, schema_body_from_json(1, body, "body", &buf, &len, &err), 0));
	cr_assert(eq(int, schema_body_to_json(1, buf, len, &back, &err), 0));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(back, "handling_code")), "H1"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(back, "source_reliability")), "B"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(back, "information_accuracy")), "2"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(back, "category")), "stolen_vehicle"));
	json_decref(back);
	json_decref(body);
	free(buf);
}

Test(schema, refuses_missing_required_fields)
{
	json_t *body = load_example("alert.json");

	json_object_del(body, "alert_id");
	expect_error(1, body, "missing_field", "body.alert_id");
	json_decref(body);

	body = load_example("pre_arrival.json");
	json_object_del(at(body, "transport_means"), "mode");
	expect_error(2, body, "missing_field", "body.transport_means.mode");
	json_decref(body);

	body = load_example("pre_arrival.json");
	json_object_del(at(body, "goods_items[1].packages[0]"), "count");
	expect_error(2, body, "missing_field", "body.goods_items[1].packages[0].count");
	json_decref(body);

	body = load_example("control_result.json");
	json_object_set_new(body, "outcome", json_null());
	expect_error(3, body, "missing_field", "body.outcome");
	json_decref(body);
}

Test(schema, treats_null_optional_fields_as_absent)
{
	json_t *body = load_example("control_result.json");

	json_object_set_new(body, "mrn", json_null());
	json_object_set_new(body, "findings", json_null());
	expect_ok(3, body);
	json_decref(body);
}

static json_t *string_of(size_t n, char c)
{
	char *s = malloc(n + 1);
	json_t *j;

	memset(s, c, n);
	s[n] = '\0';
	j = json_string(s);
	free(s);
	return j;
}

Test(schema, refuses_too_long_strings)
{
	json_t *body = load_example("alert.json");

	json_object_set_new(body, "free_text", string_of(4096, 'x'));
	expect_ok(1, body);
	json_object_set_new(body, "free_text", string_of(4097, 'x'));
	expect_error(1, body, "too_long", "body.free_text");
	json_object_set_new(body, "free_text", json_string("short"));
	json_object_set_new(at(body, "persons[0]"), "family_name", string_of(257, 'P'));
	expect_error(1, body, "too_long", "body.persons[0].family_name");
	json_object_set_new(at(body, "persons[0]"), "family_name", string_of(256, 'P'));
	expect_ok(1, body);
	json_decref(body);
}

Test(schema, refuses_too_many_elements)
{
	json_t *body = load_example("pre_arrival.json");
	json_t *items = at(body, "goods_items"), *item = json_array_get(items, 0);

	while (json_array_size(items) < 999)
		json_array_append(items, item);
	json_object_set_new(body, "total_items", json_integer(999));
	expect_ok(2, body);
	json_array_append(items, item);
	expect_error(2, body, "too_many", "body.goods_items");
	json_decref(body);

	body = load_example("alert.json");
	items = at(body, "persons");
	item = json_array_get(items, 0);
	while (json_array_size(items) < 100)
		json_array_append(items, item);
	expect_error(1, body, "too_many", "body.persons");
	json_decref(body);
}

Test(schema, refuses_bad_formats)
{
	struct { const char *example, *field, *value, *path; } cases[] = {
		{ "alert.json", "vehicles[0].registration_country", "rs", "body.vehicles[0].registration_country" },
		{ "alert.json", "vehicles[0].registration_country", "XX", "body.vehicles[0].registration_country" },
		{ "alert.json", "vehicles[0].vin", "WDB9634031L73821O", "body.vehicles[0].vin" },
		{ "alert.json", "vehicles[0].registration_number", "SU  214-KM", "body.vehicles[0].registration_number" },
		{ "alert.json", "consignment.container_number", "MSCU1234567", "body.consignment.container_number" },
		{ "alert.json", "consignment.mrn", "26RS015200T000452", "body.consignment.mrn" },
		{ "alert.json", "persons[0].date_of_birth", "2026-02-30", "body.persons[0].date_of_birth" },
		{ "alert.json", "persons[0].date_of_birth", "1984-2-29", "body.persons[0].date_of_birth" },
		{ "alert.json", "persons[0].family_name", "", "body.persons[0].family_name" },
		{ "alert.json", "persons[0].family_name", "Petro\x01vi\xc4\x87", "body.persons[0].family_name" },
		{ "alert.json", "persons[0].family_name", "Petrović\n", "body.persons[0].family_name" },
		{ "alert.json", "persons[0].family_name", "Petro\xc2\x85vić", "body.persons[0].family_name" },
		{ "alert.json", "language", "English", "body.language" },
		{ "alert.json", "valid_until", "2027-05-26 18:43:27Z", "body.valid_until" },
		{ "alert.json", "valid_until", "2027-05-26T18:43:27", "body.valid_until" },
		{ "pre_arrival.json", "goods_items[0].hs_code", "62034", "body.goods_items[0].hs_code" },
		{ "pre_arrival.json", "goods_items[2].un_dangerous_goods_code", "UN12", "body.goods_items[2].un_dangerous_goods_code" },
		{ "pre_arrival.json", "place_of_loading", "TRIS1", "body.place_of_loading" },
		{ "pre_arrival.json", "office_of_entry", "HU-70120", "body.office_of_entry" },
		{ "control_result.json", "answers_message_id", "4F1C2A9BE07D4C3AA5F0D2E8B61C7E93", "body.answers_message_id" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *body = load_example(cases[i].example);
		char parent[128], *dot;
		const char *name;
		json_t *holder;

		snprintf(parent, sizeof(parent), "%s", cases[i].field);
		dot = strrchr(parent, '.');
		if (dot != NULL) {
			*dot = '\0';
			holder = at(body, parent);
			name = cases[i].field + (dot - parent) + 1;
		} else {
			holder = body;
			name = cases[i].field;
		}
		json_object_set_new(holder, name, json_stringn_nocheck(cases[i].value, strlen(cases[i].value)));
		expect_error(type_of(cases[i].example), body, "bad_format", cases[i].path);
		json_decref(body);
	}
}

Test(schema, refuses_formatted_strings_longer_than_their_format)
{
	json_t *body = load_example("pre_arrival.json");

	json_object_set_new(at(body, "goods_items[0]"), "hs_code", json_string("62034231001"));
	expect_error(2, body, "too_long", "body.goods_items[0].hs_code");
	json_decref(body);
}

Test(schema, accepts_leap_days_only_in_leap_years)
{
	const char *ok[] = { "2024-02-29", "2000-02-29", "1984-02-29" };
	const char *bad[] = { "2026-02-29", "1900-02-29", "2100-02-29", "2026-04-31", "2026-00-10", "2026-13-01" };
	json_t *body = load_example("alert.json");
	json_t *person = at(body, "persons[0]");

	for (size_t i = 0; i < 3; i++) {
		json_object_set_new(person, "date_of_birth", json_string(ok[i]));
		expect_ok(1, body);
	}
	for (size_t i = 0; i < 6; i++) {
		json_object_set_new(person, "date_of_birth", json_string(bad[i]));
		expect_error(1, body, "bad_format", "body.persons[0].date_of_birth");
	}
	json_object_set_new(person, "date_of_birth", json_string("1899-12-31"));
	expect_error(1, body, "out_of_range", "body.persons[0].date_of_birth");
	json_decref(body);
}

Test(schema, normalises_timestamps_with_offsets_to_utc_milliseconds)
{
	json_t *body = load_example("control_result.json"), *back = NULL;
	struct pbjson_error err;
	uint8_t *buf = NULL;
	size_t len = 0;

	json_object_set_new(body, "controlled_at", json_string("2026-11-26T20:05:12.5+01:00"));
	cr_assert(eq(int, schema_body_from_json(3, body, "body", &buf, &len, &err), 0));
	cr_assert(eq(int, schema_body_to_json(3, buf, len, &back, &err), 0));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(back, "controlled_at")),
		     "2026-11-26T19:05:12.500Z"));
	json_decref(back);
	json_decref(body);
	free(buf);
}

Test(schema, reports_the_first_bad_field_in_document_order)
{
	json_t *body = json_loads(
		"{\"answers_message_id\": \"nothex\", \"mrn\": \"short\", \"outcome\": \"maybe\","
		" \"controlled_at\": \"yesterday\"}", 0, NULL);

	cr_assert_not_null(body);
	expect_error(3, body, "bad_format", "body.answers_message_id");
	json_object_del(body, "answers_message_id");
	expect_error(3, body, "bad_format", "body.mrn");
	json_object_del(body, "mrn");
	expect_error(3, body, "bad_enum", "body.outcome");
	json_object_set_new(body, "outcome", json_string("seized"));
	expect_error(3, body, "bad_format", "body.controlled_at");
	json_object_set_new(body, "controlled_at", json_string("2026-11-26T19:05:12Z"));
	/* Present fields are all valid now: the missing ones are reported in field order. */
	expect_error(3, body, "missing_field", "body.answers_message_id");
	json_decref(body);
}

Test(schema, uses_the_callers_path_prefix)
{
	json_t *body = load_example("control_result.json");
	struct pbjson_error err;
	uint8_t *buf = NULL;
	size_t len = 0;

	json_object_set_new(body, "lrn", json_integer(5));
	cr_assert(eq(int, schema_body_from_json(3, body, "[3].body", &buf, &len, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, err.path, "[3].body.lrn"));
	cr_assert(eq(int, schema_body_from_json(3, body, NULL, &buf, &len, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, err.path, "lrn"));
	json_decref(body);
}

Test(schema, parses_json_strictly)
{
	struct pbjson_error err;
	json_t *j = NULL;
	const char dup[] = "{\"mrn\": \"a\", \"mrn\": \"b\"}";

	cr_assert(eq(int, pbjson_parse("{\"a\":", 5, &j, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "invalid_json"));
	cr_assert_null(j);
	cr_assert(eq(int, pbjson_parse(dup, sizeof(dup) - 1, &j, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "invalid_json"));
	cr_assert(eq(int, pbjson_parse("{}", 2, &j, &err), 0));
	json_decref(j);
}

Test(schema, names_every_error_code)
{
	const char *names[] = { "ok", "unknown_field", "wrong_type", "bad_enum", "missing_field",
				"too_long", "out_of_range", "bad_format", "too_many", "invalid_json",
				"undecodable", "inconsistent" };
	for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
		cr_assert(eq(str, (char *)pbjson_code_name(i), (char *)names[i]));
	cr_assert(eq(str, (char *)pbjson_code_name(99), "unknown"));
	cr_assert(eq(str, (char *)pbjson_code_name(-1), "unknown"));
}

/* ------------------------------------------------------------ binary bodies */

static uint8_t *pack_example(const char *example, size_t *len)
{
	json_t *body = load_example(example);
	struct pbjson_error err;
	uint8_t *buf = NULL;

	cr_assert(eq(int, schema_body_from_json(type_of(example), body, "body", &buf, len, &err), 0));
	json_decref(body);
	return buf;
}

Test(schema, refuses_undecodable_bodies)
{
	size_t len;
	uint8_t *buf = pack_example("pre_arrival.json", &len);
	struct pbjson_error err;
	json_t *out = NULL;
	const uint8_t junk[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01 };

	/* A cut at a field boundary after the required fields is a valid, shorter body. */
	for (size_t cut = 0; cut < len; cut++) {
		int rc = schema_body_to_json(2, buf, cut, &out, &err);
		cr_assert(rc == 0 || rc == LIMES_E_SCHEMA, "truncated at %zu: %d", cut, rc);
		cr_assert(eq(int, schema_body_check(2, buf, cut), rc));
		json_decref(out);
		out = NULL;
	}
	cr_assert(eq(int, schema_body_check(2, buf, 0), LIMES_E_SCHEMA));
	cr_assert(eq(int, schema_body_check(2, buf, 20), LIMES_E_SCHEMA));
	cr_assert(eq(int, schema_body_check(2, buf, len - 1), LIMES_E_SCHEMA));
	cr_assert(eq(int, schema_body_to_json(2, junk, sizeof(junk), &out, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "undecodable"));
	cr_assert(eq(str, err.path, "body"));
	/* The right bytes under the wrong type do not decode either (required fields missing). */
	cr_assert(eq(int, schema_body_check(3, buf, len), LIMES_E_SCHEMA));
	cr_assert(eq(int, schema_body_check(2, buf, SCHEMA_BODY_MAX + 1), LIMES_E_SCHEMA));
	free(buf);
}

Test(schema, survives_every_single_bit_flip)
{
	size_t len;
	uint8_t *buf = pack_example("alert.json", &len);

	for (size_t bit = 0; bit < len * 8; bit++) {
		json_t *out = NULL;
		struct pbjson_error err;
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
		int rc = schema_body_to_json(1, buf, len, &out, &err);
		cr_assert(rc == 0 || rc == LIMES_E_SCHEMA, "bit %zu: rc %d", bit, rc);
		cr_assert(eq(int, schema_body_check(1, buf, len), rc));
		json_decref(out);
		buf[bit / 8] ^= (uint8_t)(1u << (bit % 8));
	}
	free(buf);
}

Test(schema, keeps_and_ignores_unknown_protobuf_fields)
{
	size_t len;
	uint8_t *buf = pack_example("control_result.json", &len);
	/* Field 1000, varint 5; field 1001, 3 bytes "abc": from a newer schema minor. */
	const uint8_t extra[] = { 0xc0, 0x3e, 0x05, 0xca, 0x3e, 0x03, 'a', 'b', 'c' };
	uint8_t *longer = malloc(len + sizeof(extra));
	json_t *body = load_example("control_result.json"), *out = NULL;
	struct pbjson_error err;
	Limes__ControlResult *msg;

	memcpy(longer, buf, len);
	memcpy(longer + len, extra, sizeof(extra));
	cr_assert(eq(int, schema_body_check(3, longer, len + sizeof(extra)), 0));
	cr_assert(eq(int, schema_body_to_json(3, longer, len + sizeof(extra), &out, &err), 0));
	cr_assert(json_equal(out, body));
	msg = limes__control_result__unpack(NULL, len + sizeof(extra), longer);
	cr_assert_not_null(msg);
	cr_assert(eq(u32, msg->base.n_unknown_fields, 2));
	limes__control_result__free_unpacked(msg, NULL);
	json_decref(out);
	json_decref(body);
	free(longer);
	free(buf);
}

Test(schema, check_refuses_decodable_bodies_that_break_the_limits)
{
	size_t len;
	uint8_t *buf = pack_example("pre_arrival.json", &len);
	Limes__PreArrivalDeclaration *msg = limes__pre_arrival_declaration__unpack(NULL, len, buf);
	struct pbjson_error err;
	uint8_t *bad;
	size_t bad_len;

	cr_assert_not_null(msg);
	msg->goods_items[1]->gross_mass_kg = -1.0;
	msg->declaration_type = 42;
	bad_len = limes__pre_arrival_declaration__get_packed_size(msg);
	bad = malloc(bad_len);
	limes__pre_arrival_declaration__pack(msg, bad);
	cr_assert(eq(int, schema_body_validate(2, bad, bad_len, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "bad_enum"));
	cr_assert(eq(str, err.path, "body.declaration_type"));
	free(bad);

	msg->declaration_type = LIMES__DECLARATION_TYPE__DECLARATION_TYPE_TIR;
	bad_len = limes__pre_arrival_declaration__get_packed_size(msg);
	bad = malloc(bad_len);
	limes__pre_arrival_declaration__pack(msg, bad);
	cr_assert(eq(int, schema_body_validate(2, bad, bad_len, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "out_of_range"));
	cr_assert(eq(str, err.path, "body.goods_items[1].gross_mass_kg"));
	cr_assert(eq(int, schema_body_check(2, bad, bad_len), LIMES_E_SCHEMA));
	free(bad);

	msg->goods_items[1]->gross_mass_kg = 2150.0;
	msg->estimated_arrival->unix_ms = -5;
	bad_len = limes__pre_arrival_declaration__get_packed_size(msg);
	bad = malloc(bad_len);
	limes__pre_arrival_declaration__pack(msg, bad);
	cr_assert(eq(int, schema_body_validate(2, bad, bad_len, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "out_of_range"));
	cr_assert(eq(str, err.path, "body.estimated_arrival"));
	free(bad);

	limes__pre_arrival_declaration__free_unpacked(msg, NULL);
	free(buf);
}

Test(schema, check_refuses_bad_strings_and_dates_in_binary)
{
	size_t len;
	uint8_t *buf = pack_example("alert.json", &len);
	Limes__Alert *msg = limes__alert__unpack(NULL, len, buf);
	struct pbjson_error err;
	char bad_utf8[] = "Petrovi\xc4";
	uint8_t *bad;
	size_t bad_len;

	cr_assert_not_null(msg);
	free(msg->persons[0]->family_name);
	msg->persons[0]->family_name = strdup(bad_utf8);
	bad_len = limes__alert__get_packed_size(msg);
	bad = malloc(bad_len);
	limes__alert__pack(msg, bad);
	cr_assert(eq(int, schema_body_validate(1, bad, bad_len, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "bad_format"));
	cr_assert(eq(str, err.path, "body.persons[0].family_name"));
	free(bad);

	free(msg->persons[0]->family_name);
	msg->persons[0]->family_name = strdup("Petrović");
	msg->persons[0]->documents[0]->expiry->day = 31;
	msg->persons[0]->documents[0]->expiry->month = 6;
	bad_len = limes__alert__get_packed_size(msg);
	bad = malloc(bad_len);
	limes__alert__pack(msg, bad);
	cr_assert(eq(int, schema_body_validate(1, bad, bad_len, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "bad_format"));
	cr_assert(eq(str, err.path, "body.persons[0].documents[0].expiry"));
	free(bad);

	limes__alert__free_unpacked(msg, NULL);
	free(buf);
}

/* ------------------------------------------------------------ documentation */

Test(schema, docs_list_every_enum_value)
{
	static const ProtobufCEnumDescriptor *const enums[] = {
		&limes__message_type__descriptor, &limes__priority__descriptor,
		&limes__alert_action__descriptor, &limes__alert_category__descriptor,
		&limes__requested_action__descriptor, &limes__handling_code__descriptor,
		&limes__source_reliability__descriptor, &limes__information_accuracy__descriptor,
		&limes__sex__descriptor, &limes__document_type__descriptor,
		&limes__document_status__descriptor, &limes__declaration_action__descriptor,
		&limes__declaration_type__descriptor, &limes__transport_mode__descriptor,
		&limes__transport_document_type__descriptor, &limes__risk_flag__descriptor,
		&limes__control_outcome__descriptor, &limes__manifest_action__descriptor,
		&limes__manifest_kind__descriptor, &limes__traveller_sex__descriptor,
		&limes__readmission_request_kind__descriptor, &limes__readmission_ground__descriptor,
		&limes__evidence_kind__descriptor, &limes__readmission_decision__descriptor,
		&limes__refusal_ground__descriptor,
	};
	char path[512], row[2048];
	FILE *f;
	char *doc;
	long size;

	snprintf(path, sizeof(path), "%s/docs/schemas.md", LIMES_SOURCE_DIR);
	f = fopen(path, "rb");
	cr_assert_not_null(f, "%s", path);
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	doc = calloc(1, (size_t)size + 1);
	cr_assert(eq(sz, fread(doc, 1, (size_t)size, f), (size_t)size));
	fclose(f);
	for (size_t i = 0; i < sizeof(enums) / sizeof(enums[0]); i++) {
		size_t used = (size_t)snprintf(row, sizeof(row), "| `%s` |", enums[i]->short_name);
		for (unsigned k = 0; k < enums[i]->n_values; k++) {
			char name[64];
			cr_assert(eq(int, pbjson_enum_name(enums[i], enums[i]->values[k].value, name, sizeof(name)), 0));
			used += (size_t)snprintf(row + used, sizeof(row) - used, "%s `%s` (%d)", k ? "," : "",
						 name, enums[i]->values[k].value);
		}
		snprintf(row + used, sizeof(row) - used, " |\n");
		cr_expect_not_null(strstr(doc, row), "docs/schemas.md lacks or differs on this row:\n%s", row);
	}
	free(doc);
}

/* ------------------------------------------------------------ the arena path */

/* schema_body_from_json builds its message in an arena with strings borrowed
 * from the JSON document; pbjson_from_json copies everything with malloc.
 * Both must pack to the same bytes, and the document must come out as it
 * went in. The manifest's 44 travellers outgrow the arena's first block. */
Test(schema, packs_the_same_bytes_as_the_copying_mapper)
{
	static const struct {
		const char *file;
		const ProtobufCMessageDescriptor *desc;
	} cases[] = {
		{ "alert.json", &limes__alert__descriptor },
		{ "alert_hit_report.json", &limes__alert__descriptor },
		{ "pre_arrival.json", &limes__pre_arrival_declaration__descriptor },
		{ "control_result.json", &limes__control_result__descriptor },
		{ "passenger_manifest.json", &limes__passenger_manifest__descriptor },
		{ "readmission_request.json", &limes__readmission_request__descriptor },
		{ "readmission_reply.json", &limes__readmission_reply__descriptor },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		json_t *body = load_example(cases[i].file), *before = json_deep_copy(body);
		struct pbjson_error err;
		ProtobufCMessage *msg = NULL;
		uint8_t *buf = NULL, *ref = NULL;
		size_t len = 0, ref_len;

		cr_assert(eq(int, schema_body_from_json(type_of(cases[i].file), body, "body", &buf, &len, &err), 0),
			  "%s: %s at %s", cases[i].file, pbjson_code_name(err.code), err.path);
		cr_assert(eq(int, pbjson_from_json(cases[i].desc, body, "body", &msg, &err), 0), "%s", cases[i].file);
		ref_len = protobuf_c_message_get_packed_size(msg);
		ref = malloc(ref_len);
		cr_assert_not_null(ref);
		protobuf_c_message_pack(msg, ref);
		cr_assert(eq(sz, len, ref_len), "%s", cases[i].file);
		cr_assert(eq(int, memcmp(buf, ref, len), 0), "%s packs differently through the arena", cases[i].file);
		cr_assert(json_equal(body, before), "%s: the document changed while it was mapped", cases[i].file);
		pbjson_free(&msg);
		free(ref);
		free(buf);
		json_decref(before);
		json_decref(body);
	}
}

/* A refusal half-way through a body built in the arena leaves nothing
 * behind (ASan would see a leak or a wild free) and says where. */
Test(schema, refuses_a_bad_field_deep_in_an_arena_built_body)
{
	json_t *body = load_example("passenger_manifest.json");
	json_t *travellers = json_object_get(body, "travellers");
	json_t *last = json_array_get(travellers, json_array_size(travellers) - 1);
	struct pbjson_error err;
	uint8_t *buf = NULL;
	size_t len = 0;
	char path[64];

	cr_assert_not_null(last);
	json_object_set_new(last, "nationality", json_string("S1B"));
	snprintf(path, sizeof(path), "body.travellers[%zu].nationality", json_array_size(travellers) - 1);
	cr_assert(eq(int, schema_body_from_json(type_of("passenger_manifest.json"), body, "body", &buf, &len, &err),
		     LIMES_E_SCHEMA));
	cr_assert_null(buf);
	cr_assert(eq(str, err.path, path));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "bad_format"));
	json_decref(body);
}
