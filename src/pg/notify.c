/*
 * notify.c — laniakea.notify_trigger(): the deltas of a transaction's row
 * changes, sent on channel "laniakea" when it commits.
 *
 * The AFTER ROW trigger only records (row, column deltas) in transaction
 * memory.  At pre-commit the records are coalesced per row (deltas are
 * states: merging them is exact) and packed into as few NOTIFY payloads as
 * fit under PostgreSQL's 8000-byte limit.  NOTIFY takes a cluster-wide lock
 * through commit, so fewer is faster; and since a notification is delivered
 * at commit anyway, waiting costs no latency.  A row whose entry alone does
 * not fit is sent as a reference (topic and key, "ref": true) for the reader
 * to fetch; the user's write never fails for its size.  Payload format:
 * docs/protocol.md.
 *
 * A row trigger rather than a statement trigger because the logical
 * replication apply worker fires only row triggers.  Records of a rolled-back
 * subtransaction are dropped; a prepared transaction sends nothing, as
 * PostgreSQL forbids NOTIFY there.
 */
#include "tracked.h"

#include "access/htup_details.h"
#include "access/xact.h"
#include "commands/async.h"
#include "commands/trigger.h"
#include "utils/memutils.h"
#include "utils/timestamp.h"

#define CHANNEL "laniakea"
/* Async_Notify rejects payloads of 8000 bytes or more */
#define PAYLOAD_MAX 7999

typedef struct change
{
	int			level;			/* subtransaction nesting level that made it */
	int			seq;			/* arrival order, to keep sorting stable */
	char	   *topic;			/* "crdt:<table>:<key>", the coalescing key */
	char	   *table_json;
	char	   *key_json;
	int			ncol;
	const char **col_json;
	lk_kind    *kinds;
	struct varlena **deltas;
} change;

static change **changes = NULL;
static int	nchanges = 0;
static int	cap_changes = 0;
static bool callbacks_registered = false;

static char *
json_string(MemoryContext cxt, const char *s)
{
	lk_alloc	a;
	lk_buf		b;

	lk_pg_context_alloc(&a, cxt);
	lk_buf_init(&b, &a, strlen(s) + 3);
	lk_json_put_string(&b, lk_str_make(s, strlen(s)));
	lk_buf_put_u8(&b, '\0');
	return (char *) b.data;
}

static void
record(change *c)
{
	if (nchanges == cap_changes)
	{
		int			cap = cap_changes ? cap_changes * 2 : 64;
		change	  **grown = MemoryContextAlloc(TopTransactionContext, cap * sizeof(change *));

		if (nchanges)
			memcpy(grown, changes, nchanges * sizeof(change *));
		changes = grown;
		cap_changes = cap;
	}
	c->seq = nchanges;
	changes[nchanges++] = c;
}

static int
change_cmp(const void *x, const void *y)
{
	const change *a = *(const change *const *) x;
	const change *b = *(const change *const *) y;
	int			c = strcmp(a->topic, b->topic);

	return c ? c : a->seq - b->seq;
}

/* Fold b's deltas into a (same row). */
static void
coalesce(change *a, const change *b)
{
	for (int j = 0; j < b->ncol; j++)
	{
		int			i;

		for (i = 0; i < a->ncol; i++)
			if (strcmp(a->col_json[i], b->col_json[j]) == 0)
				break;
		if (i < a->ncol)
		{
			size_t		alen,
						blen;
			const uint8_t *pa = lk_pg_bytes(a->deltas[i], &alen);
			const uint8_t *pb = lk_pg_bytes(b->deltas[j], &blen);
			lk_state	sa,
						sb,
						m;
			lk_error	err;

			lk_pg_check(lk_state_decode(pa, alen, a->kinds[i], &lk_pg_alloc, &sa, &err), &err);
			lk_pg_check(lk_state_decode(pb, blen, b->kinds[j], &lk_pg_alloc, &sb, &err), &err);
			lk_pg_check(lk_state_merge(&sa, &sb, &lk_pg_alloc, &m, &err), &err);
			a->deltas[i] = lk_pg_state_datum(&m);
		}
		else
		{
			/* a has room: every change is allocated with one slot per CRDT column */
			a->col_json[a->ncol] = b->col_json[j];
			a->kinds[a->ncol] = b->kinds[j];
			a->deltas[a->ncol] = b->deltas[j];
			a->ncol++;
		}
	}
}

static void
entry_json(lk_buf *b, const change *c, bool as_ref)
{
	lk_buf_put_str(b, "{\"topic\":");
	lk_json_put_string(b, lk_str_make(c->topic, strlen(c->topic)));
	lk_buf_put_str(b, ",\"table\":");
	lk_buf_put_str(b, c->table_json);
	lk_buf_put_str(b, ",\"key\":");
	lk_buf_put_str(b, c->key_json);
	if (as_ref)
	{
		lk_buf_put_str(b, ",\"ref\":true}");
		return;
	}
	lk_buf_put_str(b, ",\"deltas\":{");
	for (int i = 0; i < c->ncol; i++)
	{
		size_t		len;
		const uint8_t *p = lk_pg_bytes(c->deltas[i], &len);
		lk_state	s;
		lk_error	err;

		lk_pg_check(lk_state_decode(p, len, c->kinds[i], &lk_pg_alloc, &s, &err), &err);
		if (i)
			lk_buf_put_u8(b, ',');
		lk_buf_put_str(b, c->col_json[i]);
		lk_buf_put_u8(b, ':');
		lk_state_to_json(&s, b);
	}
	lk_buf_put_str(b, "}}");
}

static void
send_payload(lk_buf *payload)
{
	lk_buf_put_str(payload, "]}");
	lk_buf_put_u8(payload, '\0');
	Async_Notify(CHANNEL, (const char *) payload->data);
	payload->len = 0;
}

/* Coalesce, pack and NOTIFY everything recorded in this transaction. */
static void
flush(void)
{
	lk_buf		payload,
				entry;
	char		head[64];
	size_t		head_len;
	int			n = 0;

	if (nchanges == 0)
		return;
	qsort(changes, nchanges, sizeof(change *), change_cmp);
	for (int i = 1; i < nchanges; i++)
	{
		if (strcmp(changes[n]->topic, changes[i]->topic) == 0)
			coalesce(changes[n], changes[i]);
		else
			changes[++n] = changes[i];
	}
	nchanges = n + 1;

	/* commit time (Unix microseconds), so listeners can measure their lag */
	head_len = snprintf(head, sizeof(head), "{\"ts\":" INT64_FORMAT ",\"rows\":[",
						GetCurrentTimestamp() +
						(POSTGRES_EPOCH_JDATE - UNIX_EPOCH_JDATE) * USECS_PER_DAY);
	lk_buf_init(&payload, &lk_pg_alloc, PAYLOAD_MAX + 1);
	lk_buf_init(&entry, &lk_pg_alloc, 256);
	for (int i = 0; i < nchanges; i++)
	{
		size_t		room = PAYLOAD_MAX - head_len - 2;

		entry.len = 0;
		entry_json(&entry, changes[i], false);
		if (entry.len > room)
		{
			entry.len = 0;
			entry_json(&entry, changes[i], true);
			if (entry.len > room)
				ereport(WARNING,
						(errmsg("laniakea: key of %s is too long to notify", changes[i]->table_json),
						 errdetail("Listeners must resynchronize the table to see this change.")));
			if (entry.len > room)
				continue;
		}
		if (payload.len > 0 && payload.len + 1 + entry.len + 2 > PAYLOAD_MAX)
			send_payload(&payload);
		if (payload.len == 0)
			lk_buf_put(&payload, head, head_len);
		else
			lk_buf_put_u8(&payload, ',');
		lk_buf_put(&payload, entry.data, entry.len);
	}
	if (payload.len > 0)
		send_payload(&payload);
	nchanges = 0;
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
			/* the memory goes with TopTransactionContext */
			changes = NULL;
			nchanges = cap_changes = 0;
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

void		lk_notify_init(void);

void
lk_notify_init(void)
{
	if (callbacks_registered)
		return;
	RegisterXactCallback(xact_callback, NULL);
	RegisterSubXactCallback(subxact_callback, NULL);
	callbacks_registered = true;
}

static struct varlena *
column_bytes(Datum d)
{
	return (struct varlena *) PG_DETOAST_DATUM_PACKED(d);
}

PG_FUNCTION_INFO_V1(notify_trigger);
Datum
notify_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	TupleDesc	desc;
	tracked_rel *tr;
	HeapTuple	newtup,
				oldtup = NULL;
	MemoryContext old;
	change	   *c;
	char	   *key;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_AFTER(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("laniakea.notify_trigger() must be fired AFTER INSERT OR UPDATE FOR EACH ROW")));
	rel = td->tg_relation;
	desc = RelationGetDescr(rel);
	tr = tracked_rel_get(rel);
	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		oldtup = td->tg_trigtuple;
		newtup = td->tg_newtuple;
	}
	else
		newtup = td->tg_trigtuple;

	old = MemoryContextSwitchTo(TopTransactionContext);
	c = palloc0(sizeof(change));
	c->col_json = palloc(tr->ncrdt * sizeof(char *));
	c->kinds = palloc(tr->ncrdt * sizeof(lk_kind));
	c->deltas = palloc(tr->ncrdt * sizeof(struct varlena *));
	MemoryContextSwitchTo(old);

	for (int i = 0; i < tr->ncrdt; i++)
	{
		bool		nnull,
					onull = true;
		Datum		nd = heap_getattr(newtup, tr->crdt[i].attnum, desc, &nnull);
		Datum		od = oldtup ? heap_getattr(oldtup, tr->crdt[i].attnum, desc, &onull) : 0;
		struct varlena *delta;
		size_t		nlen;
		const uint8_t *np;
		lk_state	ns;
		lk_error	err;

		if (nnull)
			continue;
		np = lk_pg_bytes(column_bytes(nd), &nlen);
		if (onull)
		{
			/* the whole new state is the delta: keep its bytes, no decoding */
			delta = MemoryContextAlloc(TopTransactionContext, VARHDRSZ + nlen);
			SET_VARSIZE(delta, VARHDRSZ + nlen);
			memcpy(VARDATA(delta), np, nlen);
		}
		else
		{
			size_t		olen;
			const uint8_t *op = lk_pg_bytes(column_bytes(od), &olen);
			lk_state	os,
						d;

			if (olen == nlen && memcmp(op, np, nlen) == 0)
				continue;
			lk_pg_check(lk_state_decode(np, nlen, tr->crdt[i].kind, &lk_pg_alloc, &ns, &err), &err);
			lk_pg_check(lk_state_decode(op, olen, tr->crdt[i].kind, &lk_pg_alloc, &os, &err), &err);
			lk_pg_check(lk_state_delta(&os, &ns, &lk_pg_alloc, &d, &err), &err);
			old = MemoryContextSwitchTo(TopTransactionContext);
			delta = lk_pg_state_datum(&d);
			MemoryContextSwitchTo(old);
		}
		c->col_json[c->ncol] = tr->crdt[i].json_name;
		c->kinds[c->ncol] = tr->crdt[i].kind;
		c->deltas[c->ncol] = delta;
		c->ncol++;
	}
	if (c->ncol == 0)
		return PointerGetDatum(NULL);

	key = tracked_key_text(tr, newtup, desc);
	c->level = GetCurrentTransactionNestLevel();
	c->topic = MemoryContextStrdup(TopTransactionContext,
								   psprintf("crdt:%s:%s", tr->name, key));
	c->table_json = tr->name_json;
	c->key_json = json_string(TopTransactionContext, key);
	record(c);
	return PointerGetDatum(NULL);
}
