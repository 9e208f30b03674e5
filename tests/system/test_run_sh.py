#!/usr/bin/env python3
"""test_run_sh.py - webconf/run.sh itself (what `make run` runs): as an
unprivileged user, its refusals, fail-fast start, a dying program stopping
the whole stack, and the DEMO hook.  TAP on stdout."""
import json
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import Stack, Tap, pid_alive  # noqa: E402

t = Tap()
BIN = os.environ.get("BIN_DIR") or stack.BIN


def run_sh(env, timeout=20):
    """run.sh to completion (for the cases that must fail)."""
    e = dict(os.environ)
    e.update(env)
    t0 = time.time()
    p = subprocess.run(["sh", os.path.join(stack.TOP, "webconf", "run.sh")],
                       cwd=stack.TOP, env=e, stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                       timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace"), time.time() - t0


def wait_exit(proc, timeout):
    try:
        return proc.wait(timeout)
    except subprocess.TimeoutExpired:
        return None


def t_unknown_server():
    base = stack.tempfile.mkdtemp(prefix="wagw-runsh-")
    os.chmod(base, 0o711)
    try:
        rc, out, dt = run_sh({"WEB_SERVER": "iis", "VAR_DIR": base + "/var",
                              "WEB_DIR": base + "/web",
                              "API_PORT": str(stack.free_port())})
        t.ok(rc != 0 and "WEB_SERVER=iis" in out,
             "run.sh refuses an unknown WEB_SERVER", out)
    finally:
        shutil.rmtree(base, ignore_errors=True)


def t_port_taken():
    busy = socket.socket()
    busy.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    port = busy.getsockname()[1]
    st = Stack("nginx")
    st.api_port = port
    try:
        t0 = time.time()
        try:
            st.start(timeout=30)
            t.ok(False, "run.sh fails when the API port is taken",
                 "it started?")
        except stack.StackError as e:
            dt = time.time() - t0
            t.ok("exited with 1" in str(e) and dt < 15,
                 "run.sh fails fast when the API port is taken (%.1f s)" % dt,
                 str(e))
        clean, left = st.stop()
        t.ok(not left, "nothing left running after the failed start",
             lambda: [(p, stack.proc_exe_name(p)) for p in left])
    finally:
        busy.close()
        st.cleanup()


def t_second_instance():
    st = Stack("lighttpd")
    try:
        st.start()
        e = st.env()
        e["API_PORT"] = str(stack.free_port())
        p = subprocess.run(["sh", os.path.join(stack.TOP, "webconf",
                                                "run.sh")],
                           cwd=stack.TOP, env=e, stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=30)
        out = p.stdout.decode("utf-8", "replace")
        t.ok(p.returncode != 0 and "already running" in out,
             "a second run.sh on the same VAR_DIR refuses", out)
        r = st.get("/api/devices", token=st.admin_token())
        t.ok(r.status == 200 and st.alive("devmgr") and
             os.path.exists(os.path.join(st.web_dir, "fcgi.sock")),
             "... and the first stack keeps working", repr(r))
    except stack.StackError as e:
        t.ok(False, "stack for the second-instance check starts", str(e))
    finally:
        st.stop()
        st.cleanup()


def t_restart_same_dirs():
    """Stop, then start again on the same VAR_DIR and WEB_DIR (make run
    twice): every web server must reopen what the first run left."""
    for web in stack.WEB_SERVERS:
        st = Stack(web)
        try:
            st.start()
            tok = st.admin_token()
            st.stop()
            st.start()
            r = st.get("/api/devices", token=tok)
            t.ok(r.status == 200, "%s: a second start on the same dirs "
                 "works" % web, lambda: "%r\n%s" % (r, st.logs()))
        except stack.StackError as e:
            t.ok(False, "%s: a second start on the same dirs works" % web,
                 str(e))
        finally:
            st.stop()
            st.cleanup()


def t_component_dies():
    st = Stack("nginx", env={"STACK_KEEP_GOING": "0"})
    try:
        st.start()
        fcgi = st.pid("fcgi")
        os.kill(fcgi, signal.SIGKILL)
        rc = wait_exit(st.proc, 20)
        t.ok(rc == 1, "a program dying stops the whole stack (run.sh exit 1)",
             lambda: "rc %s\n%s" % (rc, st.logs()))
        # a grace of 5 s: a worker may notice its master's death late
        left = st.wait(lambda: [p for p in stack.procs_with_env(st.base)
                                if pid_alive(p)] == [], 5) or \
            [p for p in stack.procs_with_env(st.base) if pid_alive(p)]
        left = [] if left is True else left
        t.ok(not left, "... and every other program of it (fcgi-app workers "
             "too: they must not outlive their master)",
             lambda: [(p, stack.proc_exe_name(p)) for p in left])
    except stack.StackError as e:
        t.ok(False, "stack for the dying-program check starts", str(e))
    finally:
        st.stop()
        st.cleanup()


def t_unprivileged():
    if os.getuid() != 0:
        # every other system test already runs run.sh as this user
        t.skip("run.sh as an unprivileged user", "not root: the API suites "
               "run it as uid %d" % os.getuid())
        return
    try:
        pw = pwd.getpwnam("nobody")
    except KeyError:
        t.skip("run.sh as an unprivileged user", "no user nobody")
        return
    probe = subprocess.run(
        ["setpriv", "--reuid=%d" % pw.pw_uid, "--regid=%d" % pw.pw_gid,
         "--clear-groups", "sh", "-c",
         "test -r webconf/run.sh && test -x %s/devmgr" % BIN],
        cwd=stack.TOP)
    if probe.returncode != 0:
        t.skip("run.sh as an unprivileged user",
               "user nobody cannot read the checkout or %s" % BIN)
        return
    st = Stack("nginx")
    os.chown(st.base, pw.pw_uid, pw.pw_gid)
    os.makedirs(st.log_dir, exist_ok=True)
    os.chown(st.log_dir, pw.pw_uid, pw.pw_gid)
    st.extra_env["HOME"] = st.base
    st.cmd_prefix = ["setpriv", "--reuid=%d" % pw.pw_uid,
                     "--regid=%d" % pw.pw_gid, "--clear-groups"]
    try:
        st.start()
        r = st.get("/api/health")
        t.ok(r.status == 200, "run.sh as user nobody: /api/health 200",
             repr(r))
        tok = st.login()
        r = st.get("/api/devices", token=tok)
        t.ok(r.status == 200, "as nobody: login and GET /api/devices", repr(r))
        owners = {os.stat(os.path.join(st.var_dir, f)).st_uid
                  for f in ("registry.db", "jwt.secret")}
        mode = os.stat(st.var_dir).st_mode & 0o777
        t.ok(owners == {pw.pw_uid} and mode == 0o700,
             "as nobody: state owned by nobody, VAR_DIR 0700",
             lambda: "owners %s mode %o" % (owners, mode))
        procs = [st.pid(n) for n in ("devmgr", "fcgi", "wsrelay", "web")]
        uids = {os.stat("/proc/%d" % p).st_uid for p in procs if p}
        t.ok(uids == {pw.pw_uid}, "as nobody: every program runs as nobody",
             lambda: uids)
    except stack.StackError as e:
        t.ok(False, "run.sh as user nobody starts", str(e))
    finally:
        clean, left = st.stop()
        t.ok(clean and not left, "as nobody: SIGTERM stops everything",
             lambda: left)
        st.cleanup()


def t_demo():
    if not os.access(os.path.join(BIN, "fakewa"), os.X_OK):
        t.skip("DEMO=1 starts the fake WhatsApp server", "fakewa not built")
        return
    st = Stack("lighttpd", env={"DEMO": "1",
                                "FAKEWA_PORT": stack.free_port(),
                                "FAKEWA_HTTP_PORT": stack.free_port()})
    try:
        st.start()
        s = st.state()
        fw = int(s.get("fakewa", "0") or 0)
        t.ok(fw and pid_alive(fw) and
             stack.proc_exe_name(fw).startswith("fakewa"),
             "DEMO=1: fakewa runs", lambda: s)
        with open("/proc/%d/environ" % st.pid("devmgr"), "rb") as f:
            env = dict(kv.split(b"=", 1) for kv in f.read().split(b"\0")
                       if b"=" in kv)
        url = env.get(b"WA_SERVER_URL", b"").decode()
        root = env.get(b"WA_CERT_ROOT", b"").decode()
        t.ok(url.startswith("ws://127.0.0.1:") and url.endswith("/ws/chat")
             and len(root) == 64,
             "DEMO=1: devmgr points WA_SERVER_URL and WA_CERT_ROOT at fakewa",
             lambda: json.dumps([url, root]))
    except stack.StackError as e:
        t.ok(False, "DEMO=1 stack starts", str(e))
    finally:
        st.stop()
        st.cleanup()


for fn in (t_unknown_server, t_port_taken, t_second_instance,
           t_restart_same_dirs,
           t_component_dies, t_unprivileged, t_demo):
    try:
        fn()
    except Exception:
        import traceback
        t.ok(False, "%s raised" % fn.__name__, traceback.format_exc())
sys.exit(t.done())
