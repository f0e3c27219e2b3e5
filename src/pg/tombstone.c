/*
 * tombstone.c — deletes that converge: the tombstones of tracked tables.
 *
 * Every row carries its causal length in laniakea_cl (odd: the row exists);
 * a DELETE raises it to the next even number, kept in laniakea.tombstones
 * keyed by (schema, table, key text).  States of a smaller causal length are
 * stale: the merge trigger discards them, and a tombstone deletes the rows
 * it outranks wherever it arrives.  So a DELETE concurrent with an UPDATE
 * ends deleted on every node, a stale UPDATE never resurrects the row, and a
 * later INSERT starts the next incarnation (docs/replication.md).
 *
 * Deletes of tracked rows are not replicated as deletes: a replicated DELETE
 * carries only the key, not which incarnation it ended, so the apply
 * worker's deletes are skipped and the tombstone, replicated as a row of
 * laniakea.tombstones, does the work.
 *
 * Three triggers live here, all ENABLE ALWAYS:
 *   laniakea_delete     BEFORE DELETE on a tracked table (row level): write
 *                       the tombstone, let the delete through;
 *   laniakea_truncate   BEFORE TRUNCATE on it: a tombstone for every row;
 *   laniakea_tombstone  BEFORE INSERT, UPDATE or DELETE on laniakea.tombstones:
 *                       a new tombstone deletes the rows it outranks, a
 *                       replicated one is merged like a row, and each node
 *                       collects its own.
 *
 * Tombstones are one row per deletion, (schema, table, key, causal length),
 * only ever inserted: a key's tombstone is its greatest.  A table of one row
 * per key, raised in place, would deadlock: a local DELETE holds the row's
 * lock when it writes the tombstone, and an apply worker raising the same
 * tombstone would hold the tombstone's lock while it deletes the row.  With
 * inserts only, the apply worker deletes the row (in its BEFORE INSERT
 * trigger) before it holds anything of the tombstone.
 */
#include "notify.h"
#include "tombstone.h"
#include "tracked.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/table.h"
#include "catalog/namespace.h"
#include "catalog/objectaddress.h"
#include "catalog/pg_collation.h"
#include "commands/trigger.h"
#include "executor/spi.h"
#include "miscadmin.h"
#include "replication/origin.h"
#include "utils/acl.h"
#include "utils/builtins.h"
#include "utils/datum.h"
#include "utils/fmgroids.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/rel.h"
#include "utils/syscache.h"
#include "utils/snapmgr.h"
#include "utils/timestamp.h"

/* laniakea.tombstones' columns */
#define T_NSP 1
#define T_REL 2
#define T_KEY 3
#define T_CL 4
#define T_DELETED_AT 5

static Oid	tombs_relid = InvalidOid;
static Oid	tombs_index = InvalidOid;
static Oid	tombs_owner = InvalidOid;

/* The tombstone whose rows purge() deletes, while it does. */
static int64 purging_cl = 0;

/* A tombstone is being written by the deletion it records: nothing to purge. */
static bool own_write = false;

/* >0 while a replicated tombstone is merged by our own upsert */
static int	upsert_depth = 0;

int64
tombstone_purging_cl(void)
{
	return purging_cl;
}

static void
tombs_invalidate(Datum arg, Oid relid)
{
	if (relid == InvalidOid || relid == tombs_relid)
		tombs_relid = tombs_index = InvalidOid;
}

static void
tombs_lookup(void)
{
	static bool registered = false;
	Relation	rel;
	Oid			relid;

	if (OidIsValid(tombs_relid))
		return;
	if (!registered)
	{
		CacheRegisterRelcacheCallback(tombs_invalidate, (Datum) 0);
		registered = true;
	}
	relid = get_relname_relid("tombstones", get_namespace_oid("laniakea", false));
	if (!OidIsValid(relid))
		elog(ERROR, "table laniakea.tombstones does not exist");
	rel = table_open(relid, AccessShareLock);
	RelationGetIndexList(rel);	/* fills rd_pkindex */
	tombs_index = rel->rd_pkindex;
	tombs_owner = rel->rd_rel->relowner;
	table_close(rel, AccessShareLock);
	tombs_relid = relid;
}

/*
 * Is this change being applied from another node (a logical replication
 * apply or table sync worker), rather than made here?  A session that only
 * sets session_replication_role = replica, as operators do for data fixes,
 * is making its changes here.
 */
static bool
applying(void)
{
	return replorigin_session_origin != InvalidRepOriginId;
}

typedef struct as_owner
{
	Oid			user;
	int			sec;
} as_owner;

/*
 * Tombstones are the extension's bookkeeping: anyone who may delete from a
 * tracked table writes them, with the rights of laniakea.tombstones' owner
 * (as foreign key checks run with the referenced table owner's).
 */
static void
become_owner(as_owner *saved)
{
	tombs_lookup();
	GetUserIdAndSecContext(&saved->user, &saved->sec);
	SetUserIdAndSecContext(tombs_owner, saved->sec | SECURITY_LOCAL_USERID_CHANGE |
						   SECURITY_RESTRICTED_OPERATION);
}

static void
restore_user(const as_owner *saved)
{
	SetUserIdAndSecContext(saved->user, saved->sec);
}

static void
text_key(ScanKey k, AttrNumber attno, const char *s)
{
	ScanKeyEntryInitialize(k, 0, attno, BTEqualStrategyNumber, InvalidOid, C_COLLATION_OID,
						   F_TEXTEQ, CStringGetTextDatum(s));
}

static int64
tombstone_cl_at(const char *nsp, const char *relname, const char *key)
{
	Relation	rel;
	ScanKeyData skey[3];
	SysScanDesc scan;
	SnapshotData dirty;
	HeapTuple	tup;
	int64		cl = 0;

	tombs_lookup();
	rel = table_open(tombs_relid, AccessShareLock);
	text_key(&skey[0], T_NSP, nsp);
	text_key(&skey[1], T_REL, relname);
	text_key(&skey[2], T_KEY, key);

	/* one row per deletion: the greatest counts */
	InitDirtySnapshot(dirty);
	scan = systable_beginscan(rel, tombs_index, true, &dirty, 3, skey);
	while (HeapTupleIsValid(tup = systable_getnext(scan)))
	{
		bool		isnull;
		Datum		d = heap_getattr(tup, T_CL, RelationGetDescr(rel), &isnull);

		if (!isnull)
			cl = Max(cl, DatumGetInt64(d));
	}
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return cl;
}

int64
tombstone_cl(tracked_rel *tr, const char *key)
{
	return tombstone_cl_at(tr->nspname, tr->relname, key);
}

/* ---- writing tombstones ---- */

/*
 * A deletion recorded twice (by two nodes deleting one incarnation) keeps the
 * earlier time on every node, so that every node ends with the same row.
 */
#define UPSERT_TOMBSTONE \
	"INSERT INTO laniakea.tombstones AS t (nsp, rel, key, cl%s) %s " \
	"ON CONFLICT (nsp, rel, key, cl) DO UPDATE SET deleted_at = EXCLUDED.deleted_at " \
	"WHERE EXCLUDED.deleted_at < t.deleted_at"

static void
spi_connect(void)
{
	if (SPI_connect() != SPI_OK_CONNECT)
		elog(ERROR, "SPI_connect failed");
}

static SPIPlanPtr
keep_plan(const char *sql, int nargs, Oid *types)
{
	SPIPlanPtr	plan = SPI_prepare(sql, nargs, types);

	if (plan == NULL)
		elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql, SPI_result_code_string(SPI_result));
	SPI_keepplan(plan);
	return plan;
}

/*
 * Insert tombstones with sql, prepared once into *cached (or each time when
 * cached is NULL), as the tombstones' owner, with own_write set so that the
 * tombstone trigger purges nothing, and the canonical settings pinned so
 * that keys print as tracked_key_text prints them.  Within SPI.
 */
static void
write_as_owner(SPIPlanPtr *cached, const char *sql, int nargs, Oid *types, Datum *args)
{
	as_owner	saved;
	int			nest = tracked_pin_settings();

	become_owner(&saved);
	own_write = true;
	PG_TRY();
	{
		SPIPlanPtr	plan = cached ? *cached : NULL;
		int			rc;

		if (plan == NULL)
		{
			plan = SPI_prepare(sql, nargs, types);
			if (plan == NULL)
				elog(ERROR, "SPI_prepare failed for \"%s\": %s", sql,
					 SPI_result_code_string(SPI_result));
			if (cached)
			{
				SPI_keepplan(plan);
				*cached = plan;
			}
		}
		rc = SPI_execute_plan(plan, args, NULL, false, 0);
		if (rc != SPI_OK_INSERT)
			elog(ERROR, "writing a tombstone failed: %s", SPI_result_code_string(rc));
	}
	PG_FINALLY();
	{
		own_write = false;
		restore_user(&saved);
	}
	PG_END_TRY();
	tracked_unpin_settings(nest);
}

/* The tombstone of one row this transaction deletes. */
static void
put_tombstone(tracked_rel *tr, const char *key, int64 cl)
{
	static SPIPlanPtr plan = NULL;
	Oid			types[4] = {TEXTOID, TEXTOID, TEXTOID, INT8OID};
	Datum		args[4];

	args[0] = CStringGetTextDatum(tr->nspname);
	args[1] = CStringGetTextDatum(tr->relname);
	args[2] = CStringGetTextDatum(key);
	args[3] = Int64GetDatum(cl);
	spi_connect();
	write_as_owner(&plan, psprintf(UPSERT_TOMBSTONE, "", "VALUES ($1, $2, $3, $4)"), 4, types, args);
	SPI_finish();
}

/* A tombstone for every row of a table about to be truncated: O(rows). */
static void
put_table_tombstones(tracked_rel *tr, Relation rel)
{
	Oid			types[2] = {TEXTOID, TEXTOID};
	Datum		args[2];
	char	   *from = psprintf("SELECT $1, $2, %s::text, %s + 1 FROM ONLY %s.%s",
								quote_identifier(NameStr(TupleDescAttr(RelationGetDescr(rel), tr->key_attnum - 1)->attname)),
								TRACKED_CL_COLUMN,
								quote_identifier(tr->nspname), quote_identifier(tr->relname));

	args[0] = CStringGetTextDatum(tr->nspname);
	args[1] = CStringGetTextDatum(tr->relname);
	spi_connect();
	write_as_owner(NULL, psprintf(UPSERT_TOMBSTONE, "", from), 2, types, args);
	SPI_finish();
}

/* ---- what a tombstone does where it arrives ---- */

/* Is relid registered in laniakea.tracked?  (Read as the extension's tables' owner.) */
static bool
is_tracked(Oid relid)
{
	static SPIPlanPtr plan = NULL;
	Datum		arg = ObjectIdGetDatum(relid);
	as_owner	saved;
	volatile int rc = 0;

	become_owner(&saved);
	PG_TRY();
	{
		if (plan == NULL)
		{
			Oid			type = OIDOID;

			plan = keep_plan("SELECT FROM laniakea.tracked WHERE tbl = $1", 1, &type);
		}
		rc = SPI_execute_plan(plan, &arg, NULL, true, 1);
	}
	PG_FINALLY();
	{
		restore_user(&saved);
	}
	PG_END_TRY();
	if (rc != SPI_OK_SELECT)
		elog(ERROR, "reading laniakea.tracked failed");
	return SPI_processed > 0;
}

/* Delete the rows of (nsp, rel, key) older than a tombstone of causal length cl. */
static void
purge(const char *nsp, const char *relname, const char *key, int64 cl)
{
	Oid			nspoid = get_namespace_oid(nsp, true);
	Oid			relid = OidIsValid(nspoid) ? get_relname_relid(relname, nspoid) : InvalidOid;
	Relation	rel;
	tracked_rel *tr;
	Datum		args[2];
	uint64		deleted = 0;
	int			nest;

	if (!OidIsValid(relid))
		return;					/* a table this node does not have: the tombstone waits */
	spi_connect();
	if (!is_tracked(relid))
	{
		SPI_finish();
		return;
	}
	rel = table_open(relid, RowExclusiveLock);
	tr = tracked_rel_get(rel);
	if (tr->purge == NULL)
	{
		Oid			types[2] = {TEXTOID, INT8OID};
		MemoryContext old = MemoryContextSwitchTo(tr->cxt);
		char	   *sql = psprintf("DELETE FROM ONLY %s.%s WHERE %s = $1::%s AND %s < $2",
								   quote_identifier(tr->nspname), quote_identifier(tr->relname),
								   quote_identifier(NameStr(TupleDescAttr(RelationGetDescr(rel), tr->key_attnum - 1)->attname)),
								   format_type_be_qualified(tr->key_type),
								   TRACKED_CL_COLUMN);

		MemoryContextSwitchTo(old);
		tr->purge = keep_plan(sql, 2, types);
	}
	args[0] = CStringGetTextDatum(key);
	args[1] = Int64GetDatum(cl);
	purging_cl = cl;
	/* the key parses as tracked_key_text printed it */
	nest = tracked_pin_settings();
	PG_TRY();
	{
		if (SPI_execute_plan(tr->purge, args, NULL, false, 0) != SPI_OK_DELETE)
			elog(ERROR, "deleting the rows of a tombstone failed");
		deleted = SPI_processed;
	}
	PG_FINALLY();
	{
		purging_cl = 0;
	}
	PG_END_TRY();
	tracked_unpin_settings(nest);
	/* no row here: listeners still learn that this incarnation is gone */
	if (deleted == 0)
		notify_deleted(tr, key, cl);
	table_close(rel, NoLock);
	SPI_finish();
}

/* Merge a replicated tombstone into this node's (INSERT … ON CONFLICT). */
static void
merge_replicated(HeapTuple tup, TupleDesc desc)
{
	static SPIPlanPtr plan = NULL;
	Datum		args[5];
	bool		isnull;
	as_owner	saved;

	spi_connect();
	for (int i = 0; i < 5; i++)
		args[i] = heap_getattr(tup, i + 1, desc, &isnull);
	become_owner(&saved);
	upsert_depth++;
	PG_TRY();
	{
		if (plan == NULL)
		{
			Oid			types[5] = {TEXTOID, TEXTOID, TEXTOID, INT8OID, TIMESTAMPTZOID};

			plan = keep_plan(psprintf(UPSERT_TOMBSTONE, ", deleted_at", "VALUES ($1, $2, $3, $4, $5)"),
							 5, types);
		}
		if (SPI_execute_plan(plan, args, NULL, false, 0) != SPI_OK_INSERT)
			elog(ERROR, "merging a tombstone failed");
	}
	PG_FINALLY();
	{
		upsert_depth--;
		restore_user(&saved);
	}
	PG_END_TRY();
	SPI_finish();
}

static int64
cl_of(HeapTuple tup, TupleDesc desc)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, T_CL, desc, &isnull);

	return isnull ? 0 : DatumGetInt64(d);
}

/* An UPDATE of a tombstone that only moves its time earlier: the merge of a duplicate. */
static bool
only_earlier(HeapTuple old, HeapTuple new, TupleDesc desc)
{
	bool		onull,
				nnull;
	Datum		oat = heap_getattr(old, T_DELETED_AT, desc, &onull);
	Datum		nat = heap_getattr(new, T_DELETED_AT, desc, &nnull);

	for (AttrNumber a = T_NSP; a <= T_CL; a++)
	{
		bool		n1,
					n2;
		Datum		d1 = heap_getattr(old, a, desc, &n1);
		Datum		d2 = heap_getattr(new, a, desc, &n2);

		if (n1 || n2 || !datumIsEqual(d1, d2, a == T_CL, a == T_CL ? sizeof(int64) : -1))
			return false;
	}
	return !nnull && !onull && DatumGetTimestampTz(nat) < DatumGetTimestampTz(oat);
}

static char *
text_of(HeapTuple tup, TupleDesc desc, AttrNumber attno)
{
	bool		isnull;
	Datum		d = heap_getattr(tup, attno, desc, &isnull);

	return isnull ? NULL : TextDatumGetCString(d);
}

PG_FUNCTION_INFO_V1(tombstone_trigger);
Datum
tombstone_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	TupleDesc	desc;
	HeapTuple	newtup;
	bool		replicated;
	char	   *nsp,
			   *relname,
			   *key;
	int64		cl;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!TRIGGER_FIRED_FOR_ROW(td->tg_event) || TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("laniakea.tombstone_trigger() must be fired BEFORE INSERT OR UPDATE OR DELETE FOR EACH ROW")));
	desc = RelationGetDescr(td->tg_relation);
	replicated = applying() && upsert_depth == 0;

	/* every node collects its own tombstones, when it knows every peer has them */
	if (TRIGGER_FIRED_BY_DELETE(td->tg_event))
		return PointerGetDatum(replicated ? NULL : td->tg_trigtuple);

	if (TRIGGER_FIRED_BY_UPDATE(td->tg_event))
	{
		/*
		 * Only the merge of a duplicate deletion, to its earlier time, changes
		 * a tombstone; a replicated one that does not is the end of the echo.
		 */
		if (only_earlier(td->tg_trigtuple, td->tg_newtuple, desc))
			return PointerGetDatum(td->tg_newtuple);
		if (replicated)
			return PointerGetDatum(NULL);
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("cannot change a tombstone"),
				 errdetail("Tombstones record deletions: insert a new one, or collect old ones with laniakea.collect_tombstones().")));
	}
	newtup = td->tg_trigtuple;
	cl = cl_of(newtup, desc);
	if (replicated)
	{
		/* an INSERT of a key this node has must merge, never fail on the key */
		merge_replicated(newtup, desc);
		return PointerGetDatum(NULL);
	}
	nsp = text_of(newtup, desc, T_NSP);
	relname = text_of(newtup, desc, T_REL);
	key = text_of(newtup, desc, T_KEY);
	/*
	 * A deletion above the key's tombstone here: delete the rows it outranks.
	 * The CHECK constraint rejects a malformed tombstone after us.
	 */
	if (!own_write && nsp && relname && key && cl > 0 && cl % 2 == 0 &&
		tombstone_cl_at(nsp, relname, key) < cl)
		purge(nsp, relname, key, cl);
	return PointerGetDatum(newtup);
}

PG_FUNCTION_INFO_V1(delete_trigger);
Datum
delete_trigger(PG_FUNCTION_ARGS)
{
	TriggerData *td = (TriggerData *) fcinfo->context;
	Relation	rel;
	tracked_rel *tr;
	HeapTuple	old;

	if (!CALLED_AS_TRIGGER(fcinfo) || !TRIGGER_FIRED_BEFORE(td->tg_event) ||
		!(TRIGGER_FIRED_FOR_ROW(td->tg_event) ? TRIGGER_FIRED_BY_DELETE(td->tg_event) :
		  TRIGGER_FIRED_BY_TRUNCATE(td->tg_event)))
		ereport(ERROR,
				(errcode(ERRCODE_E_R_I_E_TRIGGER_PROTOCOL_VIOLATED),
				 errmsg("laniakea.delete_trigger() must be fired BEFORE DELETE FOR EACH ROW, or BEFORE TRUNCATE FOR EACH STATEMENT")));
	rel = td->tg_relation;
	tr = tracked_rel_get(rel);
	if (TRIGGER_FIRED_BY_TRUNCATE(td->tg_event))
	{
		/*
		 * A TRUNCATE that arrives by replication would delete rows the
		 * publisher never had, and its tombstones come back to it: two nodes
		 * publishing TRUNCATE to each other truncate each other for ever.
		 */
		if (applying())
			ereport(ERROR,
					(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
					 errmsg("cannot apply a replicated TRUNCATE of tracked table \"%s\"",
							RelationGetRelationName(rel)),
					 errdetail("The deletions a TRUNCATE makes reach other nodes as tombstones."),
					 errhint("Publish tracked tables with (publish = 'insert, update') on the publisher; replication resumes once it no longer sends the TRUNCATE.")));
		tracked_require_cl(tr);
		put_table_tombstones(tr, rel);
		return PointerGetDatum(NULL);
	}
	old = td->tg_trigtuple;
	if (purging_cl)
		return PointerGetDatum(old);	/* our own purge: its tombstone is written */

	/*
	 * A replicated DELETE names a key, not the incarnation it ended: the
	 * tombstone that travels with it does the work.
	 */
	if (applying())
		return PointerGetDatum(NULL);
	put_tombstone(tr, tracked_key_text(tr, old, RelationGetDescr(rel)),
				  tracked_row_cl(tr, old, RelationGetDescr(rel)) + 1);
	return PointerGetDatum(old);
}

/*
 * laniakea.delete_row(tbl, key, cl): delete the row of key, and with cl only
 * its incarnations up to cl; returns the rows deleted.  With cl the deletion
 * of incarnation cl is recorded (a tombstone cl + 1) even where this node has
 * only an earlier one or none: the caller saw it (a client that created it
 * offline, say) and it may yet arrive from another node, where it must end
 * deleted as well.  Run with the
 * caller's rights: the row's DELETE is checked as any DELETE, and writing a
 * tombstone for an absent row needs the DELETE privilege on the table too.
 */
PG_FUNCTION_INFO_V1(delete_row);
Datum
delete_row(PG_FUNCTION_ARGS)
{
	Oid			relid = PG_GETARG_OID(0);
	Relation	rel;
	tracked_rel *tr;
	char	   *key;
	bool		with_cl = !PG_ARGISNULL(2);
	int64		cl = with_cl ? PG_GETARG_INT64(2) : 0;
	Oid			input,
				ioparam;
	Datum		args[2];
	Oid			types[2] = {TEXTOID, INT8OID};
	char	   *sql;
	uint64		deleted;
	int			nest;

	if (PG_ARGISNULL(0) || PG_ARGISNULL(1))
		PG_RETURN_NULL();
	if (with_cl && (cl < 1 || cl > TRACKED_CL_MAX - 1 || cl % 2 == 0))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid causal length " INT64_FORMAT " of a row", cl),
				 errdetail("A row's causal length is odd, between 1 and 2^62.")));
	rel = table_open(relid, RowExclusiveLock);
	tr = tracked_rel_get(rel);
	tracked_require_cl(tr);

	/* the key as topics and tombstones write it */
	getTypeInputInfo(tr->key_type, &input, &ioparam);
	nest = tracked_pin_settings();
	key = tracked_key_out(tr, OidInputFunctionCall(input, text_to_cstring(PG_GETARG_TEXT_PP(1)), ioparam,
												   TupleDescAttr(RelationGetDescr(rel), tr->key_attnum - 1)->atttypmod));
	sql = psprintf("DELETE FROM ONLY %s.%s WHERE %s = $1::%s%s",
				   quote_identifier(tr->nspname), quote_identifier(tr->relname),
				   quote_identifier(NameStr(TupleDescAttr(RelationGetDescr(rel), tr->key_attnum - 1)->attname)),
				   format_type_be_qualified(tr->key_type),
				   with_cl ? " AND " TRACKED_CL_COLUMN " <= $2" : "");
	args[0] = CStringGetTextDatum(key);
	args[1] = Int64GetDatum(cl);
	spi_connect();
	if (SPI_execute_with_args(sql, with_cl ? 2 : 1, types, args, NULL, false, 0) != SPI_OK_DELETE)
		elog(ERROR, "deleting a row failed");
	deleted = SPI_processed;
	SPI_finish();
	tracked_unpin_settings(nest);

	if (with_cl && tombstone_cl(tr, key) < cl + 1)
	{
		if (pg_class_aclcheck(relid, GetUserId(), ACL_DELETE) != ACLCHECK_OK)
			aclcheck_error(ACLCHECK_NO_PRIV, get_relkind_objtype(rel->rd_rel->relkind),
						   RelationGetRelationName(rel));
		put_tombstone(tr, key, cl + 1);
		notify_deleted(tr, key, cl + 1);
	}
	table_close(rel, NoLock);
	PG_RETURN_INT64((int64) deleted);
}
