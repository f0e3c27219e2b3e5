#!/usr/bin/env bash
# The demo page in headless Chromium against a bridge on the test cluster.
# Needs PGHOST/PGPORT/PGUSER (scripts/test.sh sets them) and a built bridge.
# Prints "browser: N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
top=$(cd ../.. && pwd)
command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -d node_modules ] || npm ci --silent --no-audit --no-fund
[ -d "$top/client/node_modules" ] || (cd "$top/client" && npm ci --silent --no-audit --no-fund)

export PGOPTIONS='-c client_min_messages=warning'
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS lk_browser" -c "CREATE DATABASE lk_browser" &&
	psql -X -q -d lk_browser -v ON_ERROR_STOP=1 -c "CREATE EXTENSION laniakea" -f "$top/examples/demo.sql" >/dev/null ||
	{ echo "browser: 0 passed, 1 failed"; exit 1; }

port=47000
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
log=$(mktemp)
DATABASE_URL="host=$PGHOST port=$PGPORT user=$PGUSER dbname=lk_browser" \
	"$top/bridge/laniakea-bridge" --port "$port" --static-dir "$top/client" >"$log" 2>&1 &
bridge=$!
trap 'kill $bridge 2>/dev/null; wait $bridge 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 50); do
	curl -sf "http://127.0.0.1:$port/healthz" | grep -q '"postgres":"up"' && break
	sleep 0.1
done

BRIDGE_URL="http://127.0.0.1:$port/" node --test --test-reporter=tap demo.test.mjs >"$log.tap" 2>&1
status=$?
cat "$log.tap"
[ $status = 0 ] || cat "$log"
pass=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$log.tap")
fail=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$log.tap")
rm -f "$log.tap"
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS lk_browser" 2>/dev/null
echo "browser: ${pass:-0} passed, ${fail:-1} failed"
[ $status = 0 ]
