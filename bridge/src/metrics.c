/*
 * metrics.c — the Prometheus text exposition.
 */
#include "metrics.h"

#include <inttypes.h>
#include <stdio.h>

#include "xalloc.h"

metrics		M;

/* upper bounds of the lag histogram, in milliseconds */
static const double lag_bounds_ms[8] = {1, 5, 10, 25, 50, 100, 500, 1000};

void
metrics_lag(uint64_t us)
{
	M.lag_us_sum += us;
	M.lag_count++;
	for (int i = 0; i < 8; i++)
		if ((double) us <= lag_bounds_ms[i] * 1000.0)
			M.lag_buckets[i]++;
}

static void
line(lk_buf *b, const char *name, const char *type, const char *help, uint64_t v)
{
	buf_printf(b, "# HELP %s %s\n# TYPE %s %s\n%s %" PRIu64 "\n", name, help, name, type, name, v);
}

void
metrics_render(lk_buf *b)
{
	line(b, "laniakea_connections", "gauge", "Open client connections (WebSocket and LongPoll sessions).",
		 (uint64_t) M.connections);
	line(b, "laniakea_connections_total", "counter",
		 "Client connections accepted (WebSocket and LongPoll sessions).", M.connections_total);
	line(b, "laniakea_longpoll_sessions", "gauge", "Open LongPoll sessions.", (uint64_t) M.lp_sessions);
	line(b, "laniakea_longpoll_sessions_total", "counter", "LongPoll sessions opened.", M.lp_sessions_total);
	line(b, "laniakea_longpoll_expired_total", "counter",
		 "LongPoll sessions closed because no poll came within --longpoll-expiry.", M.lp_expired_total);
	line(b, "laniakea_longpoll_polls_total", "counter", "LongPoll polls (GET) answered.", M.lp_polls_total);
	line(b, "laniakea_longpoll_posts_total", "counter", "LongPoll batches (POST) served.", M.lp_posts_total);
	line(b, "laniakea_longpoll_refused_total", "counter",
		 "LongPoll requests refused (400, 403, 410 for a POST, 413, 429).", M.lp_refused_total);
	line(b, "laniakea_views_total", "counter", "/view pages rendered.", M.views_total);
	line(b, "laniakea_view_writes_total", "counter", "/view forms written to PostgreSQL.", M.view_writes_total);
	line(b, "laniakea_view_errors_total", "counter", "/view requests answered with an error status.",
		 M.view_errors_total);
	line(b, "laniakea_joins_total", "counter", "Channel joins that succeeded.", M.joins_total);
	line(b, "laniakea_join_errors_total", "counter", "Channel joins refused.", M.join_errors_total);
	line(b, "laniakea_frames_in_total", "counter", "Frames received from clients.", M.frames_in_total);
	line(b, "laniakea_frames_out_total", "counter", "Frames written to clients.", M.frames_out_total);
	line(b, "laniakea_notifications_total", "counter", "NOTIFY payloads received.", M.notifications_total);
	line(b, "laniakea_pushes_total", "counter", "Client pushes executed.", M.pushes_total);
	line(b, "laniakea_push_errors_total", "counter", "Client pushes refused or failed.", M.push_errors_total);
	line(b, "laniakea_pushes_dropped_total", "counter",
		 "Queued client pushes dropped unexecuted because the client disconnected.", M.pushes_dropped_total);
	line(b, "laniakea_pg_reconnects_total", "counter", "Reconnections to PostgreSQL.", M.pg_reconnects_total);
	line(b, "laniakea_fragments_encoded_total", "counter",
		 "Rows encoded for throttled (constrained, minimal) subscribers.", M.fragments_encoded_total);
	line(b, "laniakea_fragments_shared_total", "counter",
		 "Encodings of rows reused for another throttled subscriber with the same content.",
		 M.fragments_shared_total);
	line(b, "laniakea_pending_resyncs_total", "counter",
		 "Times a channel's merged, unsent deltas passed --pending-cap: dropped, its rows resent as full state.",
		 M.pending_resyncs_total);
	line(b, "laniakea_row_deletes_total", "counter",
		 "Deletions of rows the bridge held for subscribers (DELETE, TRUNCATE, a tombstone, a resync).",
		 M.deletes_total);
	line(b, "laniakea_protocol_errors_total", "counter", "Connections closed for a bad frame.",
		 M.protocol_errors_total);
	line(b, "laniakea_cell_errors_total", "counter",
		 "Column states that failed to decode, parse or merge (the first is logged); the row is read again.",
		 M.cell_errors_total);
	line(b, "laniakea_pg_up", "gauge", "1 when the PostgreSQL connection is ready.", (uint64_t) M.pg_up);
	line(b, "laniakea_wal_source", "gauge", "1 when changes are read from the WAL, 0 from NOTIFY.",
		 (uint64_t) M.wal_source);
	line(b, "laniakea_wal_up", "gauge", "1 while the WAL is streamed from a temporary replication slot.",
		 (uint64_t) M.wal_up);
	line(b, "laniakea_wal_slots_total", "counter",
		 "Temporary replication slots streamed from (one per replication connection).", M.wal_slots_total);
	line(b, "laniakea_wal_errors_total", "counter",
		 "Failures of the WAL source: connections, slots, malformed messages (the first of a kind is logged).",
		 M.wal_errors_total);
	line(b, "laniakea_wal_received_bytes_total", "counter", "Replication protocol bytes received.",
		 M.wal_bytes_total);
	line(b, "laniakea_wal_transactions_total", "counter", "Committed transactions decoded from the WAL.",
		 M.wal_transactions_total);
	line(b, "laniakea_wal_changes_total", "counter",
		 "Row changes, deletions and truncations from the WAL of rows the bridge holds or has subscribers for.",
		 M.wal_changes_total);
	line(b, "laniakea_wal_flush_lsn", "gauge",
		 "The WAL position last reported applied to the slot (an LSN as a number).", M.wal_flush_lsn);
	line(b, "laniakea_wal_window_bytes", "gauge",
		 "Bytes of changes received from the WAL that a read may not see yet (kept until a snapshot does).",
		 M.wal_window_bytes);
	line(b, "laniakea_wal_window_changes", "gauge", "Changes received from the WAL that a read may not see yet.",
		 M.wal_window_changes);
	line(b, "laniakea_wal_window_merged_total", "counter",
		 "Changes merged into a read whose snapshot did not see them yet.", M.wal_window_merged_total);
	line(b, "laniakea_wal_window_overflows_total", "counter",
		 "Changes not kept because --wal-window-bytes was reached (reads are then made again once visible).",
		 M.wal_window_overflows_total);
	line(b, "laniakea_wal_window_rereads_total", "counter",
		 "Rows and tables read again because a read could not tell what it missed.", M.wal_window_rereads_total);
	lk_buf_put_str(b, "# HELP laniakea_notify_lag_seconds Commit (NOTIFY) to frame queued.\n"
				   "# TYPE laniakea_notify_lag_seconds histogram\n");
	for (int i = 0; i < 8; i++)
	{
		buf_printf(b, "laniakea_notify_lag_seconds_bucket{le=\"%g\"} %" PRIu64 "\n",
				   lag_bounds_ms[i] / 1000.0, M.lag_buckets[i]);
	}
	buf_printf(b, "laniakea_notify_lag_seconds_bucket{le=\"+Inf\"} %" PRIu64 "\n"
			   "laniakea_notify_lag_seconds_sum %.6f\n"
			   "laniakea_notify_lag_seconds_count %" PRIu64 "\n",
			   M.lag_count, (double) M.lag_us_sum / 1e6, M.lag_count);
}
