#!/usr/bin/env bash
# bench/ab.sh — measure a source change before committing it: A/B of two builds.
#
#   bash bench/ab.sh PATCH...          A = git HEAD, B = HEAD with the patches applied
#   LK_AB_BASE=<rev> bash bench/ab.sh PATCH...
#
# Builds A and B from `git archive` into temporary directories (the work tree
# and the installed extension are not touched), starts a private cluster, loads
# each build's install script into its own database with MODULE_PATHNAME
# pointing at that build's .so, loads the same data into both, then runs the
# queries below in interleaved sessions (A, B, A, B, …) and prints, per build,
# the median wall time (EXPLAIN ANALYZE) and the median time the backend was on
# a CPU (/proc/self/schedstat; not inflated by other load on the machine).
# Results must agree between A and B (md5 of the output), or the run fails.
#
# Tables: g (id, c gcounter, n bigint) of 8-node states and gm of node subsets;
# gj, the shape of bench/run.sh's g (id, c, j jsonb, n): the same states with
# their jsonb peer between c and n, where a wide row makes c's bytes a cache
# miss; gw of 65,536 one-node rows; o, two orsets.
#
# Knobs: LK_AB_ROWS [1000000], LK_AB_ROUNDS [4], LK_AB_RUNS [3],
#        LK_AB_ORSET_N [100000], LK_AB_WIDE [65536: rows of gw, one node each],
#        LK_AB_PORT [first free from 56100],
#        LK_AB_QUERIES (a file of "name<TAB>query" lines; default: the set below).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
base=${LK_AB_BASE:-HEAD}
ROWS=${LK_AB_ROWS:-1000000}
ROUNDS=${LK_AB_ROUNDS:-4}
RUNS=${LK_AB_RUNS:-3}
ORSET_N=${LK_AB_ORSET_N:-100000}
WIDE=${LK_AB_WIDE:-65536}
[ $# -ge 1 ] || { echo "usage: bash bench/ab.sh PATCH..." >&2; exit 2; }

die() { echo "ab: FAILED: $*" >&2; exit 1; }

work=$(mktemp -d /tmp/lk-ab.XXXXXX)
chmod 755 "$work"
cdir=$work/cluster
started=0
cleanup() {
	local rc=$?
	if [ "$started" = 1 ]; then bash "$root/scripts/cluster.sh" stop "$cdir" || true; fi
	rm -rf "$work"
	exit $rc
}
trap cleanup EXIT

for v in A B; do
	mkdir -p "$work/$v"
	git -C "$root" archive "$base" | tar -x -C "$work/$v"
done
for p in "$@"; do
	patch -d "$work/B" -p1 --quiet <"$(cd "$(dirname "$p")" && pwd)/$(basename "$p")" || die "patch $p does not apply to $base"
done
for v in A B; do
	make -C "$work/$v" -j2 >"$work/$v.build.log" 2>&1 || { tail -n 20 "$work/$v.build.log" >&2; die "build $v failed"; }
done

port=${LK_AB_PORT:-56100}
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
bash "$root/scripts/cluster.sh" start "$cdir" "$port" -c fsync=on -c shared_buffers=2GB \
	-c max_parallel_workers_per_gather=0 >/dev/null
started=1
export PGOPTIONS="-c statement_timeout=300s"
q() { psql -X -q -v ON_ERROR_STOP=1 -h "$cdir/sock" -p "$port" -U postgres "$@"; }

for v in A B; do
	q -d postgres -c "CREATE DATABASE \"ab_$v\""
	# the install script as CREATE EXTENSION would run it, minus what only an
	# extension script may do
	sed -e "s|MODULE_PATHNAME|$work/$v/laniakea|" -e '/^\\echo/d' -e '/pg_extension_config_dump/d' \
		"$work/$v/laniakea--0.1.sql" | q -d "ab_$v" >"$work/$v.install.log" 2>&1 ||
		{ tail -n 5 "$work/$v.install.log" >&2; die "install script of $v does not load"; }
done

half=$((ORSET_N / 2))
q -d ab_A >/dev/null <<SQL
SELECT setseed(0.42);
CREATE TABLE g (id int PRIMARY KEY, c gcounter NOT NULL, n bigint NOT NULL);
INSERT INTO g SELECT i, format('{"node-1":%s,"node-2":%s,"node-3":%s,"node-4":%s,"node-5":%s,"node-6":%s,"node-7":%s,"node-8":%s}',
	1 + floor(random() * 1e6)::bigint, 1 + floor(random() * 1e6)::bigint, 1 + floor(random() * 1e6)::bigint,
	1 + floor(random() * 1e6)::bigint, 1 + floor(random() * 1e6)::bigint, 1 + floor(random() * 1e6)::bigint,
	1 + floor(random() * 1e6)::bigint, 1 + floor(random() * 1e6)::bigint)::gcounter, 0
FROM generate_series(1, $ROWS) i;
UPDATE g SET n = value(c);
CREATE TABLE gm (id int PRIMARY KEY, c gcounter NOT NULL, n bigint NOT NULL);
INSERT INTO gm SELECT i, ('{' || concat_ws(',',
	CASE WHEN random() < 0.5 THEN '"node-1":' || (1 + floor(random() * 1e6)::bigint) END,
	CASE WHEN random() < 0.5 THEN '"node-2":' || (1 + floor(random() * 1e6)::bigint) END,
	CASE WHEN random() < 0.5 THEN '"node-3":' || (1 + floor(random() * 1e6)::bigint) END,
	CASE WHEN random() < 0.5 THEN '"node-4":' || (1 + floor(random() * 1e6)::bigint) END,
	CASE WHEN random() < 0.5 THEN '"node-5":' || (1 + floor(random() * 1e6)::bigint) END,
	CASE WHEN random() < 0.5 THEN '"node-6":' || (1 + floor(random() * 1e6)::bigint) END,
	CASE WHEN random() < 0.5 THEN '"node-7":' || (1 + floor(random() * 1e6)::bigint) END,
	CASE WHEN random() < 0.5 THEN '"node-8":' || (1 + floor(random() * 1e6)::bigint) END) || '}')::gcounter, 0
FROM generate_series(1, $ROWS) i;
UPDATE gm SET n = value(c);
-- gj: bench/run.sh's g, built by the same statement
SELECT setseed(0.42);
CREATE TABLE gj (id int PRIMARY KEY, c gcounter NOT NULL, j jsonb NOT NULL, n bigint NOT NULL);
INSERT INTO gj
SELECT i, j::text::gcounter, j, a1 + a2 + a3 + a4 + a5 + a6 + a7 + a8
FROM (SELECT i, a1, a2, a3, a4, a5, a6, a7, a8,
             jsonb_build_object('node-1', a1, 'node-2', a2, 'node-3', a3, 'node-4', a4,
                                'node-5', a5, 'node-6', a6, 'node-7', a7, 'node-8', a8) AS j
      FROM (SELECT i,
                   1 + floor(random() * 1e6)::bigint AS a1, 1 + floor(random() * 1e6)::bigint AS a2,
                   1 + floor(random() * 1e6)::bigint AS a3, 1 + floor(random() * 1e6)::bigint AS a4,
                   1 + floor(random() * 1e6)::bigint AS a5, 1 + floor(random() * 1e6)::bigint AS a6,
                   1 + floor(random() * 1e6)::bigint AS a7, 1 + floor(random() * 1e6)::bigint AS a8
            FROM generate_series(1, $ROWS) i) s) t;
-- gw: every row names its own node, in an order unrelated to the ids' order
CREATE TABLE gw (id int PRIMARY KEY, c gcounter NOT NULL);
INSERT INTO gw SELECT i, format('{"w%s":%s}', i, i)::gcounter FROM generate_series(1, $WIDE) i ORDER BY md5(i::text);
CREATE TABLE o (id int PRIMARY KEY, a orset NOT NULL, b orset NOT NULL);
INSERT INTO o SELECT 1,
	(SELECT '{"c":{"node-a":[[1,$ORSET_N]]},"e":{'
	        || string_agg(format('"el-%s":{"node-a":[%s]}', lpad(i::text, 7, '0'), i + 1), ',' ORDER BY i) || '}}'
	 FROM generate_series(0, $ORSET_N - 1) i)::orset,
	(SELECT '{"c":{"node-a":[[1,$half]],"node-b":[[1,$ORSET_N]]},"e":{'
	        || string_agg(format('"el-%s":{"node-b":[%s]}', lpad(i::text, 7, '0'), i - $half + 1), ',' ORDER BY i) || '}}'
	 FROM generate_series($half, $half + $ORSET_N - 1) i)::orset;
SQL
for t in g gm gj gw o; do q -d ab_A -c "\\copy $t TO '$work/$t.copy'"; done
q -d ab_B >/dev/null <<SQL
CREATE TABLE g (id int PRIMARY KEY, c gcounter NOT NULL, n bigint NOT NULL);
CREATE TABLE gm (id int PRIMARY KEY, c gcounter NOT NULL, n bigint NOT NULL);
CREATE TABLE gj (id int PRIMARY KEY, c gcounter NOT NULL, j jsonb NOT NULL, n bigint NOT NULL);
CREATE TABLE gw (id int PRIMARY KEY, c gcounter NOT NULL);
CREATE TABLE o (id int PRIMARY KEY, a orset NOT NULL, b orset NOT NULL);
\\copy g FROM '$work/g.copy'
\\copy gm FROM '$work/gm.copy'
\\copy gj FROM '$work/gj.copy'
\\copy gw FROM '$work/gw.copy'
\\copy o FROM '$work/o.copy'
SQL
for v in A B; do q -d "ab_$v" -c "VACUUM (FREEZE, ANALYZE)"; done

queries=$work/queries.tsv
if [ -n "${LK_AB_QUERIES:-}" ]; then
	cp "$LK_AB_QUERIES" "$queries"
else
	printf '%s\t%s\n' \
		"sum(n), 8 nodes (reference)" "SELECT sum(n) FROM g" \
		"merge_agg, 8 nodes" "SELECT merge_agg(c) FROM g" \
		"merge_agg, node subsets" "SELECT merge_agg(c) FROM gm" \
		"sum(n), run.sh's g" "SELECT sum(n) FROM gj" \
		"merge_agg, run.sh's g" "SELECT merge_agg(c) FROM gj" \
		"merge_agg, $WIDE nodes" "SELECT merge_agg(c) FROM gw" \
		"orset a || b" "SELECT pg_column_size(a || b) FROM o" \
		"orset decode a, b" "SELECT cardinality(a) + cardinality(b) FROM o" \
		"increment, 10k calls" "SELECT count(increment(c, 'node-1', 1)) FROM g WHERE id <= 10000" >"$queries"
fi

# results must not depend on the build
while IFS=$'\t' read -r name query; do
	a=$(q -d ab_A -At -c "SELECT md5(string_agg(x::text, ',')) FROM ($query) x")
	b=$(q -d ab_B -At -c "SELECT md5(string_agg(x::text, ',')) FROM ($query) x")
	[ "$a" = "$b" ] || die "A and B disagree on: $name"
done <"$queries"

raw=$work/raw.tsv
: >"$raw"
for ((r = 1; r <= ROUNDS; r++)); do
	while IFS=$'\t' read -r name query; do
		for v in A B; do
			{
				echo "SELECT count(*) FROM g;"
				echo "$query \\g /dev/null"
				for ((i = 1; i <= RUNS; i++)); do
					echo "SELECT 'SCHED0 ' || pg_read_file('/proc/self/schedstat');"
					echo "EXPLAIN (ANALYZE, TIMING OFF) $query;"
					echo "SELECT 'SCHED1 ' || pg_read_file('/proc/self/schedstat');"
				done
			} | q -d "ab_$v" -At | awk -v n="$name" -v v="$v" '
				/^SCHED0 / { c = $2 }
				/Execution Time:/ { ms = $(NF - 1) }
				/^SCHED1 / { printf "%s\t%s\t%s\t%.3f\n", n, v, ms, ($2 - c) / 1e6 }' >>"$raw"
		done
	done <"$queries"
done

median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
echo "A = $base ($(git -C "$root" rev-parse --short "$base")), B = A + $*"
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg); $ROUNDS rounds × $RUNS runs, serial"
echo
printf '| %-28s | %-12s | %-12s | %-12s | %-12s | %-12s |\n' query "A wall ms" "B wall ms" "A on-CPU ms" "B on-CPU ms" "B/A on-CPU"
printf '|%s|%s|%s|%s|%s|%s|\n' "------------------------------" "--------------" "--------------" "--------------" "--------------" "--------------"
while IFS=$'\t' read -r name query; do
	aw=$(awk -F'\t' -v n="$name" '$1 == n && $2 == "A" { print $3 }' "$raw" | median)
	bw=$(awk -F'\t' -v n="$name" '$1 == n && $2 == "B" { print $3 }' "$raw" | median)
	ac=$(awk -F'\t' -v n="$name" '$1 == n && $2 == "A" { print $4 }' "$raw" | median)
	bc=$(awk -F'\t' -v n="$name" '$1 == n && $2 == "B" { print $4 }' "$raw" | median)
	printf '| %-28s | %12.1f | %12.1f | %12.1f | %12.1f | %11.0f%% |\n' "$name" "$aw" "$bw" "$ac" "$bc" \
		"$(awk -v a="$ac" -v b="$bc" 'BEGIN { print 100 * b / a }')"
done <"$queries"
