"""test_index_advice.py - index advice for flagged scans against a real MariaDB: a school schema
(students, classes, enrollments) and a shop (customers, orders) with thousands of rows, 29
statements through slowtap with auto-EXPLAIN. Every `ALTER TABLE ... ADD INDEX` advice is applied
to the test database, EXPLAIN is run again and the advised tables must no longer be read with
type ALL, with a row estimate at least ten times smaller; then the index is dropped. Every
`none (...)` advice must give the expected reason, and where it names a column, an index on
that column is shown not to help. Tiny tables get no advice. The JSON log and /api/digests
carry the advice; pt-query-digest and mariadb-dumpslow still read the log."""

import json
import os
import re
import shutil
import subprocess
import time
import unittest
import urllib.request

import pymysql

import harness

DB = "perf_advice"
USER, PASSWORD = "advice_explain", "adviceexplainpass"
# --explain-rate 0: every statement of a case is explained at once (the rate has its own test)
EXPLAIN_ARGS = ["--explain-user", USER, "--explain-password", PASSWORD, "--explain-rate", "0"]

SCHEMA = """
CREATE TABLE students (id INT PRIMARY KEY, student_id INT NOT NULL, name VARCHAR(60),
  email VARCHAR(100), year INT, code VARCHAR(20), born DATE, KEY ix_code (code))
  DEFAULT CHARSET utf8mb4;
CREATE TABLE classes (id INT PRIMARY KEY, code VARCHAR(20), title VARCHAR(60),
  teacher VARCHAR(60)) DEFAULT CHARSET utf8mb4;
CREATE TABLE enrollments (id INT PRIMARY KEY, student_id INT NOT NULL, class_id INT NOT NULL,
  grade INT, enrolled_at DATETIME) DEFAULT CHARSET utf8mb4;
CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(100), country CHAR(2),
  name VARCHAR(60), created_at DATETIME) DEFAULT CHARSET utf8mb4;
CREATE TABLE orders (id INT PRIMARY KEY, customer_id INT NOT NULL, status VARCHAR(16),
  total DECIMAL(10,2), created_at DATETIME,
  ref_code VARCHAR(20) CHARACTER SET latin1 COLLATE latin1_swedish_ci) DEFAULT CHARSET utf8mb4;
CREATE TABLE tiny (id INT PRIMARY KEY, v INT);
INSERT INTO students SELECT seq, 5000 - seq, CONCAT('Student', seq),
  CONCAT('student', seq, '@school.example'), seq % 4 + 1, CONCAT('C', seq),
  '2000-01-01' + INTERVAL seq DAY FROM seq_1_to_4000;
INSERT INTO classes SELECT seq, CONCAT('M', seq), CONCAT('Class ', seq), CONCAT('T', seq % 50)
  FROM seq_1_to_2000;
INSERT INTO enrollments SELECT seq, seq % 4000 + 1, seq % 2000 + 1, seq % 5 + 1,
  '2020-01-01' + INTERVAL (seq % 1500) DAY FROM seq_1_to_8000;
INSERT INTO customers SELECT seq, CONCAT('cust', seq, '@shop.example'),
  ELT(seq % 4 + 1, 'FR', 'DE', 'IT', 'ES'), CONCAT('Name', seq),
  '2022-01-01' + INTERVAL (seq % 700) DAY FROM seq_1_to_3000;
INSERT INTO orders SELECT seq, seq % 3000 + 1,
  CASE WHEN seq % 100 = 0 THEN 'new' WHEN seq % 100 = 1 THEN 'paid' ELSE 'done' END,
  seq % 1000, '2021-01-01' + INTERVAL (seq * 7) MINUTE, CONCAT('R-', seq)
  FROM seq_1_to_20000;
INSERT INTO tiny SELECT seq, seq FROM seq_1_to_5;
ANALYZE TABLE students, classes, enrollments, customers, orders, tiny;
"""

# (statement, expected): expected is "index" (one or more ALTERs that must remove the scan),
# ("none", reason substring, column an index on which must not help or None), or None (no
# advice line at all).
CASES = [
    # equality, the seed style, IN, ranges, LIKE
    ("SELECT name FROM students WHERE email = 'student42@school.example'", "index"),
    ("SELECT students.name FROM students WHERE students.student_id = '42'", "index"),
    ("SELECT * FROM customers WHERE email IN ('cust1@shop.example', 'cust2@shop.example', "
     "'cust3@shop.example')", "index"),
    ("SELECT id FROM orders WHERE status IN ('new', 'paid') AND created_at >= '2021-02-01'",
     "index"),
    ("SELECT id FROM enrollments WHERE grade BETWEEN 2 AND 3 AND class_id = 7", "index"),
    ("SELECT id FROM customers WHERE name LIKE 'Name123%'", "index"),
    ("SELECT id, name FROM customers WHERE name LIKE '%123'",
     ("none", "LIKE pattern on `name` starts with a wildcard", "name")),
    # ORDER BY ... LIMIT
    ("SELECT id, total FROM orders ORDER BY created_at DESC LIMIT 10", "index"),
    ("SELECT id FROM orders WHERE customer_id = 5 ORDER BY created_at LIMIT 5", "index"),
    ("SELECT id FROM orders WHERE total > 995 ORDER BY created_at LIMIT 5", "index"),
    # joins with aliases, both orders, comma join, USING
    ("SELECT s.name, e.grade FROM students s JOIN enrollments e ON e.student_id = s.id "
     "WHERE s.id = 10", "index"),
    ("SELECT e.grade FROM enrollments AS e INNER JOIN students AS s ON s.id = e.student_id "
     "WHERE s.email = 'student77@school.example'", "index"),
    ("SELECT e.id FROM perf_advice.classes c, perf_advice.enrollments e "
     "WHERE e.class_id = c.id AND c.code = 'M17'", "index"),
    ("SELECT enrollments.grade FROM students JOIN enrollments USING (student_id) "
     "WHERE students.email = 'student99@school.example'", "index"),
    # a subquery, a derived table
    ("SELECT name FROM students WHERE id IN (SELECT student_id FROM enrollments "
     "WHERE class_id = 3)", "index"),
    ("SELECT * FROM (SELECT id, total FROM orders WHERE customer_id = 9) AS x", "index"),
    # UPDATE and DELETE with WHERE
    ("UPDATE orders SET total = total WHERE ref_code = 'R-17'", "index"),
    ("DELETE FROM enrollments WHERE enrolled_at < '2019-01-01'", "index"),
    ("SELECT id FROM orders o WHERE o.customer_id = 12 AND o.status IS NULL", "index"),
    ("SELECT id FROM customers WHERE (email = 'cust5@shop.example' OR "
     "email = 'cust6@shop.example') AND country = 'ES'", "index"),
    # no index helps, and why
    ("SELECT name FROM students WHERE LOWER(code) = 'c42'",
     ("none", "`code` is inside LOWER()", "code")),
    ("SELECT name FROM students WHERE year + 1 = 4",
     ("none", "`year` is inside an expression", "year")),
    ("SELECT name FROM students WHERE code = 42",
     ("none", "`code` is varchar and compared with a number", "code")),
    ("SELECT id, total FROM orders WHERE CAST(created_at AS DATE) = '2021-03-01'",
     ("none", "`created_at` is inside CAST()", "created_at")),
    ("SELECT id FROM customers WHERE email = 'cust8@shop.example' OR name = 'Name9'",
     ("none", "OR across columns `email`, `name`", None)),
    ("SELECT name FROM customers WHERE email COLLATE utf8mb4_bin = 'cust8@shop.example'",
     ("none", "`email` is compared under COLLATE utf8mb4_bin", "email")),
    ("SELECT o.id, o.total FROM customers c JOIN orders o ON o.ref_code = c.email "
     "WHERE c.id = 3",
     ("none", "differ in collation", "ref_code")),
    ("SELECT status, COUNT(*) FROM orders GROUP BY status",
     ("none", "reads every row", None)),
    # a tiny table: no advice
    ("SELECT id FROM tiny WHERE v = 3", None),
]

ALTER_RE = re.compile(r"ALTER TABLE `([^`]+)`\.`([^`]+)` ADD INDEX `([^`]+)` \(([^)]*)\)")


def advice_of(entry):
    m = re.search(r"^# Index_advice: (.*)$", entry["raw"], re.M)
    return m.group(1) if m else None


def plan_rows(rows):
    """EXPLAIN rows (header first) as dicts."""
    head = rows[0]
    return [dict(zip(head, r)) for r in rows[1:]]


def rows_of(r):
    try:
        return int(r["rows"])
    except (TypeError, ValueError):
        return 0


class IndexAdvice(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        cls.server.fresh_db(DB)
        cls.server.sql(SCHEMA, db=DB)
        cls.server.ensure_user(USER, PASSWORD, ["SELECT, UPDATE, DELETE ON %s.*" % DB,
                                                "PROCESS ON *.*"])
        cls.http_port = harness.free_port()
        with harness.Slowtap(EXPLAIN_ARGS + ["--http", "127.0.0.1:%d" % cls.http_port]) as st:
            conn = pymysql.connect(host="127.0.0.1", port=st.port, user="app",
                                   password="apppass", database=DB, autocommit=True)
            with conn.cursor() as c:
                for sql, _ in CASES:
                    c.execute(sql)
                    c.fetchall()
            conn.close()
            deadline = time.monotonic() + 30
            while True:
                entries = st.entries(settle=0.2)
                cls.entries = {}
                for e in entries:
                    for sql, _ in CASES:
                        if e["statement"].strip().rstrip(";") == sql:
                            cls.entries[sql] = e
                done = all(e["explain"] or e["explain_error"] for e in cls.entries.values())
                if (len(cls.entries) == len(CASES) and done) or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            deadline = time.monotonic() + 15  # statistics merge on the workers' tick
            while True:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/digests?limit=1000"
                                            % cls.http_port, timeout=10) as r:
                    cls.api = json.loads(r.read().decode())
                digests = cls.api["digests"] if isinstance(cls.api, dict) else cls.api
                if any(d.get("index_advice") for d in digests) or time.monotonic() > deadline:
                    break
                time.sleep(0.3)
            cls.log = st.log_text()
            cls.stderr = st.stderr()

    @classmethod
    def tearDownClass(cls):
        cls.server.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def entry(self, sql):
        e = self.entries.get(sql)
        self.assertIsNotNone(e, "no entry for %s\n%s" % (sql, self.log[-3000:]))
        self.assertIsNone(e["explain_error"], e["raw"])
        return e

    def explain(self, sql):
        return plan_rows([["id", "select_type", "table", "type", "possible_keys", "key",
                           "key_len", "ref", "rows", "Extra"]]
                         + self.server.sql("EXPLAIN " + sql, db=DB))

    def apply(self, alters):
        for db, table, ix, cols in alters:
            self.server.sql("ALTER TABLE `%s`.`%s` ADD INDEX `%s` (%s)" % (db, table, ix, cols))

    def drop(self, alters):
        for db, table, ix, _ in alters:
            self.server.sql("ALTER TABLE `%s`.`%s` DROP INDEX `%s`" % (db, table, ix))

    def test_cases_cover_the_issue(self):
        self.assertGreaterEqual(len(CASES), 25)
        self.assertEqual(len(self.entries), len(CASES), self.log[-3000:])

    def test_index_advice_removes_the_scan(self):
        checked = 0
        for sql, want in CASES:
            if want != "index":
                continue
            with self.subTest(sql=sql):
                e = self.entry(sql)
                adv = advice_of(e)
                self.assertIsNotNone(adv, e["raw"])
                alters = ALTER_RE.findall(adv)
                self.assertTrue(alters, adv)
                before = plan_rows(e["explain"])
                # the advised tables, by the alias the plan shows (alias or table name)
                advised = {t for _db, t, _ix, _c in alters}
                aliases = {}
                for m in re.finditer(r"(?=\b(\w+)\s+(?:AS\s+)?(\w+)\b)", sql):
                    if m.group(1) in advised:
                        aliases[m.group(2)] = m.group(1)
                # a scan: type ALL, or the whole index in index order (an UPDATE walking the
                # primary key), or a sort, on >= 1000 estimated rows
                extra = lambda r: r["Extra"] or ""
                scanned = [r for r in before if rows_of(r) >= 1000 and (
                    r["type"] == "ALL" or "filesort" in extra(r) or
                    (r["type"] == "index" and "Using index" not in extra(r)))]
                self.assertTrue(scanned, e["raw"])
                self.apply(alters)
                try:
                    after = self.explain(sql)
                finally:
                    self.drop(alters)
                for r in scanned:
                    name = aliases.get(r["table"], r["table"])
                    if name not in advised:
                        continue
                    match = [a for a in after if a["table"] == r["table"]]
                    self.assertEqual(len(match), 1, (adv, after))
                    a = match[0]
                    self.assertNotEqual(a["type"], "ALL", (sql, adv, after))
                    if r["type"] == "index":
                        self.assertNotEqual(a["type"], "index", (sql, adv, after))
                    self.assertLessEqual(rows_of(a) * 10, rows_of(r), (sql, adv, before, after))
                    checked += 1
        self.assertGreaterEqual(checked, 20)

    def test_none_gives_the_reason(self):
        for sql, want in CASES:
            if not isinstance(want, tuple):
                continue
            with self.subTest(sql=sql):
                e = self.entry(sql)
                adv = advice_of(e)
                self.assertIsNotNone(adv, e["raw"])
                self.assertTrue(adv.startswith("none ("), adv)
                self.assertIn(want[1], adv)
                col = want[2]
                if not col:
                    continue
                # the reason holds: an index on that column does not remove the scan
                table = re.search(r"`(\w+)`:", adv).group(1)
                table = {"o": "orders", "c": "customers"}.get(table, table)
                tmp = [(DB, table, "ix_try_%s" % col, "`%s`" % col)]
                existing = self.server.sql(
                    "SELECT 1 FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = '%s' "
                    "AND TABLE_NAME = '%s' AND COLUMN_NAME = '%s' AND SEQ_IN_INDEX = 1"
                    % (DB, table, col))
                if not existing:
                    self.apply(tmp)
                try:
                    after = self.explain(sql)
                finally:
                    if not existing:
                        self.drop(tmp)
                scan = [r for r in plan_rows(e["explain"]) if r["type"] == "ALL"][0]
                row = [a for a in after if a["table"] == scan["table"]][0]
                # still a scan (of the table, or of the whole index), as many rows estimated
                self.assertIn(row["type"], ("ALL", "index"), (sql, after))
                self.assertGreater(rows_of(row) * 10, rows_of(scan), (sql, after))

    def test_tiny_table_gets_no_advice(self):
        e = self.entry("SELECT id FROM tiny WHERE v = 3")
        self.assertEqual(e["flags"].get("Full_scan"), "Yes", e["raw"])
        self.assertIsNone(advice_of(e), e["raw"])

    def test_only_reads_are_sent(self):
        self.assertNotIn("ALTER", self.stderr)
        # the explain user can only read and EXPLAIN: no index was created by slowtap
        left = self.server.sql("SELECT COUNT(*) FROM information_schema.STATISTICS "
                               "WHERE TABLE_SCHEMA = '%s' AND INDEX_NAME LIKE 'ix\\_%%' "
                               "AND INDEX_NAME <> 'ix_code'" % DB)
        self.assertEqual(left, [["0"]])

    def test_api_remembers_advice(self):
        by_example = {d["example"]: d for d in self.api["digests"]} \
            if isinstance(self.api, dict) else {d["example"]: d for d in self.api}
        sql = CASES[0][0]
        d = by_example.get(sql)
        self.assertIsNotNone(d, sorted(by_example)[:50])
        self.assertEqual(d["index_advice"], advice_of(self.entry(sql)))
        self.assertGreaterEqual(d["scan_rows"], 1000)
        tiny = by_example.get("SELECT id FROM tiny WHERE v = 3")
        self.assertIsNotNone(tiny)
        self.assertIsNone(tiny["index_advice"])
        self.assertLess(tiny["scan_rows"], 1000)

    def test_json_log(self):
        sql = "SELECT name FROM students WHERE email = 'json@school.example'"
        with harness.Slowtap(EXPLAIN_ARGS + ["--log-format", "json"]) as st:
            conn = pymysql.connect(host="127.0.0.1", port=st.port, user="app",
                                   password="apppass", database=DB, autocommit=True)
            with conn.cursor() as c:
                c.execute(sql)
                c.fetchall()
                c.execute("SELECT id FROM tiny WHERE v = 4")
                c.fetchall()
            conn.close()
            found = {}
            deadline = time.monotonic() + 15
            while len(found) < 2 and time.monotonic() < deadline:
                time.sleep(0.3)
                for line in st.log_text().splitlines():
                    o = json.loads(line)
                    if o["statement"] in (sql, "SELECT id FROM tiny WHERE v = 4") and o["plan"]:
                        found[o["statement"]] = o
        self.assertEqual(len(found), 2, st.log_text()[-2000:])
        self.assertEqual(found[sql]["index_advice"],
                         "ALTER TABLE `perf_advice`.`students` ADD INDEX "
                         "`ix_students_email` (`email`)")
        self.assertIsNone(found["SELECT id FROM tiny WHERE v = 4"]["index_advice"])

    def test_report_shows_advice(self):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "st-advr-%d.log" % os.getpid())
        with open(path, "w") as f:
            f.write(self.log)
        try:
            j = subprocess.run([harness.slowtap_bin(), "report", "--format", "json", "--top",
                                "0", path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=60)
            t = subprocess.run([harness.slowtap_bin(), "report", "--top", "0", path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=60)
        finally:
            os.unlink(path)
        self.assertEqual(j.returncode, 0, j.stderr)
        self.assertEqual(t.returncode, 0, t.stderr)
        shapes = json.loads(j.stdout)
        email = [s for s in shapes
                 if s["fingerprint"] == "select name from students where email = ?"]
        self.assertEqual(len(email), 1, [s["fingerprint"] for s in shapes])
        want = advice_of(self.entry(CASES[0][0]))
        self.assertEqual(email[0]["index_advice"], want)
        self.assertGreaterEqual(email[0]["scan_rows"], 1000)
        tiny = [s for s in shapes if s["fingerprint"] == "select id from tiny where v = ?"][0]
        self.assertIsNone(tiny["index_advice"])
        self.assertLess(tiny["scan_rows"], 1000)
        # the table lists advice under the ranking, by rank and digest
        self.assertIn("# index advice (rank digest: advice)", t.stdout)
        line = [x for x in t.stdout.splitlines() if x.endswith(want)]
        self.assertEqual(len(line), 1, t.stdout)
        self.assertRegex(line[0], r"^ *\d+ [0-9a-f]{8} ALTER TABLE")

    @unittest.skipUnless(shutil.which("pt-query-digest"), "percona-toolkit not installed")
    def test_pt_query_digest_reads_the_log(self):
        rc, err, doc = harness.pt_query_digest_json(self.log)
        self.assertEqual(rc, 0, err)
        fps = {c["fingerprint"] for c in doc["classes"]}
        self.assertIn("select name from students where email = ?", fps)
        self.assertIn("update orders set total = total where ref_code = ?", fps)
        total = sum(int(c["query_count"]) for c in doc["classes"]
                    if "perf_advice" in json.dumps(c) or c["fingerprint"].startswith(
                        ("select", "update", "delete")))
        self.assertGreaterEqual(total, len(CASES))

    @unittest.skipUnless(shutil.which("mariadb-dumpslow"), "mariadb-dumpslow not installed")
    def test_mariadb_dumpslow_reads_the_log(self):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "st-advd-%d.log" % os.getpid())
        with open(path, "w") as f:
            f.write(self.log)
        try:
            r = subprocess.run(["mariadb-dumpslow", "-s", "c", path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120)
        finally:
            os.unlink(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("SELECT name FROM students WHERE email = 'S'", r.stdout)
        self.assertIn("UPDATE orders SET total = total WHERE ref_code = 'S'", r.stdout)


if __name__ == "__main__":
    unittest.main()
