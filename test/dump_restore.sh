#!/usr/bin/env bash
# pg_dump / restore round trips of a table holding all four types, in the
# custom (binary COPY inside) and plain (text COPY) formats.  Every restored
# row must be byte-equal to the original.
#   test/dump_restore.sh SOCKET_DIR PORT
# Prints one line per case and "dump_restore: N passed, N failed".
set -uo pipefail
sock=$1 port=$2
export PGHOST=$sock PGPORT=$port PGUSER=postgres PGOPTIONS='-c client_min_messages=warning'
psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
passed=0 failed=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

psql -d postgres -c "DROP DATABASE IF EXISTS lk_dump_src" -c "CREATE DATABASE lk_dump_src"
psql -d lk_dump_src <<'SQL'
CREATE EXTENSION laniakea;
CREATE TABLE crdts (id int PRIMARY KEY, g gcounter, p pncounter, s orset, r lwwreg);
INSERT INTO crdts
	SELECT i,
		increment(increment('{}'::gcounter, 'node-' || (i % 7), i), E'nöde "quoted"\\', 1),
		decrement(increment('{}'::pncounter, 'a', i), 'b', 9223372036854775807),
		remove(add(add('{}'::orset, E'line\nbreak ' || i, 'n' || (i % 3)), 'é' || i, 'm'), 'é' || (i - 1)),
		set('{}'::lwwreg, E'tab\t"é" ' || repeat('v', i), 'n' || (i % 3), 1700000000000000 + i)
	FROM generate_series(1, 500) i;
INSERT INTO crdts VALUES (0, NULL, NULL, NULL, NULL), (-1, '{}', '{}', '{}', '{}');
SQL

fingerprint() {
	psql -d "$1" -At -c "SELECT md5(string_agg(id || ':' || coalesce(encode(gcounter_send(g), 'hex'), 'null') || ':'
		|| coalesce(encode(pncounter_send(p), 'hex'), 'null') || ':'
		|| coalesce(encode(orset_send(s), 'hex'), 'null') || ':'
		|| coalesce(encode(lwwreg_send(r), 'hex'), 'null'), ',' ORDER BY id)) FROM crdts"
}
want=$(fingerprint lk_dump_src)

check() {
	local name=$1 db=$2
	local got
	got=$(fingerprint "$db" 2>&1)
	if [ "$got" = "$want" ] && [ -n "$want" ]; then
		echo "ok - $name"
		passed=$((passed + 1))
	else
		echo "not ok - $name: fingerprint $got, want $want"
		failed=$((failed + 1))
	fi
}

for fmt in custom plain; do
	db=lk_dump_$fmt
	psql -d postgres -c "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
	if [ $fmt = custom ]; then
		pg_dump -Fc -d lk_dump_src -f "$work/dump.$fmt" && pg_restore -d $db "$work/dump.$fmt"
	else
		pg_dump -Fp -d lk_dump_src -f "$work/dump.$fmt" && psql -d $db -f "$work/dump.$fmt" >/dev/null
	fi
	check "dump_restore_${fmt}_format_is_byte_identical" $db
	psql -d postgres -c "DROP DATABASE $db"
done
psql -d postgres -c "DROP DATABASE lk_dump_src"
echo "dump_restore: $passed passed, $failed failed"
[ "$failed" = 0 ]
