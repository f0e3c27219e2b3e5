/*
 * row.h — the bridge's copy of tracked rows, and the table topics that hold
 * them.  The hub (hub.c) owns and changes these; rendering (render.c,
 * fragment.c) and channels (channel.c) read them.
 *
 *   table_topic  one tracked table as the hub knows it: its topic
 *                "crdt:<table>", the channels subscribed to that topic, and
 *                every row of the table the bridge holds
 *   row          the bridge's copy of one row's CRDT columns and causal
 *                length, of the latest incarnation seen: the join of every
 *                read and delta of it; held while something needs it
 *
 * (A "table" is the catalog's entry for a tracked table, catalog.h.)
 */
#ifndef BRIDGE_ROW_H
#define BRIDGE_ROW_H

#include <libwebsockets.h>
#include <stdbool.h>
#include <stdint.h>

#include "catalog.h"
#include "cell.h"
#include "map.h"

struct fragment;

typedef struct table_topic
{
	char	   *topic;			/* "crdt:<table>" */
	const table *t;				/* the catalog's entry */
	map			rows;			/* key → row: every row of the table the bridge holds */
	lws_dll2_owner_t subs;		/* subscriptions (hub.h) to the table topic */
	lws_dll2_owner_t waiting;	/* ... whose join waits for the table read */
	int			refs;			/* reads under way and walks that point at it */
	uint64_t	read_stamp;		/* table reads so far: which rows the last one listed */
	bool		loaded;			/* read since its first subscriber came */
	bool		reading;		/* a table read is under way */
	bool		resend_changed;	/* the read under way resends only rows it changed */
	bool		orphan;			/* out of the hub's map: the catalog changed it (hub.c, migrate) */
} table_topic;

typedef struct row
{
	char	   *topic;			/* "crdt:<table>:<key>" */
	table_topic *tt;			/* its table's topic, whose rows hold it */
	const table *t;				/* tt->t */
	char	   *key;			/* canonical text */
	cell	   *cells;			/* t->ncol; all empty while deleted */

	/*
	 * Its causal length (laniakea_cl; docs/replication.md): odd while the
	 * row exists, even once deleted (the tombstone's), 0 while the bridge
	 * knows of neither.  Notifications only raise it; a read, which is at
	 * least as new as every notification taken before its result, sets it.
	 */
	int64_t		cl;
	int			refs;			/* pending entries, reads under way and walks that point at it */
	uint64_t	seen;			/* the last table read that listed it (tt->read_stamp) */
	lws_dll2_owner_t subs;		/* subscriptions to this row topic */
	lws_dll2_owner_t waiting;	/* ... whose join waits for its read */
	uint64_t	version;		/* bumped whenever cells change */
	struct fragment *frags;		/* encodings shared by throttled subscribers (fragment.h) */
	bool		pinned;			/* it exists and its table topic has subscribers */
	bool		loaded;			/* read (or new to a table topic) since it was made */
	bool		reading;		/* a read of it is under way */
	bool		damaged;		/* a cell failed to decode or merge: the next read replaces the cells */
} row;

static inline bool
cl_alive(int64_t cl)
{
	return cl % 2 == 1;
}

#endif
