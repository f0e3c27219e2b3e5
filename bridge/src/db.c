/*
 * db.c — libpq on the libwebsockets loop.
 */
#include "db.h"

#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pgsock.h"
#include "metrics.h"
#include "xalloc.h"

typedef enum db_state
{
	DB_DOWN,					/* waiting for the reconnect timer */
	DB_CONNECTING,				/* PQconnectPoll in progress */
	DB_READY
} db_state;

typedef struct query
{
	char	   *sql;
	int			nparams;
	char	  **params;
	db_result_fn fn;
	void	   *arg;
	db_queue   *owner;			/* NULL: the bridge's statement_timeout setting (start_next) */
	int			timeout_ms;		/* the statement_timeout it runs under, 0: the session's default */
	struct query *next;
} query;

const char	DB_CANCELLED[] = "cancelled";

static struct
{
	struct lws_context *ctx;
	char	   *conninfo;
	db_hooks	hooks;
	db_state	state;
	PGconn	   *conn;
	pgsock		sock;			/* conn's socket in the loop */
	db_queue	own;			/* the bridge's own queries */
	lws_dll2_owner_t turns;		/* queues holding queries, the next to run first */
	query	   *inflight;
	PGresult   *last;
	bool		listening;		/* the LISTEN answered */
	bool		ever_ready;
	int			backoff_ms;
	lws_sorted_usec_list_t retry;
	lws_sorted_usec_list_t kick;	/* starts the next query, outside the caller's call */
	query	   *failing;		/* queries made while down, failed by fail_sul */
	lws_sorted_usec_list_t fail_sul;
	int			timeout_ms;		/* the session's statement_timeout as set, 0: its default */
	bool		stopping;
} D;

static void pump(void);
static void start_next(void);

static void
want_writable(void)
{
	pgsock_want_writable(&D.sock);
}

static void
free_query(query *q)
{
	for (int i = 0; i < q->nparams; i++)
		free(q->params[i]);
	free(q->params);
	free(q->sql);
	free(q);
}

static void
adopt(void)
{
	if (!pgsock_adopt(&D.sock, D.conn))
		lwsl_err("laniakea-bridge: could not watch the PostgreSQL socket\n");
}

static void
schedule_retry(void);

/* Take the first query of q, which holds one; q leaves the turn order when empty. */
static query *
dequeue(db_queue *q)
{
	query	   *first = q->head;

	q->head = first->next;
	if (!q->head)
	{
		q->tail = NULL;
		lws_dll2_remove(&q->turn);
	}
	return first;
}

/* Fail everything queued, drop the connection, retry later. */
static void
lost(const char *why)
{
	query	   *q;

	lwsl_warn("laniakea-bridge: PostgreSQL connection lost: %s\n", why);
	M.pg_up = 0;
	pgsock_detach(&D.sock);
	if (D.conn)
		PQfinish(D.conn);
	D.conn = NULL;
	D.sock.fd = -1;
	D.state = DB_DOWN;
	D.listening = false;
	D.timeout_ms = 0;
	if (D.last)
		PQclear(D.last);
	D.last = NULL;
	q = D.inflight;
	D.inflight = NULL;
	if (q)
	{
		q->fn(q->arg, NULL, "database unavailable");
		free_query(q);
	}
	/* a callback may queue more, which fails soon now that the state is DB_DOWN */
	while (D.turns.head)
	{
		q = dequeue(lws_container_of(D.turns.head, db_queue, turn));
		q->fn(q->arg, NULL, "database unavailable");
		free_query(q);
	}
	if (D.hooks.on_lost)
		D.hooks.on_lost();
	if (!D.stopping)
		schedule_retry();
}

/*
 * The settings under which keys are written in topics and tombstones, the
 * ones laniakea.key_text pins (src/pg/tracked.c): keys the bridge reads as
 * key::text and parses as $1::type are then in that form whatever the
 * database's or role's defaults (a timestamptz key in UTC, ISO style).
 */
const char db_session_settings[] =
"SELECT set_config('DateStyle', 'ISO, YMD', false), set_config('IntervalStyle', 'postgres', false), "
"set_config('TimeZone', 'UTC', false), set_config('extra_float_digits', '3', false), "
"set_config('bytea_output', 'hex', false), set_config('lc_monetary', 'C', false)";

/* The settings and the first LISTEN: they fail only with the connection (lost(), which fails the last LISTEN too). */
static void
setup_step(void *arg, PGresult *res, const char *error)
{
}

static void
listened(void *arg, PGresult *res, const char *error)
{
	if (!res || PQresultStatus(res) != PGRES_COMMAND_OK)
		return;					/* lost() already ran, or will */
	D.listening = true;
	D.backoff_ms = 100;
	M.pg_up = 1;
	if (D.ever_ready)
		M.pg_reconnects_total++;
	D.ever_ready = true;
	lwsl_user("laniakea-bridge: PostgreSQL ready, listening on channels laniakea and laniakea_catalog\n");
	if (D.hooks.on_ready)
		D.hooks.on_ready();
}

static void
connect_now(lws_sorted_usec_list_t *sul)
{
	D.conn = PQconnectStart(D.conninfo);
	if (!D.conn || PQstatus(D.conn) == CONNECTION_BAD)
	{
		lost(D.conn ? PQerrorMessage(D.conn) : "out of memory");
		return;
	}
	D.state = DB_CONNECTING;
	D.sock.fd = -1;
	adopt();
	want_writable();
}

static void
schedule_retry(void)
{
	lws_sul_schedule(D.ctx, 0, &D.retry, connect_now, (lws_usec_t) D.backoff_ms * LWS_US_PER_MS);
	D.backoff_ms = D.backoff_ms * 2 > 5000 ? 5000 : D.backoff_ms * 2;
}

/* Queue q in its owner's queue, at the front to run next. */
static void
enqueue(query *q, bool front)
{
	db_queue   *o = q->owner;

	q->next = NULL;
	if (front)
	{
		q->next = o->head;
		o->head = q;
		if (!o->tail)
			o->tail = q;
		lws_dll2_remove(&o->turn);
		lws_dll2_add_head(&o->turn, &D.turns);
		return;
	}
	if (o->tail)
		o->tail->next = q;
	else
		o->head = q;
	o->tail = q;
	if (lws_dll2_is_detached(&o->turn))
		lws_dll2_add_tail(&o->turn, &D.turns);
}

static query *
make_query(db_queue *owner, const char *sql, int nparams, const char *const *params,
		   db_result_fn fn, void *arg)
{
	query	   *q = xcalloc(1, sizeof(query));

	q->sql = xstrdup(sql);
	q->nparams = nparams;
	q->params = xcalloc(nparams ? nparams : 1, sizeof(char *));
	for (int i = 0; i < nparams; i++)
		q->params[i] = params[i] ? xstrdup(params[i]) : NULL;
	q->fn = fn;
	q->arg = arg;
	q->owner = owner;
	q->timeout_ms = owner ? owner->timeout_ms : 0;
	return q;
}

/* Queries made while PostgreSQL was not ready: each is answered "database unavailable". */
static void
fail_queued(lws_sorted_usec_list_t *sul)
{
	while (D.failing)
	{
		query	   *q = D.failing;

		D.failing = q->next;
		q->fn(q->arg, NULL, "database unavailable");
		free_query(q);
	}
}

static void
kick(lws_sorted_usec_list_t *sul)
{
	start_next();
}

/*
 * A query's callback never runs inside db_query_on: a caller may be in the
 * middle of changing what the callback changes.  So a query made while
 * PostgreSQL is not ready fails from a timer, and the first query of an idle
 * connection is sent from one (whose failure would fail every query queued).
 */
void
db_query_on(db_queue *owner, const char *sql, int nparams, const char *const *params,
			db_result_fn fn, void *arg)
{
	query	   *q = make_query(owner, sql, nparams, params, fn, arg);

	if (D.state != DB_READY || !D.listening)
	{
		query	  **tail = &D.failing;

		while (*tail)
			tail = &(*tail)->next;
		*tail = q;
		lws_sul_schedule(D.ctx, 0, &D.fail_sul, fail_queued, 1);
		return;
	}
	enqueue(q, false);
	if (!D.inflight)
		lws_sul_schedule(D.ctx, 0, &D.kick, kick, 1);
}

void
db_query(const char *sql, int nparams, const char *const *params, db_result_fn fn, void *arg)
{
	db_query_on(&D.own, sql, nparams, params, fn, arg);
}

size_t
db_cancel(db_queue *o)
{
	size_t		n = 0;
	query	  **p = &D.failing;

	while (o->head)
	{
		query	   *q = dequeue(o);

		q->fn(q->arg, NULL, DB_CANCELLED);
		free_query(q);
		n++;
	}
	while (*p)
	{
		query	   *q = *p;

		if (q->owner != o)
		{
			p = &q->next;
			continue;
		}
		*p = q->next;
		q->fn(q->arg, NULL, DB_CANCELLED);
		free_query(q);
		n++;
	}
	return n;
}

static void
flush_out(void)
{
	int			rc = PQflush(D.conn);

	if (rc < 0)
		lost(PQerrorMessage(D.conn));
	else if (rc == 1)
		want_writable();
}

/* The session's statement_timeout is now arg's milliseconds (0: its default). */
static void
timeout_set(void *arg, PGresult *res, const char *error)
{
	if (!res)
		return;					/* lost(): the next session starts at its default */
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		lwsl_err("laniakea-bridge: cannot set statement_timeout: %s", PQresultErrorMessage(res));
	/* as asked even on an error, which would recur: the query that needs it runs anyway */
	D.timeout_ms = (int) (intptr_t) arg;
}

/*
 * Send the next query: the first of the queue whose turn it is, which then
 * goes last.  A query of a queue with a statement_timeout of its own
 * (pushes, --push-timeout) is preceded by setting it, and the bridge's own
 * reads by resetting it, whenever the last query ran under another.
 */
static void
start_next(void)
{
	db_queue   *o;
	query	   *q;

	if (D.state != DB_READY || D.inflight || !D.turns.head)
		return;
	o = lws_container_of(D.turns.head, db_queue, turn);
	q = dequeue(o);
	if (q->timeout_ms != D.timeout_ms)
	{
		/* its statement_timeout first: q waits at the head of its queue, which runs next */
		enqueue(q, true);
		q = make_query(NULL, "", 0, NULL, timeout_set, (void *) (intptr_t) q->timeout_ms);
		free(q->sql);
		q->sql = (intptr_t) q->arg ? xasprintf("SET statement_timeout = %d", (int) (intptr_t) q->arg) :
			xstrdup("RESET statement_timeout");
	}
	else if (o->head)
	{
		lws_dll2_remove(&o->turn);
		lws_dll2_add_tail(&o->turn, &D.turns);
	}
	if (!PQsendQueryParams(D.conn, q->sql, q->nparams, NULL, (const char *const *) q->params,
						   NULL, NULL, 0))
	{
		if (q->owner)
			enqueue(q, true);
		else
			free_query(q);
		lost(PQerrorMessage(D.conn));
		return;
	}
	D.inflight = q;
	flush_out();
}

static void
drain_notifies(void)
{
	PGnotify   *n;

	while (D.conn && (n = PQnotifies(D.conn)) != NULL)
	{
		M.notifications_total++;
		if (strcmp(n->relname, "laniakea_catalog") == 0)
		{
			if (D.hooks.on_catalog)
				D.hooks.on_catalog(n->extra);
		}
		else if (D.hooks.on_notify)
			D.hooks.on_notify(n->extra);
		PQfreemem(n);
	}
}

static void
pump(void)
{
	if (D.state == DB_CONNECTING)
	{
		PostgresPollingStatusType st = PQconnectPoll(D.conn);

		if (st == PGRES_POLLING_FAILED)
		{
			lost(PQerrorMessage(D.conn));
			return;
		}
		adopt();				/* libpq may have moved to another socket */
		if (st == PGRES_POLLING_WRITING)
			want_writable();
		if (st == PGRES_POLLING_OK)
		{
			PQsetnonblocking(D.conn, 1);
			D.state = DB_READY;
			/* one statement per query (extended protocol): the last ends the setup */
			enqueue(make_query(&D.own, "LISTEN laniakea_catalog", 0, NULL, listened, NULL), true);
			enqueue(make_query(&D.own, "LISTEN laniakea", 0, NULL, setup_step, NULL), true);
			enqueue(make_query(&D.own, db_session_settings, 0, NULL, setup_step, NULL), true);
			start_next();
		}
		return;
	}
	if (D.state != DB_READY)
		return;
	if (!PQconsumeInput(D.conn))
	{
		lost(PQerrorMessage(D.conn));
		return;
	}
	drain_notifies();
	while (D.conn && D.inflight && !PQisBusy(D.conn))
	{
		PGresult   *res = PQgetResult(D.conn);

		if (res)
		{
			if (D.last)
				PQclear(D.last);
			D.last = res;
			continue;
		}
		{
			query	   *q = D.inflight;
			PGresult   *last = D.last;

			D.inflight = NULL;
			D.last = NULL;
			q->fn(q->arg, last, last ? NULL : "no result");
			if (last)
				PQclear(last);
			free_query(q);
		}
		drain_notifies();
		start_next();
	}
	if (D.conn && PQstatus(D.conn) == CONNECTION_BAD)
		lost(PQerrorMessage(D.conn));
}

static void
writeable(void)
{
	if (D.state == DB_CONNECTING)
		pump();
	else if (D.state == DB_READY)
		flush_out();
}

static void
closed(void)
{
	if (D.state != DB_DOWN)
		lost("socket closed");
}

static const pgsock_events events = {pump, writeable, closed};

const struct lws_protocols db_protocol = {"laniakea-pg", pgsock_callback, 0, 0, 0, &D.sock, 0};

void
db_start(struct lws_context *ctx, struct lws_vhost *vh, const char *conninfo, const db_hooks *hooks)
{
	memset(&D, 0, sizeof(D));
	D.ctx = ctx;
	pgsock_init(&D.sock, ctx, vh, db_protocol.name, &events);
	D.conninfo = xstrdup(conninfo);
	D.hooks = *hooks;
	D.backoff_ms = 100;
	connect_now(&D.retry);
}

void
db_stop(void)
{
	D.stopping = true;
	lws_sul_cancel(&D.retry);
	lws_sul_cancel(&D.kick);
	lwsw_raw_cancel(&D.sock.rearm);
	if (D.conn)
		lost("shutting down");
	lws_sul_cancel(&D.fail_sul);
	fail_queued(NULL);
}

bool
db_ready(void)
{
	return D.state == DB_READY && D.listening;
}

const char *
db_value(PGresult *res, int r, int c)
{
	if (r >= PQntuples(res) || c >= PQnfields(res) || PQgetisnull(res, r, c))
		return NULL;
	return PQgetvalue(res, r, c);
}
