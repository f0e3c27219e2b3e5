#!/usr/bin/env bash
# Hostile SQL against the extension: sqlsmith (Debian's package) generates
# random queries — every function, operator, aggregate and cast it finds in
# the catalog, DML on the tables — against a database holding a tracked
# table and an untracked one of every CRDT type, for a bounded time.
#
#   test/fuzz-sql/run.sh          (make fuzz-sql)
#
# FUZZ_SQL_SECONDS  how long sqlsmith runs                     [300]
# FUZZ_SQL_BATCH    queries per sqlsmith session               [2000]
# FUZZ_SQL_SEED     seed of the first session (then +1 each)   [the time]
# FUZZ_SQL_KEEP=1   keep the cluster directory and its log
#
# Starts a private cluster of its own (scripts/cluster.sh; a crash must not
# disturb anything else), runs sqlsmith sessions one after another until the
# time is up, then checks that the server still answers and every stored
# state still reads.  A crash is a server process dying (the postmaster
# reports it and goes through crash recovery), found in the server log; SQL
# errors are expected and only counted.  Prints the queries that crashed a
# backend, and ends with "fuzz-sql: N passed, N failed": one check per
# sqlsmith session (failed if the server crashed during it) and the final
# check.  Types are found in the catalog: a new CRDT type gets its tables by
# itself; samples/<type>.sql fills them (without one, rows hold '{}').
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/../.." && pwd)
SECONDS_WANTED=${FUZZ_SQL_SECONDS:-300}
BATCH=${FUZZ_SQL_BATCH:-2000}
seed=${FUZZ_SQL_SEED:-$(date +%s)}

fail() {
	echo "fuzz-sql: $*"
	echo "fuzz-sql: 0 passed, 1 failed"
	exit 1
}

command -v sqlsmith >/dev/null || fail "sqlsmith not found (apt-get install sqlsmith)"
export PATH=${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH

work=$(mktemp -d /tmp/laniakea-fuzz-sql.XXXXXX)
chmod 711 "$work"
cleanup() {
	bash "$top/scripts/cluster.sh" stop "$work/pg" >/dev/null 2>&1
	if [ "${FUZZ_SQL_KEEP:-0}" = 1 ]; then echo "fuzz-sql: kept $work"; else rm -rf "$work"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# client_connection_check_interval: a backend whose sqlsmith was stopped
# notices and ends its query instead of running it to the timeout
port=$(bash "$top/scripts/cluster.sh" start "$work/pg" "" -c client_connection_check_interval=1s) ||
	fail "the cluster did not start"
log=$work/pg/postgres.log
sock=$work/pg/sock
psql_su() { psql -X -q -v ON_ERROR_STOP=1 -h "$sock" -p "$port" -U postgres "$@"; }

# ---- the database: role fuzz owns every table, is no superuser ----
psql_su -d postgres >/dev/null <<'SQL' || fail "setup failed"
CREATE ROLE fuzz LOGIN;
CREATE DATABASE fuzz OWNER fuzz;
SQL
psql_su -d fuzz >/dev/null <<'SQL' || fail "setup failed"
CREATE EXTENSION laniakea;
GRANT USAGE ON SCHEMA laniakea TO fuzz;
-- a generated query may run long or build a lot; a second is plenty
ALTER ROLE fuzz IN DATABASE fuzz SET statement_timeout = '1s';
ALTER ROLE fuzz IN DATABASE fuzz SET work_mem = '16MB';
SQL
types=$(psql_su -d fuzz -At -c "
	SELECT t.typname FROM pg_type t
	JOIN pg_depend d ON d.classid = 'pg_type'::regclass AND d.objid = t.oid AND d.deptype = 'e'
	JOIN pg_extension e ON e.oid = d.refobjid AND e.extname = 'laniakea'
	WHERE t.typtype = 'b' AND t.typelem = 0 ORDER BY 1") || fail "could not list the types"
[ -n "$types" ] || fail "the extension has no types"
all_cols=()
for t in $types; do
	all_cols+=("$t $t")
	psql_su -d fuzz >/dev/null <<SQL || fail "setup of $t failed"
CREATE TABLE fuzz_$t (id int PRIMARY KEY, v $t, w $t NOT NULL DEFAULT '{}', note text);
SELECT laniakea.track('fuzz_$t');
SQL
	if [ -f "$here/samples/$t.sql" ]; then
		psql_su -d fuzz -f "$here/samples/$t.sql" >/dev/null || fail "samples/$t.sql failed"
	else
		echo "fuzz-sql: no samples/$t.sql: fuzz_$t holds empty states only"
		psql_su -d fuzz -c "INSERT INTO fuzz_$t (id, v) SELECT i, '{}' FROM generate_series(1, 20) i" >/dev/null ||
			fail "rows of fuzz_$t failed"
	fi
	psql_su -d fuzz -c "ALTER TABLE fuzz_$t OWNER TO fuzz" >/dev/null || fail "owner of fuzz_$t"
done
# every type side by side in one untracked table: no triggers between the
# queries and the functions
cols=$(IFS=,; echo "${all_cols[*]}")
psql_su -d fuzz >/dev/null <<SQL || fail "setup of fuzz_all failed"
CREATE TABLE fuzz_all (id int PRIMARY KEY, $cols);
INSERT INTO fuzz_all (id) SELECT i FROM generate_series(1, 200) i;
$(for t in $types; do echo "UPDATE fuzz_all a SET $t = f.v FROM fuzz_$t f WHERE f.id = a.id;"; done)
ALTER TABLE fuzz_all OWNER TO fuzz;
VACUUM ANALYZE;
SQL

crashes_in_log() { grep -c 'terminating any other active server processes' "$log"; }

# Waits until the server accepts connections again (after a crash).
wait_up() {
	local i
	for ((i = 0; i < 120; i++)); do
		pg_isready -q -h "$sock" -p "$port" -d fuzz && return 0
		sleep 0.5
	done
	return 1
}

# ---- the sessions ----
passed=0 failed=0 sessions=0
ok=0 errors=0 timeouts=0 syntax=0 lost=0
start=$(date +%s)
echo "fuzz-sql: types: $(echo $types), sqlsmith for ${SECONDS_WANTED}s, $BATCH queries per session, first seed $seed"
while :; do
	left=$((start + SECONDS_WANTED - $(date +%s)))
	[ "$left" -gt 0 ] || break
	sessions=$((sessions + 1))
	before=$(crashes_in_log)
	# the progress line goes to stderr, one character per query
	timeout -s INT "$left" sqlsmith --target="host=$sock port=$port dbname=fuzz user=fuzz" \
		--exclude-catalog --verbose --seed="$seed" --max-queries="$BATCH" \
		>"$work/session-$sessions.out" 2>"$work/session-$sessions.err"
	progress=$(sed -n '/^Generating indexes/,/^queries:/p' "$work/session-$sessions.err" | grep -v '^Generating\|^queries:' | tr -d '\n')
	c() { tr -cd "$1" <<<"$progress" | wc -c; }
	ok=$((ok + $(c .)))
	errors=$((errors + $(c e)))
	timeouts=$((timeouts + $(c t)))
	syntax=$((syntax + $(c S)))
	lost=$((lost + $(c C)))
	wait_up || { echo "fuzz-sql: the server does not come back"; failed=$((failed + 1)); break; }
	after=$(crashes_in_log)
	if [ "$after" -gt "$before" ]; then
		echo "fuzz-sql: session $sessions (seed $seed): $((after - before)) crash(es)"
		failed=$((failed + 1))
	else
		passed=$((passed + 1))
	fi
	seed=$((seed + 1))
done
elapsed=$(($(date +%s) - start))
crashes=$(crashes_in_log)

# ---- afterwards: the server answers, and every stored state still reads ----
final=ok
for t in $types; do
	r=$(psql_su -d fuzz -At -c "SELECT count(*) FROM (SELECT v::text, w::text, merge(w, w)::text FROM fuzz_$t) s;
		SELECT count(*) FROM (SELECT merge_agg(v)::text, merge_agg(w)::text FROM fuzz_$t) s" 2>&1 | tr '\n' ' ') ||
		final="reading fuzz_$t failed: $r"
done
if pg_isready -q -h "$sock" -p "$port" && [ "$final" = ok ]; then
	passed=$((passed + 1))
else
	echo "fuzz-sql: after the run: ${final/ok/the server is down}"
	failed=$((failed + 1))
fi

if [ "$crashes" -gt 0 ]; then
	echo "fuzz-sql: what the server log says about the crashes:"
	grep -E 'terminated by signal|terminated by exception|exited with exit code|Failed process was running' "$log" | head -n 40
	cp "$log" "$top/fuzz-sql-postgres.log" 2>/dev/null && echo "fuzz-sql: server log copied to fuzz-sql-postgres.log"
fi
echo "fuzz-sql: $sessions sessions in ${elapsed}s: $((ok + errors + timeouts + syntax + lost)) queries," \
	"$ok ok, $errors SQL errors, $timeouts timeouts, $syntax syntax errors, $lost connections lost; crashes: $crashes"
echo "fuzz-sql: $passed passed, $failed failed"
[ "$failed" = 0 ]
