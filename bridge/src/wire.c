/*
 * wire.c — Phoenix V2 frame parsing and encoding.
 */
#include "wire.h"

#include <string.h>

#include "lk_json.h"

static bool
ref_field(json_t *v, const char **out)
{
	if (json_is_null(v))
	{
		*out = NULL;
		return true;
	}
	if (json_is_string(v))
	{
		*out = json_string_value(v);
		return true;
	}
	return false;
}

bool
wire_parse(const char *text, size_t len, wire_msg *m, const char **why)
{
	json_error_t jerr;

	memset(m, 0, sizeof(*m));
	m->root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!m->root && json_error_code(&jerr) == json_error_numeric_overflow)
	{
		/* valid JSON all the same: read its refs and topic to answer it with an error */
		m->root = json_loadb(text, len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
		m->out_of_range = m->root != NULL;
	}
	if (!m->root)
	{
		*why = "not JSON";
		return false;
	}
	if (!json_is_array(m->root) || json_array_size(m->root) != 5)
	{
		*why = "not a [join_ref, ref, topic, event, payload] array";
		goto fail;
	}
	if (!ref_field(json_array_get(m->root, 0), &m->join_ref) ||
		!ref_field(json_array_get(m->root, 1), &m->ref) ||
		!json_is_string(json_array_get(m->root, 2)) ||
		!json_is_string(json_array_get(m->root, 3)) ||
		!json_is_object(json_array_get(m->root, 4)))
	{
		*why = "wrong field types";
		goto fail;
	}
	m->topic = json_string_value(json_array_get(m->root, 2));
	m->event = json_string_value(json_array_get(m->root, 3));
	m->payload = json_array_get(m->root, 4);
	return true;
fail:
	json_decref(m->root);
	m->root = NULL;
	return false;
}

void
wire_free(wire_msg *m)
{
	if (m->root)
		json_decref(m->root);
	m->root = NULL;
}

void
wire_string(lk_buf *b, const char *s)
{
	lk_json_put_string(b, lk_str_make(s, strlen(s)));
}

void
wire_member(lk_buf *b, bool *first, const char *name)
{
	if (!*first)
		lk_buf_put_u8(b, ',');
	*first = false;
	wire_string(b, name);
	lk_buf_put_u8(b, ':');
}

static void
ref_or_null(lk_buf *b, const char *ref)
{
	if (ref)
		wire_string(b, ref);
	else
		lk_buf_put_str(b, "null");
}

void
wire_begin(lk_buf *b, const char *join_ref, const char *ref, const char *topic, const char *event)
{
	lk_buf_put_u8(b, '[');
	ref_or_null(b, join_ref);
	lk_buf_put_u8(b, ',');
	ref_or_null(b, ref);
	lk_buf_put_u8(b, ',');
	wire_string(b, topic);
	lk_buf_put_u8(b, ',');
	wire_string(b, event);
	lk_buf_put_u8(b, ',');
}

void
wire_end(lk_buf *b)
{
	lk_buf_put_u8(b, ']');
}

frame *
wire_event_json(const char *join_ref, const char *ref, const char *topic, const char *event,
				const void *payload, size_t len)
{
	lk_buf		b;
	frame	   *f;

	lk_buf_init(&b, &lk_std_alloc, len + 64);
	wire_begin(&b, join_ref, ref, topic, event);
	lk_buf_put(&b, payload, len);
	wire_end(&b);
	f = frame_from_buf(&b);
	lk_free(&lk_std_alloc, b.data);
	return f;
}

frame *
wire_event(const char *join_ref, const char *ref, const char *topic, const char *event,
		   const char *payload)
{
	return wire_event_json(join_ref, ref, topic, event, payload, strlen(payload));
}

frame *
wire_reply(const char *join_ref, const char *ref, const char *topic, bool ok, const char *response)
{
	lk_buf		b;
	frame	   *f;

	lk_buf_init(&b, &lk_std_alloc, 128 + strlen(response));
	wire_begin(&b, join_ref, ref, topic, "phx_reply");
	lk_buf_put_str(&b, ok ? "{\"status\":\"ok\",\"response\":" : "{\"status\":\"error\",\"response\":");
	lk_buf_put_str(&b, response);
	lk_buf_put_u8(&b, '}');
	wire_end(&b);
	f = frame_from_buf(&b);
	lk_free(&lk_std_alloc, b.data);
	return f;
}

frame *
wire_error(const char *join_ref, const char *ref, const char *topic, const char *reason)
{
	lk_buf		b;
	frame	   *f;

	lk_buf_init(&b, &lk_std_alloc, 64 + strlen(reason));
	lk_buf_put_str(&b, "{\"reason\":");
	wire_string(&b, reason);
	lk_buf_put_u8(&b, '}');
	lk_buf_put_u8(&b, '\0');
	f = wire_reply(join_ref, ref, topic, false, (const char *) b.data);
	lk_free(&lk_std_alloc, b.data);
	return f;
}
