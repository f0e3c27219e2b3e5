#!/usr/bin/env bash
# Runs every test suite of Laniakea on this machine: installs what is missing,
# builds with -Werror, installs the extension, starts a private PostgreSQL 15
# cluster, runs each suite, stops the cluster.  Ends with one line
# "N passed, N failed" totalling every suite; exits non-zero on any failure.
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

echo "== deps (apt packages that are missing)"
bash scripts/deps.sh || { echo "0 passed, 1 failed"; exit 1; }
export PATH=${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH
# CI builds with warnings as errors; a user's `make` does not
export WERROR=1

passed=0
failed=0
failures=()

# Adds a suite's counts, read from its "name: N passed, N failed" line.
tally() {
	local name=$1 log=$2 status=$3 line p f
	line=$(grep -E "^${name}: [0-9]+ passed, [0-9]+ failed" "$log" | tail -n 1)
	if [ -z "$line" ]; then
		echo "== $name: no summary line (exit $status): counted as one failure"
		failed=$((failed + 1))
		failures+=("$name")
		return
	fi
	p=$(sed -E 's/.*: ([0-9]+) passed.*/\1/' <<<"$line")
	f=$(sed -E 's/.*passed, ([0-9]+) failed.*/\1/' <<<"$line")
	if [ "$status" != 0 ] && [ "$f" = 0 ]; then
		f=1 # a suite that failed must not count as clean
	fi
	passed=$((passed + p))
	failed=$((failed + f))
	[ "$f" = 0 ] || failures+=("$name")
	echo "== $line"
}

# Runs a suite, showing its output and keeping it for tally and the time table.
times=()
suite() {
	local name=$1 status start
	shift
	echo "== $name"
	start=$SECONDS
	"$@" 2>&1 | tee "$work/$name.log"
	status=${PIPESTATUS[0]}
	times+=("$(printf '%-14s %5ss' "$name" $((SECONDS - start)))")
	tally "$name" "$work/$name.log" "$status"
}

work=$(mktemp -d /tmp/laniakea-test.XXXXXX)
cleanup() {
	scripts/cluster.sh stop "$work/pg" >/dev/null 2>&1
	rm -rf "$work"
}
trap cleanup EXIT

echo "== build (the extension, installed into $(pg_config --pkglibdir); the bridge; the client package)"
if ! { make -s && make -s install && make -s bridge && make -s client; } >"$work/build.log" 2>&1; then
	cat "$work/build.log"
	echo "0 passed, 1 failed"
	exit 1
fi

echo "== a private PostgreSQL cluster in $work/pg"
port=$(scripts/cluster.sh start "$work/pg") || { echo "0 passed, 1 failed"; exit 1; }
export PGHOST=$work/pg/sock PGPORT=$port PGUSER=postgres

# clang-tidy counts the warnings it suppressed in system headers on stderr:
# only what it reports about our code matters
lint() {
	local status
	make -s lint 2>&1 | grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated\.$|^Suppressed [0-9]+ warnings|^Use -header-filter'
	status=${PIPESTATUS[0]}
	if [ "$status" = 0 ]; then echo "lint: 1 passed, 0 failed"; else echo "lint: 0 passed, 1 failed"; return 1; fi
}

lint_js() {
	if make -s lint-js; then echo "lint-js: 1 passed, 0 failed"; else echo "lint-js: 0 passed, 1 failed"; return 1; fi
}

regress() {
	local status
	make -s installcheck >"$work/regress.out" 2>&1
	status=$?
	cat "$work/regress.out"
	[ -f regression.diffs ] && [ $status != 0 ] && cat regression.diffs
	[ -f output_iso/regression.diffs ] && [ $status != 0 ] && cat output_iso/regression.diffs
	echo "regress: $(grep -cE '^(test | )?[a-z_]+ +\.\.\. ok' "$work/regress.out") passed, $(grep -cE '\.\.\. FAILED' "$work/regress.out") failed"
	return $status
}

suite regress regress
suite lint lint
suite lint-js lint_js
suite dump_restore bash test/dump_restore.sh "$PGHOST" "$PGPORT"
suite readme bash test/readme.sh
suite unit make -s -C test unit
suite fuzz make -s -C test fuzz-smoke
suite fuzz-sql env FUZZ_SQL_SECONDS=60 bash test/fuzz-sql/run.sh
suite cluster bash test/cluster/run.sh
suite bridge bash bridge/test/run.sh
suite bridge-asan bash bridge/test/run.sh --asan
suite client bash client/test/run.sh
suite vectors bash client/test/run.sh vectors
suite client-bridge bash client/test/run.sh bridge
suite browser bash test/browser/run.sh

echo
echo "suite          time"
printf '%s\n' "${times[@]}"
printf '%-14s %5ss\n' total "$SECONDS"
[ ${#failures[@]} -eq 0 ] || echo "failed suites: ${failures[*]}"
echo "$passed passed, $failed failed"
[ "$failed" = 0 ]
