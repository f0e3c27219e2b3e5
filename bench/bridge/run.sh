#!/usr/bin/env bash
# laniakea-bridge fan-out vs the Node peer (shared/peers/node-bridge), same NOTIFY input.
#
#   bench/bridge/run.sh       # ≈5 min; env: NS="1000 10000" SERVERS="bridge1 bridge2 peer"
#                             #   DUR=5 LOW_SUBFRAMES=20000 HIGH_SUBFRAMES=400000 PEER_DIR=/tmp/lk-peer PERF=1|low
#                             #   LOADGEN=c|node WORKERS=2 (load generator processes, C)
#                             #   BASE=<a laniakea-bridge binary> adds the servers base1 and base2:
#                             #   that build (a baseline, e.g. main's) in the same run, beside
#                             #   this tree's: SERVERS="base1 bridge1 base1 bridge1"
#
# For each server (Laniakea bridge with 1 process, with 2 processes on one port via
# SO_REUSEPORT, the Node peer) and each N: start the server fresh, read its RSS, connect N
# subscribers (loadgen.c: forked epoll workers, raw Phoenix V2 frames, all joined to
# crdt:bench:1; LOADGEN=node uses load.mjs, which saturates first), read
# RSS again (idle bytes per connection), then drive NOTIFYs with pgbench at a fixed rate:
#   low  — max(1, LOW_SUBFRAMES/N) NOTIFYs/s: commit->receive latency p50/p95/p99 at the clients;
#   high — HIGH_SUBFRAMES/N NOTIFYs/s (offered frames/s = HIGH_SUBFRAMES): frames/s received
#          (run last: clients that fall behind keep a backlog; PERF=1 profiles the bridge here, PERF=low at the low rate).
# Each (server, N) block uses its own port (WS_PORT + block), so sockets of a killed
# server still closing cannot block the next bind.
# Input, identical for both servers: SELECT pg_notify('laniakea', <payload>) where the
# payload is the trigger's format plus a top-level "topic" (which the peer needs and the
# bridge ignores), and the delta {"c":{"n1":<unix µs at commit>}} carries the commit time
# (also in "ts"). A third run (bridge only, "trigger") drives the real path: UPDATE of the
# tracked table bench, whose C trigger emits the NOTIFY (no top-level topic: the peer
# drops it). First of all, sendfloor.c measures a bare loopback send() (the floor under
# fan-out latency). Outputs: bench/out/bridge-<stamp>/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
NS=${NS:-"1000 10000"}; SERVERS=${SERVERS:-"bridge1 bridge2 peer"}
DUR=${DUR:-5}; LOW_SUBFRAMES=${LOW_SUBFRAMES:-20000}; HIGH_SUBFRAMES=${HIGH_SUBFRAMES:-400000}
PGP=${PGPORT_BENCH:-60120}; WSP0=${WS_PORT:-61100}; WSP=$WSP0; block=0
LOADGEN=${LOADGEN:-c}; PEER_DIR=${PEER_DIR:-/tmp/lk-peer}; BRIDGE=$root/bridge/laniakea-bridge; BASE=${BASE:-}
ulimit -n "$(ulimit -Hn)"
[ -x "$BRIDGE" ] || { echo "build first: make bridge" >&2; exit 1; }
case " $SERVERS " in *" base"*) [ -x "$BASE" ] || { echo "base1/base2 need BASE=<a laniakea-bridge binary>" >&2; exit 1; } ;; esac
# the Node peer (and load.mjs, which resolves `ws` from its node_modules) only when used
if [ "$LOADGEN" = node ] || case " $SERVERS " in *" peer "*) true ;; *) false ;; esac; then
  if [ ! -d "$PEER_DIR/node_modules/ws" ]; then
    mkdir -p "$PEER_DIR"; cp "${LK_PEERS:-$root/../shared/peers}"/node-bridge/{package.json,package-lock.json,bridge.mjs} "$PEER_DIR/"
    (cd "$PEER_DIR" && npm ci --no-audit --no-fund >/dev/null)
  fi
  cp "$here/load.mjs" "$PEER_DIR/lk-load.mjs"
fi
stamp=$(date -u +%Y%m%dT%H%M%SZ); out=$root/bench/out/bridge-$stamp; mkdir -p "$out"
dir=$(mktemp -d /tmp/lk-bridge.XXXXXX)
[ "$LOADGEN" = c ] && cc -O2 -Wall -o "$dir/loadgen" "$here/loadgen.c"
pids=(); loadpid=
stop_servers() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done; pids=(); }
cleanup() {
  [ -n "$loadpid" ] && kill "$loadpid" 2>/dev/null || true
  stop_servers; "$root/scripts/cluster.sh" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"
}
trap cleanup EXIT
"$root/scripts/cluster.sh" start "$dir" "$PGP" -c max_connections=50 >/dev/null
export PGHOST=$dir/sock PGPORT=$PGP PGUSER=postgres PGDATABASE=postgres
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<'SQL'
CREATE EXTENSION laniakea;
CREATE TABLE bench (id int PRIMARY KEY, c gcounter NOT NULL);
INSERT INTO bench VALUES (1, '{"n1":1}');
SELECT laniakea.track('bench');
SQL
cat >"$out/notify.sql" <<'SQL'
SELECT pg_notify('laniakea', format('{"topic":"crdt:bench:1","ts":%s,"rows":[{"topic":"crdt:bench:1","table":"bench","key":"1","deltas":{"c":{"n1":%s}}}]}', t, t)) FROM (SELECT (extract(epoch FROM clock_timestamp()) * 1000000)::bigint AS t) s;
SQL
cat >"$out/trigger.sql" <<'SQL'
UPDATE bench SET c = c || ('{"n1":' || (extract(epoch FROM clock_timestamp()) * 1000000)::bigint || '}')::gcounter WHERE id = 1;
SQL
DBURL="postgresql://postgres@127.0.0.1:$PGP/postgres"

rss_kb() { local s=0; for p in "$@"; do s=$((s + $(awk '/^VmRSS/ {print $2}' /proc/$p/status))); done; echo $s; }
cpu_ticks() { local s=0; for p in "$@"; do s=$((s + $(awk '{print $14 + $15}' /proc/$p/stat))); done; echo $s; }
socks_per_pid() { local r=; for p in "$@"; do r="$r$(find /proc/$p/fd -lname 'socket:*' 2>/dev/null | wc -l)/"; done; echo "${r%/}"; }
wait_http() { for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$WSP/healthz" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "server did not come up" >&2; return 1; }
start_server() { # kind
  case $1 in
  bridge1|bridge2|base1|base2)
    local n=${1: -1} bin=$BRIDGE
    [ "${1#base}" != "$1" ] && bin=$BASE
    for i in $(seq 1 "$n"); do
      "$bin" --port "$WSP" --db "$DBURL" --max-per-ip 1000000 --idle-timeout 120 --log-level warn >>"$out/$1.log" 2>&1 &
      pids+=($!)
    done ;;
  peer)
    (cd "$PEER_DIR" && exec node bridge.mjs --port "$WSP" --db "$DBURL") >>"$out/peer.log" 2>&1 &
    pids+=($!) ;;
  esac
  wait_http; sleep 1
}
lg() { echo "$1" >&"${LG[1]}"; local line; read -r -t 240 line <&"${LG[0]}" || { echo "load generator did not answer '$1'" >&2; exit 1; }; echo "$line"; }
drive() { # sqlfile rate -> sets REP, CPU, T0
  local f=$1 rate=$2 c0
  lg reset >/dev/null
  c0=$(cpu_ticks "${pids[@]}"); T0=$(date +%s%3N)
  pgbench -n -c 1 -R "$rate" -T "$DUR" -f "$f" >"$out/pgbench-$tag-$(basename "$f" .sql)-$rate.log" 2>&1 || { echo "pgbench failed" >&2; exit 1; }
  sleep 2   # drain
  REP=$(lg report); CPU=$(( $(cpu_ticks "${pids[@]}") - c0 ))
}
echo "# bench/bridge $(date -u +%FT%TZ) dur=${DUR}s nproc=$(nproc) load_before=$(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/table.md"
# the kernel's floor: bare send() of one 60-byte message to each of 5000 loopback sockets
cc -O2 -Wall -o "$dir/sendfloor" "$here/sendfloor.c"
"$dir/sendfloor" 5000 10 60 | tee -a "$out/table.md"
echo "server N workers connected socks_per_proc rss0_kb rssN_kb mode rate sent frames frames_per_s expected p50 p95 p99 samples server_cpu_s load1" >"$out/raw.txt"
for server in $SERVERS; do
  for N in $NS; do
    tag=$server-$N; WSP=$((WSP0 + block)); block=$((block + 1))
    start_server "$server"
    rss0=$(rss_kb "${pids[@]}")
    if [ "$LOADGEN" = c ]; then
      W=${WORKERS:-2}
      coproc LG { exec "$dir/loadgen" 127.0.0.1 "$WSP" "/socket/websocket?vsn=2.0.0" crdt:bench:1 "$N" "$W" 2>>"$out/load-$tag.err"; }
    else
      W=$(( N <= 2000 ? 2 : 4 ))
      coproc LG { cd "$PEER_DIR" && exec node lk-load.mjs "ws://127.0.0.1:$WSP/socket/websocket?vsn=2.0.0" crdt:bench:1 "$N" "$W" 2>>"$out/load-$tag.err"; }
    fi
    loadpid=$LG_PID
    read -r _ conn failed <<<"$(lg connect)"
    [ "$conn" = "$N" ] || { echo "$tag: only $conn of $N subscribers joined ($failed failed)" >&2; exit 1; }
    sleep 2
    rssN=$(rss_kb "${pids[@]}"); socks=$(socks_per_pid "${pids[@]}")
    modes="notify"; [ "$server" != peer ] && modes="notify trigger"
    low=$(( LOW_SUBFRAMES / N > 1 ? LOW_SUBFRAMES / N : 1 ))
    for run in notify:$low trigger:$low notify:$(( HIGH_SUBFRAMES / N )); do
        mode=${run%:*} rate=${run#*:}
        case " $modes " in *" $mode "*) ;; *) continue ;; esac
        perfpid=
        if [ -n "${PERF:-}" ] && [ "$server" != peer ] && { { [ "$PERF" = low ] && [ "$rate" = "$low" ] && [ "$mode" = notify ]; } || { [ "$PERF" != low ] && [ "$rate" != "$low" ]; }; }; then
          perf record -q -F 499 -g -o "$out/perf-$tag.data" -p "$(IFS=,; echo "${pids[*]}")" -- sleep "$DUR" 2>/dev/null & perfpid=$!
        fi
        drive "$out/$mode.sql" "$rate"
        if [ -n "$perfpid" ]; then wait "$perfpid" || true
          perf report -i "$out/perf-$tag.data" --no-children -g none --sort dso,symbol --stdio 2>/dev/null | grep -v '^#' | grep '%' | head -25 >"$out/perf-$tag.txt" || true
        fi
        read -r _ frames p50 p95 p99 first last samples <<<"$REP"
        sent=$(sed -n 's/^number of transactions actually processed: \([0-9]*\).*/\1/p' "$out/pgbench-$tag-$mode-$rate.log")
        fps=$(awk -v f="$frames" -v t0="$T0" -v l="$last" -v d="$DUR" 'BEGIN { w = (l - t0) / 1000; if (w < d) w = d; printf "%.0f", f / w }')
        echo "$server $N $W $conn $socks $rss0 $rssN $mode $rate $sent $frames $fps $((sent * N)) $p50 $p95 $p99 $samples $(awk -v c="$CPU" 'BEGIN{printf "%.2f", c/100}') $(cut -d' ' -f1 /proc/loadavg)" | tee -a "$out/raw.txt"
      done
    lg close >/dev/null; wait "$loadpid" 2>/dev/null || true; loadpid=
    stop_servers
  done
done
{
  echo
  echo "| server | N subs | mode | NOTIFY/s asked (sent) | offered frames/s | frames recv / expected | frames/s recv | p50 ms | p95 ms | p99 ms | server CPU s | server CPU µs/frame | load1 |"
  echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|"
  awk -v d="$DUR" 'NR>1 { printf "| %s | %s | %s | %s (%s) | %.0f | %s / %s | %s | %s | %s | %s | %s | %.2f | %s |\n", $1, $2, $8, $9, $10, $13/d, $11, $13, $12, $14, $15, $16, $18, ($11 ? $18*1e6/$11 : 0), $19 }' "$out/raw.txt"
  echo
  echo "| server | N subs | sockets per process | RSS 0 conns (KB) | RSS N idle (KB) | RSS per idle connection (bytes) |"
  echo "|---|---|---|---|---|---|"
  awk 'NR>1 && !seen[$1" "$2]++ { printf "| %s | %s | %s | %s | %s | %.0f |\n", $1, $2, $5, $6, $7, ($7 - $6) * 1024 / $2 }' "$out/raw.txt"
  echo
  echo "Ratios at the high rate (frames/s recv), same N:"
  awk 'NR>1 && $8=="notify" { k=$1" "$2; if (!($2 in hi) || 1) { if ($9 > r[k]) { r[k]=$9; f[k]=$12 } } ns[$2]=1 }
       function rt(a, b) { return b > 0 ? sprintf("%.2f", a / b) : "n/a" }
       END { for (n in ns) printf "  N=%s: bridge1/peer %s, bridge2/peer %s, bridge2/bridge1 %s, bridge1/base1 %s\n", n, rt(f["bridge1 "n], f["peer "n]), rt(f["bridge2 "n], f["peer "n]), rt(f["bridge2 "n], f["bridge1 "n]), rt(f["bridge1 "n], f["base1 "n]) }' "$out/raw.txt"
  echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg); raw: $out/raw.txt"
} | tee -a "$out/table.md"
