/* Error code names and texts. */
#include "proto/err.h"

#include <errno.h>

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

int limes_from_errno(int errnum)
{
	switch (errnum) {
	case 0: return LIMES_E_OK;
	case ENOMEM: return LIMES_E_NOMEM;
	case EACCES: case EPERM: case EROFS: return LIMES_E_ACCES;
	case ENOENT: case ENOTDIR: return LIMES_E_NOENT;
	case EEXIST: return LIMES_E_EXISTS;
	case ENOSPC: case EDQUOT: return LIMES_E_STORE_FULL;
	case EAGAIN: case EINTR: return LIMES_E_AGAIN;
	case EINVAL: return LIMES_E_INVAL;
	case EFBIG: case ENAMETOOLONG: return LIMES_E_TOOBIG;
	default: return LIMES_E_IO;
	}
}
