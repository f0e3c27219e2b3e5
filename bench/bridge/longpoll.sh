#!/usr/bin/env bash
# LongPoll beside WebSocket in one run (longpoll.mjs): delivery latency and
# bridge CPU per message, then bridge memory per idle subscriber, then per
# LongPoll session abandoned after its join, and whether all are closed at expiry.
#
#   bench/bridge/longpoll.sh     # ≈1.5 min; env: N=200 RATE=20 DUR=10 IDLE=1000 ABANDON=1000 EXPIRY_MS=5000
#
# A private cluster with the table bench (one gcounter row, tracked); each
# phase starts a fresh bridge (this tree's bridge/laniakea-bridge). Updates
# go through the real trigger path and carry their commit time (µs) as the
# delta's count, so the clients measure commit → received. Outputs:
# bench/out/longpoll-<stamp>/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
N=${N:-200}; RATE=${RATE:-20}; DUR=${DUR:-10}; IDLE=${IDLE:-1000}; ABANDON=${ABANDON:-1000}; EXPIRY_MS=${EXPIRY_MS:-5000}; PGP=${PGPORT_BENCH:-60140}
BRIDGE=$root/bridge/laniakea-bridge
[ -x "$BRIDGE" ] || { echo "build first: make bridge" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"
(cd "$root/bridge/test" && { [ -d node_modules/pg ] || npm ci --no-audit --no-fund >/dev/null; })
stamp=$(date -u +%Y%m%dT%H%M%SZ); out=$root/bench/out/longpoll-$stamp; mkdir -p "$out"
dir=$(mktemp -d /tmp/lk-longpoll.XXXXXX)
trap '"$root/scripts/cluster.sh" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"' EXIT
"$root/scripts/cluster.sh" start "$dir" "$PGP" >/dev/null
psql -qX -v ON_ERROR_STOP=1 -h "$dir/sock" -p "$PGP" -U postgres -d postgres >/dev/null <<'SQL'
CREATE EXTENSION laniakea;
CREATE TABLE bench (id int PRIMARY KEY, c gcounter NOT NULL);
INSERT INTO bench VALUES (1, '{"n1":1}');
SELECT laniakea.track('bench');
SQL
node "$here/longpoll.mjs" --bin="$BRIDGE" --db="postgresql://postgres@127.0.0.1:$PGP/postgres" \
	--n="$N" --rate="$RATE" --dur="$DUR" --idle="$IDLE" --abandon="$ABANDON" --expiry="$EXPIRY_MS" --out="$out/results.json" | tee "$out/results.md"
