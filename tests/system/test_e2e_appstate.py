#!/usr/bin/env python3
"""test_e2e_appstate.py - app state ("syncd") end to end through a real web
server: two devices of ours on one phone account (A1, A2) and a peer (B),
all paired through tests/fakewa, whose phone shares its app state key with
each companion in a Signal pkmsg.  A1 stars, unstars, pins and deletes for
itself through the REST API; fakewa's server keeps the patches; A2 hears
server_sync, fetches, verifies every MAC (LTHash, snapshot and patch MACs)
and shows the same state.  A1 restarted keeps its collection state, so its
next patch still verifies on A2; two devices patching at once both succeed
(a 409 conflict is resolved by syncing and rebuilding).  TAP on stdout.

WEB_SERVER (env) picks the web server, nginx by default.
"""
import json
import os
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import Stack, Tap  # noqa: E402
from msgkit import fakewa, pair, hooks  # noqa: E402

WEB = os.environ.get("WEB_SERVER", "nginx")
BIN = os.environ.get("BIN_DIR") or stack.BIN
PA = "15551250001"
PB = "15551250002"
t = Tap()


def api(st, tok, h, method, path, body=None):
    hd = {"deviceHash": h}
    if method == "GET":
        return st.get(path, token=tok, headers=hd, timeout=40)
    return st.post(path, body or {}, token=tok, headers=hd, timeout=40)


def appstate_call(st, tok, h, path, body):
    """POST an app state route; while the phone's key has not arrived yet
    (503 APP_STATE_KEYS_MISSING) try again for up to 20 s."""
    holder = {}

    def go():
        r = api(st, tok, h, "POST", path, body)
        holder["r"] = r
        return r.status != 503 or (r.json or {}).get("code") != \
            "APP_STATE_KEYS_MISSING"
    st.wait(go, 20, 0.3)
    return holder.get("r")


def chat_msgs(st, tok, h, chat):
    r = api(st, tok, h, "GET", "/api/chat/%s/messages?limit=100" % chat)
    return ((r.json or {}).get("results") or {}).get("data") or []


def starred(st, tok, h, chat, mid):
    """True/False, or None when the message is not listed."""
    for m in chat_msgs(st, tok, h, chat):
        if m.get("id") == mid:
            return bool(m.get("is_starred"))
    return None


def chat_pinned(st, tok, h, chat):
    r = api(st, tok, h, "GET", "/api/chats?limit=100")
    for c in ((r.json or {}).get("results") or {}).get("data") or []:
        if c.get("jid", "").split("@")[0] == chat:
            return bool(c.get("pinned"))
    return None


def version(st, name="regular_high"):
    code, j = fakewa(st, "GET", "/appstate?phone=" + PA)
    if code != 200 or not isinstance(j, dict):
        return None
    return ((j.get("collections") or {}).get(name) or {}).get("version", 0)


def send_text(st, tok, h, to, text):
    r = api(st, tok, h, "POST", "/api/send/message",
            {"phone": to, "message": text})
    return ((r.json or {}).get("results") or {}).get("message_id")


def main():
    if not os.access(os.path.join(BIN, "fakewa"), os.X_OK):
        t.skip("app state end to end", "fakewa not built")
        return
    sink_a1, sink_a2, sink_b = (stack.WebhookSink(), stack.WebhookSink(),
                                stack.WebhookSink())
    st = Stack(WEB, env={"DEMO": "1", "FAKEWA_PORT": stack.free_port(),
                         "FAKEWA_HTTP_PORT": stack.free_port(),
                         "LOG_LEVEL": "info"})
    try:
        st.start()
        tok = st.admin_token()
        a1, ja1 = pair(st, tok, "a1", PA, sink_a1, "s-a1")
        a2, ja2 = pair(st, tok, "a2", PA, sink_a2, "s-a2")
        b, jb = pair(st, tok, "b", PB, sink_b, "s-b")
        if not t.ok(ja1 and ja2 and jb and ja1 != ja2,
                    "%s: two companions of one account and a peer paired" %
                    WEB, lambda: (ja1, ja2, jb, st.logs())):
            return

        # a message from B reaches both of A's devices
        mid = send_text(st, tok, b, PA, "star me")
        mid2 = send_text(st, tok, b, PA, "delete me")
        both = st.wait(lambda: starred(st, tok, a1, PB, mid) is not None and
                       starred(st, tok, a2, PB, mid) is not None and
                       starred(st, tok, a1, PB, mid2) is not None and
                       starred(st, tok, a2, PB, mid2) is not None, 30, 0.3)
        if not t.ok(mid and mid2 and both, "%s: B's messages stored on A1 "
                    "and A2, not starred" % WEB,
                    lambda: (mid, chat_msgs(st, tok, a1, PB), st.logs())):
            return
        t.ok(starred(st, tok, a1, PB, mid) is False,
             "%s: is_starred false at first" % WEB)

        # live events of A2
        ws = stack.WebSocket(st.host, st.api_port, "/ws?token=" + tok)
        ws.recv_json(5)
        ws.send(json.dumps({"type": "join-device", "deviceHash": a2}))

        # ---- star on A1
        v0 = version(st) or 0
        r = appstate_call(st, tok, a1, "/api/message/%s/star" % mid,
                          {"phone": PB})
        res = (r.json or {}).get("results") or {} if r else {}
        t.ok(r is not None and r.status == 200 and res.get("starred") is True
             and res.get("message_id") == mid,
             "%s: POST /api/message/:id/star answers 200 once WhatsApp took "
             "the patch" % WEB, lambda: (r, st.logs(60)))
        t.ok(version(st) == v0 + 1, "%s: fakewa holds the patch (regular_high"
             " version %d -> %s)" % (WEB, v0, version(st)))
        t.ok(starred(st, tok, a1, PB, mid) is True,
             "%s: A1 lists the message is_starred" % WEB)
        t.ok(st.wait(lambda: starred(st, tok, a2, PB, mid) is True, 20, 0.3),
             "%s: A2 heard server_sync, verified the patch MACs and shows it "
             "starred" % WEB, lambda: (chat_msgs(st, tok, a2, PB),
                                       st.logs(60)))

        ev = None
        end = time.time() + 10
        while ev is None and time.time() < end:
            m = ws.recv_json(1)
            env = (m or {}).get("message") or {}
            if env.get("type") == "app_state.change" and \
                    (env.get("data") or env).get("message_id") == mid:
                ev = env.get("data") or env
        ws.close()
        t.ok(ev is not None and ev.get("action") == "star" and
             ev.get("starred") is True and ev.get("collection") ==
             "regular_high", "%s: A2's live event app_state.change says "
             "which message was starred" % WEB, repr(ev))

        # ---- unstar on A2 reaches A1
        r = appstate_call(st, tok, a2, "/api/message/%s/unstar" % mid,
                          {"phone": PB})
        t.ok(r is not None and r.status == 200 and
             ((r.json or {}).get("results") or {}).get("starred") is False,
             "%s: unstar from the other companion: 200" % WEB, repr(r))
        t.ok(st.wait(lambda: starred(st, tok, a1, PB, mid) is False, 20, 0.3),
             "%s: A1 shows it unstarred (A2's patch verified on A1)" % WEB,
             lambda: st.logs(60))

        # ---- pin the chat
        r = appstate_call(st, tok, a1, "/api/chat/%s/pin" % PB,
                          {"pinned": True})
        res = (r.json or {}).get("results") or {} if r else {}
        t.ok(r is not None and r.status == 200 and res.get("pinned") is True
             and res.get("message") == "Chat pinned successfully",
             "%s: POST /api/chat/:jid/pin answers GOWA's shape" % WEB, repr(r))
        t.ok(chat_pinned(st, tok, a1, PB) is True, "%s: A1's chat list shows "
             "it pinned" % WEB)
        t.ok(st.wait(lambda: chat_pinned(st, tok, a2, PB) is True, 20, 0.3),
             "%s: A2's too (regular_low)" % WEB, lambda: st.logs(60))
        t.ok((version(st, "regular_low") or 0) >= 1,
             "%s: the pin went to regular_low" % WEB)

        # ---- restart A1: its collection state comes back from store.db,
        # so the next patch's MACs still verify on A2
        r = api(st, tok, a1, "POST", "/api/devices/restart?deviceHash=" + a1)
        ok = st.wait(lambda: ((api(st, tok, a1, "GET", "/api/app/status")
                               .json or {}).get("results") or {})
                     .get("is_logged_in"), 30, 0.3)
        t.ok(r.status == 200 and ok, "%s: A1 restarted and logged in" % WEB,
             repr(r))
        r = appstate_call(st, tok, a1, "/api/message/%s/star" % mid,
                          {"phone": PB})
        t.ok(r is not None and r.status == 200, "%s: star again after the "
             "restart: 200" % WEB, repr(r))
        t.ok(st.wait(lambda: starred(st, tok, a2, PB, mid) is True, 20, 0.3),
             "%s: A2 verifies A1's post-restart patch (LTHash kept)" % WEB,
             lambda: st.logs(60))

        # ---- both companions patch at once: both succeed
        v1 = version(st) or 0
        out = {}

        def one(h, path, key):
            out[key] = appstate_call(st, tok, h, path, {"phone": PB})
        th = [threading.Thread(target=one, args=(
            a1, "/api/message/%s/star" % mid2, "x")),
            threading.Thread(target=one, args=(
                a2, "/api/message/%s/unstar" % mid, "y"))]
        for x in th:
            x.start()
        for x in th:
            x.join()
        t.ok(all(out.get(k) is not None and out[k].status == 200
                 for k in ("x", "y")) and version(st) == v1 + 2,
             "%s: two companions patching at once both succeed (version "
             "%d -> %s)" % (WEB, v1, version(st)),
             lambda: (out, st.logs(80)))
        t.ok(st.wait(lambda: starred(st, tok, a1, PB, mid) is False and
                     starred(st, tok, a2, PB, mid2) is True and
                     starred(st, tok, a1, PB, mid2) is True and
                     starred(st, tok, a2, PB, mid) is False, 20, 0.3),
             "%s: both companions converge" % WEB, lambda: st.logs(60))

        # ---- delete for me
        r = appstate_call(st, tok, a1, "/api/message/%s/delete" % mid2,
                          {"phone": PB})
        t.ok(r is not None and r.status == 200, "%s: POST /api/message/:id/"
             "delete answers 200" % WEB, repr(r))
        t.ok(starred(st, tok, a1, PB, mid2) is None,
             "%s: deleted for me: gone from A1's store" % WEB)
        t.ok(st.wait(lambda: starred(st, tok, a2, PB, mid2) is None, 20, 0.3),
             "%s: and from A2's" % WEB, lambda: st.logs(60))
        t.ok(starred(st, tok, b, PA, mid2) is not None,
             "%s: B keeps its copy (for me only)" % WEB)

        # ---- errors
        r = api(st, tok, a1, "POST", "/api/message/NOSUCHID00/star", {})
        t.ok(r.status == 404 and (r.json or {}).get("code") == "NOT_FOUND",
             "%s: star of an unknown message without phone: 404" % WEB,
             repr(r))
        r = api(st, tok, a1, "POST", "/api/chat/%s/pin" % PB,
                {"pinned": "yes"})
        t.ok(r.status == 400 and (r.json or {}).get("code") ==
             "VALIDATION_ERROR", "%s: pin with a non-boolean: 400" % WEB,
             repr(r))
        r = appstate_call(st, tok, b, "/api/message/%s/star" % mid, {})
        t.ok(r is not None and r.status == 200 and starred(st, tok, b, PA,
                                                           mid) is True,
             "%s: B stars its own sent message (found by id alone)" % WEB,
             repr(r))
        t.ok(not hooks(sink_a1, lambda x: x.get("event") ==
                       "app_state.change"),
             "%s: app state changes are live events, not message webhooks" %
             WEB)
        logs = st.logs(400)
        t.ok("crashed" not in str(logs), "%s: no waproc crashed" % WEB,
             lambda: logs)
    finally:
        st.stop()


if __name__ == "__main__":
    main()
    t.done()
