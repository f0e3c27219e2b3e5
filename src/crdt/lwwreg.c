/*
 * lwwreg.c — the last-writer-wins register (see lwwreg.h for the model and
 * the encoding).
 */
#include "lwwreg.h"

#include <stdio.h>

#include "lk_format.h"
#include "lk_json.h"
#include "lk_limits.h"

static const char *const type_name = "lwwreg";

void
lk_lwwreg_init(lk_lwwreg *r)
{
	memset(r, 0, sizeof(*r));
}

void
lk_lwwreg_free(const lk_alloc *a, lk_lwwreg *r)
{
	(void) a;
	lk_lwwreg_init(r);
}

/* ---- binary ---- */

static lk_code
bad(lk_lwwreg *r, lk_error *err, const char *detail)
{
	lk_lwwreg_init(r);
	return lk_binary_error(err, type_name, detail);
}

lk_code
lk_lwwreg_decode(const uint8_t *buf, size_t len, const lk_alloc *a, lk_lwwreg *out,
				 lk_error *err)
{
	lk_reader	r = {buf, buf + len};
	uint8_t		tag,
				nlen;
	uint64_t	clock,
				vlen;
	const uint8_t *p;
	lk_error	str_err;
	lk_code		rc;

	(void) a;
	lk_lwwreg_init(out);
	if ((rc = lk_format_open(&r, LK_LWWREG, type_name, err)) != LK_OK)
		return rc;
	if (!lk_read_u8(&r, &tag))
		return bad(out, err, "The register's tag is missing.");
	if (tag > 1)
		return bad(out, err, "The register's tag is neither 0 (empty) nor 1 (a write).");
	if (tag == 1)
	{
		if (!lk_read_varint(&r, &clock) || clock > (uint64_t) LK_CLOCK_MAX)
			return bad(out, err, "The clock is truncated, malformed or out of range.");
		if (!lk_read_u8(&r, &nlen) || nlen == 0 || !lk_read_bytes(&r, nlen, &p))
			return bad(out, err, "A node id is empty or truncated.");
		out->node = lk_str_make((const char *) p, nlen);
		if (lk_node_id_check(out->node, &str_err) != LK_OK)
			return bad(out, err, "A node id is not valid UTF-8 or has a control character.");
		if (!lk_read_varint(&r, &vlen) || vlen > LK_VALUE_MAX ||
			!lk_read_bytes(&r, (size_t) vlen, &p))
			return bad(out, err, "The register's value is truncated or too long.");
		out->value = lk_str_make((const char *) p, (size_t) vlen);
		if (lk_value_check(out->value, &str_err) != LK_OK)
			return bad(out, err, "The register's value is not valid UTF-8 or holds a NUL.");
		out->clock = (int64_t) clock;
		out->present = true;
	}
	if (r.p != r.end)
		return bad(out, err, "Trailing bytes follow the value.");
	return LK_OK;
}

lk_code
lk_lwwreg_encode(const lk_lwwreg *r, lk_buf *b, lk_error *err)
{
	size_t		start = b->len;

	lk_buf_put_u8(b, lk_format_byte(LK_LWWREG));
	if (!r->present)
	{
		lk_buf_put_u8(b, 0);
		return LK_OK;
	}
	lk_buf_reserve(b, 1 + 10 + 1 + r->node.len + 5 + r->value.len);
	lk_buf_put_u8(b, 1);
	lk_buf_put_varint(b, (uint64_t) r->clock);
	lk_buf_put_u8(b, (uint8_t) r->node.len);
	lk_buf_put(b, r->node.p, r->node.len);
	lk_buf_put_varint(b, r->value.len);
	lk_buf_put(b, r->value.p, r->value.len);
	return lk_check_state_size(b->len - start, type_name, err);
}

/* ---- text ---- */

void
lk_lwwreg_to_json(const lk_lwwreg *r, lk_buf *b)
{
	if (!r->present)
	{
		lk_buf_put_lit(b, "{}");
		return;
	}
	lk_buf_put_lit(b, "{\"c\":");
	lk_buf_put_int(b, r->clock);
	lk_buf_put_lit(b, ",\"n\":");
	lk_json_put_string(b, r->node);
	lk_buf_put_lit(b, ",\"v\":");
	lk_json_put_string(b, r->value);
	lk_buf_put_u8(b, '}');
}

/* Where the next token starts: the position a member's value is reported at. */
static const char *
token_start(const lk_json *j)
{
	const char *p = j->p;

	while (p < j->end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

static lk_code
parse_member(lk_json *j, char key, lk_lwwreg *out)
{
	const char *at = token_start(j);
	lk_error	str_err;
	uint64_t	clock;
	lk_code		rc;

	switch (key)
	{
		case 'c':
			if ((rc = lk_json_uint(j, "clock", &clock)) != LK_OK)
				return rc;
			out->clock = (int64_t) clock;
			return LK_OK;
		case 'n':
			if ((rc = lk_json_string(j, &out->node)) != LK_OK)
				return rc;
			if (lk_node_id_check(out->node, &str_err) != LK_OK)
				return lk_json_invalid(j, at, "node id", str_err.msg);
			return LK_OK;
		default:
			if ((rc = lk_json_string(j, &out->value)) != LK_OK)
				return rc;
			if ((rc = lk_value_check(out->value, &str_err)) != LK_OK)
			{
				if (rc == LK_ERR_LIMIT)
					return lk_fail(j->err, rc, str_err.msg, "%s", str_err.detail);
				return lk_json_invalid(j, at, "value", str_err.msg);
			}
			return LK_OK;
	}
}

lk_code
lk_lwwreg_parse(const char *s, size_t len, const lk_alloc *a, lk_lwwreg *out, lk_error *err)
{
	static const char keys[] = "cnv";
	lk_json		j;
	lk_json_iter it;
	const char *start;
	bool		seen[3] = {false, false, false};
	bool		more;
	lk_code		rc;
	int			nseen = 0;

	lk_lwwreg_init(out);
	lk_json_init(&j, s, len, a, err);
	start = token_start(&j);
	if ((rc = lk_json_object(&j, &it)) != LK_OK)
		return rc;
	for (;;)
	{
		lk_str		key;
		const char *k;

		if ((rc = lk_json_next_key(&j, &it, &more, &key)) != LK_OK)
			goto fail;
		if (!more)
			break;
		k = key.len == 1 ? memchr(keys, key.p[0], 3) : NULL;
		if (k == NULL)
		{
			rc = lk_json_invalid(&j, j.key_at, "key",
								 "the only keys of an lwwreg are \"c\", \"n\" and \"v\"");
			goto fail;
		}
		if (seen[k - keys])
		{
			rc = lk_json_invalid(&j, j.key_at, "key", "duplicate key");
			goto fail;
		}
		seen[k - keys] = true;
		nseen++;
		if ((rc = parse_member(&j, *k, out)) != LK_OK)
			goto fail;
	}
	if (nseen != 0 && nseen != 3)
	{
		char		reason[96];

		snprintf(reason, sizeof(reason),
				 "\"%c\" is missing; a register has all of \"c\", \"n\" and \"v\", or none",
				 keys[!seen[0] ? 0 : !seen[1] ? 1 : 2]);
		rc = lk_json_invalid(&j, start, "register", reason);
		goto fail;
	}
	if ((rc = lk_json_finish(&j)) != LK_OK)
		goto fail;
	out->present = nseen == 3;
	return LK_OK;
fail:
	lk_lwwreg_init(out);
	return rc;
}

/* ---- the lattice ---- */

int
lk_lwwreg_cmp(const lk_lwwreg *a, const lk_lwwreg *b)
{
	int			c;

	if (!a->present || !b->present)
		return (int) a->present - (int) b->present;
	if (a->clock != b->clock)
		return a->clock < b->clock ? -1 : 1;
	if ((c = lk_str_cmp(a->node, b->node)) != 0)
		return c < 0 ? -1 : 1;
	c = lk_str_cmp(a->value, b->value);
	return (c > 0) - (c < 0);
}

void
lk_lwwreg_merge(const lk_lwwreg *a, const lk_lwwreg *b, lk_lwwreg *out)
{
	*out = lk_lwwreg_cmp(a, b) >= 0 ? *a : *b;
}

void
lk_lwwreg_delta(const lk_lwwreg *old, const lk_lwwreg *newer, lk_lwwreg *out)
{
	if (lk_lwwreg_cmp(newer, old) > 0)
		*out = *newer;
	else
		lk_lwwreg_init(out);
}

bool
lk_lwwreg_leq(const lk_lwwreg *a, const lk_lwwreg *b)
{
	return lk_lwwreg_cmp(a, b) <= 0;
}

/* ---- operations ---- */

static lk_code
clock_at_max(lk_error *err)
{
	return lk_fail(err, LK_ERR_RANGE, "lwwreg clock out of range",
				   "The register's clock is already 9223372036854775807, the greatest.");
}

lk_code
lk_lwwreg_set(const lk_lwwreg *r, lk_str value, lk_str node, int64_t clock, lk_lwwreg *out,
			  lk_error *err)
{
	lk_code		rc;

	if ((rc = lk_value_check(value, err)) != LK_OK || (rc = lk_node_id_check(node, err)) != LK_OK)
		return rc;
	if (clock < 0)
		return lk_fail(err, LK_ERR_RANGE, "lwwreg clock out of range",
					   "The clock was %lld; a clock counts microseconds since 1970 and is not negative.",
					   (long long) clock);
	if (r->present && r->clock >= clock)
	{
		if (r->clock == LK_CLOCK_MAX)
			return clock_at_max(err);
		clock = r->clock + 1;
	}
	out->present = true;
	out->clock = clock;
	out->node = node;
	out->value = value;
	return LK_OK;
}

lk_code
lk_lwwreg_check_clock(const lk_lwwreg *r, int64_t now_us, int64_t max_ahead_us, lk_error *err)
{
	/* now_us + max_ahead_us, saturated: both may come from a host's arithmetic */
	int64_t		limit = max_ahead_us > 0 && now_us > LK_CLOCK_MAX - max_ahead_us ?
		LK_CLOCK_MAX : now_us + max_ahead_us;

	if (!r->present || r->clock <= limit)
		return LK_OK;
	return lk_fail(err, LK_ERR_RANGE, "lwwreg clock is too far in the future",
				   "The clock %lld is more than %lld seconds ahead of the wall clock.",
				   (long long) r->clock, (long long) (max_ahead_us / 1000000));
}

lk_code
lk_hlc_next(lk_hlc *h, const lk_lwwreg *r, int64_t wall_us, int64_t *clock, lk_error *err)
{
	int64_t		own,
				c;

	if (wall_us < 0)
		return lk_fail(err, LK_ERR_RANGE, "lwwreg clock out of range",
					   "The wall clock reads %lld, before 1970.", (long long) wall_us);
	own = wall_us;
	if (h->last >= own)
	{
		if (h->last == LK_CLOCK_MAX)
			return lk_fail(err, LK_ERR_RANGE, "lwwreg clock out of range",
						   "This writer's clock is already 9223372036854775807, the greatest.");
		own = h->last + 1;
	}
	c = own;
	if (r->present && r->clock >= c)
	{
		if (r->clock == LK_CLOCK_MAX)
			return clock_at_max(err);
		c = r->clock + 1;
	}
	h->last = c - wall_us <= LK_LWWREG_MAX_AHEAD_US ? c : own;
	*clock = c;
	return LK_OK;
}
