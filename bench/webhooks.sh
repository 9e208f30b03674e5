#!/bin/sh
# webhooks.sh - benchmark of the message-webhook queue (waproc/msghook.c over
# store.db): bench/webhooks-drive.c enqueues ~1 KB GOWA "message" events with
# msghook_enqueue (one transaction each, as waproc does) into a fresh store
# and runs msghook's poll loop; its rx mode is the receiver on loopback (C,
# epoll, keep-alive) that verifies every X-Hub-Signature-256 and that
# X-Webhook-Id is the body's event_id.  Two runs:
#   drain  N events queued first, then delivered: signed deliveries/s (the
#          latencies are mostly time spent waiting in the queue)
#   paced  RATE events/s for SECS s, enqueued while delivering: enqueue ->
#          received (receiver clock) and enqueue -> recorded delivered in
#          store.db, p50/p99
# Failures = dead + still pending + bad or missing signatures + id mismatch.
# A figure printer, not a test: it asserts nothing.  PROFILE=1 adds the time
# spent per SQL statement in the drain run.  EXTRA_SRC="a.c b.c" links
# those sources ahead of libwa.a (A/B of a patched copy of a waproc file).
#   sh bench/webhooks.sh                 (N=20000 RATE=2000 SECS=5)
# Target: >= 2,000 signed deliveries/s.
set -e
cd "$(dirname "$0")/.."
N=${N:-20000}
RATE=${RATE:-2000}
SECS=${SECS:-5}
SECRET=${SECRET:-bench-webhook-secret}

make -s build/lib/libwa.a build/lib/libcommon.a >/dev/null
T=$(mktemp -d)
RX=
cleanup() {
	[ -n "$RX" ] && kill "$RX" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
# shellcheck disable=SC2046
cc -O2 -D_GNU_SOURCE -Icommon -Iwaproc -Ibuild/gen bench/webhooks-drive.c \
    ${EXTRA_SRC:-} build/lib/libwa.a build/lib/libcommon.a $(pkg-config --cflags --libs \
    libzmq libcurl libsodium sqlite3 json-c libprotobuf-c openssl zlib) \
    -lm -o "$T/webhooks-drive"

# The queue (one thread) on one CPU, the receiver on another when there
# are two.
PIN_DRV=; PIN_RX=
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ] && [ "${PIN:-1}" = 1 ]; then
	PIN_DRV="taskset -c 0"; PIN_RX="taskset -c 1"
fi

# run NAME COUNT DRIVE-OPTIONS...: receiver + driver; key=value into
# $T/NAME.out
run() {
	name=$1; count=$2; shift 2
	rm -f "$T/port"
	$PIN_RX "$T/webhooks-drive" rx -s "$SECRET" -n "$count" \
	    -o "$T/port" > "$T/$name.rx" &
	RX=$!
	i=0
	until [ -s "$T/port" ]; do
		i=$((i + 1)); [ $i -gt 100 ] && { echo "receiver did not start"; exit 1; }
		sleep 0.05
	done
	$PIN_DRV "$T/webhooks-drive" drive -d "$T/$name.store" \
	    -u "http://127.0.0.1:$(cat "$T/port")/hook" -s "$SECRET" \
	    -n "$count" -x "$@" > "$T/$name.drv"
	# the receiver ends by itself after count distinct ids
	i=0
	while kill -0 "$RX" 2>/dev/null; do
		i=$((i + 1)); [ $i -gt 40 ] && kill "$RX"
		sleep 0.05
	done
	wait "$RX" 2>/dev/null || true
	RX=
	cat "$T/$name.drv" "$T/$name.rx" > "$T/$name.out"
}

v() { awk -F= -v k="$2" '$1 == k { print $2 }' "$T/$1.out"; }

failures() {
	echo $(( $(v "$1" dead) + $(v "$1" pending) + $(v "$1" rx_bad_signature) + \
	    $(v "$1" rx_no_signature) + $(v "$1" rx_id_mismatch) ))
}

echo "message webhooks: drain $N events (~1 KB, signed), then $RATE events/s for $SECS s; $(nproc) CPU(s)"

if [ "${PROFILE:-0}" = 1 ]; then PROF=-S; else PROF=; fi
# shellcheck disable=SC2086
run drain "$N" -E $PROF
DPS=$(awk -v d="$(v drain delivered)" -v s="$(v drain run_s)" \
    'BEGIN { printf "%.0f", (s > 0 ? d / s : 0) }')
echo "drain  enqueue       $(v drain enqueued) events in $(v drain enqueue_s) s ($(v drain enqueue_per_s)/s, one transaction each)"
echo "drain  delivered     $(v drain delivered)/$N in $(v drain run_s) s: ${DPS} signed deliveries/s (receiver saw $(v drain rx_per_s)/s)"
echo "drain  enq->received p50 $(v drain rx_latency_ms_p50) ms, p99 $(v drain rx_latency_ms_p99) ms (queue wait: all $N queued first)"
echo "drain  failures      $(failures drain) (dead $(v drain dead), pending $(v drain pending), bad sig $(v drain rx_bad_signature), no sig $(v drain rx_no_signature), id mismatch $(v drain rx_id_mismatch))"
echo "drain  receiver      $(v drain rx_requests) requests, $(v drain rx_duplicates) duplicates, $(v drain rx_connections) connections"
[ -n "$PROF" ] && grep '^sql_ms=' "$T/drain.out" | sed 's/^/drain  /'

COUNT=$((RATE * SECS))
run paced "$COUNT" -r "$RATE"
PPS=$(awk -v d="$(v paced delivered)" -v s="$(v paced run_s)" \
    'BEGIN { printf "%.0f", (s > 0 ? d / s : 0) }')
echo "paced  delivered     $(v paced delivered)/$COUNT at $RATE/s offered (${PPS}/s achieved over $(v paced run_s) s)"
echo "paced  enq->received p50 $(v paced rx_latency_ms_p50) ms, p90 $(v paced rx_latency_ms_p90) ms, p99 $(v paced rx_latency_ms_p99) ms, max $(v paced rx_latency_ms_max) ms"
echo "paced  enq->stored   p50 $(v paced store_latency_ms_p50) ms, p99 $(v paced store_latency_ms_p99) ms (delivered state committed in store.db)"
echo "paced  failures      $(failures paced) (dead $(v paced dead), pending $(v paced pending), bad sig $(v paced rx_bad_signature), no sig $(v paced rx_no_signature), id mismatch $(v paced rx_id_mismatch))"
