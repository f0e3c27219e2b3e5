/*
 * lk_error.c — filling an lk_error.
 */
#include "lk_error.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

lk_code
lk_fail(lk_error *err, lk_code code, const char *msg, const char *detail_fmt,...)
{
	va_list		ap;

	if (err == NULL)
		return code;
	err->code = code;
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	va_start(ap, detail_fmt);
	if (detail_fmt != NULL)
		/* NOLINTNEXTLINE(clang-analyzer-valist.Uninitialized): started just above */
		(void) vsnprintf(err->detail, sizeof(err->detail), detail_fmt, ap);
	else
		err->detail[0] = '\0';
	va_end(ap);
	return code;
}
