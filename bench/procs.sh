#!/bin/sh
# bench/procs.sh - register and start N devices (default 500), print how long
# until every one has a running waproc, then the PSS of each idle waproc
# (/proc/PID/smaps_rollup: mean, median, max), then stop.  A benchmark: it
# prints figures and asserts nothing.
#   sh bench/procs.sh          (N=500 WEB=nginx IDLE=5)
# Targets (DESIGN): 500 started <= 5 s; idle waproc <= 1.5 MiB PSS.
# The waprocs point at a closed local port (no WhatsApp traffic).
set -eu
cd "$(dirname "$0")/.."
: "${N:=500}" "${WEB:=nginx}" "${IDLE:=5}"
exec python3 - "$N" "$WEB" "$IDLE" <<'PY'
import concurrent.futures as cf
import json
import os
import statistics
import sys
import time

sys.path.insert(0, "tests/system")
import stack

n, web, idle = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
st = stack.Stack(web, env={"API_RATE_LIMIT": 0, "MAX_PROCESSES": n + 50,
                           "LOG_LEVEL": "warn", "WEB_ACCESS_LOG": 0,
                           "HEARTBEAT_INTERVAL_MS": 5000,
                           "HEARTBEAT_TIMEOUT_MS": 30000,
                           "RESTART_BACKOFF_MIN_MS": 5000})


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None


def running(tok):
    r = st.get("/api/devices?limit=%d" % (n + 10), token=tok, timeout=30)
    devs = ((r.json or {}).get("data") or {}).get("devices") or []
    return sum(1 for d in devs if (d.get("process") or {}).get("running"))


try:
    st.start()
    tok = st.admin_token()
    t0 = time.time()
    with cf.ThreadPoolExecutor(16) as ex:
        regs = list(ex.map(lambda i: st.post(
            "/api/devices", {"autoStart": False, "name": "bench-%d" % i},
            token=tok), range(n)))
    hashes = [(r.json or {}).get("deviceHash") for r in regs]
    hashes = [h for h in hashes if h]
    print("registered %d devices in %.2f s" % (len(hashes), time.time() - t0))
    if not hashes:
        print("registration failed: %r" % regs[0])
        sys.exit(1)

    t0 = time.time()
    with cf.ThreadPoolExecutor(16) as ex:
        starts = list(ex.map(lambda h: st.post(
            "/api/devices/start?deviceHash=" + h, {}, token=tok), hashes))
    t_req = time.time() - t0
    bad = [r for r in starts if r.status != 200]
    print("start requests answered in %.2f s (%d not 200%s)" %
          (t_req, len(bad), (": %r" % bad[0]) if bad else ""))
    procs_up = None
    api_up = None
    while time.time() - t0 < 120:
        if procs_up is None and len(st.waproc_pids()) >= len(hashes):
            procs_up = time.time() - t0
        if api_up is None and running(tok) >= len(hashes):
            api_up = time.time() - t0
        if procs_up is not None and api_up is not None:
            break
        time.sleep(0.05)
    print("all %d waprocs alive after %s s; all running per API after %s s"
          " (target <= 5 s)" % (len(hashes),
                                "%.2f" % procs_up if procs_up else "never",
                                "%.2f" % api_up if api_up else "never"))
    # ready = the waproc said HELLO: a device call reaches it
    pending = list(hashes)
    ready_at = None
    with cf.ThreadPoolExecutor(16) as ex:
        while pending and time.time() - t0 < 120:
            res = list(ex.map(lambda h: (h, st.get(
                "/api/app/status", token=tok, headers={"deviceHash": h},
                timeout=30).status), pending))
            pending = [h for h, code in res if code != 200]
        ready_at = time.time() - t0 if not pending else None
    print("all %d answer GET /api/app/status (HELLO done) after %s s" %
          (len(hashes), "%.2f" % ready_at if ready_at else "never"))
    print("idle %.0f s ..." % idle)
    time.sleep(idle)
    pids = st.waproc_pids()
    pss = [p for p in (pss_kib(pid) for pid in pids) if p is not None]
    if pss:
        print("waproc PSS over %d processes: mean %.0f KiB, median %.0f KiB,"
              " max %d KiB (target <= 1536 KiB)" %
              (len(pss), statistics.mean(pss), statistics.median(pss),
               max(pss)))
    dm = st.pid("devmgr")
    print("devmgr PSS: %s KiB" % pss_kib(dm))
    t0 = time.time()
finally:
    st.stop()
    print("stopped in %.2f s" % (time.time() - t0))
    st.cleanup()
PY
