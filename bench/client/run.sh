#!/usr/bin/env bash
# The client benchmark (make bench-client): bundle sizes, and merging two
# 10,000-element sets and applying 10,000 remote single-element deltas, in
# Node and in Chromium, laniakea-client beside Yjs and Automerge in one run.
# Results: the printed table and bench/client/out/results.json.  About 8 min,
# most of it Automerge; BENCH_LIBS=laniakea,yjs leaves it out (1 min), BENCH_REPS=n.
set -euo pipefail
cd "$(dirname "$0")"
make -s -C ../../client >/dev/null
command -v chromium >/dev/null || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
[ -d node_modules ] || npm ci --silent --no-audit --no-fund
node run.mjs
