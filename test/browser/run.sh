#!/usr/bin/env bash
# The demo page, and /view pages with JavaScript disabled, in headless Chromium against the real bridge and a private
# PostgreSQL cluster that the test restarts (so it does not touch the cluster
# of scripts/test.sh).  Needs a built bridge and client (`make`) and the
# extension installed.  Screenshots go to test/browser/output/.
# Prints "browser: N passed, N failed".  Arguments go to node --test, e.g.
# --test-name-pattern=journal runs the tests whose names match.
set -uo pipefail
cd "$(dirname "$0")"
top=$(cd ../.. && pwd)
export PATH=${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH
command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -d node_modules ] || npm ci --silent --no-audit --no-fund
make -s -C "$top/client" >/dev/null || { echo "browser: 0 passed, 1 failed"; exit 1; }

work=$(mktemp -d /tmp/lk-browser.XXXXXX)
trap '"$top/scripts/cluster.sh" stop "$work/pg" >/dev/null 2>&1; rm -rf "$work"' EXIT
pgport=$("$top/scripts/cluster.sh" start "$work/pg") || { echo "browser: 0 passed, 1 failed"; exit 1; }
export PGOPTIONS='-c client_min_messages=warning'
psql -X -q -h "$work/pg/sock" -p "$pgport" -U postgres -d postgres -c "CREATE DATABASE lk_browser" &&
	psql -X -q -h "$work/pg/sock" -p "$pgport" -U postgres -d lk_browser -v ON_ERROR_STOP=1 \
		-c "CREATE EXTENSION laniakea" -f "$top/examples/demo.sql" >/dev/null ||
	{ echo "browser: 0 passed, 1 failed"; exit 1; }

# a copy of the demo, so that a test can deploy a new version of it
cp -r "$top/client/demo" "$work/demo"
rm -rf output && mkdir -p output
LK_TOP=$top LK_PGDIR=$work/pg LK_PGPORT=$pgport LK_OUT=$(pwd)/output LK_STATIC=$work/demo \
	node --test --test-concurrency=1 --test-reporter=tap "$@" demo.test.mjs views.test.mjs >"$work/tap" 2>&1
status=$?
cat "$work/tap"
pass=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$work/tap")
fail=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$work/tap")
# a test cancelled (timed out) or marked todo failed too
other=$(awk '/^# (cancelled|todo) [0-9]+$/ { n += $3 } END { print n + 0 }' "$work/tap")
echo "browser: ${pass:-0} passed, $((${fail:-1} + ${other:-0})) failed"
[ $status = 0 ]
