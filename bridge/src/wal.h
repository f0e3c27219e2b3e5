/*
 * wal.h — where the bridge learns of changes: the NOTIFYs db.c receives, or
 * the WAL, read through logical decoding (pgoutput, publication
 * laniakea_changes) on a second PostgreSQL connection.
 *
 * --source auto (the default) reads the WAL when the database has
 * wal_level = logical and the bridge's role may replicate (REPLICATION or
 * superuser), NOTIFY otherwise, and logs which and why; the choice is made
 * once, at the first connection (a probe on db.c's connection), and kept.
 * --source wal where it cannot be is a startup error (wal_fatal).
 *
 * The replication connection (replication=database) is non-blocking on the
 * libwebsockets loop, its socket adopted as db.c adopts its own.  Each
 * connection makes a TEMPORARY slot of a name of its own (so several bridges
 * share a database, and a dead bridge's slot goes with its connection,
 * retaining no WAL), streams from it with proto_version 1, and tells the
 * server what it has applied (standby status updates: on request, and each
 * second while that advances).  Changes come whole transactions at a time,
 * committed, in commit order; the changes of a transaction are coalesced per
 * row (the last state, or the deletion), as the NOTIFY trigger coalesces
 * them; at its commit those of rows the hub needs are handed up, and every
 * row's is kept until reads can see it (recent.h: a commit is decoded before
 * it is visible).  A deletion's causal length comes from its row of
 * laniakea.tombstones.  When the connection fails it is made again with
 * backoff (100 ms doubling to 5 s), on a new slot, and on_streaming tells the
 * hub to read what it holds again: what was committed while nothing streamed
 * is in those reads, once it is visible (recent_lost_unknown).  Errors are logged the
 * first time and counted (laniakea_wal_errors_total).
 */
#ifndef BRIDGE_WAL_H
#define BRIDGE_WAL_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"

typedef enum wal_source
{
	SOURCE_UNDECIDED,			/* auto or wal, before the probe answered */
	SOURCE_NOTIFY,
	SOURCE_WAL
} wal_source;

/* A CRDT column of a changed row: its text, or none (SQL NULL; unchanged: a TOASTed value not sent). */
typedef struct wal_col
{
	const char *text;			/* not NUL-terminated */
	size_t		len;
	bool		unchanged;
} wal_col;

typedef struct wal_hooks
{
	bool		(*needs) (const table *t, const char *key);	/* is a change of this row of use? */
	void		(*on_change) (const table *t, const char *key, int64_t cl, const wal_col *cols,
							  uint64_t ts);	/* ts: commit time, µs since the Unix epoch */
	void		(*on_deleted) (const table *t, const char *key, int64_t cl);	/* cl 0: unknown */
	void		(*on_truncated) (const table *t);
	void		(*on_streaming) (void); /* a new slot streams: read again what is held */
} wal_hooks;

extern const struct lws_protocols wal_protocol;

/* mode: "auto", "wal" or "notify" (config.c checks it). */
void		wal_start(struct lws_context *ctx, struct lws_vhost *vh, const char *conninfo,
					  const char *mode, const wal_hooks *hooks);
void		wal_stop(void);

/* db.c's connection is ready: the first time, probe which source to use. */
void		wal_db_ready(void);

/* The catalog changed: a connection waiting for the publication tries again now. */
void		wal_catalog_changed(void);

wal_source	wal_source_used(void);

/* Are changes flowing: always with NOTIFY, once streaming with the WAL. */
bool		wal_ready(void);

/* Why --source wal cannot run here (main exits with it), or NULL. */
const char *wal_fatal(void);

#endif
