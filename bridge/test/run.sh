#!/usr/bin/env bash
# The bridge test suite.
#
#   bridge/test/run.sh [--asan] [test files...]
#
# Installs the pinned npm packages if needed, builds the bridge (the
# ASan+UBSan build with --asan), starts a fresh private PostgreSQL cluster
# with the extension and the test schema (schema.sql), runs the *.test.mjs
# files one at a time with node --test (each test file starts its own bridge
# processes on free ports in 59000-59999), stops everything, and prints one
# line: "bridge: N passed, N failed" ("bridge-asan: ..." with --asan).
#
# Sources of changes (--source, harness.mjs): every file runs with the NOTIFY
# source, then the files that test delivery (WAL_FILES) run again with the WAL
# source; LK_SOURCE=notify or LK_SOURCE=wal runs the files with that one only.
# Under --asan a bridge log holding a sanitizer report is a failure too.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
label=bridge
asan=0
if [ "${1:-}" = --asan ]; then
	asan=1
	label=bridge-asan
	shift
fi

fail_setup() {
	echo "run.sh: $*" >&2
	echo "$label: 0 passed, 1 failed"
	exit 1
}

cd "$here" || exit 1

# npm ci when node_modules is missing or older than the lock file
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
	npm ci --no-audit --no-fund >&2 || fail_setup "npm ci failed"
fi

if [ $asan = 1 ]; then
	make -C "$repo/bridge" asan >&2 || fail_setup "building the bridge failed"
	bin=$repo/bridge/laniakea-bridge-asan
	# abort_on_error=0: a report must not hide the rest of the run; the logs are checked
	export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0
	export UBSAN_OPTIONS=print_stacktrace=1
else
	make -C "$repo/bridge" >&2 || fail_setup "building the bridge failed"
	bin=$repo/bridge/laniakea-bridge
fi

sharedir=$(pg_config --sharedir)
[ -f "$sharedir/extension/laniakea.control" ] ||
	fail_setup "the extension is not installed: run 'make && make install' in $repo"

work=$(mktemp -d /tmp/lk-bridge-test.XXXXXX)
chmod 755 "$work"
logs=$work/logs
mkdir -p "$logs"
pg_dir=$work/pg

cleanup() {
	# bridges a crashed test left behind: only our own binary, by pid
	if [ -f "$logs/bridge.pids" ]; then
		while read -r pid; do
			if [ "$(readlink "/proc/$pid/exe" 2>/dev/null)" = "$(readlink -f "$bin")" ]; then
				kill -KILL "$pid" 2>/dev/null
			fi
		done <"$logs/bridge.pids"
	fi
	if [ -f "$logs/clusters" ]; then
		while read -r dir; do "$repo/scripts/cluster.sh" stop "$dir" >/dev/null 2>&1; done <"$logs/clusters"
	fi
	"$repo/scripts/cluster.sh" stop "$pg_dir" >/dev/null 2>&1
}
trap cleanup EXIT

# a free port in 58000-58999 for the cluster
pg_port=
for _ in $(seq 1 20); do
	p=$((58000 + RANDOM % 1000))
	(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null && continue
	if "$repo/scripts/cluster.sh" start "$pg_dir" "$p" -c wal_level=logical >/dev/null 2>"$work/cluster.err"; then
		pg_port=$p
		break
	fi
done
[ -n "$pg_port" ] || fail_setup "cannot start PostgreSQL: $(cat "$work/cluster.err")"

psql_q() { psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$pg_port" -U postgres "$@"; }
psql_q -d postgres -c "CREATE DATABASE lk_bridge_test" >/dev/null || fail_setup "CREATE DATABASE failed"
psql_q -d lk_bridge_test -f "$here/schema.sql" >/dev/null || fail_setup "loading schema.sql failed"

export DATABASE_URL="postgresql://postgres@127.0.0.1:$pg_port/lk_bridge_test"
export LK_BRIDGE_BIN=$bin
export LK_LOG_DIR=$logs
export LK_ASAN=$asan

if [ $# -gt 0 ]; then files=("$@"); else files=(*.test.mjs); fi
# delivery, deletes, notifications and resyncs: these run under both sources
WAL_FILES=" join.test.mjs push.test.mjs deletes.test.mjs notify.test.mjs catalog.test.mjs resilience.test.mjs profile.test.mjs wal.test.mjs "
wal_files=()
notify_files=()
for f in "${files[@]}"; do
	[[ "$WAL_FILES" == *" $(basename "$f") "* ]] && wal_files+=("$f")
	# wal.test.mjs chooses its bridges' sources itself
	[ "$(basename "$f")" = wal.test.mjs ] || notify_files+=("$f")
done

start=$(date +%s)
: >"$work/results.txt"
node_rc=0
# One file at a time: the timing tests (profile rates, latency under a flood)
# need the machine to themselves.  --test-force-exit: a failed test must not
# hang the run on a client left reconnecting (teardown() also closes them);
# --test-timeout: nor may a test that waits forever.
run_pass() { # source files...
	local source=$1
	shift
	[ $# -gt 0 ] || return 0
	echo "run.sh: --source $source: $*" >&2
	LK_SOURCE=$source node --test --test-concurrency=1 --test-force-exit --test-timeout=180000 \
		--test-reporter=spec "$@" | tee -a "$work/results.txt"
	local rc=${PIPESTATUS[0]}
	[ "$rc" = 0 ] || node_rc=$rc
}
case "${LK_SOURCE:-}" in
notify | wal) run_pass "$LK_SOURCE" "${files[@]}" ;;
*)
	run_pass notify "${notify_files[@]}"
	run_pass wal "${wal_files[@]}"
	;;
esac
elapsed=$(($(date +%s) - start))

# the spec reporter's summary (a TAP file would be cut short by --test-force-exit)
count() { sed -n "s/^ℹ $1 \([0-9]*\)\$/\1/p" "$work/results.txt" | awk '{ n += $1 } END { print n + 0 }'; }
passed=$(count pass)
failed=$(count fail)
cancelled=$(count cancelled)
todo=$(count todo)
passed=${passed:-0}
# a test marked todo is a known defect: it counts as failed until it is fixed
failed=$((${failed:-0} + ${cancelled:-0} + ${todo:-0}))
if [ "$node_rc" != 0 ] && [ "$failed" = 0 ]; then
	echo "run.sh: node --test exited with $node_rc" >&2
	failed=1
fi

# every bridge log: a sanitizer report fails the run even if no test noticed it
for f in "$logs"/*.log; do
	[ -f "$f" ] || continue
	if grep -qE 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:' "$f"; then
		echo "run.sh: sanitizer report in $(basename "$f"):" >&2
		grep -E -A 30 'ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:' "$f" | head -n 60 >&2
		failed=$((failed + 1))
	fi
done

if [ "$failed" != 0 ]; then
	kept=/tmp/lk-bridge-test-logs.$$
	cp -r "$logs" "$kept"
	echo "run.sh: bridge logs kept in $kept" >&2
fi
cleanup
trap - EXIT
rm -rf "$work"
echo "run.sh: ${elapsed}s" >&2
[ "${todo:-0}" = 0 ] || echo "run.sh: ${todo} todo (known defects, marked # TODO above), counted as failed" >&2
echo "$label: $passed passed, $failed failed"
[ "$failed" = 0 ]
