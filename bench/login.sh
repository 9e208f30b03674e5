#!/bin/sh
# bench/login.sh - N devices (default 500) paired once against the fake
# WhatsApp server (DEMO=1: tests/fakewa) through the API (GET
# /api/app/login?format=raw, then fakewa's POST /phone/scan), then the whole
# stack restarted: prints spawn -> logged-in time (devmgr's "started" to the
# waproc's "connected" status, from devmgr.log) p50/p90/p99/max, and the PSS
# of each logged-in waproc (/proc/PID/smaps_rollup: mean, median, max).  A
# benchmark: it prints figures and asserts nothing.
#   sh bench/login.sh          (N=500 WEB=nginx PAR=16)
# Also the PSS of the unpaired idle waprocs right after registration.
# Targets: spawn -> logged in <= 50 ms p50; <= 3 MiB PSS per session;
# <= 1.5 MiB per unpaired idle waproc.
set -eu
cd "$(dirname "$0")/.."
: "${N:=500}" "${WEB:=nginx}" "${PAR:=16}"
exec python3 - "$N" "$WEB" "$PAR" <<'PY'
import concurrent.futures as cf
import datetime
import http.client
import json
import os
import re
import statistics
import sys
import time

sys.path.insert(0, "tests/system")
import stack

n, web, par = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
st = stack.Stack(web, env={"DEMO": "1", "FAKEWA_PORT": stack.free_port(),
                           "FAKEWA_HTTP_PORT": stack.free_port(),
                           "API_RATE_LIMIT": 0, "MAX_PROCESSES": n + 50,
                           "LOG_LEVEL": "info", "WEB_ACCESS_LOG": 0,
                           "HEARTBEAT_INTERVAL_MS": 5000,
                           "HEARTBEAT_TIMEOUT_MS": 30000,
                           "RESTART_BACKOFF_MIN_MS": 5000})


def fakewa(method, path, body=None):
    port = int(st.state()["fakewa_url"].rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        c.request(method, path, body=json.dumps(body) if body else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        return r.status, json.loads(r.read() or b"{}")
    finally:
        c.close()


def pss_kib(pid):
    try:
        with open("/proc/%d/smaps_rollup" % pid) as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        return None


def statuses(tok):
    r = st.get("/api/devices?limit=%d" % (n + 10), token=tok, timeout=60)
    devs = ((r.json or {}).get("data") or {}).get("devices") or []
    return {d.get("deviceHash"): d.get("status") for d in devs}


def pair(args):
    i, h, tok = args
    for _ in range(3):
        r = st.get("/api/app/login?format=raw", token=tok,
                   headers={"deviceHash": h}, timeout=40)
        qr = raw_qr(r)
        if r.status == 200 and qr and not qr.startswith("data:"):
            code, ans = fakewa("POST", "/phone/scan",
                               {"qr": qr, "phone": "1555%07d" % i})
            return code == 200
        time.sleep(0.5)
    return False


def raw_qr(r):
    """The QR text of a ?format=raw answer (JSON or text/plain)."""
    j = r.json
    if isinstance(j, dict):
        res = j.get("results") if isinstance(j.get("results"), dict) else {}
        for v in (res.get("qr"), res.get("qr_code"), res.get("qr_string"),
                  j.get("qr")):
            if isinstance(v, str) and not v.startswith("data:"):
                return v
        return None
    if isinstance(j, str):
        return j
    return r.body.decode("utf-8", "replace").strip()


def pct(v, p):
    v = sorted(v)
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


TS = re.compile(r"^(\S+Z) devmgr info: device ([0-9a-f]{16}): \S+ -> (\S+) "
                r"\((\w+)")


def spawn_to_login(path, since):
    start, done = {}, {}
    with open(path) as f:
        for line in f:
            m = TS.match(line)
            if not m:
                continue
            t = datetime.datetime.strptime(m.group(1),
                                           "%Y-%m-%dT%H:%M:%S.%fZ")
            t = t.replace(tzinfo=datetime.timezone.utc).timestamp()
            if t < since:
                continue
            h, status, event = m.group(2), m.group(3), m.group(4)
            if event == "started" and h not in start:
                start[h] = t
            elif status == "connected" and h in start and h not in done:
                done[h] = t
    return [(done[h] - start[h]) * 1000 for h in done]


try:
    st.start()
    tok = st.admin_token()
    t0 = time.time()
    with cf.ThreadPoolExecutor(par) as ex:
        regs = list(ex.map(lambda i: st.post(
            "/api/devices", {"autoStart": True, "name": "login-%d" % i},
            token=tok), range(n)))
    hashes = [(r.json or {}).get("deviceHash") for r in regs]
    hashes = [h for h in hashes if h]
    print("registered %d devices in %.2f s" % (len(hashes), time.time() - t0))
    time.sleep(2)
    pss = [p for p in (pss_kib(pid) for pid in st.waproc_pids()) if p]
    if pss:
        print("PSS per unpaired idle waproc (%d): mean %.0f KiB, median %d "
              "KiB, max %d KiB" % (len(pss), statistics.mean(pss),
                                   statistics.median(pss), max(pss)))
    t0 = time.time()
    with cf.ThreadPoolExecutor(par) as ex:
        ok = list(ex.map(pair, [(i, h, tok) for i, h in enumerate(hashes)]))
    print("%d QR logins + scans in %.2f s (%d failed)" %
          (len(ok), time.time() - t0, ok.count(False)), flush=True)
    if not any(ok):
        sys.exit(1)
    t0, up = time.time(), 0
    while time.time() - t0 < 120:
        s = statuses(tok)
        up = sum(1 for h in hashes if s.get(h) == "connected")
        if up >= len(hashes):
            break
        time.sleep(1)
    print("%d/%d connected after pairing (%.1f s)" %
          (up, len(hashes), time.time() - t0))
    # the restart waits for these only (a failed pairing never logs in)
    hashes = [h for h in hashes if s.get(h) == "connected"]

    # restart the whole stack: every device logs in from its store
    st.stop()
    since, up = time.time(), 0
    st.start(timeout=120)
    tok = st.admin_token()
    while time.time() - since < 120:
        s = statuses(tok)
        up = sum(1 for h in hashes if s.get(h) == "connected")
        if up >= len(hashes):
            break
        time.sleep(0.5)
    print("after the stack restart: %d/%d connected in %.1f s (no QR)" %
          (up, len(hashes), time.time() - since))
    lat = spawn_to_login(os.path.join(st.log_dir, "devmgr.log"), since - 1)
    if lat:
        print("spawn -> logged in (%d devices): p50 %.1f ms, p90 %.1f ms, "
              "p99 %.1f ms, max %.1f ms" % (len(lat), pct(lat, 50),
                                            pct(lat, 90), pct(lat, 99),
                                            max(lat)))
    time.sleep(2)
    pss = [p for p in (pss_kib(pid) for pid in st.waproc_pids()) if p]
    if pss:
        print("PSS per logged-in waproc (%d): mean %.0f KiB, median %d KiB, "
              "max %d KiB" % (len(pss), statistics.mean(pss),
                              statistics.median(pss), max(pss)))
finally:
    st.stop()
    if os.environ.get("KEEP_STACK") != "1":
        st.cleanup()
PY
