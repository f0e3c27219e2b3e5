/*
 * notify.c — laniakea.notify_trigger(): the deltas of a transaction's row
 * changes, sent on channel "laniakea" when it commits.
 *
 * The AFTER ROW trigger only records (row, column deltas) in transaction
 * memory; a DELETE records the row's deletion and a TRUNCATE (a statement
 * trigger) the table's.  At pre-commit the records are coalesced per row, in
 * the order they were made (deltas are states: merging them is exact; a
 * deletion drops what came before it), and packed into as few NOTIFY payloads
 * as fit under PostgreSQL's 8000-byte limit.  NOTIFY takes a cluster-wide
 * lock through commit, so fewer is faster; and since a notification is
 * delivered at commit anyway, waiting costs no latency.  A row whose entry
 * alone does not fit is sent as a reference (topic and key, "ref": true) for
 * the reader to fetch; the user's write never fails for its size.  Payload
 * format: docs/protocol.md.
 *
 * Records are kept per (relation OID, key), never per topic string: two
 * tables may share a topic prefix, and a row's columns may change type or
 * number within the transaction (ALTER TABLE), so a record holds its own
 * growing column list.  Memory is bounded by laniakea.notify_memory: past it,
 * the transaction's records are dropped and every table it touches is sent
 * as one "resync" entry instead, for readers to re-read what they hold.
 *
 * A row trigger rather than a statement trigger because the logical
 * replication apply worker fires only row triggers.  Records of a rolled-back
 * subtransaction are dropped; a prepared transaction sends nothing, as
 * PostgreSQL forbids NOTIFY there.
 */
#include "notify.h"
#include "lk_topic.h"
#include "tombstone.h"
#include "tracked.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "utils/guc.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define CHANNEL "laniakea"
/* Async_Notify rejects payloads of 8000 bytes or more */
#define PAYLOAD_MAX 7999

typedef struct col_delta
{
	const char *json_name;		/* the column name as a JSON string literal */
	lk_kind		kind;
	struct varlena *delta;
} col_delta;

/* What a table looked like when its rows were recorded, shared by its records. */
typedef struct rel_names
{
	Oid			relid;
	uint32		generation;		/* of the tracked_rel these were copied from */
	char	   *table_json;		/* <table> of its topics, escaped (lk_topic.h), as a JSON string */
	char	   *prefix;			/* "crdt:<table>" */
	bool		resync;			/* send the table as a "resync" entry */
	bool		resync_packed;	/* one was packed in this flush */
	int			ncol;
	char	  **col_json;		/* by position in tracked_rel.crdt */
	struct rel_names *next;
} rel_names;

typedef struct change
{
	int			level;			/* subtransaction nesting level that made it */
	int			seq;			/* the order changes were made in */
	rel_names  *rel;
	char	   *key;			/* NULL: the table was truncated */
	bool		deleted;		/* the row was deleted (after which cols start anew) */
	int64		cl;				/* causal length after the change; 0 unknown */
	int			ncol;
	int			cap;
	col_delta  *cols;
} change;

/* Everything below lives in cxt, a child of TopTransactionContext. */
static MemoryContext cxt = NULL;
static change **changes = NULL;
static int	nchanges = 0;
static int	cap_changes = 0;
static int	seq = 0;
static rel_names *rels = NULL;
static bool overflowed = false;

static bool callbacks_registered = false;
static int	notify_memory_kb = 16384;

static void
forget_all(void)
{
	/* the memory goes with TopTransactionContext */
	cxt = NULL;
	changes = NULL;
	rels = NULL;
	nchanges = cap_changes = seq = 0;
	overflowed = false;
}

static MemoryContext
record_context(void)
{
	if (cxt == NULL)
		cxt = AllocSetContextCreate(TopTransactionContext, "laniakea notify records",
									ALLOCSET_DEFAULT_SIZES);
	return cxt;
}

/* The names of tr for this transaction's records (copied: tr may be rebuilt). */
static rel_names *
names_of(tracked_rel *tr)
{
	rel_names  *rn;
	MemoryContext old;

	for (rn = rels; rn; rn = rn->next)
		if (rn->relid == tr->relid && rn->generation == tr->generation)
			return rn;
	old = MemoryContextSwitchTo(record_context());
	rn = palloc0(sizeof(rel_names));
	rn->relid = tr->relid;
	rn->generation = tr->generation;
	rn->table_json = pstrdup(tr->topic_table_json);
	rn->prefix = psprintf(LK_TOPIC_PREFIX "%s", tr->topic_table);
	rn->ncol = tr->ncrdt;
	rn->col_json = palloc(sizeof(char *) * Max(tr->ncrdt, 1));
	for (int i = 0; i < tr->ncrdt; i++)
		rn->col_json[i] = pstrdup(tr->crdt[i].json_name);
	rn->next = rels;
	rels = rn;
	MemoryContextSwitchTo(old);
	return rn;
}

/* Mark every table with records, and the one at hand, for a resync. */
static void
overflow(void)
{
	rel_names  *keep = NULL;

	/* the names survive: copy them out of the context about to be reset */
	for (rel_names *rn = rels; rn; rn = rn->next)
	{
		rel_names  *k = MemoryContextAllocZero(TopTransactionContext, sizeof(rel_names));

		k->relid = rn->relid;
		k->generation = 0;		/* never matched again: no further records */
		k->table_json = MemoryContextStrdup(TopTransactionContext, rn->table_json);
		k->prefix = MemoryContextStrdup(TopTransactionContext, rn->prefix);
		k->resync = true;
		k->next = keep;
		keep = k;
	}
	MemoryContextReset(cxt);
	changes = NULL;
	nchanges = cap_changes = 0;
	rels = keep;
	overflowed = true;
	ereport(DEBUG1,
			(errmsg("laniakea: notifications of this transaction passed laniakea.notify_memory, sending table resyncs")));
}

/* Has tr's table been put to a resync?  Then its rows need no record. */
static bool
resyncing(tracked_rel *tr)
{
	if (!overflowed)
		return false;
	for (rel_names *rn = rels; rn; rn = rn->next)
		if (rn->relid == tr->relid)
			return true;
	/* a table first touched after the overflow */
	{
		rel_names  *k = MemoryContextAllocZero(TopTransactionContext, sizeof(rel_names));

		k->relid = tr->relid;
		k->table_json = MemoryContextStrdup(TopTransactionContext, tr->topic_table_json);
		k->prefix = MemoryContextStrdup(TopTransactionContext, psprintf(LK_TOPIC_PREFIX "%s", tr->topic_table));
		k->resync = true;
		k->next = rels;
		rels = k;
	}
	return true;
}

static change *
new_change(tracked_rel *tr, const char *key, int ncol)
{
	MemoryContext old = MemoryContextSwitchTo(record_context());
	change	   *c = palloc0(sizeof(change));

	c->rel = names_of(tr);
	c->key = key ? pstrdup(key) : NULL;
	c->level = GetCurrentTransactionNestLevel();
	c->cap = Max(ncol, 1);
	c->cols = palloc(sizeof(col_delta) * c->cap);
	MemoryContextSwitchTo(old);
	return c;
}

static void
record(change *c)
{
	if (nchanges == cap_changes)
	{
		int			cap = cap_changes ? cap_changes * 2 : 64;

		changes = changes ? repalloc(changes, cap * sizeof(change *)) :
			MemoryContextAlloc(cxt, cap * sizeof(change *));
		cap_changes = cap;
	}
	c->seq = seq++;
	changes[nchanges++] = c;
	if (MemoryContextMemAllocated(cxt, true) > (Size) notify_memory_kb * 1024)
		overflow();
}

/* ---- coalescing ---- */

static int
change_cmp(const void *x, const void *y)
{
	const change *a = *(const change *const *) x;
	const change *b = *(const change *const *) y;
	int			c;

	if (a->rel->relid != b->rel->relid)
		return a->rel->relid < b->rel->relid ? -1 : 1;
	/* a table's truncation sorts before its rows */
	if (!a->key || !b->key)
		c = (a->key != NULL) - (b->key != NULL);
	else
		c = strcmp(a->key, b->key);
	return c ? c : a->seq - b->seq;
}

static void
add_col(change *a, const col_delta *d)
{
	if (a->ncol == a->cap)
	{
		a->cap *= 2;
		a->cols = repalloc(a->cols, sizeof(col_delta) * a->cap);
	}
	a->cols[a->ncol++] = *d;
}

/* Fold b, made later, into a (same row). */
static void
coalesce(change *a, const change *b)
{
	if (b->deleted || (b->cl && a->cl && b->cl > a->cl))
	{
		/* a deletion, or a new incarnation whose deltas are whole states */
		a->ncol = 0;
		a->deleted = b->deleted;
		a->cl = b->cl;
	}
	else if (b->cl && a->cl && b->cl < a->cl)
		return;
	else if (b->cl)
		a->cl = b->cl;
	for (int j = 0; j < b->ncol; j++)
	{
		const col_delta *bd = &b->cols[j];
		int			i;

		for (i = 0; i < a->ncol; i++)
			if (strcmp(a->cols[i].json_name, bd->json_name) == 0)
				break;
		if (i == a->ncol)
			add_col(a, bd);
		else if (a->cols[i].kind != bd->kind)
			a->cols[i] = *bd;	/* the column changed type: only the later state means anything */
		else
		{
			col_delta  *ad = &a->cols[i];
			size_t		alen,
						blen;
			const uint8_t *pa = lk_pg_bytes(ad->delta, &alen);
			const uint8_t *pb = lk_pg_bytes(bd->delta, &blen);
			lk_state	sa,
						sb,
						m;
			lk_error	err;

			lk_pg_check(lk_state_decode(pa, alen, ad->kind, &lk_pg_alloc, &sa, &err), &err);
			lk_pg_check(lk_state_decode(pb, blen, bd->kind, &lk_pg_alloc, &sb, &err), &err);
			lk_pg_check(lk_state_merge(&sa, &sb, &lk_pg_alloc, &m, &err), &err);
			ad->delta = lk_pg_state_datum(&m);
		}
	}
}

/* ---- payloads ---- */

static void
entry_head(lk_buf *b, const rel_names *rn, const char *key)
{
	lk_buf_put_str(b, "{\"topic\":");
	if (key)
	{
		char	   *topic = psprintf("%s:%s", rn->prefix, key);

		lk_json_put_string(b, lk_str_make(topic, strlen(topic)));
		pfree(topic);
	}
	else
		lk_json_put_string(b, lk_str_make(rn->prefix, strlen(rn->prefix)));
	lk_buf_put_str(b, ",\"table\":");
	lk_buf_put_str(b, rn->table_json);
	if (key)
	{
		lk_buf_put_str(b, ",\"key\":");
		lk_json_put_string(b, lk_str_make(key, strlen(key)));
	}
}

static void
entry_json(lk_buf *b, const change *c, bool as_ref)
{
	char		num[32];

	entry_head(b, c->rel, c->key);
	if (c->cl > 1)
	{
		snprintf(num, sizeof(num), ",\"cl\":" INT64_FORMAT, c->cl);
		lk_buf_put_str(b, num);
	}
	if (c->deleted)
	{
		lk_buf_put_str(b, ",\"deleted\":true}");
		return;
	}
	if (as_ref)
	{
		lk_buf_put_str(b, ",\"ref\":true}");
		return;
	}
	lk_buf_put_str(b, ",\"deltas\":{");
	for (int i = 0; i < c->ncol; i++)
	{
		size_t		len;
		const uint8_t *p = lk_pg_bytes(c->cols[i].delta, &len);
		lk_state	s;
		lk_error	err;

		lk_pg_check(lk_state_decode(p, len, c->cols[i].kind, &lk_pg_alloc, &s, &err), &err);
		if (i)
			lk_buf_put_u8(b, ',');
		lk_buf_put_str(b, c->cols[i].json_name);
		lk_buf_put_u8(b, ':');
		lk_state_to_json(&s, b);
	}
	lk_buf_put_str(b, "}}");
}

typedef struct packer
{
	lk_buf		payload;
	char		head[64];
	size_t		head_len;
} packer;

static void
send_payload(packer *p)
{
	lk_buf_put_str(&p->payload, "]}");
	lk_buf_put_u8(&p->payload, '\0');
	Async_Notify(CHANNEL, (const char *) p->payload.data);
	p->payload.len = 0;
}

static size_t
room(const packer *p)
{
	return PAYLOAD_MAX - p->head_len - 2;
}

static void
pack(packer *p, const lk_buf *entry)
{
	if (p->payload.len > 0 && p->payload.len + 1 + entry->len + 2 > PAYLOAD_MAX)
		send_payload(p);
	if (p->payload.len == 0)
		lk_buf_put(&p->payload, p->head, p->head_len);
	else
		lk_buf_put_u8(&p->payload, ',');
	lk_buf_put(&p->payload, entry->data, entry->len);
}

/* A table-level entry: "truncated" or "resync". */
static void
pack_table(packer *p, lk_buf *entry, const rel_names *rn, const char *what)
{
	entry->len = 0;
	entry_head(entry, rn, NULL);
	lk_buf_put_str(entry, ",\"");
	lk_buf_put_str(entry, what);
	lk_buf_put_str(entry, "\":true}");
	if (entry->len > room(p))
	{
		ereport(WARNING,
				(errmsg("laniakea: name of %s is too long to notify", rn->table_json),
				 errdetail("Listeners must resynchronize the table to see this change.")));
		return;
	}
	pack(p, entry);
}

static void
pack_row(packer *p, lk_buf *entry, change *c)
{
	entry->len = 0;
	entry_json(entry, c, false);
	if (entry->len > room(p))
	{
		entry->len = 0;
		entry_json(entry, c, true);
		if (entry->len > room(p))
		{
			/* not even its reference fits: the table's readers re-read it */
			if (!c->rel->resync_packed)
				pack_table(p, entry, c->rel, "resync");
			c->rel->resync_packed = true;
			return;
		}
	}
	pack(p, entry);
}

/* Coalesce, pack and NOTIFY everything recorded in this transaction. */
static void
flush(void)
{
	packer		p;
	lk_buf		entry;

	if (nchanges == 0 && !overflowed)
		return;

	/* commit time (Unix microseconds), so listeners can measure their lag */
	p.head_len = snprintf(p.head, sizeof(p.head), "{\"ts\":" INT64_FORMAT ",\"rows\":[",
						  GetCurrentTimestamp() +
						  (POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
	lk_buf_init(&p.payload, &lk_pg_alloc, PAYLOAD_MAX + 1);
	lk_buf_init(&entry, &lk_pg_alloc, 256);

	if (overflowed)
	{
		for (rel_names *rn = rels; rn; rn = rn->next)
			pack_table(&p, &entry, rn, "resync");
		if (p.payload.len > 0)
			send_payload(&p);
		forget_all();
		return;
	}

	qsort(changes, nchanges, sizeof(change *), change_cmp);
	for (int i = 0; i < nchanges;)
	{
		Oid			relid = changes[i]->rel->relid;
		int			truncated_at = -1;
		int			end = i;

		/* the table's records: [i, end); its last truncation hides rows before it */
		while (end < nchanges && changes[end]->rel->relid == relid)
		{
			if (changes[end]->key == NULL)
				truncated_at = Max(truncated_at, changes[end]->seq);
			end++;
		}
		if (truncated_at >= 0)
			pack_table(&p, &entry, changes[i]->rel, "truncated");
		for (int j = i; j < end;)
		{
			change	   *c = changes[j];
			int			k = j + 1;

			if (c->key == NULL || c->seq < truncated_at)
			{
				j++;
				continue;
			}
			for (; k < end && changes[k]->key && strcmp(changes[k]->key, c->key) == 0; k++)
				coalesce(c, changes[k]);
			pack_row(&p, &entry, c);
			j = k;
		}
		i = end;
	}
	if (p.payload.len > 0)
		send_payload(&p);
	forget_all();
}

static void
xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_COMMIT:
			flush();
			break;
		case XACT_EVENT_PRE_PREPARE:
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PREPARE:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_PARALLEL_ABORT:
			forget_all();
			break;
		default:
			break;
	}
}

static void
subxact_callback(SubXactEvent event, SubTransactionId sub, SubTransactionId parent, void *arg)
{
	int			level = GetCurrentTransactionNestLevel();
	int			kept = 0;

	if (event != SUBXACT_EVENT_ABORT_SUB && event != SUBXACT_EVENT_COMMIT_SUB)
		return;
	for (int i = 0; i < nchanges; i++)
	{
		if (changes[i]->level >= level)
		{
			if (event == SUBXACT_EVENT_ABORT_SUB)
				continue;
			changes[i]->level = level - 1;
		}
		changes[kept++] = changes[i];
	}
	nchanges = kept;
}

void
lk_notify_init(void)
{
	if (callbacks_registered)
		return;
	DefineCustomIntVariable("laniakea.notify_memory",
							"Memory a transaction's change notifications may take before tables are sent as resyncs.",
							"Past it, listeners are told to re-read the tables the transaction changed.",
							&notify_memory_kb,
							16384, 64, MAX_KILOBYTES,
							PGC_USERSET,
							GUC_UNIT_KB,
							NULL, NULL, NULL);
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
	callbacks_registered = true;
}

/* ---- recording ---- */

static struct varlena *
column_bytes(Datum d)
{
	return (struct varlena *) PG_DETOAST_DATUM_PACKED(d);
}

/* A copy of a state's bytes in the record context, as a varlena. */
static struct varlena *
copy_state(const uint8_t *p, size_t len)
{
	struct varlena *v = MemoryContextAlloc(cxt, VARHDRSZ + len);

	SET_VARSIZE(v, VARHDRSZ + len);
	memcpy(VARDATA(v), p, len);
	return v;
}

void
notify_deleted(tracked_rel *tr, const char *key, int64 cl)
{
	change	   *c;

	if (resyncing(tr))
		return;
	c = new_change(tr, key, 0);
	c->deleted = true;
	c->cl = cl;
	record(c);
}

void
notify_truncated(tracked_rel *tr)
{
	if (resyncing(tr))
		return;
	record(new_change(tr, NULL, 0));
}

/* Record a row's INSERT (oldtup NULL) or UPDATE. */
static void
record_write(tracked_rel *tr, TupleDesc desc, HeapTuple oldtup, HeapTuple newtup)
{
	int64		ncl = tr->cl_attnum ? tracked_row_cl(tr, newtup, desc) : 0;
	int64		ocl = oldtup && tr->cl_attnum ? tracked_row_cl(tr, oldtup, desc) : 0;
	change	   *c;

	/* a new incarnation of the row replaces the old: send whole states */
	if (oldtup && ncl != ocl)
		oldtup = NULL;
	c = new_change(tr, NULL, tr->ncrdt);
	c->cl = ncl;
	for (int i = 0; i < tr->ncrdt; i++)
	{
		bool		nnull,
					onull = true;
		Datum		nd = heap_getattr(newtup, tr->crdt[i].attnum, desc, &nnull);
		Datum		od = oldtup ? heap_getattr(oldtup, tr->crdt[i].attnum, desc, &onull) : 0;
		col_delta	d;
		size_t		nlen;
		const uint8_t *np;

		if (nnull)
			continue;
		np = lk_pg_bytes(column_bytes(nd), &nlen);
		if (onull)
			d.delta = copy_state(np, nlen); /* the whole new state: no decoding */
		else
		{
			size_t		olen;
			const uint8_t *op = lk_pg_bytes(column_bytes(od), &olen);
			lk_state	ns,
						os,
						delta;
			lk_error	err;
			MemoryContext old;

			if (olen == nlen && memcmp(op, np, nlen) == 0)
				continue;
			lk_pg_check(lk_state_decode(np, nlen, tr->crdt[i].kind, &lk_pg_alloc, &ns, &err), &err);
			lk_pg_check(lk_state_decode(op, olen, tr->crdt[i].kind, &lk_pg_alloc, &os, &err), &err);
			lk_pg_check(lk_state_delta(&os, &ns, &lk_pg_alloc, &delta, &err), &err);
			old = MemoryContextSwitchTo(cxt);
			d.delta = lk_pg_state_datum(&delta);
			MemoryContextSwitchTo(old);
		}
		d.json_name = c->rel->col_json[i];
		d.kind = tr->crdt[i].kind;
		c->cols[c->ncol++] = d;
	}
	if (c->ncol == 0 && oldtup)
	{
		pfree(c->cols);
		pfree(c);
		return;
	}
	c->key = MemoryContextStrdup(cxt, tracked_key_text(tr, newtup, desc));
	record(c);
}

PG_FUNCTION_INFO_V1(notify_trigger);
Datum
notify_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TriggerEvent ev;
	Relation	rel;
	TupleDesc	desc;
	tracked_rel *tr;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!(TRIGGER_FIRED_FOR_ROW(td->tg_event) ?
		  !TRIGGER_FIRED_BY_TRUNCATE(td->tg_event) : TRIGGER_FIRED_BY_TRUNCATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("laniakea.notify_trigger() must be fired AFTER INSERT OR UPDATE OR DELETE FOR EACH ROW, or AFTER TRUNCATE FOR EACH STATEMENT")));
	ev = td->tg_event;
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	tr = tracked_rel_get(rel);
	if (TRIGGER_FIRED_BY_TRUNCATE(ev))
		notify_truncated(tr);
	else if (resyncing(tr))
		 /* the table goes as a whole */ ;
	else if (TRIGGER_FIRED_BY_DELETE(ev))
	{
		HeapTuple	oldtup = td->tg_trigtuple;
		int64		cl = tombstone_purging_cl();

		if (cl == 0)
			cl = tr->cl_attnum ? tracked_row_cl(tr, oldtup, desc) + 1 : 0;
		notify_deleted(tr, tracked_key_text(tr, oldtup, desc), cl);
	}
	else if (TRIGGER_FIRED_BY_UPDATE(ev))
		record_write(tr, desc, td->tg_trigtuple, td->tg_newtuple);
	else
		record_write(tr, desc, NULL, td->tg_trigtuple);
	return PointerGetDatum(NULL);
}
