#!/usr/bin/env bash
# The demo: installs what is missing, builds and installs the extension,
# starts a private PostgreSQL 15 cluster in .run/demo and runs the quick
# start session in it.  The cluster keeps running afterwards; the script
# prints how to connect and how to stop it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/deps.sh
export PATH=/usr/lib/postgresql/15/bin:$PATH
make -s >/dev/null
make -s install >/dev/null
mkdir -p .run
scripts/cluster.sh stop .run/demo 2>/dev/null || true
port=$(scripts/cluster.sh start .run/demo)
sock=$(pwd)/.run/demo/sock
psql -X -h "$sock" -p "$port" -U postgres -d postgres -q -c "DROP DATABASE IF EXISTS demo" -c "CREATE DATABASE demo"
psql -X -h "$sock" -p "$port" -U postgres -d demo -v ON_ERROR_STOP=1 -e -f examples/quickstart.sql
cat <<MSG

Laniakea is running in a private cluster.
  connect:  psql -h $sock -p $port -U postgres demo
  stop:     scripts/cluster.sh stop .run/demo
MSG
