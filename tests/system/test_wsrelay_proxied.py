#!/usr/bin/env python3
"""test_wsrelay_proxied.py - wsrelay's own test (test_wsrelay.mjs: the npm
`ws` and `socket.io-client` packages, floods, garbage, token expiry) with
every client connection going through each web server's /ws and
/socket.io/ proxying: run.sh starts only the web server
(STACK_PROGRAMS=web) in front of the WSRELAY_PORT that the node test's own
wsrelay binds.  One TAP line per node test per web server.
"""
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import stack  # noqa: E402
from stack import Stack, Tap  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
MJS = os.path.join(HERE, "test_wsrelay.mjs")
t = Tap()


def main():
    if not os.path.exists(MJS):
        t.skip("wsrelay test through the web servers", "no test_wsrelay.mjs")
        return
    if not os.path.isdir(os.path.join(HERE, "node_modules", "ws")):
        t.skip("wsrelay test through the web servers",
               "npm packages not installed (tests/deps.sh)")
        return
    for web in stack.WEB_SERVERS:
        port = stack.free_port()
        st = Stack(web, env={"STACK_PROGRAMS": "web", "WSRELAY_PORT": port})
        try:
            st.start()
        except stack.StackError as e:
            t.ok(False, "%s: web server in front of wsrelay starts" % web,
                 str(e))
            st.cleanup()
            continue
        env = dict(os.environ, WS_BASE="http://127.0.0.1:%d" % st.api_port,
                   WSRELAY_PORT=str(port))
        try:
            p = subprocess.run(["node", "--test", "--test-reporter=tap", MJS],
                               cwd=stack.TOP, env=env,
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=240)
            out = p.stdout.decode("utf-8", "replace")
            rc = p.returncode
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode("utf-8", "replace")
            rc = "timeout"
        finally:
            st.stop()
            st.cleanup()
        n = 0
        for line in out.splitlines():
            m = re.match(r"^(not ok|ok) \d+ - (.*?)(\s+#\s*(SKIP|TODO).*)?$",
                         line)
            if not m:
                continue
            n += 1
            name = "%s: wsrelay via %s: %s" % (web, web, m.group(2))
            if m.group(4):
                t.skip(name, line.split("#", 1)[1].strip())
            else:
                t.ok(m.group(1) == "ok", name,
                     lambda: "\n".join(out.splitlines()[-60:]))
        t.ok(n > 0 and rc == 0, "%s: node test_wsrelay.mjs through %s "
             "completed (rc %s)" % (web, web, rc),
             lambda: "\n".join(out.splitlines()[-60:]))


try:
    main()
except Exception:
    import traceback
    t.ok(False, "wsrelay proxied raised", traceback.format_exc())
sys.exit(t.done())
