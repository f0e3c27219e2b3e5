/*
 * tombstone.h — deleted rows of tracked tables (tombstone.c).
 *
 * A row's existence is its causal length: odd while it exists, even once
 * deleted (docs/replication.md).  laniakea.tombstones keeps, per deleted key,
 * the causal length of its deletion; states of a smaller causal length are
 * stale wherever they arrive.
 */
#ifndef LK_TOMBSTONE_H
#define LK_TOMBSTONE_H

#include "tracked.h"

/*
 * The causal length of key's tombstone in tr's table, 0 when it has none.
 * Sees tombstones other transactions are writing (a dirty snapshot), as the
 * merge trigger's key probe sees their rows.
 */
int64		tombstone_cl(tracked_rel *tr, const char *key);

/*
 * Non-zero while tombstone.c deletes the rows a tombstone covers: that
 * tombstone's causal length.  The notify trigger reports it as the deletion's.
 */
int64		tombstone_purging_cl(void);

#endif
