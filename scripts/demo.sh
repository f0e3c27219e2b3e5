#!/usr/bin/env bash
# The demo: installs what is missing, builds and installs the extension and
# the bridge, starts a private PostgreSQL 15 cluster in .run/demo, runs the
# quick start session there, and serves the demo page through the bridge.
# Both keep running afterwards; `scripts/demo.sh stop` stops them.
set -euo pipefail
cd "$(dirname "$0")/.."
run=.run/demo

stop() {
	if [ -f $run/bridge.pid ]; then
		kill "$(cat $run/bridge.pid)" 2>/dev/null || true
		rm -f $run/bridge.pid
	fi
	scripts/cluster.sh stop $run 2>/dev/null || true
}

if [ "${1:-}" = stop ]; then
	stop
	echo "demo stopped"
	exit 0
fi

bash scripts/deps.sh
export PATH=${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH
make -s >/dev/null
make -s install >/dev/null
make -s bridge >/dev/null
make -s client >/dev/null
mkdir -p $run
stop
port=$(scripts/cluster.sh start $run)
sock=$(pwd)/$run/sock
psql -X -h "$sock" -p "$port" -U postgres -d postgres -q -c "DROP DATABASE IF EXISTS demo" -c "CREATE DATABASE demo"
psql -X -h "$sock" -p "$port" -U postgres -d demo -v ON_ERROR_STOP=1 -e -f examples/quickstart.sql
psql -X -h "$sock" -p "$port" -U postgres -d demo -v ON_ERROR_STOP=1 -q -f examples/demo.sql >/dev/null

web=${LANIAKEA_PORT:-4000}
while (exec 3<>"/dev/tcp/127.0.0.1/$web") 2>/dev/null; do web=$((web + 1)); done
DATABASE_URL="host=$sock port=$port user=postgres dbname=demo" \
	nohup bridge/laniakea-bridge --port "$web" --static-dir client/demo >$run/bridge.log 2>&1 &
echo $! >$run/bridge.pid
for _ in $(seq 50); do
	curl -sf "http://127.0.0.1:$web/healthz" | grep -q '"postgres":"up"' && break
	sleep 0.1
done
curl -sf "http://127.0.0.1:$web/healthz" >/dev/null || { cat $run/bridge.log; exit 1; }

cat <<MSG

Laniakea is running.
  demo page:  http://127.0.0.1:$web/   (open it in two windows)
  database:   psql -h $sock -p $port -U postgres demo
              try: UPDATE demo_pages SET visits = increment(visits, 'psql', 5) WHERE page = 'home';
                   UPDATE demo_todos SET title = set(title, 'Renamed in psql') WHERE id = '1-offline';
                   DELETE FROM demo_todos WHERE id = '0-welcome';
  bridge log: $run/bridge.log
  stop:       scripts/demo.sh stop
MSG
