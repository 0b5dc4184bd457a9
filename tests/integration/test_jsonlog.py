"""test_jsonlog.py - the JSON slow log (--log-format json) end to end: one valid JSON object per
line carrying every field proxy/output/slowlog.h lists, with the right values for a plain COM_QUERY, a
failing statement, DML, a server-side prepared statement with parameters (PHP PDO) and an
auto-EXPLAINed statement (plan and flags); `slowtap report` reads the JSON log."""

import datetime
import json
import shutil
import subprocess
import time
import unittest
import urllib.request

import pymysql

import harness

DB = "e2e_jsonlog"
EXPLAIN_ARGS = ["--explain-user", "explain", "--explain-password", "explainpass"]
FIELDS = {"time", "ts", "thread_id", "user", "host", "schema", "command", "statement",
          "truncated", "prepare", "unknown_statement_id", "params", "prepared_statement",
          "query_time", "queue_time", "lock_time", "rows_sent",
          "rows_examined", "rows_affected", "bytes_sent", "error_code", "error", "digest",
          "fingerprint", "no_index_used", "no_good_index_used", "flags", "explain_source",
          "explain_error", "plan"}
PLAN_COLS = ["id", "select_type", "table", "type", "possible_keys", "key", "key_len", "ref",
             "rows", "Extra"]

PHP = r"""
$cfg = json_decode(stream_get_contents(STDIN), true);
$p = new PDO("mysql:host=127.0.0.1;port={$cfg['port']};dbname={$cfg['db']}", "app", "apppass",
             [PDO::ATTR_EMULATE_PREPARES => false, PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$id = $p->query("SELECT CONNECTION_ID()")->fetchColumn();
$s = $p->prepare($cfg['sql']);
foreach ($cfg['params'] as $i => $v) {
    $s->bindValue($i + 1, $v, is_int($v) ? PDO::PARAM_INT : PDO::PARAM_STR);
}
$s->execute();
echo json_encode(['id' => (int)$id, 'rows' => $s->fetchAll(PDO::FETCH_NUM)]);
"""


def connect(port):
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=DB, autocommit=True, connect_timeout=10, read_timeout=30,
                           charset="utf8mb4")


class JsonLogTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        cls.server.fresh_db(DB)
        cls.server.sql("CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(40));"
                       "INSERT INTO people VALUES (1,'ann'),(2,'bob'),(3,'cy'),(4,'dee'),"
                       "(5,'eve'),(6,'fay')", db=DB)

    def php(self, port, sql, params):
        php = shutil.which("php")
        if not php:
            self.skipTest("php-cli is not installed")
        r = subprocess.run([php, "-r", PHP], input=json.dumps(
            {"port": port, "db": DB, "sql": sql, "params": params}), stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        return json.loads(r.stdout)

    def check_common(self, r, thread_id, t0, t1):
        self.assertTrue(FIELDS <= set(r), "missing %s in %s" % (FIELDS - set(r), r))
        self.assertEqual(r["thread_id"], thread_id, r)
        self.assertEqual(r["user"], "app")
        self.assertEqual(r["host"], "127.0.0.1")
        self.assertEqual(r["schema"], DB)
        self.assertIs(r["truncated"], False)
        self.assertEqual(r["lock_time"], 0)
        self.assertIsNone(r["rows_examined"])  # the protocol does not carry it
        self.assertIsInstance(r["query_time"], float)
        self.assertGreater(r["query_time"], 0)
        self.assertIsInstance(r["bytes_sent"], int)
        self.assertGreater(r["bytes_sent"], 0)
        self.assertRegex(r["digest"], r"^[0-9a-f]{16}$")
        self.assertRegex(r["time"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
        when = datetime.datetime.strptime(r["time"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
            tzinfo=datetime.timezone.utc).timestamp()
        self.assertAlmostEqual(when, r["ts"], delta=1e-5)
        self.assertGreaterEqual(r["ts"], t0 - 1)
        self.assertLessEqual(r["ts"], t1 + 1)
        self.assertIsInstance(r["no_index_used"], bool)
        self.assertIsInstance(r["no_good_index_used"], bool)
        if r["plan"] is None:
            self.assertIsNone(r["flags"])
            self.assertIsNone(r["explain_source"])
        else:
            self.assertEqual(set(r["flags"]), {"full_scan", "full_join", "tmp_table", "filesort"})
            self.assertIn(r["explain_source"], ("live", "after", "cached"))
            for row in r["plan"]:
                self.assertEqual(list(row), PLAN_COLS, row)

    def test_not_utf8(self):
        """Bytes that are not UTF-8 (a latin1 client) reach the JSON log, /api/digests and the
        report as \\u00XX (common/jsonw.h): every line parses, nothing is replaced by U+FFFD or
        '?', and no member is lost."""
        http_port = harness.free_port()
        with harness.Slowtap(["--log-format", "json", "--http", "127.0.0.1:%d" % http_port]) as st:
            conn = pymysql.connect(host="127.0.0.1", port=st.port, user="app", password="apppass",
                                   database=DB, autocommit=True, connect_timeout=10,
                                   read_timeout=30, charset="latin1")
            c = conn.cursor()
            q = "SELECT 'caf\u00e9 \u00ff' AS `r\u00e9sum\u00e9`"  # sent as latin1: e9, ff
            c.execute(q)
            self.assertEqual(c.fetchall(), (("caf\u00e9 \u00ff",),))
            conn.close()
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and "caf" not in st.log_text():
                time.sleep(0.2)
            deadline = time.monotonic() + 10
            while True:  # the workers' statistics reach the shared table every so often
                with urllib.request.urlopen("http://127.0.0.1:%d/api/digests" % http_port,
                                            timeout=10) as resp:
                    body = resp.read()
                if b"caf" in body or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual(st.stop(), 0, st.stderr())
            text = st.log_text()
            rep = subprocess.run([harness.slowtap_bin(), "report", "--top", "0", "--format",
                                  "json", st.log_path], stdout=subprocess.PIPE,
                                 stderr=subprocess.PIPE, timeout=60)
        line = [ln for ln in text.split("\n") if "caf" in ln]
        self.assertEqual(len(line), 1, text[-2000:])
        self.assertIn("caf\\u00e9 \\u00ff", line[0])  # the raw bytes of the log line
        r = json.loads(line[0])
        self.assertTrue(FIELDS <= set(r), FIELDS - set(r))
        self.assertEqual(r["statement"], q)  # U+00XX: the bytes read as latin1
        self.assertIn("r\u00e9sum\u00e9", r["fingerprint"])
        shapes = json.loads(body)
        ex = [d for d in shapes if "caf" in (d["example"] or "")]
        self.assertEqual(len(ex), 1, shapes)
        self.assertEqual(ex[0]["example"], q)
        self.assertIn("r\u00e9sum\u00e9", ex[0]["fingerprint"])
        self.assertEqual(rep.returncode, 0, rep.stderr)
        rows = json.loads(rep.stdout)
        self.assertTrue(any("r\u00e9sum\u00e9" in x["fingerprint"] for x in rows), rows)

    def test_json_log(self):
        t0 = time.time()
        with harness.Slowtap(["--log-format", "json"] + EXPLAIN_ARGS) as st:
            conn = connect(st.port)
            c = conn.cursor()
            c.execute("SELECT CONNECTION_ID()")
            tid = c.fetchone()[0]
            q_pk = "SELECT id, name FROM people WHERE id <= 3"
            c.execute(q_pk)
            self.assertEqual(len(c.fetchall()), 3)
            q_scan = "SELECT id FROM people WHERE name = 'bob'"
            c.execute(q_scan)
            self.assertEqual(c.fetchall(), ((2,),))
            q_err = "SELECT * FROM no_such_table"
            with self.assertRaises(pymysql.MySQLError) as cm:
                c.execute(q_err)
            self.assertEqual(cm.exception.args[0], 1146)
            q_dml = "UPDATE people SET name = 'eve2' WHERE id = 5"
            self.assertEqual(c.execute(q_dml), 1)
            q_odd = "SELECT 'h\u00e9llo \"q\" \\\\ tab\t' AS x,\n  2 AS y"
            c.execute(q_odd)
            c.fetchall()
            conn.close()
            tmpl = "SELECT id, name FROM people WHERE id = ? AND name = ?"
            res = self.php(st.port, tmpl, [2, "bob"])
            self.assertEqual(res["rows"], [[2, "bob"]])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and st.log_text().count('"Execute"') < 1:
                time.sleep(0.2)
            self.assertEqual(st.stop(), 0, st.stderr())
            text = st.log_text()
            t1 = time.time()
            rep_json = subprocess.run([harness.slowtap_bin(), "report", "--top", "0", "--format",
                                       "json", st.log_path], stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True, timeout=60)
            rep_table = subprocess.run([harness.slowtap_bin(), "report", "--top", "0",
                                        st.log_path], stdout=subprocess.PIPE,
                                       stderr=subprocess.PIPE, text=True, timeout=60)

        self.assertTrue(text.endswith("\n"), text[-200:])
        recs = []
        for n, line in enumerate(text.split("\n")[:-1]):
            try:
                o = json.loads(line)
            except ValueError as e:
                self.fail("line %d is not JSON (%s): %r" % (n + 1, e, line))
            self.assertIsInstance(o, dict)
            recs.append(o)

        def one(pred, what):
            found = [r for r in recs if pred(r)]
            self.assertEqual(len(found), 1, "%s: %s" % (what, json.dumps(recs, indent=1)[:6000]))
            return found[0]

        # A plain COM_QUERY with a result set, explained (PRIMARY range: no full scan).
        r = one(lambda r: r["statement"] == q_pk, "pk query")
        self.check_common(r, tid, t0, t1)
        self.assertEqual(r["command"], "Query")
        self.assertEqual(r["rows_sent"], 3)
        self.assertEqual(r["rows_affected"], 0)
        self.assertEqual(r["error_code"], 0)
        self.assertIsNone(r["error"])
        self.assertIsNone(r["params"])
        self.assertIsNone(r["prepared_statement"])
        self.assertEqual(r["fingerprint"], "select id, name from people where id <= ?")
        self.assertIsNotNone(r["plan"], r)
        self.assertIsNone(r["explain_error"])
        self.assertEqual(r["plan"][0]["table"], "people")
        self.assertEqual(r["plan"][0]["key"], "PRIMARY")
        self.assertIs(r["flags"]["full_scan"], False)
        self.assertIs(r["no_index_used"], False)

        # An explained full scan: plan type ALL, flags and the server's no-index flag.
        r = one(lambda r: r["statement"] == q_scan, "full scan")
        self.check_common(r, tid, t0, t1)
        self.assertEqual(r["rows_sent"], 1)
        self.assertEqual(r["plan"][0]["type"], "ALL", r)
        self.assertIs(r["flags"]["full_scan"], True)
        self.assertIs(r["flags"]["filesort"], False)
        self.assertIs(r["no_index_used"], True)
        self.assertEqual(r["fingerprint"], "select id from people where name = ?")

        # A failing statement.
        r = one(lambda r: r["statement"] == q_err, "error")
        self.check_common(r, tid, t0, t1)
        self.assertEqual(r["error_code"], 1146)
        self.assertIn("no_such_table", r["error"])
        self.assertIn("doesn't exist", r["error"])
        self.assertEqual(r["rows_sent"], 0)
        self.assertIsNone(r["plan"])

        # DML: rows affected (the explain user may not EXPLAIN an UPDATE: explain_error then).
        r = one(lambda r: r["statement"] == q_dml, "dml")
        self.check_common(r, tid, t0, t1)
        self.assertEqual(r["rows_affected"], 1)
        self.assertEqual(r["rows_sent"], 0)
        self.assertEqual(r["error_code"], 0)
        self.assertTrue(r["plan"] is not None or r["explain_error"], r)

        # Newlines, quotes, backslashes, tabs and non-ASCII survive the JSON encoding exactly.
        r = one(lambda r: r["statement"] == q_odd, "odd characters")
        self.check_common(r, tid, t0, t1)

        # The prepared statement: Execute with its parameters and template.
        r = one(lambda r: r["command"] == "Execute" and r["prepared_statement"] == tmpl,
                "execute")
        self.check_common(r, res["id"], t0, t1)
        self.assertEqual(r["prepared_statement"], tmpl)
        self.assertEqual(r["params"], "2, 'bob'")
        self.assertEqual(r["statement"],
                         "SELECT id, name FROM people WHERE id = 2 AND name = 'bob'")
        self.assertEqual(r["rows_sent"], 1)
        self.assertEqual(r["error_code"], 0)
        self.assertEqual(r["fingerprint"], "select id, name from people where id = ? and name = ?")
        self.assertIsNotNone(r["plan"], r)
        self.assertEqual(r["plan"][0]["type"], "const", r)
        # PDO prepares twice (its SELECT CONNECTION_ID() is a server-side prepare too).
        preps = [r for r in recs if r["command"] == "Prepare"]
        self.assertEqual(len(preps), 2, preps)
        for p in preps:
            self.assertTrue(p["prepare"], p)  # logged with the text it prepared (issue 24)
            self.assertTrue(p["statement"], p)
            self.assertEqual(p["thread_id"], res["id"])
            self.assertEqual(p["rows_sent"], 0)

        # `slowtap report` reads the JSON log: one shape per digest, counted as in the log.
        self.assertEqual(rep_json.returncode, 0, rep_json.stderr)
        self.assertEqual(rep_json.stderr, "")
        rows = json.loads(rep_json.stdout)
        per_digest = {}
        for rec in recs:
            per_digest[rec["digest"]] = per_digest.get(rec["digest"], 0) + 1
        self.assertEqual({x["digest"]: x["count"] for x in rows}, per_digest)
        pk = [x for x in rows if x["fingerprint"] == "select id, name from people where id <= ?"]
        self.assertEqual(len(pk), 1, rows)
        self.assertEqual(pk[0]["rows_sent"], 3)
        scan = [x for x in rows if x["fingerprint"] == "select id from people where name = ?"]
        self.assertEqual(scan[0]["full_scans"], 1)
        self.assertEqual(rep_table.returncode, 0, rep_table.stderr)
        self.assertRegex(rep_table.stdout, r"(?m)^# %d entries," % len(recs))
        # The table shows 8 hex digits of the digest, the count, and the fingerprint's start.
        self.assertRegex(rep_table.stdout, r"(?m)^\s*\d+ %s\s+1\s.*select id from people"
                         % scan[0]["digest"][:8])


if __name__ == "__main__":
    unittest.main()
