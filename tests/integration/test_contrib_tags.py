"""test_contrib_tags.py - the helpers of contrib/ that add sqlcommenter tags, each in a real app
run through slowtap:

- contrib/sqlcommenter_sqlalchemy.py in a Flask + Flask-SQLAlchemy app (PyMySQL: pyformat),
  driven with Flask's test client: a route with a URL parameter (/roster/<int:class_id>, two
  ORM statements per request) and one whose statements hold a '%' literal, with parameters and
  without; slowtap's /api/routes counts each route's requests and statements, `slowtap report
  --group-by controller|framework` reads the endpoints and the ORM from the log, each request
  has its own trace id, and statements outside a request take the tags the app set
  (sqlcommenter_sqlalchemy.tags). Without the '%' escaping the same statement fails in PyMySQL
  (the control: the test would catch a helper that did not escape).
- the same helper on a plain engine with mysqlclient (format paramstyle), with a stand-in for
  OpenTelemetry's API (python3-opentelemetry is not in Debian): the statement carries the
  current span's trace and span ids.
- contrib/sqlcommenter_django.py as the only middleware of a Django app (mysqlclient backend,
  settings in code, in its own process): /api/routes has its URL patterns with their requests,
  the report its view names."""

import contextlib
import importlib
import json
import os
import re
import subprocess
import sys
import time
import types
import unittest
import urllib.request

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "contrib"))

import sqlcommenter_sqlalchemy as sc  # noqa: E402

DB = "contribtags_%d" % os.getpid()
NCLASSES = 4
STUDENTS = [(i, "student%d" % i, i % NCLASSES + 1) for i in range(1, 21)]


def get_json(http_port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (http_port, path), timeout=10) as r:
        return json.loads(r.read().decode())


def report_groups(log_path, attr):
    r = subprocess.run([harness.slowtap_bin(), "report", "--format", "json", "--top", "0",
                        "--group-by", attr, log_path], capture_output=True, text=True,
                       timeout=60)
    if r.returncode != 0:
        raise AssertionError("report failed: %s" % r.stderr)
    return {g["value"]: g["count"] for g in json.loads(r.stdout)}


def make_flask_app(port):
    import flask
    from flask_sqlalchemy import SQLAlchemy
    from sqlalchemy import text

    app = flask.Flask("roster")
    app.config["SQLALCHEMY_DATABASE_URI"] = (
        "mysql+pymysql://app:apppass@127.0.0.1:%d/%s" % (port, DB))
    db = SQLAlchemy(app)

    class Student(db.Model):
        __tablename__ = "students"
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(50))
        class_id = db.Column(db.Integer, db.ForeignKey("classes.id"))

    class Klass(db.Model):
        __tablename__ = "classes"
        id = db.Column(db.Integer, primary_key=True)
        name = db.Column(db.String(50))
        students = db.relationship(Student, lazy="select", order_by=Student.id)

    @app.route("/roster/<int:class_id>")
    def roster(class_id):
        c = db.session.get(Klass, class_id)
        return ",".join(s.name for s in c.students)  # the lazy load: a second statement

    @app.route("/search")
    def search():
        # a '%' literal with a parameter (the case a pasted '%2F' breaks), and one without
        names = db.session.execute(text("SELECT name FROM students WHERE name LIKE "
                                        "'student1%' AND class_id = :cid ORDER BY id"),
                                   {"cid": 2}).scalars().all()
        n = db.session.execute(text("SELECT COUNT(*) FROM classes WHERE name LIKE 'class%'"))
        return "%s;%d" % (",".join(names), n.scalar())

    return app, db, text


class ContribTags(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.srv.sql("CREATE TABLE %s.classes (id INT PRIMARY KEY, name VARCHAR(50))" % DB)
        cls.srv.sql("CREATE TABLE %s.students (id INT PRIMARY KEY, name VARCHAR(50), "
                    "class_id INT, KEY (class_id))" % DB)
        cls.srv.sql("INSERT INTO %s.classes VALUES %s" % (
            DB, ", ".join("(%d, 'class%d')" % (i, i) for i in range(1, NCLASSES + 1))))
        cls.srv.sql("INSERT INTO %s.students VALUES %s" % (
            DB, ", ".join("(%d, '%s', %d)" % s for s in STUDENTS)))

    @classmethod
    def tearDownClass(cls):
        cls.srv.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def start(self):
        self.http_port = harness.free_port()
        px = harness.Slowtap(["--http", "127.0.0.1:%d" % self.http_port])
        px.__enter__()
        self.addCleanup(px.__exit__, None, None, None)
        harness.wait_port(self.http_port, 10, proc=px.proc)
        return px

    def wait_routes(self, want):
        """Statistics merge once a second: polls /api/routes (10 s at most) until each route of
        `want` has its number of requests; returns {route: its row}."""
        deadline = time.monotonic() + 10
        while True:
            by = {r["route"]: r for r in get_json(self.http_port, "/api/routes")}
            if all(r in by and by[r]["requests"] == n for r, n in want.items()) or \
                    time.monotonic() > deadline:
                return by
            time.sleep(0.2)

    def test_flask_sqlalchemy(self):
        px = self.start()
        app, db, text = make_flask_app(px.port)
        with app.app_context():
            sc.install(db.engine)
            self.addCleanup(sc.uninstall, db.engine)
        client = app.test_client()
        for cid in (1, 2, 3):
            r = client.get("/roster/%d" % cid)
            self.assertEqual(r.status_code, 200)
            self.assertEqual(r.get_data(as_text=True),
                             ",".join(n for _, n, c in STUDENTS if c == cid))
        for _ in range(2):
            r = client.get("/search")
            self.assertEqual(r.status_code, 200)
            want = [n for _, n, c in STUDENTS if c == 2 and n.startswith("student1")]
            self.assertEqual(r.get_data(as_text=True), "%s;%d" % (",".join(want), NCLASSES))
        # outside a request: the tags the application set
        with app.app_context(), sc.tags(route="/nightly-export", controller="export"):
            self.assertEqual(db.session.execute(text("SELECT COUNT(*) FROM students")).scalar(),
                             len(STUDENTS))
            db.session.remove()
        with app.app_context():
            db.engine.dispose()  # the units of work end with the connections
        by = self.wait_routes({"/roster/<int:class_id>": 3, "/search": 2})
        ro, se = by.get("/roster/<int:class_id>"), by.get("/search")
        self.assertIsNotNone(ro, by)
        self.assertIsNotNone(se, by)
        self.assertEqual((ro["requests"], ro["count"]), (3, 6))  # a get and a lazy load each
        self.assertEqual((se["requests"], se["count"]), (2, 4))
        self.assertEqual(ro["errors"] + se["errors"], 0)
        self.assertIn("/nightly-export", by)
        self.assertEqual(by["/nightly-export"]["count"], 1)
        self.assertRegex(" ".join(s["fingerprint"] for s in ro["top_shapes"]),
                         r"from students where .*class_id")
        log = px.log_text()
        ctl = report_groups(px.log_path, "controller")
        self.assertEqual((ctl.get("roster"), ctl.get("search"), ctl.get("export")), (6, 4, 1), ctl)
        fw = report_groups(px.log_path, "framework")
        import sqlalchemy
        self.assertGreaterEqual(fw.get("sqlalchemy:%s" % sqlalchemy.__version__, 0), 11, fw)
        # a trace id per request: 5 requests, 5 trace ids among their statements
        traces = set()
        for block in log.split("# Time: ")[1:]:
            m = re.search(r"^# Trace_id: ([0-9a-f]{32})  Span_id: [0-9a-f]{16}$", block, re.M)
            if re.search(r"^# .*Route: /(roster|search)", block, re.M):
                self.assertIsNotNone(m, block)
                traces.add(m.group(1))
        self.assertEqual(len(traces), 5, log)

    def test_unescaped_comment_fails_in_pymysql(self):
        """The control: the same comment pasted without doubling '%' breaks the statement."""
        from sqlalchemy import create_engine, event, text
        px = self.start()
        eng = create_engine("mysql+pymysql://app:apppass@127.0.0.1:%d/%s" % (px.port, DB))

        @event.listens_for(eng, "before_cursor_execute", retval=True)
        def naive(conn, cursor, statement, parameters, context, executemany):
            return statement + " " + sc.comment({"route": "/roster"}), parameters

        with eng.connect() as c, self.assertRaises(Exception) as cm:
            c.execute(text("SELECT name FROM students WHERE class_id = :cid"), {"cid": 1})
        self.assertIn("format", str(cm.exception))
        eng.dispose()

    def test_otel_traceparent_and_mysqlclient(self):
        from sqlalchemy import create_engine, text
        trace_id, span_id = 0x0af7651916cd43dd8448eb211c80319c, 0xb7ad6b7169203331

        class Ctx:
            is_valid = True
            trace_flags = 1

        Ctx.trace_id, Ctx.span_id = trace_id, span_id

        class Span:
            def get_span_context(self):
                return Ctx()

        # a stand-in for opentelemetry-api's trace module (get_current_span), which Debian
        # does not package
        otel = types.ModuleType("opentelemetry")
        otel.trace = types.ModuleType("opentelemetry.trace")
        otel.trace.get_current_span = Span
        saved = {k: sys.modules.get(k) for k in ("opentelemetry", "opentelemetry.trace")}
        sys.modules["opentelemetry"], sys.modules["opentelemetry.trace"] = otel, otel.trace
        try:
            mod = importlib.reload(sc)
        finally:
            for k, v in saved.items():
                if v is None:
                    sys.modules.pop(k, None)
                else:
                    sys.modules[k] = v
        self.addCleanup(importlib.reload, sc)
        px = self.start()
        eng = create_engine("mysql+mysqldb://app:apppass@127.0.0.1:%d/%s" % (px.port, DB))
        mod.install(eng)
        with contextlib.ExitStack() as stack:
            stack.callback(eng.dispose)
            stack.enter_context(mod.tags(route="/worker", controller="job"))
            c = stack.enter_context(eng.connect())
            names = c.execute(text("SELECT name FROM students WHERE name LIKE 'student2%' "
                                   "AND class_id = :cid ORDER BY id"), {"cid": 1}).scalars().all()
        self.assertEqual(names, [n for _, n, cid in STUDENTS
                                 if cid == 1 and n.startswith("student2")])
        deadline = time.monotonic() + 10
        while "LIKE 'student2%'" not in px.log_text() and time.monotonic() < deadline:
            time.sleep(0.05)
        block = [b for b in px.log_text().split("# Time: ") if "LIKE 'student2%'" in b]
        self.assertEqual(len(block), 1, px.log_text())
        self.assertIn("# Trace_id: %032x  Span_id: %016x\n" % (trace_id, span_id), block[0])
        self.assertRegex(block[0], r"(?m)^# Controller: job  Framework: sqlalchemy:\S+  "
                                   r"Route: /worker$")

    def test_django_middleware(self):
        px = self.start()
        r = subprocess.run(["/usr/bin/python3", os.path.join(HERE, "clients", "contrib_django.py"),
                            str(px.port), DB], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        out = json.loads(r.stdout.strip().splitlines()[-1])
        self.assertEqual(out["classes"], [[200, "class1,class2,class3,class4"]] * 2)
        self.assertEqual(out["students"], [[200, ",".join(n for _, n, c in STUDENTS if c == cid)]
                                           for cid in (1, 2, 3)])
        self.assertEqual(out["boom"], 500)
        by = self.wait_routes({"/classes/": 2, "/students/<int:cid>/": 3, "/boom/": 1})
        self.assertEqual(by.get("/classes/", {}).get("requests"), 2, by)
        self.assertEqual(by.get("/students/<int:cid>/", {}).get("requests"), 3, by)
        self.assertEqual(by["/students/<int:cid>/"]["count"], 3)
        self.assertEqual(by.get("/boom/", {}).get("count"), 1, by)
        shapes = {t["fingerprint"]: t["count"] for t in by["/classes/"]["top_shapes"]}
        self.assertEqual(shapes.get("select name from classes where name like ? order by name"),
                         2, shapes)
        # the first request also opened the connection: Django's set-up statements are its
        ctl = report_groups(px.log_path, "controller")
        self.assertEqual((ctl.get("students"), ctl.get("__main__.boom")), (3, 1), ctl)
        self.assertGreaterEqual(ctl.get("classes", 0), 2, ctl)
        import django
        fw = report_groups(px.log_path, "framework")
        self.assertEqual(fw.get("django:%s" % django.get_version()), sum(ctl.values()) -
                         ctl.get(None, 0), fw)


if __name__ == "__main__":
    unittest.main()
