/*
 * lk_pg.c — module setup, the laniakea.node_id setting, allocators and the
 * mapping from core errors to SQLSTATEs.
 */
#include "lk_pg.h"
#include "notify.h"

#include "access/xlog.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/guc.h"

PG_MODULE_MAGIC;

void		_PG_init(void);

static char *node_id_setting = NULL;

static void *
pg_alloc(void *ctx, size_t size)
{
	(void) ctx;
	return palloc(size);
}

static void *
pg_ctx_alloc(void *ctx, size_t size)
{
	return MemoryContextAlloc((MemoryContext) ctx, size);
}

static void
pg_free(void *ctx, void *ptr)
{
	(void) ctx;
	pfree(ptr);
}

const lk_alloc lk_pg_alloc = {pg_alloc, pg_free, NULL};

void
lk_pg_context_alloc(lk_alloc *out, MemoryContext ctx)
{
	out->alloc = pg_ctx_alloc;
	out->free = pg_free;
	out->ctx = ctx;
}

static int
sqlstate_of(lk_code code)
{
	switch (code)
	{
		case LK_ERR_SYNTAX:
			return ERRCODE_INVALID_TEXT_REPRESENTATION;
		case LK_ERR_BINARY:
			return ERRCODE_INVALID_BINARY_REPRESENTATION;
		case LK_ERR_RANGE:
			return ERRCODE_NUMERIC_VALUE_OUT_OF_RANGE;
		case LK_ERR_LIMIT:
			return ERRCODE_PROGRAM_LIMIT_EXCEEDED;
		case LK_ERR_VALUE:
			return ERRCODE_INVALID_PARAMETER_VALUE;
		case LK_OK:
			break;
	}
	return ERRCODE_INTERNAL_ERROR;
}

/* Long inputs are cut in messages, at a character boundary. */
#define INPUT_SHOWN 200

void
lk_pg_raise(const lk_error *err, const char *type_name, const char *input)
{
	if (err->code == LK_ERR_SYNTAX && type_name && input)
	{
		int			len = strlen(input);
		int			shown = len > INPUT_SHOWN ? pg_mbcliplen(input, len, INPUT_SHOWN) : len;

		ereport(ERROR,
				(errcode(ERRCODE_INVALID_TEXT_REPRESENTATION),
				 errmsg("invalid input syntax for type %s: \"%.*s%s\"",
						type_name, shown, input, shown < len ? "..." : ""),
				 err->detail[0] ? errdetail("%s", err->detail) : 0));
	}
	ereport(ERROR,
			(errcode(sqlstate_of(err->code)),
			 errmsg("%s", err->msg),
			 err->detail[0] ? errdetail("%s", err->detail) : 0));
	pg_unreachable();
}

void
lk_pg_arg_state(FunctionCallInfo fcinfo, int n, lk_kind kind, lk_state *out)
{
	size_t		len;
	const uint8_t *p = lk_pg_bytes(LK_PG_ARG(n), &len);
	lk_error	err;

	lk_pg_check(lk_state_decode(p, len, kind, &lk_pg_alloc, out, &err), &err);
}

MemoryContext
lk_pg_agg_context(FunctionCallInfo fcinfo)
{
	MemoryContext aggctx;

	if (!AggCheckCallContext(fcinfo, &aggctx))
		elog(ERROR, "laniakea aggregate function called in non-aggregate context");
	return aggctx;
}

void
lk_pg_buf_init(lk_buf *b, size_t cap)
{
	lk_buf_init(b, &lk_pg_alloc, cap + VARHDRSZ);
	b->len = VARHDRSZ;
}

struct varlena *
lk_pg_buf_finish(lk_buf *b)
{
	SET_VARSIZE(b->data, b->len);
	return (struct varlena *) b->data;
}

struct varlena *
lk_pg_state_datum(const lk_state *s)
{
	lk_buf		b;
	lk_error	err;

	lk_pg_buf_init(&b, 64);
	lk_pg_check(lk_state_encode(s, &b, &err), &err);
	return lk_pg_buf_finish(&b);
}

lk_str
lk_pg_text_arg(FunctionCallInfo fcinfo, int n)
{
	text	   *t = PG_GETARG_TEXT_PP(n);

	return lk_str_make(VARDATA_ANY(t), VARSIZE_ANY_EXHDR(t));
}

char *
lk_pg_int128_text(__int128 v)
{
	char		buf[LK_INT128_TEXT];

	return pstrdup(lk_int128_text(v, buf));
}

/* ---- laniakea.node_id ---- */

/*
 * The default is derived from the cluster's system identifier, which initdb
 * makes unique per cluster and which survives restarts, so each node of a
 * replicated set counts under its own id without configuration.
 */
static const char *
default_node_id(void)
{
	static char buf[32];

	if (buf[0] == '\0')
		snprintf(buf, sizeof(buf), "pg-" UINT64_FORMAT, GetSystemIdentifier());
	return buf;
}

lk_str
lk_pg_node_id(void)
{
	const char *id = (node_id_setting && node_id_setting[0]) ? node_id_setting : default_node_id();

	return lk_str_make(id, strlen(id));
}

static bool
check_node_id(char **newval, void **extra, GucSource source)
{
	lk_error	err;

	if (*newval == NULL || (*newval)[0] == '\0')
		return true;
	if (lk_node_id_check(lk_str_make(*newval, strlen(*newval)), &err) != LK_OK)
	{
		GUC_check_errmsg("invalid value for laniakea.node_id: %s", err.msg);
		if (err.detail[0])
			GUC_check_errdetail("%s", err.detail);
		return false;
	}
	return true;
}

static const char *
show_node_id(void)
{
	lk_str		id = lk_pg_node_id();

	return id.p;
}

void
_PG_init(void)
{
	DefineCustomStringVariable("laniakea.node_id",
							   "This database's node id in CRDT states.",
							   "Empty means the default, pg-<system identifier>, unique per cluster.",
							   &node_id_setting,
							   "",
							   PGC_USERSET,
							   0,
							   check_node_id, NULL, show_node_id);
	lk_notify_init();
	MarkGUCPrefixReserved("laniakea");
}
