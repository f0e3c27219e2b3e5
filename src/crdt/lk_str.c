/*
 * lk_str.c — UTF-8 validation and encoding, and the rules for node ids, orset
 * elements and lwwreg values.
 */
#include "lk_str.h"

#include <stdio.h>

#include "lk_limits.h"

bool
lk_utf8_valid(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;

	while (p < end)
	{
		unsigned char c = *p;

		if (c < 0x80)
		{
			p++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
		{
			if (end - p < 2 || (p[1] & 0xc0) != 0x80)
				return false;
			p += 2;
		}
		else if (c >= 0xe0 && c <= 0xef)
		{
			if (end - p < 3 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80)
				return false;
			if (c == 0xe0 && p[1] < 0xa0)
				return false;	/* overlong */
			if (c == 0xed && p[1] >= 0xa0)
				return false;	/* surrogate */
			p += 3;
		}
		else if (c >= 0xf0 && c <= 0xf4)
		{
			if (end - p < 4 || (p[1] & 0xc0) != 0x80 || (p[2] & 0xc0) != 0x80 ||
				(p[3] & 0xc0) != 0x80)
				return false;
			if (c == 0xf0 && p[1] < 0x90)
				return false;	/* overlong */
			if (c == 0xf4 && p[1] >= 0x90)
				return false;	/* beyond U+10FFFF */
			p += 4;
		}
		else
			return false;
	}
	return true;
}

size_t
lk_utf8_put(char *out, uint32_t cp)
{
	if (cp < 0x80)
	{
		out[0] = (char) cp;
		return 1;
	}
	if (cp < 0x800)
	{
		out[0] = (char) (0xc0 | (cp >> 6));
		out[1] = (char) (0x80 | (cp & 0x3f));
		return 2;
	}
	if (cp < 0x10000)
	{
		out[0] = (char) (0xe0 | (cp >> 12));
		out[1] = (char) (0x80 | ((cp >> 6) & 0x3f));
		out[2] = (char) (0x80 | (cp & 0x3f));
		return 3;
	}
	out[0] = (char) (0xf0 | (cp >> 18));
	out[1] = (char) (0x80 | ((cp >> 12) & 0x3f));
	out[2] = (char) (0x80 | ((cp >> 6) & 0x3f));
	out[3] = (char) (0x80 | (cp & 0x3f));
	return 4;
}

lk_code
lk_node_id_check(lk_str node, lk_error *err)
{
	const unsigned char *p = (const unsigned char *) node.p;

	if (node.len == 0)
		return lk_fail(err, LK_ERR_VALUE, "node id must not be empty", NULL);
	if (node.len > LK_NODE_ID_MAX)
		return lk_fail(err, LK_ERR_VALUE, "node id is too long",
					   "A node id has at most %d bytes; this one has %u.",
					   LK_NODE_ID_MAX, node.len);
	if (!lk_utf8_valid(node.p, node.len))
		return lk_fail(err, LK_ERR_VALUE, "node id is not valid UTF-8", NULL);
	for (uint32_t i = 0; i < node.len; i++)
	{
		/* C1 controls U+0080..U+009F are encoded as 0xC2 0x80..0x9F */
		if (p[i] < 0x20 || p[i] == 0x7f ||
			(p[i] == 0xc2 && i + 1 < node.len && p[i + 1] < 0xa0))
			return lk_fail(err, LK_ERR_VALUE, "node id contains a control character",
						   "Byte %u of the node id is a control character.", i);
	}
	return LK_OK;
}

/*
 * Text a state holds: what (the message's subject, "orset element") and
 * an_what (the detail's, "An element") name it in errors.
 */
static lk_code
text_check(lk_str s, uint32_t max, const char *what, const char *an_what, lk_error *err)
{
	char		msg[64];

	if (s.len > max)
	{
		snprintf(msg, sizeof(msg), "%s is too long", what);
		return lk_fail(err, LK_ERR_LIMIT, msg, "%s has at most %u bytes; this one has %u.",
					   an_what, max, s.len);
	}
	if (!lk_utf8_valid(s.p, s.len))
	{
		snprintf(msg, sizeof(msg), "%s is not valid UTF-8", what);
		return lk_fail(err, LK_ERR_VALUE, msg, NULL);
	}
	if (s.len && memchr(s.p, '\0', s.len))
	{
		snprintf(msg, sizeof(msg), "%s contains a NUL character", what);
		return lk_fail(err, LK_ERR_VALUE, msg, NULL);
	}
	return LK_OK;
}

lk_code
lk_element_check(lk_str elem, lk_error *err)
{
	return text_check(elem, LK_ELEMENT_MAX, "orset element", "An element", err);
}

lk_code
lk_value_check(lk_str value, lk_error *err)
{
	return text_check(value, LK_VALUE_MAX, "lwwreg value", "A value", err);
}

const char *
lk_int128_text(__int128 v, char buf[LK_INT128_TEXT])
{
	size_t		i = LK_INT128_TEXT - 1;
	unsigned __int128 u = v < 0 ? -(unsigned __int128) v : (unsigned __int128) v;

	/* digits from the end of buf backwards; the start moves as they come */
	buf[i] = '\0';
	do
	{
		buf[--i] = (char) ('0' + (int) (u % 10));
		u /= 10;
	} while (u);
	if (v < 0)
		buf[--i] = '-';
	return &buf[i];
}
