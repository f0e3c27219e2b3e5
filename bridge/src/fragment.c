/*
 * fragment.c — per-row cache of throttled subscribers' encodings.
 */
#include "fragment.h"

#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "wire.h"
#include "xalloc.h"

static fragment *
slot(row *r, frag_kind k)
{
	if (!r->frags)
		r->frags = xcalloc(FRAG_KINDS, sizeof(fragment));
	return &r->frags[k];
}

static bool
cells_equal(const cell *a, const cell *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i].len != b[i].len || (a[i].len && memcmp(a[i].bytes, b[i].bytes, a[i].len) != 0))
			return false;
	return true;
}

static void
clear(fragment *f, int ncol)
{
	if (f->cells)
	{
		for (int i = 0; i < ncol; i++)
			cell_clear(&f->cells[i]);
		free(f->cells);
	}
	lk_free(&lk_std_alloc, f->json.data);
	frame_unref(f->frame);
	memset(f, 0, sizeof(*f));
}

const fragment *
fragment_find(row *r, frag_kind k, const cell *pending, int64_t cl)
{
	fragment   *f = r->frags ? &r->frags[k] : NULL;
	bool		fresh;

	if (!f || !f->valid)
		return NULL;
	fresh = k == FRAG_DELTA ? f->cl == cl && cells_equal(f->cells, pending, r->t->ncol) :
		f->version == r->version;
	if (!fresh)
		return NULL;
	M.fragments_shared_total++;
	return f;
}

const fragment *
fragment_store(row *r, frag_kind k, const cell *pending, int64_t cl, lk_buf *json)
{
	fragment   *f = slot(r, k);

	clear(f, r->t->ncol);
	f->valid = true;
	f->version = r->version;
	f->cl = cl;
	if (k == FRAG_DELTA)
	{
		f->cells = xcalloc(r->t->ncol, sizeof(cell));
		for (int i = 0; i < r->t->ncol; i++)
			if (pending[i].len)
			{
				f->cells[i].bytes = xmalloc(pending[i].len);
				memcpy(f->cells[i].bytes, pending[i].bytes, pending[i].len);
				f->cells[i].len = pending[i].len;
			}
	}
	f->json = *json;
	memset(json, 0, sizeof(*json));
	M.fragments_encoded_total++;
	return f;
}

const char *
fragment_event(frag_kind k)
{
	return k == FRAG_DELTA ? "delta" : "state";
}

frame *
fragment_frame(row *r, frag_kind k)
{
	fragment   *f = &r->frags[k];

	if (!f->frame)
		f->frame = wire_event_json(NULL, NULL, r->topic, fragment_event(k), f->json.data, f->json.len);
	frame_ref(f->frame);
	return f->frame;
}

void
fragment_free_all(row *r)
{
	if (!r->frags)
		return;
	for (int k = 0; k < FRAG_KINDS; k++)
		clear(&r->frags[k], r->t->ncol);
	free(r->frags);
	r->frags = NULL;
}
