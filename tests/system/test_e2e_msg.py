#!/usr/bin/env python3
"""test_e2e_msg.py - messaging end to end through a real web server: two
devices of ours, paired through tests/fakewa (which only relays Signal
ciphertexts: it never sees plaintext), send each other messages through the
REST API.  Checks: the send is answered with an id before it is sent, the
peer's signed message webhook carries the text, the sender's status goes
sent -> delivered, GET /api/chats and /api/chat/:jid/messages read the
store, an Idempotency-Key retry sends nothing twice, replies and every
non-media kind, a group message reaches the other member, an undecryptable
message gets a retry receipt and no crash, and the durable outbox: the
sending waproc killed (-9) in the middle of a burst, every accepted message
arrives exactly once.  TAP on stdout.

WEB_SERVER (env) picks the web server, nginx by default.
"""
import json
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import Stack, Tap  # noqa: E402
from msgkit import (fakewa, pair, hooks, signed, text_of,  # noqa: E402
                    msg_status)

WEB = os.environ.get("WEB_SERVER", "nginx")
BIN = os.environ.get("BIN_DIR") or stack.BIN
BURST = int(os.environ.get("MSG_BURST", "1000"))
PA = "15551240001"
PB = "15551240002"
SECRET_A = "hook-secret-a"
SECRET_B = "hook-secret-b"
t = Tap()








def send(st, tok, h, route, body, headers=None):
    hd = {"deviceHash": h}
    hd.update(headers or {})
    return st.post("/api/send/" + route, body, token=tok, headers=hd)








def multipart(fields, files):
    """fields {name: text}, files {name: (filename, mime, bytes)}."""
    bnd = "----wagwtest%d" % os.getpid()
    out = b""
    for k, v in fields.items():
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"\r\n\r\n"
                "%s\r\n" % (bnd, k, v)).encode()
    for k, (fn, mime, data) in files.items():
        out += ("--%s\r\nContent-Disposition: form-data; name=\"%s\"; "
                "filename=\"%s\"\r\nContent-Type: %s\r\n\r\n" %
                (bnd, k, fn, mime)).encode() + data + b"\r\n"
    out += ("--%s--\r\n" % bnd).encode()
    return out, "multipart/form-data; boundary=" + bnd


class FileServer:
    """Serves one byte string on 127.0.0.1 (media by URL)."""

    def __init__(self, data, mime):
        import http.server
        import threading

        class H(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.send_header("Content-Type", mime)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *a):
                pass
        self.srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.url = "http://127.0.0.1:%d/files/report.pdf" % \
            self.srv.server_address[1]
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    def close(self):
        self.srv.shutdown()
        self.srv.server_close()


def download(st, tok, h, mid):
    import base64
    r = st.get("/api/message/%s/download" % mid, token=tok,
               headers={"deviceHash": h}, timeout=30)
    res = (r.json or {}).get("results") or {}
    try:
        return r, base64.b64decode(res.get("data_base64") or "")
    except ValueError:
        return r, None




def main():
    if not os.access(os.path.join(BIN, "fakewa"), os.X_OK):
        t.skip("messaging end to end", "fakewa not built")
        return
    sink_a, sink_b = stack.WebhookSink(), stack.WebhookSink()
    st = Stack(WEB, env={"DEMO": "1", "FAKEWA_PORT": stack.free_port(),
                         "FAKEWA_HTTP_PORT": stack.free_port(),
                         "LOG_LEVEL": "info"})
    try:
        st.start()
        tok = st.admin_token()
        ha, ja = pair(st, tok, "alice", PA, sink_a, SECRET_A)
        hb, jb = pair(st, tok, "bob", PB, sink_b, SECRET_B)
        if not t.ok(ja and jb, "%s: two devices paired through fakewa" % WEB,
                    lambda: (ha, ja, hb, jb, st.logs())):
            return

        # live events: B's messages reach /ws too
        ws = stack.WebSocket(st.host, st.api_port, "/ws?token=" + tok)
        ws.recv_json(5)
        ws.send(json.dumps({"type": "join-device", "deviceHash": hb}))

        # ---- 1:1 text, A -> B
        r = send(st, tok, ha, "message", {"phone": PB, "message": "hello bob"})
        mid = ((r.json or {}).get("results") or {}).get("message_id")
        t.ok(r.status == 200 and mid and (r.json or {}).get("code") ==
             "SUCCESS", "%s: POST /api/send/message answers 200 with an id" %
             WEB, repr(r))
        got = st.wait(lambda: hooks(sink_b, lambda b: b.get("id") == mid or
                                    (b.get("message") or {}).get("id") ==
                                    mid), 20, 0.2)
        t.ok(got and text_of(got[0][1]) == "hello bob",
             "%s: B's message webhook carries the text" % WEB,
             lambda: (hooks(sink_b), st.logs(60)))
        t.ok(got and signed(got[0][0], SECRET_B),
             "%s: B's webhook is signed with B's secret (X-Hub-Signature-256)"
             % WEB, lambda: got and got[0][0]["headers"])
        body = got[0][1] if got else {}
        t.ok(body.get("device_hash") == hb and body.get("event") == "message"
             and body.get("event_id") and str(body.get("from", "")).
             startswith(PA), "%s: webhook body: device_hash, event, event_id,"
             " from" % WEB, lambda: body)
        ok = st.wait(lambda: msg_status(st, tok, ha, mid) in ("delivered",
                                                              "read"), 20,
                     0.2)
        t.ok(ok, "%s: A's message status becomes delivered" % WEB,
             lambda: (msg_status(st, tok, ha, mid), st.logs(40)))
        acks = st.wait(lambda: hooks(sink_a, lambda b: b.get("event") ==
                                     "message.ack"), 10, 0.2)
        t.ok(acks and all(signed(x, SECRET_A) for x, _ in acks),
             "%s: A gets a signed message.ack webhook" % WEB,
             lambda: hooks(sink_a))

        evs = []
        end = time.time() + 5
        while time.time() < end:
            try:
                m = ws.recv_json(max(0.1, end - time.time()))
            except Exception:
                break
            if m is None:
                break
            evs.append(m)
            if "hello bob" in json.dumps(m):
                break
        ws.close()
        t.ok(any("hello bob" in json.dumps(m) and '"message"' in json.dumps(m)
                 for m in evs), "%s: the message is a live event on /ws" %
             WEB, lambda: evs[-5:])

        # ---- the store: chats and messages
        r = st.get("/api/chats", token=tok, headers={"deviceHash": hb})
        data = ((r.json or {}).get("results") or {}).get("data") or []
        t.ok(r.status == 200 and any(str(c.get("jid", "")).startswith(PA)
                                     for c in data),
             "%s: GET /api/chats on B lists A's chat" % WEB, repr(r))
        r = st.get("/api/chat/%s@s.whatsapp.net/messages" % PA, token=tok,
                   headers={"deviceHash": hb})
        data = ((r.json or {}).get("results") or {}).get("data") or []
        t.ok(r.status == 200 and any(m.get("id") == mid and
                                     m.get("content") == "hello bob"
                                     for m in data),
             "%s: GET /api/chat/:jid/messages on B has the message" % WEB,
             repr(r))

        # ---- B replies, quoting
        r = send(st, tok, hb, "message", {"phone": PA, "message": "hi alice",
                                          "reply_message_id": mid})
        mid2 = ((r.json or {}).get("results") or {}).get("message_id")
        got = st.wait(lambda: hooks(sink_a, lambda b: text_of(b) ==
                                    "hi alice"), 20, 0.2)
        t.ok(r.status == 200 and got and signed(got[0][0], SECRET_A),
             "%s: B's reply reaches A's webhook, signed" % WEB,
             lambda: (repr(r), hooks(sink_a)))
        t.ok(got and mid in json.dumps(got[0][1]),
             "%s: the reply names the quoted message" % WEB,
             lambda: got and got[0][1])
        _ = mid2

        # ---- idempotency: the same key twice -> one message
        key = "idem-%d" % os.getpid()
        r1 = send(st, tok, ha, "message", {"phone": PB, "message": "once"},
                  {"Idempotency-Key": key})
        r2 = send(st, tok, ha, "message", {"phone": PB, "message": "once"},
                  {"Idempotency-Key": key})
        i1 = ((r1.json or {}).get("results") or {}).get("message_id")
        i2 = ((r2.json or {}).get("results") or {}).get("message_id")
        t.ok(r1.status == 200 and r2.status == 200 and i1 and i1 == i2,
             "%s: a retried request with the same Idempotency-Key returns "
             "the first id" % WEB, lambda: (repr(r1), repr(r2)))
        st.wait(lambda: hooks(sink_b, lambda b: text_of(b) == "once"), 15)
        time.sleep(1.0)
        t.ok(len(hooks(sink_b, lambda b: text_of(b) == "once")) == 1,
             "%s: ... and B receives it once" % WEB,
             lambda: hooks(sink_b, lambda b: text_of(b) == "once"))

        # ---- B addressed by its LID (fakewa gives phone P the LID 9P@lid)
        r = send(st, tok, ha, "message", {"phone": "9%s@lid" % PB,
                                          "message": "via lid"})
        got = st.wait(lambda: hooks(sink_b, lambda b: text_of(b) ==
                                    "via lid"), 20, 0.2)
        t.ok(r.status == 200 and got, "%s: a send to B's LID reaches B" %
             WEB, lambda: (repr(r), hooks(sink_b)[-2:], st.logs(20)))

        # ---- a number that is not on WhatsApp: accepted, then failed
        r = send(st, tok, ha, "message", {"phone": "15559876543",
                                          "message": "anyone?"})
        kid = ((r.json or {}).get("results") or {}).get("message_id")
        ok = st.wait(lambda: msg_status(st, tok, ha, kid) == "failed", 20,
                     0.2) if kid else False
        t.ok(r.status == 200 and ok, "%s: a number not on WhatsApp: status "
             "failed" % WEB, lambda: (repr(r), msg_status(st, tok, ha,
                                                           kid or "x")))

        # ---- validation
        r = send(st, tok, ha, "message", {"phone": "", "message": "x"})
        t.ok(r.status == 400 and (r.json or {}).get("code") ==
             "VALIDATION_ERROR", "%s: blank phone: 400 VALIDATION_ERROR" %
             WEB, repr(r))

        # ---- other kinds
        kinds = [("contact", {"phone": PB, "contact_name": "Carol",
                              "contact_phone": "15557654321"}, "Carol"),
                 ("location", {"phone": PB, "latitude": "-6.2",
                               "longitude": "106.8"}, None),
                 ("link", {"phone": PB, "link": "https://example.org/x",
                           "caption": "see this"}, "see this"),
                 ("poll", {"phone": PB, "question": "Lunch?",
                           "options": ["pizza", "sushi"],
                           "max_answer": 1}, None)]
        for route, b, _ in kinds:
            r = send(st, tok, ha, route, b)
            kid = ((r.json or {}).get("results") or {}).get("message_id")
            got = st.wait(lambda: hooks(sink_b, lambda x: x.get("id") == kid
                                        or (x.get("message") or {}).get("id")
                                        == kid), 20, 0.2) if kid else None
            t.ok(r.status == 200 and got,
                 "%s: /send/%s reaches B's webhook" % (WEB, route),
                 lambda: (repr(r), hooks(sink_b)[-3:]))
        r = st.post("/api/message/%s/reaction" % mid2, {"phone": PB,
                                                         "emoji": "👍"},
                    token=tok, headers={"deviceHash": ha})
        got = st.wait(lambda: hooks(sink_b, lambda b: b.get("event") ==
                                    "message.reaction" or "reaction" in b),
                      20, 0.2)
        t.ok(r.status == 200 and got, "%s: a reaction reaches B as "
             "message.reaction" % WEB, lambda: (repr(r), hooks(sink_b)[-3:]))
        r = st.post("/api/message/%s/revoke" % mid, {"phone": PB}, token=tok,
                    headers={"deviceHash": ha})
        got = st.wait(lambda: hooks(sink_b, lambda b: b.get("event") ==
                                    "message.revoked"), 20, 0.2)
        t.ok(r.status == 200 and got, "%s: a revoke reaches B as "
             "message.revoked" % WEB, lambda: (repr(r), hooks(sink_b)[-3:]))

        # ---- media: uploads (multipart) and by URL, B downloads them
        png = (b"\x89PNG\r\n\x1a\n" + os.urandom(60000))
        media = [("image", "image", ("photo.png", "image/png", png),
                  {"caption": "a photo"}),
                 ("video", "video", ("clip.mp4", "video/mp4",
                                     os.urandom(300000)), {"caption": "v"}),
                 ("audio", "audio", ("voice.ogg", "audio/ogg",
                                     os.urandom(20000)), {}),
                 ("sticker", "sticker", ("s.webp", "image/webp",
                                         b"RIFF" + os.urandom(5000)), {})]
        for route, field, f, extra in media:
            fields = {"phone": PB}
            fields.update(extra)
            body, ct = multipart(fields, {field: f})
            r = st.post("/api/send/" + route, body, token=tok,
                        headers={"deviceHash": ha, "Content-Type": ct},
                        timeout=30)
            kid = ((r.json or {}).get("results") or {}).get("message_id")
            got = st.wait(lambda: hooks(sink_b, lambda x: x.get("id") == kid
                                        or (x.get("message") or {}).get("id")
                                        == kid), 30, 0.2) if kid else None
            t.ok(r.status == 200 and got, "%s: /send/%s (upload) reaches "
                 "B's webhook" % (WEB, route),
                 lambda: (repr(r), hooks(sink_b)[-2:], st.logs(20)))
            r2, data = download(st, tok, hb, kid or "x")
            t.ok(r2.status == 200 and data == f[2],
                 "%s: B downloads the %s: the same %d bytes" %
                 (WEB, route, len(f[2])),
                 lambda: (repr(r2)[:300], data and len(data)))
        pdf = b"%PDF-1.4\n" + os.urandom(40000)
        fs = FileServer(pdf, "application/pdf")
        try:
            r = send(st, tok, ha, "file", {"phone": PB, "file_url": fs.url,
                                           "caption": "the report"})
            kid = ((r.json or {}).get("results") or {}).get("message_id")
            got = st.wait(lambda: hooks(sink_b, lambda x: x.get("id") == kid
                                        or (x.get("message") or {}).get("id")
                                        == kid), 30, 0.2) if kid else None
            r2, data = download(st, tok, hb, kid or "x")
            res = (r2.json or {}).get("results") or {}
            t.ok(r.status == 200 and got and data == pdf and
                 res.get("filename") == "report.pdf" and
                 res.get("mime_type") == "application/pdf",
                 "%s: /send/file by URL: B gets the document, name and type"
                 % WEB, lambda: (repr(r), repr(r2)[:300], st.logs(20)))
        finally:
            fs.close()
        r = send(st, tok, ha, "image", {"phone": PB, "image_url":
                                        st.state()["fakewa_url"] +
                                        "/no/such/image.jpg"})
        kid = ((r.json or {}).get("results") or {}).get("message_id")
        ok = st.wait(lambda: msg_status(st, tok, ha, kid) == "failed", 20,
                     0.3) if kid else False
        t.ok(r.status == 200 and ok, "%s: an image URL that answers 404: "
             "accepted, then status failed" % WEB,
             lambda: (repr(r), msg_status(st, tok, ha, kid or "x")))
        r, data = download(st, tok, hb, mid)
        t.ok(r.status == 400 and (r.json or {}).get("code") == "NOT_MEDIA",
             "%s: download of a text message: 400 NOT_MEDIA" % WEB, repr(r))

        # ---- group
        code, g = fakewa(st, "POST", "/groups", {"subject": "team",
                                                  "owner": PA,
                                                  "participants": [PB]})
        gid = g.get("jid") if isinstance(g, dict) else None
        r = send(st, tok, ha, "message", {"phone": gid or "",
                                          "message": "hello group"})
        got = st.wait(lambda: hooks(sink_b, lambda b: text_of(b) ==
                                    "hello group"), 20, 0.2)
        t.ok(code == 200 and r.status == 200 and got and
             gid.split("@")[0] in json.dumps(got[0][1]),
             "%s: a group message from A reaches B, in the group" % WEB,
             lambda: (g, repr(r), hooks(sink_b)[-3:], st.logs(40)))
        r = send(st, tok, hb, "message", {"phone": gid or "",
                                          "message": "group reply"})
        got = st.wait(lambda: hooks(sink_a, lambda b: text_of(b) ==
                                    "group reply"), 20, 0.2)
        t.ok(r.status == 200 and got, "%s: B answers in the group, A gets "
             "it" % WEB, lambda: (repr(r), hooks(sink_a)[-3:]))
        gmid = ((r.json or {}).get("results") or {}).get("message_id")

        def reaches_b(kid, secs=20):
            return st.wait(lambda: hooks(sink_b, lambda x: x.get("id") ==
                                         kid or (x.get("message") or {}).get(
                                             "id") == kid), secs, 0.2)
        # every kind in the group too
        body, ct = multipart({"phone": gid or "", "caption": "group pic"},
                             {"image": ("g.png", "image/png", png)})
        r = st.post("/api/send/image", body, token=tok,
                    headers={"deviceHash": ha, "Content-Type": ct},
                    timeout=30)
        kid = ((r.json or {}).get("results") or {}).get("message_id")
        got = reaches_b(kid) if kid else None
        r2, data = download(st, tok, hb, kid or "x")
        t.ok(r.status == 200 and got and data == png, "%s: an image in the "
             "group: B gets it and downloads the same bytes" % WEB,
             lambda: (repr(r), repr(r2)[:200]))
        for route, b in (("poll", {"phone": gid or "", "question": "When?",
                                   "options": ["now", "later"],
                                   "max_answer": 1}),
                         ("location", {"phone": gid or "", "latitude": "1.5",
                                       "longitude": "2.5"}),
                         ("contact", {"phone": gid or "",
                                      "contact_name": "Dan",
                                      "contact_phone": "15550001234"})):
            r = send(st, tok, ha, route, b)
            kid = ((r.json or {}).get("results") or {}).get("message_id")
            t.ok(r.status == 200 and kid and reaches_b(kid),
                 "%s: /send/%s in the group reaches B" % (WEB, route),
                 lambda: (repr(r), hooks(sink_b)[-2:]))
        r = st.post("/api/message/%s/reaction" % gmid, {"phone": gid or "",
                                                         "emoji": "🎉"},
                    token=tok, headers={"deviceHash": ha})
        got = st.wait(lambda: hooks(sink_b, lambda b: b.get("event") ==
                                    "message.reaction" and gid.split("@")[0]
                                    in json.dumps(b)), 20, 0.2)
        t.ok(r.status == 200 and got, "%s: a reaction in the group reaches "
             "B" % WEB, lambda: (repr(r), hooks(sink_b)[-2:]))

        # ---- edit (1:1): B sees message.edited with the new text
        r = send(st, tok, ha, "message", {"phone": PB, "message": "typo"})
        eid = ((r.json or {}).get("results") or {}).get("message_id")
        st.wait(lambda: hooks(sink_b, lambda b: text_of(b) == "typo"), 20)
        r = st.post("/api/message/%s/update" % eid, {"phone": PB,
                                                      "message": "fixed"},
                    token=tok, headers={"deviceHash": ha})
        got = st.wait(lambda: hooks(sink_b, lambda b: b.get("event") ==
                                    "message.edited"), 20, 0.2)
        t.ok(r.status == 200 and got and "fixed" in json.dumps(got[0][1]),
             "%s: an edit reaches B as message.edited with the new text" %
             WEB, lambda: (repr(r), hooks(sink_b)[-2:]))

        # ---- read receipts: B reads A's message -> A's status "read"
        r = send(st, tok, ha, "message", {"phone": PB, "message": "read me"})
        rid = ((r.json or {}).get("results") or {}).get("message_id")
        st.wait(lambda: hooks(sink_b, lambda b: text_of(b) == "read me"), 20)
        r = st.post("/api/message/%s/read" % rid, {"phone": PA}, token=tok,
                    headers={"deviceHash": hb})
        ok = st.wait(lambda: msg_status(st, tok, ha, rid) == "read", 20, 0.2)
        t.ok(r.status == 200 and ok, "%s: B marks A's message read: A's "
             "status read" % WEB, lambda: (repr(r), msg_status(st, tok, ha,
                                                               rid)))
        r = st.post("/api/message/3EB0000000000000DEAD/read", {"phone": PA},
                    token=tok, headers={"deviceHash": hb})
        t.ok(r.status == 404, "%s: read of an unknown message: 404" % WEB,
             repr(r))

        # ---- presence
        r = send(st, tok, ha, "presence", {"type": "available"})
        r2 = send(st, tok, ha, "chat-presence", {"phone": PB,
                                                 "action": "start"})
        r3 = send(st, tok, ha, "chat-presence", {"phone": PB,
                                                 "action": "dance"})
        t.ok(r.status == 200 and r2.status == 200 and r3.status == 400,
             "%s: /send/presence, /send/chat-presence (bad action: 400)" %
             WEB, lambda: (repr(r), repr(r2), repr(r3)))

        # ---- a second device of A's account: sees what A sends (wrapped
        # as sent by us) and what B sends to A
        sink_a2 = stack.WebhookSink()
        try:
            ha2, ja2 = pair(st, tok, "alice2", PA, sink_a2, SECRET_A)
            t.ok(ja2 and ja2 != ja and ja2.startswith(PA + ":"),
                 "%s: a second companion of A's phone paired" % WEB,
                 lambda: (ja, ja2))
            send(st, tok, ha, "message", {"phone": PB,
                                          "message": "from alice one"})
            got = st.wait(lambda: hooks(sink_a2, lambda b: text_of(b) ==
                                        "from alice one"), 20, 0.2)
            t.ok(got and got[0][1].get("chat_id") == PB,
                 "%s: A's other device gets A's message to B (sent-by-me, "
                 "in B's chat)" % WEB, lambda: (hooks(sink_a2)[-3:],
                                               st.logs(20)))
            send(st, tok, hb, "message", {"phone": PA,
                                          "message": "to both"})
            got1 = st.wait(lambda: hooks(sink_a, lambda b: text_of(b) ==
                                         "to both"), 20, 0.2)
            got2 = st.wait(lambda: hooks(sink_a2, lambda b: text_of(b) ==
                                         "to both"), 20, 0.2)
            t.ok(got1 and got2, "%s: B's message reaches both of A's "
                 "devices" % WEB, lambda: (hooks(sink_a)[-2:],
                                          hooks(sink_a2)[-2:]))
        finally:
            sink_a2.close()

        # ---- undecryptable: a retry receipt, no crash
        code, d0 = fakewa(st, "GET", "/devices")
        before = [d for d in d0.get("devices", []) if d.get("jid") == jb]
        r0 = before[0].get("receipts", 0) if before else 0
        fakewa(st, "POST", "/message", {"jid": jb, "from":
                                        PA + "@s.whatsapp.net",
                                        "id": "3EB0BADBADBADBAD0001"})

        def more_receipts():
            code, d = fakewa(st, "GET", "/devices")
            x = [e for e in d.get("devices", []) if e.get("jid") == jb]
            return x and x[0].get("receipts", 0) > r0
        t.ok(st.wait(more_receipts, 10, 0.2),
             "%s: garbage ciphertext gets a (retry) receipt" % WEB,
             lambda: fakewa(st, "GET", "/devices"))
        pid_b = st.waproc_pid(hb)
        r = send(st, tok, ha, "message", {"phone": PB, "message": "still ok"})
        got = st.wait(lambda: hooks(sink_b, lambda b: text_of(b) ==
                                    "still ok"), 20, 0.2)
        t.ok(got and pid_b and st.waproc_pid(hb) == pid_b,
             "%s: ... and B's waproc lives on and still receives" % WEB,
             lambda: (pid_b, st.waproc_pid(hb), st.logs(30)))

        # ---- the other side: B cannot decrypt a message A sent (garbage
        # under the id of A's first message): B's retry receipt reaches A,
        # A re-sends that message to B's device alone, B (which has it
        # already) reports it no second time
        fakewa(st, "POST", "/message", {"jid": jb, "from": ja, "id": mid})

        def resent():
            code, lg = fakewa(st, "GET", "/messages?jid=%s@s.whatsapp.net" % PA)
            return [x for x in (lg.get("messages", []) if isinstance(lg, dict)
                                else []) if x.get("id") == mid and
                    x.get("from", "").startswith(PA)]
        got = st.wait(lambda: len(resent()) >= 2 and resent(), 15, 0.2)
        t.ok(got and len(got[-1].get("recipients", [])) == 1,
             "%s: a retry receipt makes A re-send that message to that one "
             "device" % WEB, lambda: (resent(), st.logs(20)))
        time.sleep(0.5)
        t.ok(len(hooks(sink_b, lambda b: text_of(b) == "hello bob")) == 1,
             "%s: ... and B reports it no second time" % WEB,
             lambda: hooks(sink_b, lambda b: text_of(b) == "hello bob"))

        # ---- a re-sent message that still does not decrypt (enc
        # count=1): B's second retry receipt carries its keys (identity,
        # a fresh one-time prekey, signed prekey) for a new session
        def b_dev():
            code, d = fakewa(st, "GET", "/devices")
            x = [e for e in d.get("devices", []) if e.get("jid") == jb]
            return x[0] if x else {}
        k0 = b_dev().get("retry_keys", 0)
        fakewa(st, "POST", "/message", {"jid": jb, "from": ja,
                                        "id": "3EB0BADBADBADBAD0002",
                                        "count": 1})
        t.ok(st.wait(lambda: b_dev().get("retry_keys", 0) > k0, 10, 0.2),
             "%s: a second retry receipt carries B's keys" % WEB,
             lambda: b_dev())

        # ---- a changed webhook URL and secret apply without a restart
        sink_c = stack.WebhookSink()
        try:
            pid_b = st.waproc_pid(hb)
            r = st.request("PUT", "/api/devices?deviceHash=" + hb,
                           {"webhookUrl": sink_c.url,
                            "webhookSecret": "new-secret"}, token=tok)
            t.ok(r.status == 200, "%s: PUT /api/devices: new webhook URL and "
                 "secret" % WEB, repr(r))
            send(st, tok, ha, "message", {"phone": PB, "message": "moved"})
            got = st.wait(lambda: hooks(sink_c, lambda b: text_of(b) ==
                                        "moved"), 20, 0.2)
            t.ok(got and signed(got[0][0], "new-secret") and
                 not hooks(sink_b, lambda b: text_of(b) == "moved"),
                 "%s: the next message goes to the new URL, signed with the "
                 "new secret" % WEB, lambda: (hooks(sink_c), st.logs(20)))
            t.ok(st.waproc_pid(hb) == pid_b, "%s: ... without restarting "
                 "the device's waproc" % WEB)
            st.request("PUT", "/api/devices?deviceHash=" + hb,
                       {"webhookUrl": sink_b.url,
                        "webhookSecret": SECRET_B}, token=tok)
        finally:
            sink_c.close()

        # ---- durability: kill -9 the sender in the middle of a burst
        # Like a careful client: each send carries an Idempotency-Key and is
        # retried with it until it is answered 200 (while the waproc is
        # down devmgr answers 503).
        ids = []
        refused = 0
        pid_a = st.waproc_pid(ha)
        t0 = time.time()
        for i in range(BURST):
            key = "burst-%d-%d" % (os.getpid(), i)
            end = time.time() + 30
            while True:
                r = send(st, tok, ha, "message", {"phone": PB,
                                                  "message": "burst %d" % i},
                         {"Idempotency-Key": key})
                if r.status == 200 or time.time() > end:
                    break
                refused += 1
                time.sleep(0.05)
            if r.status == 200:
                ids.append(((r.json or {}).get("results") or {}).get(
                    "message_id"))
            if i == BURST // 2 and pid_a:
                os.kill(pid_a, signal.SIGKILL)
        t.diag("burst: %d sends in %.1f s, %d answers refused while the "
               "waproc restarted" % (BURST, time.time() - t0, refused))
        t.ok(len(ids) == BURST and len(set(ids)) == BURST,
             "%s: burst of %d sends, all accepted (with retries through "
             "the kill)" % (WEB, BURST), lambda: (len(ids), st.logs(30)))

        def burst_in():
            got = {}
            for x, b in hooks(sink_b, lambda b: text_of(b).startswith(
                    "burst ")):
                i = b.get("id") or (b.get("message") or {}).get("id")
                got.setdefault(i, set()).add(b.get("event_id"))
            return got
        st.wait(lambda: set(ids) <= set(burst_in()), 120, 0.5)
        got = burst_in()
        missing = [i for i in ids if i not in got]
        t.ok(not missing, "%s: every accepted message of the burst arrives "
             "(waproc killed mid-burst)" % WEB,
             lambda: "missing %d of %d: %s\n%s" % (len(missing), len(ids),
                                                 missing[:5], st.logs(40)))
        twice = [i for i, ev in got.items() if len(ev) > 1]
        per_id = {}
        for x, b in hooks(sink_b, lambda b: text_of(b).startswith("burst ")):
            i = b.get("id") or (b.get("message") or {}).get("id")
            per_id[i] = per_id.get(i, 0) + 1
        dup = [i for i, n in per_id.items() if n > 1]
        t.ok(not twice and not dup, "%s: ... exactly once (no id twice)" %
             WEB, lambda: (twice[:5], dup[:5]))
        t.ok(st.waproc_pid(ha) not in (None, pid_a),
             "%s: devmgr restarted A's waproc" % WEB,
             lambda: (pid_a, st.waproc_pid(ha)))
    finally:
        st.stop()
        if os.environ.get("KEEP_STACK") != "1":
            st.cleanup()
        sink_a.close()
        sink_b.close()


if __name__ == "__main__":
    try:
        main()
    finally:
        print("1..%d" % t.n)
        sys.exit(1 if t.failed else 0)
