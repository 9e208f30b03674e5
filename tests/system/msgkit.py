"""msgkit.py - what the messaging system tests share: fakewa's control API,
pairing a device of ours through the stack (register, QR, the phone
scans), reading the webhooks a WebhookSink received, and a real Baileys
client driven through baileys_peer_helper.mjs (BaileysPeer)."""
import hashlib
import hmac
import http.client
import json
import os
import queue
import subprocess
import threading
import time

_HERE = os.path.dirname(os.path.abspath(__file__))


def fakewa(st, method, path, body=None):
    """(status, JSON or bytes) of a call to the stack's fakewa."""
    port = int(st.state()["fakewa_url"].rsplit(":", 1)[1])
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request(method, path, body=json.dumps(body) if body else None,
                  headers={"Content-Type": "application/json"})
        r = c.getresponse()
        data = r.read()
        try:
            return r.status, json.loads(data)
        except ValueError:
            return r.status, data
    finally:
        c.close()


def raw_qr(st, tok, h):
    """The QR text of device h, once it has one (None after 30 s)."""
    r = st.wait(lambda: (lambda x: x if x.status == 200 else None)(
        st.get("/api/login?format=raw", token=tok,
               headers={"deviceHash": h})), 30, 0.3)
    if r is None:
        return None
    j = r.json
    if isinstance(j, dict):
        return ((j.get("results") or {}).get("qr_string") or j.get("qr"))
    return r.body.decode().strip()


def pair(st, tok, name, phone, sink, secret):
    """Register a device with message webhooks to sink, pair it as phone:
    (device hash, JID), either None on failure."""
    r = st.post("/api/devices", {"autoStart": True, "name": name,
                                 "webhookUrl": sink.url,
                                 "webhookSecret": secret}, token=tok)
    h = (r.json or {}).get("deviceHash")
    if not h:
        return None, None
    qr = raw_qr(st, tok, h)
    if not qr:
        return h, None
    code, ans = fakewa(st, "POST", "/phone/scan", {"qr": qr, "phone": phone})
    if code != 200:
        return h, None

    def logged_in():
        r = st.get("/api/app/status", token=tok, headers={"deviceHash": h})
        return ((r.json or {}).get("results") or {}).get("is_logged_in")
    if not st.wait(logged_in, 30, 0.2):
        return h, None
    return h, ans.get("jid")


def hooks(sink, pred=None):
    """[(request, JSON body)] the sink got, those pred accepts."""
    out = []
    for x in sink.snapshot():
        try:
            b = json.loads(x["body"])
        except ValueError:
            continue
        if pred is None or pred(b):
            out.append((x, b))
    return out


def signed(x, secret):
    """Does request x carry a valid X-Hub-Signature-256 for secret?"""
    want = "sha256=" + hmac.new(secret.encode(), x["body"],
                                hashlib.sha256).hexdigest()
    return x["headers"].get("x-hub-signature-256") == want


def text_of(b):
    m = b.get("message") if isinstance(b.get("message"), dict) else {}
    return m.get("text") or ""


def msg_status(st, tok, h, mid):
    """results.status of GET /api/message/<mid> on device h."""
    r = st.get("/api/message/" + mid, token=tok, headers={"deviceHash": h})
    j = r.json if isinstance(r.json, dict) else {}
    return (j.get("results") or {}).get("status")


class BaileysPeer:
    """baileys_peer_helper.mjs as a child: JSON lines both ways."""

    def __init__(self, log_file=None):
        env = dict(os.environ)
        env.pop("NODE_TLS_REJECT_UNAUTHORIZED", None)
        if log_file:
            env["BAILEYS_LOG_FILE"] = log_file
        self.proc = subprocess.Popen(
            ["node", os.path.join(_HERE, "baileys_peer_helper.mjs")],
            cwd=_HERE, env=env, stdin=subprocess.PIPE,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.q = {}
        self.cv = threading.Condition()
        self.first = queue.Queue()
        self.stderr = []
        self.seq = 0
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._err, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            try:
                o = json.loads(line)
            except ValueError:
                continue
            if "ready" in o:
                self.first.put(o)
                continue
            with self.cv:
                self.q[o.get("seq")] = o
                self.cv.notify_all()
        self.first.put({"ready": False, "error": "helper exited"})

    def _err(self):
        for line in self.proc.stderr:
            self.stderr.append(line.decode("utf-8", "replace").rstrip())
            del self.stderr[:-200]

    def ready(self, timeout=330):
        try:
            return self.first.get(timeout=timeout)
        except queue.Empty:
            return {"ready": False, "error": "helper silent"}

    def call(self, cmd, timeout=60, **kw):
        self.seq += 1
        n = self.seq
        kw.update({"seq": n, "cmd": cmd})
        try:
            self.proc.stdin.write((json.dumps(kw) + "\n").encode())
            self.proc.stdin.flush()
        except OSError as e:
            return {"ok": False, "error": "helper gone: %s" % e}
        end = time.time() + timeout
        with self.cv:
            while n not in self.q:
                left = end - time.time()
                if left <= 0 or self.proc.poll() is not None:
                    return {"ok": False, "error": "no answer to %s in %d s"
                            " (helper rc %s)\n%s" % (
                                cmd, timeout, self.proc.poll(),
                                "\n".join(self.stderr[-20:]))}
                self.cv.wait(min(left, 0.5))
            return self.q.pop(n)

    def close(self):
        if self.proc.poll() is None:
            self.call("quit", timeout=5)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
