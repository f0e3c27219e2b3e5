/*
 * metrics.h — counters for /metrics (Prometheus text format).
 */
#ifndef BRIDGE_METRICS_H
#define BRIDGE_METRICS_H

#include <stdint.h>

#include "lk_buf.h"

typedef struct metrics
{
	int64_t		connections;	/* gauge: open connections (WebSocket and LongPoll sessions) */
	uint64_t	connections_total;
	uint64_t	joins_total;
	uint64_t	join_errors_total;
	uint64_t	frames_in_total;
	uint64_t	frames_out_total;
	uint64_t	notifications_total;
	uint64_t	pushes_total;
	uint64_t	push_errors_total;
	uint64_t	pushes_dropped_total;	/* queued pushes of a client that went away */
	uint64_t	pg_reconnects_total;
	uint64_t	pending_resyncs_total;	/* a channel's pending deltas passed --pending-cap */
	uint64_t	deletes_total;	/* rows held for subscribers that were deleted */
	uint64_t	protocol_errors_total;
	uint64_t	cell_errors_total;	/* column states that failed to decode, parse or merge */
	uint64_t	fragments_encoded_total;	/* throttled subscribers' row encodings made */
	uint64_t	fragments_shared_total; /* ... and reused for another subscriber */
	/* NOTIFY commit → frame queued, in microseconds: sum, count and buckets */
	uint64_t	lag_us_sum;
	uint64_t	lag_count;
	uint64_t	lag_buckets[8];
	int			pg_up;
	/* the WAL source (wal.c) */
	int			wal_source;		/* 1: changes come from the WAL, 0: from NOTIFY */
	int			wal_up;			/* 1: streaming from a slot */
	uint64_t	wal_slots_total;	/* temporary slots streamed from (one per replication connection) */
	uint64_t	wal_errors_total;
	uint64_t	wal_bytes_total;	/* replication protocol bytes received */
	uint64_t	wal_transactions_total; /* committed transactions decoded */
	uint64_t	wal_changes_total;	/* row changes, deletions, truncations handed to the hub */
	uint64_t	wal_flush_lsn;	/* the position last reported applied */
	/* changes a read may not see yet (recent.h) */
	uint64_t	wal_window_bytes;
	uint64_t	wal_window_changes;
	uint64_t	wal_window_merged_total;	/* merged into a read that did not see them */
	uint64_t	wal_window_overflows_total; /* not kept: past --wal-window-bytes */
	uint64_t	wal_window_rereads_total;	/* rows and tables read again once visible */
	int64_t		lp_sessions;	/* gauge: open LongPoll sessions (also in connections) */
	uint64_t	lp_sessions_total;
	uint64_t	lp_expired_total;	/* sessions closed because no poll came */
	uint64_t	lp_polls_total; /* GETs answered (200, 204, 410) */
	uint64_t	lp_posts_total; /* POSTs whose batch was served */
	uint64_t	lp_refused_total;	/* requests answered 400, 403, 410 (POST), 413, 429 */
	uint64_t	views_total;	/* /view pages rendered */
	uint64_t	view_writes_total;	/* /view forms written to PostgreSQL */
	uint64_t	view_errors_total;	/* /view requests answered 4xx or 5xx */
} metrics;

extern metrics M;

/* Record one commit-to-send lag. */
void		metrics_lag(uint64_t us);

/* Append the Prometheus exposition of M to b. */
void		metrics_render(lk_buf *b);

#endif
