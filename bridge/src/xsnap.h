/*
 * xsnap.h — PostgreSQL snapshots as pg_current_snapshot() writes them
 * ("xmin:xmax:xip,..."; 64-bit transaction ids, xid8), and which committed
 * transactions one sees.
 *
 * Pure: no libpq, so that it is tested on text alone.  The WAL's Begin
 * message carries a transaction's 32-bit id; xsnap_widen gives it the epoch
 * of a snapshot taken near it (PostgreSQL keeps every live id within 2^31 of
 * the next one, so the nearest 64-bit id with those low bits is the one).
 */
#ifndef BRIDGE_XSNAP_H
#define BRIDGE_XSNAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct xsnap
{
	uint64_t	xmin;			/* every id below had finished */
	uint64_t	xmax;			/* every id from here on had not */
	size_t		nxip;
	uint64_t   *xip;			/* in between: these were running (malloc'd) */
} xsnap;

/* Parse text into *s; false (nothing allocated) when it is not a snapshot. */
bool		xsnap_parse(const char *text, xsnap *s);
void		xsnap_free(xsnap *s);

/* The 64-bit id whose low 32 bits are xid, nearest to s's xmax. */
uint64_t	xsnap_widen(const xsnap *s, uint32_t xid);

/* Does s see the (committed) transaction xid, its changes visible to a read that used it? */
bool		xsnap_sees(const xsnap *s, uint64_t xid);

#endif
