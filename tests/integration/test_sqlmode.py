"""test_sqlmode.py - statements are logged as the server ran them under the session's
sql_mode (issue 11, item 6): a prepared statement's parameters are written with the escaping
of NO_BACKSLASH_ESCAPES (learned from the status flags of every OK/EOF) and its placeholders
found with the quoting of ANSI_QUOTES (learned from SET statements), so the logged text runs
and means the same; and the auto-EXPLAIN connection explains under the session's mode.
"""

import os
import sys
import time
import unittest

import pymysql

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import mywire  # noqa: E402
import stmtwire  # noqa: E402


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


class SqlMode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db("sqlm")
        cls.srv.sql("CREATE TABLE sqlm.t (id INT PRIMARY KEY, s TEXT)")
        cls.srv.ensure_user("explain", "explainpass", ["SELECT, PROCESS ON *.*"])

    def direct(self):
        return pymysql.connect(host="127.0.0.1", port=self.srv.port, user="app",
                               password="apppass", autocommit=True)

    def stored(self):
        c = self.direct()
        cur = c.cursor()
        cur.execute("SELECT s FROM sqlm.t WHERE id = 7")
        v = cur.fetchone()[0]
        c.close()
        return v

    def _prepared_roundtrip(self, px, mode_sql, value):
        cli = mywire.RawClient(px.port)
        cli.login()
        cli.query(mode_sql)
        cli.query("DELETE FROM sqlm.t")
        sid, n, _ = stmtwire.prepare(cli, "INSERT INTO sqlm.t VALUES (?, ?)")
        self.assertEqual(n, 2)
        self.assertEqual(stmtwire.execute(cli, sid, [7, value])[0], "ok")
        cli.close()
        got = wait_for(lambda: [e for e in px.entries(settle=0.1)
                                if (e["statement"] or "").startswith("INSERT INTO sqlm.t")
                                and e["flags"].get("Prepare") != "Yes"])  # the execute
        self.assertEqual(len(got), 1, px.log_text())
        self.assertEqual(self.stored(), value)
        return got[0]["statement"]

    def test_prepared_no_backslash_escapes(self):
        value = "' OR '1'='1 \\ back"
        with harness.Slowtap() as px:
            stmt = self._prepared_roundtrip(
                px, "SET SESSION sql_mode = CONCAT(@@sql_mode, ',NO_BACKSLASH_ESCAPES')", value)
            self.assertEqual(stmt, "INSERT INTO sqlm.t VALUES (7, ''' OR ''1''=''1 \\ back')")
        # the logged text, run under the same mode, stores the same value
        self.srv.sql("DELETE FROM sqlm.t")
        c = self.direct()
        c.cursor().execute("SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'")
        c.cursor().execute(stmt)
        c.close()
        self.assertEqual(self.stored(), value)

    def test_prepared_default_escapes(self):
        value = "' OR '1'='1 \\ back"
        with harness.Slowtap() as px:
            stmt = self._prepared_roundtrip(px, "SET SESSION sql_mode = DEFAULT", value)
            self.assertEqual(stmt, "INSERT INTO sqlm.t VALUES (7, '\\' OR \\'1\\'=\\'1 \\\\ back')")

    def test_prepared_ansi_quotes(self):
        """Under ANSI_QUOTES "a\\" is an identifier that ends at its second quote; read as a
        string (the default mode) it would run to the end and hide the second placeholder. The
        mode is learned from every spelling of the variable the server accepts."""
        for mode_sql in ("SET SESSION sql_mode = 'ANSI_QUOTES'",
                         "SET @@session . `sql_mode` = 'ANSI_QUOTES'"):
            with self.subTest(mode_sql=mode_sql), harness.Slowtap() as px:
                cli = mywire.RawClient(px.port)
                cli.login()
                cli.query(mode_sql)
                sid, n, _ = stmtwire.prepare(cli, 'SELECT ? AS "a\\" FROM sqlm.t WHERE id = ?')
                self.assertEqual(n, 2)
                self.assertEqual(stmtwire.execute(cli, sid, ["v", 1])[0], "rows")
                cli.close()
                got = wait_for(lambda: [e for e in px.entries(settle=0.1)
                                        if 'AS "a\\"' in (e["statement"] or "")
                                        and e["flags"].get("Prepare") != "Yes"])
                self.assertEqual(len(got), 1, px.log_text())
                self.assertEqual(got[0]["statement"],
                                 'SELECT \'v\' AS "a\\" FROM sqlm.t WHERE id = 1')

    def test_explain_under_session_mode(self):
        """A statement that only parses under ANSI_QUOTES (sqlm."t" is a syntax error in the
        default mode) gets its plan: the side connection runs under the mode the session set
        (here with a quoted `sql_mode`); a later session with the default mode gets it too."""
        args = ["--explain-user", "explain", "--explain-password", "explainpass"]
        with harness.Slowtap(args) as px:
            cli = mywire.RawClient(px.port)
            cli.login()
            cli.query("SET `sql_mode` = 'ANSI_QUOTES'")
            cli.query('SELECT "s" FROM sqlm."t" WHERE "id" = 3')
            cli.close()
            cli = mywire.RawClient(px.port)
            cli.login()
            cli.query("SELECT \"x\" AS sqlm_default FROM sqlm.t WHERE id = 4")
            cli.close()
            got = wait_for(lambda: [e for e in px.entries(settle=0.2)
                                    if "FROM sqlm." in (e["statement"] or "") and e["explain"]])
            stmts = {e["statement"]: e for e in px.entries(settle=0.5)}
            a = stmts.get('SELECT "s" FROM sqlm."t" WHERE "id" = 3')
            self.assertIsNotNone(a, px.log_text())
            self.assertTrue(a["explain"], a["raw"])
            self.assertIsNone(a["explain_error"], a["raw"])
            b = stmts.get('SELECT "x" AS sqlm_default FROM sqlm.t WHERE id = 4')
            self.assertIsNotNone(b, px.log_text())
            self.assertTrue(b["explain"], b["raw"])
            self.assertTrue(got)


if __name__ == "__main__":
    unittest.main()
