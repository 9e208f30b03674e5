#!/usr/bin/env python3
"""test_e2e_pairing.py - a device paired end to end through the web server:
run.sh with DEMO=1 (tests/fakewa plays WhatsApp and the phone), QR login via
GET /api/app/login (JSON data URL, Accept: image/png, ?format=raw), the
phone scans it (fakewa control API), the device connects: status, /ws
events and the signed status webhook; pair code via login-with-code; the
phone unlinks the device: logged out.  TAP on stdout.

WEB_SERVER (env) picks the web server, nginx by default.  Skips, with the
reason, while waproc does not offer a QR yet (the route answers 501 or
"not logged in").
"""
import base64
import hashlib
import hmac
import http.client
import json
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import Stack, Tap  # noqa: E402

WEB = os.environ.get("WEB_SERVER", "nginx")
BIN = os.environ.get("BIN_DIR") or stack.BIN
KEEPALIVE_MS = 2000
KEEPALIVE_TIMEOUT_MS = 3000
PHONE = "15551230001"
PHONE2 = "15551230002"
t = Tap()


def fakewa(st, method, path, body=None):
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


def info(st, tok, h):
    r = st.get("/api/devices/info?deviceHash=" + h, token=tok)
    return ((r.json or {}).get("data") or {})


def app_status(st, tok, h):
    r = st.get("/api/app/status", token=tok, headers={"deviceHash": h})
    return ((r.json or {}).get("results") or {})


def fw_device(st, jid):
    code, ans = fakewa(st, "GET", "/devices")
    for d in (ans.get("devices", []) if isinstance(ans, dict) else []):
        if d.get("jid") == jid:
            return d
    return None


def connected_again(st, tok, h, jid, logins_before, secs=20):
    """Status connected and fakewa saw a new login of jid."""
    def ok():
        d = fw_device(st, jid) or {}
        return (d.get("logins", 0) > logins_before and d.get("connected")
                and info(st, tok, h).get("status") == "connected")
    return st.wait(ok, secs, 0.2)


def proc_env(pid, key):
    try:
        with open("/proc/%d/environ" % pid, "rb") as f:
            for kv in f.read().split(b"\0"):
                k, _, v = kv.decode("utf-8", "replace").partition("=")
                if k == key:
                    return v
    except (OSError, TypeError):
        pass
    return None


def log_tail(path, offset):
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            return f.read().decode("utf-8", "replace")
    except OSError:
        return ""


def log_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def stall_check(st, tok, h, jid):
    """fakewa stalls the connection (silent, reads ignored): the keepalive
    ping goes unanswered, the device passes through reconnecting
    (keepalive) and is connected again, same process, no reconnect storm."""
    dmlog = os.path.join(st.log_dir, "devmgr.log")
    pid = st.waproc_pid(h)
    fast = proc_env(pid, "WA_KEEPALIVE_MS") == str(KEEPALIVE_MS) if pid \
        else False
    # detection: a ping within 1.5 x KEEPALIVE_MS, unanswered for
    # KEEPALIVE_TIMEOUT_MS (by default 30 s + 10 s: devmgr did not pass
    # WA_KEEPALIVE_*); then the backoff, which the faults above raised to
    # 8..16 s (it resets after 60 s logged in)
    limit = (KEEPALIVE_MS * 1.5 + KEEPALIVE_TIMEOUT_MS) / 1000.0 + 25 \
        if fast else 65
    off = log_size(dmlog)
    logins = (fw_device(st, jid) or {}).get("logins", 0)
    t0 = time.time()
    code, ans = fakewa(st, "POST", "/fault", {"jid": jid, "kind": "stall"})
    ok = connected_again(st, tok, h, jid, logins, limit)
    took = time.time() - t0
    time.sleep(max(1.5, KEEPALIVE_MS * 1.5 / 1000.0))
    after = (fw_device(st, jid) or {}).get("logins", 0)
    seen = "%s: connected -> reconnecting (reconnecting: keepalive)" % h
    text = log_tail(dmlog, off)
    t.ok(code == 200 and ok and seen in text and
         st.waproc_pid(h) == pid and after - logins == 1 and
         info(st, tok, h).get("status") == "connected",
         "%s: fault stall: keepalive timeout, reconnecting, connected again "
         "in %.1f s (%d login(s)%s)" % (WEB, took, after - logins,
                                        "" if fast else
                                        ", default keepalive"),
         lambda: (code, ans, pid, st.waproc_pid(h), fw_device(st, jid),
                  info(st, tok, h), text[-3000:], st.logs()))


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


def drain(ws, secs, pred=None):
    out = []
    end = time.time() + secs
    while time.time() < end:
        try:
            m = ws.recv_json(max(0.1, end - time.time()))
        except (socket.timeout, OSError, EOFError, ValueError):
            break
        if m is None:
            break
        out.append(m)
        if pred and pred(m):
            break
    return out


def main():
    if not os.access(os.path.join(BIN, "fakewa"), os.X_OK):
        t.skip("pairing through the gateway", "fakewa not built")
        return
    sink = stack.WebhookSink()
    secret = "pairing-secret"
    st = Stack(WEB, env={"DEMO": "1", "FAKEWA_PORT": stack.free_port(),
                         "FAKEWA_HTTP_PORT": stack.free_port(),
                         "LOG_LEVEL": "info",
                         # a stalled connection is found in seconds
                         "WA_KEEPALIVE_MS": KEEPALIVE_MS,
                         "WA_KEEPALIVE_TIMEOUT_MS": KEEPALIVE_TIMEOUT_MS})
    try:
        st.start()
        tok = st.admin_token()
        r = st.post("/api/devices", {"autoStart": True, "name": "e2e",
                                     "statusWebhookUrl": sink.url,
                                     "statusWebhookSecret": secret},
                    token=tok)
        h = (r.json or {}).get("deviceHash")
        if not t.ok(r.status == 201 and h, "%s: register with autoStart" % WEB,
                    repr(r)):
            return
        ws = stack.WebSocket(st.host, st.api_port, "/ws?token=" + tok)
        ws.recv_json(5)
        ws.send(json.dumps({"type": "join-device", "deviceHash": h}))
        # the QR: the waproc connects to fakewa and gets refs first
        r = st.wait(lambda: (lambda x: x if x.status not in (409, 503, 504)
                             else None)(st.get("/api/app/login", token=tok,
                                               headers={"deviceHash": h})), 20)
        r = r or st.get("/api/app/login", token=tok, headers={"deviceHash": h})
        j = r.json or {}
        code, conns = fakewa(st, "GET", "/connections")
        conns = conns.get("connections", []) if isinstance(conns, dict) else []
        if r.status == 501 or (r.status != 200 and not conns):
            # genuinely absent: the waproc never even connected to the
            # (fake) WhatsApp server, so there can be no QR
            t.skip("%s: QR login through the gateway" % WEB,
                   "waproc does not connect to WhatsApp yet (login answers "
                   "%s %s; fakewa saw no connection)" %
                   (r.status, j.get("message")))
            return
        qr_url = (j.get("qrCode") or (j.get("results") or {}).get("qr_code")
                  or "")
        t.ok(r.status == 200 and j.get("code") == "SUCCESS" and
             qr_url.startswith("data:image/png;base64,") and
             base64.b64decode(qr_url.split(",", 1)[1])[:8] ==
             b"\x89PNG\r\n\x1a\n" and
             isinstance((j.get("results") or {}).get("qr_duration"), int),
             "%s: GET /api/app/login: QR as a PNG data URL + qr_duration" %
             WEB, repr(r))
        r = st.get("/api/app/login", token=tok,
                   headers={"deviceHash": h, "Accept": "image/png"})
        t.ok(r.status == 200 and r.body[:8] == b"\x89PNG\r\n\x1a\n" and
             r.header("content-type", "").startswith("image/png"),
             "%s: Accept: image/png gives the PNG itself" % WEB,
             lambda: "%s %s %r" % (r.status, r.headers, r.body[:40]))
        r = st.get("/api/login?format=raw", token=tok,
                   headers={"deviceHash": h})
        raw = raw_qr(r)
        t.ok(r.status == 200 and isinstance(raw, str) and raw.count(",") >= 3,
             "%s: GET /api/login?format=raw gives the QR string" % WEB,
             repr(r))
        msgs = drain(ws, 2, lambda m: "qr" in json.dumps(m))
        t.ok(any("qr" in json.dumps(m) for m in msgs),
             "%s: a qr event on /ws" % WEB, lambda: msgs)
        code, ans = fakewa(st, "POST", "/phone/scan",
                           {"qr": raw if isinstance(raw, str) else "",
                            "phone": PHONE})
        t.ok(code == 200 and isinstance(ans, dict) and
             str(ans.get("jid", "")).startswith(PHONE),
             "%s: the phone scans the QR (fakewa)" % WEB, lambda: ans)
        ok = st.wait(lambda: app_status(st, tok, h).get("is_logged_in"), 30,
                     0.3)
        t.ok(ok, "%s: the device is logged in (GET /api/app/status)" % WEB,
             lambda: "%r\n%s" % (app_status(st, tok, h), st.logs()))
        d = info(st, tok, h)
        t.ok(str(d.get("jid") or "").startswith(PHONE) and
             d.get("status") == "connected",
             "%s: device info: status connected, jid set" % WEB, lambda: d)
        msgs += drain(ws, 3, lambda m: m.get("type") == "ready" or
                      "connected" in json.dumps(m))
        t.ok(any(m.get("type") == "ready" or '"connected"' in json.dumps(m)
                 for m in msgs), "%s: ready/connected event on /ws" % WEB,
             lambda: msgs)
        hooks = st.wait(lambda: [x for x in sink.snapshot()
                                 if b'"connected"' in x["body"]], 10)
        bad = [x for x in hooks or [] if x["headers"].get(
            "x-webhook-signature") != hmac.new(
                secret.encode(), x["body"], hashlib.sha256).hexdigest()]
        t.ok(hooks and not bad, "%s: signed status webhook for connected" %
             WEB, lambda: [x["body"][:200] for x in sink.snapshot()])

        jid = d.get("jid")

        # the whole stack restarts: logged in again from the store, no QR
        # (fakewa restarts too: its login counters start again at 0)
        logins = 0
        ws.close()
        st.stop()
        st.start()
        tok = st.admin_token()
        ok = connected_again(st, tok, h, jid, logins, 30)
        t.ok(ok and app_status(st, tok, h).get("is_logged_in"),
             "%s: stack restart: connected again without a QR" % WEB,
             lambda: "%r %r\n%s" % (fw_device(st, jid), info(st, tok, h),
                                     st.logs()))
        ws = stack.WebSocket(st.host, st.api_port, "/ws?token=" + tok)
        ws.recv_json(5)
        ws.send(json.dumps({"type": "join-device", "deviceHash": h}))

        # the waproc alone is killed: devmgr restarts it, it logs in again
        logins = (fw_device(st, jid) or {}).get("logins", 0)
        pid = st.waproc_pid(h)
        if pid:
            os.kill(pid, 9)
        ok = connected_again(st, tok, h, jid, logins, 30)
        t.ok(pid and ok, "%s: waproc killed: restarted, connected again"
             % WEB, lambda: (pid, fw_device(st, jid), info(st, tok, h)))

        # faults on the connection: each ends connected again, without a
        # reconnect storm
        for kind in ("drop", "515", "malformed", "badframe"):
            logins = (fw_device(st, jid) or {}).get("logins", 0)
            code, ans = fakewa(st, "POST", "/fault", {"jid": jid,
                                                       "kind": kind})
            ok = connected_again(st, tok, h, jid, logins, 20)
            time.sleep(1.5)
            after = (fw_device(st, jid) or {}).get("logins", 0)
            t.ok(code == 200 and ok and after - logins <= 2,
                 "%s: fault %s: reconnected, logged in again (%d login(s))"
                 % (WEB, kind, after - logins),
                 lambda: (code, ans, fw_device(st, jid), info(st, tok, h),
                          st.logs()))

        stall_check(st, tok, h, jid)

        # replaced (440): failed, credentials kept, no reconnect
        logins = (fw_device(st, jid) or {}).get("logins", 0)
        code, ans = fakewa(st, "POST", "/fault", {"jid": jid, "kind": "440"})
        ok = st.wait(lambda: info(st, tok, h).get("status") == "failed", 10,
                     0.2)
        time.sleep(2)
        after = (fw_device(st, jid) or {}).get("logins", 0)
        t.ok(code == 200 and ok and after == logins and
             st.waproc_pid(h), "%s: fault 440: failed, no reconnect, "
             "process up" % WEB, lambda: (ans, fw_device(st, jid),
                                          info(st, tok, h)))
        r = st.get("/api/app/reconnect", token=tok,
                   headers={"deviceHash": h})
        ok = connected_again(st, tok, h, jid, logins, 20)
        t.ok(r.status == 200 and ok, "%s: /app/reconnect after 440: "
             "connected" % WEB, lambda: (repr(r), info(st, tok, h)))
        r = st.get("/api/app/login", token=tok, headers={"deviceHash": h})
        t.ok(r.status == 400 and (r.json or {}).get("code") ==
             "ALREADY_LOGGED_IN", "%s: /app/login when logged in: 400 "
             "ALREADY_LOGGED_IN" % WEB, repr(r))
        r = st.get("/api/app/devices", token=tok, headers={"deviceHash": h})
        res = (r.json or {}).get("results")
        t.ok(r.status == 200 and isinstance(res, list) and res and
             res[0].get("device") == jid, "%s: /app/devices lists the "
             "device" % WEB, repr(r))
        r = st.post("/api/send/message", {"phone": "15550001111",
                                          "message": "hi"}, token=tok,
                    headers={"deviceHash": h})
        t.ok(r.status in (200, 501) and (r.status == 200 or (r.json or {})
             .get("code") == "NOT_IMPLEMENTED"), "%s: /send/message: sent "
             "or 501, never a fake success" % WEB, repr(r))

        # the phone unlinks the device
        code, ans = fakewa(st, "POST", "/phone/logout", {"jid": d.get("jid")})
        out = st.wait(lambda: info(st, tok, h).get("status") in
                      ("logged_out", "stopped"), 20, 0.3)
        t.ok(code == 200 and out, "%s: unlinked by the phone: logged_out" %
             WEB, lambda: (code, ans, info(st, tok, h)))

        # pair code for a second device
        r = st.post("/api/devices", {"autoStart": True, "name": "e2e-code"},
                    token=tok)
        h2 = (r.json or {}).get("deviceHash")
        r = st.wait(lambda: (lambda x: x if x.status == 200 else None)(
            st.get("/api/app/login-with-code?phone=" + PHONE2, token=tok,
                   headers={"deviceHash": h2})), 20)
        pc = ((r.json or {}).get("results") or {}).get("pair_code") if r \
            else None
        t.ok(isinstance(pc, str) and len(pc) == 9 and pc[4] == "-",
             "%s: GET /api/app/login-with-code: XXXX-XXXX" % WEB, repr(r))
        if pc:
            # the user types the code on the phone: only once the
            # companion's hello reached the server (fakewa 400 before)
            res = st.wait(lambda: (lambda x: x if x[0] == 200 else None)(
                fakewa(st, "POST", "/phone/code",
                       {"phone": PHONE2, "code": pc})), 10, 0.2)
            code, ans = res or fakewa(st, "POST", "/phone/code",
                                      {"phone": PHONE2, "code": pc})
            ok = st.wait(lambda: app_status(st, tok, h2).get("is_logged_in"),
                         30, 0.3)
            t.ok(code == 200 and ok, "%s: pair code typed on the phone: "
                 "logged in" % WEB, lambda: (code, ans, st.logs()))
            jid2 = app_status(st, tok, h2).get("device_id")
            r = st.request("DELETE", "/api/devices?deviceHash=" + h2,
                           token=tok)
            gone = st.wait(lambda: fw_device(st, jid2) is None, 10, 0.2)
            t.ok(r.status == 200 and jid2 and gone, "%s: delete: the device "
                 "unlinks from WhatsApp" % WEB,
                 lambda: (repr(r), jid2, fakewa(st, "GET", "/devices")))

        # the logged-out first device pairs again, then logs out via the API
        r = st.wait(lambda: (lambda x: x if x.status == 200 else None)(
            st.get("/api/app/login?format=raw", token=tok,
                   headers={"deviceHash": h})), 20)
        raw = raw_qr(r) if r else None
        code, ans = fakewa(st, "POST", "/phone/scan",
                           {"qr": raw or "", "phone": PHONE})
        ok = st.wait(lambda: app_status(st, tok, h).get("is_logged_in"), 30,
                     0.3)
        t.ok(code == 200 and ok, "%s: logged out device pairs again" % WEB,
             lambda: (repr(r), ans))
        jid = app_status(st, tok, h).get("device_id")
        r = st.get("/api/app/logout", token=tok, headers={"deviceHash": h})
        out = st.wait(lambda: info(st, tok, h).get("status") ==
                      "logged_out", 10, 0.2)
        msgs = drain(ws, 2, lambda m: m.get("type") == "logged_out")
        t.ok(r.status == 200 and out and fw_device(st, jid) is None,
             "%s: GET /app/logout: logged_out, unlinked" % WEB,
             lambda: (repr(r), info(st, tok, h), fw_device(st, jid)))
        r = st.get("/api/app/status", token=tok, headers={"deviceHash": h})
        res = (r.json or {}).get("results") or {}
        t.ok(r.status == 200 and res.get("is_logged_in") is False,
             "%s: status after logout: not logged in" % WEB, repr(r))
        r = st.get("/api/app/devices", token=tok, headers={"deviceHash": h})
        t.ok(r.status == 401, "%s: /app/devices after logout: 401" % WEB,
             repr(r))
        ws.close()
    except stack.StackError as e:
        t.ok(False, "%s: DEMO stack starts" % WEB, str(e))
    finally:
        sink.close()
        st.stop()
        if os.environ.get("KEEP_STACK") != "1":
            st.cleanup()


try:
    main()
except Exception:
    import traceback
    t.ok(False, "e2e pairing raised", traceback.format_exc())
sys.exit(t.done())
