#!/usr/bin/env python3
"""test_baileys_gateway.py - interop (issue #5): a real, unmodified Baileys
7.0.0-rc14 client (tests/system/baileys_peer_helper.mjs, one phone) and a
device of our gateway (another phone) exchange messages through the real
stack (webconf/run.sh with DEMO=1: nginx -> fcgi-app -> devmgr -> waproc,
fakewa as WhatsApp, which only relays Signal ciphertexts).  Checks:
  our API -> Baileys: POST /api/send/message decrypts at Baileys with the
  exact text and id (first pkmsg, then msg on the session), a group made by
  fakewa's POST /groups carries our message to Baileys, and POST
  /api/send/image reaches Baileys with the same bytes (a TAP SKIP while the
  API answers 501 NOT_IMPLEMENTED);
  Baileys -> our device: a text and a group message come out as GOWA
  message webhooks with the text, signed X-Hub-Signature-256 with the
  device's webhookSecret;
  receipts: our sent message's status becomes "delivered".
TAP on stdout.  WEB_SERVER (env) picks the web server, nginx by default.
BAILEYS_LOG=1 writes Baileys' debug log (pino) into the stack's log dir,
FAKEWA_VERBOSE=1 every stanza fakewa sees (fakewa.log); KEEP_STACK=1
keeps that directory.
"""
import hashlib
import json
import os
import re
import shutil
import struct
import sys
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import Stack, Tap  # noqa: E402
from msgkit import (fakewa, pair, hooks, signed, text_of,  # noqa: E402
                    msg_status, BaileysPeer as Peer)

WEB = os.environ.get("WEB_SERVER", "nginx")
BIN = os.environ.get("BIN_DIR") or stack.BIN
PA = "15551260001"  # our gateway's device
PB = "15551260002"  # the Baileys client
SECRET = "hook-secret-interop"
t = Tap()


# ------------------------------------------------------------- helpers












def id_of(b):
    m = b.get("message") if isinstance(b.get("message"), dict) else {}
    return m.get("id") or b.get("id")


def results(r):
    return ((r.json or {}).get("results") or {}) if isinstance(
        r.json, dict) else {}




def rcpt_state(st, chat, mid):
    """fakewa's log of our message: per recipient device, enc and state."""
    code, log = fakewa(st, "GET", "/messages?jid=" + chat)
    for m in (log.get("messages") or []) if isinstance(log, dict) else []:
        if m.get("id") == mid:
            return "fakewa: %s" % json.dumps(m.get("recipients"))
    return "fakewa: %s not logged" % mid


def png(w=48, h=48):
    """A real PNG (RGB, pseudo-random pixels): bytes to compare."""
    def chunk(kind, data):
        c = kind + data
        return struct.pack("!I", len(data)) + c + struct.pack(
            "!I", zlib.crc32(c) & 0xffffffff)
    seed = hashlib.sha256(b"interop image %d" % os.getpid()).digest()
    rows, k = b"", 0
    for y in range(h):
        row = bytearray(b"\x00")
        for x in range(w * 3):
            row.append(seed[k % 32] ^ ((x * 7 + y * 13) & 0xff))
            k += 1
        rows += bytes(row)
    return (b"\x89PNG\r\n\x1a\n" +
            chunk(b"IHDR", struct.pack("!IIBBBBB", w, h, 8, 2, 0, 0, 0)) +
            chunk(b"IDAT", zlib.compress(rows, 9)) + chunk(b"IEND", b""))


def multipart(fields, files):
    """(body, content type) for multipart/form-data."""
    bnd = "----interop%s" % hashlib.sha1(os.urandom(8)).hexdigest()
    out = b""
    for k, v in fields.items():
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n"
                "\r\n%s\r\n" % (bnd, k, v)).encode()
    for k, (fname, mime, data) in files.items():
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                "filename=\"%s\"\r\nContent-Type: %s\r\n\r\n" %
                (bnd, k, fname, mime)).encode() + data + b"\r\n"
    out += ("--%s--\r\n" % bnd).encode()
    return out, "multipart/form-data; boundary=" + bnd


# ------------------------------------------------------------------ main
def main():
    if not os.access(os.path.join(BIN, "fakewa"), os.X_OK):
        t.skip("Baileys <-> gateway interop", "fakewa not built")
        return
    if shutil.which("node") is None:
        t.skip("Baileys <-> gateway interop", "node not installed")
        return
    ws_port = stack.free_port()
    http_port = stack.free_port()
    sink = stack.WebhookSink()
    env = {"DEMO": "1", "FAKEWA_PORT": ws_port,
           "FAKEWA_HTTP_PORT": http_port, "LOG_LEVEL": "info"}
    if os.environ.get("FAKEWA_VERBOSE") == "1":
        env["FAKEWA_FLAGS"] = "-v"  # every node in and out, fakewa.log
    st = Stack(WEB, env=env)
    peer = None
    try:
        st.start()
        log_file = (os.path.join(st.log_dir, "baileys.log")
                    if os.environ.get("BAILEYS_LOG") == "1" else None)
        peer = Peer(log_file)
        rd = peer.ready()
        if not rd.get("ready") and rd.get("skip"):
            t.skip("Baileys <-> gateway interop", rd["skip"])
            return
        if not t.ok(rd.get("ready"), "Baileys helper started",
                    lambda: (rd, peer.stderr[-20:])):
            return
        tok = st.admin_token()

        # ---- pairing: our device and the Baileys client, both via fakewa
        ha, ja = pair(st, tok, "gateway", PA, sink, SECRET)
        if not t.ok(ja, "%s: our device paired through fakewa" % WEB,
                    lambda: (ha, ja, st.logs())):
            return
        # the stack's fakewa: control URL from the stack state, the chat
        # socket as run.sh announces it (the FAKEWA_PORT it was given)
        fw_http = int(st.state()["fakewa_url"].rsplit(":", 1)[1])
        try:
            with open(os.path.join(st.log_dir, "run.log")) as f:
                m = re.search(r"ws://127\.0\.0\.1:(\d+)/ws/chat", f.read())
            ws_port = int(m.group(1)) if m else ws_port
        except OSError:
            pass
        r = peer.call("pair", timeout=90, ws=ws_port, http=fw_http,
                      phone=PB, auth=os.path.join(st.base, "baileys-auth"))
        buser = ((r.get("user") or {}).get("id") or "")
        if not t.ok(r.get("ok") and re.match(r"^%s:\d+@s\.whatsapp\.net$" %
                                             PB, buser),
                    "%s: Baileys 7 paired through the stack's fakewa" % WEB,
                    lambda: (r, peer.stderr[-20:])):
            return
        to_b = PB + "@s.whatsapp.net"
        to_a = PA + "@s.whatsapp.net"
        hd = {"deviceHash": ha}

        # ---- our API -> Baileys, 1:1 text
        text1 = "hello baileys, from the gateway %d" % os.getpid()
        r = st.post("/api/send/message", {"phone": PB, "message": text1},
                    token=tok, headers=hd)
        mid = results(r).get("message_id")
        t.ok(r.status == 200 and mid, "%s: POST /api/send/message to the "
             "Baileys phone answers 200 with an id" % WEB, repr(r))
        w = _wait(peer, id=mid) if mid else {"ok": False}
        got = w.get("msg") or {}
        t.ok(w.get("ok") and got.get("text") == text1,
             "%s: Baileys decrypts our message: exact text in "
             "messages.upsert" % WEB,
             lambda: (w, fakewa(st, "GET", "/messages?jid=" + to_b),
                      st.logs(40)))
        t.ok(got.get("remoteJid") in (to_a, "9%s@lid" % PA),
             "%s: ... in the chat with our device's phone" % WEB,
             lambda: got)
        # Baileys acknowledges at once; not marked online (no push name,
        # markOnlineOnConnect false) its delivery receipt is
        # <receipt type="inactive">, as whatsmeow's is while inactive
        ok = st.wait(lambda: msg_status(st, tok, ha, mid) in (
            "delivered", "read"), 15, 0.2) if mid else False
        t.ok(ok, "%s: Baileys' delivery receipt (type=inactive, Baileys "
             "not online) makes our message's status delivered" % WEB,
             lambda: (msg_status(st, tok, ha, mid) if mid else None,
                      rcpt_state(st, to_b, mid), st.logs(12)))

        # a second message: on the established session (type msg)
        text2 = "second from the gateway"
        r = st.post("/api/send/message", {"phone": PB, "message": text2},
                    token=tok, headers=hd)
        mid2 = results(r).get("message_id")
        w = _wait(peer, id=mid2 or "-", text=text2)
        t.ok(r.status == 200 and w.get("ok"),
             "%s: a second message (established session) decrypts at "
             "Baileys" % WEB, lambda: (repr(r), w))

        # Baileys online: its delivery receipts are plain (no type)
        o = peer.call("online")
        text2b = "third from the gateway, Baileys online"
        r = st.post("/api/send/message", {"phone": PB, "message": text2b},
                    token=tok, headers=hd)
        mid3 = results(r).get("message_id")
        w = _wait(peer, id=mid3 or "-", text=text2b)
        ok = st.wait(lambda: msg_status(st, tok, ha, mid3) in (
            "delivered", "read"), 15, 0.2) if mid3 and w.get("ok") else False
        t.ok(o.get("online") and ok, "%s: Baileys online: its (active) "
             "delivery receipt makes our message's status delivered" % WEB,
             lambda: (o, w, msg_status(st, tok, ha, mid3) if mid3 else None,
                      rcpt_state(st, to_b, mid3), st.logs(12)))

        # ---- Baileys -> our device: message webhook, signed
        text3 = "hi gateway, Baileys here %d" % os.getpid()
        s = peer.call("send", to=to_a, text=text3)
        bid = s.get("id")
        got = st.wait(lambda: hooks(sink, lambda b: text_of(b) == text3),
                      25, 0.2)
        t.ok(s.get("ok") and got, "%s: Baileys' text reaches our device's "
             "message webhook with the text" % WEB,
             lambda: (s, hooks(sink)[-3:],
                      fakewa(st, "GET", "/messages?jid=" + to_a),
                      st.logs(40)))
        t.ok(got and signed(got[0][0], SECRET),
             "%s: ... with a valid X-Hub-Signature-256 (device's "
             "webhookSecret)" % WEB, lambda: got and got[0][0]["headers"])
        body = got[0][1] if got else {}
        t.ok(body.get("event") == "message" and body.get("device_hash") ==
             ha and body.get("event_id") and id_of(body) == bid and
             str(body.get("from", "")).startswith(PB),
             "%s: GOWA body: event, device_hash, event_id, message.id = "
             "Baileys' id, from = Baileys' phone" % WEB, lambda: body)

        def acked_at_b():
            inb = peer.call("inbox", timeout=10)
            return [u for u in inb.get("receipts") or []
                    if (u.get("key") or {}).get("id") == bid and
                    (u.get("update") or {}).get("status", 0) >= 3]
        rc = st.wait(acked_at_b, 15, 0.3) if bid else None
        t.ok(rc, "%s: our device's delivery receipt reaches Baileys "
             "(messages.update status >= DELIVERY_ACK)" % WEB,
             lambda: (peer.call("inbox", timeout=10).get("receipts"),
                      rcpt_state(st, to_a, bid)))

        # ---- group (fakewa POST /groups, both phones)
        code, g = fakewa(st, "POST", "/groups", {"subject": "interop",
                                                  "owner": PA,
                                                  "participants": [PB]})
        gid = g.get("jid") if isinstance(g, dict) else None
        t.ok(code == 200 and gid, "%s: fakewa made a group of both phones"
             % WEB, lambda: (code, g))
        gtext = "hello group, from the gateway"
        r = st.post("/api/send/message", {"phone": gid or "",
                                          "message": gtext},
                    token=tok, headers=hd)
        gmid = results(r).get("message_id")
        w = _wait(peer, remoteJid=gid or "-", text=gtext)
        t.ok(r.status == 200 and w.get("ok") and (w.get("msg") or {}).get(
            "id") == gmid, "%s: our group message decrypts at Baileys, in "
             "the group, exact text" % WEB,
             lambda: (repr(r), w, fakewa(st, "GET", "/messages?jid=" +
                                         (gid or "")), st.logs(40)))
        ok = st.wait(lambda: msg_status(st, tok, ha, gmid) in (
            "delivered", "read"), 15, 0.2) if gmid else False
        t.ok(ok, "%s: Baileys' group receipt (participant = its LID) makes "
             "our group message's status delivered" % WEB,
             lambda: (msg_status(st, tok, ha, gmid) if gmid else None,
                      rcpt_state(st, gid or "-", gmid), st.logs(12)))
        gtext2 = "Baileys answers in the group"
        s = peer.call("send", to=gid or "-", text=gtext2)
        got = st.wait(lambda: hooks(sink, lambda b: text_of(b) == gtext2),
                      25, 0.2)
        t.ok(s.get("ok") and got and signed(got[0][0], SECRET) and
             got[0][1].get("chat_id") == (gid or "").split("@")[0],
             "%s: Baileys' group message reaches our webhook, signed, in "
             "the group" % WEB,
             lambda: (s, hooks(sink)[-3:], fakewa(
                 st, "GET", "/messages?jid=" + (gid or "")), st.logs(40)))

        # ---- image: POST /api/send/image (multipart upload)
        img = png()
        body, ctype = multipart({"phone": PB, "caption": "interop picture"},
                                {"image": ("pic.png", "image/png", img)})
        r = st.post("/api/send/image", body, token=tok,
                    headers={"deviceHash": ha, "Content-Type": ctype},
                    timeout=30)
        if r.status == 501:
            t.skip("%s: POST /api/send/image reaches Baileys with the same "
                   "bytes" % WEB, "media sending not built yet (501)")
        else:
            imid = results(r).get("message_id")
            t.ok(r.status == 200 and imid, "%s: POST /api/send/image "
                 "answers 200 with an id" % WEB, repr(r))
            w = _wait(peer, id=imid or "-", image=True, ms=40000)
            im = (w.get("msg") or {}).get("image") or {}
            t.ok(w.get("ok") and im.get("caption") == "interop picture",
                 "%s: Baileys gets our image message with the caption" %
                 WEB, lambda: (w, st.logs(40)))
            d = peer.call("download", id=imid) if w.get("ok") else w
            t.ok(d.get("ok") and d.get("sha256") == hashlib.sha256(
                img).hexdigest() and d.get("len") == len(img),
                 "%s: ... Baileys downloads and decrypts the same bytes" %
                 WEB, lambda: ({k: v for k, v in d.items() if k != "b64"},
                               len(img), im))
    finally:
        if peer is not None:
            peer.close()
            if t.failed:
                t.diag("Baileys helper stderr:\n" + "\n".join(
                    peer.stderr[-30:]))
        st.stop()
        if os.environ.get("KEEP_STACK") != "1":
            st.cleanup()
        else:
            t.diag("stack kept in " + st.base)
        sink.close()


def _wait(peer, ms=30000, **q):
    q["ms"] = ms
    return peer.call("wait", timeout=ms / 1000 + 10, **q)


if __name__ == "__main__":
    try:
        main()
    finally:
        print("1..%d" % t.n)
        sys.exit(1 if t.failed else 0)
