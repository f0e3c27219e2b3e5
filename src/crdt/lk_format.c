/*
 * lk_format.c — checks shared by the binary decoders and encoders.
 */
#include "lk_format.h"

#include <stdio.h>

lk_code
lk_binary_error(lk_error *err, const char *type_name, const char *detail)
{
	char		msg[80];

	snprintf(msg, sizeof(msg), "invalid binary %s value", type_name);
	return lk_fail(err, LK_ERR_BINARY, msg, "%s", detail);
}

lk_code
lk_format_open(lk_reader *r, lk_kind kind, const char *type_name, lk_error *err)
{
	uint8_t		fmt;
	lk_code		rc;

	/* a value past the size limit is refused before anything is decoded */
	if ((rc = lk_check_state_size((size_t) (r->end - r->p), type_name, err)) != LK_OK)
		return rc;
	if (!lk_read_u8(r, &fmt))
		return lk_binary_error(err, type_name, "The value is empty.");
	if ((fmt >> 4) != LK_FORMAT_VERSION)
	{
		char		detail[80];

		snprintf(detail, sizeof(detail), "Unsupported format version %d.", fmt >> 4);
		return lk_binary_error(err, type_name, detail);
	}
	if ((fmt & 15) != kind)
		return lk_binary_error(err, type_name, "The value is of another type.");
	return LK_OK;
}

lk_code
lk_check_state_size(size_t len, const char *type_name, lk_error *err)
{
	if (len > LK_MAX_STATE_BYTES)
	{
		char		msg[80];

		snprintf(msg, sizeof(msg), "%s value is too large", type_name);
		return lk_fail(err, LK_ERR_LIMIT, msg,
					   "A state is at most %u bytes encoded; this one would be %zu.",
					   LK_MAX_STATE_BYTES, len);
	}
	return LK_OK;
}
