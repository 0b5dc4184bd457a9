#!/usr/bin/python3
"""test_http.py - the HTTP endpoint against a real MariaDB: after a known workload through the
proxy, /metrics parses as Prometheus text with the expected counts, /api/digests and
/api/digests/<digest> give the expected shapes, auth files are enforced, and a non-loopback
--http without --http-auth-file is refused at start (exit 2)."""

import base64
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import harness

import pymysql
from prometheus_client.parser import text_string_to_metric_families

FAMILIES = [
    "slowtap_connections_total", "slowtap_connections_active",
    "slowtap_connections_refused_total", "slowtap_backend_errors_total",
    "slowtap_protocol_errors_total", "slowtap_statements_total",
    "slowtap_statement_errors_total", "slowtap_slow_statements_total",
    "slowtap_bytes_received_total", "slowtap_bytes_sent_total",
    "slowtap_log_entries_written_total", "slowtap_log_entries_dropped_total",
    "slowtap_explains_total", "slowtap_digests_evicted_total",
    "slowtap_statement_duration_seconds", "slowtap_digest_calls_total",
    "slowtap_digest_seconds_total", "slowtap_digest_errors_total",
    "slowtap_digest_rows_sent_total", "slowtap_digest_full_scan",
]

N_POINT, N_SCAN, N_ERR = 20, 5, 3


def get(url, headers=None):
    """(status, headers, body bytes) for a GET, without raising on 4xx."""
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def workload(port):
    conn = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database="st_http", autocommit=True)
    with conn.cursor() as cur:
        for i in range(N_POINT):
            cur.execute("SELECT v FROM t WHERE id = %d" % (i + 1))
            cur.fetchall()
        for i in range(N_SCAN):
            cur.execute("SELECT id FROM t WHERE name = 'n%d'" % (i * 7 + 1))
            cur.fetchall()
        for i in range(N_ERR):
            try:
                cur.execute("SELECT * FROM no_such_table_%d WHERE a = %d" % (0, i))
            except pymysql.MySQLError:
                pass
    conn.close()


def find_shape(shapes, needle):
    hits = [s for s in shapes if needle in s["fingerprint"]]
    return hits[0] if len(hits) == 1 else None


class HttpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        cls.server.fresh_db("st_http")
        cls.server.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT, name VARCHAR(20))",
                       db="st_http")
        cls.server.sql("INSERT INTO t SELECT seq, seq * 2, CONCAT('n', seq) "
                       "FROM seq_1_to_200", db="st_http")

    @contextlib.contextmanager
    def start(self, extra=()):
        self.http_port = harness.free_port()
        self.base = "http://127.0.0.1:%d" % self.http_port
        with harness.Slowtap(["--http", "127.0.0.1:%d" % self.http_port] + list(extra),
                             server=self.server, long_query_time="10") as px:
            # the proxy port may accept before the HTTP thread is bound
            harness.wait_port(self.http_port, 10, proc=px.proc)
            yield px

    def wait_shapes(self, want, timeout=10.0, headers=None):
        """Polls /api/digests until the shapes `want` (needle -> count) are all merged."""
        deadline = time.time() + timeout
        shapes = []
        while time.time() < deadline:
            st, _h, body = get(self.base + "/api/digests?limit=1000", headers)
            self.assertEqual(st, 200)
            shapes = json.loads(body)
            found = {n: find_shape(shapes, n) for n in want}
            if all(found[n] and found[n]["count"] >= c for n, c in want.items()):
                return shapes
            time.sleep(0.3)
        self.fail("shapes %r not found in %r" % (want, [(s["fingerprint"], s["count"])
                                                           for s in shapes]))

    def test_metrics_and_api(self):
        with self.start() as px:
            workload(px.port)
            shapes = self.wait_shapes({"where id =": N_POINT, "where name =": N_SCAN,
                                       "no_such_table": N_ERR})

            # --- /api/digests
            st, h, body = get(self.base + "/api/digests?sort=total&limit=1000")
            self.assertEqual(st, 200)
            self.assertTrue(h["Content-Type"].startswith("application/json"))
            self.assertEqual(h["Cache-Control"], "no-store")
            shapes = json.loads(body)
            self.assertIsInstance(shapes, list)
            point = find_shape(shapes, "where id =")
            scan = find_shape(shapes, "where name =")
            err = find_shape(shapes, "no_such_table")
            self.assertEqual(point["count"], N_POINT)
            self.assertEqual(point["rows"], N_POINT)
            self.assertEqual(point["errors"], 0)
            self.assertEqual(scan["count"], N_SCAN)
            self.assertEqual(scan["rows"], N_SCAN)
            self.assertEqual(err["count"], N_ERR)
            self.assertEqual(err["errors"], N_ERR)
            self.assertTrue(scan["flags"]["full_scan"], scan)
            self.assertFalse(point["flags"]["full_scan"], point)
            for s in (point, scan, err):
                self.assertRegex(s["digest"], r"^[0-9a-f]{16}$")
                self.assertLessEqual(s["min"], s["p50"])
                self.assertLessEqual(s["p50"], s["p95"])
                self.assertLessEqual(s["p95"], s["p99"])
                self.assertLessEqual(s["p99"], s["max"])
                self.assertGreater(s["total"], 0)
                self.assertLess(s["max"], 5.0)
                self.assertAlmostEqual(s["avg"], s["total"] / s["count"], places=5)
                self.assertRegex(s["first_seen"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
                self.assertLessEqual(s["first_seen"], s["last_seen"])
                self.assertIn("plan", s)
            totals = [s["total"] for s in shapes]
            self.assertEqual(totals, sorted(totals, reverse=True))
            st, _h, body = get(self.base + "/api/digests?sort=count&limit=1")
            self.assertEqual(len(json.loads(body)), 1)
            self.assertEqual(get(self.base + "/api/digests?sort=bogus")[0], 400)

            # --- /api/digests/<digest>
            st, _h, body = get(self.base + "/api/digests/" + point["digest"])
            self.assertEqual(st, 200)
            one = json.loads(body)
            self.assertEqual(one["count"], N_POINT)
            self.assertEqual(sum(b["count"] for b in one["histogram"]), N_POINT)
            for b in one["histogram"]:
                self.assertLessEqual(b["lo_us"], b["hi_us"])
            st, h, body = get(self.base + "/api/digests/0123456789abcdef")
            self.assertEqual(st, 404)
            self.assertTrue(h["Content-Type"].startswith("application/json"))
            self.assertIn("error", json.loads(body))

            # --- /metrics
            st, h, body = get(self.base + "/metrics")
            self.assertEqual(st, 200)
            self.assertTrue(h["Content-Type"].startswith("text/plain; version=0.0.4"))
            self.assertEqual(h["Cache-Control"], "no-store")
            text = body.decode()
            for fam in FAMILIES:
                self.assertIn("# HELP %s " % fam, text)
                self.assertIn("# TYPE %s " % fam, text)
            samples = {}
            for fam in text_string_to_metric_families(text):
                for s in fam.samples:
                    samples.setdefault(s.name, []).append((s.labels, s.value))

            def one_value(name):
                self.assertIn(name, samples)
                return samples[name][0][1]

            stmts = one_value("slowtap_statements_total")
            self.assertGreaterEqual(stmts, N_POINT + N_SCAN + N_ERR)
            self.assertGreaterEqual(one_value("slowtap_statement_errors_total"), N_ERR)
            self.assertGreaterEqual(one_value("slowtap_connections_total"), 1)
            self.assertGreater(one_value("slowtap_bytes_received_total"), 0)
            self.assertGreater(one_value("slowtap_bytes_sent_total"), 0)
            self.assertEqual(one_value("slowtap_slow_statements_total"), 0)
            buckets = samples["slowtap_statement_duration_seconds_bucket"]
            values = [v for _l, v in buckets]
            self.assertEqual(values, sorted(values))
            self.assertEqual(buckets[-1][0]["le"], "+Inf")
            count = one_value("slowtap_statement_duration_seconds_count")
            self.assertEqual(buckets[-1][1], count)
            self.assertEqual(count, stmts)
            self.assertGreater(one_value("slowtap_statement_duration_seconds_sum"), 0)
            self.assertEqual({l["log"] for l, _v in samples["slowtap_log_entries_dropped_total"]},
                             {"slow", "explain"})
            self.assertEqual({l["result"] for l, _v in samples["slowtap_explains_total"]},
                             {"run", "failed", "dropped", "cached", "live", "rate_limited"})

            def by_digest(name, digest):
                for labels, v in samples.get(name, []):
                    if labels.get("digest") == digest:
                        self.assertLessEqual(len(labels["fingerprint"]), 100)
                        return v
                self.fail("%s{digest=%s} missing" % (name, digest))

            self.assertEqual(by_digest("slowtap_digest_calls_total", point["digest"]), N_POINT)
            self.assertEqual(by_digest("slowtap_digest_rows_sent_total", point["digest"]),
                             N_POINT)
            self.assertEqual(by_digest("slowtap_digest_errors_total", err["digest"]), N_ERR)
            self.assertEqual(by_digest("slowtap_digest_full_scan", scan["digest"]), 1)
            self.assertEqual(by_digest("slowtap_digest_full_scan", point["digest"]), 0)
            self.assertAlmostEqual(by_digest("slowtap_digest_seconds_total", point["digest"]),
                                   point["total"], places=5)

            # --- the dashboard
            st, h, body = get(self.base + "/")
            self.assertEqual(st, 200)
            self.assertTrue(h["Content-Type"].startswith("text/html"))
            self.assertIn(b"/api/digests", body)
            self.assertEqual(get(self.base + "/nope")[0], 404)

    def test_metrics_top(self):
        with self.start(["--metrics-top", "1"]) as px:
            workload(px.port)
            self.wait_shapes({"where id =": N_POINT})
            text = get(self.base + "/metrics")[2].decode()
            calls = [l for l in text.splitlines() if l.startswith("slowtap_digest_calls_total{")]
            self.assertEqual(len(calls), 1, calls)

    def test_auth_token(self):
        path = os.path.join(tempfile.mkdtemp(prefix="slowtap-auth-"), "token")
        with open(path, "w") as f:
            f.write("t0ken-xyz\n")
        with self.start(["--http-auth-file", path]):
            for ep in ("/metrics", "/api/digests", "/"):
                st, h, _b = get(self.base + ep)
                self.assertEqual(st, 401, ep)
                # Basic first (a browser's login: the token as the password), then Bearer
                self.assertIn("Bearer", " ".join(h.get_all("WWW-Authenticate")))
                self.assertEqual(get(self.base + ep, {"Authorization": "Bearer wrong"})[0], 401)
                self.assertEqual(get(self.base + ep, {"Authorization": "Bearer t0ken-xyz"})[0],
                                 200, ep)

    def test_auth_basic(self):
        path = os.path.join(tempfile.mkdtemp(prefix="slowtap-auth-"), "userpass")
        with open(path, "w") as f:
            f.write("admin:s3cret\n")
        good = "Basic " + base64.b64encode(b"admin:s3cret").decode()
        bad = "Basic " + base64.b64encode(b"admin:nope").decode()
        with self.start(["--http-auth-file", path]):
            st, h, _b = get(self.base + "/metrics")
            self.assertEqual(st, 401)
            self.assertIn("Basic", h["WWW-Authenticate"])
            self.assertEqual(get(self.base + "/metrics", {"Authorization": bad})[0], 401)
            self.assertEqual(get(self.base + "/metrics", {"Authorization": good})[0], 200)

    def test_non_loopback_needs_auth(self):
        port = harness.free_port()
        tmp = tempfile.mkdtemp(prefix="slowtap-http-")
        cmd = [harness.slowtap_bin(), "--listen", "127.0.0.1:%d" % harness.free_port(),
               "--backend", "127.0.0.1:%d" % self.server.port,
               "--slow-log", os.path.join(tmp, "slow.log"), "--http", "0.0.0.0:%d" % port]
        p = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=20)
        self.assertEqual(p.returncode, 2, p.stderr)
        self.assertIn("http-auth-file", p.stderr)


if __name__ == "__main__":
    unittest.main()
