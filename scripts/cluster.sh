#!/usr/bin/env bash
# A private, throwaway PostgreSQL 15 cluster for tests, benchmarks and the demo.
#
#   scripts/cluster.sh start DIR [PORT] [-c name=value ...]   prints the port
#   scripts/cluster.sh stop DIR
#
# PostgreSQL refuses to run as root, so the cluster belongs to the postgres
# user; its socket lives in DIR/sock and it listens on 127.0.0.1 only.
# Connect with: psql -h DIR/sock -p PORT -U postgres
set -euo pipefail

PGBIN=${PGBIN:-$(pg_config --bindir 2>/dev/null || echo /usr/lib/postgresql/15/bin)}

as_pg() {
	if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

free_port() {
	local port=${1:-55432}
	while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
	echo "$port"
}

cmd=${1:?usage: cluster.sh start|stop DIR [PORT]}
dir=${2:?usage: cluster.sh start|stop DIR [PORT]}
shift 2

case "$cmd" in
start)
	port=${1:-}
	[ $# -gt 0 ] && shift
	chosen=0
	[ -n "$port" ] || { port=$(free_port); chosen=1; }
	mkdir -p "$dir/sock"
	dir=$(cd "$dir" && pwd)
	[ "$(id -u)" = 0 ] && chown -R postgres: "$dir"
	# postgres must be able to reach DIR through its parents
	p=$dir
	while [ "$p" != / ]; do p=$(dirname "$p"); [ "$(id -u)" = 0 ] && chmod o+x "$p" 2>/dev/null || true; done
	if [ ! -f "$dir/data/PG_VERSION" ]; then
		as_pg "$PGBIN/initdb" -D "$dir/data" -U postgres --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 ||
			{ cat "$dir/initdb.log" >&2; exit 1; }
	fi
	opts="-k $dir/sock -c listen_addresses=127.0.0.1 -c fsync=off"
	while [ $# -gt 0 ]; do opts="$opts $1"; shift; done
	# a port found free can be taken by another process before the server binds
	# it: when the port was ours to choose, try the next free one
	for attempt in 1 2 3 4 5; do
		if as_pg "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -o "-p $port $opts" -w -t 60 start >/dev/null; then
			echo "$port"
			exit 0
		fi
		[ $chosen = 1 ] && grep -q "could not bind" "$dir/postgres.log" || break
		port=$(free_port $((port + 1)))
	done
	tail -n 30 "$dir/postgres.log" >&2
	exit 1
	;;
stop)
	[ -f "$dir/data/postmaster.pid" ] && as_pg "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
	;;
*)
	echo "usage: cluster.sh start|stop DIR [PORT]" >&2
	exit 2
	;;
esac
