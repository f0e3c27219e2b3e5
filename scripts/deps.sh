#!/usr/bin/env bash
# Installs what building and testing Laniakea needs, from Debian's apt only,
# and only what is missing.  Safe to run again.
set -euo pipefail

packages=(
	make gcc
	postgresql-15 postgresql-server-dev-15 # the server and PGXS
	clang-14 libclang-rt-14-dev            # libFuzzer and sanitizer runtimes
)

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
# PGXS must find the PostgreSQL 15 pg_config first
export PATH=/usr/lib/postgresql/15/bin:$PATH
command -v pg_config >/dev/null
