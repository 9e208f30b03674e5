#!/usr/bin/env python3
"""test_devmgr.py - devmgr, wactl and waproc as real processes.

Starts build/bin/devmgr in a private VAR_DIR, drives it with build/bin/wactl
and checks what really happens: users, registration, a waproc per device
with a scrubbed environment, kill -9 -> crashed + restarted (events seen as
signed status webhooks on a local receiver), single instance, SIGTERM stops
every child within 5 s, and a restarted devmgr brings the devices back.
python3 stdlib only; prints TAP.
"""
import hashlib
import hmac
import http.server
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
    __file__))))
BIN = os.path.join(ROOT, "build", "bin")
DEVMGR = os.path.join(BIN, "devmgr")
WACTL = os.path.join(BIN, "wactl")
WAPROC = os.path.join(BIN, "waproc")

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


class Hooks(http.server.BaseHTTPRequestHandler):
    got = []            # accepted (headers, body)
    refused = []        # (headers, body) answered 503
    flaky = False       # refuse the first attempt of every event id
    lock = threading.Lock()

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        eid = self.headers.get("X-Webhook-Id")
        with Hooks.lock:
            if Hooks.flaky and eid not in [h.get("X-Webhook-Id") for h, _
                                           in Hooks.refused]:
                Hooks.refused.append((dict(self.headers), body))
                code = 503
            else:
                Hooks.got.append((dict(self.headers), body))
                code = 200
        self.send_response(code)
        self.end_headers()

    def log_message(self, *a):
        pass


def main():
    if not all(os.access(p, os.X_OK) for p in (DEVMGR, WACTL, WAPROC)):
        print("1..0 # SKIP devmgr/wactl/waproc not built")
        return 0
    tmp = tempfile.mkdtemp(prefix="dmsys")
    var = os.path.join(tmp, "var")
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "VAR_DIR": var,
        "RESTART_BACKOFF_MIN_MS": "200",
        "RESTART_BACKOFF_MAX_MS": "2000",
        "HEARTBEAT_INTERVAL_MS": "500",
        "HEARTBEAT_TIMEOUT_MS": "2000",
        "RESTART_MAX_CRASHES": "3",
        "DEVICE_CALL_TIMEOUT_MS": "1000",
        "DEFAULT_ADMIN_PASS": "not-in-children-please",
        "S3_SECRET_KEY": "leak-me-not",
        "LOG_LEVEL": "info",
    }
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hooks)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    log = open(os.path.join(tmp, "devmgr.log"), "ab")
    procs = []

    def start():
        p = subprocess.Popen([DEVMGR, "-d"], env=env, stdout=log,
                             stderr=log, cwd=tmp)
        procs.append(p)
        return p

    def wactl(*args, stdin=None):
        for _ in range(100):
            try:
                r = subprocess.run([WACTL] + list(args), env=env,
                                   input=stdin, capture_output=True,
                                   text=True, timeout=20)
                return r.returncode, r.stdout, r.stderr
            except (PermissionError, OSError) as e:
                # the shared build/ may be relinking wactl right now
                err = e
                time.sleep(0.1)
        return 127, "", str(err)

    def info(h):
        rc, out, _ = wactl("--json", "devices", "info", h)
        if rc != 0:
            return None
        return json.loads(out)["data"]

    def running_pid(h, not_pid=None):
        d = info(h)
        if d and d.get("process") and d["status"] == "disconnected":
            pid = d["process"]["pid"]
            if pid != not_pid:
                return pid
        return None

    def devmgr_log():
        with open(os.path.join(tmp, "devmgr.log"), "rb") as f:
            return f.read().decode(errors="replace")

    try:
        rc, out, err = wactl("ping")
        ok(rc == 3, "wactl: exit 3 while devmgr is not running",
           (rc, out, err))
        dm = start()
        ok(wait_for(lambda: wactl("ping")[0] == 0, 10),
           "devmgr answers PING", devmgr_log())
        ok(os.stat(var).st_mode & 0o777 == 0o700, "VAR_DIR is 0700")
        ok(os.stat(os.path.join(var, "registry.db")).st_mode & 0o777 ==
           0o600, "registry.db is 0600")
        dup = subprocess.run([DEVMGR, "-d"], env=env, capture_output=True,
                             text=True, timeout=10)
        ok(dup.returncode != 0 and "another devmgr" in dup.stderr,
           "a second devmgr on the same VAR_DIR is refused", dup.stderr)
        ok("still has the password" not in devmgr_log(),
           "no default-password warning with a custom password")

        rc, out, err = wactl("users", "add", "alice", stdin="secret123\n")
        ok(rc == 0, "wactl users add (password on stdin)", err)
        rc, out, err = wactl("users", "list")
        ok(rc == 0 and "alice" in out and "admin" in out, "users list",
           out + err)
        rc, out, err = wactl("users", "add", "alice", stdin="secret123\n")
        ok(rc == 1 and "USER_EXISTS" in err, "duplicate user: exit 1", err)
        rc, out, err = wactl("devices", "frobnicate")
        ok(rc == 2, "usage error: exit 2", (rc, err))

        rc, out, err = wactl("devices", "register", "--owner", "alice",
                             "--name", "phone-1", "--status-webhook",
                             "http://127.0.0.1:%d/hook" % port, "--secret",
                             "s3cr3t")
        h = out.strip()
        ok(rc == 0 and len(h) == 16 and all(c in "0123456789abcdef"
                                            for c in h),
           "devices register prints a 16-hex hash", out + err)
        rc, out, err = wactl("devices", "register", "--status-webhook",
                             "ftp://127.0.0.1/x")
        ok(rc == 1 and "INVALID_WEBHOOK_URL" in err,
           "non-http status webhook refused", err)

        pid = wait_for(lambda: running_pid(h), 10)
        ok(pid, "waproc started and reported disconnected", devmgr_log())
        d = info(h) or {}
        ok(d.get("owner") == "alice" and d.get("name") == "phone-1",
           "device owner and name", d)
        ok(d.get("webhooks", {}).get("hasStatusSecret") is True and
           "s3cr3t" not in json.dumps(d), "secret flagged, never shown")
        ddir = os.path.join(var, "devices", h)
        ok(os.path.isdir(ddir) and os.stat(ddir).st_mode & 0o777 == 0o700,
           "device directory 0700")
        ok(wait_for(lambda: os.path.exists(os.path.join(ddir, "store.db")),
                    5) and os.stat(os.path.join(ddir, "store.db")).st_mode
           & 0o777 == 0o600, "store.db 0600")
        try:
            with open("/proc/%d/environ" % pid, "rb") as f:
                cenv = dict(kv.split(b"=", 1) for kv in
                            f.read().split(b"\0") if b"=" in kv)
            keys = set(k.decode() for k in cenv)
        except OSError as e:
            keys = {"?": str(e)}
        allowed = {"PATH", "HOME", "TZ", "LANG", "WAPROC_DEVICE",
                   "WAPROC_TOKEN", "WAPROC_DIR", "WAPROC_ENDPOINT",
                   "LOG_LEVEL", "WA_SERVER_URL", "WA_CERT_ROOT",
                   "WA_APP_VERSION", "HEARTBEAT_INTERVAL_MS", "WEBHOOK_URL",
                   "WEBHOOK_SECRET", "WA_CA_FILE", "WA_KEEPALIVE_MS",
                   "WA_KEEPALIVE_TIMEOUT_MS"}
        ok(keys <= allowed and "WAPROC_DEVICE" in keys,
           "waproc environment scrubbed", sorted(keys - allowed))
        try:
            exe = os.readlink("/proc/%d/exe" % pid)
        except OSError:
            exe = ""
        ok(exe == os.path.realpath(WAPROC), "the child is waproc", exe)
        # libcurl comes with a waproc's first HTTP request (webhook or
        # media: waproc/lazycurl.c), not with its start
        try:
            with open("/proc/%d/maps" % pid) as f:
                curl_maps = [ln.split()[-1] for ln in f if "/libcurl" in ln]
        except OSError as e:
            curl_maps = [str(e)]
        ok(curl_maps == [], "an idle waproc has not loaded libcurl",
           sorted(set(curl_maps)))

        # kill -9 -> crashed, then restarted, each a signed status webhook
        Hooks.got.clear()
        os.kill(pid, signal.SIGKILL)
        pid2 = wait_for(lambda: running_pid(h, not_pid=pid), 10)
        ok(pid2 and pid2 != pid, "restarted after kill -9 (new pid)",
           devmgr_log())

        def events():
            with Hooks.lock:
                return [json.loads(b)["event"]["type"] for _, b in
                        Hooks.got]
        wait_for(lambda: "restarted" in events() and "disconnected" in
                 events()[events().index("restarted"):], 10)
        ev = events()
        ok("crashed" in ev and "restarted" in ev and
           ev.index("crashed") < ev.index("restarted"),
           "status webhooks: crashed then restarted", ev)
        with Hooks.lock:
            got = list(Hooks.got)
        crashed = [(hd, b) for hd, b in got
                   if json.loads(b)["event"]["type"] == "crashed"]
        if crashed:
            hd, body = crashed[0]
            hd = {k.lower(): v for k, v in hd.items()}
            p = json.loads(body)
            want = hmac.new(b"s3cr3t", body, hashlib.sha256).hexdigest()
            ok(hd.get("x-webhook-signature") == want,
               "X-Webhook-Signature is HMAC-SHA256 of the body",
               (hd.get("x-webhook-signature"), want))
            ok(hd.get("user-agent") == "WhatsApp-Gateway-Webhook/1.0" and
               hd.get("content-type") == "application/json",
               "webhook User-Agent and Content-Type", hd)
            ok(len(hd.get("x-webhook-id", "")) >= 16 and
               hd.get("x-webhook-timestamp", "").isdigit(),
               "X-Webhook-Id and X-Webhook-Timestamp", hd)
            ok(p["device"] == {"deviceHash": h, "status": "crashed"},
               "payload device object", p["device"])
            ok("signal 9" in json.dumps(p["event"]) and
               p["event"].get("code") == "PROCESS_CRASHED" and
               p.get("timestamp", "").endswith("Z"),
               "payload event carries the cause", p)
            ids = [dict((k.lower(), v) for k, v in x[0].items())
                   .get("x-webhook-id") for x in got]
            ok(len(ids) == len(set(ids)), "event ids are unique")
        else:
            for _ in range(6):
                ok(False, "crashed webhook received", ev)

        d = info(h) or {}
        ok(d.get("process", {}).get("restarts", 0) >= 1,
           "restart counted", d.get("process"))

        rc, out, err = wactl("--json", "devices", "stop", h)
        ok(rc == 0, "devices stop", err)
        ok(wait_for(lambda: (info(h) or {}).get("status") == "stopped", 6),
           "stopped after stop", info(h))
        rc, out, err = wactl("devices", "start", h)
        ok(rc == 0, "devices start", err)
        ok(wait_for(lambda: running_pid(h), 10), "running again")

        rc, out, err = wactl("--json", "devices", "call", h, "/app/status")
        try:
            res = json.loads(out)["data"]["results"]
        except (ValueError, KeyError, TypeError):
            res = None
        ok(rc == 0 and res == {"is_connected": False, "is_logged_in": False,
                               "device_id": ""},
           "device call /app/status answered by waproc", out + err)
        rc, out, err = wactl("devices", "call", h, "/send/message",
                             "--method", "POST", "--body", '{"phone":"1"}')
        ok(rc == 1 and "AUTHENTICATION_ERROR" in err,
           "device call before login: GOWA's 401, no fake success", err)

        rc, out, err = wactl("devices", "logout", h)
        ok(rc == 1 and "not logged in" in err,
           "wactl devices logout reaches waproc (nothing to log out)", err)

        # a frozen waproc misses its heartbeats: killed and restarted
        pid_s = running_pid(h)
        Hooks.got.clear()
        os.kill(pid_s, signal.SIGSTOP)
        t0 = time.time()
        rc, out, err = wactl("devices", "call", h, "/app/status")
        ok(rc == 1 and "DEVICE_TIMEOUT" in err and time.time() - t0 < 1.9,
           "no answer by the deadline: 504 DEVICE_TIMEOUT (%.2f s)" %
           (time.time() - t0), err)
        pid_t = wait_for(lambda: running_pid(h, not_pid=pid_s), 10)
        ok(pid_t and pid_t != pid_s, "silent waproc killed and restarted",
           devmgr_log())
        wait_for(lambda: "crashed" in events(), 3)
        with Hooks.lock:
            causes = [json.loads(b)["event"].get("data", {}).get("cause")
                      for _, b in Hooks.got
                      if json.loads(b)["event"]["type"] == "crashed"]
        ok("heartbeat timeout" in causes, "cause: heartbeat timeout", causes)

        # crashes in a row (RESTART_MAX_CRASHES=3 in the window): failed
        for i in range(6):
            d = info(h) or {}
            if d.get("status") == "failed":
                break
            p = wait_for(lambda: running_pid(h), 10)
            if p:
                os.kill(p, signal.SIGKILL)
                wait_for(lambda: (info(h) or {}).get("status") != "disconnected"
                         or running_pid(h, not_pid=p), 5)
        ok(wait_for(lambda: (info(h) or {}).get("status") == "failed", 10),
           "too many crashes: status failed", info(h))
        time.sleep(1.0)
        d = info(h) or {}
        ok(d.get("status") == "failed" and d.get("process") is None,
           "failed: no more restarts", d)
        rc, out, err = wactl("devices", "start", h)
        ok(rc == 0 and wait_for(lambda: running_pid(h), 10),
           "an explicit start brings a failed device back", err)

        rc, out, err = wactl("stats")
        ok(rc == 0 and "1 running" in out, "wactl stats", out + err)
        rc, out, err = wactl("devices", "info", "0000000000000000")
        ok(rc == 1 and "DEVICE_NOT_FOUND" in err, "unknown device: exit 1",
           err)

        # SIGTERM: every child gone within 5 s, exit 0
        pid3 = running_pid(h)
        t0 = time.time()
        dm.send_signal(signal.SIGTERM)
        try:
            rc = dm.wait(timeout=8)
        except subprocess.TimeoutExpired:
            rc = None
        dt = time.time() - t0
        ok(rc == 0 and dt <= 5.5, "devmgr exits 0 on SIGTERM in %.2f s" % dt,
           devmgr_log())
        ok(pid3 and not os.path.exists("/proc/%d" % pid3) or
           open("/proc/%d/stat" % pid3).read().split()[2] == "Z",
           "its waproc is gone")
        rc, out, err = wactl("ping")
        ok(rc == 3, "wactl: exit 3 when devmgr is gone", (rc, err))

        import sqlite3
        db = sqlite3.connect("file:%s?mode=ro" % os.path.join(
            var, "registry.db"), uri=True)
        pend = db.execute("SELECT event_id FROM status_webhook_queue WHERE "
                          "state = 'pending'").fetchall()
        db.close()
        ok(len(pend) >= 1, "status webhook of the shutdown left pending",
           pend)
        pend_ids = set(r[0] for r in pend)

        # restart: the device comes back (desired state running)
        Hooks.got.clear()
        Hooks.flaky = True
        dm = start()
        ok(wait_for(lambda: wactl("ping")[0] == 0, 10), "devmgr restarted")
        pid4 = wait_for(lambda: running_pid(h), 10)
        ok(pid4 and pid4 != pid3, "device brought back at start",
           devmgr_log())

        def got_ids():
            with Hooks.lock:
                return set(hd.get("X-Webhook-Id") for hd, _ in Hooks.got)
        ok(wait_for(lambda: pend_ids <= got_ids(), 15),
           "pending webhooks delivered after a devmgr restart",
           (pend_ids, got_ids()))
        with Hooks.lock:
            refused = {hd.get("X-Webhook-Id"): b for hd, b in Hooks.refused}
            accepted = {hd.get("X-Webhook-Id"): b for hd, b in Hooks.got}
        retried = [i for i in refused if i in accepted]
        ok(retried and all(refused[i] == accepted[i] for i in retried),
           "a refused webhook is retried with the same id and body",
           (list(refused), list(accepted)))
        Hooks.flaky = False

        rc, out, err = wactl("devices", "delete", h)
        ok(rc == 0, "devices delete", err)
        ok(wait_for(lambda: not os.path.exists(ddir), 8),
           "device directory removed after delete")
        ok(wait_for(lambda: not os.path.exists("/proc/%d" % pid4) or
                    open("/proc/%d/stat" % pid4).read().split()[2] == "Z",
                    6), "its process stopped")
        dm.send_signal(signal.SIGTERM)
        ok(dm.wait(timeout=8) == 0, "clean exit")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
        srv.shutdown()
        log.close()
        if failed:
            print("# devmgr log: %s" % os.path.join(tmp, "devmgr.log"))
        else:
            shutil.rmtree(tmp, ignore_errors=True)
    print("1..%d" % n)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
