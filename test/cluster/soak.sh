#!/usr/bin/env bash
# Soak run of the multi-node tests (not in CI): the same scenarios and harness
# as run.sh, with more nodes, clients, rows and operations and longer faults.
# Every size can be overridden from the environment:
#
#   LK_NODES=4 LK_CLIENTS=4 LK_OPS=2000 LK_KEYS=40 LK_ROUNDS=40
#   LK_FAULT_MS=10000 LK_THINK_MS=1 LK_SOAK_ITERATIONS=1 LK_SEED=<n>
#   test/cluster/soak.sh [FILE.test.js ...]
#
# Each iteration is one run.sh (new clusters, a new seed unless LK_SEED is
# set); the last line totals them: "soak: N passed, N failed".
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)

export LK_NODES=${LK_NODES:-4}
export LK_CLIENTS=${LK_CLIENTS:-4}
export LK_OPS=${LK_OPS:-2000}
export LK_KEYS=${LK_KEYS:-40}
export LK_ROUNDS=${LK_ROUNDS:-40}
export LK_FAULT_MS=${LK_FAULT_MS:-10000}
export LK_THINK_MS=${LK_THINK_MS:-1}
export LK_TEST_TIMEOUT=${LK_TEST_TIMEOUT:-1800000}
iterations=${LK_SOAK_ITERATIONS:-1}

passed=0
failed=0
log=$(mktemp /tmp/laniakea-soak.XXXXXX)
trap 'rm -f "$log"' EXIT
for ((i = 1; i <= iterations; i++)); do
  echo "== soak iteration $i/$iterations: $LK_NODES nodes, $LK_CLIENTS clients per node, $LK_OPS operations each"
  "$here/run.sh" "$@" | tee "$log"
  line=$(grep -E '^cluster: [0-9]+ passed, [0-9]+ failed$' "$log" | tail -n 1)
  p=$(sed -E 's/^cluster: ([0-9]+) passed.*/\1/' <<<"${line:-cluster: 0 passed, 1 failed}")
  f=$(sed -E 's/.*passed, ([0-9]+) failed$/\1/' <<<"${line:-cluster: 0 passed, 1 failed}")
  passed=$((passed + p))
  failed=$((failed + f))
done
echo "soak: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
