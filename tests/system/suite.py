"""suite.py - the end-to-end API suite, run once per web server by
test_api_nginx.py, test_api_lighttpd.py and test_api_apache.py.

One stack per web server for most checks (rate limit off), one small stack
with API_RATE_LIMIT for the 429 checks.  Every check asserts on what came
back (status, JSON fields, headers, signatures, processes), never only on
"it did not crash".  Timings are measured and printed, not asserted, except
the sanity bound that a dead devmgr gives an answer, not a hang.
"""
import hashlib
import hmac
import json
import os
import re
import signal
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import Stack, Tap, basic, mint_jwt, pid_alive  # noqa: E402

HEX16 = re.compile(r"^[0-9a-f]{16}$")
ISSUER = "whatsapp-gateway"
BOB = ("bob_user", "Bob-pass-1234")


def is_err_json(r, status=None):
    """A 4xx with the gateway's JSON error shape (code or error field)."""
    j = r.json if hasattr(r, "json") else None
    if status is not None and r.status != status:
        return False
    return isinstance(j, dict) and ("code" in j or "error" in j)


def err_diag(r):
    return lambda: "got %r" % (r,)


def data_of(r):
    j = r.json or {}
    return j.get("data") if isinstance(j.get("data"), dict) else j


class Suite:
    def __init__(self, web, tap):
        self.web = web
        self.t = tap
        self.st = None
        self.tok = None
        self.bob_tok = None
        self.key = None

    # ----------------------------------------------------------- helpers
    def ok(self, cond, name, diag=None):
        return self.t.ok(cond, "%s: %s" % (self.web, name), diag)

    def skip(self, name, reason):
        self.t.skip("%s: %s" % (self.web, name), reason)

    def check(self, name, fn, *a):
        return self.t.run("%s: %s" % (self.web, name), fn, *a)

    def api(self, method, path, body=None, tok=None, **kw):
        return self.st.request(method, path, body=body,
                               token=tok if tok is not None else self.tok, **kw)

    def claims(self, **over):
        now = int(time.time())
        c = {"sub": "admin", "username": "admin", "role": "admin",
             "iat": now, "exp": now + 600, "iss": ISSUER}
        c.update(over)
        return c

    def register(self, tok=None, **fields):
        body = {"autoStart": False}
        body.update(fields)
        r = self.api("POST", "/api/devices", body, tok=tok)
        h = (r.json or {}).get("deviceHash") or \
            ((r.json or {}).get("data") or {}).get("deviceHash")
        return r, h

    def info(self, h, tok=None):
        return self.api("GET", "/api/devices/info?deviceHash=" + h, tok=tok)

    # ------------------------------------------------------------- checks
    def t_health(self):
        st = self.st
        r = st.get("/api/health")
        self.ok(r.status == 200 and (r.json or {}).get("status") == "healthy",
                "GET /api/health is public and healthy", err_diag(r))
        for p in ("/api/health/detailed", "/api/health/devices",
                  "/api/health/processes", "/api/health/system"):
            r = st.get(p)
            self.ok(r.status == 401 and is_err_json(r),
                    "GET %s without auth: 401 JSON" % p, err_diag(r))
            r = self.api("GET", p)
            good = r.status == 200 or (p.endswith("detailed") and r.status == 503)
            self.ok(good and isinstance(r.json, dict),
                    "GET %s with a token: JSON answer" % p, err_diag(r))
        r = st.post("/api/health/auto-heal", {})
        self.ok(r.status == 401 and is_err_json(r),
                "POST /api/health/auto-heal without auth: 401 (seed left it open)",
                err_diag(r))
        r = self.api("POST", "/api/health/auto-heal", {})
        self.ok(r.status == 200 and (r.json or {}).get("status") == "completed",
                "POST /api/health/auto-heal as admin: completed", err_diag(r))
        r = st.get("/")
        self.ok(r.status == 200 and isinstance(r.json, dict),
                "GET / answers the service descriptor (JSON)", err_diag(r))

    def t_auth(self):
        st = self.st
        r = st.post("/api/auth/login", {"username": st.admin_user,
                                        "password": st.admin_pass})
        d = data_of(r) or {}
        tok = d.get("token") if isinstance(d, dict) else None
        good = r.status == 200 and isinstance(tok, str) and tok.count(".") == 2
        self.ok(good, "login returns a JWT", err_diag(r))
        if not good:
            raise stack.StackError("no login, cannot go on: %r" % r)
        self.tok = tok
        payload = json.loads(stack.base64.urlsafe_b64decode(
            tok.split(".")[1] + "=="))
        self.ok(payload.get("sub") == "admin" and payload.get("role") == "admin"
                and payload.get("iss") == ISSUER
                and payload.get("exp", 0) > payload.get("iat", 0) > 0,
                "JWT claims sub/role/iss/iat/exp", lambda: payload)
        hdr = json.loads(stack.base64.urlsafe_b64decode(tok.split(".")[0] + "=="))
        self.ok(hdr.get("alg") == "HS256", "JWT alg is HS256", lambda: hdr)

        r = self.api("GET", "/api/devices")
        self.ok(r.status == 200 and (r.json or {}).get("success") is True,
                "Bearer token accepted on GET /api/devices", err_diag(r))
        r = st.get("/api/devices", auth=basic(st.admin_user, st.admin_pass))
        self.ok(r.status == 200 and (r.json or {}).get("success") is True,
                "Basic auth accepted on GET /api/devices", err_diag(r))
        r = st.get("/api/auth/me", token=tok)
        me = data_of(r) or {}
        self.ok(r.status == 200 and me.get("username") == "admin",
                "GET /api/auth/me names the user", err_diag(r))

        r = st.post("/api/auth/login", {"username": st.admin_user,
                                        "password": "wrong-password"})
        self.ok(r.status == 401 and is_err_json(r),
                "login with a wrong password: 401 JSON", err_diag(r))
        r = st.post("/api/auth/login", {"username": "nobody_here",
                                        "password": "whatever1"})
        self.ok(r.status == 401 and is_err_json(r),
                "login of an unknown user: 401 JSON", err_diag(r))
        r = st.get("/api/devices", auth=basic(st.admin_user, "wrong-password"))
        self.ok(r.status == 401 and is_err_json(r),
                "Basic with a wrong password: 401 JSON", err_diag(r))
        r = st.get("/api/devices")
        self.ok(r.status == 401 and is_err_json(r),
                "no credentials: 401 JSON", err_diag(r))

        # Tokens minted here with the stack's own key: a good one must pass,
        # or the failures below would prove nothing.
        self.key = st.jwt_key()
        good_tok = mint_jwt(self.key, self.claims())
        r = st.get("/api/devices", token=good_tok)
        self.ok(r.status == 200, "token minted with the JWT secret accepted",
                err_diag(r))
        h, p, s = tok.split(".")
        pl = json.loads(stack.base64.urlsafe_b64decode(p + "=="))
        pl["sub"] = pl["username"] = "mallory"
        tampered = "%s.%s.%s" % (h, stack.b64url(json.dumps(pl).encode()), s)
        cases = [
            ("tampered payload", tampered),
            ("flipped signature", "%s.%s.%s" % (h, p, s[::-1])),
            ("expired", mint_jwt(self.key, self.claims(
                iat=int(time.time()) - 7200, exp=int(time.time()) - 3600))),
            ("alg none", mint_jwt(self.key, self.claims(), alg="none")),
            ("alg none with a valid HMAC", mint_jwt(
                self.key, self.claims(), header={"alg": "none"})),
            ("alg HS512 label", mint_jwt(self.key, self.claims(),
                                         header={"alg": "HS512", "typ": "JWT"})),
            ("wrong key", mint_jwt(b"k" * 32, self.claims())),
            ("wrong issuer", mint_jwt(self.key, self.claims(iss="evil"))),
            ("unknown user", mint_jwt(self.key, self.claims(
                sub="ghost_user", username="ghost_user"))),
        ]
        for name, bad in cases:
            r = st.get("/api/devices", token=bad)
            self.ok(r.status == 401 and is_err_json(r),
                    "JWT %s: 401 JSON" % name, err_diag(r))

    def t_users(self):
        st = self.st
        r = self.api("POST", "/api/auth/users", {"username": BOB[0],
                                                 "password": BOB[1],
                                                 "role": "user"})
        self.ok(r.status == 201, "admin creates a user", err_diag(r))
        r2 = self.api("POST", "/api/auth/users", {"username": BOB[0],
                                                  "password": BOB[1],
                                                  "role": "user"})
        self.ok(r2.status == 409 and is_err_json(r2),
                "creating the same user again: 409", err_diag(r2))
        self.bob_tok = st.login(*BOB)
        r = st.get("/api/auth/users", token=self.bob_tok)
        self.ok(r.status == 403 and is_err_json(r),
                "a user cannot list users: 403", err_diag(r))

    def t_devices(self):
        st = self.st
        r, h = self.register(name="first", webhookSecret="hook-secret-1")
        j = r.json or {}
        d = j.get("data") or {}
        self.ok(r.status == 201 and j.get("success") is True and
                h and HEX16.match(h) and j.get("deviceHash") == h and
                d.get("deviceHash") == h and "status" in j and
                "status" in d and "processInfo" in d,
                "register: 201 with both response shapes", err_diag(r))
        if not h:
            raise stack.StackError("no device registered: %r" % r)
        self.dev = h
        r = self.api("GET", "/api/devices")
        devs = ((r.json or {}).get("data") or {}).get("devices") or []
        pag = ((r.json or {}).get("data") or {}).get("pagination") or {}
        self.ok(r.status == 200 and h in [x.get("deviceHash") for x in devs]
                and "total" in pag, "list shows the device with pagination",
                err_diag(r))
        for how, kw in (("query", {"path": "/api/devices/info?deviceHash=" + h}),
                        ("deviceHash header", {"path": "/api/devices/info",
                                               "headers": {"deviceHash": h}}),
                        ("x-instance-id header", {"path": "/api/devices/info",
                                                  "headers": {"x-instance-id": h}})):
            r = self.api("GET", kw["path"], headers=kw.get("headers"))
            d = (r.json or {}).get("data") or {}
            self.ok(r.status == 200 and d.get("deviceHash") == h and
                    d.get("owner") == "admin",
                    "info by %s" % how, err_diag(r))
        r = self.info(h)
        self.ok("hook-secret-1" not in r.body.decode("utf-8", "replace") and
                ((r.json or {}).get("data") or {}).get("webhooks", {})
                .get("hasMessagesSecret") is True,
                "info never returns a secret, only that it is set", err_diag(r))
        r = self.api("PUT", "/api/devices?deviceHash=" + h,
                     {"webhookUrl": "http://127.0.0.1:9/m",
                      "statusWebhookUrl": "http://127.0.0.1:9/s",
                      "statusWebhookSecret": "st-secret"})
        self.ok(r.status == 200 and (r.json or {}).get("success") is True,
                "update webhooks: 200", err_diag(r))
        r = self.info(h)
        wh = ((r.json or {}).get("data") or {}).get("webhooks") or {}
        self.ok(wh.get("messagesUrl") == "http://127.0.0.1:9/m" and
                wh.get("statusUrl") == "http://127.0.0.1:9/s" and
                wh.get("hasStatusSecret") is True,
                "update is visible in info", lambda: wh)
        r = self.api("PUT", "/api/devices?deviceHash=" + h, {"color": "red"})
        self.ok(r.status == 400 and is_err_json(r),
                "update without a valid field: 400", err_diag(r))
        r = self.info("0123456789abcdef")
        self.ok(r.status == 404 and is_err_json(r),
                "unknown device: 404 JSON", err_diag(r))

        # delete removes the store directory
        r, h2 = self.register(autoStart=True, name="to-delete")
        ddir = os.path.join(st.var_dir, "devices", h2 or "x")
        seen = st.wait(lambda: os.path.isdir(ddir), 10)
        self.ok(seen, "a started device has its directory", lambda: ddir)
        r = self.api("DELETE", "/api/devices?deviceHash=%s&force=true" % h2)
        self.ok(r.status == 200 and (r.json or {}).get("success") is True,
                "delete: 200", err_diag(r))
        r = self.info(h2)
        self.ok(r.status == 404, "deleted device: 404", err_diag(r))
        gone = st.wait(lambda: not os.path.exists(ddir), 10)
        self.ok(gone, "delete removed devices/<hash>/", lambda: ddir)

    def t_ownership(self):
        st = self.st
        a = self.dev
        r, b = self.register(tok=self.bob_tok, name="bobs")
        self.ok(r.status == 201 and b, "a user registers a device", err_diag(r))
        r = self.api("GET", "/api/devices", tok=self.bob_tok)
        hs = [x.get("deviceHash") for x in
              ((r.json or {}).get("data") or {}).get("devices") or []]
        self.ok(r.status == 200 and b in hs and a not in hs,
                "user list shows only own devices", lambda: hs)
        r = self.api("GET", "/api/devices")
        hs = [x.get("deviceHash") for x in
              ((r.json or {}).get("data") or {}).get("devices") or []]
        self.ok(a in hs and b in hs, "admin list shows every device",
                lambda: hs)
        for m, p, body in (
                ("GET", "/api/devices/info?deviceHash=" + a, None),
                ("PUT", "/api/devices?deviceHash=" + a, {"webhookUrl": "http://x/"}),
                ("POST", "/api/devices/start?deviceHash=" + a, {}),
                ("POST", "/api/devices/stop?deviceHash=" + a, {}),
                ("POST", "/api/devices/restart?deviceHash=" + a, {}),
                ("DELETE", "/api/devices?deviceHash=" + a, None)):
            r = self.api(m, p, body, tok=self.bob_tok)
            self.ok(r.status == 404 and is_err_json(r),
                    "user cannot %s another's device: 404" % m + " " +
                    p.split("?")[0], err_diag(r))
        r = self.api("GET", "/api/app/status", tok=self.bob_tok,
                     headers={"deviceHash": a})
        self.ok(r.status == 404, "user cannot call another's device API: 404",
                err_diag(r))
        r = self.info(a)
        self.ok(r.status == 200, "the device survived the attempts", err_diag(r))
        r = self.info(b)
        self.ok(r.status == 200, "admin sees the user's device", err_diag(r))

    def t_routes(self):
        """Paths outside /api reach fcgi-app through the web server too."""
        st = self.st
        r = st.get("/docs")
        self.ok(r.status == 200 and "text/html" in r.header("content-type", "")
                and b"openapi" in r.body.lower(), "GET /docs: HTML from fcgi-app",
                err_diag(r))
        r = st.get("/api/openapi.json")
        paths = (r.json or {}).get("paths") or {}
        self.ok(r.status == 200 and str((r.json or {}).get("openapi", ""))
                .startswith("3.") and "/api/devices" in paths,
                "GET /api/openapi.json: OpenAPI 3 with /api/devices",
                err_diag(r))
        r = st.get("/metrics", token=self.tok)
        self.ok(r.status == 200 and b"# TYPE" in r.body,
                "GET /metrics: Prometheus text", err_diag(r))

    def t_device_api(self):
        """A device call through web server, fcgi-app, devmgr and waproc."""
        st = self.st
        bindir = os.environ.get("BIN_DIR") or stack.BIN
        if not os.access(os.path.join(bindir, "waproc"), os.X_OK):
            self.skip("device API call reaches the waproc",
                      "waproc is not built yet")
            return
        r, h = self.register(autoStart=True, name="api")
        first = self.api("GET", "/api/app/status", headers={"deviceHash": h})
        up = st.wait(lambda: self.running_pid(h), 15)
        self.ok(up, "autoStart device runs", lambda: self.info(h))
        # right after the spawn, before the waproc's HELLO, devmgr answers
        # 503 DEVICE_STARTING (never 409 "not running" for a starting
        # device): wait for the first 200, report the window
        self.ok(first.status in (200, 503) and (first.status == 200 or
                (first.json or {}).get("code") == "DEVICE_STARTING"),
                "call right after register: 200 or 503 DEVICE_STARTING",
                err_diag(first))
        t0 = time.time()
        r = st.wait(lambda: (lambda x: x if x.status != 503 else None)(
            self.api("GET", "/api/app/status", headers={"deviceHash": h})), 10)
        self.t.diag("call right after register: %s; starting window %.3f s" %
                    (first.status, time.time() - t0))
        for hdr in ("deviceHash", "x-instance-id"):
            r = self.api("GET", "/api/app/status", headers={hdr: h})
            res = (r.json or {}).get("results")
            self.ok(r.status == 200 and (r.json or {}).get("code") == "SUCCESS"
                    and isinstance(res, dict) and "is_logged_in" in res,
                    "GET /api/app/status via %s: GOWA envelope from the "
                    "waproc" % hdr, err_diag(r))
        # multipart uploads through the web server (its temp files, body
        # limit): 900 KB reaches the waproc, 2 MB is over API_UPLOAD_MAX
        for size, want in ((900000, "waproc"), (2000000, 413)):
            bnd = "----wagw%d" % size
            body = ("--%s\r\nContent-Disposition: form-data; name=\"phone\""
                    "\r\n\r\n123\r\n--%s\r\nContent-Disposition: form-data; "
                    "name=\"file\"; filename=\"a.bin\"\r\nContent-Type: "
                    "application/octet-stream\r\n\r\n" % (bnd, bnd)).encode() + \
                os.urandom(size) + ("\r\n--%s--\r\n" % bnd).encode()
            r = self.api("POST", "/api/send/file", body, headers={
                "deviceHash": h,
                "Content-Type": "multipart/form-data; boundary=" + bnd})
            j = r.json if isinstance(r.json, dict) else {}
            if want == 413:
                self.ok(r.status == 413 and is_err_json(r),
                        "2 MB multipart over API_UPLOAD_MAX: 413 JSON",
                        err_diag(r))
            else:
                self.ok(r.status < 500 and r.status != 413 and "code" in j
                        and "success" not in j,
                        "900 KB multipart upload reaches the waproc (GOWA "
                        "envelope)", err_diag(r))
        r = self.api("POST", "/api/devices/stop?deviceHash=" + h, {})
        self.ok(r.status == 200 and (r.json or {}).get("success") is True,
                "POST /api/devices/stop: 200", err_diag(r))
        gone = st.wait(lambda: not pid_alive(up), 10) if up else False
        self.ok(gone, "stop ended the waproc", lambda: up)
        r = self.api("GET", "/api/app/status", headers={"deviceHash": h})
        self.ok(r.status == 409 and is_err_json(r),
                "device API on a stopped device: 409 JSON", err_diag(r))
        r = self.api("POST", "/api/devices/start?deviceHash=" + h, {})
        self.ok(r.status == 200 and (r.json or {}).get("success") is True,
                "POST /api/devices/start: 200", err_diag(r))
        again = st.wait(lambda: self.running_pid(h), 15)
        self.ok(again and again != up, "start spawned a new waproc",
                lambda: self.info(h))
        r = st.wait(lambda: (lambda x: x if x.status == 200 else None)(
            self.api("GET", "/api/app/status", headers={"deviceHash": h})), 10)
        self.ok(r, "device API answers again after start",
                lambda: self.api("GET", "/api/app/status",
                                 headers={"deviceHash": h}))
        self.api("DELETE", "/api/devices?deviceHash=%s&force=true" % h)

    # --------------------------------------------------- malformed corpus
    def corpus(self):
        """(name, callable -> (status, json-or-None, raw))"""
        st = self.st
        tok = self.tok
        hdev = self.dev
        auth = "Authorization: Bearer %s\r\n" % tok

        def req(method, path, body=None, headers=None, token=True):
            def f():
                r = st.request(method, path, body=body, headers=headers,
                               token=tok if token else None)
                return r.status, r.json, r.body
            return f

        def raw(data):
            def f():
                s, h, b, _ = st.raw(data)
                try:
                    j = json.loads(b.decode("utf-8"))
                except (ValueError, UnicodeDecodeError):
                    j = None
                return s, j, b
            return f

        H = "Host: 127.0.0.1\r\n"
        J = {"Content-Type": "application/json"}
        b64 = stack.base64.b64encode
        deep = ("[" * 5000 + "]" * 5000).encode()
        c = [
            ("Bearer without token", req("GET", "/api/devices", headers={"Authorization": "Bearer"}, token=False)),
            ("Bearer two-part token", req("GET", "/api/devices", headers={"Authorization": "Bearer abc.def"}, token=False)),
            ("Bearer garbage token", req("GET", "/api/devices", headers={"Authorization": "Bearer a.b.c"}, token=False)),
            ("Bearer 6000-char token", req("GET", "/api/devices", headers={"Authorization": "Bearer " + "a" * 3000 + "." + "b" * 3000}, token=False)),
            ("Bearer non-JSON payload", req("GET", "/api/devices", headers={"Authorization": "Bearer " + stack.b64url(b'{"alg":"HS256"}') + "." + stack.b64url(b"\xff\xfe") + ".x"}, token=False)),
            ("Basic not base64", req("GET", "/api/devices", headers={"Authorization": "Basic !!!***"}, token=False)),
            ("Basic without colon", req("GET", "/api/devices", headers={"Authorization": "Basic " + b64(b"nocolon").decode()}, token=False)),
            ("Basic empty pair", req("GET", "/api/devices", headers={"Authorization": "Basic " + b64(b":").decode()}, token=False)),
            ("Basic unknown user", req("GET", "/api/devices", headers={"Authorization": basic("ghost", "ghost-pass")}, token=False)),
            ("Basic binary bytes", req("GET", "/api/devices", headers={"Authorization": "Basic " + b64(b"\x00\xff:\x01").decode()}, token=False)),
            ("unknown auth scheme", req("GET", "/api/devices", headers={"Authorization": "Token abcdef"}, token=False)),
            ("empty Authorization", req("GET", "/api/devices", headers={"Authorization": ""}, token=False)),
            ("bad JSON: truncated", req("POST", "/api/devices", b"{", J)),
            ("bad JSON: missing value", req("POST", "/api/devices", b'{"autoStart": }', J)),
            ("bad JSON: not JSON", req("POST", "/api/devices", b"not json at all", J)),
            ("bad JSON: array body", req("POST", "/api/devices", b"[]", J)),
            ("bad JSON: string body", req("POST", "/api/devices", b'"str"', J)),
            ("bad JSON: invalid UTF-8", req("POST", "/api/devices", b'{"name":"\xff\xfe"}', J)),
            ("bad JSON: raw NUL", req("POST", "/api/devices", b'{"name":"a\x00b"}', J)),
            ("bad JSON: 5000 deep", req("POST", "/api/devices", deep, J)),
            ("wrong type: autoStart not a boolean", req("POST", "/api/devices", {"autoStart": "maybe"})),
            ("wrong type: autoStart object", req("POST", "/api/devices", {"autoStart": {"a": 1}})),
            ("wrong type: webhookUrl number", req("POST", "/api/devices", {"webhookUrl": 123})),
            ("wrong type: name array", req("POST", "/api/devices", {"name": ["x"]})),
            ("wrong type: update secret object", req("PUT", "/api/devices?deviceHash=" + hdev, {"webhookSecret": {"a": 1}})),
            ("bad JSON on update", req("PUT", "/api/devices?deviceHash=" + hdev, b'{"webhookUrl":', J)),
            ("JSON body over API_BODY_MAX", req("POST", "/api/devices", b'{"name":"' + b"x" * 200000 + b'"}', J)),
            ("login without fields", req("POST", "/api/auth/login", {}, token=False)),
            ("login wrong types", req("POST", "/api/auth/login", {"username": 1, "password": True}, token=False)),
            ("login 10 KB username", req("POST", "/api/auth/login", {"username": "u" * 10000, "password": "x" * 10}, token=False)),
            ("login bad JSON", req("POST", "/api/auth/login", b"{'username':'admin'}", J, token=False)),
            ("user add bad role", req("POST", "/api/auth/users", {"username": "carol_x", "password": "Carol-pass-1", "role": "root"})),
            ("user add traversal name", req("POST", "/api/auth/users", {"username": "../etc", "password": "Carol-pass-1", "role": "user"})),
            ("user add short password", req("POST", "/api/auth/users", {"username": "carol_y", "password": "a", "role": "user"})),
            ("device hash uppercase", req("GET", "/api/devices/info?deviceHash=ABCDEF0123456789")),
            ("device hash too short", req("GET", "/api/devices/info?deviceHash=123")),
            ("device hash not hex", req("GET", "/api/devices/info?deviceHash=zzzzzzzzzzzzzzzz")),
            ("device hash 17 chars", req("GET", "/api/devices/info?deviceHash=0123456789abcdef0")),
            ("device hash traversal header", req("GET", "/api/devices/info", headers={"deviceHash": "../../etc/passwd"})),
            ("device hash SQL header", req("GET", "/api/devices/info", headers={"x-instance-id": "' OR 1=1 --"})),
            ("device hash with NUL", req("GET", "/api/devices/info?deviceHash=0123456789abcdef%00")),
            ("device hash array in body", req("PUT", "/api/devices", {"deviceHash": ["0123456789abcdef"], "webhookUrl": "http://x/"})),
            ("device hash bad percent", req("GET", "/api/devices/info?deviceHash=%zz%zz")),
            ("device hash missing on info", req("GET", "/api/devices/info")),
            ("device hash missing on start", req("POST", "/api/devices/start", b"", J)),
            ("device API without hash", req("GET", "/api/app/status")),
            ("device API bad hash", req("POST", "/api/send/message", {"phone": "1", "message": "x"}, {"deviceHash": "nothex!!"})),
            ("delete with bad hash and force", req("DELETE", "/api/devices?deviceHash=bad&force=maybe")),
            ("unknown route", req("GET", "/api/does/not/exist")),
            ("unknown route, no auth", req("GET", "/api/nope", token=False)),
            ("unicode route", req("GET", "/api/d%C3%A9vices")),
            ("wrong method PATCH /api/devices", req("PATCH", "/api/devices", {})),
            ("wrong method DELETE /api/health", req("DELETE", "/api/health", token=False)),
            ("wrong method PUT /api/auth/login", req("PUT", "/api/auth/login", {}, token=False)),
            ("path traversal ../", raw(("GET /api/../../../etc/passwd HTTP/1.1\r\n" + H + "Connection: close\r\n\r\n").encode())),
            ("path traversal %2e%2e", req("GET", "/api/devices/%2e%2e/%2e%2e/%2e%2e/etc/passwd")),
            ("path traversal %2f", req("GET", "/api/devices/info/..%2f..%2f..%2fetc%2fpasswd")),
            ("NUL in path", raw(("GET /api/devices%00/info HTTP/1.1\r\n" + H + auth + "Connection: close\r\n\r\n").encode())),
            ("raw NUL in header", raw(("GET /api/devices HTTP/1.1\r\n" + H + "X-Bad: a").encode() + b"\x00b\r\nConnection: close\r\n\r\n")),
            ("20 KB header", req("GET", "/api/devices", headers={"X-Long": "a" * 20000})),
            ("300 headers", raw(("GET /api/devices HTTP/1.1\r\n" + H + "".join("X-H%d: v\r\n" % i for i in range(300)) + "Connection: close\r\n\r\n").encode())),
            ("10 KB query", req("GET", "/api/devices/info?deviceHash=" + "a" * 10000)),
            ("Content-Length not a number", raw(("POST /api/devices HTTP/1.1\r\n" + H + auth + "Content-Type: application/json\r\nContent-Length: abc\r\nConnection: close\r\n\r\n{}").encode())),
            ("Content-Length negative", raw(("POST /api/devices HTTP/1.1\r\n" + H + auth + "Content-Type: application/json\r\nContent-Length: -1\r\nConnection: close\r\n\r\n{}").encode())),
            ("two different Content-Lengths", raw(("POST /api/devices HTTP/1.1\r\n" + H + auth + "Content-Type: application/json\r\nContent-Length: 2\r\nContent-Length: 5\r\nConnection: close\r\n\r\n{}").encode())),
            ("Content-Length with chunked bad JSON", raw(("POST /api/devices HTTP/1.1\r\n" + H + auth + "Content-Type: application/json\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1\r\n{\r\n0\r\n\r\n").encode())),
            ("bad chunk size", raw(("POST /api/devices HTTP/1.1\r\n" + H + auth + "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n{}\r\n0\r\n\r\n").encode())),
            ("body over API_UPLOAD_MAX", raw(("POST /api/devices HTTP/1.1\r\n" + H + auth + "Content-Type: application/json\r\nContent-Length: 3000000\r\nConnection: close\r\n\r\n").encode())),
            ("HTTP/1.1 without Host", raw(b"GET /api/devices HTTP/1.1\r\nConnection: close\r\n\r\n")),
            ("garbage request line", raw(b"GARBAGE\r\n\r\n")),
            ("header without colon", raw(("GET /api/devices HTTP/1.1\r\n" + H + "NoColonHere\r\nConnection: close\r\n\r\n").encode())),
            ("header name with space", raw(("GET /api/devices HTTP/1.1\r\n" + H + "Bad Header: x\r\nConnection: close\r\n\r\n").encode())),
            ("multipart with a bad boundary", req("POST", "/api/send/message", b"--zz\r\nbroken", {"Content-Type": "multipart/form-data; boundary=yy", "deviceHash": hdev})),
            ("multipart without boundary", req("POST", "/api/devices", b"--x\r\n", {"Content-Type": "multipart/form-data"})),
            ("duplicate device hashes", req("GET", "/api/devices/info?deviceHash=0123456789abcdef&deviceHash=fedcba9876543210")),
            ("list limit not a number", req("GET", "/api/devices?limit=abc")),
            ("list negative offset", req("GET", "/api/devices?offset=-5")),
        ]
        return c

    def t_corpus(self):
        st = self.st
        before = {n: st.pid(n) for n in ("devmgr", "fcgi", "web", "wsrelay")}
        workers = set(st.fcgi_pids())
        items = self.corpus()
        self.ok(len(items) >= 50, "corpus has >= 50 malformed requests",
                lambda: len(items))
        for name, f in items:
            t0 = time.time()
            try:
                s, j, b = f()
                if time.time() - t0 > 1:
                    self.t.diag("%s took %.1f s" % (name, time.time() - t0))
            except (OSError, Exception) as e:  # noqa: B014
                self.ok(False, "malformed: %s" % name, repr(e))
                continue
            good = s is not None and 400 <= s < 500 and isinstance(j, dict) \
                and ("code" in j or "error" in j)
            self.ok(good, "malformed: %s -> %s JSON error" % (name, s),
                    lambda: "status %s body %r" % (s, b[:300]))
        after = {n: st.pid(n) for n in before}
        self.ok(all(pid_alive(p) for n, p in after.items() if before[n])
                and after == before,
                "every process alive after the corpus",
                lambda: "before %s after %s\n%s" % (before, after, st.logs()))
        lost = workers - set(st.fcgi_pids())
        self.ok(not lost, "no fcgi-app worker died during the corpus",
                lambda: "gone: %s" % lost)
        r = st.get("/api/health")
        self.ok(r.status == 200, "health still 200 after the corpus",
                err_diag(r))
        r = self.api("GET", "/api/devices")
        self.ok(r.status == 200 and r.json is not None,
                "device list is still valid UTF-8 JSON after the corpus",
                err_diag(r))

    # ------------------------------------------------------------ events
    def ws(self, tok=None):
        path = "/ws" + ("?token=" + tok if tok else "")
        return stack.WebSocket(self.st.host, self.st.api_port, path)

    def sio(self, tok):
        """Socket.IO v4 over the web server: Engine.IO open, then CONNECT
        with auth {token}; returns (socket, connect answer)."""
        w = stack.WebSocket(self.st.host, self.st.api_port,
                            "/socket.io/?EIO=4&transport=websocket")
        first = w.recv(5)
        if not first or not first.startswith("0{"):
            raise OSError("no Engine.IO open packet: %r" % first)
        w.send("40" + (json.dumps({"token": tok}) if tok else ""))
        return w, w.recv(5)

    def t_events(self):
        if not self.st.pid("wsrelay"):
            self.skip("live events through the web server", "wsrelay not built")
            return
        w = self.ws()
        m = w.recv_json(5)
        self.ok(m and m.get("type") == "error" and w.recv(5) is None,
                "/ws without a token: error, then closed", lambda: m)
        w.close()
        bad = mint_jwt(b"x" * 32, self.claims())
        w = self.ws(bad)
        m = w.recv_json(5)
        self.ok(m and m.get("type") == "error", "/ws with a forged token: error",
                lambda: m)
        w.close()
        w = self.ws(self.tok)
        m = w.recv_json(5)
        self.ok(m and m.get("type") == "welcome",
                "/ws with a token: welcome through %s" % self.web, lambda: m)
        w.send(json.dumps({"type": "join-device", "deviceHash": self.dev}))
        m = w.recv_json(5)
        self.ok(m and m.get("type") == "joined-device" and
                m.get("deviceHash") == self.dev, "/ws join-device: joined",
                lambda: m)
        w.close()
        w = self.ws(self.bob_tok)
        w.recv_json(5)
        w.send(json.dumps({"type": "join-device", "deviceHash": self.dev}))
        m = w.recv_json(5)
        self.ok(m and m.get("type") != "joined-device",
                "/ws: a user cannot join another's device", lambda: m)
        w.close()
        w, ans = self.sio(None)
        self.ok(ans and ans.startswith("44"),
                "Socket.IO without a token: connect_error", lambda: ans)
        w.close()
        w, ans = self.sio(self.tok)
        self.ok(ans and ans.startswith("40{") and "sid" in ans,
                "Socket.IO with a token: connected through %s" % self.web,
                lambda: ans)
        w.close()

    # ------------------------------------------------------ rate limits
    def t_rate(self):
        limit = 5
        with Stack(self.web, env={"API_RATE_LIMIT": limit,
                                  "API_RATE_WINDOW": "15m"}) as rs:
            key = rs.jwt_key()
            atok = mint_jwt(key, self.claims())
            r = rs.post("/api/auth/users", {"username": BOB[0],
                                            "password": BOB[1],
                                            "role": "user"}, token=atok)
            self.ok(r.status == 201, "rate stack: create a second user",
                    err_diag(r))
            used = 1
            codes, last = [], None
            for i in range(limit + 3):
                last = rs.get("/api/devices", token=atok)
                codes.append(last.status)
                if last.status == 429:
                    break
                lim = last.header("RateLimit-Limit")
                rem = last.header("RateLimit-Remaining")
                if i == 0:
                    self.ok(lim == str(limit) and rem is not None and
                            rem.isdigit() and int(rem) == limit - used - 1,
                            "RateLimit-Limit/Remaining on a 2xx",
                            lambda: last.headers)
            n_ok = sum(1 for c in codes if c == 200)
            self.ok(codes and codes[-1] == 429 and n_ok == limit - used,
                    "429 after %d requests" % limit, lambda: codes)
            if codes and codes[-1] == 429:
                ra = last.header("Retry-After")
                self.ok(ra is not None and ra.isdigit() and
                        0 < int(ra) <= 900,
                        "429 has Retry-After within the window",
                        lambda: last.headers)
                self.ok(all(last.header(h) is not None for h in
                            ("RateLimit-Limit", "RateLimit-Remaining",
                             "RateLimit-Reset")) and
                        last.header("RateLimit-Remaining") == "0",
                        "429 has RateLimit-* headers, Remaining 0",
                        lambda: last.headers)
                self.ok(is_err_json(last) and
                        (last.json.get("code") == "RATE_LIMIT_EXCEEDED" or
                         last.json.get("error") == "RATE_LIMIT_EXCEEDED"),
                        "429 body is JSON RATE_LIMIT_EXCEEDED", err_diag(last))
            btok = mint_jwt(key, self.claims(sub=BOB[0], username=BOB[0],
                                             role="user"))
            r = rs.get("/api/devices", token=btok)
            self.ok(r.status == 200, "another user is not limited (per user)",
                    err_diag(r))
            # X-Forwarded-For from a client must not move the address key
            # unauthenticated calls count per address (REMOTE_ADDR): login
            # guessing is limited, and a client's X-Forwarded-For must not
            # move the key
            codes = []
            for i in range(limit + 2):
                r = rs.post("/api/auth/login", {"username": "admin",
                                                "password": "guess-%d" % i},
                            headers={"X-Forwarded-For": "10.0.0.%d" % i})
                codes.append(r.status)
            self.ok(codes[0] == 401 and 429 in codes,
                    "login guesses limited per address despite spoofed "
                    "X-Forwarded-For", lambda: codes)

    # ---------------------------------------------------------- lifecycle
    def running_pid(self, h):
        """PID of the device's waproc per the API, once it is exec'd."""
        r = self.info(h)
        p = (((r.json or {}).get("data") or {}).get("process") or {})
        if p.get("running") and p.get("pid"):
            pid = int(p["pid"])
            # between fork and exec the child is still "devmgr"
            if stack.proc_exe_name(pid).startswith("waproc"):
                return pid
        return None

    def t_lifecycle(self):
        st = self.st
        sink = stack.WebhookSink()
        secret = "status-secret-42"
        try:
            self._lifecycle(st, sink, secret)
        finally:
            sink.close()

    def _lifecycle(self, st, sink, secret):
        bindir = os.environ.get("BIN_DIR") or stack.BIN
        if not os.access(os.path.join(bindir, "waproc"), os.X_OK):
            for n in ("kill -9 waproc: restarted", "crash event on /ws",
                      "signed status webhook", "devmgr dead: 503",
                      "devmgr restart: devices back"):
                self.skip(n, "waproc is not built yet")
            return
        r, h = self.register(autoStart=True, name="crashy",
                             statusWebhookUrl=sink.url,
                             statusWebhookSecret=secret)
        self.ok(r.status == 201 and h, "register with autoStart", err_diag(r))
        if not h:
            return
        pid = st.wait(lambda: self.running_pid(h), 15)
        self.ok(pid and pid_alive(pid) and
                stack.proc_exe_name(pid).startswith("waproc"),
                "autoStart: a live waproc serves the device",
                lambda: "pid %s info %r" % (pid, self.info(h)))
        if not pid:
            return
        ws = None
        if st.pid("wsrelay"):
            try:
                ws = stack.WebSocket(st.host, st.api_port,
                                     "/ws?token=" + self.tok)
                ws.send(json.dumps({"type": "join-device", "deviceHash": h}))
            except OSError as e:
                self.ok(False, "WebSocket /ws through %s" % self.web, repr(e))
                ws = None
        bob_ws = sio = None
        if ws is not None:
            bob_ws = self.ws(self.bob_tok)
            bob_ws.recv(5)
            sio, ans = self.sio(self.tok)
            if not (ans or "").startswith("40"):
                sio = None
        hooks_before = len(sink.snapshot())
        os.kill(pid, signal.SIGKILL)
        t0 = time.time()
        newpid = st.wait(lambda: (lambda p: p if p and p != pid and
                                  pid_alive(p) else None)(self.running_pid(h)),
                         20)
        self.t.diag("waproc back after %.2f s" % (time.time() - t0))
        self.ok(newpid, "kill -9 waproc: restarted with a new pid",
                lambda: "old %s info %r\n%s" % (pid, self.info(h), st.logs()))
        # the status event through the web server's WebSocket proxy
        if ws is not None:
            got, msgs = None, []
            end = time.time() + 10
            while time.time() < end and not got:
                try:
                    m = ws.recv_json(timeout=max(0.1, end - time.time()))
                except (socket.timeout, OSError, ValueError, EOFError):
                    break
                if m is None:
                    break
                msgs.append(m)
                s = json.dumps(m)
                if h in s and ("crash" in s or "restart" in s or
                               "process-stopped" in s):
                    got = m
            self.ok(got, "crash event published on /ws",
                    lambda: json.dumps(msgs)[:2000])
            ws.close()
            # Socket.IO: the global whatsapp-websocket-message event
            smsgs, sgot = [], None
            end = time.time() + 5
            while sio is not None and time.time() < end and not sgot:
                try:
                    m = sio.recv(max(0.1, end - time.time()))
                except (socket.timeout, OSError, EOFError):
                    break
                if m is None:
                    break
                if m == "2":
                    sio.send("3")
                    continue
                smsgs.append(m)
                if m.startswith("42") and "whatsapp-websocket-message" in m \
                        and h in m:
                    sgot = m
            self.ok(sgot, "crash event on Socket.IO whatsapp-websocket-message",
                    lambda: "\n".join(smsgs)[:2000])
            if sio is not None:
                sio.close()
            # and nothing of it reaches another user
            leaked = []
            end = time.time() + 1.0
            while time.time() < end:
                try:
                    m = bob_ws.recv(max(0.1, end - time.time()))
                except (socket.timeout, OSError, EOFError):
                    break
                if m is None:
                    break
                if h in m:
                    leaked.append(m)
            self.ok(not leaked, "another user's /ws gets none of its events",
                    lambda: leaked)
            bob_ws.close()
        else:
            self.skip("crash event published on /ws", "wsrelay not built")
        # the status webhook, signed
        def evtype(x):
            try:
                return str((json.loads(x["body"]).get("event") or {})
                           .get("type"))
            except (ValueError, AttributeError):
                return ""
        st.wait(lambda: any("crash" in evtype(x) for x in
                            sink.snapshot()[hooks_before:]), 15)
        hits = [x for x in sink.snapshot()[hooks_before:]
                if h.encode() in x["body"]]
        self.ok(any("crash" in evtype(x) for x in hits),
                "status webhook for the crash delivered",
                lambda: "%s\n%s" % ([evtype(x) for x in hits], st.logs()))
        bad = []
        for x in hits or []:
            want = hmac.new(secret.encode(), x["body"],
                            hashlib.sha256).hexdigest()
            if x["headers"].get("x-webhook-signature") != want:
                bad.append((x["headers"], x["body"][:200]))
        self.ok(hits and not bad, "status webhook X-Webhook-Signature is the"
                " HMAC-SHA256 of the body", lambda: bad)
        crash = [x for x in hits if "crash" in evtype(x)]
        try:
            j = json.loads(crash[0]["body"]) if crash else {}
        except ValueError:
            j = {}
        self.ok(((j.get("device") or {}).get("deviceHash") == h and
                 isinstance(j.get("event"), dict) and "timestamp" in j),
                "status webhook payload {device, event, timestamp}",
                lambda: crash[0]["body"][:500] if crash else "none")

        # devmgr dies: the API answers 503 quickly, then comes back
        dm = st.pid("devmgr")
        before = self.running_pid(h)
        os.kill(dm, signal.SIGKILL)
        st.wait(lambda: not pid_alive(dm), 5, 0.02)
        r = self.api("GET", "/api/devices", timeout=10)
        self.t.diag("with devmgr dead: %s in %.3f s" % (r.status, r.elapsed))
        self.ok(r.status == 503 and is_err_json(r) and r.elapsed < 2.5,
                "devmgr dead: 503 JSON, no hang", err_diag(r))
        r = st.get("/api/health")
        self.ok(r.status in (200, 503) and isinstance(r.json, dict),
                "devmgr dead: /api/health still answers JSON", err_diag(r))
        ok = st.restart_dead()
        self.ok(ok and st.alive("devmgr"), "devmgr restarted", st.logs)
        t0 = time.time()
        back = st.wait(lambda: (lambda p: p if p and pid_alive(p) else None)(
            self.running_pid(h)), 25)
        self.t.diag("device running again %.2f s after devmgr restart" %
                    (time.time() - t0))
        self.ok(back, "devmgr restart: the device is running again",
                lambda: "%r\n%s" % (self.info(h), st.logs()))
        self.ok(back and back in stack.children_of(st.pid("devmgr")),
                "devmgr restart: the device's waproc is the new devmgr's child",
                lambda: "pid %s, devmgr %s" % (back, st.pid("devmgr")))
        gone = st.wait(lambda: not pid_alive(before), 10) if before else False
        self.ok(gone, "the waproc orphaned by devmgr's death exited",
                lambda: "pid %s still alive" % before)
        r = self.api("GET", "/api/devices")
        self.ok(r.status == 200, "API answers again after devmgr restart",
                err_diag(r))

    # ----------------------------------------------------------------- run
    def run(self):
        t0 = time.time()
        try:
            self.st = Stack(self.web, env={"API_BODY_MAX": 65536,
                                           "API_UPLOAD_MAX": 1048576})
            self.st.start()
        except stack.StackError as e:
            self.ok(False, "stack starts", str(e))
            if self.st:
                self.st.stop()
                if os.environ.get("KEEP_STACK") != "1":
                    self.st.cleanup()
            return
        self.ok(True, "stack starts (%.1f s)" % (time.time() - t0))
        try:
            for name in ("t_auth", "t_health", "t_users", "t_devices",
                         "t_ownership", "t_events", "t_routes",
                         "t_device_api", "t_corpus", "t_lifecycle"):
                try:
                    getattr(self, name)()
                except Exception:
                    import traceback
                    self.ok(False, "%s raised" % name,
                            traceback.format_exc() + "\n" + self.st.logs())
                    if name in ("t_auth",):
                        break
        finally:
            t1 = time.time()
            clean, left = self.st.stop()
            self.ok(clean and not left, "SIGTERM to run.sh stops every "
                    "process of the stack (%.1f s)" % (time.time() - t1),
                    lambda: "run.sh exited: %s; left: %s" % (
                        clean, [(p, stack.proc_exe_name(p)) for p in left]))
            if os.environ.get("KEEP_STACK") != "1":
                self.st.cleanup()
            else:
                self.t.diag("kept " + self.st.base)
        try:
            self.t_rate()
        except Exception:
            import traceback
            self.ok(False, "t_rate raised", traceback.format_exc())
        self.t.diag("%s suite: %.1f s" % (self.web, time.time() - t0))


def main(web):
    tap = Tap()
    Suite(web, tap).run()
    sys.exit(tap.done())
