#!/usr/bin/env python3
"""test_fcgi_threads.py - a device call that waits (its waproc does not
answer: SIGSTOP) holds one fcgi-app request thread, not a whole worker:
with ONE worker process of 4 threads behind nginx, 3 such calls are in
flight while other requests are still answered.  Then the worker is told
to stop (SIGTERM) with calls in hand: each of them still gets its own
answer (504 DEVICE_TIMEOUT from the device-call deadline, never a cut-off
connection or a 502), and the master starts a new worker that serves.
Before that, 960 concurrent POSTs with JSON bodies go through the same one
worker's threads: every one answered, no worker lost.

With TSAN_FCGI=<fcgi-app built with -fsanitize=thread> (tests/run.sh's
tsan stage) the same runs with that fcgi-app, and ThreadSanitizer must
report nothing.

Nothing here asserts on speed: "while the calls are in flight" is checked
by order (each slow call is still pending when the other answer came
back), with a device-call deadline (8 s) far above what a request to
devmgr alone takes.
"""
import os
import shutil
import signal
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from stack import Stack, Tap, children_of  # noqa: E402

TSAN_FCGI = os.environ.get("TSAN_FCGI")     # tests/run.sh's tsan stage
t = Tap("tsan: " if TSAN_FCGI else "")
SLOW = 3
TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))


def tsan_env(tmp):
    """The stack's programs, with fcgi-app built with ThreadSanitizer;
    its reports go to files in tmp/tsan (libzmq and the libstdc++ it
    calls are not instrumented: tests/tsan.supp)."""
    bindir = os.path.join(tmp, "bin")
    os.makedirs(bindir)
    os.makedirs(os.path.join(tmp, "tsan"))
    src = os.path.join(TOP, "build", "bin")
    for name in os.listdir(src):
        os.symlink(os.path.join(src, name), os.path.join(bindir, name))
    os.remove(os.path.join(bindir, "fcgi-app"))
    os.symlink(os.path.abspath(TSAN_FCGI), os.path.join(bindir, "fcgi-app"))
    return {"BIN_DIR": bindir,
            "TSAN_OPTIONS": "suppressions=%s:log_path=%s" % (
                os.path.join(TOP, "tests", "tsan.supp"),
                os.path.join(tmp, "tsan", "fcgi-app"))}


def tsan_reports(tmp):
    out = []
    d = os.path.join(tmp, "tsan")
    for name in sorted(os.listdir(d)):
        with open(os.path.join(d, name), errors="replace") as f:
            out.append(f.read())
    return out


def main(tmp):
    env = {"FCGI_WORKERS": 1, "FCGI_THREADS": 4,
           "DEVICE_CALL_TIMEOUT_MS": 8000,
           # the stopped waproc is not restarted meanwhile
           "HEARTBEAT_TIMEOUT_MS": 60000}
    if TSAN_FCGI:
        env.update(tsan_env(tmp))
    st = Stack("nginx", env=env)
    st.start()
    stopped = None
    try:
        tok = st.admin_token()
        fp = st.pid("fcgi")
        workers = children_of(fp) if fp else []
        t.ok(len(workers) == 1, "one fcgi-app worker process", workers)
        r = st.post("/api/devices", {"autoStart": True}, token=tok)
        h = (r.json or {}).get("deviceHash") or \
            ((r.json or {}).get("data") or {}).get("deviceHash")
        t.ok(r.status in (200, 201) and h, "device registered and started",
             r)
        wp = st.wait(lambda: st.waproc_pid(h), 15)
        t.ok(wp, "its waproc runs")
        # answers before the stop: the device call path works (once the
        # waproc has said HELLO: "starting" before)
        last = []

        def answers():
            last[:] = [st.get("/api/chats?deviceHash=" + h, token=tok)]
            return last[0].status < 500
        t.ok(st.wait(answers, 20), "a device call answers",
             last[0] if last else None)

        # the 4 threads of the one worker parse bodies at the same time:
        # many concurrent POSTs with JSON bodies (to a device that does
        # not exist: parsed, then refused by devmgr) all get their own
        # answer, and no worker dies (each thread has its own tokener,
        # request and response)
        big = {"phone": "6281234567890", "message": "x",
               "pad": [{"k%d" % i: "v" * 40} for i in range(400)]}
        codes = {}
        lock = threading.Lock()

        def hammer():
            for _ in range(120):
                try:
                    r = st.post("/api/send/message?deviceHash="
                                "0123456789abcdef", big, token=tok)
                    k = (r.status, (r.json or {}).get("code"))
                except Exception as e:  # noqa: BLE001
                    k = ("exception", type(e).__name__)
                with lock:
                    codes[k] = codes.get(k, 0) + 1
        hs = [threading.Thread(target=hammer) for _ in range(8)]
        for x in hs:
            x.start()
        for x in hs:
            x.join(300)
        t.ok(len(codes) == 1 and list(codes)[0][0] == 404 and
             sum(codes.values()) == 960, "960 concurrent POSTs with JSON "
             "bodies: each answered 404 (no such device)", codes)
        t.ok(children_of(fp) == workers, "no worker died meanwhile",
             (workers, children_of(fp)))

        os.kill(wp, signal.SIGSTOP)
        stopped = wp
        results = [None] * SLOW

        def slow(i):
            try:
                results[i] = st.get("/api/chats?deviceHash=" + h,
                                    token=tok, timeout=60)
            except Exception as e:  # noqa: BLE001
                results[i] = e

        th = [threading.Thread(target=slow, args=(i,)) for i in range(SLOW)]
        for x in th:
            x.start()
        time.sleep(1.0)     # let them reach devmgr (not a timing check)
        r = st.get("/api/devices", token=tok)
        pending = [results[i] is None for i in range(SLOW)]
        t.ok(r.status == 200, "GET /api/devices answered while %d device "
             "calls wait (one worker, 4 threads)" % SLOW, r)
        t.ok(all(pending), "the %d device calls were all still waiting "
             "when it answered" % SLOW, pending)
        r = st.get("/api/devices/info?deviceHash=" + h, token=tok)
        t.ok(r.status == 200, "and another one", r)

        # SIGTERM to the worker with the calls in hand: they end on their
        # deadline with a proper answer, then the worker exits
        w0 = workers[0] if workers else None
        if w0:
            os.kill(w0, signal.SIGTERM)
        for x in th:
            x.join(60)
        codes = [getattr(x, "status", repr(x)) for x in results]
        t.ok(all(getattr(x, "status", 0) == 504 for x in results),
             "each call in hand got its answer after the SIGTERM: 504 on "
             "its deadline", codes)
        t.ok(all(b"DEVICE_TIMEOUT" in getattr(x, "body", b"")
                 for x in results), "with the DEVICE_TIMEOUT code",
             [getattr(x, "body", b"")[:120] for x in results])
        gone = st.wait(lambda: w0 not in children_of(fp), 15)
        t.ok(gone, "the stopped worker exited")
        new = st.wait(lambda: [p for p in children_of(fp) if p != w0], 15)
        t.ok(new, "the master started a new worker", new)
        os.kill(wp, signal.SIGCONT)
        stopped = None
        r = st.wait(lambda: st.get("/api/devices", token=tok).status == 200,
                    15)
        t.ok(r, "the new worker answers")
        t.ok(st.wait(answers, 20), "device calls answer again",
             last[0] if last else None)
    finally:
        if stopped:
            try:
                os.kill(stopped, signal.SIGCONT)
            except OSError:
                pass
        st.stop()
        st.cleanup()
    if TSAN_FCGI:
        reps = tsan_reports(tmp)
        t.ok(not reps, "ThreadSanitizer found no data race in fcgi-app's "
             "threads", lambda: "\n".join(reps)[:6000])


tmpdir = tempfile.mkdtemp(prefix="fcgi-threads-")
try:
    main(tmpdir)
except Exception:
    import traceback
    t.ok(False, "test_fcgi_threads raised", traceback.format_exc())
finally:
    shutil.rmtree(tmpdir, ignore_errors=True)
sys.exit(t.done())
