/*
 * push.c — client pushes to parameterized SQL.
 *
 * Every push is an UPDATE of the row (the merge trigger merges what is set
 * with what is there) that falls back to an INSERT when the row does not
 * exist yet, or laniakea.delete_row.  A merge or delete that names an incarnation (its
 * causal length, "cl") leaves the rest to the triggers: the UPDATE matches
 * only that incarnation, and the INSERT that follows otherwise names it too,
 * so the merge trigger discards it when a tombstone or a later incarnation
 * outranks it and replaces an earlier one.  Identifiers come from the
 * catalog; everything the client sent travels as a parameter.  A client contributes only its own node's counts,
 * dots and register writes, and an orset delta's context may cover other
 * nodes' dots only where the bridge has seen them: it may remove what it
 * observed, nothing else.  A register write may not be dated more than
 * LK_LWWREG_MAX_AHEAD_US ahead of the bridge's clock: it would beat every
 * honest write until then.
 */
#include "push.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "arena.h"
#include "auth.h"
#include "bridge.h"
#include "db.h"
#include "hub.h"
#include "metrics.h"
#include "wire.h"
#include "xalloc.h"

typedef struct push_reply
{
	conn	   *c;
	char	   *join_ref;
	char	   *ref;
	char	   *topic;
} push_reply;

static void
pushed(void *arg, PGresult *res, const char *error)
{
	push_reply *pr = arg;
	frame	   *f;

	pr->c->pending_pushes--;
	if (error == DB_CANCELLED)
		f = NULL;				/* its client is gone: nobody to answer */
	else if (res && (PQresultStatus(res) == PGRES_COMMAND_OK || PQresultStatus(res) == PGRES_TUPLES_OK))
		f = wire_reply(pr->join_ref, pr->ref, pr->topic, true, "{}");
	else
	{
		const char *why = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : error;

		M.push_errors_total++;
		f = wire_error(pr->join_ref, pr->ref, pr->topic, why ? why : "database error");
	}
	if (f)
		conn_send_new(pr->c, f);
	conn_unref(pr->c);
	free(pr->join_ref);
	free(pr->ref);
	free(pr->topic);
	free(pr);
}

static void
fail(conn *c, const char *join_ref, const char *ref, const char *topic, const char *reason)
{
	M.push_errors_total++;
	conn_send_new(c, wire_error(join_ref, ref, topic, reason));
}

static bool
own_counts(const lk_gcounter *gc, const char *node)
{
	lk_str		me = lk_str_make(node, strlen(node));

	for (uint32_t i = 0; i < gc->n; i++)
		if (!lk_str_eq(gc->e[i].node, me))
			return false;
	return true;
}

/* Is every range of node `id` in d's context covered by s's context? */
static bool
context_seen(const lk_orset *d, uint32_t di, const lk_orset *s)
{
	const lk_onode *dn = &d->nodes[di];
	uint32_t	si;

	for (si = 0; si < s->nnodes; si++)
		if (lk_str_eq(s->nodes[si].id, dn->id))
			break;
	if (si == s->nnodes)
		return false;
	for (uint32_t k = 0; k < dn->nr; k++)
	{
		const lk_range *r = &d->ranges[dn->r_off + k];
		bool		covered = false;

		for (uint32_t m = 0; m < s->nodes[si].nr && !covered; m++)
		{
			const lk_range *sr = &s->ranges[s->nodes[si].r_off + m];

			covered = sr->lo <= r->lo && r->hi <= sr->hi;
		}
		if (!covered)
			return false;
	}
	return true;
}

/* The wall clock in µs since the Unix epoch. */
static int64_t
wall_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/*
 * NULL when the delta only carries what this client may contribute.  r is
 * the row as the bridge holds it and cl the incarnation the delta belongs
 * to (0: the one there is); an orset delta's context may cover what the
 * bridge has seen of that incarnation.
 */
static const char *
ownership_error(const lk_state *d, const char *node, row *r, int64_t cl, int col, const lk_alloc *a)
{
	lk_str		me = lk_str_make(node, strlen(node));

	switch (d->kind)
	{
		case LK_GCOUNTER:
			return own_counts(&d->u.gc, node) ? NULL : "delta has counts of another node";
		case LK_PNCOUNTER:
			return own_counts(&d->u.pn.p, node) && own_counts(&d->u.pn.n, node) ? NULL :
				"delta has counts of another node";
		case LK_ORSET:
			{
				const lk_orset *os = &d->u.os;
				lk_state	server;
				lk_error	err;

				for (uint32_t i = 0; i < os->ndots; i++)
					if (!lk_str_eq(os->nodes[os->dots[i].node].id, me))
						return "delta adds dots of another node";
				/* an earlier incarnation than the bridge's: the database discards it */
				if (r && cl && cl < r->cl)
					return NULL;
				/* of a later one, the bridge has seen nothing */
				lk_state_init(&server, LK_ORSET);
				/*
				 * a state that does not decode is reported and taken as seen
				 * nothing: contexts covering others' dots are then refused,
				 * never wrongly accepted
				 */
				if (r && (!cl || cl == r->cl) &&
					!cell_state(&r->cells[col], LK_ORSET, a, &server, &err))
				{
					cell_report("decode", r->t->name, r->t->cols[col].name, &err);
					lk_state_init(&server, LK_ORSET);
				}
				for (uint32_t i = 0; i < os->nnodes; i++)
					if (!lk_str_eq(os->nodes[i].id, me) && !context_seen(os, i, &server.u.os))
						return "delta context covers dots the server has not seen";
				return NULL;
			}
		case LK_LWWREG:
			if (d->u.lw.present && !lk_str_eq(d->u.lw.node, me))
				return "delta is a write of another node";
			if (lk_lwwreg_check_clock(&d->u.lw, wall_us(), LK_LWWREG_MAX_AHEAD_US, NULL) != LK_OK)
				return "delta clock is too far in the future";
			return NULL;
	}
	return "unknown type";
}

/*
 * The UPDATE (and INSERT when the row is missing) of one column.  cl_param:
 * the parameter holding the incarnation the push names, 0 for none (the
 * incarnation there is, or a new one).
 */
static char *
sql_for(const table *t, const column *col, const char *set_expr, const char *insert_expr,
		int cl_param)
{
	char	   *sql;
	char	   *cl_match = cl_param ? xasprintf(" AND laniakea_cl = $%d::bigint", cl_param) : xstrdup("");
	char	   *cl_value = cl_param ? xasprintf(", $%d::bigint", cl_param) : xstrdup("");

	if (insert_expr)
		sql = xasprintf("WITH u AS (UPDATE %s SET %s = %s WHERE %s = $1::%s%s RETURNING 1) "
						"INSERT INTO %s (%s, %s%s) SELECT $1::%s, %s%s WHERE NOT EXISTS (SELECT FROM u)",
						t->ident, col->ident, set_expr, t->key_ident, t->key_type, cl_match,
						t->ident, t->key_ident, col->ident, cl_param ? ", laniakea_cl" : "",
						t->key_type, insert_expr, cl_value);
	else
		sql = xasprintf("UPDATE %s SET %s = %s WHERE %s = $1::%s",
						t->ident, col->ident, set_expr, t->key_ident, t->key_type);
	free(cl_match);
	free(cl_value);
	return sql;
}

#define MAX_SAFE_BY 9007199254740991LL	/* 2^53 - 1, Number.MAX_SAFE_INTEGER */

/*
 * A push's "cl": the incarnation it names, 0 when absent, -1 when it is not
 * a positive odd integer within what a JavaScript client writes exactly.
 */
static int64_t
push_cl(json_t *payload)
{
	json_t	   *j = json_object_get(payload, "cl");
	json_int_t	v;

	if (!j)
		return 0;
	if (!json_is_integer(j))
		return -1;
	v = json_integer_value(j);
	return v > 0 && v % 2 == 1 && v <= MAX_SAFE_BY ? (int64_t) v : -1;
}

/* Run sql for c and answer the push when it is done. */
static void
run(conn *c, const char *join_ref, const char *ref, const char *topic, const char *sql,
	int nparams, const char *const *params)
{
	push_reply *pr = xcalloc(1, sizeof(push_reply));

	pr->c = c;
	pr->join_ref = join_ref ? xstrdup(join_ref) : NULL;
	pr->ref = ref ? xstrdup(ref) : NULL;
	pr->topic = xstrdup(topic);
	conn_ref(c);
	M.pushes_total++;
	c->pending_pushes++;
	db_query_on(&c->queries, sql, nparams, params, pushed, pr);
}

#define REFUSE(reason) \
	do { \
		fail(c, join_ref, ref, ch->topic, (reason)); \
		return; \
	} while (0)

void
push_handle(conn *c, channel *ch, const char *join_ref, const char *ref, const char *event,
			json_t *payload)
{
	const table *t = channel_table(ch);
	row		   *r = channel_row(ch);
	const char *key = r ? r->key : json_string_value(json_object_get(payload, "key"));
	const char *params[3] = {key, NULL, NULL};
	char		cl_text[24];
	int64_t		cl;
	const char *why;
	push_sql	ps;

	if (!auth_current(c->claims, &why))
		REFUSE(why);
	if (c->pending_pushes >= CFG.max_pending_pushes)
		REFUSE("too many pending pushes");
	if (!auth_allows(c->claims, "write", ch->topic))
		REFUSE("unauthorized");
	if (!key)
		REFUSE("key must be a string");
	if (strcmp(event, "delete") == 0)
	{
		/* with a cl, only that incarnation or an earlier one: never one the client has not seen */
		if ((cl = push_cl(payload)) < 0)
			REFUSE("cl must be a positive odd integer");
		/*
		 * laniakea.delete_row records the deletion of incarnation cl even
		 * where the row is absent (created offline, never pushed): without
		 * that tombstone the row written later by anyone at cl 1 would be
		 * stale to this client, which holds cl + 1, for ever.
		 */
		xsnprintf(cl_text, sizeof(cl_text), "%" PRId64, cl);
		params[1] = cl ? cl_text : NULL;
		params[2] = t->ident;
		run(c, join_ref, ref, ch->topic, "SELECT laniakea.delete_row($3::regclass, $1, $2::bigint)", 3, params);
		return;
	}
	if ((why = push_build(t, r ? r : hub_row(t, key), key, c->node, event, payload, &ps)) != NULL)
		REFUSE(why);
	run(c, join_ref, ref, ch->topic, ps.sql, ps.nparams, ps.params);
	push_sql_free(&ps);
}

#undef REFUSE
#define REFUSE(reason) \
	do { \
		why = (reason); \
		goto refused; \
	} while (0)

const char *
push_build(const table *t, row *r, const char *key, const char *node, const char *event,
		   json_t *payload, push_sql *out)
{
	const char *colname = json_string_value(json_object_get(payload, "column"));
	const char *ext = catalog_ext();
	int			ci;
	const column *col;
	const char *tname;
	char	   *set_expr = NULL,
			   *insert_expr = NULL;
	int64_t		cl;
	int			cl_param = 0;
	const char *why;

	memset(out, 0, sizeof(*out));
	out->params[0] = key;
	out->params[2] = node;
	out->nparams = 1;
	if (!colname || (ci = catalog_column(t, colname)) < 0)
		REFUSE("unknown column");
	if (!node)
		REFUSE("node id required: join with params.node");
	col = &t->cols[ci];
	tname = lk_kind_name(col->kind);

	if (strcmp(event, "merge") == 0)
	{
		json_t	   *dj = json_object_get(payload, "delta");
		arena	   *ar;
		lk_state	d;
		lk_error	err;

		if ((cl = push_cl(payload)) < 0)
			REFUSE("cl must be a positive odd integer");
		ar = arena_new();
		out->text = dj ? json_dumps(dj, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
		if (!out->text ||
			lk_state_parse(col->kind, out->text, strlen(out->text), arena_alloc(ar), &d, &err) != LK_OK)
		{
			xsnprintf(out->reason, sizeof(out->reason), "invalid delta: %s",
					  out->text ? err.detail : "missing");
			arena_free(ar);
			REFUSE(out->reason);
		}
		why = ownership_error(&d, node, r, cl, ci, arena_alloc(ar));
		arena_free(ar);
		if (why)
			REFUSE(why);
		out->params[1] = out->text;
		out->nparams = 2;
		if (cl)
		{
			xsnprintf(out->cl_text, sizeof(out->cl_text), "%" PRId64, cl);
			out->params[2] = out->cl_text;
			out->nparams = cl_param = 3;
		}
		set_expr = xasprintf("$2::%s.%s", ext, tname);
		insert_expr = xstrdup(set_expr);
	}
	else if (strcmp(event, "increment") == 0 || strcmp(event, "decrement") == 0)
	{
		json_t	   *by = json_object_get(payload, "by");
		bool		down = event[0] == 'd';

		if ((col->kind != LK_GCOUNTER && col->kind != LK_PNCOUNTER) ||
			(down && col->kind != LK_PNCOUNTER))
			REFUSE(down ? "decrement needs a pncounter column" :
				   "increment needs a counter column");
		if (by && (!json_is_integer(by) || json_integer_value(by) <= 0))
			REFUSE("by must be a positive integer");
		/* JSON numbers beyond it are not exact in JavaScript clients */
		if (by && json_integer_value(by) > MAX_SAFE_BY)
			REFUSE("by must be at most 9007199254740991");
		xsnprintf(out->by_text, sizeof(out->by_text), "%" PRId64,
				  by ? (int64_t) json_integer_value(by) : 1);
		out->params[1] = out->by_text;
		out->nparams = 3;
		set_expr = xasprintf("%s.%s(coalesce(%s, '{}'::%s.%s), $3, $2::bigint)",
							 ext, event, col->ident, ext, tname);
		insert_expr = xasprintf("%s.%s('{}'::%s.%s, $3, $2::bigint)", ext, event, ext, tname);
	}
	else if (strcmp(event, "add") == 0 || strcmp(event, "remove") == 0)
	{
		const char *element = json_string_value(json_object_get(payload, "element"));
		lk_error	err;

		if (col->kind != LK_ORSET)
			REFUSE("add and remove need an orset column");
		if (!element)
			REFUSE("element must be a string");
		if (lk_element_check(lk_str_make(element, strlen(element)), &err) != LK_OK)
		{
			xsnprintf(out->reason, sizeof(out->reason), "%s", err.msg);
			REFUSE(out->reason);
		}
		out->params[1] = element;
		out->nparams = 3;
		if (event[0] == 'a')
		{
			set_expr = xasprintf("%s.add(coalesce(%s, '{}'::%s.orset), $2, $3)", ext, col->ident, ext);
			insert_expr = xasprintf("%s.add('{}'::%s.orset, $2, $3)", ext, ext);
		}
		else
		{
			/* removing from a row that does not exist removes nothing: no INSERT */
			set_expr = xasprintf("%s.remove(%s, $2)", ext, col->ident);
			out->nparams = 2;
		}
	}
	else
		REFUSE("unknown event");

	out->sql = sql_for(t, col, set_expr, insert_expr, cl_param);
	free(set_expr);
	free(insert_expr);
	return NULL;

refused:
	free(out->text);
	out->text = NULL;
	return why;
}

void
push_sql_free(push_sql *ps)
{
	free(ps->sql);
	free(ps->text);
	ps->sql = NULL;
	ps->text = NULL;
}
