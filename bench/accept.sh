#!/bin/sh
# accept.sh - the waproc half of an accepted send, alone (bench/accept-drive.c):
# msgr_call of POST /send/message into a fresh store.db, no network, no IPC,
# nothing sent.  What bench/send.sh measures through nginx, fcgi-app, devmgr
# and ZeroMQ, minus all of those: the floor of a waproc's accept.
# A figure printer, not a test: it asserts nothing.
#   sh bench/accept.sh            (N=20000; PERF=1 adds a perf profile)
set -e
cd "$(dirname "$0")/.."
N=${N:-20000}
make -s build/lib/libwa.a build/lib/libcommon.a >/dev/null
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM
# shellcheck disable=SC2046
cc -O2 -g -D_GNU_SOURCE -Icommon -Iwaproc -Ibuild/gen bench/accept-drive.c \
    build/lib/libwa.a build/lib/libcommon.a $(pkg-config --cflags --libs \
    libzmq libcurl libsodium sqlite3 json-c libprotobuf-c openssl zlib \
    libwebsockets) -lm -o "$T/accept-drive"
echo "waproc accept path alone (store.db in $T, N=$N):"
printf '  plain:            '; "$T/accept-drive" -d "$T/a" -n "$N"
printf '  Idempotency-Key:  '; "$T/accept-drive" -d "$T/b" -n "$N" -i
if [ "${PERF:-0}" = 1 ] && command -v perf >/dev/null; then
	perf record -q -g -o "$T/perf.data" "$T/accept-drive" -d "$T/c" -n "$N" \
	    >/dev/null 2>&1
	perf report -i "$T/perf.data" --stdio --no-children -g none 2>/dev/null |
	    grep -v '^#' | grep -v '^$' | head -25
fi
