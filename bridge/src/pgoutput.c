/*
 * pgoutput.c — pgoutput's protocol version 1, parsed (pgoutput.h).
 *
 * Layouts from PostgreSQL's "Logical Replication Message Formats"; every
 * integer is in network byte order.
 */
#include "pgoutput.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

typedef struct reader
{
	const uint8_t *p;
	const uint8_t *end;
	bool		bad;
} reader;

static bool
need(reader *r, size_t n)
{
	if (r->bad || (size_t) (r->end - r->p) < n)
	{
		r->bad = true;
		return false;
	}
	return true;
}

static uint8_t
u8(reader *r)
{
	if (!need(r, 1))
		return 0;
	return *r->p++;
}

static uint32_t
u32(reader *r)
{
	uint32_t	v;

	if (!need(r, 4))
		return 0;
	v = (uint32_t) r->p[0] << 24 | (uint32_t) r->p[1] << 16 | (uint32_t) r->p[2] << 8 | r->p[3];
	r->p += 4;
	return v;
}

static uint16_t
u16(reader *r)
{
	uint16_t	v;

	if (!need(r, 2))
		return 0;
	v = (uint16_t) (r->p[0] << 8 | r->p[1]);
	r->p += 2;
	return v;
}

static uint64_t
u64(reader *r)
{
	uint64_t	hi = u32(r);

	return hi << 32 | u32(r);
}

/* A NUL-terminated string inside the message. */
static const char *
str(reader *r)
{
	const uint8_t *nul;
	const char *s;

	if (r->bad)
		return "";
	nul = memchr(r->p, '\0', (size_t) (r->end - r->p));
	if (!nul)
	{
		r->bad = true;
		return "";
	}
	s = (const char *) r->p;
	r->p = nul + 1;
	return s;
}

static const char *
tuple(reader *r, const lk_alloc *a, pgo_tuple *t)
{
	t->ncols = u16(r);
	if (r->bad)
		return "truncated tuple";
	/* each column takes at least its kind byte: a count past the buffer is a lie */
	if ((size_t) t->ncols > (size_t) (r->end - r->p))
		return "tuple column count past the message";
	t->vals = lk_malloc(a, sizeof(pgo_value) * (size_t) (t->ncols ? t->ncols : 1));
	for (int i = 0; i < t->ncols; i++)
	{
		pgo_value  *v = &t->vals[i];

		v->kind = (char) u8(r);
		v->data = NULL;
		v->len = 0;
		switch (v->kind)
		{
			case 'n':
			case 'u':
				break;
			case 't':
				v->len = u32(r);
				if (!need(r, v->len))
					return "tuple value past the message";
				v->data = (const char *) r->p;
				r->p += v->len;
				break;
			default:
				return r->bad ? "truncated tuple" : "unknown tuple value kind (binary needs another protocol option)";
		}
	}
	return r->bad ? "truncated tuple" : NULL;
}

const char *
pgo_parse(const uint8_t *buf, size_t len, const lk_alloc *a, pgo_msg *m)
{
	reader		r = {buf, buf + len, false};
	const char *why = NULL;

	memset(m, 0, sizeof(*m));
	m->kind = (char) u8(&r);
	switch (m->kind)
	{
		case 'B':
			m->lsn = u64(&r);
			m->ts = (int64_t) u64(&r);
			m->xid = u32(&r);
			break;
		case 'C':
			u8(&r);				/* flags, unused */
			u64(&r);			/* the commit's LSN */
			m->lsn = u64(&r);
			m->ts = (int64_t) u64(&r);
			break;
		case 'O':
			m->lsn = u64(&r);
			m->relname = str(&r);
			break;
		case 'Y':
			m->relid = u32(&r);
			m->nspname = str(&r);
			m->relname = str(&r);
			break;
		case 'R':
			m->relid = u32(&r);
			m->nspname = str(&r);
			m->relname = str(&r);
			m->identity = (char) u8(&r);
			m->ncols = u16(&r);
			if (r.bad)
				break;
			/* a column takes at least 10 bytes */
			if ((size_t) m->ncols * 10 > (size_t) (r.end - r.p))
				return "relation column count past the message";
			m->cols = lk_malloc(a, sizeof(pgo_column) * (size_t) (m->ncols ? m->ncols : 1));
			for (int i = 0; i < m->ncols; i++)
			{
				m->cols[i].key = (u8(&r) & 1) != 0;
				m->cols[i].name = str(&r);
				m->cols[i].type = u32(&r);
				u32(&r);		/* typmod */
			}
			break;
		case 'I':
			m->relid = u32(&r);
			if (u8(&r) != 'N' && !r.bad)
				return "insert without a new tuple";
			why = tuple(&r, a, &m->new);
			break;
		case 'U':
			{
				char		k;

				m->relid = u32(&r);
				k = (char) u8(&r);
				if (k == 'K' || k == 'O')
				{
					m->old_kind = k;
					if ((why = tuple(&r, a, &m->old)) != NULL)
						return why;
					k = (char) u8(&r);
				}
				if (k != 'N' && !r.bad)
					return "update without a new tuple";
				why = tuple(&r, a, &m->new);
				break;
			}
		case 'D':
			m->relid = u32(&r);
			m->old_kind = (char) u8(&r);
			if (m->old_kind != 'K' && m->old_kind != 'O' && !r.bad)
				return "delete without an old tuple";
			why = tuple(&r, a, &m->old);
			break;
		case 'T':
			m->nrels = (int) u32(&r);
			m->truncate_options = u8(&r);
			if (r.bad)
				break;
			if (m->nrels < 0 || (size_t) m->nrels > (size_t) (r.end - r.p) / 4)
				return "truncate relation count past the message";
			m->relids = lk_malloc(a, sizeof(uint32_t) * (size_t) (m->nrels ? m->nrels : 1));
			for (int i = 0; i < m->nrels; i++)
				m->relids[i] = u32(&r);
			break;
		default:
			return "unknown pgoutput message";
	}
	if (why)
		return why;
	return r.bad ? "truncated pgoutput message" : NULL;
}

const char *
pgo_parse_copy(const uint8_t *buf, size_t len, pgo_copy *c)
{
	reader		r = {buf, buf + len, false};

	memset(c, 0, sizeof(*c));
	c->kind = (char) u8(&r);
	switch (c->kind)
	{
		case 'w':
			c->start = u64(&r);
			c->wal_end = u64(&r);
			c->send_time = (int64_t) u64(&r);
			if (r.bad)
				return "truncated XLogData";
			c->payload = r.p;
			c->payload_len = (size_t) (r.end - r.p);
			return NULL;
		case 'k':
			c->wal_end = u64(&r);
			c->send_time = (int64_t) u64(&r);
			c->reply_requested = u8(&r) != 0;
			return r.bad ? "truncated keepalive" : NULL;
		default:
			return "unknown replication message";
	}
}

static void
put64(uint8_t *p, uint64_t v)
{
	for (int i = 7; i >= 0; i--)
	{
		p[i] = (uint8_t) v;
		v >>= 8;
	}
}

void
pgo_status(uint8_t out[PGO_STATUS_LEN], uint64_t lsn, int64_t now_pg_us, bool reply)
{
	out[0] = 'r';
	put64(out + 1, lsn);		/* written */
	put64(out + 9, lsn);		/* flushed: what the slot may let go of */
	put64(out + 17, lsn);		/* applied */
	put64(out + 25, (uint64_t) now_pg_us);
	out[33] = reply ? 1 : 0;
}

void
pgo_lsn_text(uint64_t lsn, char *out, size_t size)
{
	snprintf(out, size, "%" PRIX32 "/%" PRIX32, (uint32_t) (lsn >> 32), (uint32_t) lsn);
}

bool
pgo_lsn_parse(const char *text, uint64_t *out)
{
	unsigned int hi,
				lo;
	int			n = 0;

	if (!text || sscanf(text, "%X/%X%n", &hi, &lo, &n) != 2 || text[n] != '\0')
		return false;
	*out = (uint64_t) hi << 32 | lo;
	return true;
}
