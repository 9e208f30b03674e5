#!/bin/sh
# bench/api.sh - API throughput through nginx + fcgi-app + devmgr, printed
# beside nginx serving a static file in the same run.  A benchmark, not a
# test: it prints figures and asserts nothing.
#   sh bench/api.sh            (DURATION=10 CONNS=64 THREADS=2 WEB=nginx)
# Targets (DESIGN): authenticated GET /api/devices/info >= 5,000 req/s.
# Load goes to 127.0.0.1 only, on a private stack (tests/system/stack.py).
set -eu
cd "$(dirname "$0")/.."
: "${DURATION:=10}" "${CONNS:=64}" "${THREADS:=2}" "${WEB:=nginx}"
command -v wrk >/dev/null || { echo "bench: wrk not installed (make deps)"; exit 1; }
TMP=$(mktemp -d)
STACK=""
cleanup() {
	[ -n "$STACK" ] && python3 tests/system/stack.py down "$STACK" >/dev/null 2>&1
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

python3 tests/system/stack.py up --web "$WEB" --env API_RATE_LIMIT=0 \
    --env WEB_ACCESS_LOG=0 --env LOG_LEVEL=warn --env IPC_TIMEOUT_MS=2000 \
    --env FCGI_WORKERS="${FCGI_WORKERS:-}" > "$TMP/stack.json"
eval "$(python3 - "$TMP/stack.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
print("STACK=%s URL=%s AUSER=%s PASS=%s" % (s["base"], s["api_url"],
      s["admin_user"], s["admin_pass"]))
PY
)"
TOKEN=$(curl -fsS -X POST -H 'Content-Type: application/json' \
    -d "{\"username\":\"$AUSER\",\"password\":\"$PASS\"}" "$URL/api/auth/login" |
    python3 -c 'import json,sys; j=json.load(sys.stdin); print((j.get("data") or j)["token"])')
HASH=$(curl -fsS -X POST -H "Authorization: Bearer $TOKEN" \
    -H 'Content-Type: application/json' -d '{"autoStart":false,"name":"bench"}' \
    "$URL/api/devices" |
    python3 -c 'import json,sys; j=json.load(sys.stdin); print(j.get("deviceHash") or j["data"]["deviceHash"])')

cat > "$TMP/login.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"username":"$AUSER","password":"$PASS"}'
wrk.headers["Content-Type"] = "application/json"
LUA
cat > "$TMP/report.lua" <<'LUA'
done = function(summary, latency, requests)
	local errs = summary.errors.status + summary.errors.connect +
	    summary.errors.read + summary.errors.write + summary.errors.timeout
	io.write(string.format("RESULT %.0f %.2f %.2f %.2f %d %d\n",
	    summary.requests / (summary.duration / 1e6),
	    latency.mean / 1000, latency:percentile(50) / 1000,
	    latency:percentile(99) / 1000, summary.requests, errs))
end
LUA
cat "$TMP/login.lua" "$TMP/report.lua" > "$TMP/login-report.lua"

# run NAME CONNS wrk-args...: one line of the table
run() {
	name=$1; c=$2; shift 2
	out=$(wrk -t"$THREADS" -c"$c" -d"${DURATION}s" "$@" 2>&1) || true
	line=$(echo "$out" | grep '^RESULT' || echo "RESULT 0 0 0 0 0 -1")
	set -- $line
	printf '%-44s %10s %9s %9s %9s %9s %7s\n' "$name" "$2" "$3" "$4" "$5" "$6" "$7"
}

echo "bench/api.sh: $WEB, ${DURATION}s per run, wrk $THREADS threads, $(nproc) CPUs, fcgi-app workers ${FCGI_WORKERS:-default}"
printf '%-44s %10s %9s %9s %9s %9s %7s\n' "request" "req/s" "mean ms" "p50 ms" \
    "p99 ms" "requests" "errors"
run "static file ($WEB alone)" "$CONNS" -s "$TMP/report.lua" \
    "$URL/_static/hello.json"
run "GET /api/health (public)" "$CONNS" -s "$TMP/report.lua" "$URL/api/health"
run "GET /api/devices/info (Bearer JWT)" "$CONNS" -s "$TMP/report.lua" \
    -H "Authorization: Bearer $TOKEN" "$URL/api/devices/info?deviceHash=$HASH"
run "POST /api/auth/login (argon2id; cached)" 8 -s "$TMP/login-report.lua" \
    "$URL/api/auth/login"
echo "(errors: non-2xx/3xx answers + socket errors; target: device info >= 5000 req/s)"
