"""test_sink_clickhouse.py - the ClickHouse sink (--sink) against Debian's real clickhouse-server
(18.16), started here on loopback with a throwaway config and data folder.

Checks:
- two instances (--instance a / b, --long-query-time 0, JSON logs) ship every entry: the rows
  in ClickHouse equal the two logs' entries one for one (instance, time, thread, digest,
  statement, query_time, rows). Instance a has the seed-style Flask + SQLAlchemy app
  (seed_app.py: /my_class by an unindexed student_id, the lazy-loading /roster) tagged by
  contrib/sqlcommenter_sqlalchemy.py, beside plain clients; instance b a sysbench run;
- `slowtap report clickhouse://...` (fleet report, from the per-minute aggregate) gives per
  shape the count and total equal to the sum of the two instances' /api/digests, and with
  --group-by route per route the count and total of the instances' /api/routes; the app's
  routes have, in ClickHouse and in that report, as many statements as the app ran;
- ClickHouse stopped for ~5 s while a client runs statements, then started again: with the
  default --sink-buffer nothing is lost and nothing is stored twice; with a buffer too small for the outage, the rows in
  ClickHouse plus slowtap_sink_dropped_total equal the log's entries exactly, and the drop is
  said on stderr;
- bad credentials and a missing table (no --sink-create): one stderr line each (not one per
  batch), slowtap_sink_errors_total grows, and statements still flow through the proxy;
- at stop (SIGTERM) the queued rows are sent (--sink-interval longer than the test);
- `slowtap sink-schema clickhouse` runs on the real server as printed, and --sink-ttl-days
  drops a 30-day-old day while today's rows stay.
Skipped (exit 77, with the reason) only when clickhouse-server is not installed or does not
start.
"""

import json
import os
import subprocess
import sys
import threading
import time
import unittest
import urllib.error
import urllib.parse
import urllib.request

import pymysql

import clickhouse_server
import harness
import seed_app

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..",
                                "contrib"))
import sqlcommenter_sqlalchemy  # noqa: E402

CH_SERVER = clickhouse_server.CH_SERVER
SLOWTAP_PASSWORD = clickhouse_server.SLOWTAP_PASSWORD
ClickHouse = clickhouse_server.ClickHouse


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read().decode()


def metric(http_port, name):
    for line in http_get("http://127.0.0.1:%d/metrics" % http_port).splitlines():
        if line.startswith(name + " "):
            return int(float(line.split()[1]))
    return None


def log_entries(px):
    out = []
    for line in px.log_text().splitlines():
        if line.strip():
            out.append(json.loads(line))
    return out


def wait_for(cond, timeout, what):
    """Polls cond() (at most `timeout` seconds, every 0.1 s) until it is true."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = cond()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError("timed out waiting for " + what)


def run_statements(port, n, tag, db="st_sink"):
    conn = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=db, autocommit=True)
    with conn.cursor() as cur:
        for i in range(n):
            k = i % 4
            if k == 0:
                # as an app's sqlcommenter helper tags it (contrib/): the route and controller
                # columns
                cur.execute("SELECT v FROM t WHERE id = %d /* %s */ "
                            "/*controller='roster',route='%%2Froster%%2F%s'*/"
                            % (i % 50 + 1, tag, tag))
            elif k == 1:
                cur.execute("SELECT COUNT(*) FROM t WHERE name = 'n%d'" % i)
            elif k == 2:
                cur.execute("UPDATE t SET v = v + 1 WHERE id = %d" % (i % 50 + 1))
            else:
                try:
                    cur.execute("SELECT * FROM missing_%s" % tag)
                except pymysql.MySQLError:
                    pass
            cur.fetchall()
    conn.close()


SB_DB = "st_sink_sb"
SEED_DB = "st_sink_seed"
SEED_CLASSES, SEED_PER_CLASS = 4, 12


def seed_requests(port):
    """The seed-style app through `port`, tagged by the contrib helper: /my_class lookups (a
    full scan each) and /roster pages (2 + 12 statements each). Returns the app's own count of
    statements per route."""
    app, db = seed_app.make_app(port, SEED_DB)
    with app.app_context():
        sqlcommenter_sqlalchemy.install(db.engine)
        counter = seed_app.RouteCounter(db.engine)
    client = app.test_client()
    for sid in (3, 17, 30, 45):  # each in a class (4 x 12 places for 200 students)
        r = client.get("/my_class/%d" % (seed_app.STUDENT_ID_BASE + sid))
        assert r.status_code == 200 and r.get_data(as_text=True).startswith(
            "student%d: class" % sid), (r.status_code, r.get_data(as_text=True))
    for cid in range(1, SEED_CLASSES + 1):
        r = client.get("/roster/%d" % cid)
        assert r.status_code == 200, r.status_code
        assert len(r.get_data(as_text=True).splitlines()) == SEED_PER_CLASS
    with app.app_context():
        sqlcommenter_sqlalchemy.uninstall(db.engine)
        db.engine.dispose()
    return counter.counts


def sysbench(port, *args):
    """sysbench oltp_read_write (prepared statements) against `port`: the second client of
    the fleet test, as the issue's sysbench run."""
    cmd = ["sysbench", "oltp_read_write", "--mysql-host=127.0.0.1", "--mysql-port=%d" % port,
           "--mysql-user=app", "--mysql-password=apppass", "--mysql-db=" + SB_DB, "--tables=1",
           "--table-size=500", "--db-ps-mode=auto"] + list(args)
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout[-2000:]
    return r.stdout


class Load(threading.Thread):
    """Runs statements through a proxy until stopped (bounded: at most `limit` statements)."""

    def __init__(self, port, limit=100000):
        super().__init__(daemon=True)
        self.port, self.limit = port, limit
        self.stop_ev = threading.Event()
        self.count = 0
        self.error = None

    def run(self):
        try:
            conn = pymysql.connect(host="127.0.0.1", port=self.port, user="app",
                                   password="apppass", database="st_sink", autocommit=True)
            with conn.cursor() as cur:
                while not self.stop_ev.is_set() and self.count < self.limit:
                    cur.execute("SELECT v, name FROM t WHERE id = %d" % (self.count % 50 + 1))
                    cur.fetchall()
                    self.count += 1
                    time.sleep(0.002)
            conn.close()
        except Exception as e:  # reported by the test
            self.error = e


class SinkClickHouseTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.access(CH_SERVER, os.X_OK):
            harness._skip("clickhouse-server is not installed (run tests/deps.sh)")
        cls.ch = ClickHouse()
        if not cls.ch.start():
            harness._skip("clickhouse-server does not start: " + cls.ch.why)
        cls.server = harness.mariadb()
        cls.server.fresh_db("st_sink")
        cls.server.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT, name VARCHAR(20))",
                       db="st_sink")
        cls.server.sql("INSERT INTO t SELECT seq, seq * 2, CONCAT('n', seq) FROM seq_1_to_50",
                       db="st_sink")
        seed_app.create_schema(cls.server, SEED_DB, students=200, classes=SEED_CLASSES,
                               per_class=SEED_PER_CLASS)
        cls.pwfile = os.path.join(cls.ch.dir, "sink-password")
        with open(cls.pwfile, "w") as f:
            f.write(SLOWTAP_PASSWORD + "\n")

    @classmethod
    def tearDownClass(cls):
        cls.ch.destroy()

    def proxy(self, db, instance, extra=(), url=None):
        http = harness.free_port()
        px = harness.Slowtap(["--http", "127.0.0.1:%d" % http, "--log-format", "json",
                              "--sink", url or self.ch.url(db), "--instance", instance,
                              "--sink-password-file", self.pwfile, "--sink-interval", "0.2"]
                             + list(extra), server=self.server, long_query_time="0")
        px.http = http
        return px

    def drained(self, px):
        """True once every logged entry is sent or dropped and nothing waits."""
        n = len(log_entries(px))
        sent = metric(px.http, "slowtap_sink_sent_total")
        dropped = metric(px.http, "slowtap_sink_dropped_total")
        queued = metric(px.http, "slowtap_sink_queued_rows")
        return n > 0 and queued == 0 and sent + dropped == n

    def test_two_instances_rows_and_fleet_report(self):
        db = "fleet"
        with self.proxy(db, "a", ["--sink-create"]) as pa, \
                self.proxy(db, "b", ["--sink-create"]) as pb:
            harness.wait_port(pa.http, 10, proc=pa.proc)
            harness.wait_port(pb.http, 10, proc=pb.proc)
            self.server.sql("DROP DATABASE IF EXISTS %s" % SB_DB)
            self.server.sql("CREATE DATABASE %s" % SB_DB)
            sysbench(self.server.port, "prepare")  # directly: its tables are not the test
            ta = threading.Thread(target=run_statements, args=(pa.port, 120, "a"))
            tb = threading.Thread(target=run_statements, args=(pb.port, 80, "b"))
            ta.start()
            tb.start()
            ta.join(60)
            tb.join(60)
            # the seed-style app through instance a, with the contrib helper's tags
            app_counts = seed_requests(pa.port)
            app_routes = {r: n for r, n in app_counts.items() if r is not None}
            self.assertEqual(sorted(app_routes), ["/my_class/<int:student_id>",
                                                  "/roster/<int:class_id>"])
            self.assertGreaterEqual(app_routes["/roster/<int:class_id>"],
                                    SEED_CLASSES * (2 + SEED_PER_CLASS))
            # a sysbench run through instance b: transactions of prepared statements
            out = sysbench(pb.port, "--time=2", "--threads=2", "run")
            self.assertIn("transactions:", out)
            for px in (pa, pb):
                wait_for(lambda: self.drained(px), 20, "the sink to send the log's entries")
                self.assertEqual(metric(px.http, "slowtap_sink_dropped_total"), 0)
            # one for one: the rows of each instance are its log's entries
            for px, inst in ((pa, "a"), (pb, "b")):
                want = sorted((round(e["ts"], 6), e["thread_id"], e["digest"], e["statement"],
                               round(e["query_time"], 6), round(e["queue_time"], 6),
                               e["rows_sent"], e["rows_examined"], e["error_code"])
                              for e in log_entries(px))
                got = sorted((round(r["ts"], 6), r["thread_id"], r["digest"], r["statement"],
                              round(r["query_time"], 6), round(r["queue_time"], 6),
                              r["rows_sent"], r["rows_examined"], r["error_code"])
                             for r in self.ch.rows(
                                 "SELECT ts, thread_id, digest, statement, query_time, queue_time, "
                                 "rows_sent, rows_examined, error_code FROM %s.statements "
                                 "WHERE instance = '%s'" % (db, inst)))
                self.assertGreaterEqual(len(want), 120 if inst == "a" else 80 + 100)
                self.assertEqual(got, want)
                # the tagged lookups carry their route and controller as columns
                routes = self.ch.rows("SELECT route, controller, count() AS n FROM %s.statements "
                                      "WHERE instance = '%s' AND route != '' GROUP BY route, "
                                      "controller ORDER BY route" % (db, inst))
                want = [("/roster/" + inst, "roster", 30 if inst == "a" else 20)]
                if inst == "a":  # and the app's, with as many statements as the app ran
                    want += [(r, r.split("/")[1], n) for r, n in sorted(app_routes.items())]
                self.assertEqual([(r["route"], r["controller"], int(r["n"])) for r in routes],
                                 sorted(want))

            # the fleet report: per shape, the sum of the two instances' own figures
            def api(px):
                return {d["digest"]: d for d in json.loads(http_get(
                    "http://127.0.0.1:%d/api/digests?limit=1000" % px.http))}

            def merged():
                a, b = api(pa), api(pb)
                na = sum(d["count"] for d in a.values())
                nb = sum(d["count"] for d in b.values())
                return (a, b) if na == len(log_entries(pa)) and nb == len(log_entries(pb)) \
                    else None
            a, b = wait_for(merged, 10, "/api/digests to hold every statement")
            r = subprocess.run([harness.slowtap_bin(), "report", self.ch.url(db), "--since",
                                "1h", "--top", "0", "--format", "json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=30, env=dict(os.environ,
                                                    SLOWTAP_SINK_PASSWORD=SLOWTAP_PASSWORD))
            self.assertEqual(r.returncode, 0, r.stderr)
            report = {s["digest"]: s for s in json.loads(r.stdout)}
            self.assertEqual(set(report), set(a) | set(b))
            for dg, s in report.items():
                want_n = a.get(dg, {}).get("count", 0) + b.get(dg, {}).get("count", 0)
                want_us = sum(round(x.get(dg, {}).get("total", 0) * 1e6) for x in (a, b))
                self.assertEqual(s["count"], want_n, dg)
                self.assertEqual(round(s["total"] * 1e6), want_us, dg)
                self.assertEqual(s["instances"], sorted(i for i, x in (("a", a), ("b", b))
                                                        if dg in x))
            # the table form names both instances for a shape both ran
            r = subprocess.run([harness.slowtap_bin(), "report", "--top", "0",
                                self.ch.url(db, "default")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=30)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("instances: a, b", r.stdout)

            # per route: the fleet report's rows (route, shape) summed per route equal the two
            # instances' /api/routes, and the app's routes hold the statements it ran
            def api_routes(px):
                return {x["route"]: x for x in json.loads(http_get(
                    "http://127.0.0.1:%d/api/routes?limit=1000" % px.http))}
            ra, rb = api_routes(pa), api_routes(pb)
            r = subprocess.run([harness.slowtap_bin(), "report", self.ch.url(db), "--since",
                                "1h", "--top", "0", "--group-by", "route", "--format", "json"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=30, env=dict(os.environ,
                                                    SLOWTAP_SINK_PASSWORD=SLOWTAP_PASSWORD))
            self.assertEqual(r.returncode, 0, r.stderr)
            by_route = {}
            for row in json.loads(r.stdout):
                g = by_route.setdefault(row["route"], [0, 0])
                g[0] += row["count"]
                g[1] += round(row["total"] * 1e6)
            tagged = {k: v for k, v in by_route.items() if k}
            self.assertEqual(set(tagged), set(ra) | set(rb))
            for route, (n, us) in tagged.items():
                self.assertEqual(n, sum(x[route]["count"] for x in (ra, rb) if route in x), route)
                self.assertEqual(us, sum(round(x[route]["total"] * 1e6) for x in (ra, rb)
                                         if route in x), route)
            for route, n in app_routes.items():
                self.assertEqual(tagged.get(route, [0])[0], n, route)
            # all of it: the untagged rows make up the rest of the statements
            self.assertEqual(sum(v[0] for v in by_route.values()),
                             len(log_entries(pa)) + len(log_entries(pb)))

    def test_outage_within_and_over_the_buffer(self):
        db = "outage"
        with self.proxy(db, "big", ["--sink-create"]) as big, \
                self.proxy(db, "small", ["--sink-create", "--sink-buffer", "8192"]) as small:
            for px in (big, small):
                harness.wait_port(px.http, 10, proc=px.proc)
            loads = [Load(big.port), Load(small.port)]
            for ld in loads:
                ld.start()
            wait_for(lambda: all(metric(p.http, "slowtap_sink_sent_total") > 0
                                 for p in (big, small)), 15, "the first rows to arrive")
            self.ch.stop()
            t0 = time.monotonic()
            before = [ld.count for ld in loads]
            time.sleep(5)
            during = [ld.count - b for ld, b in zip(loads, before)]
            self.assertTrue(self.ch.start(), getattr(self.ch, "why", ""))
            outage = time.monotonic() - t0
            time.sleep(1)
            for ld in loads:
                ld.stop_ev.set()
                ld.join(30)
                self.assertIsNone(ld.error)
            # traffic kept flowing while ClickHouse was away
            self.assertTrue(all(d > 0 for d in during), (during, outage))
            for px in (big, small):
                wait_for(lambda: self.drained(px), 30, "the sink to catch up")
            # every row once: a batch whose INSERT got no answer (ClickHouse stopping) is looked
            # up before it is sent again, and is never dropped as the oldest meanwhile
            rows = self.ch.rows("SELECT instance, ts, thread_id, statement FROM %s.statements"
                                % db)
            keys = [(r["instance"], round(r["ts"], 6), r["thread_id"], r["statement"])
                    for r in rows]
            if len(keys) != len(set(keys)):
                seen, dups = set(), []
                for k in keys:
                    if k in seen:
                        dups.append(k)
                    seen.add(k)
                logged = {}
                for inst, px in (("big", big), ("small", small)):
                    for e in log_entries(px):
                        k = (inst, round(e["ts"], 6), e["thread_id"], e["statement"])
                        logged[k] = logged.get(k, 0) + 1
                self.fail("duplicate rows: %r (in the logs: %r)"
                          % (dups[:5], [logged.get(k) for k in dups[:5]]))
            count = {}
            for k in keys:
                count[k[0]] = count.get(k[0], 0) + 1
            # within the buffer: nothing lost
            self.assertEqual(metric(big.http, "slowtap_sink_dropped_total"), 0)
            self.assertEqual(count["big"], len(log_entries(big)))
            self.assertGreater(metric(big.http, "slowtap_sink_errors_total"), 0)
            # over it: exactly the counted number lost
            dropped = metric(small.http, "slowtap_sink_dropped_total")
            self.assertGreater(dropped, 0)
            self.assertEqual(count["small"] + dropped, len(log_entries(small)))
            self.assertIn("dropped", small.stderr())
            self.assertEqual(big.stderr().count("slowtap: sink"), 2, big.stderr())  # away, back
            self.assertIn("recovered", big.stderr())

    def test_schema_printed_and_ttl_days(self):
        # the printed schema is what ClickHouse 18.16 takes, statement by statement
        r = subprocess.run([harness.slowtap_bin(), "sink-schema", "clickhouse", "--database",
                            "ttl"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        stmts = [st.strip() for st in r.stdout.split(";") if st.strip()]
        self.assertEqual(len(stmts), 4)
        for st in stmts:
            self.ch.query(st)
        # a day 30 days old, in the table and (through the view) in the aggregate
        self.ch.query("INSERT INTO ttl.statements (time, instance, digest, query_time) "
                      "VALUES (now() - 30 * 86400, 'old', '0000000000000001', 0.5)")

        def days(table):
            return sorted(r["partition"] for r in self.ch.rows(
                "SELECT DISTINCT partition FROM system.parts WHERE database = 'ttl' AND "
                "table = '%s' AND active" % table))
        self.assertEqual(len(days("statements_1m")), 1)
        with self.proxy("ttl", "t", ["--sink-ttl-days", "7"]) as px:
            harness.wait_port(px.http, 10, proc=px.proc)
            run_statements(px.port, 8, "t")
            wait_for(lambda: self.drained(px), 20, "the sink to send the log's entries")
            wait_for(lambda: len(days("statements")) == 1 and len(days("statements_1m")) == 1
                     and not self.ch.rows("SELECT 1 FROM ttl.statements WHERE instance = "
                                          "'old'"), 20, "the old day to be dropped")
            n = self.ch.rows("SELECT count() AS n FROM ttl.statements")[0]["n"]
            self.assertEqual(n, len(log_entries(px)))  # today's rows stay

    def test_stop_sends_what_is_queued(self):
        # an interval longer than the test: the rows go only at stop (SIGTERM)
        px = self.proxy("atstop", "s", ["--sink-create", "--sink-interval", "3600"])
        with px:
            harness.wait_port(px.http, 10, proc=px.proc)
            run_statements(px.port, 30, "s")
            wait_for(lambda: len(log_entries(px)) >= 30, 10, "the log to hold them")
            self.assertEqual(metric(px.http, "slowtap_sink_sent_total"), 0)
            self.assertEqual(px.stop(), 0)
            n = self.ch.rows("SELECT count() AS n FROM atstop.statements")[0]["n"]
            self.assertEqual(n, len(log_entries(px)))
            self.assertNotIn("not sent at stop", px.stderr())

    def test_errors_are_one_line_and_a_counter(self):
        bad_user = "clickhouse://nobody@127.0.0.1:%d/errs" % self.ch.http
        quick = ["--shutdown-timeout", "1"]
        with self.proxy("errs", "x", quick, url=bad_user) as px_auth, \
                self.proxy("no_such_db", "y", quick) as px_table:
            for px in (px_auth, px_table):
                harness.wait_port(px.http, 10, proc=px.proc)
                run_statements(px.port, 40, "e")
                wait_for(lambda: metric(px.http, "slowtap_sink_errors_total") >= 2, 15,
                         "failed requests to be counted")
                run_statements(px.port, 20, "f")  # statements still flow
                wait_for(lambda: len(log_entries(px)) >= 60, 10, "the log to hold them")
                self.assertEqual(metric(px.http, "slowtap_sink_sent_total"), 0)
            lines = [ln for ln in px_auth.stderr().splitlines() if "slowtap: sink" in ln]
            self.assertEqual(len(lines), 1, lines)
            self.assertRegex(lines[0], "nobody|password|user")
            self.assertNotIn(SLOWTAP_PASSWORD, px_auth.stderr())
            lines = [ln for ln in px_table.stderr().splitlines() if "slowtap: sink" in ln]
            self.assertEqual(len(lines), 1, lines)
            self.assertIn("no_such_db", lines[0])
            # the proxy stops (after --shutdown-timeout) though nothing can be sent, and says
            # what it could not send
            self.assertEqual(px_table.stop(), 0)
            self.assertIn("not sent at stop", px_table.stderr())


if __name__ == "__main__":
    unittest.main(verbosity=2)
