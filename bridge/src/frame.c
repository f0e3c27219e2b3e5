/*
 * frame.c — reference-counted frames.
 */
#include "frame.h"

#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "xalloc.h"

frame *
frame_new(const char *text, size_t len)
{
	frame	   *f = xmalloc(sizeof(frame) + LWS_PRE + len);

	f->refs = 1;
	f->len = len;
	f->data = (unsigned char *) (f + 1) + LWS_PRE;
	memcpy(f->data, text, len);
	return f;
}

frame *
frame_from_buf(const lk_buf *b)
{
	return frame_new((const char *) b->data, b->len);
}

void
frame_ref(frame *f)
{
	f->refs++;
}

void
frame_unref(frame *f)
{
	if (f && --f->refs == 0)
		free(f);
}
