/*
 * phoenix.c — Phoenix Channels V2 sessions over any transport (phoenix.h).
 */
#include "phoenix.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "auth.h"
#include "bridge.h"
#include "channel.h"
#include "metrics.h"
#include "push.h"
#include "wire.h"
#include "xalloc.h"

/* The close code of a connection whose token expired: one of the private range. */
#define CLOSE_TOKEN_EXPIRED 4001
#define CLOSE_GOING_AWAY 1001

static lws_dll2_owner_t all_conns;
static map	per_ip;				/* address → open connections (as intptr_t) */

void
phoenix_init(void)
{
	map_init(&per_ip);
	channels_init();
}

static intptr_t
ip_count(const char *ip)
{
	return (intptr_t) map_get(&per_ip, ip);
}

static void
ip_add(const char *ip, int d)
{
	intptr_t	n = ip_count(ip) + d;

	if (n <= 0)
		map_del(&per_ip, ip);
	else
		map_put(&per_ip, ip, (void *) n);
}

const char *
phoenix_admit(const char *ip)
{
	return ip_count(ip) >= CFG.max_per_ip ? "too many connections from this address" : NULL;
}

/*
 * A connection's token expired: close it.  Joins and pushes check expiry
 * themselves too, since messages read before this timer runs are served first.
 */
static void
token_expired(lws_sorted_usec_list_t *sul)
{
	conn	   *c = lws_container_of(sul, conn, expiry);

	conn_close(c, CLOSE_TOKEN_EXPIRED, "token expired");
}

static void
arm_expiry(conn *c)
{
	struct timeval tv;
	lws_usec_t	exp_us = (lws_usec_t) json_integer_value(json_object_get(c->claims, "exp")) * LWS_US_PER_SEC;
	lws_usec_t	now_us;

	gettimeofday(&tv, NULL);
	now_us = (lws_usec_t) tv.tv_sec * LWS_US_PER_SEC + tv.tv_usec;
	lws_sul_schedule(CTX, 0, &c->expiry, token_expired, exp_us > now_us ? exp_us - now_us : 1);
}

conn *
phoenix_open(const transport *tp, void *io, const char *ip, json_t *claims)
{
	conn	   *c = conn_new(tp, io, ip, claims);

	/* the one PostgreSQL connection serves everyone: no push may hold it for long */
	c->queries.timeout_ms = CFG.push_timeout;
	if (claims)
	{
		c->node = xstrdup(json_string_value(json_object_get(claims, "node")));
		arm_expiry(c);
	}
	ip_add(c->ip, 1);
	lws_dll2_add_tail(&c->all_link, &all_conns);
	M.connections++;
	M.connections_total++;
	return c;
}

void
phoenix_closed(conn *c)
{
	ip_add(c->ip, -1);
	M.connections--;
	lws_sul_cancel(&c->timer);
	lws_sul_cancel(&c->expiry);
	channels_free_all(c);
	lws_dll2_remove(&c->all_link);
	c->open = false;
	c->io = NULL;
	M.pushes_dropped_total += db_cancel(&c->queries);
	conn_unref(c);
}

void
phoenix_refill(conn *c)
{
	if (c->ring_count == 0)
		channels_refill(c);
}

bool
phoenix_wants_write(conn *c)
{
	return c->ring_count > 0 || channels_pending(c);
}

void
phoenix_shutdown(void)
{
	lws_start_foreach_dll(struct lws_dll2 *, d, all_conns.head)
	{
		conn_close(lws_container_of(d, conn, all_link), CLOSE_GOING_AWAY, "server shutting down");
	}
	lws_end_foreach_dll(d);
}

/* ---- messages ---- */

static void
reply_error(conn *c, const wire_msg *m, const char *reason)
{
	conn_send_new(c, wire_error(m->join_ref, m->ref, m->topic, reason));
}

static void
join_error(conn *c, const wire_msg *m, const char *reason)
{
	M.join_errors_total++;
	reply_error(c, m, reason);
}

/* The join's node param: NULL when it is acceptable (and c's node is then set), else why not. */
static const char *
node_error(conn *c, json_t *node)
{
	const char *id = json_string_value(node);
	lk_error	err;

	if (!node || json_is_null(node))
		return NULL;
	if (!id || lk_node_id_check(lk_str_make(id, strlen(id)), &err) != LK_OK)
		return "invalid node id";
	if (c->node && strcmp(c->node, id) != 0)
		return c->claims ? "node does not match the token" : "node differs from this connection's";
	if (!c->node)
		c->node = xstrdup(id);
	return NULL;
}

static void
handle_join(conn *c, wire_msg *m)
{
	json_t	   *have = json_object_get(m->payload, "have");
	channel    *old = channel_find(c, m->topic);
	const char *err;

	/* a second join of a topic replaces the first, as in Phoenix */
	if (old)
		channel_close(old);
	if (!auth_current(c->claims, &err))
		join_error(c, m, err);
	else if (c->channels.count >= (uint32_t) CFG.max_channels)
		join_error(c, m, "too many channels");
	else if (strncmp(m->topic, "crdt:", 5) != 0)
		join_error(c, m, "unmatched topic");
	/* before the first catalog read every topic is unknown: that is no answer yet */
	else if (!catalog_ready())
		join_error(c, m, "database unavailable");
	else if (!auth_allows(c->claims, "read", m->topic))
		join_error(c, m, "unauthorized");
	else if ((err = node_error(c, json_object_get(m->payload, "node"))) != NULL)
		join_error(c, m, err);
	else if (have && !json_is_null(have) && !json_is_object(have))
		join_error(c, m, "invalid have");
	else
		channel_open(c, m->topic, m->join_ref, m->ref, json_is_object(have) ? have : NULL,
					 profile_assign(json_object_get(m->payload, "caps")));
}

static void
handle_leave(conn *c, wire_msg *m)
{
	channel    *ch = channel_find(c, m->topic);

	conn_send_new(c, wire_reply(m->join_ref, m->ref, m->topic, true, "{}"));
	if (ch)
		channel_close(ch);
}

bool
phoenix_message(conn *c, const char *text, size_t len)
{
	wire_msg	m;
	const char *why;
	channel    *ch;

	M.frames_in_total++;
	if (!wire_parse(text, len, &m, &why))
	{
		lwsl_info("laniakea-bridge: closing %s: %s\n", c->ip, why);
		return false;
	}
	if (m.out_of_range)
		reply_error(c, &m, "number out of range");
	else if (strcmp(m.topic, "phoenix") == 0 && strcmp(m.event, "heartbeat") == 0)
		conn_send_new(c, wire_reply(m.join_ref, m.ref, m.topic, true, "{}"));
	else if (strcmp(m.event, "phx_join") == 0)
		handle_join(c, &m);
	else if (strcmp(m.event, "phx_leave") == 0)
		handle_leave(c, &m);
	else if ((ch = channel_find(c, m.topic)) == NULL || !ch->sub.joined)
		reply_error(c, &m, "unmatched topic");
	else
		push_handle(c, ch, m.join_ref, m.ref, m.event, m.payload);
	wire_free(&m);
	return true;
}
