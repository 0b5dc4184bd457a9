"""test_demo.py - tests/demo's workload (tests/demo-workload.py, what tests/demo runs after
installing and building) as a newcomer sees it: it exits 0 and shows, in order, the slow log's
entries, the costliest entry with its plan, `slowtap report`, the seed-style app's N+1 on
/roster with its SQLAlchemy fix (from /api/findings), and the dashboard's address with what
to click; and it leaves nothing running (its slowtap and HTTP ports closed). Not in a
terminal, it does not wait for Enter."""

import os
import re
import socket
import subprocess
import unittest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
DEMO = os.path.join(HERE, "..", "demo-workload.py")


def port_open(port):
    with socket.socket() as s:
        s.settimeout(2)
        return s.connect_ex(("127.0.0.1", port)) == 0


class Demo(unittest.TestCase):
    def test_demo_shows_the_n_plus_one_and_the_dashboard(self):
        http = harness.free_port()
        env = dict(os.environ, SLOWTAP_DEMO_HTTP_PORT=str(http))
        env.pop("SLOWTAP_DEMO_WAIT", None)
        r = subprocess.run(["/usr/bin/python3", DEMO, harness.slowtap_bin()],
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=240, env=env)
        out = r.stdout
        self.assertEqual(r.returncode, 0, out[-4000:])
        # the parts, in the order the README describes them
        marks = ["== the slow log: ", "== the costliest statement", "== its plan",
                 "== slowtap report slow.log", "== an N+1 in the seed app's /roster page",
                 "== the dashboard: http://127.0.0.1:%d/" % http, "-- done in "]
        at = [out.find(m) for m in marks]
        self.assertNotIn(-1, at, (list(zip(marks, at)), out[-4000:]))
        self.assertEqual(at, sorted(at), out)
        m = re.search(r"loading the seed app's database \(\d+ students, \d+ classes of (\d+)\)",
                      out)
        self.assertIsNotNone(m, out)
        per_class = int(m.group(1))
        n1 = " ".join(out[at[4]:at[5]].split())  # the wrapped lines as one
        self.assertRegex(n1, r"route /roster/<int:class_id> ")
        # the lazy load of each of the class's students' classes, all in one request
        self.assertRegex(n1, r"child SELECT classes, student_classes WHERE .*: run %d times in one "
                         r"request" % per_class, n1)
        self.assertRegex(n1, r"fix \(sqlalchemy\) .*selectinload", n1)
        dash = out[at[5]:at[6]]
        for what in ("click a row", "SELECT students WHERE student_id = ?", "Routes:",
                     "Findings:"):
            self.assertIn(what, dash)
        # nothing left running: its slowtap (client and HTTP ports) is gone
        m = re.search(r"through 127\.0\.0\.1:(\d+)", out)
        self.assertIsNotNone(m, out)
        self.assertFalse(port_open(int(m.group(1))))
        self.assertFalse(port_open(http))


if __name__ == "__main__":
    unittest.main()
