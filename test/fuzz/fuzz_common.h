/*
 * fuzz_common.h — what the CRDT types' libFuzzer targets share.
 *
 * Each target hands every input to its type's binary decoder and its text
 * parser.  Whatever either accepts must be canonical and round-trip:
 *
 *   decode(x) ok  =>  encode(decode(x)) == x, and its text parses back to it
 *   parse(x) ok   =>  decode(encode(s)) encodes identically, and
 *                     parse(to_json(s)) has the same encoding and text
 *
 * Rejections must leave nothing allocated (binary) and carry a message.
 * An input whose first byte k splits the rest into two binary values that
 * both decode also exercises the lattice: merge commutes and is idempotent,
 * merge(a, delta(a, b)) == merge(a, b), a <= merge(a, b).  On every state
 * accepted, an operation must inflate it and deltas to and from the result
 * must rebuild it.  Any violation prints what broke and aborts, which libFuzzer
 * reports as a crash.
 *
 * Memory comes from an arena that frees everything after each input, since
 * strings a parser decoded from escapes are owned by no state (see lk_json.h).
 */
#ifndef LK_FUZZ_COMMON_H
#define LK_FUZZ_COMMON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bare_state.h"
#include "lk_alloc.h"
#include "lk_buf.h"
#include "lk_error.h"

typedef struct fz_hdr
{
	struct fz_hdr *prev;
	struct fz_hdr *next;
	size_t		pad[2];			/* keep the payload 16-byte aligned */
} fz_hdr;

static fz_hdr fz_head = {&fz_head, &fz_head, {0, 0}};
static size_t fz_live;

static void *
fz_alloc(void *ctx, size_t size)
{
	fz_hdr	   *h = malloc(sizeof(fz_hdr) + size);

	(void) ctx;
	if (h == NULL)
		abort();
	h->next = &fz_head;
	h->prev = fz_head.prev;
	fz_head.prev->next = h;
	fz_head.prev = h;
	fz_live++;
	return h + 1;
}

static void
fz_free(void *ctx, void *ptr)
{
	fz_hdr	   *h = (fz_hdr *) ptr - 1;

	(void) ctx;
	h->prev->next = h->next;
	h->next->prev = h->prev;
	fz_live--;
	free(h);
}

static const lk_alloc fz_arena = {fz_alloc, fz_free, NULL};
static const lk_alloc *const A = &fz_arena;

static void
fz_reset(void)
{
	while (fz_head.next != &fz_head)
		fz_free(NULL, fz_head.next + 1);
}

static void
fz_die(const char *what, const uint8_t *x, size_t xn, const uint8_t *y, size_t yn)
{
	fprintf(stderr, "invariant violated: %s\n", what);
	if (x)
		fprintf(stderr, "  first:  (%zu) %.*s\n", xn, (int) xn, (const char *) x);
	if (y)
		fprintf(stderr, "  second: (%zu) %.*s\n", yn, (int) yn, (const char *) y);
	abort();
}

#define FZ_ASSERT(cond, what) \
	do { \
		if (!(cond)) \
			fz_die(what, NULL, 0, NULL, 0); \
	} while (0)

static void
fz_same(const char *what, const lk_buf *x, const lk_buf *y)
{
	if (x->len != y->len || (x->len && memcmp(x->data, y->data, x->len) != 0))
		fz_die(what, x->data, x->len, y->data, y->len);
}

static lk_buf
fz_buf(void)
{
	lk_buf		b;

	lk_buf_init(&b, A, 64);
	return b;
}

/*
 * What differs between the types: their kind, for lk_state's dispatch (see
 * bare_state.h), and an operation.  States are opaque blobs of the kind's
 * struct.
 */
typedef struct fz_ops
{
	lk_kind		kind;
	/* an operation on s; *out = s after it; errors allowed: rc reports them */
	lk_code		(*op) (const void *s, uint8_t choice, void *out, lk_error *err);
} fz_ops;

static void *
fz_state(const fz_ops *o)
{
	void	   *s = lk_malloc(A, bare_size(o->kind));

	bare_init(o->kind, s);
	return s;
}

static lk_buf
fz_encode(const fz_ops *o, const void *s, const char *what)
{
	lk_buf		b = fz_buf();
	lk_error	err;

	if (bare_encode(o->kind, s, &b, &err) != LK_OK)
		fz_die(what, (const uint8_t *) err.detail, strlen(err.detail), NULL, 0);
	return b;
}

static lk_buf
fz_text(const fz_ops *o, const void *s)
{
	lk_buf		b = fz_buf();

	bare_to_json(o->kind, s, &b);
	return b;
}

/* s is a state some constructor returned: it must be canonical both ways. */
static void
fz_check_canonical(const fz_ops *o, const void *s)
{
	lk_buf		bin = fz_encode(o, s, "encode of a valid state failed");
	lk_buf		text = fz_text(o, s);
	void	   *back = fz_state(o);
	lk_buf		again;
	lk_error	err;

	if (bare_decode(o->kind, bin.data, bin.len, A, back, &err) != LK_OK)
		fz_die("decode(encode(s)) failed", bin.data, bin.len,
			   (const uint8_t *) err.detail, strlen(err.detail));
	again = fz_encode(o, back, "re-encode failed");
	fz_same("encode(decode(encode(s))) != encode(s)", &again, &bin);
	again = fz_text(o, back);
	fz_same("to_json(decode(encode(s))) != to_json(s)", &again, &text);

	if (bare_parse(o->kind, (const char *) text.data, text.len, A, back, &err) != LK_OK)
		fz_die("parse(to_json(s)) failed", text.data, text.len,
			   (const uint8_t *) err.detail, strlen(err.detail));
	again = fz_encode(o, back, "encode of parsed state failed");
	fz_same("encode(parse(to_json(s))) != encode(s)", &again, &bin);
	again = fz_text(o, back);
	fz_same("to_json(parse(to_json(s))) != to_json(s)", &again, &text);
}

static bool
fz_equal(const fz_ops *o, const void *a, const void *b)
{
	lk_buf		x = fz_encode(o, a, "encode failed"),
				y = fz_encode(o, b, "encode failed");

	return x.len == y.len && memcmp(x.data, y.data, x.len) == 0;
}

/*
 * An operation on s must inflate it, and deltas between s and the result
 * must behave: the forward delta rebuilds the result, the backward one is
 * empty.
 */
static void
fz_check_op(const fz_ops *o, const void *s, uint8_t choice)
{
	void	   *out = fz_state(o),
			   *d = fz_state(o),
			   *m = fz_state(o),
			   *back = fz_state(o),
			   *bottom = fz_state(o);
	lk_error	err;
	bool		leq;
	lk_code		rc;

	rc = o->op(s, choice, out, &err);
	if (rc != LK_OK)
	{
		FZ_ASSERT(rc == LK_ERR_RANGE || rc == LK_ERR_LIMIT, "an operation failed unexpectedly");
		return;
	}
	fz_check_canonical(o, out);
	FZ_ASSERT(bare_leq(o->kind, s, out, A, &leq, &err) == LK_OK && leq,
			  "an operation did not inflate");
	FZ_ASSERT(bare_delta(o->kind, s, out, A, d, &err) == LK_OK, "delta failed");
	FZ_ASSERT(bare_merge(o->kind, s, d, A, m, &err) == LK_OK && fz_equal(o, m, out),
			  "merge(s, delta(s, op(s))) != op(s)");
	FZ_ASSERT(bare_delta(o->kind, out, s, A, back, &err) == LK_OK && fz_equal(o, back, bottom),
			  "delta(op(s), s) is not empty");
}

static void
fz_check_lattice(const fz_ops *o, const void *a, const void *b, uint8_t choice)
{
	void	   *ab = fz_state(o),
			   *ba = fz_state(o),
			   *aa = fz_state(o),
			   *d = fz_state(o),
			   *ad = fz_state(o);
	lk_error	err;
	bool		leq;
	lk_code		rc;

	/* a merge may exceed a limit; then it must fail both ways round */
	rc = bare_merge(o->kind, a, b, A, ab, &err);
	FZ_ASSERT(rc == bare_merge(o->kind, b, a, A, ba, &err),
			  "merge(a, b) and merge(b, a) disagree on failing");
	if (rc != LK_OK)
	{
		FZ_ASSERT(rc == LK_ERR_LIMIT, "merge failed with something other than a limit");
		return;
	}
	fz_check_canonical(o, ab);
	FZ_ASSERT(fz_equal(o, ab, ba), "merge is not commutative");
	FZ_ASSERT(bare_merge(o->kind, a, a, A, aa, &err) == LK_OK && fz_equal(o, aa, a),
			  "merge is not idempotent");
	FZ_ASSERT(bare_leq(o->kind, a, ab, A, &leq, &err) == LK_OK && leq,
			  "a <= merge(a, b) does not hold");
	FZ_ASSERT(bare_leq(o->kind, b, ab, A, &leq, &err) == LK_OK && leq,
			  "b <= merge(a, b) does not hold");
	FZ_ASSERT(bare_delta(o->kind, a, b, A, d, &err) == LK_OK, "delta failed");
	fz_check_canonical(o, d);
	FZ_ASSERT(bare_merge(o->kind, a, d, A, ad, &err) == LK_OK && fz_equal(o, ad, ab),
			  "merge(a, delta(a, b)) != merge(a, b)");
	FZ_ASSERT(bare_leq(o->kind, d, ab, A, &leq, &err) == LK_OK && leq,
			  "delta(a, b) <= merge(a, b) does not hold");
	fz_check_op(o, ab, choice);
}

static int
fz_run(const fz_ops *o, const uint8_t *data, size_t size)
{
	void	   *s = fz_state(o);
	lk_error	err;
	size_t		live;
	lk_code		rc;

	/* the input as a binary value */
	live = fz_live;
	rc = bare_decode(o->kind, data, size, A, s, &err);
	if (rc == LK_OK)
	{
		lk_buf		bin = fz_encode(o, s, "encode of a decoded state failed");
		lk_buf		in = {(uint8_t *) data, size, size, A};

		fz_same("decoder accepted a non-canonical encoding", &bin, &in);
		fz_check_canonical(o, s);
		fz_check_op(o, s, size ? data[size - 1] : 0);
	}
	else
	{
		FZ_ASSERT(rc == LK_ERR_BINARY || rc == LK_ERR_LIMIT, "decode failed with an odd code");
		FZ_ASSERT(err.msg[0] && err.detail[0], "decode error without message or detail");
		FZ_ASSERT(fz_live == live, "a rejected binary value leaked memory");
	}

	/* the input as text */
	rc = bare_parse(o->kind, (const char *) data, size, A, s, &err);
	if (rc == LK_OK)
	{
		fz_check_canonical(o, s);
		fz_check_op(o, s, size ? data[0] ^ data[size - 1] : 0);
	}
	else
	{
		FZ_ASSERT(rc == LK_ERR_SYNTAX || rc == LK_ERR_RANGE || rc == LK_ERR_LIMIT ||
				  rc == LK_ERR_VALUE, "parse failed with an odd code");
		FZ_ASSERT(err.msg[0] && err.detail[0], "parse error without message or detail");
	}

	/* two binary values: [k][k bytes][rest] */
	if (size >= 2 && (size_t) data[0] + 1 <= size)
	{
		size_t		k = data[0];
		void	   *a = fz_state(o),
				   *b = fz_state(o);

		if (bare_decode(o->kind, data + 1, k, A, a, &err) == LK_OK &&
			bare_decode(o->kind, data + 1 + k, size - 1 - k, A, b, &err) == LK_OK)
			fz_check_lattice(o, a, b, (uint8_t) (size ^ k));
	}
	fz_reset();
	return 0;
}

#endif
