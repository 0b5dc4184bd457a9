"""test_explain_impact.py - plans by impact, not by one statement's time: with only
--explain-user (and its password) and the default --long-query-time 1, a shape of fast full
scans gets its plan (type ALL) and its index advice in /api/digests, from the server's
no-index status flag alone (--explain-top 0) and from the top-by-total-time pass; an indexed
shape gets a plan only from that pass; none of these statements reaches the slow log. With
auto-EXPLAIN off, /api/digests and the dashboard say why a shape has no plan and which option
turns it on."""

import json
import os
import time
import unittest
import urllib.request

import pymysql

import harness

DB = "impact_explain"
EXPLAIN_ARGS = ["--explain-user", "explain", "--explain-password", "explainpass"]
ROWS = 5000
LOOKUPS = 200
SCAN = "SELECT id, name FROM students WHERE student_id = %d"  # student_id has no index
POINT = "SELECT id, name FROM students WHERE id = %d"         # the primary key


def get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.read().decode()


def shapes(port):
    d = json.loads(get(port, "/api/digests?limit=1000"))
    return d["digests"] if isinstance(d, dict) else d


def shape(port, prefix):
    for d in shapes(port):
        if d["fingerprint"].startswith(prefix):
            return d
    return None


SCAN_FP = "select id, name from students where student_id ="
POINT_FP = "select id, name from students where id ="


def run_lookups(port, sql, n):
    conn = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=DB, autocommit=True, connect_timeout=10, read_timeout=30)
    took = []
    try:
        with conn.cursor() as c:
            for i in range(n):
                t = time.monotonic()
                c.execute(sql % (i * 7 % ROWS))
                c.fetchall()
                took.append(time.monotonic() - t)
    finally:
        conn.close()
    return took


def wait_for(port, prefix, pred, timeout):
    """Polls /api/digests (bounded: `timeout` s, 0.3 s apart) until the shape satisfies pred."""
    deadline = time.monotonic() + timeout
    d = None
    while time.monotonic() < deadline:
        d = shape(port, prefix)
        if d is not None and pred(d):
            return d
        time.sleep(0.3)
    return d


def has_plan(d):
    return bool(d.get("plan"))


class ExplainImpact(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        cls.server.fresh_db(DB)
        cls.server.sql("CREATE TABLE students (id INT PRIMARY KEY, student_id INT NOT NULL, "
                       "name VARCHAR(40) NOT NULL)", db=DB)
        values = ",".join("(%d,%d,'s%d')" % (i, i * 7 % ROWS, i) for i in range(ROWS))
        cls.server.sql("INSERT INTO students VALUES " + values, db=DB)
        cls.server.sql("ANALYZE TABLE students", db=DB)

    @classmethod
    def tearDownClass(cls):
        cls.server.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def check_scan_shape(self, d, st):
        self.assertIsNotNone(d, st.stderr()[-2000:])
        self.assertTrue(d["plan"], (d, st.stderr()[-2000:]))
        self.assertEqual([r["type"] for r in d["plan"]], ["ALL"], d["plan"])
        self.assertIn("ALTER TABLE", d["index_advice"] or "", d)
        self.assertIn("ADD INDEX", d["index_advice"], d)
        self.assertIn("student_id", d["index_advice"], d)
        self.assertIsNone(d["no_plan_reason"], d)
        self.assertTrue(d["flags"]["full_scan"], d)

    def check_no_log(self, st, took):
        # every lookup was well under --long-query-time 1: none is in the slow log
        self.assertLess(max(took), 0.5, "a lookup took %.3f s: the test means fast ones"
                        % max(took))
        entries = st.entries(settle=0.5)
        logged = [e for e in entries if "students" in e["statement"]]
        self.assertEqual(logged, [], st.log_text()[-2000:])

    def test_no_index_flag_alone(self):
        """--explain-top 0: the no-index status flag of a new shape brings its plan; an indexed
        shape, fast too, gets none."""
        http = harness.free_port()
        with harness.Slowtap(EXPLAIN_ARGS + ["--http", "127.0.0.1:%d" % http,
                                             "--explain-top", "0",
                                             "--explain-log", "explain.jsonl"],
                             long_query_time="1") as st:
            took = run_lookups(st.port, SCAN, LOOKUPS)
            took += run_lookups(st.port, POINT, LOOKUPS)
            d = wait_for(http, SCAN_FP, has_plan, 20)
            self.check_scan_shape(d, st)
            # the explain log has the plan, taken of the shape's slowest example in its schema
            deadline = time.monotonic() + 10  # flushed at the end of the explain batch
            while True:
                with open(os.path.join(st.tmpdir, "explain.jsonl")) as f:
                    lines = [json.loads(x) for x in f if x.endswith("\n")]
                mine = [x for x in lines if x["digest"] == d["digest"]]
                if mine or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual(len(mine), 1, lines)
            self.assertEqual(mine[0]["source"], "after")
            self.assertEqual(mine[0]["statement"], d["example"])
            self.assertEqual(mine[0]["schema"], DB)
            self.assertEqual(mine[0]["query_time"], d["max"])
            p = wait_for(http, POINT_FP, lambda x: True, 10)
            self.assertIsNotNone(p)
            self.assertFalse(p["flags"]["no_index_used"], p)
            self.assertIsNone(p["plan"], p)  # neither slow, nor flagged, nor a top pass
            self.assertIn("not explained yet", p["no_plan_reason"], p)
            self.check_no_log(st, took)

    def test_top_by_total_time(self):
        """--explain-top-interval 2: the shapes that lead by total time get their plans, the
        indexed one too (no flag, no threshold brings it)."""
        http = harness.free_port()
        with harness.Slowtap(EXPLAIN_ARGS + ["--http", "127.0.0.1:%d" % http,
                                             "--explain-top-interval", "2"],
                             long_query_time="1") as st:
            took = run_lookups(st.port, SCAN, LOOKUPS)
            took += run_lookups(st.port, POINT, LOOKUPS)
            self.check_scan_shape(wait_for(http, SCAN_FP, has_plan, 20), st)
            p = wait_for(http, POINT_FP, has_plan, 20)
            self.assertIsNotNone(p)
            self.assertTrue(p["plan"], (p, st.stderr()[-2000:]))
            self.assertEqual([r["type"] for r in p["plan"]], ["const"], p["plan"])
            self.assertIsNone(p["index_advice"], p)
            self.check_no_log(st, took)

    def test_explain_off_says_why(self):
        """Without --explain-user: the shape's reason names the option; the dashboard shows
        the reason where the plan would be."""
        http = harness.free_port()
        with harness.Slowtap(["--http", "127.0.0.1:%d" % http], long_query_time="1") as st:
            run_lookups(st.port, SCAN, 20)
            d = wait_for(http, SCAN_FP, lambda x: True, 10)
            self.assertIsNotNone(d, st.stderr()[-2000:])
            self.assertIsNone(d["plan"], d)
            self.assertIn("auto-EXPLAIN is off", d["no_plan_reason"], d)
            self.assertIn("--explain-user", d["no_plan_reason"], d)
            self.assertFalse(json.loads(get(http, "/api/summary"))["auto_explain"])
            page = get(http, "/")
            self.assertIn("d.no_plan_reason", page)  # the detail shows it after "no plan"


if __name__ == "__main__":
    unittest.main()
