#!/usr/bin/env bash
# The README's quick start is the file examples/quickstart.sql, and it runs
# without error in a fresh database.  Needs PGHOST/PGPORT/PGUSER.
set -uo pipefail
cd "$(dirname "$0")/.."
export PGOPTIONS='-c client_min_messages=warning'
passed=0 failed=0
result() {
	if [ "$2" = 0 ]; then echo "ok - $1"; passed=$((passed + 1)); else echo "not ok - $1"; failed=$((failed + 1)); fi
}

block=$(awk '/^```sql$/ {on=1; next} /^```$/ {on=0} on' README.md)
[ "$block" = "$(cat examples/quickstart.sql)" ]
result readme_quick_start_is_examples_quickstart $?

psql -X -q -d postgres -c "DROP DATABASE IF EXISTS lk_readme" -c "CREATE DATABASE lk_readme" &&
	psql -X -q -d lk_readme -v ON_ERROR_STOP=1 -f examples/quickstart.sql >/dev/null
result readme_quick_start_runs_in_a_fresh_database $?
psql -X -q -d postgres -c "DROP DATABASE IF EXISTS lk_readme"

echo "readme: $passed passed, $failed failed"
[ "$failed" = 0 ]
