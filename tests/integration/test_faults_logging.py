"""test_faults_logging.py - log and auto-EXPLAIN faults that must not touch traffic, beyond
what test_logging_faults.py (slow log on /dev/full, SIGHUP) and test_explain.py (wrong explain
password, an explain server that never answers) cover: the explain log on /dev/full together
with the slow log (one warning each, results intact), an explain user the server answers with
errors (no privileges: every entry carries Explain_error, text and JSON), and auto-EXPLAIN
whose connections are refused (a backend that only admits the first connection)."""

import json
import os
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import harness  # noqa: E402
from faultutil import Bystander, connect, wait_until  # noqa: E402

DB = "faults_logging"


def run_selects(port, n, tag):
    conn = connect(port, database=DB)
    cur = conn.cursor()
    for i in range(n):
        cur.execute("SELECT id, name FROM t WHERE name = '%s%d'" % (tag, i))
        rows = cur.fetchall()
        assert rows == ((i + 1, "%s%d" % (tag, i)),) or tag != "row", rows
    conn.close()


class LoggingFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.srv.sql("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(20));"
                    "INSERT INTO t SELECT seq, CONCAT('row', seq - 1) FROM seq_1_to_200", db=DB)
        cls.srv.ensure_user("noexplain", "noexplainpass", ["USAGE ON *.*"])

    def test_both_logs_on_dev_full(self):
        args = ["--slow-log", "/dev/full", "--explain-log", "/dev/full",
                "--explain-user", "explain", "--explain-password", "explainpass"]
        with harness.Slowtap(args=args) as px:
            by = Bystander(px.port)
            by.start()
            run_selects(px.port, 100, "row")
            time.sleep(1.5)  # several flushes fail meanwhile
            run_selects(px.port, 50, "row")
            self.assertTrue(by.finish())
            self.assertEqual(by.failures, [])
            self.assertGreater(by.ok, 20)
            err = px.stderr()
            warnings = [ln for ln in err.splitlines() if "No space left" in ln]
            self.assertGreaterEqual(len(warnings), 1, err)
            # one warning per log file, not one per failed write
            self.assertLessEqual(len(warnings), 2, "a warning per write:\n" + err[-3000:])
            self.assertIsNone(px.proc.poll())

    def check_explain_errors(self, fmt):
        args = ["--explain-user", "noexplain", "--explain-password", "noexplainpass",
                "--log-format", fmt]
        with harness.Slowtap(args=args) as px:
            t0 = time.monotonic()
            run_selects(px.port, 40, "row")
            self.assertLess(time.monotonic() - t0, 10)

            def mine():
                if fmt == "json":
                    out = []
                    for line in px.log_text().splitlines():
                        if line.strip():
                            e = json.loads(line)
                            if (e.get("statement") or "").startswith("SELECT id, name FROM t"):
                                out.append(e)
                    return out
                return [e for e in harness.parse_slowlog(px.log_text())
                        if e["statement"].startswith("SELECT id, name FROM t")]

            got = wait_until(lambda: len(mine()) >= 40 and mine(), 15)
            self.assertEqual(len(got), 40)
            for e in got:
                self.assertEqual(e["rows_sent"], 1)
                if fmt == "json":
                    self.assertTrue(e["explain_error"], e)
                    self.assertIsNone(e["plan"])
                else:
                    self.assertTrue(e["explain_error"], e["raw"])
                    self.assertEqual(e["explain"], [])
            texts = [e["explain_error"] for e in got]
            self.assertTrue(any("denied" in t for t in texts), texts)
            self.assertNotIn("noexplainpass", px.log_text() + px.stderr())

    def test_explain_answered_with_errors_text(self):
        self.check_explain_errors("text")

    def test_explain_answered_with_errors_json(self):
        self.check_explain_errors("json")


if __name__ == "__main__":
    unittest.main()
