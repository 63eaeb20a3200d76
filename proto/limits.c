/*
 * The limits table: per-field string lengths, value ranges, array caps and
 * named formats for the business messages, plus the format checkers. The
 * mapper (pbjson.c) applies them on the way in from JSON and on bodies
 * decoded from peers alike; docs/schemas.md describes them for users.
 */
#include "proto/limits.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proto/err.h"

#define TEXT(name)   { name, LIMITS_FORMAT_NONE, LIMITS_TEXT_MAX, true, false, false, 0, 0, 0 }
#define FMT(name, f, len) { name, f, len, false, false, false, 0, 0, 0 }
#define LEN(name, len)    { name, LIMITS_FORMAT_NONE, len, false, false, false, 0, 0, 0 }
#define ITEMS(name, n)    { name, LIMITS_FORMAT_NONE, 0, false, false, false, 0, 0, n }
#define RANGE(name, lo, hi) { name, LIMITS_FORMAT_NONE, 0, false, true, false, lo, hi, 0 }
#define ABOVE(name, lo, hi) { name, LIMITS_FORMAT_NONE, 0, false, true, true, lo, hi, 0 }

static const struct limits_field table[] = {
	RANGE("limes.Timestamp.unix_ms", (double)LIMITS_TIME_MS_MIN, (double)LIMITS_TIME_MS_MAX),
	RANGE("limes.Date.year", LIMITS_DATE_YEAR_MIN, LIMITS_DATE_YEAR_MAX),
	RANGE("limes.Date.month", 1, 12),
	RANGE("limes.Date.day", 1, 31),

	LEN("limes.IdentityDocument.number", 35),
	FMT("limes.IdentityDocument.issuing_country", LIMITS_FORMAT_COUNTRY, 2),
	ITEMS("limes.Person.given_names", 10),
	{ "limes.Person.nationalities", LIMITS_FORMAT_COUNTRY, 2, false, false, false, 0, 0, 10 },
	ITEMS("limes.Person.documents", 20),
	FMT("limes.Vehicle.registration_number", LIMITS_FORMAT_PLATE, 15),
	FMT("limes.Vehicle.registration_country", LIMITS_FORMAT_COUNTRY, 2),
	FMT("limes.Vehicle.vin", LIMITS_FORMAT_VIN, 17),
	LEN("limes.Vehicle.make", 64),
	LEN("limes.Vehicle.model", 64),
	LEN("limes.Vehicle.colour", 64),
	FMT("limes.Vehicle.trailer_registration", LIMITS_FORMAT_PLATE, 15),
	LEN("limes.TravelDocument.number", 35),
	FMT("limes.TravelDocument.issuing_country", LIMITS_FORMAT_COUNTRY, 2),
	FMT("limes.ConsignmentReference.mrn", LIMITS_FORMAT_MRN, 18),
	FMT("limes.ConsignmentReference.container_number", LIMITS_FORMAT_CONTAINER, 11),
	LEN("limes.ConsignmentReference.seal_numbers", 35),
	TEXT("limes.HitReport.action_taken"),
	LEN("limes.Alert.alert_id", 64),
	ITEMS("limes.Alert.persons", 99),
	ITEMS("limes.Alert.vehicles", 99),
	ITEMS("limes.Alert.travel_documents", 99),
	FMT("limes.Alert.language", LIMITS_FORMAT_LANGUAGE, 35),
	TEXT("limes.Alert.free_text"),

	FMT("limes.TransportMeans.tractor_registration", LIMITS_FORMAT_PLATE, 15),
	FMT("limes.TransportMeans.trailer_registration", LIMITS_FORMAT_PLATE, 15),
	FMT("limes.TransportMeans.nationality", LIMITS_FORMAT_COUNTRY, 2),
	LEN("limes.TransportDocument.reference", 35),
	{ "limes.Party.address", LIMITS_FORMAT_NONE, 512, true, false, false, 0, 0, 0 },
	LEN("limes.Party.eori", 17),
	LEN("limes.Party.tin", 35),
	FMT("limes.Package.type", LIMITS_FORMAT_PACKAGE_CODE, 2),
	RANGE("limes.Package.count", 1, 1000000),
	{ "limes.Package.marks", LIMITS_FORMAT_NONE, 512, true, false, false, 0, 0, 0 },
	RANGE("limes.GoodsItem.item_number", 1, 999),
	FMT("limes.GoodsItem.hs_code", LIMITS_FORMAT_HS_CODE, 10),
	TEXT("limes.GoodsItem.description"),
	ABOVE("limes.GoodsItem.gross_mass_kg", 0, 1e7),
	ITEMS("limes.GoodsItem.packages", 99),
	FMT("limes.GoodsItem.container_number", LIMITS_FORMAT_CONTAINER, 11),
	{ "limes.GoodsItem.seals", LIMITS_FORMAT_NONE, 35, false, false, false, 0, 0, 99 },
	FMT("limes.GoodsItem.un_dangerous_goods_code", LIMITS_FORMAT_UN_NUMBER, 4),
	LEN("limes.PreArrivalDeclaration.lrn", 22),
	FMT("limes.PreArrivalDeclaration.mrn", LIMITS_FORMAT_MRN, 18),
	FMT("limes.PreArrivalDeclaration.office_of_departure", LIMITS_FORMAT_CUSTOMS_OFFICE, 8),
	FMT("limes.PreArrivalDeclaration.office_of_exit", LIMITS_FORMAT_CUSTOMS_OFFICE, 8),
	FMT("limes.PreArrivalDeclaration.office_of_entry", LIMITS_FORMAT_CUSTOMS_OFFICE, 8),
	{ "limes.PreArrivalDeclaration.countries_of_routing", LIMITS_FORMAT_COUNTRY, 2, false, false, false, 0, 0, 99 },
	LEN("limes.PreArrivalDeclaration.tir_carnet_number", 35),
	LEN("limes.PreArrivalDeclaration.guarantee_reference", 35),
	FMT("limes.PreArrivalDeclaration.place_of_loading", LIMITS_FORMAT_UNLOCODE, 5),
	FMT("limes.PreArrivalDeclaration.place_of_unloading", LIMITS_FORMAT_UNLOCODE, 5),
	ITEMS("limes.PreArrivalDeclaration.goods_items", 999),
	RANGE("limes.PreArrivalDeclaration.total_items", 1, 999),
	ABOVE("limes.PreArrivalDeclaration.total_gross_mass_kg", 0, 1e7),
	ITEMS("limes.PreArrivalDeclaration.risk_flags", 16),

	FMT("limes.ControlResult.answers_message_id", LIMITS_FORMAT_MESSAGE_ID, 32),
	FMT("limes.ControlResult.mrn", LIMITS_FORMAT_MRN, 18),
	LEN("limes.ControlResult.lrn", 22),
	{ "limes.ControlResult.findings", LIMITS_FORMAT_NONE, LIMITS_TEXT_MAX, true, false, false, 0, 0, 99 },

	FMT("limes.MachineReadableDocument.document_code", LIMITS_FORMAT_ICAO_DOC_CODE, 2),
	FMT("limes.MachineReadableDocument.number", LIMITS_FORMAT_MRZ_NUMBER, 20),
	FMT("limes.MachineReadableDocument.issuing_state", LIMITS_FORMAT_STATE, 3),
	LEN("limes.Traveller.family_name", 64),
	{ "limes.Traveller.given_names", LIMITS_FORMAT_NONE, 64, false, false, false, 0, 0, 10 },
	FMT("limes.Traveller.nationality", LIMITS_FORMAT_STATE, 3),
	FMT("limes.Traveller.place_of_embarkation", LIMITS_FORMAT_UNLOCODE, 5),
	FMT("limes.Traveller.place_of_disembarkation", LIMITS_FORMAT_UNLOCODE, 5),
	FMT("limes.Traveller.seat", LIMITS_FORMAT_SEAT, 8),
	LEN("limes.PassengerManifest.manifest_reference", 35),
	LEN("limes.PassengerManifest.carrier", 70),
	LEN("limes.PassengerManifest.carrier_code", 35),
	FMT("limes.PassengerManifest.means_registration", LIMITS_FORMAT_PLATE, 15),
	LEN("limes.PassengerManifest.journey_number", 17),
	FMT("limes.PassengerManifest.place_of_departure", LIMITS_FORMAT_UNLOCODE, 5),
	FMT("limes.PassengerManifest.border_crossing_point", LIMITS_FORMAT_UNLOCODE, 5),
	FMT("limes.PassengerManifest.final_destination", LIMITS_FORMAT_UNLOCODE, 5),
	RANGE("limes.PassengerManifest.total_count", 1, 999),
	ITEMS("limes.PassengerManifest.travellers", 999),

	TEXT("limes.Evidence.description"),
	LEN("limes.Evidence.reference", 35),
	FMT("limes.Evidence.issuing_state", LIMITS_FORMAT_STATE, 3),
	FMT("limes.Evidence.sha256", LIMITS_FORMAT_SHA256, 64),
	LEN("limes.Alias.family_name", 64),
	{ "limes.Alias.given_names", LIMITS_FORMAT_NONE, 64, false, false, false, 0, 0, 10 },
	LEN("limes.ReadmissionPerson.family_name", 64),
	{ "limes.ReadmissionPerson.given_names", LIMITS_FORMAT_NONE, 64, false, false, false, 0, 0, 10 },
	LEN("limes.ReadmissionPerson.place_of_birth", 64),
	{ "limes.ReadmissionPerson.nationalities", LIMITS_FORMAT_STATE, 3, false, false, false, 0, 0, 10 },
	ITEMS("limes.ReadmissionPerson.aliases", 20),
	ITEMS("limes.ReadmissionPerson.documents", 20),
	{ "limes.ReadmissionPerson.languages", LIMITS_FORMAT_LANGUAGE, 35, false, false, false, 0, 0, 10 },
	TEXT("limes.ReadmissionPerson.special_needs"),
	FMT("limes.Transfer.crossing_point", LIMITS_FORMAT_UNLOCODE, 5),
	RANGE("limes.Transfer.escorts", 0, 20),
	TEXT("limes.Transfer.details"),
	LEN("limes.ReadmissionRequest.case_reference", 35),
	FMT("limes.ReadmissionRequest.requesting_state", LIMITS_FORMAT_STATE, 3),
	FMT("limes.ReadmissionRequest.requested_state", LIMITS_FORMAT_STATE, 3),
	ITEMS("limes.ReadmissionRequest.evidence", 50),
	TEXT("limes.ReadmissionRequest.remarks"),
	LEN("limes.ReadmissionReply.case_reference", 35),
	LEN("limes.ReadmissionReply.requested_state_reference", 35),
	FMT("limes.ReadmissionReply.replying_state", LIMITS_FORMAT_STATE, 3),
	ITEMS("limes.ReadmissionReply.refusal_grounds", 8),
	{ "limes.ReadmissionReply.information_requested", LIMITS_FORMAT_NONE, LIMITS_TEXT_MAX, true, false, false, 0, 0, 20 },
	TEXT("limes.ReadmissionReply.remarks"),
};

/* ISO 3166-1 alpha-2 officially assigned codes, plus XK (Kosovo, user-assigned, used by the EU). */
static const char countries[] =
	"ADAEAFAGAIALAMAOAQARASATAUAWAXAZ"
	"BABBBDBEBFBGBHBIBJBLBMBNBOBQBRBSBTBVBWBYBZ"
	"CACCCDCFCGCHCICKCLCMCNCOCRCUCVCWCXCYCZ"
	"DEDJDKDMDODZ" "ECEEEGEHERESET" "FIFJFKFMFOFR"
	"GAGBGDGEGFGGGHGIGLGMGNGPGQGRGSGTGUGWGY" "HKHMHNHRHTHU"
	"IDIEILIMINIOIQIRISIT" "JEJMJOJP" "KEKGKHKIKMKNKPKRKWKYKZ"
	"LALBLCLILKLRLSLTLULVLY"
	"MAMCMDMEMFMGMHMKMLMMMNMOMPMQMRMSMTMUMVMWMXMYMZ"
	"NANCNENFNGNINLNONPNRNUNZ" "OM" "PAPEPFPGPHPKPLPMPNPRPSPTPWPY" "QA"
	"RERORSRURW" "SASBSCSDSESGSHSISJSKSLSMSNSOSRSSSTSVSXSYSZ"
	"TCTDTFTGTHTJTKTLTMTNTOTRTTTVTWTZ" "UAUGUMUSUYUZ" "VAVCVEVGVIVNVU"
	"WFWS" "XK" "YEYT" "ZAZMZW";

/* ISO 3166-1 alpha-3 officially assigned codes (249). */
static const char states_iso[] =
	"ABWAFGAGOAIAALAALBANDAREARGARMASMATAATFATGAUSAUTAZE"
	"BDIBELBENBESBFABGDBGRBHRBHSBIHBLMBLRBLZBMUBOLBRABRBBRNBTNBVTBWA"
	"CAFCANCCKCHECHLCHNCIVCMRCODCOGCOKCOLCOMCPVCRICUBCUWCXRCYMCYPCZE"
	"DEUDJIDMADNKDOMDZA" "ECUEGYERIESHESPESTETH" "FINFJIFLKFRAFROFSM"
	"GABGBRGEOGGYGHAGIBGINGLPGMBGNBGNQGRCGRDGRLGTMGUFGUMGUY"
	"HKGHMDHNDHRVHTIHUN" "IDNIMNINDIOTIRLIRNIRQISLISRITA" "JAMJEYJORJPN"
	"KAZKENKGZKHMKIRKNAKORKWT" "LAOLBNLBRLBYLCALIELKALSOLTULUXLVA"
	"MACMAFMARMCOMDAMDGMDVMEXMHLMKDMLIMLTMMRMNEMNGMNPMOZMRTMSRMTQMUSMWIMYSMYT"
	"NAMNCLNERNFKNGANICNIUNLDNORNPLNRUNZL" "OMN"
	"PAKPANPCNPERPHLPLWPNGPOLPRIPRKPRTPRYPSEPYF" "QAT" "REUROURUSRWA"
	"SAUSDNSENSGPSGSSHNSJMSLBSLESLVSMRSOMSPMSRBSSDSTPSURSVKSVNSWESWZSXMSYCSYR"
	"TCATCDTGOTHATJKTKLTKMTLSTONTTOTUNTURTUVTWNTZA" "UGAUKRUMIURYUSAUZB"
	"VATVCTVENVGBVIRVNMVUT" "WLFWSM" "YEM" "ZAFZMBZWE";

/* The codes ICAO 9303 Part 3 adds for MRZs (D is Germany's own code; XXA
 * stateless, XXB and XXC refugees, XXX unspecified; UN, EU and other
 * organisations), and RKS, the code Kosovo's documents carry. */
static const char *const states_icao[] = {
	"D", "GBD", "GBN", "GBO", "GBP", "GBS", "EUE", "UNO", "UNA", "UNK", "XBA", "XIM", "XCC",
	"XCE", "XCO", "XEC", "XPO", "XES", "XMP", "XOM", "XDC", "XXA", "XXB", "XXC", "XXX", "RKS",
};

static bool state_ok(const char *s, size_t len)
{
	for (size_t i = 0; i < sizeof(states_icao) / sizeof(states_icao[0]); i++)
		if (strlen(states_icao[i]) == len && memcmp(states_icao[i], s, len) == 0)
			return true;
	if (len != 3)
		return false;
	for (size_t i = 0; i + 2 < sizeof(states_iso); i += 3)
		if (memcmp(states_iso + i, s, 3) == 0)
			return true;
	return false;
}

size_t limits_iso_states_count(void)
{
	return (sizeof(states_iso) - 1) / 3;
}

#define N_TABLE (sizeof(table) / sizeof(table[0]))

/* The table's entries sorted by full name, built once: every field of every
 * body, sent or received, is looked up, so a binary search (7 steps) rather
 * than a scan of the whole table (one string compare per row). */
static const struct limits_field *by_name[N_TABLE];
static pthread_once_t by_name_once = PTHREAD_ONCE_INIT;

static int cmp_entries(const void *a, const void *b)
{
	return strcmp((*(const struct limits_field *const *)a)->field,
		      (*(const struct limits_field *const *)b)->field);
}

static void sort_by_name(void)
{
	for (size_t i = 0; i < N_TABLE; i++)
		by_name[i] = &table[i];
	qsort(by_name, N_TABLE, sizeof(by_name[0]), cmp_entries);
}

/* strcmp of name against message_name "." field_name, without building it. */
static int cmp_full_name(const char *name, const char *message_name, const char *field_name)
{
	const unsigned char *n = (const unsigned char *)name;
	const unsigned char *m = (const unsigned char *)message_name;
	const unsigned char *f = (const unsigned char *)field_name;

	for (; *m; n++, m++)
		if (*n != *m)
			return *n - *m;
	if (*n != '.')
		return *n - '.';
	n++;
	for (; *f; n++, f++)
		if (*n != *f)
			return *n - *f;
	return *n;
}

const struct limits_field *limits_lookup(const char *message_name, const char *field_name)
{
	size_t lo = 0, hi = N_TABLE;

	pthread_once(&by_name_once, sort_by_name);
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = cmp_full_name(by_name[mid]->field, message_name, field_name);
		if (c == 0)
			return by_name[mid];
		if (c < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

const struct limits_field *limits_table(size_t *count)
{
	*count = sizeof(table) / sizeof(table[0]);
	return table;
}

static bool is_upper(char c) { return c >= 'A' && c <= 'Z'; }
static bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alnum_upper(char c) { return is_upper(c) || is_digit(c); }
static bool is_alnum(char c) { return is_upper(c) || is_lower(c) || is_digit(c); }
static bool is_locode_char(char c) { return is_upper(c) || (c >= '2' && c <= '9'); }
static bool is_hex_lower(char c) { return is_digit(c) || (c >= 'a' && c <= 'f'); }

static bool all(const char *s, size_t from, size_t to, bool (*pred)(char))
{
	for (size_t i = from; i < to; i++)
		if (!pred(s[i]))
			return false;
	return true;
}

static bool country_ok(const char *s, size_t len)
{
	if (len != 2 || !is_upper(s[0]) || !is_upper(s[1]))
		return false;
	for (size_t i = 0; i + 1 < sizeof(countries); i += 2)
		if (countries[i] == s[0] && countries[i + 1] == s[1])
			return true;
	return false;
}

/* ISO 6346: owner code (3 letters), category (U, J, Z or R), 6 digits, check digit. */
static bool container_ok(const char *s, size_t len)
{
	unsigned long sum = 0;

	if (len != 11 || !all(s, 0, 3, is_upper) || strchr("UJZR", s[3]) == NULL ||
	    !all(s, 4, 11, is_digit))
		return false;
	for (size_t i = 0; i < 10; i++) {
		unsigned value;
		if (is_digit(s[i])) {
			value = (unsigned)(s[i] - '0');
		} else {
			/* A=10, B=12 ... letter values skip the multiples of 11. */
			value = 10;
			for (char c = 'A'; c < s[i]; c++) {
				value++;
				if (value % 11 == 0)
					value++;
			}
		}
		sum += (unsigned long)value << i;
	}
	return (unsigned)(sum % 11 % 10) == (unsigned)(s[10] - '0');
}

static bool vin_char(char c)
{
	return is_alnum_upper(c) && c != 'I' && c != 'O' && c != 'Q';
}

static bool plate_ok(const char *s, size_t len)
{
	if (len == 0 || !is_alnum_upper(s[0]) || !is_alnum_upper(s[len - 1]))
		return false;
	for (size_t i = 1; i + 1 < len; i++) {
		if (is_alnum_upper(s[i]))
			continue;
		if ((s[i] == ' ' || s[i] == '-') && is_alnum_upper(s[i + 1]))
			continue;
		return false;
	}
	return true;
}

/* BCP 47 in its common form: a 2-3 letter language, then subtags of 1-8 letters or digits. */
static bool language_ok(const char *s, size_t len)
{
	size_t i = 0, start;

	while (i < len && is_lower(s[i]))
		i++;
	if (i < 2 || i > 3)
		return false;
	while (i < len) {
		if (s[i] != '-')
			return false;
		start = ++i;
		while (i < len && is_alnum(s[i]))
			i++;
		if (i - start < 1 || i - start > 8)
			return false;
	}
	return true;
}

int limits_check_format(enum limits_format format, const char *s, size_t len, const char **why)
{
	bool ok = true;

	switch (format) {
	case LIMITS_FORMAT_NONE:
		break;
	case LIMITS_FORMAT_COUNTRY:
		ok = country_ok(s, len);
		*why = "must be an ISO 3166-1 alpha-2 country code in upper case, e.g. RS";
		break;
	case LIMITS_FORMAT_HS_CODE:
		ok = len >= 6 && len <= 10 && all(s, 0, len, is_digit);
		*why = "must be an HS/CN/TARIC code of 6 to 10 digits";
		break;
	case LIMITS_FORMAT_UNLOCODE:
		ok = len == 5 && country_ok(s, 2) && all(s, 2, 5, is_locode_char);
		*why = "must be a UN/LOCODE: country code and 3 letters or digits 2-9, e.g. RSBEG";
		break;
	case LIMITS_FORMAT_UN_NUMBER:
		ok = len == 4 && all(s, 0, 4, is_digit);
		*why = "must be a UN number of 4 digits, e.g. 1203";
		break;
	case LIMITS_FORMAT_MRN:
		ok = len == 18 && all(s, 0, 2, is_digit) && all(s, 2, 4, is_upper) &&
		     all(s, 4, 18, is_alnum_upper);
		*why = "must be an MRN: 18 characters, 2 digits, 2 letters, 14 upper-case letters or digits";
		break;
	case LIMITS_FORMAT_CONTAINER:
		ok = container_ok(s, len);
		*why = "must be an ISO 6346 container number with a valid check digit, e.g. MSCU1234566";
		break;
	case LIMITS_FORMAT_VIN:
		ok = len == 17 && all(s, 0, 17, vin_char);
		*why = "must be a 17-character VIN (ISO 3779: digits and upper-case letters but I, O, Q)";
		break;
	case LIMITS_FORMAT_PLATE:
		ok = plate_ok(s, len);
		*why = "must be upper-case letters and digits, single inner spaces or hyphens";
		break;
	case LIMITS_FORMAT_CUSTOMS_OFFICE:
		ok = len == 8 && all(s, 0, 2, is_upper) && all(s, 2, 8, is_alnum_upper);
		*why = "must be a customs office reference number: 2 letters and 6 letters or digits";
		break;
	case LIMITS_FORMAT_LANGUAGE:
		ok = language_ok(s, len);
		*why = "must be a BCP 47 language tag, e.g. sr, hu, en, sr-Latn";
		break;
	case LIMITS_FORMAT_MESSAGE_ID:
		ok = len == 32 && all(s, 0, 32, is_hex_lower);
		*why = "must be a message id: 32 lower-case hexadecimal digits";
		break;
	case LIMITS_FORMAT_PACKAGE_CODE:
		ok = len == 2 && all(s, 0, 2, is_alnum_upper);
		*why = "must be a UN/ECE Recommendation 21 package code, e.g. PX";
		break;
	case LIMITS_FORMAT_STATE:
		ok = state_ok(s, len);
		*why = "must be an ICAO 9303 state code: ISO 3166-1 alpha-3 in upper case (SRB, HUN) or an ICAO code (D, XXA)";
		break;
	case LIMITS_FORMAT_ICAO_DOC_CODE:
		ok = len >= 1 && len <= 2 && strchr("PIACV", s[0]) != NULL && all(s, 1, len, is_upper);
		*why = "must be an ICAO 9303 document code: P, I, A, C or V, optionally followed by a letter (P, PP, ID)";
		break;
	case LIMITS_FORMAT_MRZ_NUMBER:
		ok = len >= 1 && all(s, 0, len, is_alnum_upper);
		*why = "must be a document number in MRZ characters: upper-case letters and digits, no filler";
		break;
	case LIMITS_FORMAT_SHA256:
		ok = len == 64 && all(s, 0, 64, is_hex_lower);
		*why = "must be a SHA-256 digest: 64 lower-case hexadecimal digits";
		break;
	case LIMITS_FORMAT_SEAT:
		ok = plate_ok(s, len) && memchr(s, ' ', len) == NULL;
		*why = "must be a seat or compartment: upper-case letters and digits, inner hyphens (12C, W4-36)";
		break;
	}
	return ok ? 0 : LIMES_E_SCHEMA;
}
