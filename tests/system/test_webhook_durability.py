#!/usr/bin/env python3
"""test_webhook_durability.py - the message-webhook queue (waproc/msghook.c
over store.db) as a real process that is made to suffer: a receiver down
for 20 s, a kill -9 in the middle of deliveries, a receiver that always
answers 500.

The process is bench/webhooks-drive.c ("drive" mode: store_open +
msghook_enqueue in transactions + msghook's poll loop, the way waproc runs
it), compiled here against build/lib/libwa.a and libcommon.a.  The receiver
is an HTTP/1.1 server in this process that records every request.  Asserts
on counts, ids, bodies and signatures seen by the receiver and on the rows
left in store.db, never on speed: short backoff options keep it under a
minute, the waits are only upper bounds.  python3 stdlib only; prints TAP.
"""
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
SECRET = "durability-test-secret"

n = 0
failed = 0


def ok(cond, name, diag=None):
    global n, failed
    n += 1
    print(("ok %d - %s" if cond else "not ok %d - %s") % (n, name))
    if not cond:
        failed += 1
        if diag:
            for line in str(diag).splitlines()[-20:]:
                print("#   " + line)
    sys.stdout.flush()
    return cond


def wait_for(fn, timeout=10.0, step=0.05):
    end = time.time() + timeout
    while time.time() < end:
        v = fn()
        if v:
            return v
        time.sleep(step)
    return fn()


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def sig_of(body):
    return "sha256=" + hmac.new(SECRET.encode(), body,
                                hashlib.sha256).hexdigest()


class Rx:
    """Receiver: records (id, signature, body, answer) of every request.
    mode "ok" answers 200, "fail" 500; with hold_after set, requests
    after that many 200s are recorded and held unanswered until release()."""

    def __init__(self, port, mode="ok", hold_after=None):
        self.reqs = []
        self.lock = threading.Lock()
        self.mode = mode
        self.hold_after = hold_after
        self.answered = 0
        self.held = 0
        self.gate = threading.Event()
        rx = self

        class H(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get(
                    "Content-Length", 0)))
                r = {"id": self.headers.get("X-Webhook-Id"),
                     "sig": self.headers.get("X-Hub-Signature-256"),
                     "ts": self.headers.get("X-Webhook-Timestamp"),
                     "body": body, "code": None}
                with rx.lock:
                    rx.reqs.append(r)
                    hold = (rx.hold_after is not None and
                            rx.answered >= rx.hold_after)
                    if hold:
                        rx.held += 1
                    else:
                        r["code"] = 500 if rx.mode == "fail" else 200
                        rx.answered += 1
                if hold:
                    rx.gate.wait(30)
                    self.close_connection = True
                    return      # never answered
                self.send_response(r["code"])
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), H)
        self.srv.daemon_threads = True
        self.th = threading.Thread(target=self.srv.serve_forever,
                                   daemon=True)
        self.th.start()

    def release(self):
        with self.lock:
            self.hold_after = None
        self.gate.set()

    def snapshot(self):
        with self.lock:
            return list(self.reqs)

    def count_ok(self):
        with self.lock:
            return len(set(r["id"] for r in self.reqs if r["code"] == 200))

    def close(self):
        self.release()
        self.srv.shutdown()
        self.srv.server_close()


def body_index(b):
    """(index, run tag, body event_id) of a driver body, or None."""
    try:
        j = json.loads(b)
        return (int(j["message"]["id"][4:], 16), j["bench"]["run"],
                j["event_id"])
    except (ValueError, KeyError, TypeError):
        return None


def check_bodies(reqs):
    """Problems with signatures, header/body ids and bodies per id."""
    bad = []
    by_id = {}
    for r in reqs:
        if r["sig"] != sig_of(r["body"]):
            bad.append("bad signature on %s" % r["id"])
        bi = body_index(r["body"])
        if bi is None or bi[2] != r["id"]:
            bad.append("X-Webhook-Id %s is not the body's event_id" % r["id"])
        by_id.setdefault(r["id"], set()).add(r["body"])
    for i, bodies in by_id.items():
        if len(bodies) != 1:
            bad.append("event %s delivered with %d different bodies" %
                       (i, len(bodies)))
    return bad


def store_rows(d, sql):
    c = sqlite3.connect("file:%s?mode=ro" % os.path.join(d, "store.db"),
                        uri=True, timeout=5)
    try:
        return c.execute(sql).fetchall()
    finally:
        c.close()


def kv(out):
    r = {}
    for line in out.splitlines():
        if "=" in line and " " not in line.split("=", 1)[0]:
            k, v = line.split("=", 1)
            r[k] = v
    return r


class Driver:
    def __init__(self, exe, d, port, *args):
        self.p = subprocess.Popen(
            [exe, "drive", "-d", d, "-u", "http://127.0.0.1:%d/hook" % port,
             "-s", SECRET, "-P", "-x"] + list(args),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.lines = []
        self.err = []
        self.committed = -1
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()
        self.te = threading.Thread(target=self._read_err, daemon=True)
        self.te.start()

    def _read(self):
        for line in self.p.stdout:
            self.lines.append(line.rstrip("\n"))
            if line.startswith("committed "):
                self.committed = int(line.split()[1])

    def _read_err(self):
        for line in self.p.stderr:
            self.err.append(line.rstrip("\n"))

    def wait(self, timeout):
        try:
            rc = self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rc = self.p.wait()
            rc = "timeout"
        self.t.join(2)
        self.te.join(2)
        return rc

    def out(self):
        return kv("\n".join(self.lines))


def build(tmp):
    exe = os.path.join(tmp, "webhooks-drive")
    libs = subprocess.run(
        ["pkg-config", "--cflags", "--libs", "libzmq", "libcurl",
         "libsodium", "sqlite3", "json-c", "libprotobuf-c", "openssl",
         "zlib"], capture_output=True, text=True).stdout.split()
    r = subprocess.run(
        ["cc", "-O2", "-D_GNU_SOURCE", "-Icommon", "-Iwaproc", "-Ibuild/gen",
         "bench/webhooks-drive.c", "build/lib/libwa.a", "build/lib/libcommon.a"]
        + libs + ["-lm", "-o", exe], cwd=ROOT, capture_output=True,
        text=True)
    return exe if r.returncode == 0 else None, r.stderr


def test_receiver_down(exe, tmp):
    """(a) receiver down ~20 s, then up: all delivered, after retries."""
    K = 200
    d = os.path.join(tmp, "a")
    port = free_port()
    t0 = time.time()
    drv = Driver(exe, d, port, "-n", str(K), "-b", "10", "-R", "a1",
                 "-t", "2000", "-a", "1000", "-B", "200", "-M", "2000")
    ok(wait_for(lambda: drv.committed == K - 1, 15),
       "down: %d events enqueued in transactions while the receiver is down"
       % K, "\n".join(drv.err))
    time.sleep(max(0, 20 - (time.time() - t0)))
    ok(drv.p.poll() is None, "down: the driver keeps running for 20 s",
       "\n".join(drv.err))
    rows = store_rows(d, "SELECT state, COUNT(*), MIN(attempts) FROM "
                      "webhook_delivery GROUP BY state")
    ok(len(rows) == 1 and rows[0][0] == "pending" and rows[0][1] == K and
       rows[0][2] >= 2, "down: after 20 s all %d still pending, each tried "
       "at least twice, none dead" % K, rows)
    rx = Rx(port)
    try:
        rc = drv.wait(30)
        o = drv.out()
        ok(rc == 0 and o.get("delivered") == str(K) and
           o.get("dead") == "0" and o.get("pending") == "0",
           "down: receiver up -> every event delivered, queue drained",
           (rc, o, "\n".join(drv.err)))
        reqs = rx.snapshot()
        got = {}
        for r in reqs:
            bi = body_index(r["body"])
            if bi is not None:
                got.setdefault(bi[0], set()).add(r["id"])
        ok(sorted(got) == list(range(K)) and
           all(len(v) == 1 for v in got.values()) and
           len(set(r["id"] for r in reqs)) == K,
           "down: the receiver got each of the %d events, one event_id each"
           % K, (len(got), len(set(r["id"] for r in reqs))))
        bad = check_bodies(reqs)
        ok(not bad, "down: every signature valid, X-Webhook-Id = body "
           "event_id, one consistent body per event_id", "\n".join(bad[:20]))
        rows = store_rows(d, "SELECT COUNT(*) FROM webhook_delivery WHERE "
                          "state = 'delivered' AND attempts >= 2")
        ok(rows[0][0] == K, "down: the store records every event delivered "
           "after at least one failed attempt", rows)
    finally:
        rx.close()


def test_kill9(exe, tmp):
    """(b) kill -9 with deliveries in flight, restart on the same store."""
    K = 1000
    d = os.path.join(tmp, "b")
    port = free_port()
    rx = Rx(port, hold_after=150)
    try:
        # enqueued at 200/s (5 s) while delivering: the kill also lands
        # between enqueue transactions
        drv = Driver(exe, d, port, "-n", str(K), "-b", "20", "-r", "200",
                     "-R", "run1", "-t", "20000", "-a", "50", "-B", "200",
                     "-M", "1000")
        ok(wait_for(lambda: rx.held >= 8, 20),
           "kill: 150 answered, then deliveries held in flight (%d)" %
           rx.held, "\n".join(drv.err))
        alive = drv.p.poll() is None
        drv.p.send_signal(signal.SIGKILL)
        rc = drv.wait(10)
        c1 = drv.committed
        ok(alive and rc == -signal.SIGKILL and 0 <= c1 < K - 1,
           "kill: kill -9 mid-delivery, mid-enqueue (committed through %d)"
           % c1, (alive, rc, c1))
        held_ids = set(r["id"] for r in rx.snapshot() if r["code"] is None)
        rx.release()
        before = len(rx.snapshot())

        drv2 = Driver(exe, d, port, "-n", str(K), "-b", "20", "-R", "run2",
                      "-t", "5000", "-a", "50", "-B", "200", "-M", "1000")
        rc2 = drv2.wait(40)
        o = drv2.out()
        ok(rc2 == 0 and o.get("events") == str(K) and
           o.get("delivered") == str(K) and o.get("pending") == "0" and
           o.get("dead") == "0",
           "kill: restarted on the same store, the queue drains: %s of %d "
           "delivered" % (o.get("delivered"), K), (rc2, o,
                                                   "\n".join(drv2.err)))
        reqs = rx.snapshot()
        answered = {}
        for r in reqs:
            bi = body_index(r["body"])
            if bi is not None and r["code"] == 200:
                answered.setdefault(bi[0], set()).add(bi[1])
        missing = [i for i in range(K) if i not in answered]
        ok(not missing, "kill: every one of the %d events answered 200 at "
           "least once (none lost)" % K, "missing: %s" % missing[:20])
        replaced = [i for i in range(c1 + 1) if answered.get(i) != {"run1"}]
        ok(not replaced, "kill: the %d events committed before the kill "
           "went out with the body of the first run" % (c1 + 1),
           replaced[:20])
        bad = check_bodies(reqs)
        ok(not bad, "kill: duplicates only with the same X-Webhook-Id and "
           "an identical body; every signature valid", "\n".join(bad[:20]))
        counts = {}
        for r in reqs:
            counts[r["id"]] = counts.get(r["id"], 0) + 1
        again = [i for i in held_ids if counts.get(i, 0) < 2 or not any(
            r["id"] == i and r["code"] == 200 for r in reqs[before:])]
        ok(held_ids and not again, "kill: the %d deliveries in flight at the "
           "kill were sent again after the restart" % len(held_ids),
           again[:20])
        dups = sum(v - 1 for v in counts.values())
        ok(len(counts) == K and dups >= len(held_ids),
           "kill: %d distinct event ids, %d duplicate deliveries" %
           (len(counts), dups), (len(counts), dups))
    finally:
        rx.close()


def test_dead_letter(exe, tmp):
    """(c) a receiver that always answers 500: dead after max attempts."""
    K, A = 20, 3
    d = os.path.join(tmp, "c")
    port = free_port()
    rx = Rx(port, mode="fail")
    try:
        drv = Driver(exe, d, port, "-n", str(K), "-b", "5", "-R", "c1",
                     "-t", "5000", "-a", str(A), "-B", "50", "-M", "200")
        rc = drv.wait(30)
        o = drv.out()
        ok(rc == 0 and o.get("dead") == str(K) and
           o.get("delivered") == "0" and o.get("pending") == "0",
           "dead: all %d events dead-lettered, none pending" % K,
           (rc, o, "\n".join(drv.err)))
        reqs = rx.snapshot()
        counts = {}
        for r in reqs:
            counts[r["id"]] = counts.get(r["id"], 0) + 1
        ok(len(counts) == K and all(v == A for v in counts.values()),
           "dead: each event tried exactly %d times (max attempts)" % A,
           counts)
        bad = check_bodies(reqs)
        ok(not bad, "dead: retries keep the X-Webhook-Id, body and a valid "
           "signature", "\n".join(bad[:20]))
        rows = store_rows(d, "SELECT q.state, q.attempts, d.state, "
                          "d.attempts, d.last_status, d.last_error FROM "
                          "webhook_queue q JOIN webhook_delivery d ON "
                          "d.event_row = q.id")
        ok(len(rows) == K and all(r == ("dead", A, "dead", A, 500,
                                        "HTTP 500") for r in rows),
           "dead: store rows dead, %d attempts, last status 500" % A,
           rows[:5])
        # a later run on the same store sends nothing again
        before = len(rx.snapshot())
        drv2 = Driver(exe, d, port, "-n", "0", "-R", "c2", "-a", str(A),
                      "-B", "50", "-M", "200")
        rc2 = drv2.wait(15)
        o2 = drv2.out()
        ok(rc2 == 0 and o2.get("dead") == str(K) and
           len(rx.snapshot()) == before,
           "dead: a restart does not resend dead-lettered events",
           (rc2, o2, len(rx.snapshot()) - before))
    finally:
        rx.close()


def main():
    if not (os.path.exists(os.path.join(ROOT, "build/lib/libwa.a")) and
            os.path.exists(os.path.join(ROOT, "build/lib/libcommon.a"))):
        print("1..0 # SKIP build/lib/libwa.a not built (make)")
        return 0
    tmp = tempfile.mkdtemp(prefix="test_webhook_durability.")
    try:
        exe, err = build(tmp)
        if not ok(exe is not None, "bench/webhooks-drive.c builds", err):
            print("1..%d" % n)
            return 1
        test_dead_letter(exe, tmp)
        test_kill9(exe, tmp)
        test_receiver_down(exe, tmp)
    finally:
        if failed:
            print("# stores kept in %s" % tmp)
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
