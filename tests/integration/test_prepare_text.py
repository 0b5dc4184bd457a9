"""test_prepare_text.py - every entry has its text (issue 24, item 4): a COM_STMT_PREPARE is
logged with the statement it prepared, marked as a prepare (text log `# Prepare: Yes`, JSON
"command": "Prepare" and "prepare": true), with the server's error when it failed; an execute
of a statement id the session does not have says so (`# Unknown_statement_id:`), as after a
failed prepare the execute of id -1 (0xFFFFFFFF, "the statement just prepared") does.
"""

import json
import os
import subprocess
import sys
import time
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import mywire  # noqa: E402
import stmtwire  # noqa: E402

DB = "prep_text_%d" % os.getpid()


def wait_entries(px, pred, want, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = [e for e in px.entries(settle=0.1) if pred(e)]
        if len(got) >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


class PrepareText(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.srv.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20))", db=DB)

    def test_prepare_and_failed_prepare_have_their_text(self):
        with harness.Slowtap() as px:
            cli = mywire.RawClient(px.port, db=DB)
            cli.login()
            sid, _, _ = stmtwire.prepare(cli, "SELECT v FROM t WHERE id = ? /*prep_ok*/")
            self.assertEqual(stmtwire.execute(cli, sid, [1])[0], "rows")
            with self.assertRaises(stmtwire.StmtError):
                stmtwire.prepare(cli, "wrong query prep_bad")
            # the execute of "the statement just prepared" after the failed prepare
            r = stmtwire.execute(cli, 0xFFFFFFFF, [])
            self.assertEqual(r[0], "err")
            self.assertEqual(r[1], 1243, r)
            r = stmtwire.execute(cli, 777, [])
            self.assertEqual(r[1], 1243, r)
            cli.close()

            ok = wait_entries(px, lambda e: "prep_ok" in (e["statement"] or ""), 2)
            prep = [e for e in ok if e["flags"].get("Prepare") == "Yes"]
            self.assertEqual(len(prep), 1, [e["raw"] for e in ok])
            self.assertEqual(prep[0]["statement"].rstrip(";"),
                             "SELECT v FROM t WHERE id = ? /*prep_ok*/")
            self.assertIsNone(prep[0]["error"])
            # the execute is an execute, not a prepare
            execs = [e for e in ok if "Prepare" not in e["flags"]]
            self.assertEqual(len(execs), 1)
            self.assertIn("id = 1", execs[0]["statement"])

            bad = wait_entries(px, lambda e: "prep_bad" in (e["statement"] or ""), 1)
            self.assertEqual(len(bad), 1)
            self.assertEqual(bad[0]["flags"].get("Prepare"), "Yes")
            self.assertIn("# Error: 1064", bad[0]["raw"])
            self.assertEqual(bad[0]["statement"].rstrip(";"), "wrong query prep_bad")

            unknown = wait_entries(px, lambda e: "Unknown_statement_id" in e["flags"], 2)
            ids = sorted(e["flags"]["Unknown_statement_id"] for e in unknown)
            self.assertEqual(ids, ["4294967295", "777"], [e["raw"] for e in unknown])
            for e in unknown:
                self.assertIn("# Error: 1243", e["raw"])
            # no entry without its text: every entry other than a COM_QUIT-less admin
            # command names a statement
            for e in px.entries(settle=0):
                if "administrator command: Prepare" in e["raw"]:
                    self.fail("a prepare without its text:\n" + e["raw"])

    def report_counts(self, path):
        """{fingerprint: count} of `slowtap report --format json` over a log."""
        r = subprocess.run([harness.slowtap_bin(), "report", "--top", "0", "--format", "json",
                            path], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        return {x["fingerprint"]: x["count"] for x in json.loads(r.stdout)}

    def test_report_counts_prepares_apart(self):
        """A prepare's entry has the text, but `slowtap report` (like the statistics) does not
        count it as an execution of that statement: text and JSON logs alike."""
        for fmt in ("text", "json"):
            with harness.Slowtap(args=["--log-format", fmt]) as px:
                cli = mywire.RawClient(px.port, db=DB)
                cli.login()
                for _ in range(2):
                    sid, _, _ = stmtwire.prepare(cli, "SELECT v FROM t WHERE id = ? /*prep_rep*/")
                    for i in range(3):
                        self.assertEqual(stmtwire.execute(cli, sid, [i])[0], "rows")
                cli.close()
                deadline = time.monotonic() + 10
                while px.log_text().count("prep_rep") < 8 and time.monotonic() < deadline:
                    time.sleep(0.1)
                self.assertEqual(px.stop(), 0, px.stderr())
                counts = self.report_counts(px.log_path)
            self.assertEqual(counts.get("select v from t where id = ?"), 6, (fmt, counts))
            self.assertEqual(counts.get("administrator command: prepare"), 2, (fmt, counts))

    def test_json(self):
        with harness.Slowtap(args=["--log-format", "json"]) as px:
            cli = mywire.RawClient(px.port, db=DB)
            cli.login()
            with self.assertRaises(stmtwire.StmtError):
                stmtwire.prepare(cli, "wrong query prep_json")
            r = stmtwire.execute(cli, 0xFFFFFFFF, [])
            self.assertEqual(r[1], 1243, r)
            cli.close()
            deadline = time.monotonic() + 10
            rows = []
            while len(rows) < 2 and time.monotonic() < deadline:
                time.sleep(0.1)
                rows = [json.loads(line) for line in px.log_text().splitlines()
                        if "prep_json" in line or "unknown_statement_id\":4294967295" in line]
            self.assertEqual(len(rows), 2, rows)
            prep, ex = rows
            self.assertEqual(prep["command"], "Prepare")
            self.assertTrue(prep["prepare"])
            self.assertEqual(prep["statement"], "wrong query prep_json")
            self.assertEqual(prep["error_code"], 1064)
            self.assertIsNone(prep["unknown_statement_id"])
            self.assertEqual(ex["command"], "Execute")
            self.assertFalse(ex["prepare"])
            self.assertEqual(ex["unknown_statement_id"], 4294967295)
            self.assertEqual(ex["error_code"], 1243)


if __name__ == "__main__":
    unittest.main()
