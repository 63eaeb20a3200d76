/* Error code names and texts. */
#include "agent/err.h"

const char *limes_strerror(int err)
{
	switch (err) {
#define LIMES_ERR_TEXT(name, value, id, text) case value: return text;
	LIMES_ERRORS(LIMES_ERR_TEXT)
#undef LIMES_ERR_TEXT
	}
	return "unknown error";
}

const char *limes_errname(int err)
{
	switch (err) {
#define LIMES_ERR_ID(name, value, id, text) case value: return id;
	LIMES_ERRORS(LIMES_ERR_ID)
#undef LIMES_ERR_ID
	}
	return "unknown";
}
