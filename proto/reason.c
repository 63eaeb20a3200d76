/* Rejection reasons: numbers, names and the errors they answer. */
#include "proto/reason.h"

#include "proto/err.h"

int reason_of_error(int err)
{
	switch (err) {
#define LIMES_REASON_CASE(name, num, id, e) case e: return num;
	LIMES_REASONS(LIMES_REASON_CASE)
#undef LIMES_REASON_CASE
	case LIMES_E_STORE_FAILED: case LIMES_E_STORE_FULL: case LIMES_E_NOMEM: return REASON_INTERNAL;
	}
	return REASON_MALFORMED;
}

const char *reason_name(int reason)
{
	switch (reason) {
#define LIMES_REASON_NAME(name, num, id, e) case num: return id;
	LIMES_REASONS(LIMES_REASON_NAME)
#undef LIMES_REASON_NAME
	}
	return "unknown";
}
