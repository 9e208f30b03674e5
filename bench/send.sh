#!/bin/sh
# bench/send.sh - text sends through nginx (issue #5).  N devices (default
# 100) paired against the fake WhatsApp server (DEMO=1: tests/fakewa)
# through the API, as bench/login.sh does, one message each to warm up
# (usync, bundles, Signal sessions); device i sends to device i+1 (a ring),
# so fakewa relays Signal ciphertext and the receiving waproc decrypts and
# stores it: the whole pipeline.  wrk (bench/send-wrk.lua) drives POST
# /api/send/message with a Bearer JWT, cycling over the devices.  Runs, each
# on a fresh stack so that no run pays for the backlog of another:
#   1. full load (CONNS connections, closed loop): sends/s accepted, p50/p99
#   2. half the accepted rate of 1, rate-limited: p50/p99
#   3. trickle (TRICKLE sends/s, default 20; 0 skips it): a rate the
#      fake server keeps up with, every device sampled
#   4. (API_ONLY=1, default) on that stack, fakewa stopped (SIGSTOP): the
#      accept path alone, full load then half its rate - the waprocs do no
#      send work beyond their first in-flight window, so this is the API's
#      ceiling without the pipeline competing for the CPUs
# For each run: CPU of each component over the load (/proc/PID/stat; wrk
# from getrusage), context switches per send of each component (all its
# threads: /proc/PID/task/*/status), fakewa's offline queue, then up to DRAIN_MAX s of
# waiting: how many accepted messages reached the receivers (each
# receiver's GET /api/chat/<sender>/messages pagination.total; the ring
# keeps each such chat one-way) and accept -> server ack.
# accept -> server ack: GET /api/message/<id> gives created_at (ms, the
# outbox insert) but updated_at is the time of the LAST change (delivered
# overwrites sent) and server_timestamp is the ack's "t" in whole seconds,
# so the moment the status became "sent" is taken from the live events:
# SAMPLE /ws clients (wsrelay through nginx), each joined to one sender,
# note each "message.status" status "sent" event's envelope ts (ms, stamped
# by devmgr when the waproc's event reaches it, after the ack's commit);
# a message whose ack came after its send was retried (waproc gives up on
# an ack after 30 s and sends again; the late ack is then not reported) is
# timed by its first delivery receipt ("message.ack"), an upper bound.
# latency = ts - created_at.  Sends not acked by the end of the wait make
# the p99 "> wait".
# TO=phones: device i sends to the phone of an account that has no device
# of ours (registered with fakewa's POST /phones; fakewa's phone swallows
# the message, counted by GET /stats) instead of to
# device i+1: the gateway's own work per send, as in production where the
# recipients are other people's phones, without our waprocs also doing
# the receivers' decrypt, store and receipts on the same CPUs.
# The API's per-user rate limit is off (API_RATE_LIMIT=0); it is the only
# rate limiter (common/config.c).  A benchmark: it prints figures and
# asserts nothing.
#   sh bench/send.sh    (N=100 DURATION=10 CONNS=64 THREADS=2 WEB=nginx
#                        PAR=16 SAMPLE=4 DRAIN_MAX=120 TRICKLE=20
#                        FCGI_WORKERS=  KEEP_STACK=1 keeps the stacks;
#                        HALF_RATE=R skips the full-load run and runs the
#                        "half load" run at R sends/s; HALF=0 skips the
#                        half-load run)
# Each fresh stack is left to settle (its processes idle) before a run.
# Targets (issue #5): >= 5,000 sends/s; p99 <= 25 ms at half that load.
set -eu
cd "$(dirname "$0")/.."
: "${N:=100}" "${WEB:=nginx}" "${PAR:=16}" "${DURATION:=10}" "${CONNS:=64}"
: "${THREADS:=2}" "${SAMPLE:=4}" "${DRAIN_MAX:=120}" "${TO:=ring}"
case $TO in ring|phones) ;; *) echo "bench: TO must be ring or phones"; exit 1 ;; esac
command -v wrk >/dev/null || { echo "bench: wrk not installed (make deps)"; exit 1; }
[ -x build/bin/fakewa ] || { echo "bench: build/bin/fakewa missing (make)"; exit 1; }
[ "$N" -ge 3 ] || { echo "bench: N must be >= 3 (a ring of senders)"; exit 1; }
export N WEB PAR DURATION CONNS THREADS SAMPLE DRAIN_MAX TO
exec python3 - <<'PY'
import concurrent.futures as cf
import http.client
import json
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, "tests/system")
import stack

E = os.environ
n, web, par = int(E["N"]), E["WEB"], int(E["PAR"])
to_mode = E["TO"]
duration, conns, threads = int(E["DURATION"]), int(E["CONNS"]), int(E["THREADS"])
nsample, drain_max = int(E["SAMPLE"]), float(E["DRAIN_MAX"])
env = {"DEMO": "1", "FAKEWA_PORT": stack.free_port(),
       "FAKEWA_HTTP_PORT": stack.free_port(),
       "API_RATE_LIMIT": 0, "MAX_PROCESSES": n + 50,
       "LOG_LEVEL": "warn", "WEB_ACCESS_LOG": 0,
       "HEARTBEAT_INTERVAL_MS": 5000, "HEARTBEAT_TIMEOUT_MS": 30000,
       "RESTART_BACKOFF_MIN_MS": 5000, "IPC_TIMEOUT_MS": 2000,
       "WSRELAY_QUEUE_MAX": 65536,
       "FCGI_WORKERS": E.get("FCGI_WORKERS", "")}
tmp = tempfile.mkdtemp(prefix="bench-send-")
HALF_RATE = int(E.get("HALF_RATE", "0") or 0)


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


def phone(i):
    return "1555%07d" % i


def target(i):
    """Whom device i sends to: the next device (ring) or a phone."""
    return phone((i + 1) % n) if to_mode == "ring" else "1556%07d" % i


def pair(args):
    i, h, tok = args
    for _ in range(3):
        r = st.get("/api/app/login?format=raw", token=tok,
                   headers={"deviceHash": h}, timeout=40)
        qr = raw_qr(r)
        if r.status == 200 and qr and not qr.startswith("data:"):
            code, ans = fakewa("POST", "/phone/scan",
                               {"qr": qr, "phone": phone(i)})
            return code == 200
        time.sleep(0.5)
    return False


def statuses(tok):
    r = st.get("/api/devices?limit=%d" % (n + 10), token=tok, timeout=60)
    devs = ((r.json or {}).get("data") or {}).get("devices") or []
    return {d.get("deviceHash"): d.get("status") for d in devs}


def pct(v, p):
    v = sorted(v)
    if not v:
        return float("nan")
    return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]


class Sampler:
    """/ws clients joined to a few senders: id -> ts (ms) of "sent"."""

    def __init__(self, tok, hashes):
        self.sent = {}
        self.other = {}
        self.dropped = 0
        self.via_receipt = 0
        self.lock = threading.Lock()
        self.stop = False
        self.ws = []
        for h in hashes:
            w = stack.WebSocket("127.0.0.1", st.api_port, "/ws?token=" + tok)
            w.recv_json(10)  # welcome
            w.send({"type": "join-device", "deviceHash": h})
            self.ws.append(w)
        self.th = [threading.Thread(target=self.run, args=(w,), daemon=True)
                   for w in self.ws]
        for t in self.th:
            t.start()

    def run(self, w):
        while not self.stop:
            try:
                m = w.recv_json(1)
            except OSError:
                continue
            except (EOFError, ValueError):
                return
            if m is None:
                return
            if m.get("type") == "dropped":
                self.dropped += m.get("count", 0)
                continue
            ev = m.get("message") if isinstance(m.get("message"),
                                                dict) else m
            t = ev.get("type")
            ids = []
            if t == "message.status" and ev.get("status") == "sent":
                ids = [ev.get("message_id")]
            elif t == "message.ack":
                # delivered/read before the "sent" event (an ack that came
                # after the send was retried is not reported as sent):
                # the first receipt bounds the ack time from above
                p = ev.get("payload") if isinstance(ev.get("payload"),
                                                    dict) else ev
                if p.get("status") in ("delivered", "read") or \
                        p.get("receipt_type") in ("delivered", "read"):
                    ids = p.get("ids") or []
            with self.lock:
                self.other[t] = self.other.get(t, 0) + 1
                for mid in ids:
                    if isinstance(mid, str) and mid not in self.sent:
                        self.sent[mid] = (ev.get("deviceHash"), ev.get("ts"))
                        if t == "message.ack":
                            self.via_receipt += 1

    def take(self):
        with self.lock:
            s, self.sent = self.sent, {}
            v, self.via_receipt = self.via_receipt, 0
            o, self.other = self.other, {}
        return s, v, o

    def close(self):
        self.stop = True
        for w in self.ws:
            w.close()


def ack_latency(tok, samples):
    """ms from created_at to the 'sent' event, for the sampled ids."""
    def one(item):
        mid, (h, ts) = item
        r = st.get("/api/message/" + mid, token=tok,
                   headers={"deviceHash": h}, timeout=30)
        res = (r.json or {}).get("results") or {}
        c = res.get("created_at")
        return (ts - c) if isinstance(c, int) and isinstance(ts, int) \
            else None
    with cf.ThreadPoolExecutor(8) as ex:
        v = [x for x in ex.map(one, samples.items()) if x is not None]
    return v


def received(tok, ring):
    """Messages in each receiver's chat with its sender (ring: one way);
    TO=phones: what the recipients' phones got (fakewa's count)."""
    if to_mode == "phones":
        code, j = fakewa("GET", "/stats")
        return int(j.get("phone_messages") or 0) if code == 200 else 0

    def one(x):
        recv_h, sender_phone = x
        r = st.get("/api/chat/%s@s.whatsapp.net/messages?limit=1" %
                   sender_phone, token=tok, headers={"deviceHash": recv_h},
                   timeout=30)
        res = (r.json or {}).get("results") or {}
        return int((res.get("pagination") or {}).get("total") or 0)
    with cf.ThreadPoolExecutor(8) as ex:
        return sum(ex.map(one, ring))


def drain(tok, ring, want, label):
    """Wait until the receivers hold want messages (or no progress)."""
    t0 = time.time()
    last, last_t, got = -1, t0, 0
    while time.time() - t0 < drain_max:
        got = received(tok, ring)
        if got >= want:
            break
        if got != last:
            last, last_t = got, time.time()
        elif time.time() - last_t > 30:
            break
        time.sleep(1)
    dt = time.time() - t0
    miss = ("%d missing" % (want - got) if got <= want else
            "%d more: requests in flight when wrk stopped are not counted"
            " by wrk" % (got - want))
    print("  %s: %d of %d accepted messages reached the receivers (%s) "
          "%.1f s after the load ended" % (label, got, want, miss, dt),
          flush=True)
    return got


def wrk(rate, tag, dur, c):
    envw = dict(os.environ, SEND_WRK_THREADS=str(threads),
                SEND_WRK_RATE="1" if rate > 0 else "0")
    cmd = ["wrk", "-t%d" % threads, "-c%d" % c, "-d%ds" % dur,
           "--timeout", "10s", "-s", "bench/send-wrk.lua",
           st.info()["api_url"], "--", pairs_file, tok, str(rate), tag]
    out = subprocess.run(cmd, env=envw, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True).stdout
    for line in out.splitlines():
        if line.startswith("RESULT"):
            f = line.split()
            return {"rps": float(f[1]), "mean": float(f[2]),
                    "p50": float(f[3]), "p99": float(f[4]),
                    "requests": int(f[5]), "errors": int(f[6]),
                    "accepted_rps": float(f[7]),
                    "accepted": int(f[5]) - int(f[6])}
    print(out)
    raise SystemExit("wrk gave no RESULT line")


def groups():
    """The stack's processes by component: name -> PIDs."""
    state = st.state()
    g = {}
    for name in ("fakewa", "devmgr", "wsrelay"):
        v = state.get(name, "")
        g[name] = [int(v)] if v.isdigit() else []
    g["fcgi-app"] = st.fcgi_pids()
    web_pid = state.get("web", "")
    g[web] = ([int(web_pid)] + stack.children_of(int(web_pid))
              if web_pid.isdigit() else [])
    g["waproc"] = st.waproc_pids()
    return g


def cpu_ticks():
    """CPU time (s) of the stack's components, by name."""
    hz = os.sysconf("SC_CLK_TCK")
    out = {}
    for name, pids in groups().items():
        t = 0
        for p in pids:
            try:
                with open("/proc/%d/stat" % p) as f:
                    x = f.read().rsplit(")", 1)[1].split()
                t += int(x[11]) + int(x[12])
            except (OSError, IndexError, ValueError):
                pass
        out[name] = t / float(hz)
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["wrk"] = ru.ru_utime + ru.ru_stime
    return out


def ctx_switches():
    """Context switches (voluntary + not) of every thread of each
    component, by name: how often the kernel had to run it again."""
    out = {}
    for name, pids in groups().items():
        n = 0
        for p in pids:
            try:
                tasks = os.listdir("/proc/%d/task" % p)
            except OSError:
                continue
            for t in tasks:
                try:
                    with open("/proc/%d/task/%s/status" % (p, t)) as f:
                        for line in f:
                            if "ctxt_switches:" in line:
                                n += int(line.split()[1])
                except (OSError, ValueError, IndexError):
                    pass
        out[name] = n
    return out


def ctx_line(a, b, sends):
    d = {k: b[k] - a.get(k, 0) for k in b}
    parts = ["%s %.1f" % (k, v / max(1, sends)) for k, v in
             sorted(d.items(), key=lambda kv: -kv[1]) if v > 0]
    return ("context switches per accepted send (all threads): %s; total "
            "%.1f" % (", ".join(parts), sum(d.values()) / max(1, sends)))


def cpu_line(a, b, secs, sends):
    d = {k: b[k] - a.get(k, 0) for k in b}
    tot = sum(d.values())
    parts = ["%s %.0f%%" % (k, 100 * v / secs) for k, v in
             sorted(d.items(), key=lambda kv: -kv[1]) if v > 0]
    # the gateway's own share: without the fake WhatsApp server (remote
    # in production) and the load generator
    gw = sum(v for k, v in d.items() if k not in ("fakewa", "wrk"))
    return ("CPU over the %.0f s of load, %% of one CPU: %s; total %.0f%% "
            "of %d CPUs = %.0f us CPU per accepted send; the gateway's own "
            "(all but fakewa and wrk) %.0f us = %.0f sends/s per CPU" % (
                secs, ", ".join(parts), 100 * tot / secs, os.cpu_count(),
                1e6 * tot / max(1, sends), 1e6 * gw / max(1, sends),
                sends / gw if gw > 0 else 0))


def fakewa_queue():
    """fakewa's offline queue: entries, bytes of queue.json (rewritten
    whole on every deliver and dequeue, tests/fakewa/fw-msg.c)."""
    path = os.path.join(st.var_dir, "fakewa", "queue.json")
    try:
        size = os.path.getsize(path)
        with open(path) as f:
            k = len(json.load(f))
    except (OSError, ValueError):
        return "?"
    return "%d stanzas, queue.json %.2f MB" % (k, size / 1e6)


def reconnects():
    """waproc log lines "keepalive ping unanswered" (fakewa too busy to
    answer a ping within WA_KEEPALIVE_TIMEOUT_MS: the device reconnects)."""
    k = 0
    d = os.path.join(st.var_dir, "devices")
    for h in os.listdir(d):
        try:
            with open(os.path.join(d, h, "waproc.log"), errors="replace") as f:
                k += sum(1 for line in f if "ping unanswered" in line)
        except OSError:
            pass
    return k


def run_phase(name, rate, c, ring, sampler, base):
    print("%s: wrk %d threads, %d connections, %d s%s (load average %.1f)"
          % (name, threads, c, duration,
             ", rate-limited to %d sends/s" % rate if rate else "",
             os.getloadavg()[0]), flush=True)
    t0 = time.time()
    c0, x0 = cpu_ticks(), ctx_switches()
    r = wrk(rate, name.split()[0], duration, c)
    c1, x1 = cpu_ticks(), ctx_switches()
    t1 = time.time()
    print("  sends/s accepted %.0f (answers/s %.0f: %d requests, %d errors)"
          % (r["accepted_rps"], r["rps"], r["requests"], r["errors"]))
    print("  API latency: p50 %.2f ms, p99 %.2f ms, mean %.2f ms" %
          (r["p50"], r["p99"], r["mean"]), flush=True)
    print("  " + cpu_line(c0, c1, t1 - t0, r["accepted"]), flush=True)
    print("  " + ctx_line(x0, x1, r["accepted"]), flush=True)
    print("  fakewa offline queue at the end of the load: %s" %
          fakewa_queue(), flush=True)
    got = drain(tok, ring, base + r["accepted"], name) - base
    e2e = time.time() - t0
    print("  pipeline: %.0f messages/s reached the receivers (%d in %.1f s "
          "from the load's start to the end of the wait)" %
          (got / e2e, got, e2e))
    print("  fakewa offline queue at the end of the wait: %s; waproc "
          "reconnects after an unanswered keepalive ping: %d" % (
              fakewa_queue(), reconnects()), flush=True)
    samples, via_receipt, seen = sampler.take()
    lat = ack_latency(tok, samples)
    # wrk cycles evenly over the devices: the sampled senders got about
    # len(sampler.ws)/n of the accepted sends
    ns = len(sampler.ws)
    want = r["accepted"] * ns // n
    if lat and len(lat) >= 0.99 * want:
        p99 = "%.1f ms" % pct(lat, 99)
    else:
        p99 = "> %.0f s (only %d of ~%d sampled sends acked by then)" % (
            e2e, len(lat), want)
    print("  accept -> server ack, %d of ~%d sends of %d sampled devices "
          "acked within %.0f s (%d of them known only from their first "
          "delivery receipt): p50 %.1f ms, p99 %s, max %.1f ms" % (
              len(lat), want, ns, e2e, via_receipt, pct(lat, 50), p99,
              max(lat) if lat else float("nan")), flush=True)
    print("  (events seen by the samplers: %s)" % ", ".join(
        "%s %d" % kv for kv in sorted(seen.items(), key=str)), flush=True)
    return r, got, p99


def up():
    """A fresh stack with n paired devices, warmed up (one send each)."""
    global st, tok, pairs_file
    st = stack.Stack(web, env=env)
    st.start()
    tok = st.admin_token()
    t0 = time.time()
    with cf.ThreadPoolExecutor(par) as ex:
        regs = list(ex.map(lambda i: st.post(
            "/api/devices", {"autoStart": True, "name": "send-%d" % i},
            token=tok), range(n)))
    hashes = [(r.json or {}).get("deviceHash") for r in regs]
    if not all(hashes):
        raise SystemExit("register failed: %r" % [r for r in regs
                                                   if not (r.json or {}).
                                                   get("deviceHash")][:3])
    time.sleep(1)
    with cf.ThreadPoolExecutor(par) as ex:
        ok = list(ex.map(pair, [(i, h, tok) for i, h in enumerate(hashes)]))
    while time.time() - t0 < 180:
        s = statuses(tok)
        up = sum(1 for h in hashes if s.get(h) == "connected")
        if up >= n:
            break
        time.sleep(1)
    print("fresh stack (%s): %d devices paired through the API against "
          "fakewa (%d connected, %d scans failed) in %.1f s" % (
              st.base, n, up, ok.count(False), time.time() - t0), flush=True)
    # ring: device i sends to device i+1; the receiver's chat with i
    # holds only what i sent
    if to_mode == "phones":
        code, ans = fakewa("POST", "/phones",
                           {"phones": [target(i) for i in range(n)]})
        if code != 200:
            raise SystemExit("fakewa POST /phones: %d %r" % (code, ans))
    pairs_file = os.path.join(tmp, "pairs")
    with open(pairs_file, "w") as f:
        for i, h in enumerate(hashes):
            f.write("%s %s\n" % (h, target(i)))
    ring = [(hashes[(i + 1) % n], phone(i)) for i in range(n)]
    # warm-up: one send per device (usync, prekey bundle, Signal session)
    with cf.ThreadPoolExecutor(par) as ex:
        wr = list(ex.map(lambda i: st.post(
            "/api/send/message", {"phone": target(i),
                                  "message": "warm-up %d" % i},
            token=tok, headers={"deviceHash": hashes[i]}), range(n)))
    accepted = sum(1 for r in wr if r.status == 200)
    print("warm-up: %d/%d sends accepted (first message per pair: usync, "
          "bundle, session)" % (accepted, n), flush=True)
    got = drain(tok, ring, accepted, "warm-up")
    settle()
    return hashes, ring, got


def settle():
    """Wait (at most 30 s) until the fresh stack is quiet: its processes
    together under 5% of one CPU over a second, so that a run does not
    measure the tail of the pairing and warm-up work."""
    t0 = time.time()
    busy = 0.0
    while time.time() - t0 < 30:
        c0 = sum(v for k, v in cpu_ticks().items() if k != "wrk")
        time.sleep(1)
        busy = sum(v for k, v in cpu_ticks().items() if k != "wrk") - c0
        if busy < 0.05:
            break
    print("  settled: the stack used %.0f%% of one CPU in its last idle "
          "second (%.1f s of waiting)" % (busy * 100, time.time() - t0),
          flush=True)


def down():
    global st
    if st is not None:
        st.stop()
        if os.environ.get("KEEP_STACK") != "1":
            st.cleanup()
    st = None


st = None
try:
    print("bench/send.sh: %s, %d CPUs (load average %s before), N=%d "
          "devices sending to %s, %d s per run, wrk %d threads; "
          "API_RATE_LIMIT=0 (the "
          "API rate limit off), LOG_LEVEL=warn, no access log, fcgi-app "
          "workers %s; each run on a fresh stack (no backlog of the other)"
          % (web, os.cpu_count(), os.getloadavg()[0], n,
             "the next device (a ring)" if to_mode == "ring" else
             "phones of accounts without our devices", duration, threads,
             E.get("FCGI_WORKERS") or "default"), flush=True)
    if HALF_RATE > 0:
        full = {"accepted_rps": 2 * HALF_RATE, "p50": float("nan"),
                "p99": float("nan"), "accepted": 0}
        got_full, lat_full = 0, "(not run: HALF_RATE set)"
    else:
        hashes, ring, base = up()
        sampler = Sampler(tok, hashes[:nsample])
        full, got_full, lat_full = run_phase("full load", 0, conns, ring,
                                             sampler, base)
        sampler.close()
        down()

    half_rate = max(1, int(full["accepted_rps"] / 2))
    if E.get("HALF", "1") == "1":
        hashes, ring, base = up()
        sampler = Sampler(tok, hashes[:nsample])
        half, got_half, lat_half = run_phase("half load", half_rate, conns,
                                             ring, sampler, base)
        sampler.close()
        down()
    else:
        half = {"accepted_rps": 0, "p50": float("nan"),
                "p99": float("nan"), "accepted": 0}
        got_half, lat_half = 0, "(not run: HALF=0)"

    trickle = int(E.get("TRICKLE", "20"))
    tri = None
    if trickle > 0:
        hashes, ring, base = up()
        sampler = Sampler(tok, hashes)
        tri, got_tri, lat_tri = run_phase("trickle", trickle, 8, ring,
                                          sampler, base)
        sampler.close()
    api = {}
    if E.get("API_ONLY", "1") == "1":
        # the accept path alone: fakewa stopped (SIGSTOP), so the waprocs
        # do no send work past their first in-flight window (no acks
        # come); the devices stay connected for the run (keepalive)
        if st is None:
            hashes, ring, base = up()
        fpid = int(st.state()["fakewa"])
        os.kill(fpid, signal.SIGSTOP)
        try:
            for label, rate in (("full", 0), ("half", -1)):
                if rate < 0:
                    rate = max(1, int(api["full"]["accepted_rps"] / 2))
                print("accept path only (fakewa stopped), %s load: wrk %d "
                      "threads, %d connections, %d s%s (load average %.1f)"
                      % (label, threads, conns, duration,
                         ", rate-limited to %d sends/s" % rate if rate
                         else "", os.getloadavg()[0]), flush=True)
                t0, c0 = time.time(), cpu_ticks()
                r = wrk(rate, "apionly", duration, conns)
                c1, t1 = cpu_ticks(), time.time()
                r["rate"] = rate
                api[label] = r
                print("  sends/s accepted %.0f (%d requests, %d errors); "
                      "API latency p50 %.2f ms, p99 %.2f ms" % (
                          r["accepted_rps"], r["requests"], r["errors"],
                          r["p50"], r["p99"]))
                print("  " + cpu_line(c0, c1, t1 - t0, r["accepted"]),
                      flush=True)
        finally:
            os.kill(fpid, signal.SIGCONT)
        print("  waproc reconnects after an unanswered keepalive ping: %d" %
              reconnects(), flush=True)
    down()

    print()
    print("SUMMARY (N=%d devices, %s, %d s per run, %d CPUs shared with "
          "whatever else runs: load average now %.1f)" % (
              n, web, duration, os.cpu_count(), os.getloadavg()[0]))
    print("  sends/s accepted at full load:        %.0f   (target >= 5000)" %
          full["accepted_rps"])
    print("  API latency at full load:             p50 %.2f ms, p99 %.2f ms"
          % (full["p50"], full["p99"]))
    print("  API latency at half load (%5d/s):    p50 %.2f ms, p99 %.2f ms "
          "(target p99 <= 25 ms; achieved %.0f sends/s)" % (
              half_rate, half["p50"], half["p99"], half["accepted_rps"]))
    print("  accept -> server ack p99:             full load %s;\n"
          "                                        half load %s" % (lat_full, lat_half))
    print("  reached the receivers:                full load %d of %d, "
          "half load %d of %d accepted (within DRAIN_MAX=%d s)" % (
              got_full, full["accepted"], got_half, half["accepted"],
              drain_max))
    if api:
        print("  accept path alone (fakewa stopped): %.0f sends/s, p50 %.2f"
              " ms, p99 %.2f ms; at %d/s: p50 %.2f ms, p99 %.2f ms" % (
                  api["full"]["accepted_rps"], api["full"]["p50"],
                  api["full"]["p99"], api["half"]["rate"],
                  api["half"]["p50"], api["half"]["p99"]))
    if tri:
        print("  trickle (%d sends/s, every device sampled): API p99 %.2f "
              "ms, accept -> server ack p99 %s, %d of %d reached the "
              "receivers" % (trickle, tri["p99"], lat_tri, got_tri,
                             tri["accepted"]))
finally:
    down()
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)
PY
