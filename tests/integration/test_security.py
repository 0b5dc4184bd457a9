"""test_security.py - secrets and trust boundaries: the app and explain password never appear
in the slow log (text and JSON), the explain log, stderr, /metrics, /api/digests, the
dashboard, `slowtap report` or an error message, also after a failed login and after
COM_CHANGE_USER; the explain password works from --explain-password-file and from
$SLOWTAP_EXPLAIN_PASSWORD; a world-readable config file holding explain-password draws a
warning; log files are created 0640 under umask 022; --http on a non-loopback address
without --http-auth-file is refused (exit 2); and a statement containing "\\n# Time: " and
";\\n# User@Host:" does not forge entries for the harness parser, pt-query-digest or
mariadb-dumpslow."""

import json
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import MySQLdb  # noqa: E402
import pymysql  # noqa: E402

import harness  # noqa: E402
from faultutil import connect, wait_until  # noqa: E402

PW = "S3cr3t-Pw-7731"
WRONG_PW = "Wr0ng-Pw-5512"
DB = "sec_db"
APP = "secapp"
EXPLAINER = "secexplain"
SECRETS = (PW, WRONG_PW, "S3cr3t", "Wr0ng-Pw")


def http_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.read().decode("utf-8", "replace")


class Security(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.srv.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));"
                    "INSERT INTO t SELECT seq, CONCAT('v', seq) FROM seq_1_to_100", db=DB)
        cls.srv.ensure_user(APP, PW, ["ALL PRIVILEGES ON *.*"])
        cls.srv.ensure_user(EXPLAINER, PW, ["SELECT, PROCESS ON *.*"])
        cls.tmp = tempfile.mkdtemp(prefix="slowtap-sec-")
        cls.pwfile = os.path.join(cls.tmp, "explain.pw")
        with open(cls.pwfile, "w") as f:
            f.write(PW + "\n")
        os.chmod(cls.pwfile, 0o600)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def assert_no_secret(self, text, where):
        for s in SECRETS:
            self.assertNotIn(s, text, "%s contains %r" % (where, s))

    def traffic(self, port):
        """Statements, a failed login, COM_CHANGE_USER (also a failing one); returns the
        error messages the clients saw."""
        errors = []
        conn = connect(port, user=APP, password=PW, database=DB)
        cur = conn.cursor()
        for i in range(1, 6):
            cur.execute("SELECT v FROM t WHERE id = %d" % i)
            self.assertEqual(cur.fetchone()[0], "v%d" % i)
        cur.execute("SELECT COUNT(*) FROM t WHERE v LIKE 'v1%'")
        try:
            cur.execute("SELECT nope FROM t")
        except pymysql.err.MySQLError as e:
            errors.append(str(e))
        conn.close()
        for user, pw in ((APP, WRONG_PW), ("nosuchuser", PW)):
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                connect(port, user=user, password=pw)
            errors.append(str(cm.exception))
            # 1045, or 1698 where the server has an account that matches without a password
            self.assertIn(cm.exception.args[0], (1045, 1698))
        # COM_CHANGE_USER with MySQLdb (libmariadb): to the explain user and back, then a
        # failing one.
        c = MySQLdb.connect(host="127.0.0.1", port=port, user=APP, passwd=PW, db=DB)
        c.change_user(EXPLAINER, PW, DB)
        cur = c.cursor()
        cur.execute("SELECT CURRENT_USER(), v FROM t WHERE id = 7")
        self.assertEqual(cur.fetchone(), ("%s@%%" % EXPLAINER, "v7"))
        c.change_user(APP, PW, DB)
        cur = c.cursor()
        cur.execute("SELECT v FROM t WHERE id = 8")
        self.assertEqual(cur.fetchone()[0], "v8")
        try:
            c.change_user(APP, WRONG_PW, DB)
        except MySQLdb.MySQLError as e:
            errors.append(str(e))
        c.close()
        self.assertGreaterEqual(len(errors), 4, errors)
        return errors

    def check_everything(self, fmt):
        http_port = harness.free_port()
        elog = os.path.join(self.tmp, "explain-%s.log" % fmt)
        args = ["--log-format", fmt, "--http", "127.0.0.1:%d" % http_port,
                "--explain-user", EXPLAINER, "--explain-password-file", self.pwfile,
                "--explain-threshold", "0", "--explain-log", elog]
        with harness.Slowtap(args=args) as px:
            harness.wait_port(http_port, 10)
            errors = self.traffic(px.port)
            # auto-EXPLAIN worked with the password from the file
            self.assertTrue(wait_until(lambda: os.path.exists(elog) and
                                       os.path.getsize(elog) > 0, 10), "no explain log")
            time.sleep(1.2)  # statistics are merged once a second
            pages = {p: http_get(http_port, p) for p in ("/metrics", "/api/digests", "/",
                                                         "/api/summary")}
            digests = json.loads(pages["/api/digests"])
            px.stop()
            log = px.log_text()
            err = px.stderr()
        for e in errors:
            self.assert_no_secret(e, "client error message %r" % e)
        self.assertTrue(any("denied" in e for e in errors), errors)
        self.assertIn("SELECT v FROM t WHERE id", log)
        self.assert_no_secret(log, "slow log (%s)" % fmt)
        with open(elog, errors="replace") as f:
            etext = f.read()
        self.assertIn("SELECT", etext)
        self.assert_no_secret(etext, "explain log")
        self.assert_no_secret(err, "stderr")
        for p, body in pages.items():
            self.assert_no_secret(body, p)
        self.assertTrue(digests, "no digests")
        # change-user entries exist and the log says who ran the statements
        if fmt == "text":
            entries = harness.parse_slowlog(log)
            self.assertTrue(any(e["user"] == EXPLAINER and "id = 7" in e["statement"]
                                for e in entries), log[-3000:])
            self.assertTrue(any(e["explain"] for e in entries), "no plans: password file?")
        else:
            objs = [json.loads(ln) for ln in log.splitlines() if ln.strip()]
            self.assertTrue(any(o.get("plan") for o in objs), "no plans: password file?")
        # the offline report
        path = os.path.join(self.tmp, "slow-%s.log" % fmt)
        with open(path, "w") as f:
            f.write(log)
        for rfmt in ("table", "json"):
            r = subprocess.run([harness.slowtap_bin(), "report", "--format", rfmt, path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("from t where", r.stdout.lower())
            self.assert_no_secret(r.stdout + r.stderr, "slowtap report --format " + rfmt)

    def test_no_secret_anywhere_text(self):
        self.check_everything("text")

    def test_no_secret_anywhere_json(self):
        self.check_everything("json")

    def test_explain_password_from_env(self):
        old = os.environ.get("SLOWTAP_EXPLAIN_PASSWORD")
        os.environ["SLOWTAP_EXPLAIN_PASSWORD"] = PW
        try:
            with harness.Slowtap(args=["--explain-user", EXPLAINER,
                                       "--explain-threshold", "0"]) as px:
                conn = connect(px.port, user=APP, password=PW, database=DB)
                cur = conn.cursor()
                cur.execute("SELECT v FROM t WHERE v = 'v3'")
                conn.close()
                got = wait_until(lambda: [e for e in px.entries()
                                          if "v = 'v3'" in e["statement"] and
                                          (e["explain"] or e["explain_error"])], 10)
                self.assertTrue(got, px.log_text()[-2000:])
                self.assertIsNone(got[0]["explain_error"], got[0]["raw"])
                self.assertTrue(got[0]["explain"], got[0]["raw"])
                self.assert_no_secret(px.log_text() + px.stderr(), "log/stderr")
        finally:
            if old is None:
                del os.environ["SLOWTAP_EXPLAIN_PASSWORD"]
            else:
                os.environ["SLOWTAP_EXPLAIN_PASSWORD"] = old

    def test_world_readable_config_warns(self):
        for mode, warn in ((0o644, True), (0o600, False)):
            cfg = os.path.join(self.tmp, "cfg-%o.ini" % mode)
            with open(cfg, "w") as f:
                f.write("[slowtap]\nexplain-user = %s\nexplain-password = %s\n"
                        % (EXPLAINER, PW))
            os.chmod(cfg, mode)
            with harness.Slowtap(args=["--config", cfg]) as px:
                err = px.stderr()
            lines = [ln for ln in err.splitlines() if "warning" in ln.lower()]
            if warn:
                self.assertEqual(len(lines), 1, err)
                self.assertIn(cfg, lines[0])
            else:
                self.assertEqual(lines, [], err)
            self.assert_no_secret(err, "stderr")

    def test_log_files_mode_0640(self):
        old = os.umask(0o022)
        try:
            elog = os.path.join(self.tmp, "mode-explain.log")
            with harness.Slowtap(args=["--explain-user", EXPLAINER, "--explain-password-file",
                                       self.pwfile, "--explain-log", elog,
                                       "--explain-threshold", "0"]) as px:
                conn = connect(px.port, user=APP, password=PW, database=DB)
                conn.cursor().execute("SELECT v FROM t WHERE id = 9")
                conn.close()
                wait_until(lambda: os.path.exists(px.log_path) and os.path.exists(elog), 10)
                slow_mode = stat.S_IMODE(os.stat(px.log_path).st_mode)
                explain_mode = stat.S_IMODE(os.stat(elog).st_mode)
        finally:
            os.umask(old)
        self.assertEqual(oct(slow_mode), oct(0o640), "slow log")
        self.assertEqual(oct(explain_mode), oct(0o640), "explain log")

    def test_non_loopback_http_needs_auth(self):
        for addr in ("0.0.0.0:%d" % harness.free_port(), "[::]:%d" % harness.free_port()):
            r = subprocess.run([harness.slowtap_bin(), "--listen",
                                "127.0.0.1:%d" % harness.free_port(), "--backend",
                                "127.0.0.1:%d" % self.srv.port, "--http", addr,
                                "--slow-log", os.path.join(self.tmp, "x.log")],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=20)
            self.assertEqual(r.returncode, 2, r.stderr)
            self.assertIn("http-auth-file", r.stderr)

    def test_statement_cannot_forge_entries(self):
        forged = [
            "SELECT 'a\n# Time: 2020-01-01T00:00:00.000000Z\n# User@Host: evil[evil] @  "
            "[6.6.6.6]\n# Query_time: 99.0  Lock_time: 0.0  Rows_sent: 0  Rows_examined: 0\n"
            "SELECT 1' AS forged1",
            "SELECT 'b;\n# User@Host: evil[evil] @  [6.6.6.6]\n# Query_time: 42.0  Lock_time:"
            " 0.0  Rows_sent: 9  Rows_examined: 0\nSELECT 2;\n# Time: 2020-01-01T00:00:00Z' "
            "AS forged2",
            "SELECT 1 /*;\n# Time: 2020-01-01T00:00:00Z\n*/ AS forged3",
            "SELECT '#\n#\n;\n#' AS forged4",
        ]
        with harness.Slowtap() as px:
            conn = connect(px.port, user=APP, password=PW, database=DB)
            cur = conn.cursor()
            cur.execute("SELECT 'plain1'")
            for q in forged:
                cur.execute(q)
                self.assertEqual(len(cur.fetchall()), 1)
            cur.execute("SELECT 'plain2'")
            conn.close()
            px.stop()
            log = px.log_text()
        entries = harness.parse_slowlog(log)
        ours = [e for e in entries if e["user"] == APP]
        self.assertEqual(len(entries), len(ours), "entries by another user: forged?\n" + log)
        # connect (SET autocommit etc.) + plain1 + 4 forged + plain2
        stmts = [e["statement"] for e in ours]
        for tag in ("plain1", "forged1", "forged2", "forged3", "forged4", "plain2"):
            self.assertEqual(len([s for s in stmts if tag in s]), 1, "%s: %s" % (tag, stmts))
        self.assertFalse(any(e["query_time"] >= 42 for e in entries))
        n = len(entries)
        path = os.path.join(self.tmp, "forge.log")
        with open(path, "w") as f:
            f.write(log)
        if shutil.which("pt-query-digest"):
            r = subprocess.run(["pt-query-digest", "--output", "json", "--limit", "100%:1000",
                                path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            doc = json.loads(r.stdout[r.stdout.index("{"):])
            total = sum(int(c["query_count"]) for c in doc["classes"])
            self.assertEqual(total, n, "pt-query-digest counts %d entries, log has %d"
                             % (total, n))
            users = {c["metrics"]["user"]["value"] for c in doc["classes"]}
            self.assertEqual(users, {APP})
        if shutil.which("mariadb-dumpslow"):
            r = subprocess.run(["mariadb-dumpslow", "-a", path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120)
            self.assertEqual(r.returncode, 0, r.stderr)
            counts = [int(x) for x in re.findall(r"^Count: (\d+)", r.stdout, re.M)]
            self.assertEqual(sum(counts), n, r.stdout)


if __name__ == "__main__":
    unittest.main()
