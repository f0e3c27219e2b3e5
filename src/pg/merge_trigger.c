/*
 * merge_trigger.c — laniakea.merge_trigger(): rows of a tracked table are
 * merged, never overwritten.
 *
 * BEFORE UPDATE: each CRDT column becomes merge(existing, incoming); when the
 * result equals the existing row the update is skipped (NULL), which is what
 * ends the echo when two nodes replicate to each other.  The other columns
 * are fixed after insert: a local UPDATE that changes one is an error, and
 * when two versions meet (replication, an INSERT that collides) the one whose
 * first differing column has the greater text wins, an order-independent rule
 * that converges.
 *
 * BEFORE INSERT: when the key exists, the INSERT becomes that merge, through
 * INSERT … ON CONFLICT DO UPDATE (so the race with a concurrent insert is
 * PostgreSQL's to handle) and the original row is skipped.  A new key inserted
 * locally takes the fast path: one index probe, no SPI.  Replication (session
 * role replica) always takes the upsert, which cannot fail on the key.  The
 * moment between the probe and the row's index entry is covered by a short
 * lock on the key (see "Key locks" below).
 *
 * Causal length (laniakea_cl, tombstone.c) comes first: of two versions of a
 * row, the one of the later incarnation wins whole, and a state of an
 * incarnation this node has deleted is discarded (NULL).  An INSERT of a key
 * that is absent here takes the incarnation after its last deletion when it
 * leaves laniakea_cl NULL (every local INSERT does), and is discarded when its
 * own is not above that deletion's (a stale replicated or pushed row).
 */
#include "tombstone.h"
#include "tracked.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/xact.h"
#include "catalog/pg_type.h"
#include "commands/trigger.h"
#include "common/hashfn.h"
#include "lib/stringinfo.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "storage/lock.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgrprotos.h"
#include "utils/lsyscache.h"
#include "utils/memutils.h"
#include "utils/resowner.h"
#include "utils/snapmgr.h"

/*
 * The upsert this backend is running, if any: its own statement fires our
 * triggers on that relation one trigger level deeper, and only those firings
 * are "the upsert's own" (its INSERT passes, its UPDATE merges as a collision
 * does).  Anything else that fires meanwhile (a user's trigger writing to a
 * tracked table) is an ordinary write.
 */
static Oid	upsert_rel = InvalidOid;
static int	upsert_level = -1;

static bool
is_plain_column(Form_pg_attribute att)
{
	return !att->attisdropped && att->attgenerated == '\0';
}

/* The kind of a CRDT column, 0 for the other columns. */
static lk_kind
column_kind(tracked_rel *tr, AttrNumber attnum)
{
	for (int i = 0; i < tr->ncrdt; i++)
		if (tr->crdt[i].attnum == attnum)
			return tr->crdt[i].kind;
	return 0;
}

static bool
same_value(Form_pg_attribute att, Datum a, bool anull, Datum b, bool bnull)
{
	if (anull || bnull)
		return anull == bnull;
	return datum_image_eq(a, b, att->attbyval, att->attlen);
}

/* Order two values by their text, printed alike on every node and in every session. */
static int
text_cmp(Form_pg_attribute att, Datum a, bool anull, Datum b, bool bnull)
{
	Oid			out;
	bool		varlena;
	int			nest;
	int			c;

	if (anull || bnull)
		return (int) bnull - (int) anull;
	getTypeOutputInfo(att->atttypid, &out, &varlena);
	nest = tracked_pin_settings();
	c = strcmp(OidOutputFunctionCall(out, a), OidOutputFunctionCall(out, b));
	tracked_unpin_settings(nest);
	return c;
}

/*
 * What replication cannot merge.
 *
 * In a replica, a merge that would pass a documented limit (node ids,
 * elements, encoded size: lk_limits.h) must not stop replication, which is
 * what an error in the apply worker does: it would fail on the same change
 * for ever.  Nor may the incoming state vanish.  So the column keeps its
 * local value, the incoming state goes to laniakea.rejected with the reason,
 * and a WARNING says so (docs/replication.md).  A local write still gets the
 * error: its writer is there to act on it.
 */
static void
reject(tracked_rel *tr, Relation rel, HeapTuple tup, Form_pg_attribute att,
	   const lk_state *incoming, const lk_error *err)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[6] = {REGCLASSOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID, TEXTOID};
	Datum		args[6];
	char		nulls[7] = "      ";
	char	   *key = tracked_key_text(tr, tup, RelationGetDescr(rel));
	char	   *origin = NULL;
	lk_buf		state;
	int64		id;
	bool		isnull;

	lk_buf_init(&state, &lk_pg_alloc, 256);
	lk_state_to_json(incoming, &state);
	lk_buf_put_u8(&state, '\0');
	if (replorigin_session_origin != InvalidRepOriginId)
		(void) replorigin_by_oid(replorigin_session_origin, true, &origin);
	args[0] = ObjectIdGetDatum(RelationGetRelid(rel));
	args[1] = CStringGetTextDatum(key);
	args[2] = CStringGetTextDatum(NameStr(att->attname));
	args[3] = CStringGetTextDatum((char *) state.data);
	args[4] = CStringGetTextDatum(err->detail[0] ? psprintf("%s: %s", err->msg, err->detail) : err->msg);
	args[5] = origin ? CStringGetTextDatum(origin) : (Datum) 0;
	nulls[5] = origin ? ' ' : 'n';

	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (plan == NULL)
	{
		plan = SPI_prepare("INSERT INTO laniakea.rejected (tbl, key, col, state, reason, origin) "
						   "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id", 6, types);
		if (plan == NULL)
			elog(ERROR, "SPI_prepare failed: %s", SPI_result_code_string(SPI_result));
		SPI_keepplan(plan);
	}
	if (SPI_execute_plan(plan, args, nulls, false, 1) != SPI_OK_INSERT_RETURNING || SPI_processed != 1)
		elog(ERROR, "recording a rejected state failed");
	id = DatumGetInt64(SPI_getbinval(SPI_tuptable->vals[0], SPI_tuptable->tupdesc, 1, &isnull));
	SPI_finish();
	ereport(WARNING,
			(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
			 errmsg("could not merge replicated value of column \"%s\" of table \"%s\": %s",
					NameStr(att->attname), RelationGetRelationName(rel), err->msg),
			 errdetail("The row with key %s keeps its local value; the incoming state is kept in laniakea.rejected (id " INT64_FORMAT ").",
					   key, id)));
}

/*
 * A CRDT column's merge(a, b), where a is the row's value and b the incoming
 * one.  local: the write is made on this node, so it may not raise a
 * counter's total beyond bigint (lk_pg_check_totals).  In a replica, a merge
 * past a limit keeps a (see reject).
 */
static Datum
merge_values(tracked_rel *tr, Relation rel, HeapTuple tup, Form_pg_attribute att,
			 lk_kind kind, Datum a, Datum b, bool local)
{
	struct varlena *va = (struct varlena *) PG_DETOAST_DATUM_PACKED(a);
	struct varlena *vb = (struct varlena *) PG_DETOAST_DATUM_PACKED(b);
	size_t		alen,
				blen;
	const uint8_t *pa = lk_pg_bytes(va, &alen);
	const uint8_t *pb = lk_pg_bytes(vb, &blen);
	lk_state	sa,
				sb,
				m;
	lk_buf		out;
	lk_error	err;
	lk_code		rc;

	if (alen == blen && memcmp(pa, pb, alen) == 0)
		return a;
	lk_pg_check(lk_state_decode(pa, alen, kind, &lk_pg_alloc, &sa, &err), &err);
	lk_pg_check(lk_state_decode(pb, blen, kind, &lk_pg_alloc, &sb, &err), &err);
	rc = lk_state_merge(&sa, &sb, &lk_pg_alloc, &m, &err);
	if (rc == LK_OK)
	{
		lk_pg_buf_init(&out, alen > blen ? alen : blen);
		rc = lk_state_encode(&m, &out, &err);
	}
	if (rc == LK_ERR_LIMIT && SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA)
	{
		reject(tr, rel, tup, att, &sb, &err);
		return a;
	}
	lk_pg_check(rc, &err);
	if (local)
		lk_pg_check_totals(&sa, &m, NameStr(att->attname));
	return PointerGetDatum(lk_pg_buf_finish(&out));
}

/* A row's causal length is odd: an even one is a tombstone's, not a row's. */
static void
check_alive(Relation rel, int64 cl)
{
	if (cl % 2 == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s " INT64_FORMAT " for a row of tracked table \"%s\"",
						TRACKED_CL_COLUMN, cl, RelationGetRelationName(rel)),
				 errdetail("A row's causal length is odd and positive; even ones are deletions.")));
}

/*
 * The row an INSERT of a key absent here stores, or NULL when a tombstone
 * outranks it: its causal length, left NULL, becomes the incarnation after
 * the key's last deletion.
 */
static HeapTuple
resolve_insert(tracked_rel *tr, Relation rel, HeapTuple tup, const char *key)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int64		cl = tracked_row_cl(tr, tup, desc);
	int64		dead = tombstone_cl(tr, key);
	int			attnum;
	Datum		value;
	bool		isnull = false;

	if (cl != 0 && cl <= dead)
		return NULL;
	if (cl != 0)
	{
		check_alive(rel, cl);
		return tup;
	}
	if (dead >= TRACKED_CL_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("key \"%s\" of tracked table \"%s\" cannot be inserted again", key,
						RelationGetRelationName(rel)),
				 errdetail("Its deletions have reached the largest causal length, 2^62.")));
	attnum = tr->cl_attnum;
	value = Int64GetDatum(dead + 1);
	return heap_modify_tuple_by_cols(tup, desc, 1, &attnum, &value, &isnull);
}

/* A value a local write brings where there was none: the totals rule of merge_values. */
static void
check_new_value(lk_kind kind, Form_pg_attribute att, Datum v)
{
	size_t		len;
	const uint8_t *p;
	lk_state	s;
	lk_error	err;

	if (kind != LK_GCOUNTER && kind != LK_PNCOUNTER)
		return;
	p = lk_pg_bytes((struct varlena *) PG_DETOAST_DATUM_PACKED(v), &len);
	lk_pg_check(lk_state_decode(p, len, kind, &lk_pg_alloc, &s, &err), &err);
	lk_pg_check_totals(NULL, &s, NameStr(att->attname));
}

/* The totals rule for every counter column of a row a local INSERT brings. */
static void
check_new_row(tracked_rel *tr, Relation rel, HeapTuple tup)
{
	for (int i = 0; i < tr->ncrdt; i++)
	{
		bool		isnull;
		Datum		v = heap_getattr(tup, tr->crdt[i].attnum, RelationGetDescr(rel), &isnull);

		if (!isnull)
			check_new_value(tr->crdt[i].kind, TupleDescAttr(RelationGetDescr(rel), tr->crdt[i].attnum - 1), v);
	}
}

/*
 * The row an UPDATE writes: newtup merged into oldtup.  replicated: the two
 * versions meet as replicas do (replication, an INSERT that collides), rather
 * than as a local UPDATE.
 */
static HeapTuple
merge_update(tracked_rel *tr, Relation rel, HeapTuple oldtup, HeapTuple newtup,
			 bool replicated)
{
	bool		local = SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA;
	TupleDesc	desc = RelationGetDescr(rel);
	int			natts = desc->natts;
	Datum	   *ov = palloc(natts * sizeof(Datum));
	Datum	   *nv = palloc(natts * sizeof(Datum));
	bool	   *on = palloc(natts * sizeof(bool));
	bool	   *nn = palloc(natts * sizeof(bool));
	bool	   *repl = palloc0(natts * sizeof(bool));
	bool		same = true;
	int			order = 0;
	int64		ocl = tracked_row_cl(tr, oldtup, desc);
	int64		ncl = tracked_row_cl(tr, newtup, desc);

	heap_deform_tuple(oldtup, desc, ov, on);
	heap_deform_tuple(newtup, desc, nv, nn);

	/* the causal length: which incarnation of the row, if they differ */
	if (ncl == 0)
	{
		/* left NULL: the incarnation there is */
		nv[tr->cl_attnum - 1] = ov[tr->cl_attnum - 1];
		nn[tr->cl_attnum - 1] = false;
		repl[tr->cl_attnum - 1] = true;
		ncl = ocl;
	}
	if (ncl != ocl)
	{
		if (!replicated)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change column \"%s\" of tracked table \"%s\"",
							TRACKED_CL_COLUMN, RelationGetRelationName(rel)),
					 errdetail("It counts the row's deletions and is kept by Laniakea's triggers.")));
		if (ncl < ocl)
			return NULL;		/* a state of an incarnation this node has deleted */
		check_alive(rel, ncl);
		/* a later incarnation replaces this one, whole */
		if (local)
			check_new_row(tr, rel, newtup);
		return heap_modify_tuple(newtup, desc, nv, nn, repl);
	}

	/* the other columns: which version, if they differ */
	for (int i = 0; i < natts && order == 0; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);

		if (!is_plain_column(att) || column_kind(tr, att->attnum) ||
			att->attnum == tr->cl_attnum ||
			same_value(att, ov[i], on[i], nv[i], nn[i]))
			continue;
		if (!replicated)
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot change column \"%s\" of tracked table \"%s\"",
							NameStr(att->attname), RelationGetRelationName(rel)),
					 errdetail("Only the CRDT columns of a tracked table change after insert, so that every node converges to the same row.")));
		order = text_cmp(att, nv[i], nn[i], ov[i], on[i]);
	}
	for (int i = 0; i < natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		lk_kind		kind = column_kind(tr, att->attnum);

		if (!is_plain_column(att))
			continue;
		if (kind)
		{
			if (nn[i] || on[i])
			{
				/* NULL is the identity of merge */
				if (nn[i] && !on[i])
				{
					nv[i] = ov[i];
					nn[i] = false;
					repl[i] = true;
				}
				else if (!nn[i] && local)
					check_new_value(kind, att, nv[i]);
			}
			else
			{
				Datum		m = merge_values(tr, rel, newtup, att, kind, ov[i], nv[i], local);

				if (m != nv[i])
				{
					nv[i] = m;
					repl[i] = true;
				}
			}
		}
		else if (att->attnum == tr->cl_attnum)
			 /* equal, settled above */ ;
		else if (order <= 0 && !same_value(att, ov[i], on[i], nv[i], nn[i]))
		{
			/* the existing version of the other columns wins */
			nv[i] = ov[i];
			nn[i] = on[i];
			repl[i] = true;
		}
		if (!same_value(att, ov[i], on[i], nv[i], nn[i]))
			same = false;
	}
	if (same)
		return NULL;
	return heap_modify_tuple(newtup, desc, nv, nn, repl);
}

static bool
key_exists(tracked_rel *tr, Relation rel, Datum key)
{
	ScanKeyData skey;
	SysScanDesc scan;
	SnapshotData dirty;
	bool		found;

	/*
	 * A dirty snapshot sees committed rows, this transaction's (including
	 * this command's), and rows other transactions are inserting and have not
	 * committed yet.  Those must take the upsert path too: INSERT ... ON
	 * CONFLICT waits for the other transaction and then merges, where a plain
	 * insert would wait and then fail on the primary key.  That is a local
	 * insert of a key that replication is applying at that moment, or that
	 * another local transaction has just inserted.
	 */
	InitDirtySnapshot(dirty);
	ScanKeyInit(&skey, tr->key_attnum, BTEqualStrategyNumber, tr->key_eq_proc, key);
	scan = systable_beginscan(rel, tr->pk_index, true, &dirty, 1, &skey);
	found = HeapTupleIsValid(systable_getnext(scan));
	systable_endscan(scan);
	return found;
}

/*
 * Key locks.
 *
 * A new key's insert probes the primary key (key_exists) and, when the key is
 * absent, lets the row be inserted plainly.  Between the probe and the row's
 * index entry another transaction could insert the same key, and then one of
 * the two plain inserts fails on the primary key.  A lock on the key covers
 * that moment: whoever holds it is the only one between probe and index
 * entry.  It need not last longer: once the row is in the index, a
 * concurrent inserter's dirty-snapshot probe sees it and takes the upsert,
 * which waits for this transaction and merges.
 *
 * So the lock is released as soon as the row is surely in the index: when
 * the trigger next fires at the same or a shallower trigger level (the
 * executor inserts a row, heap tuple and index entries, before it fires the
 * BEFORE triggers of the next row), at the end of the subtransaction it was
 * taken in, and at the end of the transaction.  A backend holds one such lock
 * per trigger level that is inserting, whatever the number of rows, where a
 * lock held to commit exhausted the shared lock table after some thousands.
 *
 * Firings one level deeper happen while the outer row is still pending (a
 * user's BEFORE trigger after ours inserting into a tracked table): they keep
 * the outer lock, hence a stack.  A user's BEFORE trigger that returns NULL
 * after ours only leaves the lock held until the next firing or the end of
 * the (sub)transaction, which is harmless.  Levels and subtransaction ids
 * both grow towards the top of the stack, so every release pops from there.
 * Not covered: a function that writes to a tracked table from a generated
 * column, CHECK constraint or index expression (all of which must be
 * immutable) fires us on the same level before the row's index entry exists,
 * so the row's lock goes early and a concurrent insert of its key can fail on
 * the primary key: an error, never a lost write.
 *
 * The locks belong to the top transaction's resource owner, not to the
 * portal or subtransaction that is current when they are taken: those hand
 * their locks to their parent when they end, and LockRelease must be called
 * on behalf of the owner that holds the lock.
 *
 * An insert that finds the key releases its lock before it runs the upsert:
 * the upsert may wait for the transaction that inserted the key, and holding
 * the lock meanwhile would deadlock with that transaction inserting the key
 * once more.  Replication's upsert of an absent key keeps the lock while it
 * runs (it inserts the key); nobody holds it waiting for anything.
 *
 * The lock is on (table, hash of the key's text), in the advisory lock space
 * with field 4 = 3 so that it cannot meet the locks of pg_advisory_lock (which
 * use 1 and 2).  A hash collision only serializes two inserts that need not be.
 */
typedef struct held_key
{
	LOCKTAG		tag;
	int			level;			/* trigger level of the firing that took it */
	SubTransactionId subid;		/* subtransaction it was taken in */
} held_key;

static held_key *held = NULL;
static int	nheld = 0;
static int	held_cap = 0;

static void
lock_as_top(const LOCKTAG *tag, bool acquire)
{
	ResourceOwner save = CurrentResourceOwner;

	CurrentResourceOwner = TopTransactionResourceOwner;
	PG_TRY();
	{
		if (acquire)
			(void) LockAcquire(tag, ExclusiveLock, false, false);
		else
			(void) LockRelease(tag, ExclusiveLock, false);
	}
	PG_FINALLY();
	{
		CurrentResourceOwner = save;
	}
	PG_END_TRY();
}

/* Release the key locks taken at trigger level `level` or deeper. */
static void
release_from_level(int level)
{
	while (nheld > 0 && held[nheld - 1].level >= level)
		lock_as_top(&held[--nheld].tag, false);
}

static void
key_locks_xact_callback(XactEvent event, void *arg)
{
	switch (event)
	{
		case XACT_EVENT_PRE_PREPARE:
			/* every row is inserted: a prepared transaction need not block inserts of its keys */
			release_from_level(0);
			break;
		case XACT_EVENT_COMMIT:
		case XACT_EVENT_PARALLEL_COMMIT:
		case XACT_EVENT_ABORT:
		case XACT_EVENT_PARALLEL_ABORT:
		case XACT_EVENT_PREPARE:
			/* the top transaction's resource owner releases them */
			nheld = 0;
			break;
		default:
			break;
	}
}

static void
key_locks_subxact_callback(SubXactEvent event, SubTransactionId mySubid,
						   SubTransactionId parentSubid, void *arg)
{
	if (event != SUBXACT_EVENT_COMMIT_SUB && event != SUBXACT_EVENT_ABORT_SUB)
		return;
	/* a committed subtransaction's rows are inserted; an aborted one's are gone */
	while (nheld > 0 && held[nheld - 1].subid >= mySubid)
		lock_as_top(&held[--nheld].tag, false);
}

/* Lock the key until release_from_level(level) or the end of the subtransaction. */
static void
lock_key(Relation rel, const char *text, int level)
{
	static bool registered = false;
	uint32		h = DatumGetUInt32(hash_any((const unsigned char *) text, (int) strlen(text)));
	held_key   *k;

	if (!registered)
	{
		RegisterXactCallback(key_locks_xact_callback, NULL);
		RegisterSubXactCallback(key_locks_subxact_callback, NULL);
		registered = true;
	}
	if (nheld == held_cap)
	{
		int			cap = held_cap ? held_cap * 2 : 8;

		held = held ? repalloc(held, cap * sizeof(held_key)) :
			MemoryContextAlloc(TopMemoryContext, cap * sizeof(held_key));
		held_cap = cap;
	}
	k = &held[nheld];
	SET_LOCKTAG_ADVISORY(k->tag, MyDatabaseId, RelationGetRelid(rel), h, 3);
	k->level = level;
	k->subid = GetCurrentSubTransactionId();
	lock_as_top(&k->tag, true);
	nheld++;
}

/* pg_trigger_depth(): how many triggers are running, ours included. */
static int
trigger_level(void)
{
	LOCAL_FCINFO(fcinfo, 0);

	InitFunctionCallInfoData(*fcinfo, NULL, 0, InvalidOid, NULL, NULL);
	return DatumGetInt32(pg_trigger_depth(fcinfo));
}

static SPIPlanPtr
upsert_plan(tracked_rel *tr, Relation rel, Oid **argtypes, int *nargs)
{
	TupleDesc	desc = RelationGetDescr(rel);
	StringInfoData q;
	StringInfoData set_cols;
	StringInfoData set_vals;
	Oid		   *types = palloc(desc->natts * sizeof(Oid));
	int			n = 0;
	SPIPlanPtr	plan;

	initStringInfo(&q);
	initStringInfo(&set_cols);
	initStringInfo(&set_vals);
	appendStringInfo(&q, "INSERT INTO %s.%s AS t (",
					 quote_identifier(get_namespace_name(RelationGetNamespace(rel))),
					 quote_identifier(RelationGetRelationName(rel)));
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		const char *col;

		if (!is_plain_column(att))
			continue;
		col = quote_identifier(NameStr(att->attname));
		appendStringInfo(&q, "%s%s", n ? ", " : "", col);
		if (att->attnum != tr->key_attnum)
		{
			appendStringInfo(&set_cols, "%s%s", set_cols.len ? ", " : "", col);
			appendStringInfo(&set_vals, "%sEXCLUDED.%s", set_vals.len ? ", " : "", col);
		}
		types[n++] = att->atttypid;
	}
	appendStringInfoString(&q, ") VALUES (");
	for (int i = 0; i < n; i++)
		appendStringInfo(&q, "%s$%d", i ? ", " : "", i + 1);
	appendStringInfo(&q, ") ON CONFLICT (%s) DO UPDATE SET (%s) = ROW(%s)",
					 quote_identifier(NameStr(TupleDescAttr(desc, tr->key_attnum - 1)->attname)),
					 set_cols.data, set_vals.data);
	plan = SPI_prepare(q.data, n, types);
	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", q.data,
			 SPI_result_code_string(SPI_result));
	*argtypes = types;
	*nargs = n;
	return plan;
}

/* Insert newtup or merge it into the row with its key; level: our trigger level. */
static void
upsert(tracked_rel *tr, Relation rel, HeapTuple newtup, int level)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Datum	   *values = palloc(desc->natts * sizeof(Datum));
	bool	   *isnull = palloc(desc->natts * sizeof(bool));
	Datum	   *args = palloc(desc->natts * sizeof(Datum));
	char	   *nulls = palloc(desc->natts + 1);
	Oid		   *types;
	int			n = 0,
				nargs;
	Oid			save_rel = upsert_rel;
	int			save_level = upsert_level;

	heap_deform_tuple(newtup, desc, values, isnull);
	for (int i = 0; i < desc->natts; i++)
	{
		if (!is_plain_column(TupleDescAttr(desc, i)))
			continue;
		args[n] = values[i];
		nulls[n] = isnull[i] ? 'n' : ' ';
		n++;
	}
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
	if (tr->upsert == NULL)
	{
		SPIPlanPtr	plan = upsert_plan(tr, rel, &types, &nargs);

		SPI_keepplan(plan);
		tr->upsert = plan;
	}
	upsert_rel = RelationGetRelid(rel);
	upsert_level = level;
	PG_TRY();
	{
		int			rc = SPI_execute_plan(tr->upsert, args, nulls, false, 0);

		if (rc != SPI_OK_INSERT)
			elog(ERROR, "merging insert failed: %s", SPI_result_code_string(rc));
	}
	PG_FINALLY();
	{
		upsert_rel = save_rel;
		upsert_level = save_level;
	}
	PG_END_TRY();
	SPI_finish();
}

PG_FUNCTION_INFO_V1(merge_trigger);
Datum
merge_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	tracked_rel *tr;
	Relation	rel;
	bool		isnull;
	bool		replica = SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA;
	bool		own;
	int			level;
	Datum		key;
	char	   *key_text;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("laniakea.merge_trigger() must be fired BEFORE INSERT OR UPDATE FOR EACH ROW")));
	rel = td->tg_relation;
	tr = tracked_rel_get(rel);
	level = trigger_level();
	own = RelationGetRelid(rel) == upsert_rel && level == upsert_level + 1;

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		return PointerGetDatum(merge_update(tr, rel, td->tg_trigtuple, td->tg_newtuple,
											replica || own));

	key = heap_getattr(td->tg_trigtuple, tr->key_attnum, RelationGetDescr(rel), &isnull);
	if (isnull)
		return PointerGetDatum(td->tg_trigtuple);	/* the primary key refuses it */
	key_text = tracked_key_text(tr, td->tg_trigtuple, RelationGetDescr(rel));

	/* our own upsert's INSERT: the key was absent when it looked */
	if (own)
		return PointerGetDatum(resolve_insert(tr, rel, td->tg_trigtuple, key_text));
	/* the rows of earlier firings at this level are in the index by now */
	release_from_level(level);
	/* a merge keeps every count of NEW: NEW past the totals rule means a merged row past it */
	if (!replica)
		check_new_row(tr, rel, td->tg_trigtuple);

	lock_key(rel, key_text, level);
	if (key_exists(tr, rel, key))
	{
		release_from_level(level);
		upsert(tr, rel, td->tg_trigtuple, level);
		return PointerGetDatum(NULL);
	}
	if (!replica)
		return PointerGetDatum(resolve_insert(tr, rel, td->tg_trigtuple, key_text));

	/*
	 * Replication applies every insert through the upsert, whose INSERT ...
	 * ON CONFLICT cannot fail on the key whatever races it: an apply worker's
	 * error would hold up replication.
	 */
	upsert(tr, rel, td->tg_trigtuple, level);
	release_from_level(level);
	return PointerGetDatum(NULL);
}
