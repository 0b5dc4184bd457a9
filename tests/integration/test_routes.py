"""test_routes.py - where in the app (issue 14, items 3 to 5): a Flask + Flask-SQLAlchemy app
modelled on the seed (classes and students, a lazy relationship, a view that lists every class
with its students: the classic N+1) run through slowtap. Without any tags the N+1 finding names
the students-by-class shape as child, the class listing as parent and a count equal to the
number of classes (/api/findings, the `# N_plus_one:` line that pt-query-digest and
mariadb-dumpslow still read, the metric); with a before_cursor_execute listener adding
sqlcommenter comments, /api/routes matches the requests made. A Django app whose middleware
adds sqlcommenter comments through connection.execute_wrapper: its routes appear in
/api/routes, and a prepared statement's route comes from its PREPARE text."""

import json
import os
import re
import subprocess
import time
import unittest
import urllib.parse
import urllib.request
import uuid

import harness

NCLASSES = 6
DB = "routesdb"


def make_flask_app(port, tagged):
    import flask
    from flask_sqlalchemy import SQLAlchemy
    from sqlalchemy import event

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
        # a class object, not a name: each test builds its own app with its own registry
        students = db.relationship(Student, lazy="select", backref="klass")

    @app.route("/roster")
    def roster():
        out = []
        for c in Klass.query.all():
            out.append("%s: %s" % (c.name, ", ".join(s.name for s in c.students)))
        return "\n".join(out)

    @app.route("/classes")
    def classes():
        return ", ".join(c.name for c in Klass.query.order_by(Klass.name).all())

    if tagged:
        # the ten-line sqlcommenter hook a developer adds (the seed has none)
        with app.app_context():
            @event.listens_for(db.engine, "before_cursor_execute", retval=True)
            def sqlcommenter(conn, cursor, statement, parameters, context, executemany):
                if not flask.has_request_context():
                    return statement, parameters
                if "trace" not in flask.g:
                    flask.g.trace = uuid.uuid4().hex
                tags = {"controller": flask.request.endpoint, "framework": "flask:2.2",
                        "route": flask.request.url_rule.rule,
                        "traceparent": "00-%s-%s-01" % (flask.g.trace, uuid.uuid4().hex[:16])}
                c = ",".join("%s='%s'" % (k, urllib.parse.quote(v, safe=""))
                             for k, v in sorted(tags.items()))
                if parameters is not None:  # pyformat: a literal % is written %%
                    c = c.replace("%", "%%")
                return "%s /*%s*/" % (statement, c), parameters
    return app


def get_json(http_port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (http_port, path), timeout=10) as r:
        return json.loads(r.read().decode())


def get_text(http_port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (http_port, path), timeout=10) as r:
        return r.read().decode()


class Routes(unittest.TestCase):
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
            DB, ", ".join("(%d, 'student%d', %d)" % (i, i, i % NCLASSES + 1)
                          for i in range(1, 25))))

    def start(self, extra=()):
        self.http_port = harness.free_port()
        px = harness.Slowtap(["--http", "127.0.0.1:%d" % self.http_port] + list(extra))
        px.__enter__()
        self.addCleanup(px.__exit__, None, None, None)
        harness.wait_port(self.http_port, 10, proc=px.proc)
        return px

    def wait_merged(self, path, pred, timeout=5.0):
        """Statistics merge once a second: polls until pred(json) holds."""
        deadline = time.time() + timeout
        while True:
            j = get_json(self.http_port, path)
            if pred(j) or time.time() > deadline:
                return j
            time.sleep(0.2)

    def test_untagged_n_plus_one(self):
        px = self.start()
        app = make_flask_app(px.port, tagged=False)
        client = app.test_client()
        r = client.get("/roster")
        self.assertEqual(r.status_code, 200)
        self.assertIn("class1: ", r.get_data(as_text=True))
        time.sleep(0.1)  # an idle gap, then a request without an N+1
        self.assertEqual(client.get("/classes").status_code, 200)
        with app.app_context():
            from flask_sqlalchemy import SQLAlchemy  # noqa: F401
            app.extensions["sqlalchemy"].engine.dispose()  # the units end with the session
        f = self.wait_merged("/api/findings",
                             lambda j: any(x["child"]["fingerprint"] for x in j))
        n1 = [x for x in f if x["kind"] == "n_plus_one"]
        self.assertEqual(len(n1), 1, f)
        n1 = n1[0]
        self.assertEqual(n1["count"], NCLASSES)
        self.assertEqual(n1["occurrences"], 1)
        self.assertRegex(n1["child"]["fingerprint"], r"from students where .*class_id")
        self.assertRegex(n1["parent"]["fingerprint"], r"from classes$")
        self.assertIn("students", n1["child"]["example"])
        self.assertIsNone(n1["route"])
        self.assertGreater(n1["total"], 0)
        # no duplicate: every class's students were asked for once
        self.assertEqual([x for x in f if x["kind"] == "duplicate"], [])
        m = get_text(self.http_port, "/metrics")
        self.assertIn('slowtap_findings_total{kind="n_plus_one"} 1\n', m)
        # the last repeated statement's entry carries the run
        log = px.log_text()
        lines = re.findall(r"# N_plus_one: child=([0-9a-f]{16}) count=(\d+) total=([0-9.]+) "
                           r"parent=([0-9a-f]{16})\n", log)
        self.assertEqual([int(c) for _, c, _, _ in lines], list(range(5, NCLASSES + 1)), log)
        self.assertEqual(lines[-1][0], n1["child"]["digest"])
        self.assertEqual(lines[-1][3], n1["parent"]["digest"])
        r = subprocess.run(["pt-query-digest", "--no-version-check", "--limit", "100%",
                            px.log_path], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"FROM students")
        self.assertRegex(r.stdout, r"Count\s+\d+\s+%d" % NCLASSES)
        r = subprocess.run([harness.slowtap_bin(), "report", px.log_path], capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("n_plus_one child=%s count=%d entries=%d parent=%s\n"
                      % (n1["child"]["digest"], NCLASSES, NCLASSES - 4, n1["parent"]["digest"]),
                      r.stdout)
        self.assertRegex(r.stdout, r"  child:  select students\.id .* from students where")
        self.assertRegex(r.stdout, r"  parent: select classes\.id .* from classes\n")
        r = subprocess.run(["mariadb-dumpslow", px.log_path], capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        # it groups entries with and without the line apart; together they are the run
        counts = [int(m.group(1)) for m in re.finditer(r"Count: (\d+) [^\n]*\n(?:  [^\n]*\n)*?"
                                                       r"  FROM students", r.stdout)]
        self.assertEqual(sum(counts), NCLASSES, r.stdout)

    def test_prepared_n_plus_one_json_log(self):
        """Executes of one prepared statement with new parameters after a parent: the JSON log's
        n_plus_one object, from the 5th execute on."""
        import sys
        sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..",
                                        "tools"))
        import mywire
        import stmtwire
        px = self.start(["--log-format", "json"])
        cli = mywire.RawClient(px.port, db=DB)
        cli.login()
        cli.query("SELECT id, name FROM classes")
        sid, _, _ = stmtwire.prepare(cli, "SELECT name FROM students WHERE class_id = ?")
        for i in range(NCLASSES):
            self.assertEqual(stmtwire.execute(cli, sid, [i + 1])[0], "rows")
        for _ in range(2):  # the same parameters again: a duplicate, not a longer run
            self.assertEqual(stmtwire.execute(cli, sid, [NCLASSES])[0], "rows")
        cli.close()
        time.sleep(0.4)
        es = [json.loads(l) for l in px.log_text().splitlines() if l.strip()]
        # the executes (the prepare's entry has the text too, and no N+1 mark)
        prep = [e for e in es if e.get("prepare")]
        self.assertEqual([(e["statement"], e["n_plus_one"]) for e in prep],
                         [("SELECT name FROM students WHERE class_id = ?", None)])
        ex = [e for e in es if "FROM students" in (e.get("statement") or "")
              and not e.get("prepare")]
        self.assertEqual(len(ex), NCLASSES + 2, es)
        marks = [e["n_plus_one"] for e in ex]
        self.assertEqual(marks[:4], [None] * 4)
        self.assertEqual([m["count"] for m in marks[4:NCLASSES]], list(range(5, NCLASSES + 1)))
        self.assertEqual(marks[NCLASSES - 1]["child"], ex[0]["digest"])
        parent = [e for e in es if "FROM classes" in (e.get("statement") or "")][0]
        self.assertEqual(marks[NCLASSES - 1]["parent"], parent["digest"])
        self.assertGreater(marks[NCLASSES - 1]["total"], 0)
        f = self.wait_merged("/api/findings", lambda j: len(j) >= 2)
        kinds = sorted((x["kind"], x["count"]) for x in f)
        self.assertEqual(kinds, [("duplicate", 3), ("n_plus_one", NCLASSES)], f)

    def test_duplicates(self):
        px = self.start()
        import pymysql
        c = pymysql.connect(host="127.0.0.1", port=px.port, user="app", password="apppass",
                            database=DB, autocommit=True)
        cur = c.cursor()
        for _ in range(3):
            cur.execute("SELECT name FROM classes WHERE id = 2")
        c.close()
        f = self.wait_merged("/api/findings",
                             lambda j: len(j) > 0 and j[0]["child"]["example"] is not None)
        d = [x for x in f if x["kind"] == "duplicate"]
        self.assertEqual(len(d), 1, f)
        self.assertEqual(d[0]["count"], 3)
        self.assertIsNone(d[0]["parent"])
        self.assertEqual(d[0]["child"]["example"], "SELECT name FROM classes WHERE id = 2")

    def test_tagged_routes(self):
        px = self.start()
        app = make_flask_app(px.port, tagged=True)
        client = app.test_client()
        for _ in range(3):
            self.assertEqual(client.get("/roster").status_code, 200)
        for _ in range(2):
            self.assertEqual(client.get("/classes").status_code, 200)
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose()
        routes = self.wait_merged(
            "/api/routes",
            lambda j: {r["route"]: r["requests"] for r in j} == {"/roster": 3, "/classes": 2})
        by = {r["route"]: r for r in routes}
        self.assertEqual(set(by), {"/roster", "/classes"}, routes)
        ro, cl = by["/roster"], by["/classes"]
        self.assertEqual(ro["requests"], 3)
        self.assertEqual(ro["count"], 3 * (1 + NCLASSES))
        self.assertAlmostEqual(ro["statements_per_request"], 1 + NCLASSES)
        self.assertEqual(cl["requests"], 2)
        self.assertEqual(cl["count"], 2)
        self.assertEqual(cl["statements_per_request"], 1)
        self.assertEqual(ro["errors"], 0)
        self.assertGreater(ro["total"], 0)
        self.assertGreaterEqual(ro["p99"], ro["p50"])
        self.assertGreater(ro["p50"], 0)
        self.assertEqual(routes[0]["route"], "/roster")  # the costlier first
        top = ro["top_shapes"]
        self.assertEqual(len(top), 2)
        # ranked by time, which a loaded machine can swap: each is found by its shape
        lazy = [t for t in top if re.search(r"from students where", t["fingerprint"])]
        self.assertEqual(len(lazy), 1, top)
        self.assertEqual(lazy[0]["count"], 3 * NCLASSES)
        self.assertEqual([t["count"] for t in top if t is not lazy[0]], [3])
        self.assertGreaterEqual(top[0]["total"], top[1]["total"])
        # the N+1 runs are found per request (trace id) and carry the route
        f = get_json(self.http_port, "/api/findings")
        n1 = [x for x in f if x["kind"] == "n_plus_one"]
        self.assertEqual(len(n1), 1, f)
        self.assertEqual(n1[0]["occurrences"], 3)
        self.assertEqual(n1[0]["count"], NCLASSES)
        self.assertEqual(n1[0]["route"], "/roster")
        m = get_text(self.http_port, "/metrics")
        self.assertIn('slowtap_route_calls_total{route="/roster"} %d\n' % (3 * (1 + NCLASSES)), m)
        self.assertIn('slowtap_route_requests_total{route="/classes"} 2\n', m)
        self.assertNotRegex(m, r"[0-9a-f]{32}")  # never a trace id in a label
        # --metrics-top bounds the route series too
        self.assertEqual(len(re.findall(r"^slowtap_route_calls_total\{", m, re.M)), 2)

    def test_max_routes_and_metrics_top(self):
        px = self.start(["--max-routes", "3", "--metrics-top", "2"])
        import pymysql
        c = pymysql.connect(host="127.0.0.1", port=px.port, user="app", password="apppass",
                            database=DB, autocommit=True)
        cur = c.cursor()
        for i in range(8):
            for _ in range(i + 1):  # route /r7 costs most
                cur.execute("SELECT SLEEP(%f) /*route='%%2Fr%d'*/" % (0.002 * (i + 1), i))
        c.close()
        routes = self.wait_merged("/api/routes", lambda j: len(j) == 3)
        self.assertEqual(len(routes), 3, routes)
        self.assertEqual(routes[0]["route"], "/r7")
        self.assertEqual(routes[0]["count"], 8)
        m = get_text(self.http_port, "/metrics")
        self.assertEqual(len(re.findall(r"^slowtap_route_calls_total\{", m, re.M)), 2, m)
        self.assertRegex(m, r"slowtap_routes_evicted_total [1-9]")

    def test_django_middleware(self):
        px = self.start()
        out = subprocess.run(["/usr/bin/python3", os.path.join(os.path.dirname(
            os.path.abspath(__file__)), "clients", "django_routes.py"), str(px.port), DB],
            capture_output=True, text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        routes = self.wait_merged("/api/routes", lambda j: len(j) >= 3)
        by = {r["route"]: r for r in routes}
        self.assertIn("/dj/classes/", by, routes)
        self.assertIn("/dj/students/<int:cid>/", by, routes)
        self.assertEqual(by["/dj/classes/"]["requests"], 2)
        shapes = {s["fingerprint"]: s["count"] for s in by["/dj/classes/"]["top_shapes"]}
        self.assertEqual(shapes.get("select name from classes order by name"), 2, shapes)
        self.assertEqual(by["/dj/students/<int:cid>/"]["requests"], 3)
        # the prepared statement's executes carry the route of its PREPARE text
        self.assertIn("/dj/prepared", by, routes)
        self.assertEqual(by["/dj/prepared"]["count"], 4)

    def test_dashboard_views(self):
        import test_dashboard
        self.assertIsNotNone(test_dashboard.chromium(), "chromium is missing")
        px = self.start()
        app = make_flask_app(px.port, tagged=True)
        client = app.test_client()
        deadline = time.time() + 4  # traffic over a few 2-second points
        while time.time() < deadline:
            self.assertEqual(client.get("/roster").status_code, 200)
            self.assertEqual(client.get("/classes").status_code, 200)
            time.sleep(0.2)
        with app.app_context():
            app.extensions["sqlalchemy"].engine.dispose()
        s = self.wait_merged("/api/series", lambda j: len(j["points"]) >= 2)
        self.assertGreaterEqual(len(s["points"]), 2, s)
        self.assertTrue(any(p[1] > 0 and p[3] > 0 for p in s["points"]), s)
        r = self.wait_merged("/api/series?route=%2Froster", lambda j: len(j["points"]) >= 2)
        self.assertGreaterEqual(len(r["points"]), 2, r)
        self.assertTrue(any(p[1] > 0 for p in r["points"]), r)
        base = "http://127.0.0.1:%d/" % self.http_port
        with urllib.request.urlopen(base + "dygraph.min.js", timeout=10) as resp:
            self.assertIn(b"Dygraph", resp.read())
        out = test_dashboard.run_chromium(["--virtual-time-budget=5000", "--dump-dom", base])
        self.assertEqual(out.returncode, 0, out.stderr[-2000:])
        dom = out.stdout
        self.assertRegex(dom, r'<tr class="route"><td class="l" title="/roster">'
                         r'<span class="fpt rt">/roster</span></td>')
        self.assertIn("/classes</span></td>", dom)
        self.assertIn("N+1", dom)
        self.assertIn("%d queries of one shape after one parent" % NCLASSES, dom)
        self.assertIsNotNone(re.search(r"<pre>SELECT students\.id [^<]*FROM students", dom))
        self.assertRegex(dom, r'<div id="routes-empty"[^>]*\bhidden\b')
        self.assertRegex(dom, r'<div id="findings-empty"[^>]*\bhidden\b')
        self.assertEqual(len(re.findall(r'<div id="ch-(rate|p99|db)" class="plot"[^>]*>'
                                        r'(?:(?!</div>\s*</div>).)*?<canvas', dom, re.S)), 3, dom)
        self.assertIsNone(re.search(r'class="plot"[^>]*>collecting', dom))
        os.makedirs(test_dashboard.ARTIFACTS, exist_ok=True)
        for name, frag in (("routes", ""), ("routes-series", "#series=route%3A%2Froster")):
            shot = os.path.join(test_dashboard.ARTIFACTS, "dashboard-%s.png" % name)
            if os.path.exists(shot):
                os.unlink(shot)
            out = test_dashboard.run_chromium(["--virtual-time-budget=5000",
                                               "--screenshot=" + shot,
                                               "--window-size=1400,2200", base + frag])
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            self.assertGreater(os.path.getsize(shot), 10000)


if __name__ == "__main__":
    unittest.main()
