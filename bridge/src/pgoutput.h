/*
 * pgoutput.h — the messages of PostgreSQL's pgoutput plugin (logical
 * replication protocol version 1, text tuple data), parsed.
 *
 * Pure: no libpq, no libwebsockets, no I/O, so that the parser is tested on
 * bytes alone.  A parsed message borrows its input: names and values point
 * into the buffer (values are not NUL-terminated: use their length), and the
 * arrays (columns, values, relation ids) come from the allocator given, so
 * everything lives as long as both.  Every length and count is checked
 * against the buffer: a truncated or malformed message is an error, never a
 * read past its end.
 */
#ifndef BRIDGE_PGOUTPUT_H
#define BRIDGE_PGOUTPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lk_alloc.h"

/* Microseconds from the Unix epoch to PostgreSQL's (2000-01-01). */
#define PGO_EPOCH_OFFSET_US INT64_C(946684800000000)

typedef struct pgo_value
{
	char		kind;			/* 'n' NULL, 'u' unchanged TOASTed value (not sent), 't' text */
	const char *data;			/* 't': the text, not NUL-terminated */
	uint32_t	len;
} pgo_value;

typedef struct pgo_tuple
{
	int			ncols;
	pgo_value  *vals;
} pgo_tuple;

typedef struct pgo_column
{
	const char *name;
	uint32_t	type;			/* type OID */
	bool		key;			/* part of the replica identity */
} pgo_column;

typedef struct pgo_msg
{
	char		kind;			/* 'B' 'C' 'R' 'I' 'U' 'D' 'T' 'O' 'Y' */
	uint64_t	lsn;			/* B: the transaction's final LSN; C: its end LSN */
	int64_t		ts;				/* B, C: commit time, µs since 2000-01-01 */
	uint32_t	xid;			/* B */
	uint32_t	relid;			/* R, I, U, D, Y (the type's OID) */
	/* R (Y: nspname and relname are the type's) */
	const char *nspname;		/* "" for pg_catalog */
	const char *relname;
	char		identity;		/* replica identity setting: 'd' 'n' 'f' 'i' */
	int			ncols;
	pgo_column *cols;
	/* I, U, D */
	char		old_kind;		/* U, D: 'K' (key columns) or 'O' (the whole old row); U: 0 if none */
	pgo_tuple	old;
	pgo_tuple	new;			/* I, U */
	/* T */
	int			nrels;
	uint32_t   *relids;
	uint8_t		truncate_options;	/* 1 CASCADE, 2 RESTART IDENTITY */
} pgo_msg;

/*
 * Parse one pgoutput message (the payload of an XLogData message).  Returns
 * NULL and fills *m, or a static message saying what is wrong.  Messages of
 * kinds it does not know (a later protocol's) are an error too: the caller
 * asked for version 1.
 */
const char *pgo_parse(const uint8_t *buf, size_t len, const lk_alloc *a, pgo_msg *m);

/*
 * The replication protocol's own framing around it (inside CopyData):
 * 'w' XLogData and 'k' primary keepalive.  pgo_parse_copy sets *payload (w)
 * or the keepalive's fields; returns NULL or what is wrong.
 */
typedef struct pgo_copy
{
	char		kind;			/* 'w' or 'k' */
	uint64_t	start;			/* w: the WAL start of the data */
	uint64_t	wal_end;		/* the server's end of WAL */
	int64_t		send_time;		/* µs since 2000-01-01 */
	bool		reply_requested;	/* k */
	const uint8_t *payload;		/* w */
	size_t		payload_len;
} pgo_copy;

const char *pgo_parse_copy(const uint8_t *buf, size_t len, pgo_copy *c);

/* A standby status update ('r') into out, 34 bytes: written = flushed = applied = lsn. */
#define PGO_STATUS_LEN 34
void		pgo_status(uint8_t out[PGO_STATUS_LEN], uint64_t lsn, int64_t now_pg_us, bool reply);

/* "X/Y", as PostgreSQL writes an LSN, into out (at least 18 bytes). */
void		pgo_lsn_text(uint64_t lsn, char *out, size_t size);

/* An LSN "X/Y"; false when text is not one. */
bool		pgo_lsn_parse(const char *text, uint64_t *out);

#endif
