#!/usr/bin/env bash
# Installs what building and testing Laniakea needs, from Debian's apt only,
# and only what is missing.  Safe to run again.
set -euo pipefail

packages=(
	make gcc
	postgresql-15 postgresql-server-dev-15 # the server and PGXS
	clang-14 libclang-rt-14-dev            # libFuzzer and sanitizer runtimes
	libwebsockets-dev libpq-dev libjansson-dev libjwt-dev libssl-dev pkg-config # the bridge
	cppcheck clang-tidy                    # make lint
	sqlsmith                               # the fuzz-sql suite
	chromium curl                          # the browser suite; health checks in test scripts
	wasi-libc libclang-rt-14-dev-wasm32 lld-14 binaryen # the core in WebAssembly (client/)
)
# Node.js (tests of the bridge, the cluster and the client): the machine's own
# when it has one, which may not be Debian's package; Debian's otherwise.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

missing=()
for p in "${packages[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "installing: ${missing[*]}"
	SUDO=
	[ "$(id -u)" = 0 ] || SUDO=sudo
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# PGXS must find the PostgreSQL 15 pg_config first (PGBIN: another copy of it)
export PATH=${PGBIN:-/usr/lib/postgresql/15/bin}:$PATH
command -v pg_config >/dev/null
