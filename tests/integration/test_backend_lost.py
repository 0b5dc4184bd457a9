"""test_backend_lost.py - a lost backend looks like a lost server (issue 24, item 2): when the
server's connection is killed mid-statement (KILL from another session during SELECT SLEEP),
the client sees its own connection lost, as it does directly - PyMySQL and the mariadb CLI get
2013 "Lost connection ... during query", not an ERR 1105 slowtap made up - also when the
client's leg is TLS (a proper TLS close: no "2026 TLS/SSL error: unexpected eof"). The
statement is still logged with `# Interrupted: backend_lost`.

(The fake-server cases - a reset relayed as a reset, a close before any answer, a truncated
packet - are in test_faults_fakeserver.py.)"""

import os
import subprocess
import tempfile
import threading
import time
import unittest

import pymysql

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_CERTS = os.path.join(os.path.dirname(HERE), "tools", "make-test-certs.sh")


def kill_when_running(srv, marker, timeout=10.0):
    """KILLs the connection whose statement contains `marker` once it runs; returns its id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        rows = srv.sql("SELECT ID FROM information_schema.PROCESSLIST WHERE INFO LIKE '%%%s%%' "
                       "AND INFO NOT LIKE '%%PROCESSLIST%%'" % marker)
        if rows:
            time.sleep(0.2)  # well inside SLEEP(5)
            srv.sql("KILL CONNECTION %s" % rows[0][0])
            return int(rows[0][0])
        time.sleep(0.05)
    return None


def wait_entry(px, marker, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        got = [e for e in px.entries(settle=0.1) if marker in (e["statement"] or "")]
        if got or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


class BackendLost(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.certs = tempfile.mkdtemp(prefix="slowtap-bl-certs-")
        subprocess.run(["bash", MAKE_CERTS, cls.certs], check=True, timeout=120,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def tls_args(self):
        return ["--tls-cert", os.path.join(self.certs, "server.pem"),
                "--tls-key", os.path.join(self.certs, "server-key.pem")]

    def pymysql_killed(self, port, marker, tls):
        kw = {"ssl": {"ca": os.path.join(self.certs, "ca.pem")}} if tls else {}
        c = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                            connect_timeout=10, read_timeout=30, **kw)
        if tls:
            import ssl
            self.assertIsInstance(c._sock, ssl.SSLSocket)  # the client's leg is TLS
        t = threading.Thread(target=kill_when_running, args=(self.srv, marker))
        t.start()
        try:
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                c.cursor().execute("SELECT SLEEP(5) AS %s" % marker)
        finally:
            t.join(15)
        return cm.exception.args

    def test_pymysql_direct_and_proxied_alike(self):
        direct = self.pymysql_killed(self.srv.port, "bl_direct", tls=False)
        self.assertEqual(direct[0], 2013, direct)
        with harness.Slowtap(long_query_time="10") as px:
            via = self.pymysql_killed(px.port, "bl_pymysql", tls=False)
            self.assertEqual(via[0], direct[0], via)
            self.assertNotIn("slowtap", str(via))
            e = wait_entry(px, "bl_pymysql")
            self.assertEqual(len(e), 1, px.log_text())
            self.assertEqual(e[0]["flags"].get("Interrupted"), "backend_lost", e[0]["raw"])
            self.assertIsNone(e[0]["error"], e[0]["raw"])
            self.assertIn("Lost connection to MySQL server", px.stderr())
            # the proxy serves on
            c = pymysql.connect(host="127.0.0.1", port=px.port, user="app", password="apppass")
            c.cursor().execute("SELECT 1")
            c.close()

    def test_pymysql_over_tls(self):
        with harness.Slowtap(args=self.tls_args(), long_query_time="10") as px:
            via = self.pymysql_killed(px.port, "bl_pytls", tls=True)
            self.assertEqual(via[0], 2013, via)
            e = wait_entry(px, "bl_pytls")
            self.assertEqual(e[0]["flags"].get("Interrupted"), "backend_lost", e[0]["raw"])

    def cli_killed(self, port, marker, extra):
        t = threading.Thread(target=kill_when_running, args=(self.srv, marker))
        t.start()
        try:
            r = harness.client_cli(port, "SELECT SLEEP(5) AS %s" % marker, extra=extra,
                                   timeout=30)
        finally:
            t.join(15)
        return r

    def test_mariadb_cli_plain_and_tls(self):
        with harness.Slowtap(args=self.tls_args(), long_query_time="10") as px:
            r = self.cli_killed(px.port, "bl_cli_plain", ["--skip-ssl"])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("ERROR 2013", r.stderr)
            self.assertNotIn("1105", r.stderr)
            r = self.cli_killed(px.port, "bl_cli_tls",
                                ["--ssl", "--ssl-ca=" + os.path.join(self.certs, "ca.pem")])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("ERROR 2013", r.stderr)
            self.assertNotIn("2026", r.stderr)
            self.assertNotIn("1105", r.stderr)
            for m in ("bl_cli_plain", "bl_cli_tls"):
                e = wait_entry(px, m)
                self.assertEqual(len(e), 1, px.log_text())
                self.assertEqual(e[0]["flags"].get("Interrupted"), "backend_lost", e[0]["raw"])


if __name__ == "__main__":
    unittest.main()
