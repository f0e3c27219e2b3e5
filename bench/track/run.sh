#!/usr/bin/env bash
# Deltas out, replicas in: what tracking a table costs an increment, with each source of changes
# for the bridge, and what NOTIFY itself costs.
#
#   bench/track/run.sh            # ≈7 min; env: DUR=8 ROUNDS=3 ROWS=10000 PGPORT_BENCH=60110 CLIENTS="2 8"
#                                 #   BRIDGE_LOG=warn (the bridges' --log-level), VARIANTS (a subset, to diagnose)
#                                 #   BRIDGE=path (another build of laniakea-bridge, to compare)
#                                 #   RATE_TPS=10000 RATE_CLIENTS=8 (the fixed-rate latency round; RATE_TPS= for none)
#                                 #   PIN=1: PostgreSQL's backends on CPU 0; pgbench, the probe, the bridge
#                                 #   and its walsender on CPU 1 (decoding with a CPU the writers do not use)
#
# Starts a private PostgreSQL 15 cluster (fsync=on, wal_level=logical) under /tmp, runs
# pgbench -M prepared on the variants, interleaved round by round so background load hits all
# of them alike, prints a table (median TPS of the rounds, ratios to the untracked table and to
# the plain bigint increment, NOTIFYs and WAL bytes per transaction), stops the cluster.
# The two tracked variants run with a bridge attached (bridge/laniakea-bridge, built by
# `make bridge`; bridge/test's npm packages for the probe) that follows every row through a
# table-topic subscriber: tracked_notify reads NOTIFY (laniakea.track(t)), tracked_wal the WAL
# (laniakea.track(t, notify => false), --source wal).  Each is started for its own runs only,
# so no walsender decodes the WAL of the other variants.  Two variants bound what any source
# can reach: tracked_quiet, a table tracked with notify => false that nothing reads (its
# triggers alone), and noop_trigger, an untracked table with a PL/pgSQL BEFORE UPDATE trigger
# that returns NEW (PostgreSQL locks a row before such a trigger runs: one more WAL record).
# For the tracked variants the table also gives the
# commit-to-client latency of a probe row (bench/track/probe.mjs, p50/p99 over the runs) and
# the bridge's CPU per change, and the WAL source's walsender's.  Saturated, the WAL source's
# delivery falls behind (docs/benchmarks.md: its walsender gets too little CPU), so one more
# round runs the two tracked variants only, at the same fixed rate (pgbench -R RATE_TPS): their
# latencies at equal load, the probe committing as the writers do (synchronous_commit off, so a
# WAL change waits for the WAL writer's flush), where in the other rounds it commits with on.
# Outputs go to bench/out/track-<stamp>/: per run its pgbench log, for the tracked variants
# the probe's (one line per probe: time since the first, the UPDATE's duration, the latency)
# and, for the WAL source, .repl: every 100 ms the server's WAL insert and flush positions and
# the walsender's state and sent/write/flush positions; the bridges' logs; the server's log
# (log_checkpoints on).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
DUR=${DUR:-8}; ROUNDS=${ROUNDS:-3}; ROWS=${ROWS:-10000}; PORT=${PGPORT_BENCH:-60110}
CLIENTS=${CLIENTS:-"2 8"}; SYNC_ON_CLIENTS=${SYNC_ON_CLIENTS:-2}
RATE_TPS=${RATE_TPS-10000}; RATE_CLIENTS=${RATE_CLIENTS:-8}
ulimit -n "$(ulimit -Hn)"
stamp=$(date -u +%Y%m%dT%H%M%SZ); out=$root/bench/out/track-$stamp; mkdir -p "$out"
dir=$(mktemp -d /tmp/lk-track.XXXXXX)
cleanup() {
  "$root/scripts/cluster.sh" stop "$dir" >/dev/null 2>&1 || true
  cp "$dir/postgres.log" "$out/postgres.log" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
BRIDGE=${BRIDGE:-$root/bridge/laniakea-bridge}
[ -x "$BRIDGE" ] || { echo "bench/track: $BRIDGE not built (make bridge)" >&2; exit 1; }
[ -d "$root/bridge/test/node_modules/phoenix" ] || (cd "$root/bridge/test" && npm ci --no-audit --no-fund >/dev/null)
# PIN: every server process inherits the postmaster's CPU; the walsender is moved to CPU 1
CPU0=(); CPU1=()
[ -n "${PIN:-}" ] && { CPU0=(taskset -c 0); CPU1=(taskset -c 1); }
"${CPU0[@]}" "$root/scripts/cluster.sh" start "$dir" "$PORT" -c fsync=on -c max_connections=50 -c shared_buffers=128MB \
  -c wal_level=logical -c log_checkpoints=on >/dev/null
export PGHOST=$dir/sock PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE EXTENSION laniakea;
CREATE TABLE t_tracked (id int PRIMARY KEY, c gcounter NOT NULL);
CREATE TABLE t_wal (id int PRIMARY KEY, c gcounter NOT NULL);
CREATE TABLE t_untracked (id int PRIMARY KEY, c gcounter NOT NULL);
CREATE TABLE t_plain (id int PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE t_notify (id int PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE t_quiet (id int PRIMARY KEY, c gcounter NOT NULL);
CREATE TABLE t_noop (id int PRIMARY KEY, c gcounter NOT NULL);
INSERT INTO t_tracked SELECT g, '{"n0":1}'::gcounter FROM generate_series(1, $ROWS) g;
INSERT INTO t_untracked SELECT * FROM t_tracked;
INSERT INTO t_wal SELECT * FROM t_tracked;
INSERT INTO t_quiet SELECT * FROM t_tracked;
INSERT INTO t_noop SELECT * FROM t_tracked;
-- the probe rows (bench/track/probe.mjs), outside pgbench's ids
INSERT INTO t_tracked VALUES ($ROWS + 1, '{}');
INSERT INTO t_wal VALUES ($ROWS + 1, '{}');
INSERT INTO t_plain SELECT g, 1 FROM generate_series(1, $ROWS) g;
INSERT INTO t_notify SELECT * FROM t_plain;
SELECT laniakea.track('t_tracked');
SELECT laniakea.track('t_wal', notify => false);
-- the tracked table's own cost, with no source reading it: its triggers
SELECT laniakea.track('t_quiet', notify => false);
-- what any BEFORE UPDATE row trigger costs: PostgreSQL locks the row for it first (a WAL record)
CREATE FUNCTION noop_row() RETURNS trigger LANGUAGE plpgsql AS \$\$BEGIN RETURN NEW; END\$\$;
CREATE TRIGGER t_noop_row BEFORE UPDATE ON t_noop FOR EACH ROW EXECUTE FUNCTION noop_row();
-- the NOTIFY ceiling: a per-row trigger that does nothing but pg_notify
CREATE FUNCTION notify_row() RETURNS trigger LANGUAGE plpgsql AS
  \$\$BEGIN PERFORM pg_notify('x', NEW.id::text || ':' || NEW.n::text); RETURN NEW; END\$\$;
CREATE TRIGGER t_notify_row AFTER UPDATE ON t_notify FOR EACH ROW EXECUTE FUNCTION notify_row();
VACUUM ANALYZE;
CHECKPOINT;
SQL
declare -A SQLS=(
  [tracked_notify]="UPDATE t_tracked SET c = increment(c, 'n1', 1) WHERE id = :id;"
  [tracked_wal]="UPDATE t_wal SET c = increment(c, 'n1', 1) WHERE id = :id;"
  [untracked]="UPDATE t_untracked SET c = increment(c, 'n1', 1) WHERE id = :id;"
  [plain_bigint]="UPDATE t_plain SET n = n + 1 WHERE id = :id;"
  [notify_trigger]="UPDATE t_notify SET n = n + 1 WHERE id = :id;"
  [tracked_quiet]="UPDATE t_quiet SET c = increment(c, 'n1', 1) WHERE id = :id;"
  [noop_trigger]="UPDATE t_noop SET c = increment(c, 'n1', 1) WHERE id = :id;"
)
VARIANTS=${VARIANTS:-"tracked_notify tracked_wal untracked plain_bigint notify_trigger tracked_quiet noop_trigger"}
BRIDGE_LOG=${BRIDGE_LOG:-warn}
for v in $VARIANTS; do printf '\\set id random(1, %d)\n%s\n' "$ROWS" "${SQLS[$v]}" >"$out/$v.sql"; done

# NOTIFYs per transaction: a listener counts what 20 single-row transactions send.
notifies_per_tx() { # table channel sql
  local n
  n=$(psql -X -v ON_ERROR_STOP=1 2>&1 <<SQL | grep -c 'Asynchronous notification' || true
LISTEN "$2";
\! for i in \$(seq 1 20); do psql -qX -c "$3" >/dev/null; done
SELECT 1;
SQL
)
  awk -v n="$n" 'BEGIN { printf "%.2f", n / 20 }'
}
declare -A NPT
NPT[tracked_notify]=$(notifies_per_tx t_tracked laniakea "UPDATE t_tracked SET c = increment(c, 'n1', 1) WHERE id = 7")
NPT[tracked_wal]=$(notifies_per_tx t_wal laniakea "UPDATE t_wal SET c = increment(c, 'n1', 1) WHERE id = 7")
NPT[untracked]=$(notifies_per_tx t_untracked laniakea "UPDATE t_untracked SET c = increment(c, 'n1', 1) WHERE id = 7")
NPT[plain_bigint]=0.00
NPT[notify_trigger]=$(notifies_per_tx t_notify x "UPDATE t_notify SET n = n + 1 WHERE id = 7")
NPT[tracked_quiet]=$(notifies_per_tx t_quiet laniakea "UPDATE t_quiet SET c = increment(c, 'n1', 1) WHERE id = 7")
NPT[noop_trigger]=0.00

loadavg() { cut -d' ' -f1 /proc/loadavg; }
wal_lsn() { psql -qXAt -c "SELECT pg_current_wal_lsn()"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime, USER_HZ
declare -A TABLE_OF=([tracked_notify]=t_tracked [tracked_wal]=t_wal)
declare -A SOURCE_OF=([tracked_notify]=notify [tracked_wal]=wal)
# A bridge for a tracked variant's run, with its probe (latency) running beside pgbench.
start_bridge() { # variant log
  local bport attempt
  for attempt in 1 2 3 4 5; do
    bport=$(( PORT + 100 + RANDOM % 800 ))
    DATABASE_URL="postgresql://postgres@127.0.0.1:$PORT/postgres" "${CPU1[@]}" "$BRIDGE" --port "$bport" \
      --source "${SOURCE_OF[$1]}" --max-table-rows $((ROWS + 10)) --log-level "$BRIDGE_LOG" >>"$2" 2>&1 &
    BRIDGE_PID=$!
    BRIDGE_PORT=$bport
    for _ in $(seq 1 100); do
      kill -0 "$BRIDGE_PID" 2>/dev/null || break # lost a port race: another port
      curl -sf "http://127.0.0.1:$bport/healthz" 2>/dev/null | grep -q '"postgres":"up"' && return 0
      sleep 0.1
    done
    kill "$BRIDGE_PID" 2>/dev/null; wait "$BRIDGE_PID" 2>/dev/null || true
  done
  echo "bridge for $1 did not come up:" >&2; tail "$2" >&2; exit 1
}
# The WAL's positions every 100 ms, with UTC times to set beside the probe's and the logs'.
REPL_SQL="SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'HH24:MI:SS.MS'), pg_current_wal_insert_lsn(),
  pg_current_wal_flush_lsn(), coalesce(r.state, '-'), r.sent_lsn, r.write_lsn, r.flush_lsn
  FROM (SELECT 1) one LEFT JOIN pg_stat_replication r ON r.application_name = 'laniakea-bridge-wal' \\watch 0.1"
run_one() { # variant clients sync[@rate] round
  local v=$1 c=$2 s=$3 f="$out/$1-c$2-sync$3-r$4.log" sync=${3%@*} rate="" drain="-" tps tx lsn0 lsn1 walb probe_pid="" t0 t1 cpu="-" lat="- - -" ws="" w0 wcpu="-" sampler=""
  [[ $s == *@* ]] && rate=${s#*@}
  if [ -n "${TABLE_OF[$v]:-}" ]; then
    start_bridge "$v" "$out/bridge-$v.log"
    # at the fixed rate the probe commits as the writers do, flush pacing included (probe.mjs)
    PROBE_SYNC_COMMIT=${rate:+$sync} "${CPU1[@]}" node "$here/probe.mjs" "$BRIDGE_PORT" "postgresql://postgres@127.0.0.1:$PORT/postgres" "${TABLE_OF[$v]}" \
      "$((ROWS + 1))" "$DUR" >"$f.probe" 2>&1 &
    probe_pid=$!
    sleep 1 # the probe's table join: its read is not part of the timed run
    t0=$(cpu_ticks "$BRIDGE_PID")
    # the WAL source's other half: the walsender that decodes for it
    ws=$(psql -qXAt -c "SELECT pid FROM pg_stat_replication WHERE application_name = 'laniakea-bridge-wal' LIMIT 1")
    [ -n "$ws" ] && w0=$(cpu_ticks "$ws")
    [ -n "$ws" ] && [ -n "${PIN:-}" ] && taskset -pc 1 "$ws" >/dev/null
    if [ "${SOURCE_OF[$v]}" = wal ]; then
      psql -qXAt -F' ' <<<"$REPL_SQL" >"$f.repl" 2>/dev/null & # $!: the psql itself
      sampler=$!
    fi
  fi
  echo "pgbench starts $(date -u +%T.%3N)" >"$f"
  lsn0=$(wal_lsn)
  PGOPTIONS="-c synchronous_commit=$sync" "${CPU1[@]}" pgbench -n -M prepared ${rate:+-R "$rate"} -c "$c" -j "$c" -T "$DUR" -f "$out/$v.sql" >>"$f" 2>&1 ||
    { echo "pgbench failed for $v:" >&2; tail "$f" >&2; exit 1; }
  lsn1=$(wal_lsn)
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$f")
  tx=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$f")
  walb=$(psql -qXAt -c "SELECT round(pg_wal_lsn_diff('$lsn1', '$lsn0') / $tx)")
  if [ -n "$probe_pid" ]; then
    if [ -n "$ws" ]; then
      # what the walsender had not decoded when pgbench ended: the time until it has (60 s at most),
      # and the CPU figures include it, so that they are per change decoded
      drain=$(psql -qXAt 2>&1 <<SQL | sed -n 's/^NOTICE: *//p'
DO \$\$ DECLARE t0 timestamptz := clock_timestamp(); BEGIN
  WHILE clock_timestamp() < t0 + interval '60 s' AND coalesce((SELECT sent_lsn < '$lsn1' FROM pg_stat_replication
        WHERE pid = $ws), false) LOOP PERFORM pg_sleep(0.02); END LOOP;
  RAISE NOTICE '%', round(extract(epoch FROM clock_timestamp() - t0)::numeric, 2); END \$\$;
SQL
)
      sleep 0.1 # what the bridge has not read of it yet
    fi
    t1=$(cpu_ticks "$BRIDGE_PID")
    wait "$probe_pid" || { echo "probe failed for $v:" >&2; cat "$f.probe" >&2; exit 1; }
    # bridge CPU per change, in microseconds: ticks are 10 ms
    cpu=$(awk -v a="$t0" -v b="$t1" -v n="$tx" 'BEGIN { printf "%.1f", (b - a) * 10000 / n }')
    [ -n "$ws" ] && wcpu=$(awk -v a="$w0" -v b="$(cpu_ticks "$ws")" -v n="$tx" 'BEGIN { printf "%.1f", (b - a) * 10000 / n }')
    lat=$(node -e 'const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n").pop()); console.log(r.p50_ms, r.p99_ms, r.n)' "$f.probe")
    kill "$BRIDGE_PID"; wait "$BRIDGE_PID" 2>/dev/null || true
    if [ -n "$sampler" ]; then kill "$sampler"; wait "$sampler" 2>/dev/null || true; fi
  fi
  echo "$v $c $s $4 $tps $(loadavg) $walb $cpu $lat $wcpu $drain" >>"$out/raw.txt"
}
configs=()
for c in $CLIENTS; do configs+=("$c off $ROUNDS"); done
for c in $SYNC_ON_CLIENTS; do configs+=("$c on 1"); done
[ -n "$RATE_TPS" ] && configs+=("$RATE_CLIENTS off@$RATE_TPS 1")
echo "# bench/track $(date -u +%FT%TZ) rows=$ROWS dur=${DUR}s rounds=$ROUNDS nproc=$(nproc)${PIN:+ pinned (server CPU 0; pgbench, probe, bridge, walsender CPU 1)} load_before=$(cat /proc/loadavg | cut -d' ' -f1-3)" | tee "$out/table.md"
for cfg in "${configs[@]}"; do
  read -r c s r <<<"$cfg"
  for round in $(seq 1 "$r"); do
    # rotate the order each round so no variant always runs first/last
    set -- $VARIANTS; for _ in $(seq 2 "$round"); do set -- "${@:2}" "$1"; done
    for v in "$@"; do
      [[ $s == *@* && -z "${TABLE_OF[$v]:-}" ]] && continue # the fixed rate: latency only
      run_one "$v" "$c" "$s" "$round"
    done
  done
done
median() { sort -n | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
{
  echo
  echo "| clients | sync_commit | variant | TPS median (min–max, n) | ratio to untracked | ratio to plain bigint | NOTIFYs/tx | WAL bytes/tx | bridge CPU µs/change | walsender CPU µs/change | commit→client p50 / p99 ms (probes) | WAL decoded after pgbench ended, s | load avg during |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  for cfg in "${configs[@]}"; do
    read -r c s r <<<"$cfg"
    base=$(awk -v c="$c" -v s="$s" '$1=="plain_bigint" && $2==c && $3==s {print $5}' "$out/raw.txt" | median)
    unt=$(awk -v c="$c" -v s="$s" '$1=="untracked" && $2==c && $3==s {print $5}' "$out/raw.txt" | median)
    for v in $VARIANTS; do
      [[ $s == *@* && -z "${TABLE_OF[$v]:-}" ]] && continue
      sel() { awk -v v="$v" -v c="$c" -v s="$s" -v k="$1" '$1==v && $2==c && $3==s {print $k}' "$out/raw.txt"; }
      vals=$(sel 5)
      med=$(echo "$vals" | median); mn=$(echo "$vals" | sort -n | head -1); mx=$(echo "$vals" | sort -n | tail -1)
      la=$(sel 6 | tr '\n' ' ')
      walb=$(sel 7 | median)
      if [ -n "${TABLE_OF[$v]:-}" ]; then
        cpu=$(sel 8 | median); p50=$(sel 9 | median); p99=$(sel 10 | median); np=$(sel 11 | awk '{ n += $1 } END { print n }')
        wcpu=$(sel 12 | median); drain=$(sel 13 | median)
        extra="$cpu | ${wcpu/-/–} | $p50 / $p99 ($np) | ${drain/-/–}"
      else
        extra="– | – | – | –"
      fi
      ratio() { [ -n "$2" ] && [ "$2" != 0 ] && awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }' || echo "–"; }
      printf "| %s | %s | %s | %.0f (%.0f–%.0f, %d) | %s | %s | %s | %s | %s | %s|\n" "$c" "${s/@/, -R }" "$v" "$med" "$mn" "$mx" "$r" \
        "$(ratio "$med" "$unt")" "$(ratio "$med" "$base")" "${NPT[$v]}" "$walb" "$extra" "$la"
    done
  done
  echo
  echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg); raw per-round figures: $out/raw.txt"
} | tee -a "$out/table.md"
