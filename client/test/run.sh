#!/usr/bin/env bash
# The client package's suites, on a built client/lib (`make` at the top):
#   run.sh         client: unit tests in Node (values, errors, wasm memory,
#                  the connection against a fake bridge, storage, tabs) and the
#                  typed example compiled by tsc.  Prints "client: N passed, N failed".
#   run.sh vectors vectors: the same operations in PostgreSQL and in the wasm
#                  core, byte for byte.  Needs PGHOST/PGPORT/PGUSER (scripts/test.sh
#                  sets them) and the extension installed.  Prints "vectors: ...".
set -uo pipefail
cd "$(dirname "$0")/.."
suite=${1:-client}
[ -d node_modules ] || npm ci --silent --no-audit --no-fund
make -s >/dev/null || { echo "$suite: 0 passed, 1 failed"; exit 1; }

tap=$(mktemp)
trap 'rm -f "$tap"' EXIT
if [ "$suite" = vectors ]; then
	export PGOPTIONS='-c client_min_messages=warning' LK_VECTORS_DB=lk_vectors
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS lk_vectors" -c "CREATE DATABASE lk_vectors" &&
		psql -X -q -d lk_vectors -c "CREATE EXTENSION laniakea" ||
		{ echo "vectors: 0 passed, 1 failed"; exit 1; }
	node --test --test-reporter=tap test/vectors.test.mjs >"$tap" 2>&1
	status=$?
	psql -X -q -d postgres -c "DROP DATABASE IF EXISTS lk_vectors"
	extra_pass=0 extra_fail=0
else
	node --test --test-reporter=tap test/values.test.mjs test/storage.test.mjs test/connection.test.mjs >"$tap" 2>&1
	status=$?
	# the declarations, checked by compiling the typed example
	if npx tsc -p test/types; then extra_pass=1 extra_fail=0; else extra_pass=0 extra_fail=1 status=1; fi
fi
cat "$tap"
pass=$(sed -n 's/^# pass \([0-9]*\)/\1/p' "$tap")
fail=$(sed -n 's/^# fail \([0-9]*\)/\1/p' "$tap")
echo "$suite: $((${pass:-0} + extra_pass)) passed, $((${fail:-1} + extra_fail)) failed"
[ "$status" = 0 ]
