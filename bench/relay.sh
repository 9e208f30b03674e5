#!/bin/sh
# relay.sh - benchmark of wsrelay: CLIENTS plain-WebSocket clients, events
# published by bench/relay-pub.c (a stand-in for devmgr's PUB socket) at RATE
# events/s for SECS seconds; prints delivered events/s and the publish ->
# receive latency (p50/p90/p99/max) seen by the clients, plus wsrelay's CPU
# time and RSS.  The clients are bench/relay-load.c (epoll, minimal
# WebSocket client) so that the load generator is not what is measured.
# node only mints the token.  A figure printer, not a test: it asserts nothing.
#   sh bench/relay.sh                     (1000 clients, 100 ev/s, 10 s)
#   CLIENTS=1000 RATE=200 SECS=10 PAD=200 QUEUE=1024 sh bench/relay.sh
set -e
cd "$(dirname "$0")/.."
CLIENTS=${CLIENTS:-1000}
RATE=${RATE:-100}
SECS=${SECS:-10}
PAD=${PAD:-200}
QUEUE=${QUEUE:-1024}
COUNT=$((RATE * SECS))

make -s build/bin/wsrelay build/lib/libcommon.a >/dev/null
T=$(mktemp -d)
RELAY=; PUB=
cleanup() {
	[ -n "$RELAY" ] && kill "$RELAY" 2>/dev/null
	[ -n "$PUB" ] && kill "$PUB" 2>/dev/null
	wait 2>/dev/null
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
# shellcheck disable=SC2046
cc -O2 -D_GNU_SOURCE -Ibuild/gen -Icommon bench/relay-pub.c \
    build/lib/libcommon.a $(pkg-config --cflags --libs libzmq libprotobuf-c \
    libsodium json-c libjwt) -o "$T/relay-pub"
cc -O2 -D_GNU_SOURCE bench/relay-load.c -o "$T/relay-load"
ulimit -n 8192 2>/dev/null || ulimit -n "$(ulimit -Hn)"

SECRET=$(od -An -N32 -tx1 /dev/urandom | tr -d ' \n')
printf '%s\n' "$SECRET" > "$T/jwt.secret"
chmod 600 "$T/jwt.secret"
mkdir -m 700 "$T/run"
PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
export VAR_DIR="$T" RUN_DIR="$T/run" WSRELAY_PORT="$PORT" \
    WSRELAY_QUEUE_MAX="$QUEUE" LOG_LEVEL=warn GATEWAY_CONFIG=

# Pin wsrelay to one CPU and the clients + publisher to another (when there
# are two), so they do not preempt each other mid fan-out.
PIN_RELAY=; PIN_LOAD=
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ] && [ "${PIN:-1}" = 1 ]; then
	PIN_RELAY="taskset -c 0"; PIN_LOAD="taskset -c 1"
fi
mkfifo "$T/go"
$PIN_LOAD "$T/relay-pub" -r "$RATE" -n "$COUNT" -d 10 -o bench -s "$PAD" \
    < "$T/go" > "$T/pub.out" &
PUB=$!
$PIN_RELAY build/bin/wsrelay 2> "$T/relay.log" &
RELAY=$!
i=0
until node -e 'require("net").connect(process.argv[1],"127.0.0.1").on("connect",()=>process.exit(0)).on("error",()=>process.exit(1))' "$PORT"; do
	i=$((i + 1)); [ $i -gt 100 ] && { cat "$T/relay.log"; exit 1; }
	sleep 0.1
done
TOKEN=$(SECRET=$SECRET node -e '
const c = require("crypto"), now = Math.floor(Date.now() / 1000);
const b = (o) => Buffer.from(JSON.stringify(o)).toString("base64url");
const h = b({ alg: "HS256", typ: "JWT" });
const p = b({ sub: "bench", username: "bench", role: "user", iat: now, exp: now + 3600, iss: "whatsapp-gateway" });
const s = c.createHmac("sha256", Buffer.from(process.env.SECRET, "hex")).update(h + "." + p).digest("base64url");
console.log(h + "." + p + "." + s);')

echo "wsrelay benchmark: $CLIENTS clients, $RATE events/s for $SECS s ($COUNT events, ~$((PAD + 330)) B frames), queue $QUEUE"
$PIN_LOAD "$T/relay-load" "$PORT" "$TOKEN" "$CLIENTS" "$COUNT" 3> "$T/go"
CPU=$(awk '{printf "%.2f", ($14 + $15) / 100}' "/proc/$RELAY/stat")
RSS=$(awk '/VmRSS/ {print $2}' "/proc/$RELAY/status")
HWM=$(awk '/VmHWM/ {print $2}' "/proc/$RELAY/status")
echo "wsrelay CPU        ${CPU} s user+sys"
echo "wsrelay RSS        ${RSS} kB now, ${HWM} kB peak"
