/*
 * Tests of the generic mapper (proto/pbjson*.c) at descriptor level: enum
 * naming, RFC 3339 timestamps, dates, 64-bit integers, bytes as base64,
 * bools, oneofs and strings, using the envelope and frame messages as well
 * as the business ones.
 */
#include <criterion/criterion.h>
#include <criterion/new/assert.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"
#include "proto/limes.pb-c.h"
#include "proto/limits.h"
#include "proto/pbjson.h"

TestSuite(pbjson, .timeout = 30);

static const ProtobufCEnumDescriptor *const all_enums[] = {
	&limes__message_type__descriptor, &limes__priority__descriptor,
	&limes__receipt_status__descriptor, &limes__reject_reason__descriptor,
	&limes__alert_action__descriptor, &limes__alert_category__descriptor,
	&limes__requested_action__descriptor, &limes__handling_code__descriptor,
	&limes__source_reliability__descriptor, &limes__information_accuracy__descriptor,
	&limes__sex__descriptor, &limes__document_type__descriptor,
	&limes__document_status__descriptor, &limes__declaration_action__descriptor,
	&limes__declaration_type__descriptor, &limes__transport_mode__descriptor,
	&limes__transport_document_type__descriptor, &limes__risk_flag__descriptor,
	&limes__control_outcome__descriptor,
};

/* Maps JSON text to a message of desc and back; returns the error code name. */
static const char *map(const ProtobufCMessageDescriptor *desc, const char *text,
		       json_t **back, struct pbjson_error *err)
{
	json_t *in = json_loads(text, JSON_DECODE_ANY, NULL);
	ProtobufCMessage *msg = NULL;
	int rc;

	cr_assert_not_null(in, "bad test JSON: %s", text);
	if (back != NULL)
		*back = NULL;
	rc = pbjson_from_json(desc, in, "m", &msg, err);
	json_decref(in);
	if (rc != 0) {
		cr_assert(eq(int, rc, LIMES_E_SCHEMA));
		cr_assert_null(msg);
		return pbjson_code_name(err->code);
	}
	cr_assert(eq(int, pbjson_check(msg, "m", err), 0), "%s at %s", pbjson_code_name(err->code), err->path);
	if (back != NULL)
		cr_assert(eq(int, pbjson_to_json(msg, back, err), 0));
	pbjson_free(&msg);
	cr_assert_null(msg);
	return "ok";
}

static void expect(const ProtobufCMessageDescriptor *desc, const char *text,
		   const char *code, const char *path)
{
	struct pbjson_error err;
	const char *got = map(desc, text, NULL, &err);

	cr_assert(eq(str, (char *)got, (char *)code), "%s: %s at %s: %s", text, got, err.path, err.message);
	if (path != NULL)
		cr_assert(eq(str, err.path, (char *)path), "%s", text);
}

/* ------------------------------------------------------------ enums */

Test(pbjson, names_enum_values_without_their_prefix)
{
	char buf[64];

	cr_assert(eq(int, pbjson_enum_name(&limes__alert_category__descriptor, 5, buf, sizeof(buf)), 0));
	cr_assert(eq(str, buf, "stolen_vehicle"));
	cr_assert(eq(int, pbjson_enum_name(&limes__alert_category__descriptor, 6, buf, sizeof(buf)), 0));
	cr_assert(eq(str, buf, "lost_or_stolen_travel_document"));
	cr_assert(eq(int, pbjson_enum_name(&limes__message_type__descriptor, 2, buf, sizeof(buf)), 0));
	cr_assert(eq(str, buf, "pre_arrival"));
	cr_assert(eq(int, pbjson_enum_name(&limes__transport_mode__descriptor, 7, buf, sizeof(buf)), 0));
	cr_assert(eq(str, buf, "fixed_installation"));
	cr_assert(eq(int, pbjson_enum_name(&limes__alert_category__descriptor, 99, buf, sizeof(buf)),
		     LIMES_E_NOTFOUND));
	cr_assert(eq(int, pbjson_enum_name(&limes__alert_category__descriptor, 5, buf, 4), LIMES_E_NOTFOUND));
}

Test(pbjson, keeps_short_codes_in_upper_case)
{
	char buf[16];

	cr_assert(eq(int, pbjson_enum_name(&limes__handling_code__descriptor, 0, buf, sizeof(buf)), 0));
	cr_assert(eq(str, buf, "H0"));
	cr_assert(eq(int, pbjson_enum_name(&limes__source_reliability__descriptor, 4, buf, sizeof(buf)), 0));
	cr_assert(eq(str, buf, "X"));
	cr_assert(eq(int, pbjson_enum_name(&limes__information_accuracy__descriptor, 1, buf, sizeof(buf)), 0));
	cr_assert(eq(str, buf, "1"));
}

Test(pbjson, every_enum_value_carries_its_enum_prefix)
{
	for (size_t i = 0; i < sizeof(all_enums) / sizeof(all_enums[0]); i++) {
		const ProtobufCEnumDescriptor *d = all_enums[i];
		for (unsigned k = 0; k < d->n_values; k++) {
			char buf[128];
			cr_assert(eq(int, pbjson_enum_name(d, d->values[k].value, buf, sizeof(buf)), 0));
			/* The stripped name is the tail of the full one: the prefix rule held. */
			cr_assert_lt(strlen(buf), strlen(d->values[k].name), "%s", d->values[k].name);
			for (size_t c = 0; buf[c] != '\0'; c++)
				cr_assert(buf[c] == '_' || (buf[c] >= '0' && buf[c] <= '9') ||
					  (buf[c] >= 'a' && buf[c] <= 'z') || strlen(buf) <= 2,
					  "%s -> %s", d->values[k].name, buf);
		}
	}
}

Test(pbjson, maps_enums_by_name_in_any_case)
{
	json_t *back = NULL;
	struct pbjson_error err;

	cr_assert(eq(str, (char *)map(&limes__transport_means__descriptor,
				     "{\"mode\": \"ROAD\"}", &back, &err), "ok"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(back, "mode")), "road"));
	json_decref(back);
	expect(&limes__transport_means__descriptor, "{\"mode\": \"lorry\"}", "bad_enum", "m.mode");
	expect(&limes__transport_means__descriptor, "{\"mode\": 3}", "wrong_type", "m.mode");
	expect(&limes__transport_means__descriptor, "{\"mode\": \"road \"}", "bad_enum", "m.mode");
	expect(&limes__transport_means__descriptor, "{\"mode\": \"roa\"}", "bad_enum", "m.mode");
}

/* ------------------------------------------------------------ timestamps and dates */

static void expect_time(const char *in, const char *out)
{
	json_t *j = json_string(in), *back = NULL;
	ProtobufCMessage *msg = NULL;
	struct pbjson_error err;
	int rc = pbjson_from_json(&limes__timestamp__descriptor, j, "t", &msg, &err);

	cr_assert(eq(int, rc, 0), "%s: %s", in, err.message);
	cr_assert(eq(int, pbjson_to_json(msg, &back, &err), 0));
	cr_assert(eq(str, (char *)json_string_value(back), (char *)out), "from %s", in);
	json_decref(back);
	json_decref(j);
	pbjson_free(&msg);
}

static void refuse_time(const char *in, const char *code)
{
	json_t *j = json_string(in);
	ProtobufCMessage *msg = NULL;
	struct pbjson_error err;

	cr_assert(eq(int, pbjson_from_json(&limes__timestamp__descriptor, j, "t", &msg, &err),
		     LIMES_E_SCHEMA), "%s accepted", in);
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), (char *)code), "%s", in);
	cr_assert(eq(str, err.path, "t"));
	json_decref(j);
}

Test(pbjson, emits_timestamps_in_utc_with_milliseconds)
{
	expect_time("2026-11-26T18:43:27.120Z", "2026-11-26T18:43:27.120Z");
	expect_time("2026-11-26T18:43:27Z", "2026-11-26T18:43:27.000Z");
	expect_time("2026-11-26t18:43:27.1z", "2026-11-26T18:43:27.100Z");
	expect_time("2026-11-26T19:43:27.12+01:00", "2026-11-26T18:43:27.120Z");
	expect_time("2026-11-26T13:13:27.120-05:30", "2026-11-26T18:43:27.120Z");
	expect_time("2026-11-27T00:43:27.120+06:00", "2026-11-26T18:43:27.120Z");
	expect_time("2026-11-26T18:43:27.120-00:00", "2026-11-26T18:43:27.120Z");
	expect_time("2026-11-26T18:43:27.123999999Z", "2026-11-26T18:43:27.123Z");
	expect_time("2024-02-29T23:59:59.999Z", "2024-02-29T23:59:59.999Z");
	expect_time("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z");
	expect_time("9999-12-31T23:59:59.999Z", "9999-12-31T23:59:59.999Z");
	expect_time("2027-01-01T00:30:00+01:00", "2026-12-31T23:30:00.000Z");
}

Test(pbjson, refuses_invalid_timestamps)
{
	refuse_time("2026-02-30T00:00:00Z", "bad_format");
	refuse_time("2026-02-29T00:00:00Z", "bad_format");
	refuse_time("2026-11-26T24:00:00Z", "bad_format");
	refuse_time("2026-11-26T18:60:00Z", "bad_format");
	refuse_time("2026-11-26T18:43:60Z", "bad_format");
	refuse_time("2026-11-26 18:43:27Z", "bad_format");
	refuse_time("2026-11-26T18:43:27", "bad_format");
	refuse_time("2026-11-26T18:43:27.Z", "bad_format");
	refuse_time("2026-11-26T18:43:27.1234567890Z", "bad_format");
	refuse_time("2026-11-26T18:43:27+0100", "bad_format");
	refuse_time("2026-11-26T18:43:27+24:00", "bad_format");
	refuse_time("2026-11-26T18:43:27Z ", "bad_format");
	refuse_time("26-11-26T18:43:27Z", "bad_format");
	refuse_time("+2026-11-26T18:43:27Z", "bad_format");
	refuse_time("", "bad_format");
	refuse_time("1969-12-31T23:59:59.999Z", "out_of_range");
	refuse_time("1970-01-01T00:30:00+01:00", "out_of_range");
	refuse_time("9999-12-31T23:59:59-00:01", "out_of_range");
}

Test(pbjson, refuses_timestamps_outside_the_range_in_binary)
{
	Limes__Timestamp ts = LIMES__TIMESTAMP__INIT;
	struct pbjson_error err;
	json_t *out = NULL;

	ts.unix_ms = -1;
	cr_assert(eq(int, pbjson_check(&ts.base, "t", &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "out_of_range"));
	cr_assert(eq(int, pbjson_to_json(&ts.base, &out, &err), LIMES_E_SCHEMA));
	cr_assert_null(out);
	ts.unix_ms = INT64_MAX;
	cr_assert(eq(int, pbjson_check(&ts.base, "t", &err), LIMES_E_SCHEMA));
	ts.unix_ms = 1795718607120;
	cr_assert(eq(int, pbjson_check(&ts.base, "t", &err), 0));
	cr_assert(eq(int, pbjson_to_json(&ts.base, &out, &err), 0));
	cr_assert(eq(str, (char *)json_string_value(out), "2026-11-26T18:43:27.120Z"));
	json_decref(out);
}

Test(pbjson, maps_dates_as_calendar_days)
{
	json_t *back = NULL;
	struct pbjson_error err;

	cr_assert(eq(str, (char *)map(&limes__identity_document__descriptor,
		"{\"type\": \"passport\", \"number\": \"X1\", \"issuing_country\": \"HU\", \"expiry\": \"2028-02-29\"}",
		&back, &err), "ok"));
	cr_assert(eq(str, (char *)json_string_value(json_object_get(back, "expiry")), "2028-02-29"));
	json_decref(back);
	expect(&limes__identity_document__descriptor,
	       "{\"type\": \"passport\", \"number\": \"X1\", \"issuing_country\": \"HU\", \"expiry\": \"2027-02-29\"}",
	       "bad_format", "m.expiry");
	expect(&limes__identity_document__descriptor,
	       "{\"type\": \"passport\", \"number\": \"X1\", \"issuing_country\": \"HU\", \"expiry\": \"2027-02-28T00:00:00Z\"}",
	       "bad_format", "m.expiry");
	expect(&limes__identity_document__descriptor,
	       "{\"type\": \"passport\", \"number\": \"X1\", \"issuing_country\": \"HU\", \"expiry\": {\"year\": 2027}}",
	       "wrong_type", "m.expiry");
	expect(&limes__identity_document__descriptor,
	       "{\"type\": \"passport\", \"number\": \"X1\", \"issuing_country\": \"HU\", \"expiry\": \"2200-01-01\"}",
	       "out_of_range", "m.expiry");
}

/* ------------------------------------------------------------ numbers, bytes, bools, oneofs */

static const char header[] =
	"{\"version_major\": 1, \"version_minor\": 4, \"message_id\": \"AAECAwQFBgcICQoLDA0ODw==\","
	" \"sender\": \"RS-CUSTOMS-HORGOS\", \"recipient\": \"HU-NAV-ROSZKE\", \"type\": \"pre_arrival\","
	" \"priority\": \"urgent\", \"created_ms\": 1795718607120, \"expires_ms\": \"18446744073709551615\","
	" \"seq\": 9007199254740991, \"sender_key_id\": \"AQIDBAUGBwg=\", \"recipient_key_id\": \"CAcGBQQDAgE=\","
	" \"nonce\": \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA\", \"ref\": \"/w==\", \"schema_major\": 1}";

Test(pbjson, round_trips_bytes_and_64_bit_integers)
{
	json_t *in = json_loads(header, 0, NULL), *back = NULL;
	struct pbjson_error err;

	cr_assert(eq(str, (char *)map(&limes__header__descriptor, header, &back, &err), "ok"));
	cr_assert(json_equal(in, back));
	cr_assert(0 != json_is_string(json_object_get(back, "expires_ms")));
	cr_assert(0 != json_is_integer(json_object_get(back, "seq")));
	json_decref(back);
	json_decref(in);
}

Test(pbjson, accepts_64_bit_integers_as_decimal_strings)
{
	json_t *in = json_loads(header, 0, NULL), *back = NULL;
	ProtobufCMessage *msg = NULL;
	struct pbjson_error err;

	json_object_set_new(in, "created_ms", json_string("1795718607120"));
	cr_assert(eq(int, pbjson_from_json(&limes__header__descriptor, in, "h", &msg, &err), 0));
	cr_assert(eq(u64, ((Limes__Header *)msg)->created_ms, 1795718607120ull));
	cr_assert(eq(u64, ((Limes__Header *)msg)->expires_ms, UINT64_MAX));
	cr_assert(eq(int, pbjson_to_json(msg, &back, &err), 0));
	cr_assert(0 != json_is_integer(json_object_get(back, "created_ms")));
	pbjson_free(&msg);
	json_decref(back);
	json_decref(in);
}

static void header_with(const char *field, json_t *value, const char *code)
{
	json_t *in = json_loads(header, 0, NULL);
	ProtobufCMessage *msg = NULL;
	struct pbjson_error err;
	char path[64];

	json_object_set_new(in, field, value);
	cr_assert(eq(int, pbjson_from_json(&limes__header__descriptor, in, "h", &msg, &err), LIMES_E_SCHEMA),
		  "%s accepted", field);
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), (char *)code), "%s: %s", field, err.message);
	snprintf(path, sizeof(path), "h.%s", field);
	cr_assert(eq(str, err.path, path));
	cr_assert_null(msg);
	json_decref(in);
}

Test(pbjson, refuses_bad_integers)
{
	header_with("expires_ms", json_string("18446744073709551616"), "out_of_range");
	header_with("expires_ms", json_string("-1"), "out_of_range");
	header_with("expires_ms", json_integer(-1), "out_of_range");
	header_with("expires_ms", json_string("12a"), "bad_format");
	header_with("expires_ms", json_string(" 12"), "bad_format");
	header_with("expires_ms", json_string("+12"), "bad_format");
	header_with("expires_ms", json_string(""), "bad_format");
	header_with("expires_ms", json_real(1.5), "wrong_type");
	header_with("expires_ms", json_real(2.0), "wrong_type");
	header_with("expires_ms", json_true(), "wrong_type");
	header_with("version_major", json_integer(4294967296ll), "out_of_range");
	header_with("version_major", json_integer(-1), "out_of_range");
	header_with("version_major", json_string("1"), "wrong_type");
	header_with("version_minor", json_real(0.5), "wrong_type");
}

Test(pbjson, refuses_bad_base64)
{
	header_with("ref", json_string("/w="), "bad_format");
	header_with("ref", json_string("/x=="), "bad_format");
	header_with("ref", json_string("_w=="), "bad_format");
	header_with("ref", json_string("/w==AAAA"), "bad_format");
	header_with("ref", json_string("a==="), "bad_format");
	header_with("ref", json_integer(1), "wrong_type");
	header_with("message_id", json_null(), "missing_field");
}

Test(pbjson, refuses_oversized_bytes)
{
	char *big = malloc(1368 + 1);

	memset(big, 'A', 1368);
	big[1368] = '\0';                    /* 1026 bytes once decoded */
	header_with("nonce", json_string(big), "too_long");
	free(big);
}

Test(pbjson, maps_bools_and_oneofs)
{
	json_t *back = NULL, *in;
	struct pbjson_error err;
	const char frame[] = "{\"heartbeat\": {\"sent_ms\": 12, \"reply\": true}}";

	cr_assert(eq(str, (char *)map(&limes__frame__descriptor, frame, &back, &err), "ok"));
	in = json_loads(frame, 0, NULL);
	cr_assert(json_equal(in, back));
	json_decref(in);
	json_decref(back);
	expect(&limes__frame__descriptor, "{\"envelope\": \"AAAA\", \"heartbeat\": {\"sent_ms\": 1}}",
	       "bad_format", "m.heartbeat");
	expect(&limes__frame__descriptor, "{\"heartbeat\": {\"sent_ms\": 1, \"reply\": 1}}",
	       "wrong_type", "m.heartbeat.reply");
	expect(&limes__frame__descriptor, "{\"heartbeat\": {\"reply\": false}}",
	       "missing_field", "m.heartbeat.sent_ms");
	expect(&limes__frame__descriptor, "{}", "ok", NULL);
}

Test(pbjson, refuses_non_finite_and_non_numeric_doubles)
{
	Limes__GoodsItem item = LIMES__GOODS_ITEM__INIT;
	struct pbjson_error err;
	json_t *out = NULL;

	expect(&limes__goods_item__descriptor,
	       "{\"item_number\": 1, \"hs_code\": \"620342\", \"description\": \"x\", \"gross_mass_kg\": \"5\"}",
	       "wrong_type", "m.gross_mass_kg");
	expect(&limes__goods_item__descriptor,
	       "{\"item_number\": 1, \"hs_code\": \"620342\", \"description\": \"x\", \"gross_mass_kg\": 5}",
	       "ok", NULL);
	item.item_number = 1;
	item.hs_code = "620342";
	item.description = "x";
	item.gross_mass_kg = 1.0 / 0.0;
	cr_assert(eq(int, pbjson_check(&item.base, "m", &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, err.path, "m.gross_mass_kg"));
	cr_assert(eq(int, pbjson_to_json(&item.base, &out, &err), LIMES_E_SCHEMA));
	cr_assert_null(out);
}

/* ------------------------------------------------------------ strings */

Test(pbjson, refuses_invalid_utf8_and_control_characters)
{
	const char *bad[] = { "\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80", "ab\xe2\x82", "a\x7f", "\xc2\x9f" };
	const char *good[] = { "Röszke", "Хоргош", "Horgoš", "\xf0\x9f\x9a\x9a" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		json_t *in = json_pack("{s:o}", "name", json_stringn_nocheck(bad[i], strlen(bad[i])));
		ProtobufCMessage *msg = NULL;
		struct pbjson_error err;
		cr_assert(eq(int, pbjson_from_json(&limes__party__descriptor, in, "p", &msg, &err), LIMES_E_SCHEMA),
			  "case %zu", i);
		cr_assert(eq(str, (char *)pbjson_code_name(err.code), "bad_format"));
		cr_assert(eq(str, err.path, "p.name"));
		json_decref(in);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		json_t *in = json_pack("{s:s}", "name", good[i]);
		ProtobufCMessage *msg = NULL;
		struct pbjson_error err;
		cr_assert(eq(int, pbjson_from_json(&limes__party__descriptor, in, "p", &msg, &err), 0), "case %zu", i);
		pbjson_free(&msg);
		json_decref(in);
	}
}

Test(pbjson, allows_newlines_and_tabs_only_in_free_text)
{
	expect(&limes__party__descriptor, "{\"name\": \"A\\nB\"}", "bad_format", "m.name");
	expect(&limes__party__descriptor, "{\"name\": \"A\", \"address\": \"Street 1\\n\\t12345 Town\"}", "ok", NULL);
	expect(&limes__party__descriptor, "{\"name\": \"A\", \"address\": \"Street 1\\r\\n12345 Town\"}",
	       "bad_format", "m.address");
}

Test(pbjson, shows_unknown_field_names_printable_in_paths)
{
	json_t *in = json_pack("{s:s,s:i}", "name", "A", "na\x01me", 1);
	ProtobufCMessage *msg = NULL;
	struct pbjson_error err;

	cr_assert(eq(int, pbjson_from_json(&limes__party__descriptor, in, "p", &msg, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "unknown_field"));
	cr_assert(eq(str, err.path, "p.na?me"));
	json_decref(in);
}

/* An Alert whose persons[1].documents[2] is doc (JSON text); every field
 * before it is valid, so the walk pushes and pops many frames first. */
static char *alert_with_document(const char *doc)
{
	static const char ok_doc[] = "{\"type\": \"passport\", \"number\": \"P1\", \"issuing_country\": \"RS\","
				     " \"expiry\": \"2030-01-31\"}";
	size_t size = 2048;
	char *text = malloc(size);

	cr_assert_not_null(text);
	cr_assert(lt(int, snprintf(text, size,
			   "{\"action\": \"create\", \"alert_id\": \"A-1\", \"category\": \"missing_person\","
			   " \"requested_action\": \"locate\", \"persons\": ["
			   "{\"family_name\": \"One\", \"given_names\": [\"A\", \"B\"], \"documents\": [%s]},"
			   "{\"family_name\": \"Two\", \"nationalities\": [\"HU\", \"RS\"], \"documents\": [%s, %s, %s]}],"
			   " \"handling_code\": \"h0\", \"legal_basis\": \"x\", \"issuing_authority\": \"y\","
			   " \"contact_desk\": \"z\"}",
			   ok_doc, ok_doc, ok_doc, doc), (int)size));
	return text;
}

Test(pbjson, reads_deep_paths_exactly_in_both_directions)
{
	static const struct {
		const char *doc, *code, *path;
	} cases[] = {
		{ "{\"type\": \"visa\", \"number\": \"N\", \"issuing_country\": \"HU\", \"expiry\": \"2026-02-30\"}",
		  "bad_format", "m.persons[1].documents[2].expiry" },
		{ "{\"type\": \"visa\", \"number\": 7, \"issuing_country\": \"HU\"}",
		  "wrong_type", "m.persons[1].documents[2].number" },
		{ "{\"type\": \"visa\", \"number\": \"N\", \"issuing_country\": \"HU\", \"nu\\u0001m\": 1}",
		  "unknown_field", "m.persons[1].documents[2].nu?m" },
		{ "{\"type\": \"visa\", \"number\": \"N\"}",
		  "missing_field", "m.persons[1].documents[2].issuing_country" },
	};
	const char *good = "{\"type\": \"visa\", \"number\": \"N\", \"issuing_country\": \"HU\","
			   " \"expiry\": \"2027-06-30\"}";
	Limes__Alert *alert = NULL;
	struct pbjson_error err;
	json_t *in;
	char *text;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		text = alert_with_document(cases[i].doc);
		expect(&limes__alert__descriptor, text, cases[i].code, cases[i].path);
		free(text);
	}
	/* The check of a decoded message walks the same path: break the last
	 * document's expiry and its country after a valid build. */
	text = alert_with_document(good);
	expect(&limes__alert__descriptor, text, "ok", NULL);
	cr_assert_not_null(in = json_loads(text, 0, NULL));
	cr_assert(eq(int, pbjson_from_json(&limes__alert__descriptor, in, "body", (ProtobufCMessage **)&alert, &err), 0));
	cr_assert(eq(str, err.path, "body"));
	alert->persons[1]->documents[2]->expiry->day = 31;
	cr_assert(eq(int, pbjson_check(&alert->base, "body", &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "bad_format"));
	cr_assert(eq(str, err.path, "body.persons[1].documents[2].expiry"));
	alert->persons[1]->documents[2]->expiry->day = 30;
	alert->persons[1]->nationalities[1][0] = 'r';
	cr_assert(eq(int, pbjson_check(&alert->base, "body", &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, err.path, "body.persons[1].nationalities[1]"));
	alert->persons[1]->nationalities[1][0] = 'R';
	cr_assert(eq(int, pbjson_check(&alert->base, NULL, &err), 0));
	alert->persons[0]->given_names[1][0] = '\t';
	cr_assert(eq(int, pbjson_check(&alert->base, NULL, &err), LIMES_E_SCHEMA));
	cr_assert(eq(str, err.path, "persons[0].given_names[1]"));
	pbjson_free((ProtobufCMessage **)&alert);
	json_decref(in);
	free(text);
}

Test(pbjson, truncates_long_paths_safely)
{
	char prefix[400];
	json_t *in = json_pack("{s:i}", "name", 3);
	ProtobufCMessage *msg = NULL;
	struct pbjson_error err;

	memset(prefix, 'p', sizeof(prefix) - 1);
	prefix[sizeof(prefix) - 1] = '\0';
	cr_assert(eq(int, pbjson_from_json(&limes__party__descriptor, in, prefix, &msg, &err), LIMES_E_SCHEMA));
	cr_assert(eq(sz, strlen(err.path), sizeof(err.path) - 1));
	cr_assert(eq(str, (char *)pbjson_code_name(err.code), "wrong_type"));
	json_decref(in);
}

Test(pbjson, accepts_null_arguments_gracefully)
{
	ProtobufCMessage *msg = NULL;
	json_t *out = NULL;

	pbjson_free(NULL);
	pbjson_free(&msg);
	cr_assert(eq(int, pbjson_from_json(&limes__party__descriptor, NULL, "p", &msg, NULL), LIMES_E_INVAL));
	cr_assert(eq(int, pbjson_to_json(NULL, &out, NULL), LIMES_E_INVAL));
	cr_assert(eq(int, pbjson_check(NULL, "p", NULL), LIMES_E_INVAL));
}

/* The lookup is a binary search over a sorted copy of the table: every
 * entry must be found as itself, and near misses not at all. */
Test(pbjson, finds_every_field_limit_and_no_near_miss)
{
	size_t n = 0;
	const struct limits_field *table = limits_table(&n);

	cr_assert_gt(n, 50);
	for (size_t i = 0; i < n; i++) {
		char message[128];
		const char *dot = strrchr(table[i].field, '.');
		cr_assert_not_null(dot);
		snprintf(message, sizeof(message), "%.*s", (int)(dot - table[i].field), table[i].field);
		cr_assert(eq(ptr, (void *)limits_lookup(message, dot + 1), (void *)&table[i]), "%s", table[i].field);
	}
	cr_assert_null(limits_lookup("limes.Vehicle", "vi"));
	cr_assert_null(limits_lookup("limes.Vehicle", "vinx"));
	cr_assert_null(limits_lookup("limes.Vehicl", "vin"));
	cr_assert_null(limits_lookup("limes.Vehicles", "vin"));
	cr_assert_null(limits_lookup("", ""));
	cr_assert_null(limits_lookup("limes.Alert", "no_such_field"));
}
