/*
 * wire.h — Phoenix Channels V2 JSON frames: [join_ref, ref, topic, event, payload].
 *
 * join_ref and ref are strings or null.  Incoming frames are parsed with
 * jansson; outgoing ones are written directly, because their payloads embed
 * canonical CRDT JSON that must go out byte for byte.
 */
#ifndef BRIDGE_WIRE_H
#define BRIDGE_WIRE_H

#include <jansson.h>
#include <stdbool.h>

#include "frame.h"
#include "lk_buf.h"

typedef struct wire_msg
{
	json_t	   *root;			/* owns everything below */
	const char *join_ref;		/* NULL when null */
	const char *ref;
	const char *topic;
	const char *event;
	json_t	   *payload;
	bool		out_of_range;	/* an integer beyond 64 bits: not served, answered an error */
} wire_msg;

/* Parse one client frame; false (with *why set) when it is not a V2 frame. */
bool		wire_parse(const char *text, size_t len, wire_msg *m, const char **why);
void		wire_free(wire_msg *m);

/* Write `[join_ref,ref,"topic","event",` (NULL refs as null); the payload follows, then wire_end. */
void		wire_begin(lk_buf *b, const char *join_ref, const char *ref, const char *topic,
					   const char *event);
void		wire_end(lk_buf *b);

/* A JSON string literal of a C string. */
void		wire_string(lk_buf *b, const char *s);

/* `"name":` of an object being written, after a comma unless *first (then cleared). */
void		wire_member(lk_buf *b, bool *first, const char *name);

/* [join_ref,ref,"topic","event",payload] with a payload given as JSON text (len bytes). */
frame	   *wire_event_json(const char *join_ref, const char *ref, const char *topic, const char *event,
							const void *payload, size_t len);

/* The same with a NUL-terminated payload. */
frame	   *wire_event(const char *join_ref, const char *ref, const char *topic, const char *event,
					   const char *payload);

/* A phx_reply with status "ok" or "error" and a response object given as JSON text. */
frame	   *wire_reply(const char *join_ref, const char *ref, const char *topic, bool ok,
					   const char *response_json);

/* An error reply {"reason": reason}. */
frame	   *wire_error(const char *join_ref, const char *ref, const char *topic, const char *reason);

#endif
