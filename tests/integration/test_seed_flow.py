"""test_seed_flow.py - the seed-style app (seed_app.py: 10,000 students, 50 classes of 600, a
students lookup by the unindexed student_id, a lazy-loading /roster) through slowtap started
with nothing but what a newcomer passes (--explain-user and its password; here also --http on a
free port and --state-dir, which the service sets), tagged by contrib's SQLAlchemy helper; the
flow a developer follows, end to end:

- the students scan shows its plan (type ALL) and an ADD INDEX advice on the shape, with no
  threshold lowered (each scan takes a few milliseconds, far under --long-query-time 1);
- /roster shows as an N+1 with its route, count and SQLAlchemy's fix, and the /roster request
  is listed with every statement the app ran for it, in order;
- the advice, applied through slowtap, removes the scan: the DDL marker lands on the shape's
  series, the EXPLAIN button (POST /api/explain) shows the new plan (ref on the new index), and
  the 5-minute window counts the lookups before and after;
- after a restart with the same --state-dir the shape's figures, the finding and the marker
  are back.
Each check polls with a bound (slowtap merges statistics and requests once a second)."""
# slowtap-test: serial

import json
import os
import shutil
import sys
import tempfile
import time
import unittest
import urllib.request

import pymysql

import harness
import seed_app

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "contrib"))
import sqlcommenter_sqlalchemy as sc  # noqa: E402

DB = "seed_flow"
EXPLAIN_ARGS = ["--explain-user", "explain", "--explain-password", "explainpass"]
LOOKUP_FP = "select students."  # SQLAlchemy's column list: select students.id, ...
ROSTER = "/roster/<int:class_id>"
MY_CLASS = "/my_class/<int:student_id>"


http = harness.http_json


def digests(port, window="all"):
    code, d = http(port, "/api/digests?limit=1000&window=" + window)
    assert code == 200, d
    return d["digests"] if isinstance(d, dict) else d


def lookup_shape(port, window="all"):
    """The students lookup by student_id (its fingerprint names the column in its WHERE)."""
    for d in digests(port, window):
        fp = d["fingerprint"]
        if fp.startswith(LOOKUP_FP) and "where students.student_id =" in fp:
            return d
    return None


def poll(what, fn, timeout):
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if got:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("%s: not within %d s" % (what, timeout))
        time.sleep(0.3)


class SeedFlow(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        seed_app.create_schema(cls.server, DB)  # 10,000 students, 50 classes of 600

    @classmethod
    def tearDownClass(cls):
        cls.server.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def start(self, hp, state):
        px = harness.Slowtap(EXPLAIN_ARGS + ["--http", "127.0.0.1:%d" % hp, "--state-dir", state],
                             long_query_time="1")  # slowtap's default
        px.__enter__()
        harness.wait_port(hp, 10, proc=px.proc)
        return px

    def lookups(self, client, n, first=1):
        for i in range(first, first + n):
            r = client.get("/my_class/%d" % (seed_app.STUDENT_ID_BASE + i * 37))
            self.assertEqual(r.status_code, 200, r.get_data(as_text=True))

    def test_flow(self):
        hp = harness.free_port()
        state = tempfile.mkdtemp(prefix="slowtap-seed-state-")
        self.addCleanup(shutil.rmtree, state, True)
        px = self.start(hp, state)
        try:
            app, db = seed_app.make_app(px.port, DB)
            with app.app_context():
                sc.install(db.engine)
                counter = seed_app.RouteCounter(db.engine)
            client = app.test_client()
            self.lookups(client, 20)
            r = client.get("/roster/1")
            self.assertEqual(r.status_code, 200)
            self.assertEqual(len(r.get_data(as_text=True).split("\n")), 600)
            roster_statements = counter.counts[ROSTER]
            self.assertGreaterEqual(roster_statements, 602)  # the class, its students, 600

            # The scan's plan and advice on the shape, from the server's no-index flag alone;
            # nothing in the slow log (every statement far under a second).
            d = poll("the lookup's plan", lambda: (lambda s: s if s and s.get("plan") else None)(
                lookup_shape(hp)), 60)
            self.assertEqual([p["type"] for p in d["plan"]], ["ALL"], d)
            advice = d["index_advice"] or ""
            self.assertIn("ADD INDEX", advice, d)
            self.assertIn("student_id", advice, d)
            self.assertTrue(d["flags"]["full_scan"], d)
            self.assertEqual(d["count"], 20)
            self.assertEqual([e for e in px.entries(settle=0.3) if "students" in e["statement"]],
                             [])

            # The N+1 with its route, its count and SQLAlchemy's fix.
            def n_plus_one():
                code, fs = http(hp, "/api/findings")
                return [f for f in fs if f["kind"] == "n_plus_one"
                        and f.get("route") == ROSTER] if code == 200 else None
            f = poll("the /roster N+1", n_plus_one, 20)[0]
            self.assertGreaterEqual(f["occurrences"], 1, f)
            self.assertIn("selectinload", json.dumps(f), f)

            # The /roster request, every statement in order.
            def roster_request():
                code, ans = http(hp, "/api/requests?route=" + urllib.request.quote(ROSTER))
                if code != 200:
                    return None
                return [q for r in ans["routes"] if r["route"] == ROSTER for q in r["requests"]
                        if q["statement_count"] == roster_statements]
            q = poll("the /roster request", roster_request, 20)[0]
            code, det = http(hp, "/api/requests/%d" % q["id"])
            self.assertEqual(code, 200, det)
            self.assertEqual(len(det["statements"]), roster_statements)
            texts = [s.get("text") or s.get("statement") or "" for s in det["statements"]]
            self.assertIn("classes", texts[0])
            self.assertTrue(all("student_classes" in t for t in texts[2:]), texts[2:4])

            # The advice, applied through slowtap: the scan goes; a marker on the series.
            conn = pymysql.connect(host="127.0.0.1", port=px.port, user="app",
                                   password="apppass", database=DB, autocommit=True)
            try:
                with conn.cursor() as c:
                    c.execute(advice.rstrip().rstrip(";"))
            finally:
                conn.close()
            self.lookups(client, 20, first=100)
            code, ser = http(hp, "/api/series?digest=" + d["digest"])
            self.assertEqual(code, 200, ser)
            marks = [m for m in ser["markers"] if m.get("add_index")]
            self.assertEqual(len(marks), 1, ser["markers"])
            self.assertEqual([t.split(".")[-1] for t in marks[0]["tables"]], ["students"], marks)
            # the EXPLAIN button: the new plan on the shape
            code, ans = http(hp, "/api/explain?digest=" + d["digest"], method="POST",
                             headers={"X-Requested-With": "slowtap"})
            self.assertIn(code, (200, 202), ans)
            after = poll("the new plan", lambda: (lambda s: s if s and s.get("plan") and [
                p["type"] for p in s["plan"]] != ["ALL"] else None)(lookup_shape(hp)), 20)
            self.assertEqual([p["type"] for p in after["plan"]], ["ref"], after)
            self.assertFalse(after.get("index_advice"), after)
            five = poll("40 lookups in the 5-minute window", lambda: (
                lambda s: s if s and s["count"] == 40 else None)(lookup_shape(hp, "5m")), 10)
            self.assertEqual(five["count"], 40)
            # the shape's series (a point every 2 s) has points before the stop
            points = poll("the shape's series", lambda: http(
                hp, "/api/series?digest=" + d["digest"])[1]["points"], 10)
            with app.app_context():
                db.engine.dispose()
            self.assertEqual(px.stop(), 0, px.stderr())
        finally:
            px.__exit__(None, None, None)

        # Restarted with the same state: the figures, the finding and the marker are back.
        px = self.start(hp, state)
        try:
            poll("the state's 'restored' line", lambda: "restored" in px.stderr(), 10)
            got = lookup_shape(hp)
            self.assertIsNotNone(got)
            self.assertEqual(got["count"], 40)
            code, fs = http(hp, "/api/findings")
            self.assertTrue([x for x in fs if x["kind"] == "n_plus_one"
                             and x.get("route") == ROSTER], fs)
            code, ser = http(hp, "/api/series?digest=" + got["digest"])
            self.assertEqual(len([m for m in ser["markers"] if m.get("add_index")]), 1, ser)
            self.assertGreaterEqual(len(ser["points"]), len(points),
                                    "the shape's series did not survive the restart")
        finally:
            px.__exit__(None, None, None)


if __name__ == "__main__":
    unittest.main()
