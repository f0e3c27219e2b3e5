#!/usr/bin/env bash
# One client flooding pushes against another client's pushes: the bridge at BASE
# (default f2a9cd0, before per-client queues and the bound on pending pushes) and the
# bridge of this checkout, one after the other in the same run, same database.
#
#   bench/bridge/fairness.sh     # ≈1-2 min; env: FLOOD=100000 RUNS=2 BASE=f2a9cd0
#
# fairness.mjs: a flooder sends FLOOD increments at once (and reads its replies) while
# another client pushes an increment every 20 ms and times each reply; then a second
# flooder sends FLOOD and disconnects after 200 ms, and the rows count how many of its
# pushes still ran after it left.  Needs bridge/test/node_modules (ws, pg): run
# bridge/test/run.sh once.  Prints a markdown table; raw JSON lines in bench/out/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
BASE=${BASE:-f2a9cd0}; FLOOD=${FLOOD:-100000}; RUNS=${RUNS:-2}
PGP=${PGPORT_BENCH:-60140}; WSP=${WS_PORT:-61140}
[ -x "$root/bridge/laniakea-bridge" ] || { echo "build first: make" >&2; exit 1; }
[ -d "$root/bridge/test/node_modules/pg" ] || { echo "run bridge/test/run.sh once (npm ci)" >&2; exit 1; }
stamp=$(date -u +%Y%m%dT%H%M%SZ); out=$root/bench/out/fairness-$stamp; mkdir -p "$out"
dir=$(mktemp -d /tmp/lk-fair.XXXXXX)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  "$root/scripts/cluster.sh" stop "$dir/pg" >/dev/null 2>&1 || true; rm -rf "$dir"
}
trap cleanup EXIT

mkdir -p "$dir/base"
git -C "$root" archive "$BASE" bridge src/crdt | tar -x -C "$dir/base"
make -s -C "$dir/base/bridge" >/dev/null
ln -s "$root/bridge/test/node_modules" "$dir/node_modules"
cp "$here/fairness.mjs" "$dir/"

"$root/scripts/cluster.sh" start "$dir/pg" "$PGP" >/dev/null
DBURL="postgresql://postgres@127.0.0.1:$PGP/postgres"
psql -qX -v ON_ERROR_STOP=1 "$DBURL" >/dev/null <<'SQL'
CREATE EXTENSION laniakea;
CREATE TABLE flood (id text PRIMARY KEY, hits gcounter NOT NULL DEFAULT '{}');
SELECT laniakea.track('flood');
SQL

echo "# bench/bridge/fairness $(date -u +%FT%TZ) base=$BASE ours=$(git -C "$root" rev-parse --short HEAD) flood=$FLOOD nproc=$(nproc) load_before=$(cut -d' ' -f1-3 /proc/loadavg)" | tee "$out/table.md"
for run in $(seq 1 "$RUNS"); do
  for server in base ours; do
    bin=$root/bridge/laniakea-bridge; [ "$server" = base ] && bin=$dir/base/bridge/laniakea-bridge
    "$bin" --port "$WSP" --db "$DBURL" --log-level warn >>"$out/$server.log" 2>&1 & pid=$!
    for _ in $(seq 1 100); do curl -fs "http://127.0.0.1:$WSP/healthz" | grep -q '"up"' && break; sleep 0.1; done
    line=$(cd "$dir" && node fairness.mjs "ws://127.0.0.1:$WSP/socket/websocket?vsn=2.0.0" "$DBURL" "$FLOOD")
    echo "$server $line" >>"$out/raw.txt"
    kill "$pid"; wait "$pid" 2>/dev/null || true; pid=
    WSP=$((WSP + 1))
  done
done
{
  echo
  echo "| bridge | flood | flood answered in ms | ran / refused | other client's pushes | other p50 ms | other p99 ms | other max ms | quitter: ran before / after it left |"
  echo "|---|---|---|---|---|---|---|---|---|"
  node -e '
    for (const l of require("fs").readFileSync(process.argv[1], "utf8").trim().split("\n")) {
      const [s, j] = [l.slice(0, l.indexOf(" ")), JSON.parse(l.slice(l.indexOf(" ") + 1))];
      console.log(`| ${s} | ${j.flood} | ${j.flood_ms} | ${j.flood_ok} / ${j.flood_refused} | ${j.other_pushes} | ${j.other_p50_ms} | ${j.other_p99_ms} | ${j.other_max_ms} | ${j.quit_ran_before} / ${j.quit_ran_after} |`);
    }' "$out/raw.txt"
  echo
  echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee -a "$out/table.md"
