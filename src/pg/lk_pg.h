/*
 * lk_pg.h — the thin layer between the CRDT core and PostgreSQL.
 *
 * A stored value is a varlena whose payload is the core's binary encoding
 * (src/crdt/lk_format.h): the same bytes are stored, sent by send/recv and
 * compared by =.  Short (1-byte) headers are kept on disk and never copied:
 * read values with lk_pg_bytes.
 */
#ifndef LK_PG_H
#define LK_PG_H

#include "postgres.h"

#include "fmgr.h"
#include "utils/memutils.h"

#include "lk_state.h"

/* palloc in CurrentMemoryContext; released with the context. */
extern const lk_alloc lk_pg_alloc;

/* An allocator bound to one memory context (aggregate states). */
void		lk_pg_context_alloc(lk_alloc *out, MemoryContext ctx);

/*
 * Raise err as an ERROR with the SQLSTATE of its code.  For syntax errors,
 * input is the rejected text and type_name its type, as in core's
 * "invalid input syntax for type ..." messages.
 */
void		lk_pg_raise(const lk_error *err, const char *type_name, const char *input) pg_attribute_noreturn();

static inline void
lk_pg_check(lk_code rc, const lk_error *err)
{
	if (rc != LK_OK)
		lk_pg_raise(err, NULL, NULL);
}

/* The payload of a (possibly short-header, possibly toasted) argument. */
static inline const uint8_t *
lk_pg_bytes(struct varlena *v, size_t *len)
{
	*len = VARSIZE_ANY_EXHDR(v);
	return (const uint8_t *) VARDATA_ANY(v);
}

#define LK_PG_ARG(n) ((struct varlena *) PG_DETOAST_DATUM_PACKED(PG_GETARG_DATUM(n)))

/* Decode argument n, expected to be of the given kind (0: any). */
void		lk_pg_arg_state(FunctionCallInfo fcinfo, int n, lk_kind kind, lk_state *out);

/* The aggregate context of an aggregate support function; an error elsewhere. */
MemoryContext lk_pg_agg_context(FunctionCallInfo fcinfo);

/* Encode a state into a new varlena. */
struct varlena *lk_pg_state_datum(const lk_state *s);

/* A buffer whose first VARHDRSZ bytes are left for the varlena header. */
void		lk_pg_buf_init(lk_buf *b, size_t cap);
struct varlena *lk_pg_buf_finish(lk_buf *b);

/* The effective laniakea.node_id: the setting, or the cluster's default. */
lk_str		lk_pg_node_id(void);

/* A text argument as a borrowed lk_str. */
lk_str		lk_pg_text_arg(FunctionCallInfo fcinfo, int n);

/* The decimal text of a 128-bit integer, palloc'd. */
char	   *lk_pg_int128_text(__int128 v);

/*
 * The rule for counter totals (docs/sql-reference.md): a write made on this
 * node may not raise a gcounter's sum, or a pncounter's P or N, beyond
 * 2^63-1; replication and merge may.  An error (22003) when after raises a
 * total of before (NULL: the empty state) past that.  column names the
 * table column in the message, or is NULL.  Other kinds pass.
 */
void		lk_pg_check_totals(const lk_state *before, const lk_state *after, const char *column);

#endif
