/*
 * fuzz_pgoutput.c — libFuzzer target for the bridge's parser of the
 * replication stream (bridge/src/pgoutput.c).
 *
 * Each input is one CopyData message and, on its own, one pgoutput message,
 * each parsed from a heap copy of exactly its length (so ASan sees any read
 * past it).  Checked for what parses: every value, name and payload lies
 * inside the input, names end before its end, counts are what the arrays
 * hold; for what does not, a message saying why.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "pgoutput.h"

static void
inside(const uint8_t *buf, size_t len, const void *p, size_t n)
{
	const uint8_t *q = p;

	if (q < buf || q > buf + len || n > (size_t) (buf + len - q))
		abort();
}

static void
name_inside(const uint8_t *buf, size_t len, const char *s)
{
	if (!s)
		abort();
	if (*s == '\0' && ((const uint8_t *) s < buf || (const uint8_t *) s >= buf + len))
		return;					/* a literal "" for a field the message did not reach */
	inside(buf, len, s, strlen(s) + 1);
}

static void
tuple_inside(const uint8_t *buf, size_t len, const pgo_tuple *t)
{
	if (t->ncols < 0 || (t->ncols && !t->vals))
		abort();
	for (int i = 0; i < t->ncols; i++)
	{
		const pgo_value *v = &t->vals[i];

		if (v->kind == 't')
			inside(buf, len, v->data, v->len);
		else if (v->kind != 'n' && v->kind != 'u')
			abort();
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint8_t    *buf = malloc(size ? size : 1);
	pgo_copy	c;
	pgo_msg		m;
	arena	   *ar = arena_new();
	const char *why;

	memcpy(buf, data, size);
	why = pgo_parse_copy(buf, size, &c);
	if (!why && c.kind == 'w')
		inside(buf, size, c.payload, c.payload_len);
	else if (!why && c.kind != 'k')
		abort();

	why = pgo_parse(buf, size, arena_alloc(ar), &m);
	if (why)
	{
		if (!*why)
			abort();
	}
	else
	{
		switch (m.kind)
		{
			case 'R':
				name_inside(buf, size, m.nspname);
				name_inside(buf, size, m.relname);
				for (int i = 0; i < m.ncols; i++)
					name_inside(buf, size, m.cols[i].name);
				break;
			case 'Y':
				name_inside(buf, size, m.nspname);
				name_inside(buf, size, m.relname);
				break;
			case 'O':
				name_inside(buf, size, m.relname);
				break;
			case 'I':
			case 'U':
			case 'D':
				tuple_inside(buf, size, &m.old);
				tuple_inside(buf, size, &m.new);
				break;
			case 'T':
				if (m.nrels < 0 || (size_t) m.nrels * 4 > size)
					abort();
				break;
			case 'B':
			case 'C':
				break;
			default:
				abort();
		}
	}
	arena_free(ar);
	free(buf);
	return 0;
}
