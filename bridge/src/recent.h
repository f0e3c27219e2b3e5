/*
 * recent.h — the changes the WAL source received that a read may not see yet.
 *
 * A commit reaches the WAL, and so the bridge, before it is visible to other
 * sessions: its record is flushed (and decoded) first, and the committing
 * backend leaves the proc array after — at once, or only after a synchronous
 * standby confirms it, for as long as that takes.  A read whose snapshot is
 * taken in between does not see the change, though the bridge received it:
 * skipped (no one held the row) or applied (and then overwritten by the
 * read, when the read is of another incarnation).  So the bridge keeps the
 * state every tracked row's change left, with its transaction's id, until a
 * snapshot shows that transaction visible; a read comes with its snapshot
 * (hub.c), and the changes of its rows that the snapshot does not see take
 * the read's place (recent_unseen; hub.c, unseen_read).  Every read
 * and snapshot probe runs on db.c's one connection, in order, so a read
 * whose result comes after a snapshot's was taken after it and sees what it
 * sees: what a snapshot sees is dropped (recent_observe).
 *
 * Memory is capped (--wal-window-bytes).  A change that would pass the cap is
 * not kept; until a snapshot shows every transaction up to the latest such
 * one finished, reads cannot know what they miss (recent_lossy), and the hub
 * reads their rows again once it can.
 */
#ifndef BRIDGE_RECENT_H
#define BRIDGE_RECENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "catalog.h"
#include "wal.h"
#include "xsnap.h"

typedef struct recent_change
{
	const table *t;
	char	   *id;				/* "<table>:<key>", the row's in the index */
	const char *key;			/* in id */
	bool		deleted;
	int64_t		cl;				/* deleted: the tombstone's (0 unknown) */
	wal_col    *cols;			/* t->ncol, texts in data; NULL when deleted */
	char	   *data;
	uint32_t	xid;
	size_t		bytes;
	struct recent_change *prev,
			   *next;			/* all, in commit order */
	struct recent_change *key_prev,
			   *key_next;		/* the same row's */
	struct row_changes *row;	/* the row's list (recent.c) */
} recent_change;

/* cap: bytes of states kept at most. */
void		recent_init(size_t cap);

/*
 * Keep a committed change of t's row key (transaction xid); takes cols and
 * data (malloc'd, freed here).  Changes come in commit order.
 */
void		recent_add(const table *t, const char *key, bool deleted, int64_t cl, wal_col *cols,
					   char *data, size_t bytes, uint32_t xid);

/*
 * The changes kept of the row (table name, key), or of every row of the
 * table when key is NULL, that s does not see, in commit order: *n of them
 * (malloc'd array, NULL when none).  Valid until the next recent_add or
 * recent_observe.
 */
recent_change **recent_unseen(const char *tname, const char *key, const xsnap *s, size_t *n);

/*
 * A snapshot was taken on db.c's connection: drop what it sees, and say
 * whether reads after it may still miss changes that were not kept.
 */
void		recent_observe(const xsnap *s);

/* Reads with snapshot s may miss changes that were not kept (the cap). */
bool		recent_lossy(const xsnap *s);

/*
 * A new slot streams from its consistent point: a transaction committed
 * before it is not decoded, and may still be invisible.  Reads are lossy
 * until recent_lost_before gives a bound (the xmax of a snapshot taken
 * after the slot was made) and snapshots pass it.
 */
void		recent_lost_unknown(void);
void		recent_lost_before(uint64_t xmax);

/* Nothing kept, nothing lost: no snapshot needs to be watched. */
bool		recent_idle(void);

void		recent_clear(void);

#endif
