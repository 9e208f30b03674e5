#!/usr/bin/env python3
"""test_baileys_appstate_gateway.py - app state interop (issue #5): a real,
unmodified Baileys 7.0.0-rc14 client (baileys_peer_helper.mjs, with app
state MAC verification on for patches and snapshots) and a device of our
gateway are two companions of the SAME phone account, paired through
tests/fakewa.  What one stars or pins through its own code, the other
fetches, verifies (LTHash, snapshot MAC, patch MAC, value and index MACs)
and applies:
  our API -> Baileys: POST /api/message/:id/star and /unstar, POST
  /api/chat/:jid/pin come out of Baileys as messages.update {starred} and
  chats.update {pinned};
  Baileys -> our API: chatModify star / pin show in GET
  /api/chat/:jid/messages (is_starred) and GET /api/chats (pinned).
A second device of ours (another phone) sends the messages.  TAP on stdout.
WEB_SERVER (env) picks the web server, nginx by default.
"""
import os
import shutil
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import Stack, Tap  # noqa: E402
from msgkit import pair, BaileysPeer  # noqa: E402
from test_e2e_appstate import (api, appstate_call, starred,  # noqa: E402
                               chat_pinned, send_text)

WEB = os.environ.get("WEB_SERVER", "nginx")
BIN = os.environ.get("BIN_DIR") or stack.BIN
PA = "15551270001"  # our device G and the Baileys client: one account
PB = "15551270002"  # our device B, who sends the messages
t = Tap()


def appevents(peer):
    r = peer.call("appevents")
    return r if r.get("ok") else {}


def baileys_starred(peer, mid):
    """Baileys' last starred value for mid, or None."""
    v = None
    for e in appevents(peer).get("messages") or []:
        if (e.get("key") or {}).get("id") == mid:
            v = e.get("starred")
    return v


def baileys_pinned(peer, jid):
    v = None
    for c in appevents(peer).get("chats") or []:
        if c.get("id") == jid and c.get("pinned") is not None:
            v = c.get("pinned")
    return v


def main():
    if not os.access(os.path.join(BIN, "fakewa"), os.X_OK):
        t.skip("Baileys <-> gateway app state", "fakewa not built")
        return
    if shutil.which("node") is None:
        t.skip("Baileys <-> gateway app state", "node not installed")
        return
    ws_port = stack.free_port()
    st = Stack(WEB, env={"DEMO": "1", "FAKEWA_PORT": ws_port,
                         "FAKEWA_HTTP_PORT": stack.free_port(),
                         "LOG_LEVEL": "info"})
    peer = None
    auth = tempfile.mkdtemp(prefix="baileys-as-")
    try:
        st.start()
        peer = BaileysPeer()
        rd = peer.ready()
        if not rd.get("ready") and rd.get("skip"):
            t.skip("Baileys <-> gateway app state", rd["skip"])
            return
        if not t.ok(rd.get("ready"), "Baileys helper started",
                    lambda: (rd, peer.stderr[-20:])):
            return
        tok = st.admin_token()
        sink_g, sink_b = stack.WebhookSink(), stack.WebhookSink()
        g, jg = pair(st, tok, "gateway", PA, sink_g, "s-g")
        b, jb = pair(st, tok, "sender", PB, sink_b, "s-b")
        fw_http = int(st.state()["fakewa_url"].rsplit(":", 1)[1])
        r = peer.call("pair", timeout=90, ws=ws_port, http=fw_http,
                      phone=PA, auth=auth)
        user = ((r.get("user") or {}).get("id") or "")
        if not t.ok(jg and jb and r.get("ok") and user.startswith(PA + ":"),
                    "%s: our device and Baileys are two companions of %s" %
                    (WEB, PA), lambda: (jg, jb, r, st.logs())):
            return
        chat = PB + "@s.whatsapp.net"

        m1 = send_text(st, tok, b, PA, "star me from the gateway")
        m2 = send_text(st, tok, b, PA, "star me from Baileys")
        got = st.wait(lambda: starred(st, tok, g, PB, m1) is not None and
                      starred(st, tok, g, PB, m2) is not None, 30, 0.3)
        w = peer.call("wait", id=m2, ms=30000, timeout=40)
        if not t.ok(m1 and m2 and got and w.get("ok"), "%s: both messages "
                    "reached our device and Baileys" % WEB,
                    lambda: (m1, m2, w, st.logs())):
            return

        # ---- ours -> Baileys
        r = appstate_call(st, tok, g, "/api/message/%s/star" % m1,
                          {"phone": PB})
        t.ok(r is not None and r.status == 200, "%s: star through our API: "
             "200" % WEB, repr(r))
        t.ok(st.wait(lambda: baileys_starred(peer, m1) is True, 30, 0.5),
             "%s: Baileys verified our patch (MACs on) and emits "
             "messages.update starred" % WEB,
             lambda: (appevents(peer), peer.stderr[-20:], st.logs(60)))
        r = appstate_call(st, tok, g, "/api/chat/%s/pin" % PB,
                          {"pinned": True})
        t.ok(r is not None and r.status == 200, "%s: pin through our API: "
             "200" % WEB, repr(r))
        t.ok(st.wait(lambda: (baileys_pinned(peer, chat) or 0) > 0, 30, 0.5),
             "%s: Baileys emits chats.update pinned" % WEB,
             lambda: (appevents(peer), st.logs(60)))

        # ---- Baileys -> ours
        r = peer.call("star", jid=chat, id=m2, fromMe=False, star=True,
                      timeout=40)
        t.ok(r.get("ok"), "%s: Baileys stars a message (chatModify)" % WEB,
             repr(r))
        t.ok(st.wait(lambda: starred(st, tok, g, PB, m2) is True, 30, 0.3),
             "%s: our device verified Baileys' patch and lists it "
             "is_starred" % WEB, lambda: st.logs(60))
        r = peer.call("pin", jid=chat, pin=False, timeout=40)
        t.ok(r.get("ok") and st.wait(lambda: chat_pinned(st, tok, g, PB) is
                                     False, 30, 0.3),
             "%s: Baileys unpins the chat; our chat list follows" % WEB,
             lambda: (r, st.logs(60)))

        # ---- and back: our unstar on a state Baileys wrote into
        r = appstate_call(st, tok, g, "/api/message/%s/unstar" % m1,
                          {"phone": PB})
        t.ok(r is not None and r.status == 200 and
             st.wait(lambda: baileys_starred(peer, m1) is False, 30, 0.5),
             "%s: unstar through our API on top of Baileys' patches: "
             "Baileys verifies it" % WEB,
             lambda: (r, appevents(peer), st.logs(60)))
        r = api(st, tok, g, "GET", "/api/app/status")
        t.ok(((r.json or {}).get("results") or {}).get("is_logged_in"),
             "%s: our device still logged in" % WEB, repr(r))
        logs = st.logs(400)
        t.ok("crashed" not in str(logs), "%s: no waproc crashed" % WEB,
             lambda: logs)
    finally:
        if peer is not None:
            peer.close()
        st.stop()
        shutil.rmtree(auth, ignore_errors=True)


if __name__ == "__main__":
    main()
    t.done()
