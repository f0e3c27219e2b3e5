/*
 * frame.h — an encoded text frame, shared by every client it goes to.
 *
 * A broadcast is encoded once per topic and profile and the same frame is
 * queued to each subscriber, so fan-out costs a reference, not an encoding.
 * The buffer keeps LWS_PRE bytes of headroom that lws_write needs.
 */
#ifndef BRIDGE_FRAME_H
#define BRIDGE_FRAME_H

#include <stddef.h>

#include "lk_buf.h"

typedef struct frame
{
	unsigned	refs;
	size_t		len;
	unsigned char *data;		/* len bytes, preceded by LWS_PRE bytes of headroom */
} frame;

/* A frame holding a copy of text[0..len); one reference, the caller's. */
frame	   *frame_new(const char *text, size_t len);
frame	   *frame_from_buf(const lk_buf *b);
void		frame_ref(frame *f);
void		frame_unref(frame *f);

#endif
