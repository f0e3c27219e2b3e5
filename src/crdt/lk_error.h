/*
 * lk_error.h — how the core reports a failure.
 *
 * Library functions return an lk_code and, on failure, fill an lk_error with
 * a message in PostgreSQL's style (lowercase, no period) and an optional
 * detail sentence.  The host maps the code to its own error: src/pg to an
 * SQLSTATE, the bridge to an error reply.
 */
#ifndef LK_ERROR_H
#define LK_ERROR_H

#include <stddef.h>

typedef enum lk_code
{
	LK_OK = 0,
	LK_ERR_SYNTAX,				/* malformed text: 22P02 */
	LK_ERR_BINARY,				/* malformed binary: 22P03 */
	LK_ERR_RANGE,				/* a count or value out of range: 22003 */
	LK_ERR_LIMIT,				/* a documented size limit exceeded: 54000 */
	LK_ERR_VALUE				/* a bad argument (node id, element, by): 22023 */
} lk_code;

typedef struct lk_error
{
	lk_code		code;
	char		msg[160];
	char		detail[256];
} lk_error;

/*
 * Fill err (which may be NULL) and return code.  detail may be NULL.
 */
lk_code		lk_fail(lk_error *err, lk_code code, const char *msg,
					const char *detail_fmt,...)
#if defined(__GNUC__)
			__attribute__((format(printf, 4, 5)))
#endif
			;

#endif
