#!/usr/bin/env bash
# Multi-node tests of Laniakea: each test file starts its own PostgreSQL 15
# clusters (scripts/cluster.sh), joins them by logical replication in a full
# mesh and runs its scenarios.  Needs the extension installed (make install).
#
#   test/cluster/run.sh [FILE.test.js ...]     default: every *.test.js here
#
# Ends with exactly one line "cluster: N passed, N failed"; exits non-zero on
# any failure.  Sizes and the random seed come from the environment
# (lib/workload.js: params(), LK_SEED); LK_TEST_TIMEOUT (ms) bounds each test;
# LK_KEEP=1 keeps the clusters' files.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
cd "$here"

if [ ! -d node_modules ]; then
  if ! npm ci --silent --no-audit --no-fund >/tmp/laniakea-npm-ci.$$.log 2>&1; then
    cat /tmp/laniakea-npm-ci.$$.log
    rm -f /tmp/laniakea-npm-ci.$$.log
    echo "cluster: 0 passed, 1 failed"
    exit 1
  fi
  rm -f /tmp/laniakea-npm-ci.$$.log
fi

root=$(mktemp -d /tmp/laniakea-cluster.XXXXXX)
chmod 711 "$root" # the clusters inside belong to the postgres user
# Whatever a crashed or interrupted run left running is stopped here.
cleanup() {
  local pidfile
  for pidfile in "$root"/*/*/data/postmaster.pid; do
    [ -f "$pidfile" ] && bash "$top/scripts/cluster.sh" stop "${pidfile%/data/postmaster.pid}" >/dev/null 2>&1
  done
  if [ "${LK_KEEP:-0}" = 1 ]; then echo "clusters kept in $root"; else rm -rf "$root"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
export LK_CLUSTER_ROOT=$root

if [ $# -gt 0 ]; then files=("$@"); else files=(*.test.js); fi

# One file at a time (each starts its own clusters); the spec reporter for
# people, the TAP reporter into a file for counting.
node --test --test-concurrency=1 --test-timeout="${LK_TEST_TIMEOUT:-300000}" \
  --test-reporter=spec --test-reporter-destination=stdout \
  --test-reporter=tap --test-reporter-destination="$root/tap.out" \
  "${files[@]}"
status=$?

count() { sed -nE "s/^# $1 ([0-9]+)\$/\\1/p" "$root/tap.out" 2>/dev/null | tail -n 1; }
passed=$(count pass)
failed=$(count fail)
cancelled=$(count cancelled)
if [ -z "$passed" ] || [ -z "$failed" ]; then
  # no summary: node itself failed; count that as a failure
  passed=${passed:-0}
  failed=$((${failed:-0} + 1))
fi
failed=$((failed + ${cancelled:-0})) # a timed-out or interrupted test failed too
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then failed=1; fi
echo "cluster: $passed passed, $failed failed"
[ "$status" -eq 0 ] && [ "$failed" -eq 0 ]
