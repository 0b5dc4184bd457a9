"""test_requests.py - one request as a debug toolbar shows it: a seed-style Flask +
Flask-SQLAlchemy app (students, classes and the many-to-many table between them; a /roster
view that lazy-loads each student's classes) tagged by the shipped contrib/sqlcommenter_
sqlalchemy.py, run through slowtap (--requests-keep 2):

- /api/requests lists the /roster request with its 601 statements, and /api/requests/<id> has
  them in the order the app sent them (the students' ids in the lazy loads follow the first
  statement's rows), their times and rows, the N+1 group (600 children after statement 0) with
  the SQLAlchemy fix, and each statement's shape;
- POST /api/explain on a statement of that request runs EXPLAIN on the side connection: the
  shape, which had no plan (--explain-top 0, an indexed lookup), gets one, and the explain
  counter grows; without the X-Requested-With header, or with GET, it is refused;
- only the 2 slowest and 2 latest requests of a route are kept: after more requests, the
  /roster one (the slowest) is still there and an early short one is gone (404);
- the N+1 finding shows its own parent and child statements;
- the dashboard, in headless Chromium at 1280 px (#request=<id>), lists the request's 601
  statement rows with the N+1 group and its fix, EXPLAIN buttons, and nothing runs off the
  page (content checked through the DevTools protocol, not pixels)."""

import json
import os
import re
import sys
import time
import unittest

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "contrib"))

import sqlcommenter_sqlalchemy as sc  # noqa: E402

DB = "requests_%d" % os.getpid()
NSTUDENTS = 700
BIG = 1          # class 1: 600 students
EXPLAIN_ARGS = ["--explain-user", "explain", "--explain-password", "explainpass"]
ROUTE = "/roster/<int:class_id>"


http = harness.http_json


def make_app(port):
    import flask
    from flask_sqlalchemy import SQLAlchemy

    app = flask.Flask("seed")
    app.config["SQLALCHEMY_DATABASE_URI"] = (
        "mysql+pymysql://app:apppass@127.0.0.1:%d/%s" % (port, DB))
    db = SQLAlchemy(app)
    student_classes = db.Table(
        "student_classes",
        db.Column("student_id", db.Integer, db.ForeignKey("students.id"), primary_key=True),
        db.Column("class_id", db.Integer, db.ForeignKey("classes.id"), primary_key=True))

    class Klass(db.Model):
        __tablename__ = "classes"
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(50))

    class Student(db.Model):
        __tablename__ = "students"
        id = db.Column(db.Integer, primary_key=True)
        student_id = db.Column(db.Integer)
        name = db.Column(db.String(50))
        classes = db.relationship(Klass, secondary=student_classes, lazy="select")

    @app.route("/roster/<int:class_id>")
    def roster(class_id):
        students = (Student.query.join(student_classes)
                    .filter(student_classes.c.class_id == class_id)
                    .order_by(Student.id).all())
        # the lazy load: one statement per student
        return "\n".join("%d:%s" % (s.id, ",".join(c.name for c in s.classes))
                         for s in students)

    return app, db


class Requests(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.srv.sql("CREATE TABLE classes (id INT PRIMARY KEY, name VARCHAR(50))", db=DB)
        cls.srv.sql("CREATE TABLE students (id INT PRIMARY KEY, student_id INT, "
                    "name VARCHAR(50))", db=DB)
        cls.srv.sql("CREATE TABLE student_classes (student_id INT, class_id INT, "
                    "PRIMARY KEY (student_id, class_id), KEY (class_id))", db=DB)
        cls.srv.sql("INSERT INTO classes VALUES " +
                    ",".join("(%d, 'class%d')" % (i, i) for i in range(1, 51)), db=DB)
        cls.srv.sql("INSERT INTO students VALUES " +
                    ",".join("(%d, %d, 's%d')" % (i, 100000 + i, i)
                             for i in range(1, NSTUDENTS + 1)), db=DB)
        # class 1: students 1..600; class 2: students 601..603; every student also in class 3
        pairs = [(i, BIG) for i in range(1, 601)] + [(i, 2) for i in range(601, 604)]
        pairs += [(i, 3) for i in range(1, NSTUDENTS + 1)]
        cls.srv.sql("INSERT INTO student_classes VALUES " +
                    ",".join("(%d, %d)" % p for p in pairs), db=DB)

    @classmethod
    def tearDownClass(cls):
        cls.srv.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def wait_requests(self, port, pred, timeout=10):
        """Requests merge once a second: polls /api/requests (bounded) until pred holds."""
        deadline = time.monotonic() + timeout
        while True:
            code, ans = http(port, "/api/requests")
            self.assertEqual(code, 200, ans)
            if pred(ans) or time.monotonic() > deadline:
                return ans
            time.sleep(0.2)

    @staticmethod
    def route_requests(ans, route=ROUTE):
        for r in ans["routes"]:
            if r["route"] == route:
                return r["requests"]
        return []

    def test_roster_request(self):
        hp = harness.free_port()
        px = harness.Slowtap(EXPLAIN_ARGS + ["--http", "127.0.0.1:%d" % hp, "--requests-keep", "2",
                                             "--explain-top", "0", "--explain-interval", "0"],
                             long_query_time="10")
        px.__enter__()
        self.addCleanup(px.__exit__, None, None, None)
        harness.wait_port(hp, 10, proc=px.proc)
        app, db = make_app(px.port)
        with app.app_context():
            sc.install(db.engine)
            self.addCleanup(sc.uninstall, db.engine)
        client = app.test_client()

        # a short request first (class 2: 3 students), then the seed's /roster (600 students)
        r = client.get("/roster/2")
        self.assertEqual(r.status_code, 200)
        r = client.get("/roster/%d" % BIG)
        self.assertEqual(r.status_code, 200)
        lines = r.get_data(as_text=True).split("\n")
        self.assertEqual(len(lines), 600)
        with app.app_context():
            db.engine.dispose()  # (the pool's check-in ROLLBACK already ended each unit)

        ans = self.wait_requests(hp, lambda a: any(q["statement_count"] == 601
                                                   for q in self.route_requests(a)))
        reqs = self.route_requests(ans)
        big = [q for q in reqs if q["statement_count"] == 601]
        self.assertEqual(len(big), 1, ans)
        big = big[0]
        self.assertEqual(big["statements_kept"], 601)
        self.assertEqual(big["statements_cut"], 0)
        self.assertEqual(big["n_plus_one"], 1)
        self.assertEqual(reqs[0]["id"], big["id"], "slowest first: %s" % reqs)
        self.assertTrue(big["slowest"] and big["latest"], big)
        self.assertRegex(big["trace_id"] or "", r"^[0-9a-f]{32}$")  # the helper's traceparent
        small = [q for q in reqs if q["statement_count"] == 4]  # 1 + 3 lazy loads
        self.assertEqual(len(small), 1, reqs)
        self.assertGreater(len(ans["routes"]), 1, ans)  # the connection's own untagged units too
        code, one = http(hp, "/api/requests?limit=1")
        self.assertEqual(code, 200)
        self.assertEqual([r["route"] for r in one["routes"]], [ROUTE])  # the slowest request's
        code, _ = http(hp, "/api/requests?limit=0")
        self.assertEqual(code, 400)

        code, det = http(hp, "/api/requests/%d" % big["id"])
        self.assertEqual(code, 200, det)
        st = det["statements"]
        self.assertEqual(len(st), 601)
        self.assertEqual([s["index"] for s in st], list(range(601)))
        self.assertRegex(st[0]["text"], r"(?s)^SELECT students\.id .*FROM students "
                                        r"INNER JOIN student_classes")
        self.assertEqual(st[0]["rows"], 600)
        # the lazy loads in the order of the first statement's rows: students 1..600
        ids = []
        for s in st[1:]:
            m = re.search(r"WHERE (\d+) = student_classes\.student_id", s["text"])
            self.assertIsNotNone(m, s["text"])
            ids.append(int(m.group(1)))
            self.assertEqual(s["rows"], 2)  # its class and class 3
        self.assertEqual(ids, list(range(1, 601)))
        offs = [s["offset"] for s in st]
        self.assertEqual(offs, sorted(offs))
        self.assertEqual(len({s["digest"] for s in st[1:]}), 1)
        self.assertNotEqual(st[0]["digest"], st[1]["digest"])
        n1 = [g for g in det["groups"] if g["kind"] == "n_plus_one"]
        self.assertEqual(len(n1), 1, det["groups"])
        g = n1[0]
        self.assertEqual((g["parent"], g["child"]), (st[0]["digest"], st[1]["digest"]))
        self.assertEqual((g["parent_index"], g["first_index"], g["count"]), (0, 1, 600))
        self.assertEqual(g["orm"], "sqlalchemy")
        self.assertIn("selectinload", g["fix"])
        self.assertIn("IN (", g["generic_fix"])
        self.assertEqual(set(det["shapes"]), {st[0]["digest"], st[1]["digest"]})
        child = det["shapes"][st[1]["digest"]]
        self.assertTrue(child["name"].startswith("SELECT classes"), child)
        self.assertIsNone(child["plan"], child)  # nothing explained it yet

        # EXPLAIN on demand: refused without the header and with GET; then a plan
        code, ans = http(hp, "/api/explain?request=%d&statement=1" % big["id"], method="POST")
        self.assertEqual(code, 403, ans)
        code, ans = http(hp, "/api/explain?request=%d&statement=1" % big["id"])
        self.assertEqual(code, 405, ans)
        code, ans = http(hp, "/api/explain?request=%d&statement=99999" % big["id"], method="POST",
                         headers={"X-Requested-With": "slowtap"})
        self.assertEqual(code, 404, ans)
        code, ans = http(hp, "/api/explain?request=%d&statement=1" % big["id"], method="POST",
                         headers={"X-Requested-With": "slowtap"})
        self.assertEqual(code, 202, ans)
        self.assertTrue(ans["submitted"])
        self.assertEqual(ans["digest"], st[1]["digest"])
        deadline = time.monotonic() + 15
        d = None
        while time.monotonic() < deadline:
            code, d = http(hp, ans["poll"])
            if code == 200 and d["plan"]:
                break
            time.sleep(0.3)
        self.assertTrue(d and d["plan"], (d, px.stderr()[-2000:]))
        self.assertEqual({row["table"] for row in d["plan"]}, {"student_classes", "classes"},
                         d["plan"])
        code, det2 = http(hp, "/api/requests/%d" % big["id"])
        self.assertTrue(det2["shapes"][st[1]["digest"]]["plan"])  # the request shows it now

        # the finding's own statements
        code, fnd = http(hp, "/api/findings")
        f = [x for x in fnd if x["kind"] == "n_plus_one" and x["child"]["digest"] == st[1]["digest"]]
        self.assertEqual(len(f), 1, fnd)
        self.assertRegex(f[0]["child"]["statement"], r"WHERE \d+ = student_classes\.student_id")
        self.assertIn("INNER JOIN student_classes", f[0]["parent"]["statement"])
        self.assertEqual(f[0]["example_route"], ROUTE)

        # the dashboard at 1280 px, opened on the request
        self.check_dashboard(hp, big["id"])

        # bounded: 2 slowest + 2 latest. Four more short requests, each seen in the list once
        # merged; of the six, the ones neither among the 2 slowest nor the 2 latest are gone
        seen = {q["id"]: q for q in reqs}
        for _ in range(4):
            self.assertEqual(client.get("/roster/2").status_code, 200)
            with app.app_context():
                db.engine.dispose()
            top = max(seen)
            ans = self.wait_requests(hp, lambda a: any(q["id"] > top
                                                       for q in self.route_requests(a)))
            new = [q for q in self.route_requests(ans) if q["id"] > top]
            self.assertEqual(len(new), 1, ans)
            seen[new[0]["id"]] = new[0]
        self.assertEqual(len(seen), 6)
        reqs = self.route_requests(ans)
        kept = [q["id"] for q in reqs]
        # (a request can be in both lists: at most 2 + 2)
        self.assertLessEqual(len(kept), 4, ans)
        self.assertIn(big["id"], kept)
        self.assertEqual(sorted(q["id"] for q in reqs if q["latest"]), sorted(seen)[-2:])
        by_time = sorted(seen.values(), key=lambda q: (-q["duration"], -q["id"]))
        self.assertEqual(sorted(q["id"] for q in reqs if q["slowest"]),
                         sorted(q["id"] for q in by_time[:2]), (by_time, reqs))
        gone = set(seen) - set(kept)
        self.assertTrue(gone)
        for g in gone:
            code, _ = http(hp, "/api/requests/%d" % g)
            self.assertEqual(code, 404)

    def test_idle_request_is_listed(self):
        """An untagged request outside a transaction is listed once the connection has been
        idle for --request-gap, with no later statement to end it; its statements in order."""
        import pymysql
        hp = harness.free_port()
        with harness.Slowtap(["--http", "127.0.0.1:%d" % hp, "--request-gap", "0.2"],
                             long_query_time="10") as px:
            harness.wait_port(hp, 10, proc=px.proc)
            conn = pymysql.connect(host="127.0.0.1", port=px.port, user="app",
                                   password="apppass", database=DB, autocommit=True)
            try:
                with conn.cursor() as c:
                    time.sleep(0.5)  # the connection's own statements end their unit first
                    for sid in (5, 6, 7):
                        c.execute("SELECT name FROM students WHERE id = %d" % sid)
                        c.fetchall()
                    ans = self.wait_requests(hp, lambda a: any(
                        q["statement_count"] == 3 for q in self.route_requests(a, "(no route)")))
                    mine = [q for q in self.route_requests(ans, "(no route)")
                            if q["statement_count"] == 3]
                    self.assertEqual(len(mine), 1, ans)
                    code, det = http(hp, "/api/requests/%d" % mine[0]["id"])
                    self.assertEqual(code, 200)
                    self.assertEqual([s["text"] for s in det["statements"]],
                                     ["SELECT name FROM students WHERE id = %d" % i
                                      for i in (5, 6, 7)])
            finally:
                conn.close()

    def test_redacted(self):
        """With --redact-all a request's statements and an N+1 finding's own statements show
        no literal."""
        import pymysql
        hp = harness.free_port()
        with harness.Slowtap(["--http", "127.0.0.1:%d" % hp, "--redact-all",
                              "--request-gap", "0.2"], long_query_time="10") as px:
            harness.wait_port(hp, 10, proc=px.proc)
            conn = pymysql.connect(host="127.0.0.1", port=px.port, user="app",
                                   password="apppass", database=DB, autocommit=True)
            try:
                with conn.cursor() as c:
                    time.sleep(0.5)
                    c.execute("SELECT id FROM classes WHERE name = 'secretclass'")
                    c.fetchall()
                    for sid in range(1, 7):
                        c.execute("SELECT name FROM students WHERE name = 'secret%d'" % sid)
                        c.fetchall()
                    ans = self.wait_requests(hp, lambda a: any(
                        q["statement_count"] == 7 for q in self.route_requests(a, "(no route)")))
            finally:
                conn.close()
            mine = [q for q in self.route_requests(ans, "(no route)") if q["statement_count"] == 7]
            self.assertEqual(len(mine), 1, ans)
            code, det = http(hp, "/api/requests/%d" % mine[0]["id"])
            self.assertEqual(code, 200)
            texts = [s["text"] for s in det["statements"]]
            self.assertEqual(len(texts), 7)
            self.assertTrue(all(" from " in t.lower() for t in texts), texts)
            self.assertNotIn("secret", json.dumps(det))
            self.assertEqual(det["n_plus_one"], 1, det["groups"])
            code, fnd = http(hp, "/api/findings")
            own = [f for f in fnd if f["kind"] == "n_plus_one" and f["child"]["statement"]]
            self.assertEqual(len(own), 1, fnd)
            self.assertNotIn("secret", json.dumps(fnd))

    def check_dashboard(self, hp, rid):
        import test_dashboard as td
        self.assertIsNotNone(td.chromium(), "chromium is not installed and apt-get failed")
        got = td.evaluate(
            "http://127.0.0.1:%d/#request=%d" % (hp, rid),
            "JSON.stringify({w: document.documentElement.scrollWidth,"
            " stmts: document.querySelectorAll('#request-detail tr.stmt').length,"
            " n1rows: document.querySelectorAll('#request-detail tr.stmt.n1').length,"
            " buttons: document.querySelectorAll('#request-detail button.explain').length,"
            " head: (document.querySelector('#request-detail .rh') || {}).textContent || '',"
            " first: (document.querySelector('#request-detail tr.stmt span.fpt') || {})"
            ".textContent || '',"
            " list: Array.from(document.querySelectorAll('#req-rows tr')).map(function (t) {"
            " return t.textContent; }),"
            " cards: Array.from(document.querySelectorAll('#findings .finding')).map("
            "function (d) { return d.textContent; }),"
            # a click on statement 1 (the lazy load, explained above) opens its shape's plan
            " panel: (function () { var tr = document.querySelectorAll("
            "'#request-detail tr.stmt')[1]; if (!tr) return ''; tr.click();"
            " return tr.nextSibling.hidden ? 'hidden' : tr.nextSibling.textContent; })()"
            "})", settle=5.0)
        got = json.loads(got)
        self.assertLessEqual(got["w"], 1280, got["w"])
        self.assertEqual(got["stmts"], 601, got["head"])
        self.assertEqual(got["buttons"], 601)
        self.assertGreaterEqual(got["n1rows"], 600)
        self.assertIn("601 statements", got["head"])
        self.assertIn("N+1", got["head"])
        self.assertIn("600 ×", got["head"])
        self.assertIn("selectinload", got["head"])
        self.assertTrue(got["first"].startswith("SELECT students.id"), got["first"])
        self.assertTrue(any(ROUTE in t and "601" in t for t in got["list"]), got["list"])
        # the N+1 card: its own child statement and the fix
        card = [c for c in got["cards"] if "N+1" in c]
        self.assertTrue(card, got["cards"])
        self.assertRegex(card[0], r"WHERE \d+ = student_classes\.student_id")
        self.assertIn("selectinload", card[0])
        self.assertIn("plan", got["panel"])
        self.assertIn("student_classes", got["panel"])
        self.assertIn("SELECT classes", got["panel"])  # the shape's name
        # a screenshot for people (not compared): tests/artifacts/dashboard-request.png
        os.makedirs(td.ARTIFACTS, exist_ok=True)
        shot = os.path.join(td.ARTIFACTS, "dashboard-request.png")
        if os.path.exists(shot):
            os.unlink(shot)
        out = td.run_chromium(["--virtual-time-budget=5000", "--screenshot=" + shot,
                               "--window-size=1280,2400",
                               "http://127.0.0.1:%d/#request=%d" % (hp, rid)])
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        self.assertTrue(os.path.getsize(shot) > 10000)


if __name__ == "__main__":
    unittest.main()
