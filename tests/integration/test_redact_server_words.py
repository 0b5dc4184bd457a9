"""test_redact_server_words.py - --redact covers what the server says (issue 24, item 6): an
error message that echoes a redacted literal (a duplicate key, an incorrect integer value, a
SIGNAL's MESSAGE_TEXT, a syntax error quoting the statement) and a data-truncation warning
that quotes it: the literal appears nowhere slowtap writes or serves - the text slow log, the
JSON slow log, the explain log, the HTTP API and the dashboard, and its stderr - while the
entries still carry their error codes and the rest of the server's message.
"""

import json
import os
import shutil
import tempfile
import time
import unittest
import urllib.request

import pymysql

import harness

DB = "redact_words_%d" % os.getpid()
SECRET = "TopSecret"
EXPLAIN_ARGS = ["--explain-user", "explain", "--explain-password", "explainpass",
                "--explain-threshold", "0"]


def workload(port):
    """Returns {marker: server error code} of the statements that failed."""
    c = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                        database=DB, autocommit=True)
    cur = c.cursor()
    errors = {}

    def run(sql, marker):
        try:
            cur.execute(sql)
            cur.fetchall()
        except pymysql.err.MySQLError as e:
            errors[marker] = e.args[0]

    run("INSERT INTO k VALUES ('TopSecretValue123', 1) /*rw_dup1*/", "rw_dup1")
    run("INSERT INTO k VALUES ('TopSecretValue123', 2) /*rw_dup2*/", "rw_dup2")
    run("INSERT INTO k VALUES ('TopSecretInt', 'TopSecretNotANumber') /*rw_int*/", "rw_int")
    run("SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused TopSecretSig9 here' /*rw_sig*/",
        "rw_sig")
    # the error (and the EXPLAIN's error) quotes the statement from the literal on
    run("SELECT * FROM k /*rw_syn*/ WHERE id = 1 ORDER BYY 'TopSecretSyn1')", "rw_syn")
    # a data-truncation warning that quotes the literal
    run("SELECT CAST('TopSecretW1' AS SIGNED) AS rw_warn", "rw_warn")
    cur.execute("SHOW WARNINGS")
    warnings = cur.fetchall()
    c.close()
    return errors, warnings


class RedactServerWords(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.srv.sql("CREATE TABLE k (id VARCHAR(40) PRIMARY KEY, n INT)", db=DB)

    def setUp(self):
        self.srv.sql("DELETE FROM k", db=DB)

    def check_run(self, fmt):
        http = harness.free_port()
        tmp = tempfile.mkdtemp(prefix="slowtap-rw-")
        self.addCleanup(shutil.rmtree, tmp, True)
        explain_path = os.path.join(tmp, "explain.log")
        with harness.Slowtap(args=["--redact", SECRET + "[A-Za-z0-9]*", "--log-format", fmt,
                                   "--http", "127.0.0.1:%d" % http,
                                   "--explain-log", explain_path] + EXPLAIN_ARGS) as px:
            errors, warnings = workload(px.port)
            # what the server says, directly: the literal is in it
            self.assertEqual(errors.get("rw_dup2"), 1062, errors)
            self.assertEqual(errors.get("rw_int"), 1366, errors)
            self.assertEqual(errors.get("rw_sig"), 1644, errors)
            self.assertEqual(errors.get("rw_syn"), 1064, errors)
            self.assertTrue(any(SECRET in w[2] for w in warnings), warnings)
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline:
                text = px.log_text()
                if all(m in text for m in ("rw_dup2", "rw_int", "rw_sig", "rw_syn", "rw_warn")):
                    break
                time.sleep(0.2)
            time.sleep(1.5)  # statistics merge about once a second
            served = {}
            for path in ("/api/digests?limit=1000", "/api/summary", "/api/findings",
                         "/api/routes", "/api/series", "/", "/metrics"):
                with urllib.request.urlopen("http://127.0.0.1:%d%s" % (http, path),
                                            timeout=10) as r:
                    served[path] = r.read().decode("utf-8", "replace")
            log = px.log_text()
            px.stop()
        stderr = px.stderr()
        with open(explain_path, errors="replace") as f:
            explain_log = f.read()
        # the statements and their errors are there, every literal hidden
        for m in ("rw_dup2", "rw_int", "rw_sig", "rw_syn", "rw_warn"):
            self.assertIn(m, log)
        for name, out in [("slow log", log), ("explain log", explain_log),
                          ("stderr", stderr)] + list(served.items()):
            self.assertNotIn(SECRET, out, "%s shows the literal:\n%s" % (name, out[-3000:]))
        self.assertTrue(explain_log.strip(), "the explain log is empty")
        return log

    def test_text_log(self):
        log = self.check_run("text")
        entries = {m: e for e in harness.parse_slowlog(log)
                   for m in ("rw_dup2", "rw_int", "rw_sig", "rw_syn")
                   if m in (e["statement"] or "")}
        self.assertEqual(entries["rw_dup2"]["error"],
                         "1062  Duplicate entry ? for key 'PRIMARY'")
        self.assertTrue(entries["rw_int"]["error"].startswith("1366  Incorrect integer value: ?"),
                        entries["rw_int"]["error"])
        self.assertEqual(entries["rw_sig"]["error"], "1644  refused ? here")
        self.assertTrue(entries["rw_syn"]["error"].startswith("1064  You have an error"),
                        entries["rw_syn"]["error"])
        # the rest of the server's words stay
        self.assertIn("near 'BYY '?", entries["rw_syn"]["error"])
        self.assertIn("near 'BYY '?", entries["rw_syn"]["explain_error"])

    def test_json_log(self):
        log = self.check_run("json")
        recs = [json.loads(line) for line in log.splitlines() if line.strip()]
        dup = [r for r in recs if "rw_dup2" in (r["statement"] or "")]
        self.assertEqual(len(dup), 1)
        self.assertEqual(dup[0]["error_code"], 1062)
        self.assertEqual(dup[0]["error"], "Duplicate entry ? for key 'PRIMARY'")


if __name__ == "__main__":
    unittest.main()
