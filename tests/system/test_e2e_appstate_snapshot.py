#!/usr/bin/env python3
"""test_e2e_appstate_snapshot.py - app state snapshots end to end through
a real web server.  fakewa runs with -S (FAKEWA_FLAGS): a fetch from
scratch of a collection with patches is answered with a <snapshot>, an
ExternalBlobReference to a SyncdSnapshot the phone built from the stored
patches and put on fakewa's HTTPS media host as an "app-state" blob.

Our device A1 (phone PA) and B (phone PB) pair; B sends messages; A1
stars, unstars and pins through the API (regular_high and regular_low
get several versions, with overwrites).  A NEW device of ours, A3, pairs
as PA: its first sync downloads both snapshots through the media host
(fakewa's counters and log), verifies them (no MAC error, no refetch) and
shows the chat pinned; B's next message starred by A1 reaches A3 as a
patch verified on top of the snapshot state.  Then a snapshot with a
corrupted MAC (POST /appstate/snapshots {"corrupt_next": true}) for
another new device A4: it logs the MAC error, fetches the collection
again from scratch once, verifies the good snapshot, shows the pin and
can patch on top (A1 verifies A4's star).  No waproc crashes.  TAP.

WEB_SERVER (env) picks the web server, nginx by default.
"""
import glob
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import Stack, Tap  # noqa: E402
from msgkit import fakewa, pair  # noqa: E402
from test_e2e_appstate import (api, appstate_call, chat_msgs,  # noqa: E402
                               chat_pinned, send_text, starred)

WEB = os.environ.get("WEB_SERVER", "nginx")
BIN = os.environ.get("BIN_DIR") or stack.BIN
PA = "15551260001"
PB = "15551260002"
t = Tap()


def version(st, name):
    code, j = fakewa(st, "GET", "/appstate?phone=" + PA)
    if code != 200 or not isinstance(j, dict):
        return None
    return ((j.get("collections") or {}).get(name) or {}).get("version", 0)


def snaps(st):
    code, j = fakewa(st, "GET", "/appstate/snapshots")
    return j if code == 200 and isinstance(j, dict) else {}


def device_log(st, h):
    """Everything device h's waproc logged (its log files)."""
    out = []
    for p in sorted(glob.glob(os.path.join(st.var_dir, "devices", h,
                                           "*.log"))):
        try:
            with open(p, "rb") as f:
                out.append(f.read()[-400000:].decode("utf-8", "replace"))
        except OSError:
            pass
    return "\n".join(out)


def fakewa_log(st):
    out = []
    for p in sorted(glob.glob(os.path.join(st.log_dir, "fakewa*.log"))):
        try:
            with open(p, "rb") as f:
                out.append(f.read()[-400000:].decode("utf-8", "replace"))
        except OSError:
            pass
    return "\n".join(out)


def lines(text, *words):
    return [x for x in text.splitlines() if all(w in x for w in words)]


def main():
    if not os.access(os.path.join(BIN, "fakewa"), os.X_OK):
        t.skip("app state snapshots end to end", "fakewa not built")
        return
    sinks = [stack.WebhookSink() for _ in range(4)]
    st = Stack(WEB, env={"DEMO": "1", "FAKEWA_PORT": stack.free_port(),
                         "FAKEWA_HTTP_PORT": stack.free_port(),
                         "FAKEWA_FLAGS": "-S", "LOG_LEVEL": "info"})
    try:
        st.start()
        tok = st.admin_token()
        s0 = snaps(st)
        t.ok(s0.get("enabled") is True and s0.get("served") == 0,
             "%s: fakewa -S serves snapshots (GET /appstate/snapshots)" %
             WEB, repr(s0))
        a1, ja1 = pair(st, tok, "a1", PA, sinks[0], "s-a1")
        b, jb = pair(st, tok, "b", PB, sinks[1], "s-b")
        if not t.ok(ja1 and jb, "%s: A1 (PA) and B (PB) paired" % WEB,
                    lambda: (ja1, jb, st.logs())):
            return

        m1 = send_text(st, tok, b, PA, "snapshot one")
        m2 = send_text(st, tok, b, PA, "snapshot two")
        ok = st.wait(lambda: starred(st, tok, a1, PB, m1) is not None and
                     starred(st, tok, a1, PB, m2) is not None, 30, 0.3)
        if not t.ok(m1 and m2 and ok, "%s: B's messages reach A1" % WEB,
                    lambda: (m1, m2, chat_msgs(st, tok, a1, PB),
                             st.logs())):
            return

        # ---- A1's history: star m1, star m2, unstar m1 (regular_high);
        # pin, unpin, pin (regular_low): overwrites of one index each
        steps = [("/api/message/%s/star" % m1, {"phone": PB}),
                 ("/api/message/%s/star" % m2, {"phone": PB}),
                 ("/api/message/%s/unstar" % m1, {"phone": PB}),
                 ("/api/chat/%s/pin" % PB, {"pinned": True}),
                 ("/api/chat/%s/pin" % PB, {"pinned": False}),
                 ("/api/chat/%s/pin" % PB, {"pinned": True})]
        res = []
        for path, body in steps:
            r = appstate_call(st, tok, a1, path, body)
            res.append(r.status if r is not None else None)
        vh, vl = version(st, "regular_high"), version(st, "regular_low")
        t.ok(res == [200] * len(steps) and vh == 3 and vl == 3,
             "%s: A1 starred, unstarred and pinned: regular_high v%s, "
             "regular_low v%s" % (WEB, vh, vl), lambda: (res, st.logs(60)))
        t.ok(snaps(st).get("served") == 0, "%s: no snapshot for patch "
             "uploads" % WEB, repr(snaps(st)))

        # ---- a new device of ours syncs from scratch: snapshots
        a3, ja3 = pair(st, tok, "a3", PA, sinks[2], "s-a3")
        if not t.ok(ja3 and ja3 != ja1, "%s: a new device A3 paired as PA"
                    % WEB, lambda: (ja3, st.logs())):
            return
        t.ok(st.wait(lambda: chat_pinned(st, tok, a3, PB) is True, 30,
                     0.3), "%s: A3's chat list shows PB pinned (from the "
             "regular_low snapshot)" % WEB,
             lambda: (snaps(st), device_log(st, a3)[-6000:]))
        sn = snaps(st)
        t.ok(sn.get("served") == 2 and sn.get("built") == 2,
             "%s: fakewa served A3 a snapshot of regular_high and of "
             "regular_low" % WEB, repr(sn))
        t.ok(sn.get("downloads") == 2, "%s: A3 downloaded both blobs from "
             "the media host" % WEB, repr(sn))
        fl = fakewa_log(st)
        served = lines(fl, ja3, "snapshot v3 served")
        dl = lines(fl, "app state snapshot", "downloaded")
        t.ok(len(served) == 2 and len(dl) == 2, "%s: fakewa's log: both "
             "snapshots at v3 served to A3 and downloaded" % WEB,
             lambda: "\n".join(lines(fl, "snapshot")))
        log3 = device_log(st, a3)
        bad3 = [x for x in lines(log3, "app state") if "MAC" in x or
                "again from scratch" in x or "snapshot" in x]
        t.ok(not bad3, "%s: A3 verified both snapshots (no MAC error, no "
             "refetch, no download error)" % WEB, lambda: "\n".join(bad3))

        # ---- A1's next patch verifies on top of A3's snapshot state
        m3 = send_text(st, tok, b, PA, "after the snapshot")
        ok = st.wait(lambda: starred(st, tok, a3, PB, m3) is False and
                     starred(st, tok, a1, PB, m3) is False, 30, 0.3)
        t.ok(m3 and ok, "%s: B's new message reaches A1 and A3" % WEB,
             lambda: (m3, chat_msgs(st, tok, a3, PB)))
        r = appstate_call(st, tok, a1, "/api/message/%s/star" % m3,
                          {"phone": PB})
        t.ok(r is not None and r.status == 200 and
             version(st, "regular_high") == 4,
             "%s: A1 stars it (regular_high v4)" % WEB, repr(r))
        t.ok(st.wait(lambda: starred(st, tok, a3, PB, m3) is True, 30, 0.3),
             "%s: A3 shows it is_starred (A1's patch verified on the "
             "snapshot's LTHash)" % WEB,
             lambda: (chat_msgs(st, tok, a3, PB), device_log(st, a3)[-6000:]))
        t.ok(snaps(st).get("served") == 2, "%s: A3's incremental sync got "
             "patches, not a snapshot" % WEB, repr(snaps(st)))
        log3 = device_log(st, a3)
        t.ok(not [x for x in lines(log3, "app state") if "MAC" in x],
             "%s: still no MAC error on A3" % WEB,
             lambda: "\n".join(lines(log3, "app state")))
        # A3 patches too: A1 verifies it (A3's state is the real one)
        r = appstate_call(st, tok, a3, "/api/message/%s/unstar" % m3,
                          {"phone": PB})
        t.ok(r is not None and r.status == 200 and
             st.wait(lambda: starred(st, tok, a1, PB, m3) is False, 30, 0.3),
             "%s: A3's own unstar (built on the snapshot state) verifies on "
             "A1" % WEB, lambda: (r, device_log(st, a1)[-4000:]))

        # ---- a corrupted snapshot for another new device
        code, j = fakewa(st, "POST", "/appstate/snapshots",
                         {"corrupt_next": True})
        t.ok(code == 200 and j.get("corrupt_next") is True and
             j.get("enabled") is True, "%s: POST /appstate/snapshots "
             "{corrupt_next} answers the new setting" % WEB, repr(j))
        before = snaps(st)
        a4, ja4 = pair(st, tok, "a4", PA, sinks[3], "s-a4")
        if not t.ok(ja4, "%s: another new device A4 paired as PA" % WEB,
                    lambda: st.logs()):
            return
        t.ok(st.wait(lambda: chat_pinned(st, tok, a4, PB) is True, 40,
                     0.3), "%s: A4 still ends up with PB pinned" % WEB,
             lambda: (snaps(st), device_log(st, a4)[-6000:]))
        log4 = device_log(st, a4)
        mac = [x for x in lines(log4, "app state") if "MAC" in x]
        again = lines(log4, "app state", "fetching it again from scratch")
        t.ok(mac and len(again) == 1, "%s: A4 logged the app state MAC "
             "error and refetched that collection from scratch once" % WEB,
             lambda: "\n".join(lines(log4, "app state")))
        after = snaps(st)
        t.ok(after.get("corrupt_next") is False and
             after.get("served", 0) - before.get("served", 0) == 3 and
             after.get("downloads", 0) - before.get("downloads", 0) == 3,
             "%s: three snapshots for A4 (the corrupted one, its refetch, "
             "the other collection), all downloaded" % WEB,
             lambda: (before, after))
        m4 = send_text(st, tok, b, PA, "for A4")
        ok = st.wait(lambda: starred(st, tok, a4, PB, m4) is False and
                     starred(st, tok, a1, PB, m4) is False, 30, 0.3)
        r = appstate_call(st, tok, a4, "/api/message/%s/star" % m4,
                          {"phone": PB}) if ok else None
        t.ok(r is not None and r.status == 200 and
             st.wait(lambda: starred(st, tok, a1, PB, m4) is True, 30, 0.3),
             "%s: A4 keeps going: its star (on the good snapshot state) "
             "verifies on A1" % WEB,
             lambda: (ok, r, device_log(st, a4)[-4000:]))
        r = api(st, tok, a4, "GET", "/api/app/status")
        t.ok(r.status == 200 and ((r.json or {}).get("results") or {})
             .get("is_logged_in"), "%s: A4 answers and stays logged in" %
             WEB, repr(r))
        logs = st.logs(400)
        t.ok("crashed" not in str(logs), "%s: no waproc crashed" % WEB,
             lambda: logs)
    finally:
        st.stop()


if __name__ == "__main__":
    main()
    t.done()
