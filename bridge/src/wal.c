/*
 * wal.c — the source of changes: NOTIFY, or the WAL through logical
 * decoding (wal.h).
 */
#include "wal.h"

#include <fcntl.h>
#include <libpq-fe.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

#include "arena.h"
#include "bridge.h"
#include "db.h"
#include "lk_buf.h"
#include "lk_topic.h"
#include "pgsock.h"
#include "map.h"
#include "metrics.h"
#include "pgoutput.h"
#include "recent.h"
#include "xalloc.h"

#define PUBLICATION "laniakea_changes"

/* A transaction's coalesced changes past this many bytes are handed up before its commit. */
#define PENDING_MAX_BYTES (64u * 1024 * 1024)

typedef enum wal_state
{
	WAL_IDLE,					/* not the source, or not started yet */
	WAL_DOWN,					/* waiting for the reconnect timer */
	WAL_CONNECTING,				/* PQconnectPoll in progress */
	WAL_SETUP,					/* settings, slot, START_REPLICATION: one query at a time */
	WAL_STREAMING
} wal_state;

/* A relation as the stream described it, and how its columns map onto the catalog's table. */
typedef struct wal_rel
{
	uint32_t	relid;
	char	   *name;			/* <table> of its topics */
	bool		tombstones;		/* laniakea.tombstones */
	int			ncols;
	char	  **colnames;
	const table *t;				/* the catalog's table the mapping below is of, or NULL */
	int			key_at;
	int			cl_at;
	int		   *col_at;			/* t->ncol of them */
	bool		mapped;			/* every column of t found */
} wal_rel;

/* The last change of a row (or a table's truncation) in the transaction under way. */
typedef struct pending
{
	const table *t;
	char	   *key;			/* NULL: the table was truncated */
	bool		deleted;
	int64_t		cl;
	wal_col    *cols;			/* t->ncol, texts in data */
	char	   *data;
	size_t		bytes;
} pending;

static struct
{
	/* pointers and 8-byte fields first, then 4-byte ones, then flags: no padding */
	struct lws_context *ctx;
	char	   *conninfo;
	char	   *fatal;
	PGconn	   *conn;
	PGresult   *last;
	uint64_t	start_lsn;
	uint64_t	flushed;		/* everything up to here is applied */
	uint64_t	sent;			/* the flush position last reported */
	int64_t		sent_at_us;
	uint64_t	tx_ts;			/* commit time, µs since the Unix epoch */
	wal_rel    *rels;
	pending    *pend;
	size_t		npend,
				cap_pend,
				pend_bytes;
	char	   *last_error;		/* logged once until another one comes, or streaming starts */
	map			pend_index;		/* "<table ptr>:<key>" → index + 1 in pend */
	wal_hooks	hooks;
	lws_sorted_usec_list_t retry;
	lws_sorted_usec_list_t tick;	/* standby status updates */
	pgsock		sock;			/* conn's socket in the loop */
	wal_source	mode;			/* asked for: UNDECIDED is auto */
	wal_source	used;
	wal_state	state;
	int			step;			/* WAL_SETUP: 0 settings, 1 slot, 2 START_REPLICATION */
	int			backoff_ms;
	unsigned	slot_seq;
	uint32_t	slot_salt;
	uint32_t	tx_xid;
	int			nrels;
	char		slot[64];
	bool		probing;
	bool		probed;
	bool		in_tx;
	bool		waiting_publication;
	bool		stopping;
} W;

static void connect_now(lws_sorted_usec_list_t *sul);

static int64_t
now_us(void)
{
	struct timeval tv;

	gettimeofday(&tv, NULL);
	return (int64_t) tv.tv_sec * 1000000 + tv.tv_usec;
}

/* An error: counted always, logged when it is not the one logged last. */
static void
report(const char *what, const char *detail)
{
	char	   *msg = xasprintf("%s%s%s", what, detail ? ": " : "", detail ? detail : "");
	size_t		n = strlen(msg);

	while (n && (msg[n - 1] == '\n' || msg[n - 1] == ' '))
		msg[--n] = '\0';
	M.wal_errors_total++;
	if (!W.last_error || strcmp(W.last_error, msg) != 0)
		lwsl_err("laniakea-bridge: WAL source: %s\n", msg);
	free(W.last_error);
	W.last_error = msg;
}

/* ---- the transaction under way ---- */

static void
pend_free(pending *p)
{
	free(p->key);
	free(p->cols);
	free(p->data);
}

static void
pend_reset(void)
{
	for (size_t i = 0; i < W.npend; i++)
		pend_free(&W.pend[i]);
	W.npend = 0;
	W.pend_bytes = 0;
	map_clear(&W.pend_index);
}

/*
 * Hand the coalesced changes of rows the hub needs up, in the order their
 * rows first changed, and keep every row's (recent.h): a read may not see
 * them yet, whoever holds the row now.  A truncation's deletions are its
 * tombstones' rows, kept as deletions of their keys.
 */
static void
pend_flush(void)
{
	for (size_t i = 0; i < W.npend; i++)
	{
		pending    *p = &W.pend[i];

		if (!p->key)
		{
			W.hooks.on_truncated(p->t);
			M.wal_changes_total++;
			continue;
		}
		if (W.hooks.needs(p->t, p->key))
		{
			if (p->deleted)
				W.hooks.on_deleted(p->t, p->key, p->cl);
			else
				W.hooks.on_change(p->t, p->key, p->cl, p->cols, W.tx_ts);
			M.wal_changes_total++;
		}
		recent_add(p->t, p->key, p->deleted, p->cl, p->cols, p->data, p->bytes, W.tx_xid);
		p->cols = NULL;
		p->data = NULL;
	}
	pend_reset();
}

/* The entry of the row of key (NULL: t's truncation) in the transaction, reset for its new last change. */
static pending *
pend_slot(const table *t, const char *key)
{
	char	   *k = xasprintf("%p:%s", (const void *) t, key ? key : "");
	intptr_t	at = key ? (intptr_t) map_get(&W.pend_index, k) : 0;
	pending    *p;

	if (at)
	{
		p = &W.pend[at - 1];
		W.pend_bytes -= p->bytes;
		free(p->cols);
		free(p->data);
		p->cols = NULL;
		p->data = NULL;
		p->bytes = 0;
		free(k);
		return p;
	}
	if (W.npend == W.cap_pend)
	{
		W.cap_pend = W.cap_pend ? W.cap_pend * 2 : 16;
		W.pend = xrealloc(W.pend, W.cap_pend * sizeof(pending));
	}
	p = &W.pend[W.npend++];
	memset(p, 0, sizeof(*p));
	p->t = t;
	p->key = key ? xstrdup(key) : NULL;
	if (key)
		map_put(&W.pend_index, k, (void *) (intptr_t) W.npend);
	free(k);
	return p;
}

static void
pend_account(pending *p)
{
	W.pend_bytes += p->bytes + 64;
	if (W.pend_bytes > PENDING_MAX_BYTES)
		pend_flush();
}

static void
pend_deleted(const table *t, const char *key, int64_t cl)
{
	char	   *k = xasprintf("%p:%s", (const void *) t, key);
	intptr_t	at = (intptr_t) map_get(&W.pend_index, k);
	pending    *p;

	free(k);
	/* a deletion after a deletion: the causal length known (the tombstone's comes first) */
	if (at && W.pend[at - 1].deleted && (cl == 0 || cl < W.pend[at - 1].cl))
		cl = W.pend[at - 1].cl;
	p = pend_slot(t, key);
	p->deleted = true;
	p->cl = cl;
	pend_account(p);
}

static void
pend_row(const table *t, const char *key, int64_t cl, const pgo_value *vals, const int *col_at)
{
	pending    *p = pend_slot(t, key);
	size_t		total = 0;
	char	   *at;

	p->deleted = false;
	p->cl = cl;
	for (int i = 0; i < t->ncol; i++)
		total += vals[col_at[i]].len;
	p->data = xmalloc(total ? total : 1);
	p->cols = xcalloc((size_t) t->ncol, sizeof(wal_col));
	at = p->data;
	for (int i = 0; i < t->ncol; i++)
	{
		const pgo_value *v = &vals[col_at[i]];

		if (v->kind == 't')
		{
			memcpy(at, v->data, v->len);
			p->cols[i].text = at;
			p->cols[i].len = v->len;
			at += v->len;
		}
		else
			p->cols[i].unchanged = v->kind == 'u';
	}
	p->bytes = total;
	pend_account(p);
}

/* ---- relations ---- */

static void
rel_clear(wal_rel *r)
{
	for (int i = 0; i < r->ncols; i++)
		free(r->colnames[i]);
	free(r->colnames);
	free(r->col_at);
	free(r->name);
}

static void
rels_clear(void)
{
	for (int i = 0; i < W.nrels; i++)
		rel_clear(&W.rels[i]);
	free(W.rels);
	W.rels = NULL;
	W.nrels = 0;
}

static wal_rel *
rel_find(uint32_t relid)
{
	for (int i = 0; i < W.nrels; i++)
		if (W.rels[i].relid == relid)
			return &W.rels[i];
	return NULL;
}

/* <table> of the topics of nsp.rel (lk_topic.h), malloc'd. */
static char *
topic_table(const char *nsp, size_t nsp_len, const char *rel, size_t rel_len)
{
	lk_buf		b;

	lk_buf_init(&b, &lk_std_alloc, nsp_len + rel_len + 8);
	lk_topic_put_table(&b, lk_str_make(nsp, nsp_len), lk_str_make(rel, rel_len));
	lk_buf_put_u8(&b, '\0');
	return (char *) b.data;
}

static void
rel_define(const pgo_msg *m)
{
	wal_rel    *r = rel_find(m->relid);

	if (r)
		rel_clear(r);
	else
	{
		W.rels = xrealloc(W.rels, (size_t) (W.nrels + 1) * sizeof(wal_rel));
		r = &W.rels[W.nrels++];
	}
	memset(r, 0, sizeof(*r));
	r->relid = m->relid;
	r->tombstones = strcmp(m->nspname, "laniakea") == 0 && strcmp(m->relname, "tombstones") == 0;
	r->name = topic_table(m->nspname, strlen(m->nspname), m->relname, strlen(m->relname));
	r->ncols = m->ncols;
	r->colnames = xcalloc((size_t) (m->ncols ? m->ncols : 1), sizeof(char *));
	for (int i = 0; i < m->ncols; i++)
		r->colnames[i] = xstrdup(m->cols[i].name);
}

static int
rel_column(const wal_rel *r, const char *name)
{
	for (int i = 0; i < r->ncols; i++)
		if (strcmp(r->colnames[i], name) == 0)
			return i;
	return -1;
}

/*
 * The catalog's table of r with its columns mapped, or NULL: not tracked (or
 * stale), or its columns are not the catalog's (the catalog is about to
 * change, and its subscribers with it).
 */
static const table *
rel_table(wal_rel *r)
{
	const table *t = catalog_find(r->name);

	if (!t || t->stale)
		return NULL;
	if (t != r->t)
	{
		r->t = t;
		free(r->col_at);
		r->col_at = xcalloc((size_t) (t->ncol ? t->ncol : 1), sizeof(int));
		r->key_at = rel_column(r, t->key_name);
		r->cl_at = rel_column(r, "laniakea_cl");
		r->mapped = r->key_at >= 0 && r->cl_at >= 0;
		for (int i = 0; i < t->ncol; i++)
			r->mapped &= (r->col_at[i] = rel_column(r, t->cols[i].name)) >= 0;
	}
	return r->mapped ? t : NULL;
}

/* ---- changes ---- */

/* Column at of a tuple as a NUL-terminated copy, or NULL when it is not text. */
static char *
tuple_text(const pgo_tuple *tp, int at)
{
	if (at < 0 || at >= tp->ncols || tp->vals[at].kind != 't')
		return NULL;
	return xstrndup(tp->vals[at].data, tp->vals[at].len);
}

static int64_t
tuple_int(const pgo_tuple *tp, int at)
{
	char		s[32];			/* a bigint's text is 20 characters at most */

	if (at < 0 || at >= tp->ncols || tp->vals[at].kind != 't' || tp->vals[at].len >= sizeof(s))
		return 0;
	memcpy(s, tp->vals[at].data, tp->vals[at].len);
	s[tp->vals[at].len] = '\0';
	return strtoll(s, NULL, 10);
}

/* A row of laniakea.tombstones: the deletion of a key of the table it names. */
static void
tombstone(wal_rel *r, const pgo_tuple *tp)
{
	int			nsp = rel_column(r, "nsp"),
				rel = rel_column(r, "rel"),
				key = rel_column(r, "key"),
				cl = rel_column(r, "cl");
	char	   *name;
	char	   *k;
	const table *t;

	if (nsp < 0 || rel < 0 || key < 0 || cl < 0 || nsp >= tp->ncols || rel >= tp->ncols ||
		tp->vals[nsp].kind != 't' || tp->vals[rel].kind != 't')
		return;
	name = topic_table(tp->vals[nsp].data, tp->vals[nsp].len, tp->vals[rel].data, tp->vals[rel].len);
	t = catalog_find(name);
	free(name);
	if (!t || t->stale || !(k = tuple_text(tp, key)))
		return;
	pend_deleted(t, k, tuple_int(tp, cl));
	free(k);
}

static void
row_changed(wal_rel *r, const pgo_tuple *tp)
{
	const table *t = rel_table(r);
	char	   *key;

	if (!t || tp->ncols != r->ncols || !(key = tuple_text(tp, r->key_at)))
		return;
	pend_row(t, key, tuple_int(tp, r->cl_at), tp->vals, r->col_at);
	free(key);
}

static void
row_deleted(wal_rel *r, const pgo_tuple *tp)
{
	const table *t = rel_table(r);
	char	   *key;

	if (!t || !(key = tuple_text(tp, r->key_at)))
		return;
	/* its tombstone, written before it, has the causal length */
	pend_deleted(t, key, 0);
	free(key);
}

/* One pgoutput message; false (after reporting) when the stream cannot go on. */
static bool
take(const pgo_msg *m)
{
	wal_rel    *r = NULL;

	if (m->kind == 'I' || m->kind == 'U' || m->kind == 'D')
	{
		if (!(r = rel_find(m->relid)))
		{
			report("a change of a relation the stream did not describe", NULL);
			return false;
		}
	}
	switch (m->kind)
	{
		case 'B':
			W.in_tx = true;
			W.tx_ts = (uint64_t) (m->ts + PGO_EPOCH_OFFSET_US);
			W.tx_xid = m->xid;
			break;
		case 'C':
			pend_flush();
			W.in_tx = false;
			W.flushed = m->lsn;
			M.wal_transactions_total++;
			break;
		case 'R':
			rel_define(m);
			break;
		case 'I':
		case 'U':
			if (r->tombstones)
				tombstone(r, &m->new);
			else
				row_changed(r, &m->new);
			break;
		case 'D':
			/* a collected tombstone deletes nothing */
			if (!r->tombstones)
				row_deleted(r, &m->old);
			break;
		case 'T':
			for (int i = 0; i < m->nrels; i++)
			{
				const table *t;

				if ((r = rel_find(m->relids[i])) != NULL && !r->tombstones && (t = rel_table(r)))
					pend_slot(t, NULL);
			}
			break;
		default:
			break;				/* origins and types change nothing held */
	}
	return true;
}

/* ---- the connection ---- */

static void
want_writable(void)
{
	pgsock_want_writable(&W.sock);
}

static void
adopt(void)
{
	if (!pgsock_adopt(&W.sock, W.conn))
		report("could not watch the replication socket", NULL);
}

static void
schedule_retry(void)
{
	lws_sul_schedule(W.ctx, 0, &W.retry, connect_now, (lws_usec_t) W.backoff_ms * LWS_US_PER_MS);
	W.backoff_ms = W.backoff_ms * 2 > 5000 ? 5000 : W.backoff_ms * 2;
}

/* Drop the connection (its temporary slot goes with it) and retry later. */
static void
lost(const char *what, const char *detail)
{
	if (what)
		report(what, detail);
	M.wal_up = 0;
	pgsock_detach(&W.sock);
	if (W.last)
		PQclear(W.last);
	W.last = NULL;
	if (W.conn)
		PQfinish(W.conn);
	W.conn = NULL;
	W.sock.fd = -1;
	W.in_tx = false;
	pend_reset();
	rels_clear();
	W.state = WAL_DOWN;
	if (!W.stopping)
		schedule_retry();
}

static void
flush_out(void)
{
	int			rc = PQflush(W.conn);

	if (rc < 0)
		lost("replication connection lost", PQerrorMessage(W.conn));
	else if (rc == 1)
		want_writable();
}

static void
send_status(bool reply)
{
	uint8_t		msg[PGO_STATUS_LEN];
	int64_t		now = now_us();

	if (W.state != WAL_STREAMING)
		return;
	pgo_status(msg, W.flushed, now - PGO_EPOCH_OFFSET_US, reply);
	/* 0: libpq's buffer is full; the next update carries the same position */
	if (PQputCopyData(W.conn, (const char *) msg, PGO_STATUS_LEN) < 0)
	{
		lost("replication connection lost", PQerrorMessage(W.conn));
		return;
	}
	W.sent = W.flushed;
	W.sent_at_us = now;
	M.wal_flush_lsn = W.flushed;
	flush_out();
}

/* Each second: report the flush position when it moved (or every 10 s), so the slot lets go of WAL. */
static void
tick(lws_sorted_usec_list_t *sul)
{
	if (W.state == WAL_STREAMING && (W.flushed != W.sent || now_us() - W.sent_at_us > 10 * 1000000))
		send_status(false);
	if (!W.stopping)
		lws_sul_schedule(W.ctx, 0, &W.tick, tick, LWS_US_PER_SEC);
}

static void
connect_now(lws_sorted_usec_list_t *sul)
{
	const char *keys[4];
	const char *vals[4];
	int			n = 0;

	if (W.conninfo[0])
	{
		keys[n] = "dbname";		/* a conninfo or URI, expanded: what follows overrides it */
		vals[n++] = W.conninfo;
	}
	keys[n] = "replication";
	vals[n++] = "database";
	keys[n] = "fallback_application_name";
	vals[n++] = "laniakea-bridge-wal";
	keys[n] = NULL;
	vals[n] = NULL;
	W.conn = PQconnectStartParams(keys, vals, 1);
	if (!W.conn || PQstatus(W.conn) == CONNECTION_BAD)
	{
		lost("cannot connect for replication", W.conn ? PQerrorMessage(W.conn) : "out of memory");
		return;
	}
	W.state = WAL_CONNECTING;
	W.sock.fd = -1;
	adopt();
	want_writable();
}

/* Send the next setup query. */
static void
setup_send(void)
{
	char	   *sql;
	char		lsn[32];

	switch (W.step)
	{
		case 0:
			/* keys in the text the bridge reads them in; is there anything to decode? */
			sql = xasprintf("%s, EXISTS (SELECT FROM pg_catalog.pg_publication WHERE pubname = '"
							PUBLICATION "')", db_session_settings);
			break;
		case 1:
			xsnprintf(W.slot, sizeof(W.slot), "laniakea_bridge_%d_%08x_%u", (int) getpid(),
					  W.slot_salt, ++W.slot_seq);
			sql = xasprintf("CREATE_REPLICATION_SLOT %s TEMPORARY LOGICAL pgoutput NOEXPORT_SNAPSHOT",
							W.slot);
			break;
		default:
			pgo_lsn_text(W.start_lsn, lsn, sizeof(lsn));
			sql = xasprintf("START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', "
							"publication_names '" PUBLICATION "')", W.slot, lsn);
			break;
	}
	if (!PQsendQuery(W.conn, sql))
		lost("replication connection lost", PQerrorMessage(W.conn));
	else
		flush_out();
	free(sql);
}

static void
streaming(void)
{
	char		lsn[32];

	W.state = WAL_STREAMING;
	W.backoff_ms = 100;
	W.flushed = W.sent = W.start_lsn;
	W.sent_at_us = now_us();
	M.wal_up = 1;
	M.wal_slots_total++;
	free(W.last_error);
	W.last_error = NULL;
	pgo_lsn_text(W.start_lsn, lsn, sizeof(lsn));
	lwsl_user("laniakea-bridge: reading the WAL from %s on temporary slot %s (publication "
			  PUBLICATION ")\n", lsn, W.slot);
	W.hooks.on_streaming();
}

/* A setup query's last result. */
static void
setup_done(PGresult *res)
{
	ExecStatusType want = W.step == 2 ? PGRES_COPY_BOTH : PGRES_TUPLES_OK;

	if (!res || PQresultStatus(res) != want)
	{
		static const char *const what[] = {"cannot set up the replication session",
		"cannot create a temporary replication slot", "cannot start replication"};

		lost(what[W.step], res ? PQresultErrorMessage(res) : PQerrorMessage(W.conn));
		return;
	}
	if (W.step == 0 && strcmp(PQgetvalue(res, 0, PQnfields(res) - 1), "t") != 0)
	{
		/* nothing tracked yet: tried again on a catalog change, or with the backoff */
		if (!W.waiting_publication)
			lwsl_user("laniakea-bridge: WAL source: publication " PUBLICATION
					  " does not exist yet (no table tracked): waiting\n");
		W.waiting_publication = true;
		lost(NULL, NULL);
		return;
	}
	W.waiting_publication = false;
	if (W.step == 1 && !pgo_lsn_parse(PQgetvalue(res, 0, 1), &W.start_lsn))
	{
		lost("cannot create a temporary replication slot", "no consistent point in the reply");
		return;
	}
	if (W.step == 2)
	{
		streaming();
		return;
	}
	W.step++;
	setup_send();
}

/* One CopyData message of the stream. */
static bool
copy_message(const uint8_t *buf, size_t len)
{
	pgo_copy	c;
	pgo_msg		m;
	const char *why;
	arena	   *ar;
	bool		ok;

	M.wal_bytes_total += len;
	if ((why = pgo_parse_copy(buf, len, &c)) != NULL)
	{
		report("malformed replication message", why);
		return false;
	}
	if (c.kind == 'k')
	{
		/* idle: every transaction before the server's position was sent, and applied */
		if (!W.in_tx && W.npend == 0 && c.wal_end > W.flushed)
			W.flushed = c.wal_end;
		if (c.reply_requested)
			send_status(true);
		return true;
	}
	ar = arena_new();
	if ((why = pgo_parse(c.payload, c.payload_len, arena_alloc(ar), &m)) != NULL)
	{
		report("malformed pgoutput message", why);
		arena_free(ar);
		return false;
	}
	ok = take(&m);
	arena_free(ar);
	return ok;
}

static void
pump_stream(void)
{
	for (;;)
	{
		char	   *buf;
		int			n = PQgetCopyData(W.conn, &buf, 1);

		if (n == 0)
			break;
		if (n < 0)
		{
			PGresult   *res = n == -1 ? PQgetResult(W.conn) : NULL;

			lost("replication stream ended", res ? PQresultErrorMessage(res) : PQerrorMessage(W.conn));
			if (res)
				PQclear(res);
			return;
		}
		if (!copy_message((const uint8_t *) buf, (size_t) n))
		{
			PQfreemem(buf);
			lost(NULL, NULL);
			return;
		}
		PQfreemem(buf);
		if (W.state != WAL_STREAMING)
			return;
	}
	/* under a steady stream, report at most every 100 ms; tick covers the rest */
	if (W.flushed != W.sent && now_us() - W.sent_at_us > 100 * 1000)
		send_status(false);
}

static void
pump(void)
{
	if (W.state == WAL_CONNECTING)
	{
		PostgresPollingStatusType st = PQconnectPoll(W.conn);

		if (st == PGRES_POLLING_FAILED)
		{
			lost("cannot connect for replication", PQerrorMessage(W.conn));
			return;
		}
		adopt();
		if (st == PGRES_POLLING_WRITING)
			want_writable();
		if (st == PGRES_POLLING_OK)
		{
			PQsetnonblocking(W.conn, 1);
			W.state = WAL_SETUP;
			W.step = 0;
			setup_send();
		}
		return;
	}
	if (W.state != WAL_SETUP && W.state != WAL_STREAMING)
		return;
	if (!PQconsumeInput(W.conn))
	{
		lost("replication connection lost", PQerrorMessage(W.conn));
		return;
	}
	if (W.state == WAL_STREAMING)
	{
		pump_stream();
		return;
	}
	while (W.state == WAL_SETUP && !PQisBusy(W.conn))
	{
		PGresult   *res = PQgetResult(W.conn);

		if (res && PQresultStatus(res) != PGRES_COPY_BOTH)
		{
			if (W.last)
				PQclear(W.last);
			W.last = res;
			continue;
		}
		if (res)
		{
			/* in copy mode now: no NULL result follows */
			setup_done(res);
			PQclear(res);
		}
		else
		{
			PGresult   *last = W.last;

			W.last = NULL;
			setup_done(last);
			if (last)
				PQclear(last);
		}
	}
	if (W.state == WAL_STREAMING)
		pump_stream();
}

static void
writeable(void)
{
	if (W.state == WAL_CONNECTING)
		pump();
	else if (W.state == WAL_SETUP || W.state == WAL_STREAMING)
		flush_out();
}

static void
closed(void)
{
	if (W.state != WAL_DOWN && W.state != WAL_IDLE)
		lost("replication connection lost", "socket closed");
}

static const pgsock_events events = {pump, writeable, closed};

const struct lws_protocols wal_protocol = {"laniakea-wal", pgsock_callback, 0, 0, 0, &W.sock, 0};

/* ---- choosing the source ---- */

static void
use_wal(const char *why)
{
	int			fd = open("/dev/urandom", O_RDONLY);

	W.used = SOURCE_WAL;
	M.wal_source = 1;
	lwsl_user("laniakea-bridge: source: WAL (%s)\n", why);
	/* slot names differ between processes that share a pid (hosts, containers) */
	if (fd < 0 || read(fd, &W.slot_salt, sizeof(W.slot_salt)) != sizeof(W.slot_salt))
		W.slot_salt = (uint32_t) now_us() ^ (uint32_t) getpid();
	if (fd >= 0)
		close(fd);
	W.backoff_ms = 100;
	connect_now(&W.retry);
	lws_sul_schedule(W.ctx, 0, &W.tick, tick, LWS_US_PER_SEC);
}

static void
probed(void *arg, PGresult *res, const char *error)
{
	const char *level;
	bool		may_replicate;
	long		silent;
	char	   *why;

	W.probing = false;
	if (!res || PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1)
	{
		/* asked again at the next connection */
		report("cannot tell which source to use", res ? PQresultErrorMessage(res) : error);
		return;
	}
	W.probed = true;
	level = PQgetvalue(res, 0, 0);
	may_replicate = strcmp(PQgetvalue(res, 0, 1), "t") == 0;
	silent = strtol(PQgetvalue(res, 0, 2), NULL, 10);
	if (W.used == SOURCE_NOTIFY)
	{
		if (silent > 0)
			lwsl_warn("laniakea-bridge: %ld tracked table(s) send no NOTIFY (laniakea.track(..., notify => false)): "
					  "with --source notify, clients see their changes only when the bridge reads rows again; "
					  "use --source wal\n", silent);
		return;
	}
	if (strcmp(level, "logical") != 0 || !may_replicate)
	{
		why = strcmp(level, "logical") != 0 ?
			xasprintf("wal_level is %s, not logical", level) :
			xstrdup("the bridge's role has neither REPLICATION nor SUPERUSER");
		if (W.mode == SOURCE_WAL)
		{
			W.fatal = xasprintf("--source wal cannot read the WAL here: %s", why);
		}
		else
		{
			W.used = SOURCE_NOTIFY;
			lwsl_user("laniakea-bridge: source: NOTIFY (%s)\n", why);
			if (silent > 0)
				lwsl_warn("laniakea-bridge: %ld tracked table(s) send no NOTIFY (laniakea.track(..., notify => false)): "
						  "clients see their changes only when the bridge reads rows again\n", silent);
		}
		free(why);
		return;
	}
	use_wal(W.mode == SOURCE_WAL ? "--source wal" :
			"--source auto: wal_level is logical and the role may replicate");
}

void
wal_db_ready(void)
{
	/* with --source notify, only for the warning about tables that send none */
	if (W.probing || W.probed || W.fatal)
		return;
	W.probing = true;
	db_query("SELECT current_setting('wal_level'), r.rolreplication OR r.rolsuper, "
			 "(SELECT count(*) FROM laniakea.tracked WHERE NOT notify) "
			 "FROM pg_catalog.pg_roles r WHERE r.rolname = current_user", 0, NULL, probed, NULL);
}

void
wal_start(struct lws_context *ctx, struct lws_vhost *vh, const char *conninfo, const char *mode,
		  const wal_hooks *hooks)
{
	memset(&W, 0, sizeof(W));
	W.ctx = ctx;
	pgsock_init(&W.sock, ctx, vh, wal_protocol.name, &events);
	W.conninfo = xstrdup(conninfo);
	W.hooks = *hooks;
	W.backoff_ms = 100;
	map_init(&W.pend_index);
	recent_init((size_t) CFG.wal_window_bytes);
	W.mode = strcmp(mode, "wal") == 0 ? SOURCE_WAL : strcmp(mode, "notify") == 0 ? SOURCE_NOTIFY :
		SOURCE_UNDECIDED;
	if (W.mode == SOURCE_NOTIFY)
	{
		W.used = SOURCE_NOTIFY;
		lwsl_user("laniakea-bridge: source: NOTIFY (--source notify)\n");
	}
}

void
wal_stop(void)
{
	W.stopping = true;
	lws_sul_cancel(&W.retry);
	lws_sul_cancel(&W.tick);
	if (W.conn)
		lost(NULL, NULL);
	rels_clear();
	free(W.pend);
	W.pend = NULL;
	W.cap_pend = 0;
	free(W.pend_index.buckets);
	W.pend_index.buckets = NULL;
	free(W.last_error);
	W.last_error = NULL;
	recent_clear();
}

void
wal_catalog_changed(void)
{
	if (W.state == WAL_DOWN && W.waiting_publication && !W.stopping)
	{
		W.backoff_ms = 100;
		lws_sul_schedule(W.ctx, 0, &W.retry, connect_now, 1);
	}
}

wal_source
wal_source_used(void)
{
	return W.used;
}

bool
wal_ready(void)
{
	return W.used == SOURCE_NOTIFY || (W.used == SOURCE_WAL && W.state == WAL_STREAMING);
}

const char *
wal_fatal(void)
{
	return W.fatal;
}
