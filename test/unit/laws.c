/*
 * laws.c — the laws of laws.h, for whichever type L names.
 */
#include "laws.h"

#include <stdio.h>

#include "bare_state.h"

const crdt_ops *L;

/* ---- helpers ---- */

void *
st_new(void)
{
	void	   *s = lk_malloc(T, bare_size(L->kind));

	bare_init(L->kind, s);
	return s;
}

lk_buf
st_bin(const void *s)
{
	lk_buf		b = lk_tbuf();
	lk_buf		again = lk_tbuf();
	lk_error	err;
	void	   *back = st_new();

	CHECK_OK(bare_encode(L->kind, s, &b, &err), &err);
	CHECK_OK(bare_decode(L->kind, b.data, b.len, T, back, &err), &err);
	CHECK_OK(bare_encode(L->kind, back, &again, &err), &err);
	CHECK_BUF(again, b);
	return b;
}

lk_buf
st_json(const void *s)
{
	lk_buf		b = lk_tbuf();

	bare_to_json(L->kind, s, &b);
	return b;
}

void *
st_merge(const void *a, const void *b)
{
	void	   *m = st_new();
	lk_error	err;

	CHECK_OK(bare_merge(L->kind, a, b, T, m, &err), &err);
	return m;
}

void *
st_delta(const void *old, const void *newer)
{
	void	   *d = st_new();
	lk_error	err;

	CHECK_OK(bare_delta(L->kind, old, newer, T, d, &err), &err);
	return d;
}

bool
st_leq(const void *a, const void *b)
{
	bool		leq = false;
	lk_error	err;

	CHECK_OK(bare_leq(L->kind, a, b, T, &leq, &err), &err);
	return leq;
}

bool
st_same(const void *a, const void *b)
{
	lk_buf		x = st_bin(a),
				y = st_bin(b);

	return x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
}

void
check_same(const char *file, int line, const char *what, const void *a, const void *b)
{
	lk_buf		ja,
				jb;

	lk_check_count();
	if (st_same(a, b))
		return;
	ja = st_json(a);
	jb = st_json(b);
	lk_check_fail(file, line, "%s: states differ\n    got:  %s\n    want: %s", what,
				  lk_show(ja.data, ja.len), lk_show(jb.data, jb.len));
}

static void *
gen(lk_rng *r, const gen_universe *u)
{
	void	   *s = st_new();

	L->gen(r, u, s);
	return s;
}

/* ---- the lattice ---- */

void
law_merge_commutative(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		void	   *a,
				   *b;

		gen_universe_make(&r, &u);
		a = gen(&r, &u);
		b = gen(&r, &u);
		/* equal states, built in two orders, have byte-equal encodings */
		CHECK_SAME(st_merge(a, b), st_merge(b, a));
	}
}

void
law_merge_associative(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		void	   *a,
				   *b,
				   *c;

		gen_universe_make(&r, &u);
		a = gen(&r, &u);
		b = gen(&r, &u);
		c = gen(&r, &u);
		CHECK_SAME(st_merge(st_merge(a, b), c), st_merge(a, st_merge(b, c)));
	}
}

void
law_merge_idempotent(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		void	   *a,
				   *b,
				   *m;

		gen_universe_make(&r, &u);
		a = gen(&r, &u);
		b = gen(&r, &u);
		CHECK_SAME(st_merge(a, a), a);
		m = st_merge(a, b);
		CHECK_SAME(st_merge(m, b), m);
		CHECK_SAME(st_merge(a, m), m);
	}
}

void
law_merge_is_least_upper_bound(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		void	   *a,
				   *b,
				   *m,
				   *x,
				   *bottom = st_new();
		bool		ab,
					ba;

		gen_universe_make(&r, &u);
		a = gen(&r, &u);
		/* half the time b is above a, so both outcomes of leq are exercised */
		b = lk_rng_chance(&r, 1, 2) ? gen(&r, &u) : st_merge(a, gen(&r, &u));
		m = st_merge(a, b);
		CHECK(st_leq(a, m));
		CHECK(st_leq(b, m));
		CHECK(st_leq(a, a));
		CHECK(st_leq(bottom, a));
		CHECK_SAME(st_merge(a, bottom), a);
		CHECK_SAME(st_merge(bottom, a), a);
		/* the order is the one merge defines */
		ab = st_leq(a, b);
		ba = st_leq(b, a);
		CHECK_MSG(ab == st_same(m, b), "leq(a, b) = %d disagrees with merge(a, b) = b", ab);
		CHECK_MSG(ba == st_same(m, a), "leq(b, a) = %d disagrees with merge(a, b) = a", ba);
		if (ab && ba)
			CHECK_SAME(a, b);	/* antisymmetry */
		/* least: below every other upper bound */
		x = gen(&r, &u);
		CHECK(st_leq(m, st_merge(st_merge(x, b), a)));
		if (!st_leq(x, m))
			CHECK(!st_same(st_merge(m, x), m));
	}
}

void
law_operations_inflate(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		void	   *s,
				   *out = st_new(),
				   *d = st_new();
		lk_buf		before;
		lk_str		node;
		lk_error	err;
		lk_code		rc;

		gen_universe_make(&r, &u);
		s = gen(&r, &u);
		node = u.nodes[lk_rng_below(&r, (uint64_t) u.nn)];
		before = st_bin(s);
		rc = L->op(&r, &u, s, node, out, d, &err);
		if (rc != LK_OK)
		{
			/* only overflow may refuse an operation, and then nothing changes */
			CHECK_MSG(rc == LK_ERR_RANGE, "operation failed with %s: %s (%s)",
					  lk_code_name(rc), err.msg, err.detail);
			CHECK(err.msg[0] != '\0' && err.detail[0] != '\0');
			{
				lk_buf		after = st_bin(s);

				CHECK_BUF(after, before);
			}
			continue;
		}
		CHECK(st_leq(s, out));
		CHECK_SAME(st_merge(s, d), out);
		CHECK(st_leq(d, out));
		/* the input of an operation is not modified */
		{
			lk_buf		after = st_bin(s);

			CHECK_BUF(after, before);
		}
	}
}

void
law_delta_reproduces_merge(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		void	   *old,
				   *nw,
				   *d,
				   *m,
				   *bottom = st_new();
		lk_buf		bottom_bin = st_bin(bottom);
		lk_error	err;

		gen_universe_make(&r, &u);
		old = gen(&r, &u);
		switch (lk_rng_below(&r, 4))
		{
			case 0:
				nw = gen(&r, &u);	/* unrelated: concurrent histories */
				break;
			case 1:
				nw = st_merge(old, gen(&r, &u));	/* newer: old plus more */
				break;
			case 2:
				{
					/* old after a few of its replicas' operations */
					int			n = 1 + (int) lk_rng_below(&r, 4);

					nw = old;
					for (int i = 0; i < n; i++)
					{
						void	   *out = st_new(),
								   *od = st_new();

						if (L->op(&r, &u, nw, u.nodes[lk_rng_below(&r, (uint64_t) u.nn)],
								  out, od, &err) == LK_OK)
							nw = out;
					}
					break;
				}
			default:
				nw = st_merge(gen(&r, &u), gen(&r, &u));
				break;
		}
		d = st_delta(old, nw);
		m = st_merge(old, nw);

		CHECK_SAME(st_merge(old, d), m);
		CHECK(st_leq(d, m));
		/* a delta depends only on what newer adds to old */
		CHECK_SAME(st_delta(old, m), d);
		/* nothing new, nothing to send */
		{
			lk_buf		self = st_bin(st_delta(old, old));

			CHECK_BUF(self, bottom_bin);
		}
		if (st_leq(nw, old))
		{
			lk_buf		db = st_bin(d);

			CHECK_BUF(db, bottom_bin);
		}
		/* from nothing, the delta is the whole state */
		CHECK_SAME(st_delta(bottom, nw), nw);
	}
}

#define SIM_REPLICAS	4
#define SIM_MSGS		512

typedef struct sim_msg
{
	int			to;
	void	   *d;
} sim_msg;

static void
sim_send(sim_msg *q, int *nq, int from, int nrep, void *d)
{
	for (int to = 0; to < nrep; to++)
	{
		if (to == from || *nq >= SIM_MSGS)
			continue;
		q[*nq].to = to;
		q[*nq].d = d;
		(*nq)++;
	}
}

void
law_deltas_converge_in_any_order_with_duplicates(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		int			nrep,
					nq = 0,
					steps;
		void	   *s[SIM_REPLICAS],
				   *sent[SIM_REPLICAS],
				   *all;
		sim_msg    *q = lk_malloc(T, sizeof(sim_msg) * SIM_MSGS);
		lk_error	err;

		gen_universe_make(&r, &u);
		nrep = 1 + (int) lk_rng_below(&r, SIM_REPLICAS);
		if (nrep > u.nn)
			nrep = u.nn;
		/* replica i writes as node u.nodes[i]: one writer per node id */
		for (int i = 0; i < nrep; i++)
			s[i] = sent[i] = st_new();
		steps = 5 + (int) lk_rng_below(&r, 30);
		for (int step = 0; step < steps; step++)
		{
			int			i = (int) lk_rng_below(&r, (uint64_t) nrep);
			uint64_t	what = lk_rng_below(&r, 10);

			if (what < 5)
			{
				void	   *out = st_new(),
						   *d = st_new();

				if (L->op(&r, &u, s[i], u.nodes[i], out, d, &err) != LK_OK)
					continue;
				s[i] = out;
				/* ship the operation's delta now, or leave it to an interval delta */
				if (lk_rng_chance(&r, 1, 2))
					sim_send(q, &nq, i, nrep, d);
			}
			else if (what < 7)
			{
				/* a delta interval: everything since the last one */
				sim_send(q, &nq, i, nrep, st_delta(sent[i], s[i]));
				sent[i] = s[i];
			}
			else if (what < 9 && nq > 0)
			{
				int			k = (int) lk_rng_below(&r, (uint64_t) nq);

				s[q[k].to] = st_merge(s[q[k].to], q[k].d);
				/* a third of deliveries are duplicated later */
				if (!lk_rng_chance(&r, 1, 3))
					q[k] = q[--nq];
			}
			else
			{
				/* state-based anti-entropy between two replicas */
				int			j = (int) lk_rng_below(&r, (uint64_t) nrep);

				s[i] = st_merge(s[i], s[j]);
			}
		}
		for (int i = 0; i < nrep; i++)
			sim_send(q, &nq, i, nrep, st_delta(sent[i], s[i]));
		CHECK(nq < SIM_MSGS);

		all = st_new();
		for (int i = 0; i < nrep; i++)
			all = st_merge(all, s[i]);

		/* deliver everything, shuffled, some twice */
		{
			int			n = nq;

			for (int k = 0; k < n && nq < SIM_MSGS; k++)
				if (lk_rng_chance(&r, 1, 3))
					q[nq++] = q[k];
			lk_rng_shuffle(&r, q, (size_t) nq, sizeof(sim_msg));
			for (int k = 0; k < nq; k++)
				s[q[k].to] = st_merge(s[q[k].to], q[k].d);
		}
		for (int i = 0; i < nrep; i++)
			CHECK_SAME(s[i], all);
	}
}

/* ---- codecs ---- */

void
law_text_round_trip_is_identity(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		void	   *s,
				   *back = st_new();
		lk_buf		j,
					j2,
					b,
					b2;
		lk_error	err;

		gen_universe_make(&r, &u);
		s = gen(&r, &u);
		j = st_json(s);
		CHECK_OK(bare_parse(L->kind, (const char *) j.data, j.len, T, back, &err), &err);
		j2 = st_json(back);
		CHECK_BUF(j2, j);
		b = st_bin(s);
		b2 = st_bin(back);
		CHECK_BUF(b2, b);
	}
}

void
law_binary_round_trip_is_identity(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		void	   *s,
				   *back = st_new();
		lk_buf		b,
					b2,
					j,
					j2;
		lk_error	err;

		gen_universe_make(&r, &u);
		s = gen(&r, &u);
		b = lk_tbuf();
		CHECK_OK(bare_encode(L->kind, s, &b, &err), &err);
		CHECK_OK(bare_decode(L->kind, b.data, b.len, T, back, &err), &err);
		b2 = lk_tbuf();
		CHECK_OK(bare_encode(L->kind, back, &b2, &err), &err);
		CHECK_BUF(b2, b);
		j = st_json(s);
		j2 = st_json(back);
		CHECK_BUF(j2, j);

		/* every proper prefix is truncated, and a trailing byte is too much */
		if (lk_rng_chance(&r, 1, 4))
		{
			for (size_t n = 0; n < b.len; n++)
			{
				uint8_t    *cut = lk_arena_dup(b.data, n);

				CHECK_RC(bare_decode(L->kind, cut, n, T, st_new(), &err), LK_ERR_BINARY);
			}
		}
		lk_buf_put_u8(&b, 0);
		CHECK_RC(bare_decode(L->kind, b.data, b.len, T, back, &err), LK_ERR_BINARY);
		CHECK_STR(err.detail, "Trailing bytes follow the value.");
	}
}

void
law_reference_codec_agrees(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_buf		json = lk_tbuf(),
					bin = lk_tbuf(),
					loose = lk_tbuf(),
					b,
					j;
		void	   *s = st_new(),
				   *p = st_new();
		lk_error	err;

		gen_universe_make(&r, &u);
		L->ref(&r, &u, &json, &bin, &loose, 1);
		CHECK_OK(bare_decode(L->kind, bin.data, bin.len, T, s, &err), &err);
		b = st_bin(s);
		CHECK_BUF(b, bin);
		j = st_json(s);
		CHECK_BUF(j, json);
		CHECK_OK(bare_parse(L->kind, (const char *) json.data, json.len, T, p, &err), &err);
		b = st_bin(p);
		CHECK_BUF(b, bin);
	}
}

void
law_shuffled_json_parses_to_canonical_bytes(void)
{
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_buf		json = lk_tbuf(),
					bin = lk_tbuf(),
					loose[3];
		lk_error	err;

		for (int i = 0; i < 3; i++)
			loose[i] = lk_tbuf();
		gen_universe_make(&r, &u);
		L->ref(&r, &u, &json, &bin, loose, 3);
		for (int i = 0; i < 3; i++)
		{
			void	   *p = st_new();
			lk_buf		b,
						j;

			lk_code		rc = bare_parse(L->kind, (const char *) loose[i].data, loose[i].len,
										T, p, &err);

			CHECK_MSG(rc == LK_OK, "parse of %s failed: %s (%s)",
					  lk_show(loose[i].data, loose[i].len), err.msg, err.detail);
			b = st_bin(p);
			CHECK_BUF(b, bin);
			j = st_json(p);
			CHECK_BUF(j, json);
		}
	}
}

void
law_mutate(lk_rng *r, lk_buf *b, const char *alphabet, size_t nalpha)
{
	int			n = 1 + (int) lk_rng_below(r, 3);

	for (int i = 0; i < n; i++)
	{
		size_t		at = b->len ? (size_t) lk_rng_below(r, b->len) : 0;
		uint8_t		c = lk_rng_chance(r, 1, 2) ? (uint8_t) alphabet[lk_rng_below(r, nalpha)] :
			(uint8_t) lk_rng_u64(r);

		switch (lk_rng_below(r, 6))
		{
			case 0:				/* replace a byte */
				if (b->len)
					b->data[at] = c;
				break;
			case 1:				/* flip a bit */
				if (b->len)
					b->data[at] ^= (uint8_t) (1u << lk_rng_below(r, 8));
				break;
			case 2:				/* insert a byte */
				lk_buf_reserve(b, 1);
				memmove(b->data + at + 1, b->data + at, b->len - at);
				b->data[at] = c;
				b->len++;
				break;
			case 3:				/* delete a byte */
				if (b->len)
				{
					memmove(b->data + at, b->data + at + 1, b->len - at - 1);
					b->len--;
				}
				break;
			case 4:				/* truncate */
				b->len = at;
				break;
			default:			/* repeat a slice */
				{
					size_t		len = (size_t) lk_rng_below(r, b->len - at + 1);

					lk_buf_reserve(b, len);
					memmove(b->data + at + len, b->data + at, b->len - at);
					b->len += len;
				}
				break;
		}
	}
}

void
law_mutated_binary_is_rejected_or_canonical(void)
{
	static const char special[] = {0x00, 0x01, 0x02, 0x7f, (char) 0x80, (char) 0xff,
		0x11, 0x12, 0x13, (char) 0xc2, 0x0a};
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_buf		b;
		uint8_t    *exact;
		void	   *s = st_new();
		lk_error	err;
		lk_code		rc;
		size_t		live;

		gen_universe_make(&r, &u);
		b = st_bin(gen(&r, &u));
		law_mutate(&r, &b, special, sizeof(special));
		/* a copy of exactly the mutated length: ASan catches any overread */
		exact = lk_arena_dup(b.data, b.len);
		live = lk_arena_live();
		rc = bare_decode(L->kind, exact, b.len, T, s, &err);
		if (rc == LK_OK)
		{
			/* the decoder accepts only canonical encodings */
			lk_buf		again = st_bin(s);

			CHECK_BYTES(again.data, again.len, exact, b.len);
		}
		else
		{
			CHECK_MSG(rc == LK_ERR_BINARY || rc == LK_ERR_LIMIT,
					  "decode failed with %s", lk_code_name(rc));
			CHECK(err.msg[0] != '\0' && err.detail[0] != '\0');
			CHECK(lk_utf8_valid(err.detail, strlen(err.detail)));
			/* a rejected value leaves nothing allocated */
			CHECK(lk_arena_live() == live);
		}
	}
}

void
law_mutated_text_is_rejected_or_canonical(void)
{
	static const char tokens[] = "{}[],:\"\\/ 019-+.eEunc\x01\n\x7f\xff\xc3";
	lk_rng		r;

	for (FOR_EACH_CASE(r))
	{
		gen_universe u;
		lk_buf		j;
		char	   *exact;
		void	   *s = st_new();
		lk_error	err;
		lk_code		rc;

		gen_universe_make(&r, &u);
		j = st_json(gen(&r, &u));
		law_mutate(&r, &j, tokens, sizeof(tokens) - 1);
		exact = lk_arena_dup(j.data, j.len);
		rc = bare_parse(L->kind, exact, j.len, T, s, &err);
		if (rc == LK_OK)
		{
			/* whatever parses is normalized: its text parses to the same bytes */
			lk_buf		t = st_json(s);
			void	   *again = st_new();

			CHECK_OK(bare_parse(L->kind, (const char *) t.data, t.len, T, again, &err), &err);
			CHECK_SAME(again, s);
		}
		else
		{
			CHECK_MSG(rc == LK_ERR_SYNTAX || rc == LK_ERR_RANGE || rc == LK_ERR_LIMIT ||
					  rc == LK_ERR_VALUE, "parse failed with %s", lk_code_name(rc));
			CHECK(err.msg[0] != '\0' && err.detail[0] != '\0');
			/* details quote ids and elements whole, however long: valid UTF-8 */
			CHECK_MSG(lk_utf8_valid(err.detail, strlen(err.detail)),
					  "error detail is not valid UTF-8: %s", err.detail);
			/* malformed input names the position; a duplicate names the key */
			if (rc == LK_ERR_SYNTAX || rc == LK_ERR_RANGE)
				CHECK_MSG(strstr(err.detail, " at position ") ||
						  strstr(err.detail, "appears more than once"),
						  "error detail names no position: %s", err.detail);
		}
	}
}
