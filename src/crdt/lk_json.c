/*
 * lk_json.c — the JSON cursor and string writer.
 */
#include "lk_json.h"

#include <stdio.h>

#include "lk_limits.h"

void
lk_json_init(lk_json *j, const char *s, size_t len, const lk_alloc *a, lk_error *err)
{
	j->start = s;
	j->p = s;
	j->end = s + len;
	j->key_at = s;
	j->a = a;
	j->err = err;
}

static void
skip_ws(lk_json *j)
{
	while (j->p < j->end &&
		   (*j->p == ' ' || *j->p == '\t' || *j->p == '\n' || *j->p == '\r'))
		j->p++;
}

lk_code
lk_json_error(lk_json *j, const char *what)
{
	long		pos = (long) (j->p - j->start);

	if (j->p >= j->end)
		return lk_fail(j->err, LK_ERR_SYNTAX, "invalid input syntax",
					   "Unexpected end of input at position %ld: %s.", pos, what);
	if ((unsigned char) *j->p >= 0x20 && (unsigned char) *j->p < 0x7f)
		return lk_fail(j->err, LK_ERR_SYNTAX, "invalid input syntax",
					   "Unexpected character \"%c\" at position %ld: %s.", *j->p, pos, what);
	return lk_fail(j->err, LK_ERR_SYNTAX, "invalid input syntax",
				   "Unexpected byte 0x%02x at position %ld: %s.",
				   (unsigned char) *j->p, pos, what);
}

lk_code
lk_json_invalid(lk_json *j, const char *at, const char *what, const char *reason)
{
	return lk_fail(j->err, LK_ERR_SYNTAX, "invalid input syntax",
				   "Invalid %s at position %ld: %s.", what, (long) (at - j->start), reason);
}

static lk_code
open_container(lk_json *j, lk_json_iter *it, char open, char close, const char *what)
{
	skip_ws(j);
	if (j->p >= j->end || *j->p != open)
		return lk_json_error(j, what);
	j->p++;
	it->first = true;
	it->close = close;
	return LK_OK;
}

lk_code
lk_json_object(lk_json *j, lk_json_iter *it)
{
	return open_container(j, it, '{', '}', "expected an object");
}

lk_code
lk_json_array(lk_json *j, lk_json_iter *it)
{
	return open_container(j, it, '[', ']', "expected an array");
}

/* Consume the separator before the next member or the closing bracket. */
static lk_code
advance(lk_json *j, lk_json_iter *it, bool *more)
{
	skip_ws(j);
	if (j->p < j->end && *j->p == it->close)
	{
		j->p++;
		*more = false;
		return LK_OK;
	}
	if (!it->first)
	{
		if (j->p >= j->end || *j->p != ',')
			return lk_json_error(j, it->close == '}' ? "expected \",\" or \"}\""
								 : "expected \",\" or \"]\"");
		j->p++;
		skip_ws(j);
	}
	it->first = false;
	*more = true;
	return LK_OK;
}

lk_code
lk_json_next_key(lk_json *j, lk_json_iter *it, bool *more, lk_str *key)
{
	lk_code		rc;

	if ((rc = advance(j, it, more)) != LK_OK || !*more)
		return rc;
	if (j->p >= j->end || *j->p != '"')
		return lk_json_error(j, "expected a string key");
	j->key_at = j->p;
	if ((rc = lk_json_string(j, key)) != LK_OK)
		return rc;
	skip_ws(j);
	if (j->p >= j->end || *j->p != ':')
		return lk_json_error(j, "expected \":\"");
	j->p++;
	return LK_OK;
}

lk_code
lk_json_next_item(lk_json *j, lk_json_iter *it, bool *more)
{
	return advance(j, it, more);
}

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Read the 4 hex digits after "\u"; j->p is on the first digit. */
static lk_code
read_hex4(lk_json *j, uint32_t *out)
{
	uint32_t	v = 0;

	for (int i = 0; i < 4; i++)
	{
		int			h = j->p < j->end ? hexval(*j->p) : -1;

		if (h < 0)
			return lk_json_error(j, "expected a hexadecimal digit");
		v = v * 16 + (uint32_t) h;
		j->p++;
	}
	*out = v;
	return LK_OK;
}

lk_code
lk_json_string(lk_json *j, lk_str *out)
{
	const char *begin;
	const char *q;
	bool		escaped = false;
	unsigned char high = 0;
	char	   *dst;
	size_t		n = 0;

	skip_ws(j);
	if (j->p >= j->end || *j->p != '"')
		return lk_json_error(j, "expected a string");
	begin = ++j->p;

	/* First pass: find the end, check raw bytes, note whether to decode and whether all are ASCII. */
	for (q = begin; q < j->end && *q != '"'; q++)
	{
		high |= (unsigned char) *q;
		if ((unsigned char) *q < 0x20)
		{
			j->p = q;
			return lk_json_error(j, "control characters must be escaped in a string");
		}
		if (*q == '\\')
		{
			escaped = true;
			if (++q >= j->end)
				break;
			high |= (unsigned char) *q;	/* escaped or not, it is checked as UTF-8 first */
		}
	}
	if (q >= j->end)
	{
		j->p = j->end;
		return lk_json_error(j, "unterminated string");
	}
	if (high >= 0x80 && !lk_utf8_valid(begin, (size_t) (q - begin)))
	{
		j->p = begin;
		return lk_json_error(j, "string is not valid UTF-8");
	}
	if ((size_t) (q - begin) > UINT32_MAX)
		return lk_fail(j->err, LK_ERR_LIMIT, "string is too long", NULL);
	if (!escaped)
	{
		*out = lk_str_make(begin, (size_t) (q - begin));
		j->p = q + 1;
		return LK_OK;
	}

	/* Decoding never lengthens: "\uXXXX" (6 bytes) yields at most 3, a pair (12) 4. */
	dst = lk_malloc(j->a, (size_t) (q - begin));
	while (j->p < q)
	{
		char		c = *j->p;
		uint32_t	cp = 0;
		lk_code		rc;

		if (c != '\\')
		{
			dst[n++] = c;
			j->p++;
			continue;
		}
		j->p++;
		switch (*j->p)
		{
			case '"':
			case '\\':
			case '/':
				dst[n++] = *j->p++;
				continue;
			case 'b':
				dst[n++] = '\b';
				j->p++;
				continue;
			case 'f':
				dst[n++] = '\f';
				j->p++;
				continue;
			case 'n':
				dst[n++] = '\n';
				j->p++;
				continue;
			case 'r':
				dst[n++] = '\r';
				j->p++;
				continue;
			case 't':
				dst[n++] = '\t';
				j->p++;
				continue;
			case 'u':
				j->p++;
				if ((rc = read_hex4(j, &cp)) != LK_OK)
					goto fail;
				if (cp >= 0xdc00 && cp <= 0xdfff)
				{
					j->p -= 6;
					rc = lk_json_error(j, "lone low surrogate in \\u escape");
					goto fail;
				}
				if (cp >= 0xd800 && cp <= 0xdbff)
				{
					uint32_t	lo;

					if (q - j->p < 6 || j->p[0] != '\\' || j->p[1] != 'u')
					{
						rc = lk_json_error(j, "high surrogate not followed by a low surrogate");
						goto fail;
					}
					j->p += 2;
					if ((rc = read_hex4(j, &lo)) != LK_OK)
						goto fail;
					if (lo < 0xdc00 || lo > 0xdfff)
					{
						j->p -= 6;
						rc = lk_json_error(j, "high surrogate not followed by a low surrogate");
						goto fail;
					}
					cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				}
				n += lk_utf8_put(dst + n, cp);
				continue;
			default:
				rc = lk_json_error(j, "invalid escape sequence");
				goto fail;
		}
fail:
		lk_free(j->a, dst);
		return rc;
	}
	j->p = q + 1;
	*out = lk_str_make(dst, n);
	return LK_OK;
}

lk_code
lk_json_uint(lk_json *j, const char *what, uint64_t *out)
{
	uint64_t	v = 0;
	const char *begin;

	skip_ws(j);
	begin = j->p;
	if (j->p < j->end && *j->p == '-')
	{
		if (j->p + 1 < j->end && j->p[1] >= '0' && j->p[1] <= '9')
		{
			if (j->p[1] == '0' && (j->p + 2 >= j->end || j->p[2] < '0' || j->p[2] > '9'))
			{
				/* "-0" is zero */
				j->p += 2;
				goto tail;
			}
			return lk_fail(j->err, LK_ERR_RANGE, "value out of range",
						   "The %s at position %ld is negative.", what,
						   (long) (j->p - j->start));
		}
		j->p++;
		return lk_json_error(j, "expected a digit");
	}
	if (j->p >= j->end || *j->p < '0' || *j->p > '9')
	{
		char		msg[64];

		snprintf(msg, sizeof(msg), "expected %s as an integer", what);
		return lk_json_error(j, msg);
	}
	if (*j->p == '0')
	{
		j->p++;
		if (j->p < j->end && *j->p >= '0' && *j->p <= '9')
			return lk_json_error(j, "leading zeros are not allowed");
		goto tail;
	}
	while (j->p < j->end && *j->p >= '0' && *j->p <= '9')
	{
		unsigned	d = (unsigned) (*j->p - '0');

		if (v > ((uint64_t) LK_COUNT_MAX - d) / 10)
			return lk_fail(j->err, LK_ERR_RANGE, "value out of range",
						   "The %s at position %ld exceeds 9223372036854775807.",
						   what, (long) (begin - j->start));
		v = v * 10 + d;
		j->p++;
	}
tail:
	if (j->p < j->end && (*j->p == '.' || *j->p == 'e' || *j->p == 'E'))
		return lk_json_error(j, "expected an integer without fraction or exponent");
	*out = v;
	return LK_OK;
}

lk_code
lk_json_finish(lk_json *j)
{
	skip_ws(j);
	if (j->p != j->end)
		return lk_json_error(j, "expected end of input");
	return LK_OK;
}

char *
lk_json_write_string(char *o, lk_str s)
{
	/* the characters JSON.stringify escapes by a letter, and their letters */
	static const char short_esc[] = "\"\\\b\f\n\r\t",
				letter[] = "\"\\bfnrt",
				hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *) s.p;

	*o++ = '"';
	for (uint32_t i = 0; i < s.len; i++)
	{
		unsigned char c = p[i];
		const char *at;

		if (c >= 0x20 && c != '"' && c != '\\')
		{
			*o++ = (char) c;
			continue;
		}
		*o++ = '\\';
		if ((at = memchr(short_esc, c, sizeof(short_esc) - 1)) != NULL)
			*o++ = letter[at - short_esc];
		else
		{
			memcpy(o, "u00", 3);
			o[3] = hex[c >> 4];
			o[4] = hex[c & 15];
			o += 5;
		}
	}
	*o++ = '"';
	return o;
}

void
lk_json_put_string(lk_buf *b, lk_str s)
{
	lk_buf_end(b, lk_json_write_string(lk_buf_room(b, LK_JSON_STRING_MAX(s.len)), s));
}
