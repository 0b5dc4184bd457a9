"""test_unfinished.py - nothing the server ran is missing from the log, and it is logged as it
ran (issue 11, item 6):

- a client that gives up mid-statement (killed, or closing its socket): the statement is
  logged when the server finishes it, with its full duration and `# Client_gone: Yes`;
- KILL QUERY from another connection and max_statement_time: logged with the server's error;
- the backend connection dying mid-statement: logged with `# Interrupted: backend_lost`;
- a parameter cut in `# Params:` marks the entry `# Truncated: Yes`;
- pt-query-digest and mariadb-dumpslow still read the log with the new lines.
"""

import os
import socket
import subprocess
import sys
import threading
import time
import unittest

import pymysql

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import mywire  # noqa: E402
import stmtwire  # noqa: E402


def connect(port, **kw):
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           autocommit=True, connect_timeout=10, read_timeout=30, **kw)


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(step)
    return pred()


def entries_with(px, text):
    """Entries whose statement holds `text`, prepares (logged with their text) aside."""
    return [e for e in px.entries(settle=0.1) if text in (e["statement"] or "")
            and e["flags"].get("Prepare") != "Yes"]


class Unfinished(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db("unfin")
        cls.srv.sql("CREATE TABLE unfin.t (id INT PRIMARY KEY, s TEXT)")

    def test_client_killed_mid_statement(self):
        with harness.Slowtap(long_query_time="10") as px:
            cli = mywire.RawClient(px.port)
            cli.login()
            cli.send_packet(b"\x03SELECT SLEEP(1.5) AS unfin_killed", 0)
            time.sleep(0.3)
            cli.abort()  # TCP reset, as a killed process or a driver timeout does
            got = wait_for(lambda: entries_with(px, "unfin_killed"), timeout=8)
            self.assertEqual(len(got), 1, px.log_text())
            e = got[0]
            self.assertEqual(e["flags"].get("Client_gone"), "Yes", e["raw"])
            # it ran for its full time on the server, and that is what is logged
            self.assertGreaterEqual(e["query_time"], 1.4, e["raw"])
            self.assertEqual(e["rows_sent"], 1, e["raw"])
            # the backend connection was closed afterwards: the server has no session left
            tid = e["thread_id"]
            self.assertTrue(wait_for(lambda: not self.srv.sql(
                "SELECT 1 FROM information_schema.PROCESSLIST WHERE ID = %d" % tid)),
                "backend connection %d still open" % tid)
            self.assertIsNone(px.proc.poll())

    def test_client_closes_pipelined(self):
        """Two statements sent, the client closes: both are logged when they finish."""
        with harness.Slowtap(long_query_time="10") as px:
            cli = mywire.RawClient(px.port)
            cli.login()
            cli.send_raw(mywire.packet(b"\x03SELECT SLEEP(0.4) AS unfin_p1") +
                         mywire.packet(b"\x03SELECT 2 AS unfin_p2"))
            time.sleep(0.1)
            cli.close()
            got = wait_for(lambda: len(entries_with(px, "unfin_p")) == 2 and
                           entries_with(px, "unfin_p"), timeout=8)
            self.assertTrue(got, px.log_text())
            self.assertEqual([e["statement"] for e in got],
                             ["SELECT SLEEP(0.4) AS unfin_p1", "SELECT 2 AS unfin_p2"])
            for e in got:
                self.assertEqual(e["flags"].get("Client_gone"), "Yes", e["raw"])

    def test_kill_query_and_statement_timeout(self):
        with harness.Slowtap(long_query_time="0.2") as px:
            c = connect(px.port)
            cur = c.cursor()
            cur.execute("SELECT CONNECTION_ID()")
            tid = cur.fetchone()[0]
            killer = threading.Timer(0.4, lambda: self.srv.sql("KILL QUERY %d" % tid))
            killer.start()
            with self.assertRaises(pymysql.err.MySQLError):
                cur.execute("SELECT SLEEP(5) AS unfin_kq")
                # MariaDB answers a killed SLEEP with its result 1; a few versions with 1317
                if cur.fetchone() == (1,):
                    raise pymysql.err.OperationalError(1317, "interrupted (value 1)")
            killer.join()
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                cur.execute("SET STATEMENT max_statement_time=0.3 FOR "
                            "SELECT COUNT(*) AS unfin_mst FROM information_schema.COLUMNS a, "
                            "information_schema.COLUMNS b, information_schema.COLUMNS c")
            self.assertEqual(cm.exception.args[0], 1969)
            c.close()
            got = wait_for(lambda: entries_with(px, "unfin_mst"), timeout=8)
            self.assertEqual(len(got), 1, px.log_text())
            self.assertTrue(got[0]["error"] and got[0]["error"].startswith("1969"),
                            got[0]["raw"])
            kq = entries_with(px, "unfin_kq")
            self.assertEqual(len(kq), 1, px.log_text())
            self.assertLess(kq[0]["query_time"], 3.0)

    def test_backend_connection_killed(self):
        with harness.Slowtap(long_query_time="10") as px:
            c = connect(px.port)
            cur = c.cursor()
            cur.execute("SELECT CONNECTION_ID()")
            tid = cur.fetchone()[0]
            killer = threading.Timer(0.4, lambda: self.srv.sql("KILL CONNECTION %d" % tid))
            killer.start()
            with self.assertRaises(pymysql.err.MySQLError):
                cur.execute("SELECT SLEEP(5) AS unfin_kc")
                cur.execute("SELECT 1")
            killer.join()
            got = wait_for(lambda: entries_with(px, "unfin_kc"), timeout=8)
            self.assertEqual(len(got), 1, px.log_text())
            e = got[0]
            # The server either answers with an error before it closes, or just closes.
            self.assertTrue(e["error"] or e["flags"].get("Interrupted") == "backend_lost",
                            e["raw"])
            self.assertLess(e["query_time"], 4.0, e["raw"])

    def test_long_parameter_marks_truncated(self):
        with harness.Slowtap() as px:
            cli = mywire.RawClient(px.port)
            cli.login()
            sid, _, _ = stmtwire.prepare(cli, "SELECT LENGTH(?) AS unfin_len")
            self.assertEqual(stmtwire.execute(cli, sid, ["x" * 5000])[0], "rows")
            cli.close()
            got = wait_for(lambda: entries_with(px, "unfin_len"))
            self.assertEqual(len(got), 1, px.log_text())
            self.assertEqual(got[0]["flags"].get("Truncated"), "Yes", got[0]["raw"])

    def test_log_tools_read_new_lines(self):
        with harness.Slowtap(long_query_time="10") as px:
            cli = mywire.RawClient(px.port)
            cli.login()
            cli.send_packet(b"\x03SELECT SLEEP(0.3) AS unfin_tools", 0)
            cli.abort()
            self.assertTrue(wait_for(lambda: entries_with(px, "unfin_tools"), timeout=8))
            log = px.log_path
            r = subprocess.run(["pt-query-digest", "--no-version-check", "--group-by",
                                "Client_gone", log], capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"Report grouped by Client_gone[\s\S]*\nYes\n")
            r = subprocess.run(["pt-query-digest", "--no-version-check", log],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("unfin_tools", r.stdout)
            r = subprocess.run(["mariadb-dumpslow", log], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Count: 1", r.stdout)
            self.assertIn("unfin_tools", r.stdout)


if __name__ == "__main__":
    unittest.main()
