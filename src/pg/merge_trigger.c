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
 * role replica) always takes the upsert, which cannot fail on the key.
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
#include "common/hashfn.h"
#include "miscadmin.h"
#include "storage/lock.h"
#include "access/htup_details.h"
#include "commands/trigger.h"
#include "lib/stringinfo.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/lsyscache.h"
#include "utils/snapmgr.h"

/* >0 while our own upsert runs: its INSERT passes, its UPDATE merges as replication does */
static int	upsert_depth = 0;

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

static int
text_cmp(Form_pg_attribute att, Datum a, bool anull, Datum b, bool bnull)
{
	Oid			out;
	bool		varlena;

	if (anull || bnull)
		return (int) bnull - (int) anull;
	getTypeOutputInfo(att->atttypid, &out, &varlena);
	return strcmp(OidOutputFunctionCall(out, a), OidOutputFunctionCall(out, b));
}

static Datum
merge_values(lk_kind kind, Datum a, Datum b)
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
	lk_error	err;

	if (alen == blen && memcmp(pa, pb, alen) == 0)
		return a;
	lk_pg_check(lk_state_decode(pa, alen, kind, &lk_pg_alloc, &sa, &err), &err);
	lk_pg_check(lk_state_decode(pb, blen, kind, &lk_pg_alloc, &sb, &err), &err);
	lk_pg_check(lk_state_merge(&sa, &sb, &lk_pg_alloc, &m, &err), &err);
	return PointerGetDatum(lk_pg_state_datum(&m));
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
	attnum = tr->cl_attnum;
	value = Int64GetDatum(dead + 1);
	return heap_modify_tuple_by_cols(tup, desc, 1, &attnum, &value, &isnull);
}

static HeapTuple
merge_update(tracked_rel *tr, Relation rel, HeapTuple oldtup, HeapTuple newtup)
{
	TupleDesc	desc = RelationGetDescr(rel);
	int			natts = desc->natts;
	Datum	   *ov = palloc(natts * sizeof(Datum));
	Datum	   *nv = palloc(natts * sizeof(Datum));
	bool	   *on = palloc(natts * sizeof(bool));
	bool	   *nn = palloc(natts * sizeof(bool));
	bool	   *repl = palloc0(natts * sizeof(bool));
	bool		replicated = SessionReplicationRole == SESSION_REPLICATION_ROLE_REPLICA ||
		upsert_depth > 0;
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
			}
			else
			{
				Datum		m = merge_values(kind, ov[i], nv[i]);

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
 * A transaction-level lock on (table, hash of the key's text), in the
 * advisory lock space with field 4 = 3 so that it cannot meet the locks of
 * pg_advisory_lock (which use 1 and 2).  A hash collision only serializes two
 * inserts that need not be.
 */
static void
lock_key(tracked_rel *tr, Relation rel, const char *text)
{
	LOCKTAG		tag;
	uint32		h = DatumGetUInt32(hash_any((const unsigned char *) text, (int) strlen(text)));

	SET_LOCKTAG_ADVISORY(tag, MyDatabaseId, RelationGetRelid(rel), h, 3);
	(void) LockAcquire(&tag, ExclusiveLock, false, false);
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

/* Insert newtup or merge it into the row with its key. */
static void
upsert(tracked_rel *tr, Relation rel, HeapTuple newtup)
{
	TupleDesc	desc = RelationGetDescr(rel);
	Datum	   *values = palloc(desc->natts * sizeof(Datum));
	bool	   *isnull = palloc(desc->natts * sizeof(bool));
	Datum	   *args = palloc(desc->natts * sizeof(Datum));
	char	   *nulls = palloc(desc->natts + 1);
	Oid		   *types;
	int			n = 0,
				nargs;

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
	upsert_depth++;
	PG_TRY();
	{
		int			rc = SPI_execute_plan(tr->upsert, args, nulls, false, 0);

		if (rc != SPI_OK_INSERT)
			elog(ERROR, "merging insert failed: %s", SPI_result_code_string(rc));
	}
	PG_FINALLY();
	{
		upsert_depth--;
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
	bool		isnull;
	Datum		key;
	char	   *key_text;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) ||
		!(TRIGGER_FIRED_BY_INSERT(td->tg_event) || TRIGGER_FIRED_BY_UPDATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("laniakea.merge_trigger() must be fired BEFORE INSERT OR UPDATE FOR EACH ROW")));
	tr = tracked_rel_get(td->tg_relation);

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
		return PointerGetDatum(merge_update(tr, td->tg_relation, td->tg_trigtuple,
											td->tg_newtuple));

	key = heap_getattr(td->tg_trigtuple, tr->key_attnum, RelationGetDescr(td->tg_relation),
					   &isnull);
	if (isnull)
		return PointerGetDatum(td->tg_trigtuple);	/* the primary key refuses it */
	key_text = tracked_key_out(tr, key);

	/* our own upsert's INSERT: the key was absent when it looked */
	if (upsert_depth > 0)
		return PointerGetDatum(resolve_insert(tr, td->tg_relation, td->tg_trigtuple, key_text));

	/*
	 * The probe leaves a moment between not finding the key and this row's
	 * index entry, in which another transaction can insert the same key; a
	 * plain insert then fails on the primary key.  Inserts of one key
	 * therefore take a lock on it until their transaction ends, so the probe
	 * sees any insert that got there first.  Replication also applies every
	 * insert through the upsert, whose INSERT ... ON CONFLICT has no such
	 * moment at all: an apply worker's error would hold up replication.
	 */
	lock_key(tr, td->tg_relation, key_text);
	if (SessionReplicationRole != SESSION_REPLICATION_ROLE_REPLICA &&
		!key_exists(tr, td->tg_relation, key))
		return PointerGetDatum(resolve_insert(tr, td->tg_relation, td->tg_trigtuple, key_text));
	upsert(tr, td->tg_relation, td->tg_trigtuple);
	return PointerGetDatum(NULL);
}
