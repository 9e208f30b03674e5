#!/bin/sh
# deps.sh - install every Debian package the gateway needs to build, run and
# be tested (apt-get, as root).  Idempotent: does nothing when all are there.
set -e
PKGS="build-essential clang pkg-config make git ca-certificates curl
 libfcgi-dev libsqlite3-dev sqlite3 libjson-c-dev libjwt-dev
 libcurl4-openssl-dev libqrencode-dev libprotobuf-c-dev protobuf-c-compiler
 libsodium-dev libssl-dev libzmq3-dev libwebsockets-dev libpng-dev zlib1g-dev
 nginx lighttpd apache2 spawn-fcgi wrk zbar-tools libsignal-protocol-c-dev
 python3 libclang-rt-14-dev valgrind"
# node and npm: Debian's only when the machine has none (a newer node may be there)
command -v node >/dev/null 2>&1 || PKGS="$PKGS nodejs"
command -v npm >/dev/null 2>&1 || PKGS="$PKGS npm"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" ||
	    missing="$missing $p"
done
npm_deps() {
	# Test-only node packages (socket.io-client, ws, baileys): tests/system.
	if [ -f tests/system/package.json ] && [ ! -d tests/system/node_modules ]; then
		(cd tests/system && npm install --no-audit --no-fund --loglevel=error)
	fi
}
if [ -z "$missing" ]; then
	npm_deps
	exit 0
fi
echo "deps: installing:$missing"
if [ "$(id -u)" != 0 ]; then
	SUDO=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# The distribution services must not hold our ports or run as daemons.
for s in nginx lighttpd apache2; do
	$SUDO systemctl disable --now "$s" >/dev/null 2>&1 || true
	$SUDO service "$s" stop >/dev/null 2>&1 || true
done
npm_deps
