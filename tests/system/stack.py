#!/usr/bin/env python3
"""stack.py - start and stop a private gateway stack for system tests.

Python 3 standard library only.  A Stack is webconf/run.sh (the same script
`make run` uses) on random free ports with a temporary VAR_DIR and web
server prefix, STACK_KEEP_GOING=1 so a test may kill a component and ask
run.sh to bring it back (SIGUSR1).  Also here: HTTP helpers (http.client),
raw-socket requests, HS256 JWT minting, a minimal RFC 6455 WebSocket client,
a webhook receiver, and a TAP printer.

CLI (for the node tests):
    python3 tests/system/stack.py up --web nginx [--env KEY=VALUE ...]
        -> prints one JSON object: urls, ports, dirs, pids, credentials;
           the stack keeps running in the background.
    python3 tests/system/stack.py down DIR [--keep]
        -> stops the stack whose base directory is DIR and removes DIR.
"""
import base64
import hashlib
import hmac
import http.client
import http.server
import json
import os
import re
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import traceback

TOP = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.path.join(TOP, "build", "bin")
ADMIN_USER = "admin"
ADMIN_PASS = "Adm1n-test-pass"
WEB_SERVERS = ("nginx", "lighttpd", "apache")


def free_port():
    """A TCP port free on 127.0.0.1 right now."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def read_env_file(path):
    d = {}
    try:
        with open(path) as f:
            for line in f:
                if "=" in line:
                    k, v = line.rstrip("\n").split("=", 1)
                    d[k] = v
    except OSError:
        pass
    return d


def pid_alive(pid):
    if not pid:
        return False
    try:
        with open("/proc/%d/stat" % int(pid)) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError, ValueError):
        return False


def procs_with_env(needle):
    """PIDs of processes whose environment mentions needle (a private dir):
    our own children, e.g. waprocs started by our devmgr."""
    out = []
    nb = needle.encode()
    for d in os.listdir("/proc"):
        if not d.isdigit() or int(d) == os.getpid():
            continue
        try:
            with open("/proc/%s/environ" % d, "rb") as f:
                if nb in f.read():
                    out.append(int(d))
        except OSError:
            pass
    return out


def children_of(pid):
    """Direct children of pid (from /proc/*/stat)."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                rest = f.read().rsplit(")", 1)[1].split()
            if int(rest[1]) == int(pid) and rest[0] not in ("Z", "X"):
                out.append(int(d))
        except (OSError, IndexError, ValueError):
            pass
    return out


def proc_exe_name(pid):
    try:
        return os.path.basename(os.readlink("/proc/%d/exe" % pid))
    except OSError:
        return ""


# --------------------------------------------------------------------- HTTP
class Resp:
    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = {}
        for k, v in headers:
            self.headers[k.lower()] = v
        self.body = body
        self.elapsed = elapsed
        self._json = None
        self._parsed = False

    @property
    def json(self):
        if not self._parsed:
            self._parsed = True
            try:
                self._json = json.loads(self.body.decode("utf-8"))
            except (ValueError, UnicodeDecodeError):
                self._json = None
        return self._json

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def __repr__(self):
        b = self.body[:300].decode("utf-8", "replace")
        return "HTTP %s %s" % (self.status, b)


def basic(user, pw):
    return "Basic " + base64.b64encode(("%s:%s" % (user, pw)).encode()).decode()


def b64url(b):
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode()


def mint_jwt(key, claims, alg="HS256", header=None):
    """An HS256 token signed with key (bytes); alg 'none' gives no signature."""
    hdr = header if header is not None else {"alg": alg, "typ": "JWT"}
    h = b64url(json.dumps(hdr, separators=(",", ":")).encode())
    p = b64url(json.dumps(claims, separators=(",", ":")).encode())
    signing = ("%s.%s" % (h, p)).encode()
    if alg == "none":
        return "%s.%s." % (h, p)
    sig = hmac.new(key, signing, hashlib.sha256).digest()
    return "%s.%s.%s" % (h, p, b64url(sig))


# ------------------------------------------------------------------ Stack
class StackError(Exception):
    pass


class Stack:
    """A private stack: webconf/run.sh under a temporary base directory."""

    def __init__(self, web="nginx", env=None, base=None, admin_pass=ADMIN_PASS):
        self.web = web
        self.extra_env = dict(env or {})
        self.base = base or tempfile.mkdtemp(prefix="wagw-%s-" % web)
        # the web server's workers (www-data when we are root) must reach
        # base/web; base/var stays 0700 (run.sh)
        os.chmod(self.base, 0o711)
        self.var_dir = os.path.join(self.base, "var")
        self.web_dir = os.path.join(self.base, "web")
        self.log_dir = os.path.join(self.base, "logs")
        self.admin_user = ADMIN_USER
        self.admin_pass = admin_pass
        self.api_port = None
        self.ws_port = None
        self.proc = None
        self.host = "127.0.0.1"
        self._token = None
        self._extra_pids = []
        self.cmd_prefix = []  # e.g. setpriv ... to run as another user

    # -- lifecycle
    def env(self):
        e = dict(os.environ)
        for k in list(e):
            # settings of the calling environment must not leak in
            if k in ("JWT_SECRET", "RUN_DIR", "GATEWAY_CONFIG", "WEB_USER"):
                del e[k]
        e.update({
            "WEB_SERVER": self.web,
            "VAR_DIR": self.var_dir,
            "WEB_DIR": self.web_dir,
            "STACK_LOG_DIR": self.log_dir,
            "STACK_KEEP_GOING": "1",
            "API_HOST": self.host,
            "API_PORT": str(self.api_port),
            "WSRELAY_PORT": str(self.ws_port),
            "DEFAULT_ADMIN_USER": self.admin_user,
            "DEFAULT_ADMIN_PASS": self.admin_pass,
            "API_RATE_LIMIT": "0",
            "LOG_LEVEL": "debug",
            "FCGI_WORKERS": "3",
            # never the real WhatsApp from a test: a closed local port
            "WA_SERVER_URL": "ws://127.0.0.1:%d/ws/chat" % self.closed_port,
            "RESTART_BACKOFF_MIN_MS": "200",
            "RESTART_BACKOFF_MAX_MS": "2000",
            "HEARTBEAT_INTERVAL_MS": "1000",
            "HEARTBEAT_TIMEOUT_MS": "5000",
            # a lost control reply costs this much; the devmgr-kill check
            # bounds the answer time at 2.5 s
            "IPC_TIMEOUT_MS": "1000",
        })
        e.update({k: str(v) for k, v in self.extra_env.items()})
        return e

    def start(self, timeout=40):
        self.api_port = self.api_port or free_port()
        self.ws_port = self.ws_port or free_port()
        self.closed_port = free_port()
        os.makedirs(self.log_dir, exist_ok=True)
        out = open(os.path.join(self.log_dir, "run.log"), "ab")
        self.proc = subprocess.Popen(
            self.cmd_prefix + ["sh", os.path.join(TOP, "webconf", "run.sh")],
            cwd=TOP,
            env=self.env(), stdin=subprocess.DEVNULL, stdout=out, stderr=out,
            start_new_session=True)
        out.close()
        t0 = time.time()
        while time.time() - t0 < timeout:
            if self.proc.poll() is not None:
                raise StackError("run.sh exited with %s\n%s" %
                                 (self.proc.returncode, self.logs()))
            if self.state().get("ready") == "1":
                break
            time.sleep(0.05)
        else:
            raise StackError("stack not ready in %d s\n%s" %
                             (timeout, self.logs()))
        # the API answers (devmgr may still be creating the admin)
        progs = str(self.extra_env.get("STACK_PROGRAMS", "fcgi")).split()
        if "fcgi" not in progs:
            return self
        while time.time() - t0 < timeout:
            try:
                r = self.get("/api/health", timeout=3)
                if r.status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.1)
        raise StackError("/api/health never answered 200\n%s" % self.logs())

    def state(self):
        return read_env_file(os.path.join(self.web_dir, "stack.env"))

    def pid(self, name):
        """PID of a component: devmgr, fcgi, wsrelay, web, run."""
        v = self.state().get(name)
        return int(v) if v and v.isdigit() else None

    def fcgi_pids(self):
        """fcgi-app processes: the one run.sh started and its workers."""
        p = self.pid("fcgi")
        return ([p] + children_of(p)) if p else []

    def waproc_pids(self):
        dm = self.pid("devmgr")
        pids = [c for c in children_of(dm)] if dm else []
        return [p for p in pids if proc_exe_name(p).startswith("waproc")]

    def waproc_pid(self, device):
        """PID of the waproc serving device (by its environment)."""
        for p in procs_with_env(os.path.join(self.var_dir, "devices", device)):
            if proc_exe_name(p).startswith("waproc"):
                return p
        for p in procs_with_env("WAPROC_DEVICE=" + device):
            if proc_exe_name(p).startswith("waproc"):
                return p
        return None

    def alive(self, name):
        return pid_alive(self.pid(name))

    def restart_dead(self, timeout=20):
        """Ask run.sh to restart every component that died; wait for it."""
        old = self.state()
        os.kill(self.pid("run"), signal.SIGUSR1)
        t0 = time.time()
        while time.time() - t0 < timeout:
            st = self.state()
            if all(pid_alive(int(st[n])) for n in ("devmgr", "fcgi", "web")
                   if st.get(n, "").isdigit()) and st != old:
                return True
            time.sleep(0.1)
        return False

    def stop(self, timeout=20):
        """SIGTERM to run.sh, as Ctrl-C would.  Returns (clean, leftovers):
        clean when run.sh exited in time, leftovers = PIDs of the stack
        still alive 2 s later (then killed)."""
        if self.proc is None:
            return True, []
        clean = True
        if self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGTERM)
                self.proc.wait(timeout)
            except (OSError, subprocess.TimeoutExpired):
                clean = False
                try:
                    os.killpg(self.proc.pid, signal.SIGKILL)
                except OSError:
                    pass
                self.proc.wait(5)
        t0 = time.time()
        left = procs_with_env(self.base)
        while left and time.time() - t0 < 2:
            time.sleep(0.1)
            left = [p for p in procs_with_env(self.base) if pid_alive(p)]
        left = [p for p in left if pid_alive(p)]
        self._reap_strays()
        self.proc = None
        return clean, left

    def _reap_strays(self):
        # anything we started that outlived run.sh (e.g. a devmgr a test
        # killed left waprocs behind): our own processes, by pid
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except OSError:
            pass
        for p in procs_with_env(self.base) + self._extra_pids:
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass

    def cleanup(self):
        import shutil
        shutil.rmtree(self.base, ignore_errors=True)

    def logs(self, lines=40):
        out = []
        dirs = [self.log_dir, os.path.join(self.web_dir, "logs")]
        try:
            dirs += [os.path.join(self.var_dir, "devices", d) for d in
                     sorted(os.listdir(os.path.join(self.var_dir, "devices")))]
        except OSError:
            pass
        for d in dirs:
            try:
                names = sorted(os.listdir(d))
            except OSError:
                continue
            for n in names:
                if not n.endswith(".log"):
                    continue
                p = os.path.join(d, n)
                try:
                    with open(p, "rb") as f:
                        data = f.read()[-20000:].decode("utf-8", "replace")
                except OSError:
                    continue
                tail = data.splitlines()[-lines:]
                out.append("--- %s (last %d lines)" % (p, len(tail)))
                out.extend(tail)
        return "\n".join(out)

    def __enter__(self):
        return self.start()

    def __exit__(self, *a):
        self.stop()
        if os.environ.get("KEEP_STACK") != "1":
            self.cleanup()

    def info(self):
        st = self.state()
        return {
            "base": self.base, "web_server": self.web,
            "api_url": "http://%s:%d" % (self.host, self.api_port),
            "ws_url": "ws://%s:%d/ws" % (self.host, self.api_port),
            "socketio_url": "http://%s:%d" % (self.host, self.api_port),
            "api_port": self.api_port, "wsrelay_port": self.ws_port,
            "var_dir": self.var_dir, "web_dir": self.web_dir,
            "run_dir": st.get("run_dir"), "log_dir": self.log_dir,
            "admin_user": self.admin_user, "admin_pass": self.admin_pass,
            "pids": {k: int(v) for k, v in st.items()
                     if k in ("run", "devmgr", "fcgi", "wsrelay", "web")
                     and v.isdigit()},
        }

    # -- secrets
    def jwt_key(self):
        if self.extra_env.get("JWT_SECRET"):
            return self.extra_env["JWT_SECRET"].encode()
        with open(os.path.join(self.var_dir, "jwt.secret")) as f:
            return bytes.fromhex(f.read().strip())

    # -- HTTP
    def request(self, method, path, body=None, headers=None, token=None,
                auth=None, timeout=15):
        h = dict(headers or {})
        if token:
            h["Authorization"] = "Bearer " + token
        elif auth:
            h["Authorization"] = auth
        if isinstance(body, (dict, list)):
            body = json.dumps(body).encode()
            h.setdefault("Content-Type", "application/json")
        elif isinstance(body, str):
            body = body.encode()
        c = http.client.HTTPConnection(self.host, self.api_port,
                                       timeout=timeout)
        t0 = time.time()
        try:
            c.request(method, path, body=body, headers=h)
            r = c.getresponse()
            data = r.read()
            return Resp(r.status, r.getheaders(), data, time.time() - t0)
        finally:
            c.close()

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body=body, **kw)

    def raw(self, data, timeout=10):
        """Send raw bytes, read the answer until close (or timeout).
        Returns (status or None, headers dict, body bytes, raw bytes)."""
        s = socket.create_connection((self.host, self.api_port), timeout)
        buf = b""
        try:
            # no half-close: nginx takes EOF from the client as an abort
            # (499, no answer) while FastCGI works; Connection: close ends it
            s.sendall(data)
            while True:
                try:
                    x = s.recv(65536)
                except socket.timeout:
                    break
                except ConnectionResetError:
                    break
                if not x:
                    break
                buf += x
                if response_complete(buf):
                    break
        finally:
            s.close()
        return parse_http_response(buf)

    def login(self, user=None, pw=None):
        r = self.post("/api/auth/login", {"username": user or self.admin_user,
                                          "password": pw or self.admin_pass})
        if r.status != 200 or not r.json:
            raise StackError("login %s failed: %r" % (user, r))
        d = r.json.get("data") or {}
        tok = d.get("token") or r.json.get("token")
        if not tok:
            raise StackError("login: no token in %r" % r)
        return tok

    def admin_token(self):
        if self._token is None:
            self._token = self.login()
        return self._token

    def wait(self, pred, timeout=10, every=0.1):
        t0 = time.time()
        while time.time() - t0 < timeout:
            v = pred()
            if v:
                return v
            time.sleep(every)
        return pred()


def response_complete(buf):
    """True when buf holds a whole response (a server may linger before
    it closes)."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    if not sep:
        return False
    h = head.lower()
    m = re.search(rb"\r\ncontent-length:\s*(\d+)", h)
    if m:
        return len(body) >= int(m.group(1))
    if b"transfer-encoding: chunked" in h:
        return body.endswith(b"0\r\n\r\n")
    return False


def parse_http_response(buf):
    """First response in buf -> (status, headers, body, raw)."""
    head, sep, body = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = None
    if lines and lines[0].startswith(b"HTTP/"):
        try:
            status = int(lines[0].split()[1])
        except (IndexError, ValueError):
            status = None
    hdrs = {}
    for l in lines[1:]:
        if b":" in l:
            k, v = l.split(b":", 1)
            hdrs[k.strip().lower().decode("latin1")] = v.strip().decode("latin1")
    if hdrs.get("transfer-encoding", "").lower() == "chunked":
        out = b""
        rest = body
        while rest:
            line, _, rest = rest.partition(b"\r\n")
            try:
                n = int(line.split(b";")[0], 16)
            except ValueError:
                break
            if n == 0:
                break
            out += rest[:n]
            rest = rest[n + 2:]
        body = out
    elif "content-length" in hdrs:
        try:
            body = body[:int(hdrs["content-length"])]
        except ValueError:
            pass
    return status, hdrs, body, buf


# -------------------------------------------------------------- WebSocket
class WebSocket:
    """Minimal RFC 6455 client: text frames, ping/pong, close."""

    def __init__(self, host, port, path, headers=None, timeout=10):
        self.sock = socket.create_connection((host, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n" % (path, host, port, key))
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        self.sock.sendall((req + "\r\n").encode())
        buf = b""
        while b"\r\n\r\n" not in buf:
            x = self.sock.recv(4096)
            if not x:
                raise OSError("websocket: closed during handshake: %r" % buf)
            buf += x
        head, _, self.buf = buf.partition(b"\r\n\r\n")
        self.status, self.headers, _, _ = parse_http_response(head + b"\r\n\r\n")
        if self.status != 101:
            raise OSError("websocket: handshake answered %s: %r" %
                          (self.status, buf[:300]))
        want = base64.b64encode(hashlib.sha1(
            (key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest())
        if self.headers.get("sec-websocket-accept", "").encode() != want:
            raise OSError("websocket: bad Sec-WebSocket-Accept")

    def _send(self, opcode, data):
        mask = os.urandom(4)
        n = len(data)
        if n < 126:
            hdr = struct.pack("!BB", 0x80 | opcode, 0x80 | n)
        elif n < 65536:
            hdr = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, n)
        else:
            hdr = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, n)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
        self.sock.sendall(hdr + mask + masked)

    def send(self, text):
        if not isinstance(text, (bytes, bytearray)):
            text = (text if isinstance(text, str) else json.dumps(text)).encode()
        self._send(0x1, text)

    def _read(self, n):
        while len(self.buf) < n:
            x = self.sock.recv(65536)
            if not x:
                raise EOFError("websocket closed")
            self.buf += x
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv(self, timeout=10):
        """Next text message (str); None on close; socket.timeout."""
        self.sock.settimeout(timeout)
        msg = b""
        while True:
            b0, b1 = self._read(2)
            op = b0 & 0x0F
            n = b1 & 0x7F
            if n == 126:
                n = struct.unpack("!H", self._read(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", self._read(8))[0]
            mask = self._read(4) if b1 & 0x80 else None
            data = self._read(n)
            if mask:
                data = bytes(b ^ mask[i % 4] for i, b in enumerate(data))
            if op == 0x9:
                self._send(0xA, data)
                continue
            if op == 0xA:
                continue
            if op == 0x8:
                return None
            msg += data
            if b0 & 0x80:
                return msg.decode("utf-8", "replace")

    def recv_json(self, timeout=10):
        m = self.recv(timeout)
        return None if m is None else json.loads(m)

    def close(self):
        try:
            self._send(0x8, struct.pack("!H", 1000))
        except OSError:
            pass
        self.sock.close()


# --------------------------------------------------------------- webhooks
class WebhookSink:
    """HTTP receiver on 127.0.0.1: records every POST (path, headers, body)."""

    def __init__(self):
        self.hits = []
        self.lock = threading.Lock()
        sink = self

        class H(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(n) if n else b""
                with sink.lock:
                    sink.hits.append({"path": self.path, "body": body,
                                      "headers": {k.lower(): v for k, v in
                                                  self.headers.items()},
                                      "t": time.time()})
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *a):
                pass

        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.port = self.srv.server_address[1]
        self.url = "http://127.0.0.1:%d/hook" % self.port
        self.t = threading.Thread(target=self.srv.serve_forever, daemon=True)
        self.t.start()

    def snapshot(self):
        with self.lock:
            return list(self.hits)

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


# -------------------------------------------------------------------- TAP
class Tap:
    """TAP producer: ok N - name / not ok N - name, diagnostics as '# '."""

    def __init__(self, prefix=""):
        self.n = 0
        self.failed = 0
        self.prefix = prefix
        self.diag_hook = None

    def _line(self, ok, name, directive=""):
        self.n += 1
        s = "%s %d - %s%s" % ("ok" if ok else "not ok", self.n,
                              self.prefix, name)
        if directive:
            s += " # " + directive
        print(s, flush=True)

    def diag(self, text):
        for l in str(text).splitlines():
            print("# " + l, flush=True)

    def ok(self, cond, name, diag=None):
        self._line(bool(cond), name)
        if not cond:
            self.failed += 1
            if diag is not None:
                self.diag(diag() if callable(diag) else diag)
        return bool(cond)

    def skip(self, name, reason):
        self._line(True, name, "SKIP " + reason)

    def run(self, name, fn, *a):
        """fn returns True/False or (bool, diag); an exception is a failure."""
        try:
            r = fn(*a)
        except Exception:
            return self.ok(False, name, traceback.format_exc())
        if isinstance(r, tuple):
            return self.ok(r[0], name, r[1])
        return self.ok(r, name)

    def done(self):
        print("1..%d" % self.n, flush=True)
        return 1 if self.failed else 0


# -------------------------------------------------------------------- CLI
def main(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="stack.py")
    sub = ap.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start a private stack, print JSON")
    up.add_argument("--web", default="nginx", choices=WEB_SERVERS)
    up.add_argument("--env", action="append", default=[],
                    metavar="KEY=VALUE")
    dn = sub.add_parser("down", help="stop the stack in DIR and remove DIR")
    dn.add_argument("dir")
    dn.add_argument("--keep", action="store_true")
    a = ap.parse_args(argv)
    if a.cmd == "up":
        env = dict(kv.split("=", 1) for kv in a.env)
        st = Stack(a.web, env=env)
        try:
            st.start()
        except StackError as e:
            st.stop()
            st.cleanup()
            print(str(e), file=sys.stderr)
            return 1
        print(json.dumps(st.info(), indent=1))
        return 0
    base = os.path.abspath(a.dir)
    state = read_env_file(os.path.join(base, "web", "stack.env"))
    run = int(state.get("run", "0") or 0)
    if run and pid_alive(run):
        os.kill(run, signal.SIGTERM)
        t0 = time.time()
        while pid_alive(run) and time.time() - t0 < 20:
            time.sleep(0.1)
        if pid_alive(run):
            os.killpg(run, signal.SIGKILL)
    for p in procs_with_env(base):
        try:
            os.kill(p, signal.SIGKILL)
        except OSError:
            pass
    if not a.keep:
        import shutil
        shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
