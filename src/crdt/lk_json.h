/*
 * lk_json.h — the small JSON reader and writer behind the canonical text form.
 *
 * The reader is a cursor the type parsers drive: they know the shape they
 * expect, so there is no document tree.  Every failure is LK_ERR_SYNTAX with
 * a detail naming the 0-based byte position, as JavaScript's JSON.parse does.
 * Strings without escapes are returned pointing into the input; strings with
 * escapes are decoded into memory from the reader's allocator.
 *
 * The writer escapes exactly what JSON.stringify escapes (", \ and control
 * characters, the short forms where they exist, else \u00xx), so the
 * JavaScript mirror produces byte-equal text.
 */
#ifndef LK_JSON_H
#define LK_JSON_H

#include <stdbool.h>
#include <stdint.h>

#include "lk_alloc.h"
#include "lk_buf.h"
#include "lk_error.h"
#include "lk_str.h"

typedef struct lk_json
{
	const char *start;
	const char *p;
	const char *end;
	const char *key_at;			/* where the last key read by next_key starts */
	const lk_alloc *a;
	lk_error   *err;
} lk_json;

/* Position state of one object or array being read. */
typedef struct lk_json_iter
{
	bool		first;
	char		close;
} lk_json_iter;

void		lk_json_init(lk_json *j, const char *s, size_t len,
						 const lk_alloc *a, lk_error *err);

/* Syntax error at the current position with a reason ("expected ..."). */
lk_code		lk_json_error(lk_json *j, const char *what);

/* A well-formed token that is not acceptable: "Invalid <what> at position N: <reason>." */
lk_code		lk_json_invalid(lk_json *j, const char *at, const char *what, const char *reason);

/* Expect '{' (or '['): starts iteration. */
lk_code		lk_json_object(lk_json *j, lk_json_iter *it);
lk_code		lk_json_array(lk_json *j, lk_json_iter *it);

/*
 * Advance to the next member: on *more, *key holds the member's key and the
 * ':' has been consumed; when the object closes, *more is false.
 */
lk_code		lk_json_next_key(lk_json *j, lk_json_iter *it, bool *more, lk_str *key);

/* Advance to the next array item: *more is false when the array closes. */
lk_code		lk_json_next_item(lk_json *j, lk_json_iter *it, bool *more);

lk_code		lk_json_string(lk_json *j, lk_str *out);

/*
 * An integer in [0, LK_COUNT_MAX].  A negative number is LK_ERR_RANGE, a
 * fraction or exponent LK_ERR_SYNTAX, a value beyond the bigint range LK_ERR_RANGE.
 */
lk_code		lk_json_uint(lk_json *j, const char *what, uint64_t *out);

/* Only whitespace may remain. */
lk_code		lk_json_finish(lk_json *j);

/* Write s as a JSON string literal. */
void		lk_json_put_string(lk_buf *b, lk_str s);

/* The most bytes s takes as a JSON string literal: every byte a \u00xx escape. */
#define LK_JSON_STRING_MAX(len) (6 * (size_t) (len) + 2)

/* Write s as a JSON string literal at o, which has LK_JSON_STRING_MAX(s.len) bytes; returns its end. */
char	   *lk_json_write_string(char *o, lk_str s);

#endif
