"""test_windows_state.py - windows, reset, DDL markers and the state file (issue 25, item 3):
statements before and after a reset (POST /api/reset, then SIGUSR1) counted in the 5-minute
window and, since the reset, in window=all; an ALTER TABLE ... ADD INDEX through slowtap listed
by /api/ddl and marked on the series of the shape that reads the table, not on another
table's; POST guarded (405, cross-origin 403); with --state-dir, the figures, markers and
findings survive a restart; a corrupt state file is reported in one line and slowtap starts."""

import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import pymysql

import harness

DB = "st_win"
N_BEFORE = 7
N_AFTER = 3
ROUTED = "SELECT v FROM w WHERE id = 1 /*route='%2Fwin'*/"


def req(url, method="GET", headers=None):
    """(status, body bytes), without raising on 4xx."""
    r = urllib.request.Request(url, method=method, headers=headers or {},
                               data=b"" if method == "POST" else None)
    try:
        with urllib.request.urlopen(r, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def run(port, stmts):
    conn = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=DB, autocommit=True)
    with conn.cursor() as cur:
        for s in stmts:
            cur.execute(s)
            cur.fetchall()
    conn.close()


def scans(n, base=0):
    return ["SELECT id FROM w WHERE v = %d" % (base + i) for i in range(n)]


class WindowsStateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        cls.server.fresh_db(DB)
        cls.server.sql("CREATE TABLE w (id INT PRIMARY KEY, v INT)", db=DB)
        cls.server.sql("CREATE TABLE other (id INT PRIMARY KEY, x INT)", db=DB)
        cls.server.sql("INSERT INTO w SELECT seq, seq FROM seq_1_to_100", db=DB)

    def start(self, extra=()):
        self.http_port = harness.free_port()
        self.base = "http://127.0.0.1:%d" % self.http_port
        px = harness.Slowtap(["--http", "127.0.0.1:%d" % self.http_port] + list(extra),
                             server=self.server, long_query_time="10")
        px.__enter__()
        harness.wait_port(self.http_port, 10, proc=px.proc)
        return px

    def get(self, path):
        st, body = req(self.base + path)
        self.assertEqual(st, 200, body)
        return json.loads(body)

    def shape(self, window, needle="from w where v"):
        hits = [s for s in self.get("/api/digests?limit=1000&window=" + window)
                if needle in s["fingerprint"]]
        return hits[0] if hits else None

    def wait_count(self, window, want, needle="from w where v", timeout=10.0):
        """Polls until the shape's count in `window` is `want` (merges come about once a s)."""
        deadline = time.time() + timeout
        got = None
        while time.time() < deadline:
            got = self.shape(window, needle)
            if (got["count"] if got else 0) == want:
                return got
            time.sleep(0.2)
        self.fail("window %s: count %r, want %d" % (window, got and got["count"], want))

    def test_windows_reset_ddl(self):
        px = self.start()
        try:
            run(px.port, scans(N_BEFORE) + [ROUTED] * 2)
            self.wait_count("all", N_BEFORE)
            self.wait_count("all", 2, "from w where id")
            self.wait_count("5m", N_BEFORE)
            self.assertEqual(self.shape("1h")["count"], N_BEFORE)
            self.assertIsNone(self.get("/api/summary")["reset_at"])
            # bad window, GET on /api/reset, POST elsewhere, cross-origin POST
            self.assertEqual(req(self.base + "/api/digests?window=2d")[0], 400)
            self.assertEqual(req(self.base + "/api/routes?window=x")[0], 400)
            self.assertEqual(req(self.base + "/api/reset")[0], 405)
            self.assertEqual(req(self.base + "/api/digests", "POST")[0], 405)
            st, _ = req(self.base + "/api/reset", "POST",
                        {"Origin": "http://evil.example"})
            self.assertEqual(st, 403)
            self.assertEqual(self.shape("all")["count"], N_BEFORE)  # not reset by those

            st, body = req(self.base + "/api/reset", "POST")
            self.assertEqual(st, 200, body)
            self.assertTrue(json.loads(body)["reset_at"])
            self.assertIsNone(self.shape("all"))  # nothing ran since
            self.assertEqual(self.shape("5m")["count"], N_BEFORE)
            self.assertEqual(self.get("/api/routes?window=all"), [])
            run(px.port, scans(N_AFTER, 50) + [ROUTED])
            got = self.wait_count("all", N_AFTER)
            self.wait_count("all", 1, "from w where id")
            # routes: since the reset, and over 5 minutes
            self.assertEqual([(r["route"], r["count"]) for r in self.get("/api/routes?window=all")],
                             [("/win", 1)])
            self.assertEqual([(r["route"], r["count"]) for r in self.get("/api/routes?window=5m")],
                             [("/win", 3)])
            self.assertEqual(got["window"], "all")
            self.assertEqual(self.shape("5m")["count"], N_BEFORE + N_AFTER)
            self.assertEqual(self.shape("1h")["count"], N_BEFORE + N_AFTER)
            # one shape, its histogram too
            for win, want in (("all", N_AFTER), ("5m", N_BEFORE + N_AFTER)):
                one = self.get("/api/digests/%s?window=%s" % (got["digest"], win))
                self.assertEqual((one["window"], one["count"]), (win, want))
                self.assertEqual(sum(b["count"] for b in one["histogram"]), want)
            self.assertEqual(req(self.base + "/api/digests/%s?window=9h" % got["digest"])[0], 400)
            self.assertIsNotNone(self.get("/api/summary")["reset_at"])

            # SIGUSR1: another reset; the process goes on
            px.proc.send_signal(signal.SIGUSR1)
            self.wait_count("all", 0)
            self.assertIsNone(px.proc.poll())
            self.assertEqual(self.shape("5m")["count"], N_BEFORE + N_AFTER)
            resets = [m for m in self.get("/api/ddl") if m["kind"] == "reset"]
            self.assertEqual(len(resets), 2)

            # DDL through slowtap: a marker on the series of the shape that reads `w`
            run(px.port, ["SELECT x FROM other WHERE id = 1",
                          "ALTER TABLE w ADD INDEX ix_v (v)"])
            run(px.port, scans(2, 80))
            self.wait_count("all", 2)
            ddl = [m for m in self.get("/api/ddl") if m["kind"] != "reset"]
            self.assertEqual(len(ddl), 1, ddl)
            self.assertEqual(ddl[0]["kind"], "alter_table")
            self.assertTrue(ddl[0]["add_index"])
            self.assertEqual(ddl[0]["tables"], ["w"])
            w_digest = self.shape("all")["digest"]
            other = self.wait_count("all", 1, "from other where id")
            marks = self.get("/api/series?digest=" + w_digest)["markers"]
            self.assertEqual([m["kind"] for m in marks], ["reset", "reset", "alter_table"])
            marks = self.get("/api/series?digest=" + other["digest"])["markers"]
            self.assertEqual([m["kind"] for m in marks], ["reset", "reset"])
            self.assertIn("alter_table", [m["kind"] for m in self.get("/api/series")["markers"]])

            # the dashboard (headless Chromium): the marker under the shape's charts, the
            # window selector naming the reset, the reset button
            import test_dashboard
            out = test_dashboard.run_chromium(["--virtual-time-budget=5000", "--dump-dom",
                                               self.base + "/#series=digest:" + w_digest])
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            m = re.search(r'<div id="markers"[^>]*>([^<]*)<', out.stdout)
            self.assertIsNotNone(m, out.stdout[-3000:])
            self.assertIn("ALTER TABLE w (add index)", m.group(1))
            self.assertEqual(m.group(1).count("reset"), 2)
            self.assertRegex(out.stdout, r'<option value="all"[^>]*>since reset ')
            self.assertIn('<button id="reset"', out.stdout)
        finally:
            px.__exit__(None, None, None)

    def wait_finding(self, timeout=10.0):
        deadline = time.time() + timeout
        while time.time() < deadline:
            got = [f for f in self.get("/api/findings") if f["kind"] == "n_plus_one"]
            if got:
                return got[0]
            time.sleep(0.2)
        self.fail("no N+1 finding")

    def test_state_survives_restart(self):
        state = tempfile.mkdtemp(prefix="slowtap-state-")
        self.addCleanup(shutil.rmtree, state, True)
        px = self.start(["--state-dir", state])
        try:
            # an N+1 (a parent, then 8 children, then an idle gap), a route, a DDL
            run(px.port, ["SELECT id FROM w WHERE id < 9"] +
                ["SELECT x FROM other WHERE id = %d" % i for i in range(8)])
            time.sleep(0.3)
            run(px.port, scans(5) + [ROUTED, "CREATE INDEX ix_x ON other (x)"])
            before = self.wait_count("all", 5)
            finding = self.wait_finding()
            self.assertEqual([r["route"] for r in self.get("/api/routes")], ["/win"])
            self.assertEqual(px.stop(), 0)
        finally:
            px.__exit__(None, None, None)
        self.assertTrue(os.path.exists(os.path.join(state, "slowtap.state")))
        self.assertFalse(os.path.exists(os.path.join(state, "slowtap.state.tmp")))

        px = self.start(["--state-dir", state])
        try:
            self.assertIn("restored", px.stderr())
            got = self.shape("all")  # at once: nothing ran since the restart
            self.assertIsNotNone(got)
            self.assertEqual(got["digest"], before["digest"])
            self.assertEqual(got["count"], 5)
            self.assertEqual(got["total"], before["total"])
            self.assertEqual(got["p99"], before["p99"])
            self.assertEqual(self.shape("5m")["count"], 5)
            f = [x for x in self.get("/api/findings") if x["kind"] == "n_plus_one"]
            self.assertEqual(len(f), 1)
            self.assertEqual(f[0]["child"]["digest"], finding["child"]["digest"])
            self.assertEqual(f[0]["occurrences"], finding["occurrences"])
            self.assertEqual([r["route"] for r in self.get("/api/routes")], ["/win"])
            ddl = self.get("/api/ddl")
            self.assertEqual([(m["kind"], m["tables"]) for m in ddl],
                             [("create_index", ["other"])])
            # what runs after the restart adds to what was restored
            run(px.port, scans(2, 90))
            self.wait_count("all", 7)
            self.wait_count("5m", 7)
        finally:
            px.__exit__(None, None, None)

        # a corrupt file: one line, and slowtap starts empty
        with open(os.path.join(state, "slowtap.state"), "w") as f:
            f.write('{"slowtap_state": 1, "shapes": [')
        px = self.start(["--state-dir", state])
        try:
            lines = [l for l in px.stderr().splitlines() if "state" in l]
            self.assertEqual(len(lines), 1, px.stderr())
            self.assertIn("ignored", lines[0])
            self.assertIsNone(self.shape("all"))
            run(px.port, scans(1))
            self.wait_count("all", 1)
        finally:
            px.__exit__(None, None, None)
        # another version: ignored the same way
        with open(os.path.join(state, "slowtap.state"), "w") as f:
            f.write('{"slowtap_state": 999}')
        px = self.start(["--state-dir", state])
        try:
            self.assertIn("not a slowtap state file of version 1", px.stderr())
            self.assertIsNone(self.shape("all"))
        finally:
            px.__exit__(None, None, None)

    def test_state_dir_must_exist(self):
        missing = os.path.join(tempfile.gettempdir(), "slowtap-no-such-dir-%d" % os.getpid())
        p = subprocess.run([harness.slowtap_bin(), "--listen", "127.0.0.1:%d" % harness.free_port(),
                            "--http", "off", "--slow-log", "-", "--state-dir", missing],
                           capture_output=True, text=True, timeout=20)
        self.assertEqual(p.returncode, 2)
        self.assertEqual(p.stderr.strip().splitlines(),
                         ["slowtap: --state-dir %s: No such file or directory" % missing])


if __name__ == "__main__":
    unittest.main()
