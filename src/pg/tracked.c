/*
 * tracked.c — the per-backend cache of tracked relations and of the CRDT
 * type OIDs.
 */
#include "tracked.h"

#include "lk_topic.h"

#include "access/genam.h"
#include "access/htup_details.h"
#include "access/nbtree.h"
#include "access/xact.h"
#include "access/table.h"
#include "catalog/indexing.h"
#include "catalog/namespace.h"
#include "catalog/pg_extension.h"
#include "catalog/pg_type.h"
#include "utils/builtins.h"
#include "utils/guc.h"
#include "utils/fmgroids.h"
#include "utils/hsearch.h"
#include "utils/inval.h"
#include "utils/lsyscache.h"
#include "utils/syscache.h"

static HTAB *rels = NULL;
static uint32 builds = 0;

/*
 * Plans of rebuilt entries.  A rebuild can happen while a plan runs (a relcache
 * invalidation processed inside the statement the plan executes), so plans are
 * freed at the end of the transaction, not at the rebuild.
 */
static List *retired_plans = NIL;

/*
 * Settings that change how a value prints or parses.  A key's text is the
 * address of its tombstones and the name of its lock on every node and in
 * every session, so it is printed and parsed under these, whatever the
 * session's (or the apply worker's database default) settings are.
 */
static const struct
{
	const char *name;
	const char *value;
}			canonical_settings[] =
{
	{"DateStyle", "ISO, YMD"},
	{"IntervalStyle", "postgres"},
	{"TimeZone", "UTC"},
	{"extra_float_digits", "3"},
	{"bytea_output", "hex"},
	{"lc_monetary", "C"},
};

/* Key types whose text form no setting changes: no need to pin them. */
static bool
prints_plainly(Oid type)
{
	switch (getBaseType(type))
	{
		case INT2OID:
		case INT4OID:
		case INT8OID:
		case OIDOID:
		case TEXTOID:
		case VARCHAROID:
		case NAMEOID:
		case UUIDOID:
		case BOOLOID:
		case CHAROID:
			return true;
		default:
			return false;
	}
}

int
tracked_pin_settings(void)
{
	int			nest = NewGUCNestLevel();

	for (size_t i = 0; i < lengthof(canonical_settings); i++)
		(void) set_config_option(canonical_settings[i].name, canonical_settings[i].value,
								 PGC_USERSET, PGC_S_SESSION, GUC_ACTION_SAVE, true, 0, false);
	return nest;
}

void
tracked_unpin_settings(int nest)
{
	AtEOXact_GUC(true, nest);
}

static void
free_retired_plans(XactEvent event, void *arg)
{
	ListCell   *lc;

	if (event != XACT_EVENT_COMMIT && event != XACT_EVENT_ABORT &&
		event != XACT_EVENT_PARALLEL_COMMIT && event != XACT_EVENT_PARALLEL_ABORT &&
		event != XACT_EVENT_PREPARE)
		return;
	foreach(lc, retired_plans)
		SPI_freeplan((SPIPlanPtr) lfirst(lc));
	list_free(retired_plans);
	retired_plans = NIL;
}

static void
retire_plan(SPIPlanPtr plan)
{
	MemoryContext old;

	if (plan == NULL)
		return;
	old = MemoryContextSwitchTo(TopMemoryContext);
	retired_plans = lappend(retired_plans, plan);
	MemoryContextSwitchTo(old);
}
static Oid	type_oids[LK_KIND_MAX + 1];	/* indexed by lk_kind */
static bool types_valid = false;

static void
types_invalidate(Datum arg, int cacheid, uint32 hashvalue)
{
	types_valid = false;
}

static void
rel_invalidate(Datum arg, Oid relid)
{
	HASH_SEQ_STATUS seq;
	tracked_rel *tr;

	if (rels == NULL)
		return;
	hash_seq_init(&seq, rels);
	while ((tr = hash_seq_search(&seq)) != NULL)
		if (relid == InvalidOid || tr->relid == relid)
			tr->valid = false;
}

/* The schema laniakea was created in (pg_extension.extnamespace). */
static Oid
extension_schema(void)
{
	Relation	rel = table_open(ExtensionRelationId, AccessShareLock);
	ScanKeyData key;
	SysScanDesc scan;
	HeapTuple	tuple;
	Oid			nsp = InvalidOid;

	ScanKeyInit(&key, Anum_pg_extension_extname, BTEqualStrategyNumber, F_NAMEEQ,
				CStringGetDatum("laniakea"));
	scan = systable_beginscan(rel, ExtensionNameIndexId, true, NULL, 1, &key);
	tuple = systable_getnext(scan);
	if (HeapTupleIsValid(tuple))
		nsp = ((Form_pg_extension) GETSTRUCT(tuple))->extnamespace;
	systable_endscan(scan);
	table_close(rel, AccessShareLock);
	return nsp;
}

lk_kind
tracked_kind_of(Oid typid)
{
	if (!types_valid)
	{
		static bool registered = false;
		Oid			nsp = extension_schema();

		if (!registered)
		{
			CacheRegisterSyscacheCallback(TYPEOID, types_invalidate, (Datum) 0);
			registered = true;
		}
		for (lk_kind k = LK_GCOUNTER; k <= LK_KIND_MAX; k++)
			type_oids[k] = OidIsValid(nsp) ?
				GetSysCacheOid2(TYPENAMENSP, Anum_pg_type_oid,
								CStringGetDatum(lk_kind_name(k)), ObjectIdGetDatum(nsp)) :
				InvalidOid;
		types_valid = true;
	}
	for (lk_kind k = LK_GCOUNTER; k <= LK_KIND_MAX; k++)
		if (OidIsValid(typid) && typid == type_oids[k])
			return k;
	return 0;
}

char *
tracked_topic_table(const char *nsp, const char *rel)
{
	lk_buf		b;

	lk_buf_init(&b, &lk_pg_alloc, strlen(nsp) + strlen(rel) + 8);
	lk_topic_put_table(&b, lk_str_make(nsp, strlen(nsp)), lk_str_make(rel, strlen(rel)));
	lk_buf_put_u8(&b, '\0');
	return (char *) b.data;
}

/* In CurrentMemoryContext. */
static char *
json_string(const char *s)
{
	lk_buf		b;

	lk_buf_init(&b, &lk_pg_alloc, strlen(s) + 3);
	lk_json_put_string(&b, lk_str_make(s, strlen(s)));
	lk_buf_put_u8(&b, '\0');
	return (char *) b.data;
}

static void
build(tracked_rel *tr, Relation rel)
{
	TupleDesc	desc = RelationGetDescr(rel);
	MemoryContext old = MemoryContextSwitchTo(tr->cxt);
	Relation	index;
	Oid			opfamily,
				out_func;
	bool		varlena;
	const char *nsp = get_namespace_name(RelationGetNamespace(rel));

	RelationGetIndexList(rel);	/* fills rd_pkindex */
	if (!OidIsValid(rel->rd_pkindex))
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" has no primary key", RelationGetRelationName(rel)),
				 errhint("A tracked table needs a single-column primary key.")));
	index = index_open(rel->rd_pkindex, AccessShareLock);
	if (index->rd_index->indnkeyatts != 1 || index->rd_index->indkey.values[0] == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("primary key of table \"%s\" is not a single column",
						RelationGetRelationName(rel)),
				 errhint("A tracked table needs a single-column primary key.")));
	tr->pk_index = rel->rd_pkindex;
	tr->key_attnum = index->rd_index->indkey.values[0];
	opfamily = index->rd_opfamily[0];
	tr->key_type = TupleDescAttr(desc, tr->key_attnum - 1)->atttypid;

	/*
	 * A deleted key is found again by its text: equal keys must print alike.
	 * Where equality is image equality (the test deduplication uses), they do.
	 */
	if (!_bt_allequalimage(index, false))
		ereport(ERROR,
				(errcode(ERRCODE_FEATURE_NOT_SUPPORTED),
				 errmsg("primary key of table \"%s\" cannot identify deleted rows",
						RelationGetRelationName(rel)),
				 errdetail("Values of its type %s can be equal without being identical (as numeric 1.0 and 1.00 are), so a deletion recorded under one would miss the other.",
						   format_type_be(tr->key_type)),
				 errhint("Use a key of a type such as bigint, text or uuid, with a deterministic collation.")));
	index_close(index, AccessShareLock);
	tr->key_plain = prints_plainly(tr->key_type);
	tr->key_eq_proc = get_opcode(get_opfamily_member(opfamily, tr->key_type, tr->key_type,
													 BTEqualStrategyNumber));
	getTypeOutputInfo(tr->key_type, &out_func, &varlena);
	fmgr_info_cxt(out_func, &tr->key_out, tr->cxt);

	tr->ncrdt = 0;
	tr->cl_attnum = 0;
	tr->crdt = palloc(sizeof(tracked_column) * desc->natts);
	for (int i = 0; i < desc->natts; i++)
	{
		Form_pg_attribute att = TupleDescAttr(desc, i);
		lk_kind		kind = att->attisdropped ? 0 : tracked_kind_of(att->atttypid);

		if (!att->attisdropped && att->atttypid == INT8OID &&
			strcmp(NameStr(att->attname), TRACKED_CL_COLUMN) == 0)
			tr->cl_attnum = att->attnum;
		if (kind == 0)
			continue;
		tr->crdt[tr->ncrdt].attnum = att->attnum;
		tr->crdt[tr->ncrdt].kind = kind;
		tr->crdt[tr->ncrdt].json_name = json_string(NameStr(att->attname));
		tr->ncrdt++;
	}
	if (tr->ncrdt == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("table \"%s\" has no gcounter, pncounter, orset or lwwreg column",
						RelationGetRelationName(rel))));
	tr->generation = ++builds;
	tr->nspname = pstrdup(nsp);
	tr->relname = pstrdup(RelationGetRelationName(rel));
	tr->display_name = strcmp(nsp, "public") == 0 ? pstrdup(tr->relname) :
		psprintf("%s.%s", nsp, tr->relname);
	tr->topic_table = tracked_topic_table(nsp, tr->relname);
	tr->topic_table_json = json_string(tr->topic_table);
	MemoryContextSwitchTo(old);
}

/* Drop what an entry holds, leaving it empty for build. */
static void
release(tracked_rel *tr)
{
	retire_plan(tr->upsert);
	retire_plan(tr->purge);
	if (tr->cxt)
		MemoryContextDelete(tr->cxt);
	tr->upsert = NULL;
	tr->purge = NULL;
	tr->cxt = NULL;
}

tracked_rel *
tracked_rel_get(Relation rel)
{
	Oid			relid = RelationGetRelid(rel);
	tracked_rel *tr;
	bool		found;

	if (rels == NULL)
	{
		HASHCTL		ctl;

		ctl.keysize = sizeof(Oid);
		ctl.entrysize = sizeof(tracked_rel);
		ctl.hcxt = CacheMemoryContext;
		rels = hash_create("laniakea tracked relations", 16, &ctl,
						   HASH_ELEM | HASH_BLOBS | HASH_CONTEXT);
		CacheRegisterRelcacheCallback(rel_invalidate, (Datum) 0);
		RegisterXactCallback(free_retired_plans, NULL);
	}
	tr = hash_search(rels, &relid, HASH_ENTER, &found);
	if (found && tr->valid)
		return tr;
	if (found)
		release(tr);
	tr->valid = false;
	tr->upsert = NULL;
	tr->purge = NULL;
	tr->cxt = AllocSetContextCreate(CacheMemoryContext, "laniakea tracked relation",
									ALLOCSET_SMALL_SIZES);
	PG_TRY();
	{
		build(tr, rel);
	}
	PG_CATCH();
	{
		release(tr);
		hash_search(rels, &relid, HASH_REMOVE, NULL);
		PG_RE_THROW();
	}
	PG_END_TRY();
	tr->valid = true;
	return tr;
}

char *
tracked_key_out(tracked_rel *tr, Datum key)
{
	char	   *text;
	int			nest;

	if (tr->key_plain)
		text = OutputFunctionCall(&tr->key_out, key);
	else
	{
		nest = tracked_pin_settings();
		text = OutputFunctionCall(&tr->key_out, key);
		tracked_unpin_settings(nest);
	}
	if (strlen(text) > TRACKED_KEY_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_PROGRAM_LIMIT_EXCEEDED),
				 errmsg("key of tracked table \"%s\" is too long", tr->display_name),
				 errdetail("Its text is %zu bytes; a tracked table's key is at most %d, so that its tombstone fits an index.",
						   strlen(text), TRACKED_KEY_MAX)));
	return text;
}

char *
tracked_key_text(tracked_rel *tr, HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		key = heap_getattr(tuple, tr->key_attnum, desc, &isnull);

	if (isnull)
		return pstrdup("");
	return tracked_key_out(tr, key);
}

void
tracked_require_cl(tracked_rel *tr)
{
	if (tr->cl_attnum == 0)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TABLE_DEFINITION),
				 errmsg("tracked table \"%s\" has no column \"%s\"", tr->display_name, TRACKED_CL_COLUMN),
				 errdetail("Deletes of a tracked table converge through the causal length of its rows."),
				 errhint("Call laniakea.track again to add it.")));
}

int64
tracked_row_cl(tracked_rel *tr, HeapTuple tuple, TupleDesc desc)
{
	bool		isnull;
	Datum		d;

	tracked_require_cl(tr);
	d = heap_getattr(tuple, tr->cl_attnum, desc, &isnull);
	if (isnull)
		return 0;
	if (DatumGetInt64(d) < 1 || DatumGetInt64(d) > TRACKED_CL_MAX)
		ereport(ERROR,
				(errcode(ERRCODE_INVALID_PARAMETER_VALUE),
				 errmsg("invalid %s " INT64_FORMAT " in tracked table \"%s\"",
						TRACKED_CL_COLUMN, DatumGetInt64(d), tr->display_name),
				 errdetail("A causal length is between 1 and 2^62: odd while the row exists, even once deleted.")));
	return DatumGetInt64(d);
}

/*
 * laniakea.check_trackable(tbl): the checks every trigger of a tracked table
 * makes on first use (a single-column primary key whose equal values print
 * alike, a CRDT column), made at laniakea.track time.
 */
PG_FUNCTION_INFO_V1(check_trackable);
Datum
check_trackable(PG_FUNCTION_ARGS)
{
	Relation	rel = table_open(PG_GETARG_OID(0), AccessShareLock);

	(void) tracked_rel_get(rel);
	table_close(rel, AccessShareLock);
	PG_RETURN_VOID();
}

/*
 * laniakea.key_text(tbl, key): a key of tbl written as text, in the form its
 * topics and tombstones use: parsed and printed under the canonical settings
 * (so '2024-01-02T03:04:05Z' becomes '2024-01-02 03:04:05+00').  Listeners
 * that take keys from clients use it to find rows and tombstones by one name.
 */
PG_FUNCTION_INFO_V1(key_text);
Datum
key_text(PG_FUNCTION_ARGS)
{
	Relation	rel = table_open(PG_GETARG_OID(0), AccessShareLock);
	char	   *in = text_to_cstring(PG_GETARG_TEXT_PP(1));
	tracked_rel *tr = tracked_rel_get(rel);
	Oid			input,
				ioparam;
	int32		typmod = TupleDescAttr(RelationGetDescr(rel), tr->key_attnum - 1)->atttypmod;
	Datum		key;
	char	   *out;
	int			nest;

	getTypeInputInfo(tr->key_type, &input, &ioparam);
	nest = tracked_pin_settings();
	key = OidInputFunctionCall(input, in, ioparam, typmod);
	tracked_unpin_settings(nest);
	out = tracked_key_out(tr, key);
	table_close(rel, AccessShareLock);
	PG_RETURN_TEXT_P(cstring_to_text(out));
}

/*
 * laniakea.topic_table(schema, relation): <table> of the topics of a table
 * of that name, as NOTIFY payloads name it ("table"): schema-qualified
 * unless public, '%', '.' and ':' escaped (lk_topic.h).  From names, so that
 * it serves a table just dropped too.
 */
PG_FUNCTION_INFO_V1(topic_table);
Datum
topic_table(PG_FUNCTION_ARGS)
{
	char	   *nsp = text_to_cstring(PG_GETARG_TEXT_PP(0));
	char	   *rel = text_to_cstring(PG_GETARG_TEXT_PP(1));

	PG_RETURN_TEXT_P(cstring_to_text(tracked_topic_table(nsp, rel)));
}

/*
 * laniakea.topic(tbl, key DEFAULT NULL): the topic of a table,
 * crdt:<table>, or of one of its rows, crdt:<table>:<key>, with key as given
 * (a row's topic names its key's canonical text: laniakea.key_text).
 */
PG_FUNCTION_INFO_V1(topic);
Datum
topic(PG_FUNCTION_ARGS)
{
	Oid			relid;
	char	   *rel;
	char	   *nsp;
	lk_buf		b;
	lk_str		key;

	if (PG_ARGISNULL(0))
		PG_RETURN_NULL();
	relid = PG_GETARG_OID(0);
	rel = get_rel_name(relid);
	if (rel == NULL)
		ereport(ERROR,
				(errcode(ERRCODE_UNDEFINED_TABLE),
				 errmsg("relation with OID %u does not exist", relid)));
	nsp = get_namespace_name(get_rel_namespace(relid));
	lk_buf_init(&b, &lk_pg_alloc, strlen(nsp) + strlen(rel) + 16);
	if (!PG_ARGISNULL(1))
	{
		char	   *k = text_to_cstring(PG_GETARG_TEXT_PP(1));

		key = lk_str_make(k, strlen(k));
	}
	lk_topic_put(&b, lk_str_make(nsp, strlen(nsp)), lk_str_make(rel, strlen(rel)),
				 PG_ARGISNULL(1) ? NULL : &key);
	PG_RETURN_TEXT_P(cstring_to_text_with_len((const char *) b.data, (int) b.len));
}
