#!/usr/bin/env bash
# bench/run.sh — Laniakea beside what a user would build without it, in one run.
#
#   make bench            (= bash bench/run.sh)
#
# Expects the extension to be installed already (make && make install); installs
# nothing.  Starts a private PostgreSQL cluster of its own (scripts/cluster.sh),
# loads the peers from ../shared/peers (override: LK_PEERS=/path), runs every
# benchmark with its baselines side by side, prints a table with ratios and
# targets, writes everything to bench/out/<timestamp>/ (and bench/out/latest.md),
# stops the cluster and removes its directory.  Any failing query, failed
# pgbench transaction or wrong result aborts the run with a non-zero status.
#
# Knobs (environment), defaults in brackets:
#   LK_PEERS            peer SQL directory                      [<repo>/../shared/peers]
#   LK_BENCH_DIR        cluster directory (removed afterwards)  [mktemp -d /tmp/lk-bench.XXXXXX]
#   LK_BENCH_PORT       port                                    [first free from 56000]
#   LK_BENCH_ROWS       rows of the merge_agg tables            [1000000]
#   LK_BENCH_SESSIONS   sessions per fast query                 [3]
#   LK_BENCH_RUNS       timed runs per session (after warm-up)  [3]
#   LK_BENCH_JSONB_RUNS timed runs of the slow jsonb aggregates [3]
#   LK_BENCH_PGBENCH_T  seconds per pgbench round               [5]
#   LK_BENCH_PGBENCH_ROUNDS rounds per variant, interleaved     [4]
#   LK_BENCH_ORSET_N    elements per orset                      [100000]
#   LK_BENCH_KEEP=1     keep the cluster directory
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
peers=${LK_PEERS:-$root/../shared/peers}
ROWS=${LK_BENCH_ROWS:-1000000}
SESSIONS=${LK_BENCH_SESSIONS:-3}
RUNS=${LK_BENCH_RUNS:-3}
JSONB_RUNS=${LK_BENCH_JSONB_RUNS:-3}
PGB_T=${LK_BENCH_PGBENCH_T:-5}
PGB_ROUNDS=${LK_BENCH_PGBENCH_ROUNDS:-4}
PGB_ROWS=10000
ORSET_N=${LK_BENCH_ORSET_N:-100000}

# Settings of the benchmark cluster; docs/benchmarks.md repeats them.
# fsync stays on (scripts/cluster.sh defaults to off for tests: overridden).
# synchronous_commit=off makes the pgbench runs measure the UPDATE's CPU cost
# rather than the disk's flush latency; a short synchronous_commit=on round is
# reported beside it.  The large max_wal_size/checkpoint_timeout keep
# checkpoints out of timed runs: each pgbench round starts after a CHECKPOINT.
SETTINGS=(
	"fsync=on"
	"shared_buffers=1GB"
	"max_parallel_workers_per_gather=2"
	"synchronous_commit=off"
	"max_wal_size=8GB"
	"checkpoint_timeout=30min"
)

die() {
	echo "bench: FAILED: $*" >&2
	exit 1
}

if [ ! -f "$peers/jsonb_gcounter.sql" ] || [ ! -f "$peers/rows_gcounter.sql" ]; then
	die "peer files not found in $peers (set LK_PEERS)"
fi
peers=$(cd "$peers" && pwd)
[ -f "$(pg_config --sharedir)/extension/laniakea.control" ] ||
	die "extension laniakea is not installed: run make && make install first"
command -v pgbench >/dev/null || die "pgbench not found"

stamp=$(date -u +%Y%m%dT%H%M%SZ)
out=$root/bench/out/$stamp
mkdir -p "$out/plans" "$out/pgbench"
RAW=$out/raw.tsv # id, mode, ms, workers launched, jit, backend on-CPU ms, backend runqueue-wait ms
PGBRAW=$out/pgbench.tsv # id, synchronous_commit, round, tps, latency ms, transactions, server CPU µs per transaction
: >"$RAW"
: >"$PGBRAW"
log() { echo "[$(date +%H:%M:%S)] $*" | tee -a "$out/run.log" >&2; }

free_port() {
	local p=$1
	while (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; do p=$((p + 1)); done
	echo "$p"
}

if [ -n "${LK_BENCH_DIR:-}" ]; then
	cdir=$LK_BENCH_DIR
	mkdir -p "$cdir"
else
	cdir=$(mktemp -d /tmp/lk-bench.XXXXXX)
fi
port=${LK_BENCH_PORT:-$(free_port 56000)}
started=0

start_cluster() { # extra environment for the postmaster as NAME=VALUE words
	local opts=() s
	for s in "${SETTINGS[@]}"; do opts+=(-c "$s"); done
	env "$@" bash "$root/scripts/cluster.sh" start "$cdir" "$port" "${opts[@]}" >/dev/null ||
		die "cluster did not start (see $cdir/postgres.log)"
	started=1
}

stop_cluster() {
	if [ "$started" = 1 ]; then
		bash "$root/scripts/cluster.sh" stop "$cdir" || true
		started=0
	fi
}

cleanup() {
	local rc=$?
	if [ $rc -ne 0 ] && [ -f "$cdir/postgres.log" ]; then
		echo "---- last lines of the server log ----" >&2
		tail -n 20 "$cdir/postgres.log" >&2 || true
		cp "$cdir/postgres.log" "$out/postgres.log" 2>/dev/null || true
	fi
	stop_cluster
	if [ "${LK_BENCH_KEEP:-0}" != 1 ]; then rm -rf "$cdir"; fi
	exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

DB=lkbench
# statement_timeout bounds every query: a runaway fails the run instead of hanging it.
export PGOPTIONS="-c statement_timeout=180s"
psqlc() { psql -X -q -v ON_ERROR_STOP=1 -h "$cdir/sock" -p "$port" -U postgres -d "$DB" "$@"; }
sql() { psqlc -At -c "$1"; }

so=$(pg_config --pkglibdir)/laniakea.so
git_rev=$(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)
git_dirty=$(git -C "$root" status --porcelain -- src sql laniakea--*.sql 2>/dev/null | wc -l)

log "cluster dir $cdir, port $port, results in $out"
start_cluster
psql -X -q -v ON_ERROR_STOP=1 -h "$cdir/sock" -p "$port" -U postgres -d postgres \
	-c "CREATE DATABASE $DB" >/dev/null
psqlc -c "CREATE EXTENSION laniakea" -f "$peers/jsonb_gcounter.sql" -f "$peers/rows_gcounter.sql" >/dev/null
# Pin the build: the functions load a private copy of the installed library,
# so a `make install` by someone else during the run cannot mix two builds
# into one set of figures.
mkdir -p "$cdir/lib"
cp "$so" "$cdir/lib/laniakea.so"
chmod -R a+rX "$cdir/lib"
so_md5=$(md5sum "$cdir/lib/laniakea.so" | cut -c1-12)
psqlc -c "UPDATE pg_proc SET probin = '$cdir/lib/laniakea' WHERE probin = '\$libdir/laniakea'" >/dev/null
[ "$(sql "SELECT count(*) FROM pg_proc WHERE probin = '\$libdir/laniakea'")" = 0 ] || die "could not pin the library"
[ "$(sql "SELECT value('{\"x\":1}'::gcounter) = 1 AND position('$cdir/lib/laniakea.so' IN pg_read_file('/proc/self/maps')) > 0")" = t ] ||
	die "the backends do not load the pinned copy of the library"

pgver=$(sql "SHOW server_version")
{
	echo "date (UTC):      $stamp"
	echo "host:            $(nproc) CPUs ($(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)), $(awk '/MemTotal/ {printf "%.1f GiB", $2/1048576}' /proc/meminfo) RAM, kernel $(uname -r)"
	echo "PostgreSQL:      $pgver ($(pgbench --version))"
	echo "laniakea:        git $git_rev (uncommitted files in src/ sql/: $git_dirty), installed $so md5 $so_md5…"
	echo "peers:           $peers"
	echo "settings:        ${SETTINGS[*]}; jit and everything else at their defaults"
	echo "load at start:   $(cut -d' ' -f1-3 /proc/loadavg)"
} >"$out/machine.txt"
cat "$out/machine.txt" >&2

# ---------------------------------------------------------------------------
# Timing: EXPLAIN (ANALYZE, TIMING OFF) reports the server-side execution time
# without per-node clock calls.  Each session first reads the table once
# serially (so the backend has mapped the shared buffers it will use), then
# runs the query once untimed, then RUNS timed runs.
# ---------------------------------------------------------------------------
declare -A NSESS
session() { # ID MODE(par|serial) TABLE RUNS WARM(0|1) QUERY
	local id=$1 mode=$2 table=$3 runs=$4 warm=$5 q=$6 r f
	local workers=2
	[ "$mode" = serial ] && workers=0
	NSESS[$id-$mode]=$((${NSESS[$id-$mode]:-0} + 1))
	f=$out/plans/$id-$mode-s${NSESS[$id-$mode]}.txt
	{
		echo "SET max_parallel_workers_per_gather = 0;"
		echo "SELECT count(*) FROM $table;"
		echo "SET max_parallel_workers_per_gather = $workers;"
		[ "$warm" = 1 ] && echo "EXPLAIN (ANALYZE, TIMING OFF) $q;"
		for ((r = 1; r <= runs; r++)); do
			echo "SELECT 'SCHED0 ' || pg_read_file('/proc/self/schedstat');"
			echo "EXPLAIN (ANALYZE, TIMING OFF) $q;"
			echo "SELECT 'SCHED1 ' || pg_read_file('/proc/self/schedstat');"
		done
	} | psqlc -At >"$f" 2>&1 || { cat "$f" >&2; die "query $id ($mode) failed: $q"; }
	# /proc/self/schedstat of the backend: nanoseconds on a CPU, nanoseconds
	# waiting for one.  On-CPU time of a serial query does not grow when other
	# processes compete for the CPUs; wall time does.
	awk -v id="$id" -v mode="$mode" '
		/^SCHED0 / { c0 = $2; q0 = $3; w = 0; jit = 0 }
		/Workers Launched:/ { w = $NF }
		/^JIT:/ { jit = 1 }
		/Execution Time:/ { ms = $(NF - 1) }
		/^SCHED1 / { printf "%s\t%s\t%s\t%d\t%d\t%.3f\t%.3f\n", id, mode, ms, w, jit, ($2 - c0) / 1e6, ($3 - q0) / 1e6 }' "$f" >>"$RAW"
}

# qstat ID MODE FIELD: median | min | max | n | workers | jit | cpu | wait (cpu, wait: medians)
qstat() {
	local col=3
	case $3 in cpu) col=6 ;; wait) col=7 ;; esac
	awk -F'\t' -v id="$1" -v mode="$2" -v c="$col" '$1 == id && $2 == mode { print $c "\t" $4 "\t" $5 }' "$RAW" |
		sort -n | awk -F'\t' -v what="$3" '
		{ v[NR] = $1; w[$2]++; if ($3) j = 1 }
		END {
			if (NR == 0) { print "NA"; exit }
			if (what == "median" || what == "cpu" || what == "wait") print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2)
			else if (what == "min") print v[1]
			else if (what == "max") print v[NR]
			else if (what == "n") print NR
			else if (what == "jit") print (j ? "yes" : "no")
			else if (what == "workers") { s = ""; for (k in w) s = s (s ? "," : "") k; print s }
		}'
}

# ---------------------------------------------------------------------------
log "loading $ROWS 8-node gcounters (node ids node-1 … node-8, counts uniform in 1 … 1000000)"
# g: the same states as gcounter, as the jsonb peer's object, and their value as
# a bigint (the input of the sum(bigint) physical limit).
psqlc >/dev/null <<SQL
SELECT setseed(0.42);
CREATE TABLE g (id int PRIMARY KEY, c gcounter NOT NULL, j jsonb NOT NULL, n bigint NOT NULL);
INSERT INTO g
SELECT i, j::text::gcounter, j, a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8
FROM (SELECT i, a1, a2, a3, a4, a5, a6, a7, a8,
             jsonb_build_object('node-1', a1, 'node-2', a2, 'node-3', a3, 'node-4', a4,
                                'node-5', a5, 'node-6', a6, 'node-7', a7, 'node-8', a8) AS j
      FROM (SELECT i,
                   1 + floor(random() * 1e6)::bigint AS a1, 1 + floor(random() * 1e6)::bigint AS a2,
                   1 + floor(random() * 1e6)::bigint AS a3, 1 + floor(random() * 1e6)::bigint AS a4,
                   1 + floor(random() * 1e6)::bigint AS a5, 1 + floor(random() * 1e6)::bigint AS a6,
                   1 + floor(random() * 1e6)::bigint AS a7, 1 + floor(random() * 1e6)::bigint AS a8
            FROM generate_series(1, $ROWS) i) s) t;
SQL
log "loading $ROWS gcounters naming a random subset of the 8 nodes (each node present with p = 0.5)"
# gm: rows name different node sets, which merge_agg's same-nodes fast path cannot take.
psqlc >/dev/null <<SQL
SELECT setseed(0.17);
CREATE TABLE gm (id int PRIMARY KEY, c gcounter NOT NULL, j jsonb NOT NULL, n bigint NOT NULL);
INSERT INTO gm
SELECT i, j::text::gcounter, j,
       coalesce(a1, 0) + coalesce(a2, 0) + coalesce(a3, 0) + coalesce(a4, 0) +
       coalesce(a5, 0) + coalesce(a6, 0) + coalesce(a7, 0) + coalesce(a8, 0)
FROM (SELECT i, a1, a2, a3, a4, a5, a6, a7, a8,
             jsonb_strip_nulls(jsonb_build_object('node-1', a1, 'node-2', a2, 'node-3', a3, 'node-4', a4,
                                                  'node-5', a5, 'node-6', a6, 'node-7', a7, 'node-8', a8)) AS j
      FROM (SELECT i,
                   CASE WHEN random() < 0.5 THEN 1 + floor(random() * 1e6)::bigint END AS a1,
                   CASE WHEN random() < 0.5 THEN 1 + floor(random() * 1e6)::bigint END AS a2,
                   CASE WHEN random() < 0.5 THEN 1 + floor(random() * 1e6)::bigint END AS a3,
                   CASE WHEN random() < 0.5 THEN 1 + floor(random() * 1e6)::bigint END AS a4,
                   CASE WHEN random() < 0.5 THEN 1 + floor(random() * 1e6)::bigint END AS a5,
                   CASE WHEN random() < 0.5 THEN 1 + floor(random() * 1e6)::bigint END AS a6,
                   CASE WHEN random() < 0.5 THEN 1 + floor(random() * 1e6)::bigint END AS a7,
                   CASE WHEN random() < 0.5 THEN 1 + floor(random() * 1e6)::bigint END AS a8
            FROM generate_series(1, $ROWS) i) s) t;
-- one representation per table, as a user would have it
CREATE TABLE g_c AS SELECT id, c FROM g;
CREATE TABLE g_j AS SELECT id, j FROM g;
CREATE TABLE g_n AS SELECT id, n FROM g;
VACUUM (FREEZE, ANALYZE) g, gm, g_c, g_j, g_n;
SQL

# The set-based way to merge jsonb counters (no per-row SQL function call): not
# in the peer file, added here as the fastest honest jsonb formulation we know.
JSB_SET="SELECT jsonb_object_agg(k, m) FROM (SELECT e.key AS k, max(e.value::text::bigint) AS m FROM TBL AS t, jsonb_each(t.j) e GROUP BY e.key) s"

# Everything that is timed must agree before it is timed: the jsonb forms on
# the first 100k rows (they are slow), the rest on the whole tables, and
# merge_agg with and without parallel workers.
for t in g gm; do
	ok=$(sql "WITH s AS MATERIALIZED (SELECT * FROM $t WHERE id <= 100000)
	          SELECT (SELECT merge_agg(c)::text::jsonb FROM s) = (SELECT jg_merge_agg(j) FROM s)
	             AND (SELECT merge_agg(c)::text::jsonb FROM s) = (${JSB_SET//TBL/s})
	             AND (SELECT sum(value(c)) FROM $t) = (SELECT sum(n) FROM $t)
	             AND (SELECT sum(jg_value(j)) FROM s) = (SELECT sum(n) FROM s)")
	[ "$ok" = t ] || die "merge_agg(c), jg_merge_agg(j), the set-based jsonb merge and n disagree on table $t"
	par=$(sql "SELECT merge_agg(c)::text FROM $t")
	ser=$(PGOPTIONS="$PGOPTIONS -c max_parallel_workers_per_gather=0" sql "SELECT merge_agg(c)::text FROM $t")
	[ "$par" = "$ser" ] || die "merge_agg(c) on $t differs with and without parallel workers"
done

# ---------------------------------------------------------------------------
log "1. merge_agg over $ROWS 8-node gcounters vs sum(bigint) vs the jsonb peer"
echo "load before 1:   $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
for mode in par serial; do
	for ((s = 1; s <= SESSIONS; s++)); do
		session sum "$mode" g "$RUNS" 1 "SELECT sum(n) FROM g"
		session agg "$mode" g "$RUNS" 1 "SELECT merge_agg(c) FROM g"
		session own_sum "$mode" g_n "$RUNS" 1 "SELECT sum(n) FROM g_n"
		session own_agg "$mode" g_c "$RUNS" 1 "SELECT merge_agg(c) FROM g_c"
		session m_sum "$mode" gm "$RUNS" 1 "SELECT sum(n) FROM gm"
		session m_agg "$mode" gm "$RUNS" 1 "SELECT merge_agg(c) FROM gm"
	done
done
log "   jsonb peer (slow: $JSONB_RUNS runs, parallel allowed; 1 serial run)"
session jg par g "$JSONB_RUNS" 0 "SELECT jg_merge_agg(j) FROM g"
session jset par g "$JSONB_RUNS" 0 "${JSB_SET//TBL/g}"
session jg serial g 1 0 "SELECT jg_merge_agg(j) FROM g"
session jset serial g 1 0 "${JSB_SET//TBL/g}"
session m_jg par gm "$JSONB_RUNS" 0 "SELECT jg_merge_agg(j) FROM gm"
echo "load after 1:    $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"

# ---------------------------------------------------------------------------
log "2. bytes per value"
psqlc <<'SQL'
-- the normalized peer: one row per (key, node), on a sample of 100k counters
INSERT INTO rg_counts SELECT id, e.key, e.value::text::bigint FROM g, jsonb_each(g.j) e WHERE id <= 100000;
VACUUM (FREEZE, ANALYZE) rg_counts;
SQL
v=$(sql "SELECT round(avg(pg_column_size(g.c)), 2), round(avg(pg_column_size(g.j)), 2),
	round(avg(pg_column_size(g.n)), 2), (SELECT round(avg(pg_column_size(c)), 2) FROM gm),
	(SELECT round(avg(pg_column_size(j)), 2) FROM gm) FROM g")
IFS='|' read -r b_c b_j b_n b_mc b_mj <<<"$v"
v=$(sql "SELECT pg_table_size('g_c'), pg_table_size('g_j'), pg_table_size('g_n'),
	pg_table_size('g'), pg_total_relation_size('rg_counts'), pg_table_size('rg_counts')")
IFS='|' read -r t_c t_j t_n t_g t_rg t_rgh <<<"$v"
rg_keys=$(sql "SELECT count(DISTINCT key) FROM rg_counts")

# ---------------------------------------------------------------------------
log "3. pgbench increment: $PGB_ROUNDS rounds × ${PGB_T}s per variant, -c 2 -j 2, -M prepared, $PGB_ROWS rows"
psqlc <<SQL
CREATE TABLE u_bigint (id int PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE u_gcounter (id int PRIMARY KEY, c gcounter NOT NULL);
CREATE TABLE u_jsonb (id int PRIMARY KEY, j jsonb NOT NULL);
INSERT INTO u_bigint SELECT id, n FROM g WHERE id <= $PGB_ROWS;
INSERT INTO u_gcounter SELECT id, c FROM g WHERE id <= $PGB_ROWS;
INSERT INTO u_jsonb SELECT id, j FROM g WHERE id <= $PGB_ROWS;
TRUNCATE rg_counts;
INSERT INTO rg_counts SELECT id, e.key, e.value::text::bigint FROM g, jsonb_each(g.j) e WHERE id <= $PGB_ROWS;
VACUUM (FREEZE, ANALYZE) u_bigint, u_gcounter, u_jsonb, rg_counts;
SQL
pgdir=$out/pgbench
printf '\\set id random(1, %d)\nUPDATE u_bigint SET n = n + 1 WHERE id = :id;\n' "$PGB_ROWS" >"$pgdir/bigint.sql"
printf "\\\\set id random(1, %d)\nUPDATE u_gcounter SET c = increment(c, 'node-1', 1) WHERE id = :id;\n" "$PGB_ROWS" >"$pgdir/gcounter.sql"
printf "\\\\set id random(1, %d)\nUPDATE u_jsonb SET j = jg_increment(j, 'node-1', 1) WHERE id = :id;\n" "$PGB_ROWS" >"$pgdir/jsonb.sql"
printf "\\\\set id random(1, %d)\nINSERT INTO rg_counts VALUES (:id, 'node-1', 1) ON CONFLICT (key, node) DO UPDATE SET count = rg_counts.count + 1;\n" "$PGB_ROWS" >"$pgdir/rows.sql"
declare -A PGB_TABLE=([bigint]=u_bigint [gcounter]=u_gcounter [jsonb]=u_jsonb [rows]=rg_counts)
declare -A PGB_TOTAL=([bigint]="SELECT sum(n) FROM u_bigint" [gcounter]="SELECT sum(value(c)) FROM u_gcounter"
	[jsonb]="SELECT sum(jg_value(j)) FROM u_jsonb" [rows]="SELECT sum(count) FROM rg_counts")

# CPU time, in clock ticks, used by the whole server so far: the postmaster,
# its live children, and (cutime, cstime) the children it has reaped, such as
# the backends of a finished pgbench run.  Unlike TPS, CPU per transaction
# does not drop when other processes compete for the machine's CPUs.
server_ticks() {
	local pm p t
	pm=$(head -n 1 "$cdir/data/postmaster.pid")
	t=$(awk '{ print $14 + $15 + $16 + $17 }' "/proc/$pm/stat")
	for p in $(pgrep -P "$pm"); do
		t=$((t + $(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)))
	done
	echo "$t"
}
HZ=$(getconf CLK_TCK)

pgb() { # VARIANT SYNC ROUND SECONDS
	local v=$1 sync=$2 round=$3 secs=$4 f before after tps lat xacts t0 t1
	f=$pgdir/$v-sync_$sync-r$round.log
	psqlc -c "VACUUM ${PGB_TABLE[$v]}" -c "CHECKPOINT"
	before=$(sql "${PGB_TOTAL[$v]}")
	t0=$(server_ticks)
	PGOPTIONS="$PGOPTIONS -c synchronous_commit=$sync" \
		pgbench -n -M prepared -c 2 -j 2 -T "$secs" -f "$pgdir/$v.sql" \
		-h "$cdir/sock" -p "$port" -U postgres "$DB" >"$f" 2>&1 || { cat "$f" >&2; die "pgbench $v failed"; }
	sleep 0.2 # let the postmaster reap the two backends
	t1=$(server_ticks)
	grep -q "number of failed transactions: 0 " "$f" || { cat "$f" >&2; die "pgbench $v had failed transactions"; }
	after=$(sql "${PGB_TOTAL[$v]}")
	xacts=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$f")
	tps=$(sed -n 's/^tps = \([0-9.]*\) (without initial connection time)/\1/p' "$f")
	lat=$(sed -n 's/^latency average = \([0-9.]*\) ms/\1/p' "$f")
	# every transaction must have counted exactly one
	[ "$((after - before))" = "$xacts" ] || die "pgbench $v: $xacts transactions but the total moved by $((after - before))"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$v" "$sync" "$round" "$tps" "$lat" "$xacts" \
		"$(awk -v t="$((t1 - t0))" -v hz="$HZ" -v x="$xacts" 'BEGIN { printf "%.1f", t / hz * 1e6 / x }')" >>"$PGBRAW"
}
echo "load before 3:   $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
for ((round = 1; round <= PGB_ROUNDS; round++)); do
	for v in bigint gcounter jsonb rows; do pgb "$v" off "$round" "$PGB_T"; done
done
for round in 1 2; do
	for v in bigint gcounter; do pgb "$v" on "$round" "$PGB_T"; done
done
echo "load after 3:    $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
tps_of() { # VARIANT SYNC: total transactions / total seconds over the rounds
	awk -F'\t' -v v="$1" -v s="$2" '$1 == v && $2 == s { t += $4; n++ } END { if (n) printf "%.0f", t / n; else print "NA" }' "$PGBRAW"
}
cpu_of() { # VARIANT SYNC: server CPU µs per transaction over all rounds
	awk -F'\t' -v v="$1" -v s="$2" '$1 == v && $2 == s { c += $7 * $6; x += $6 } END { if (x) printf "%.1f", c / x; else print "NA" }' "$PGBRAW"
}
tps_rounds() {
	awk -F'\t' -v v="$1" -v s="$2" '$1 == v && $2 == s { printf "%s%.0f", (n++ ? " / " : ""), $4 }' "$PGBRAW"
}

# ---------------------------------------------------------------------------
log "4. merge of two $ORSET_N-element orsets"
# A: elements el-000000 … added by node-a (dot node-a:i+1).  B: the upper half
# of A plus N/2 new elements, added again by node-b; B has also seen node-a's
# first N/2 dots and removed those elements, so the merge removes them from A's
# side.  The canonical JSON is built directly (N add() calls would be O(N²)).
half=$((ORSET_N / 2))
psqlc <<SQL
CREATE TABLE o (id int PRIMARY KEY, a orset NOT NULL, b orset NOT NULL);
CREATE TABLE o_text AS
SELECT (SELECT '{"c":{"node-a":[[1,$ORSET_N]]},"e":{'
               || string_agg(format('"el-%s":{"node-a":[%s]}', lpad(i::text, 7, '0'), i + 1), ',' ORDER BY i) || '}}'
        FROM generate_series(0, $ORSET_N - 1) i) AS a,
       (SELECT '{"c":{"node-a":[[1,$half]],"node-b":[[1,$ORSET_N]]},"e":{'
               || string_agg(format('"el-%s":{"node-b":[%s]}', lpad(i::text, 7, '0'), i - $half + 1), ',' ORDER BY i) || '}}'
        FROM generate_series($half, $half + $ORSET_N - 1) i) AS b;
INSERT INTO o SELECT 1, a::orset, b::orset FROM o_text;
VACUUM ANALYZE o;
SQL
ok=$(sql "SELECT o.a::text = t.a AND o.b::text = t.b AND cardinality(o.a) = $ORSET_N AND cardinality(o.b) = $ORSET_N
	AND cardinality(o.a || o.b) = $ORSET_N AND (elements(o.a || o.b))[1] = 'el-' || lpad('$half', 7, '0')
	AND o.a || o.b = o.b || o.a FROM o, o_text t")
[ "$ok" = t ] || die "the orset inputs are not canonical or their merge is wrong"
v=$(sql "SELECT pg_column_size(a), pg_column_size(b), pg_column_size(a || b), octet_length(a::text) FROM o")
IFS='|' read -r o_sa o_sb o_sm o_ra <<<"$v"

# minor page faults of one merge, read from the backend's own /proc entry
faults_per_merge() {
	psqlc -At <<'SQL' | tail -n 1
SELECT pg_column_size(a || b) FROM o \g /dev/null
SELECT split_part(pg_read_file('/proc/self/stat'), ' ', 10) AS f0 \gset
SELECT pg_column_size(a || b) FROM o \g /dev/null
SELECT pg_column_size(a || b) FROM o \g /dev/null
SELECT pg_column_size(a || b) FROM o \g /dev/null
SELECT pg_column_size(a || b) FROM o \g /dev/null
SELECT pg_column_size(a || b) FROM o \g /dev/null
SELECT (split_part(pg_read_file('/proc/self/stat'), ' ', 10)::bigint - :f0) / 5;
SQL
}
orset_round() { # SUFFIX
	local x=$1 s
	for ((s = 1; s <= SESSIONS; s++)); do
		session "o_size$x" serial o 5 1 "SELECT pg_column_size(a || b) FROM o"
		session "o_card$x" serial o 5 1 "SELECT cardinality(a || b) FROM o"
		session "o_decode$x" serial o 5 1 "SELECT cardinality(a) + cardinality(b) FROM o"
	done
}
orset_round ""
o_faults=$(faults_per_merge)

# Diagnostic: the same merge with glibc told to keep freed memory (no fresh
# pages, hence no page faults, per query).  Not a setting we recommend; it
# separates the cost of the algorithm from the cost of first-touching memory.
TUNE="glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456"
log "   diagnostic: restart with GLIBC_TUNABLES=$TUNE"
stop_cluster
start_cluster GLIBC_TUNABLES="$TUNE"
orset_round "_tuned"
o_faults_tuned=$(faults_per_merge)
for ((s = 1; s <= SESSIONS; s++)); do session agg_tuned serial g "$RUNS" 1 "SELECT merge_agg(c) FROM g"; done
echo "load at end:     $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/machine.txt"
so_md5_end=$(md5sum "$so" | cut -c1-12)
[ "$so_md5_end" = "$so_md5" ] || echo "note: $so was reinstalled during the run ($so_md5 → $so_md5_end); the run used its copy of $so_md5" >>"$out/machine.txt"

# ---------------------------------------------------------------------------
# Report
# ---------------------------------------------------------------------------
fmt_ms() { awk -v v="$1" 'BEGIN { if (v == "NA") print "NA"; else if (v < 10) printf "%.2f", v; else printf "%.1f", v }'; }
cell() { # ID MODE: "median (min–max, n=…, workers …) CPU …"
	local id=$1 mode=$2
	printf '%s ms (%s–%s, n=%s%s)%s' "$(fmt_ms "$(qstat "$id" "$mode" median)")" "$(fmt_ms "$(qstat "$id" "$mode" min)")" \
		"$(fmt_ms "$(qstat "$id" "$mode" max)")" "$(qstat "$id" "$mode" n)" \
		"$([ "$mode" = par ] && echo ", workers $(qstat "$id" "$mode" workers)")$([ "$(qstat "$id" "$mode" jit)" = yes ] && echo ", JIT")" \
		"$([ "$mode" = serial ] && echo "; on-CPU $(fmt_ms "$(qstat "$id" "$mode" cpu)") ms")"
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { r = a / b; if (r >= 10) printf "%.0f", r; else printf "%.2f", r }'; }
verdict() { # VALUE OP LIMIT
	awk -v v="$1" -v op="$2" -v l="$3" 'BEGIN {
		ok = (op == "<=") ? v <= l : v >= l
		if (ok) { print "met"; exit }
		if (op == "<=") printf "MISSED by %.0f%%\n", (v / l - 1) * 100
		else printf "MISSED by %.0f%%\n", (1 - v / l) * 100 }'
}
med() { qstat "$1" "$2" median; }

R=$out/results.md
{
	echo "### Laniakea benchmarks, run $stamp"
	echo
	echo '```'
	cat "$out/machine.txt"
	echo '```'
	echo
	echo "Times are server-side \`EXPLAIN (ANALYZE, TIMING OFF)\` execution times: median (min–max, number of runs)."
	echo "\"parallel\" = planner allowed max_parallel_workers_per_gather=2; \"serial\" = 0.  For serial runs, \"on-CPU\" is the"
	echo "median time the backend spent on a CPU (/proc/self/schedstat), which other load on the machine does not inflate."
	echo
	echo "#### 1. merge_agg over $ROWS gcounters of 8 nodes (node-1 … node-8, counts 1 … 10^6)"
	echo
	echo "| query | parallel allowed | serial |"
	echo "|---|---|---|"
	echo "| \`SELECT merge_agg(c) FROM g\` (Laniakea) | $(cell agg par) | $(cell agg serial) |"
	echo "| \`SELECT sum(n) FROM g\` (physical limit) | $(cell sum par) | $(cell sum serial) |"
	echo "| \`SELECT jg_merge_agg(j) FROM g\` (jsonb peer) | $(cell jg par) | $(cell jg serial) |"
	echo "| jsonb, set-based (\`jsonb_each\` + \`max\` … \`GROUP BY key\`) | $(cell jset par) | $(cell jset serial) |"
	echo "| \`merge_agg(c)\` on its own table \`g_c(id, c)\` | $(cell own_agg par) | $(cell own_agg serial) |"
	echo "| \`sum(n)\` on its own table \`g_n(id, n)\` | $(cell own_sum par) | $(cell own_sum serial) |"
	echo "| \`merge_agg(c)\` on \`gm\` (random subsets of the 8 nodes) | $(cell m_agg par) | $(cell m_agg serial) |"
	echo "| \`sum(n)\` on \`gm\` | $(cell m_sum par) | $(cell m_sum serial) |"
	echo "| \`jg_merge_agg(j)\` on \`gm\` | $(cell m_jg par) | not run |"
	echo
	echo "#### 2. Bytes per value (same states)"
	echo
	echo "| measure | gcounter | jsonb | gcounter / jsonb | bigint |"
	echo "|---|---|---|---|---|"
	echo "| avg(pg_column_size), 8 nodes | $b_c B | $b_j B | $(awk -v a="$b_c" -v b="$b_j" 'BEGIN{printf "%.1f%%", 100*a/b}') | $b_n B |"
	echo "| avg(pg_column_size), node subsets (\`gm\`) | $b_mc B | $b_mj B | $(awk -v a="$b_mc" -v b="$b_mj" 'BEGIN{printf "%.1f%%", 100*a/b}') | |"
	echo "| table \`(id, col)\`, $ROWS rows, pg_table_size | $(awk -v v="$t_c" 'BEGIN{printf "%.1f MB", v/1048576}') | $(awk -v v="$t_j" 'BEGIN{printf "%.1f MB", v/1048576}') | $(awk -v a="$t_c" -v b="$t_j" 'BEGIN{printf "%.1f%%", 100*a/b}') | $(awk -v v="$t_n" 'BEGIN{printf "%.1f MB", v/1048576}') |"
	echo
	echo "Normalized peer (\`rg_counts\`, one row per (key, node)), $rg_keys counters of 8 nodes:" \
		"$(awk -v v="$t_rgh" -v k="$rg_keys" 'BEGIN{printf "%.0f", v/k}') B per counter in the heap," \
		"$(awk -v v="$t_rg" -v k="$rg_keys" 'BEGIN{printf "%.0f", v/k}') B with its primary key" \
		"(gcounter table: $(awk -v v="$t_c" -v k="$ROWS" 'BEGIN{printf "%.0f", v/k}') B per row incl. id and tuple header; shared table \`g\`: $(awk -v v="$t_g" 'BEGIN{printf "%.0f MB", v/1048576}'))."
	echo
	echo "#### 3. pgbench increment ($PGB_ROWS rows, random id, -c 2 -j 2 -M prepared, $PGB_ROUNDS × ${PGB_T} s rounds per variant, interleaved)"
	echo
	echo "| statement | synchronous_commit | TPS (mean of rounds) | rounds | TPS vs plain bigint | server CPU per transaction | CPU: bigint / this |"
	echo "|---|---|---|---|---|---|---|"
	for v in bigint gcounter jsonb rows; do
		case $v in
		bigint) st="\`UPDATE u_bigint SET n = n + 1 WHERE id = :id\` (physical limit)" ;;
		gcounter) st="\`UPDATE u_gcounter SET c = increment(c, 'node-1', 1) WHERE id = :id\`" ;;
		jsonb) st="\`UPDATE u_jsonb SET j = jg_increment(j, 'node-1', 1) WHERE id = :id\` (jsonb peer)" ;;
		rows) st="\`INSERT INTO rg_counts … ON CONFLICT … count + 1\` (rows peer)" ;;
		esac
		echo "| $st | off | $(tps_of "$v" off) | $(tps_rounds "$v" off) | $(awk -v a="$(tps_of "$v" off)" -v b="$(tps_of bigint off)" 'BEGIN{printf "%.1f%%", 100*a/b}') | $(cpu_of "$v" off) µs | $(awk -v a="$(cpu_of bigint off)" -v b="$(cpu_of "$v" off)" 'BEGIN{printf "%.1f%%", 100*a/b}') |"
	done
	for v in bigint gcounter; do
		echo "| $v | on | $(tps_of "$v" on) | $(tps_rounds "$v" on) | $(awk -v a="$(tps_of "$v" on)" -v b="$(tps_of bigint on)" 'BEGIN{printf "%.1f%%", 100*a/b}') | $(cpu_of "$v" on) µs | $(awk -v a="$(cpu_of bigint on)" -v b="$(cpu_of "$v" on)" 'BEGIN{printf "%.1f%%", 100*a/b}') |"
	done
	echo
	echo "Server CPU per transaction: CPU time of the postmaster and all its children (backends, WAL writer, …) during the round, from /proc, divided by the transactions."
	echo
	echo "#### 4. Merge of two $ORSET_N-element orsets (overlap $half, B removed A's first $half)"
	echo
	echo "Stored sizes: a $o_sa B, b $o_sb B (pglz-compressed TOAST; text form of a: $o_ra B); a || b $o_sm B uncompressed."
	echo
	echo "| query | default malloc | diagnostic: GLIBC_TUNABLES keeps freed memory |"
	echo "|---|---|---|"
	echo "| \`SELECT pg_column_size(a || b) FROM o\` | $(cell o_size serial) | $(cell o_size_tuned serial) |"
	echo "| \`SELECT cardinality(a || b) FROM o\` | $(cell o_card serial) | $(cell o_card_tuned serial) |"
	echo "| \`SELECT cardinality(a) + cardinality(b) FROM o\` (detoast + decode only) | $(cell o_decode serial) | $(cell o_decode_tuned serial) |"
	echo "| minor page faults per \`a \|\| b\` | $o_faults | $o_faults_tuned |"
	echo "| \`SELECT merge_agg(c) FROM g\`, serial (for comparison with section 1) | $(cell agg serial) | $(cell agg_tuned serial) |"
	echo
	echo "#### Targets"
	echo
	echo "| target | measured | verdict |"
	echo "|---|---|---|"
	for mode in par serial; do
		label=$([ "$mode" = par ] && echo "parallel allowed" || echo serial)
		r=$(ratio "$(med agg $mode)" "$(med sum $mode)")
		echo "| merge_agg ≤ 2× sum(bigint), $label | $r× | $(verdict "$r" '<=' 2) |"
		r=$(ratio "$(med jg $mode)" "$(med agg $mode)")
		echo "| merge_agg ≥ 30× faster than jg_merge_agg, $label | $r× | $(verdict "$r" '>=' 30) |"
	done
	r=$(ratio "$(qstat agg serial cpu)" "$(qstat sum serial cpu)")
	echo "| merge_agg ≤ 2× sum(bigint), serial, on-CPU time | $r× | $(verdict "$r" '<=' 2) |"
	r=$(awk -v a="$b_c" -v b="$b_j" 'BEGIN{printf "%.1f", 100*a/b}')
	echo "| bytes ≤ 40% of jsonb (avg pg_column_size) | $r% | $(verdict "$r" '<=' 40) |"
	r=$(awk -v a="$(tps_of gcounter off)" -v b="$(tps_of bigint off)" 'BEGIN{printf "%.1f", 100*a/b}')
	echo "| increment ≥ 90% of plain bigint TPS (synchronous_commit=off) | $r% | $(verdict "$r" '>=' 90) |"
	r=$(awk -v a="$(cpu_of bigint off)" -v b="$(cpu_of gcounter off)" 'BEGIN{printf "%.1f", 100*a/b}')
	echo "| increment ≥ 90% of plain bigint, by server CPU per transaction | $r% | $(verdict "$r" '>=' 90) |"
	r=$(fmt_ms "$(med o_size serial)")
	echo "| $ORSET_N-element orset merge ≤ 50 ms (\`pg_column_size(a \|\| b)\`) | $r ms | $(verdict "$r" '<=' 50) |"
	r=$(fmt_ms "$(qstat o_size serial cpu)")
	echo "| $ORSET_N-element orset merge ≤ 50 ms, on-CPU time | $r ms | $(verdict "$r" '<=' 50) |"
	echo
	echo "Secondary ratios: merge_agg / sum on own tables: $(ratio "$(med own_agg par)" "$(med own_sum par)")× parallel, $(ratio "$(med own_agg serial)" "$(med own_sum serial)")× serial;" \
		"on node subsets (\`gm\`): $(ratio "$(med m_agg par)" "$(med m_sum par)")× parallel, $(ratio "$(med m_agg serial)" "$(med m_sum serial)")× serial;" \
		"set-based jsonb / merge_agg: $(ratio "$(med jset par)" "$(med agg par)")× parallel, $(ratio "$(med jset serial)" "$(med agg serial)")× serial;" \
		"jg_merge_agg / merge_agg on \`gm\`: $(ratio "$(med m_jg par)" "$(med m_agg par)")× parallel."
} >"$R"
cp "$R" "$root/bench/out/latest.md"
cat "$R"
log "done: $R"
