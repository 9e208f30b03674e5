#!/bin/sh
# hops.sh - the cost of one message hop between two processes on this
# machine (bench/hops.c): N round trips of a 200-byte message over ZeroMQ
# (DEALER <-> DEALER over ipc://, as between fcgi-app, devmgr and waproc)
# and over a plain AF_UNIX socketpair, first with both processes on one
# CPU, then on two different CPUs (each wake-up of the other side then
# crosses CPUs: an inter-processor interrupt, costly in a VM).  A send
# through the gateway makes ~20 such wake-ups (bench/send.sh prints them
# per component): this is the floor under its CPU per send.  A figure
# printer, not a test: it asserts nothing.
#   sh bench/hops.sh            (N=20000)
set -e
cd "$(dirname "$0")/.."
N=${N:-20000}
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM
# shellcheck disable=SC2046
cc -O2 -D_GNU_SOURCE bench/hops.c $(pkg-config --cflags --libs libzmq) \
    -o "$T/hops"
CPUS=$(nproc)
echo "one hop there and back, N=$N, $CPUS CPUs:"
echo "both processes on CPU 0:"
taskset -c 0 "$T/hops" zmq "$N" "ipc://$T/s"
taskset -c 0 "$T/hops" unix "$N"
if [ "$CPUS" -ge 2 ]; then
	# the parent on CPU 0, its child moved to CPU 1 as soon as it exists
	echo "parent on CPU 0, child on CPU 1:"
	for kind in zmq unix; do
		taskset -c 0 "$T/hops" "$kind" "$N" "ipc://$T/s" &
		p=$!
		c=
		while [ -z "$c" ] && kill -0 "$p" 2>/dev/null; do
			c=$(pgrep -P "$p" || true)
		done
		[ -n "$c" ] && for t in /proc/"$c"/task/*; do
			taskset -pc 1 "${t##*/}" >/dev/null
		done
		wait "$p"
	done
fi
