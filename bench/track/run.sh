#!/usr/bin/env bash
# Deltas out, replicas in: what tracking a table costs an increment, and what NOTIFY itself costs.
#
#   bench/track/run.sh            # ≈4 min; env: DUR=8 ROUNDS=3 ROWS=10000 PGPORT_BENCH=60110 CLIENTS="2 8"
#
# Starts a private PostgreSQL 15 cluster (fsync=on) under /tmp, runs pgbench -M prepared
# on five variants, interleaved round by round so background load hits all of them alike,
# prints a table (median TPS of the rounds, ratio to the plain bigint increment, NOTIFYs
# per transaction), stops the cluster. Outputs go to bench/out/track-<stamp>/.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd); root=$(cd "$here/../.." && pwd)
DUR=${DUR:-8}; ROUNDS=${ROUNDS:-3}; ROWS=${ROWS:-10000}; PORT=${PGPORT_BENCH:-60110}
CLIENTS=${CLIENTS:-"2 8"}; SYNC_ON_CLIENTS=${SYNC_ON_CLIENTS:-2}
ulimit -n "$(ulimit -Hn)"
stamp=$(date -u +%Y%m%dT%H%M%SZ); out=$root/bench/out/track-$stamp; mkdir -p "$out"
dir=$(mktemp -d /tmp/lk-track.XXXXXX)
cleanup() { "$root/scripts/cluster.sh" stop "$dir" >/dev/null 2>&1 || true; rm -rf "$dir"; }
trap cleanup EXIT
"$root/scripts/cluster.sh" start "$dir" "$PORT" -c fsync=on -c max_connections=50 -c shared_buffers=128MB >/dev/null
export PGHOST=$dir/sock PGPORT=$PORT PGUSER=postgres PGDATABASE=postgres
psql -qX -v ON_ERROR_STOP=1 >/dev/null <<SQL
CREATE EXTENSION laniakea;
CREATE TABLE t_tracked (id int PRIMARY KEY, c gcounter NOT NULL);
CREATE TABLE t_untracked (id int PRIMARY KEY, c gcounter NOT NULL);
CREATE TABLE t_plain (id int PRIMARY KEY, n bigint NOT NULL);
CREATE TABLE t_notify (id int PRIMARY KEY, n bigint NOT NULL);
INSERT INTO t_tracked SELECT g, '{"n0":1}'::gcounter FROM generate_series(1, $ROWS) g;
INSERT INTO t_untracked SELECT * FROM t_tracked;
INSERT INTO t_plain SELECT g, 1 FROM generate_series(1, $ROWS) g;
INSERT INTO t_notify SELECT * FROM t_plain;
SELECT laniakea.track('t_tracked');
-- the NOTIFY ceiling: a per-row trigger that does nothing but pg_notify
CREATE FUNCTION notify_row() RETURNS trigger LANGUAGE plpgsql AS
  \$\$BEGIN PERFORM pg_notify('x', NEW.id::text || ':' || NEW.n::text); RETURN NEW; END\$\$;
CREATE TRIGGER t_notify_row AFTER UPDATE ON t_notify FOR EACH ROW EXECUTE FUNCTION notify_row();
VACUUM ANALYZE;
CHECKPOINT;
SQL
declare -A SQLS=(
  [tracked]="UPDATE t_tracked SET c = increment(c, 'n1', 1) WHERE id = :id;"
  [untracked]="UPDATE t_untracked SET c = increment(c, 'n1', 1) WHERE id = :id;"
  [plain_bigint]="UPDATE t_plain SET n = n + 1 WHERE id = :id;"
  [notify_trigger]="UPDATE t_notify SET n = n + 1 WHERE id = :id;"
)
VARIANTS="tracked untracked plain_bigint notify_trigger"
for v in $VARIANTS; do printf '\\set id random(1, %d)\n%s\n' "$ROWS" "${SQLS[$v]}" >"$out/$v.sql"; done

# NOTIFYs per transaction: a listener counts what 20 single-row transactions send.
notifies_per_tx() { # table channel sql
  local n
  n=$(psql -X -v ON_ERROR_STOP=1 2>&1 <<SQL | grep -c 'Asynchronous notification' || true
LISTEN "$2";
\! for i in \$(seq 1 20); do psql -qX -c "$3" >/dev/null; done
SELECT 1;
SQL
)
  awk -v n="$n" 'BEGIN { printf "%.2f", n / 20 }'
}
declare -A NPT
NPT[tracked]=$(notifies_per_tx t_tracked laniakea "UPDATE t_tracked SET c = increment(c, 'n1', 1) WHERE id = 7")
NPT[untracked]=$(notifies_per_tx t_untracked laniakea "UPDATE t_untracked SET c = increment(c, 'n1', 1) WHERE id = 7")
NPT[plain_bigint]=0.00
NPT[notify_trigger]=$(notifies_per_tx t_notify x "UPDATE t_notify SET n = n + 1 WHERE id = 7")

loadavg() { cut -d' ' -f1 /proc/loadavg; }
run_one() { # variant clients sync
  local v=$1 c=$2 s=$3 f="$out/$1-c$2-sync$3-r$4.log" tps
  PGOPTIONS="-c synchronous_commit=$s" pgbench -n -M prepared -c "$c" -j "$c" -T "$DUR" -f "$out/$v.sql" >"$f" 2>&1 ||
    { echo "pgbench failed for $v:" >&2; tail "$f" >&2; exit 1; }
  tps=$(sed -n 's/^tps = \([0-9.]*\) (without.*/\1/p' "$f")
  echo "$v $c $s $4 $tps $(loadavg)" >>"$out/raw.txt"
}
configs=()
for c in $CLIENTS; do configs+=("$c off $ROUNDS"); done
for c in $SYNC_ON_CLIENTS; do configs+=("$c on 1"); done
echo "# bench/track $(date -u +%FT%TZ) rows=$ROWS dur=${DUR}s rounds=$ROUNDS nproc=$(nproc) load_before=$(cat /proc/loadavg | cut -d' ' -f1-3)" | tee "$out/table.md"
for cfg in "${configs[@]}"; do
  read -r c s r <<<"$cfg"
  for round in $(seq 1 "$r"); do
    # rotate the order each round so no variant always runs first/last
    set -- $VARIANTS; for _ in $(seq 2 "$round"); do set -- "${@:2}" "$1"; done
    for v in "$@"; do run_one "$v" "$c" "$s" "$round"; done
  done
done
median() { sort -n | awk '{a[NR]=$1} END { if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2 }'; }
{
  echo
  echo "| clients | sync_commit | variant | TPS median (min–max, n) | ratio to plain bigint | NOTIFYs/tx | load avg during |"
  echo "|---|---|---|---|---|---|---|"
  for cfg in "${configs[@]}"; do
    read -r c s r <<<"$cfg"
    base=$(awk -v c="$c" -v s="$s" '$1=="plain_bigint" && $2==c && $3==s {print $5}' "$out/raw.txt" | median)
    for v in $VARIANTS; do
      vals=$(awk -v v="$v" -v c="$c" -v s="$s" '$1==v && $2==c && $3==s {print $5}' "$out/raw.txt")
      med=$(echo "$vals" | median); mn=$(echo "$vals" | sort -n | head -1); mx=$(echo "$vals" | sort -n | tail -1)
      la=$(awk -v v="$v" -v c="$c" -v s="$s" '$1==v && $2==c && $3==s {printf "%s ", $6}' "$out/raw.txt")
      printf "| %s | %s | %s | %.0f (%.0f–%.0f, %d) | %.2f | %s | %s|\n" "$c" "$s" "$v" "$med" "$mn" "$mx" "$r" \
        "$(awk -v a="$med" -v b="$base" 'BEGIN{print a/b}')" "${NPT[$v]}" "$la"
    done
  done
  echo
  echo "load_after=$(cut -d' ' -f1-3 /proc/loadavg); raw per-round figures: $out/raw.txt"
} | tee -a "$out/table.md"
