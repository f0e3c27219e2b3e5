/*
 * lk_limits.h — the documented limits of every CRDT state.
 *
 * They keep one state well under PostgreSQL's 1 GB varlena limit and bound
 * the work a hostile input can cause.  docs/sql-reference.md lists them; a
 * change here is a change of contract.
 */
#ifndef LK_LIMITS_H
#define LK_LIMITS_H

#include <stdint.h>

#define LK_NODE_ID_MAX		255		/* bytes of UTF-8 in a node id */
#define LK_MAX_NODES		65536	/* distinct node ids in one state */
#define LK_ELEMENT_MAX		4096	/* bytes of UTF-8 in one orset element */
#define LK_MAX_ELEMENTS		1000000 /* elements in one orset */
#define LK_MAX_STATE_BYTES	(64u * 1024 * 1024) /* binary encoding of one state */
#define LK_COUNT_MAX		INT64_MAX	/* a count, a sequence number, a value */
#define LK_VALUE_MAX		(1024 * 1024)	/* bytes of UTF-8 in one lwwreg value */
#define LK_CLOCK_MAX		INT64_MAX	/* an lwwreg clock, µs since the Unix epoch */

/*
 * How far ahead of the wall clock an lwwreg clock from a writer that could
 * lie may be (lk_lwwreg_check_clock): 5 minutes, in microseconds.
 */
#define LK_LWWREG_MAX_AHEAD_US	(INT64_C(5) * 60 * 1000000)

#endif
