"""test_matrix_perl.py - client matrix, Perl (issue 4): DBD::MariaDB with server-side prepare
(mariadb_server_prepare=1) binds ints, floats, strings with quotes, backslashes and newlines,
NULL, dates and a blob, re-executes statements, hits an error; the script
(clients/matrix_perl.pl) prints the same through slowtap as directly, and the slow log holds
each execute with parameters that evaluate to the bound values, substituted into the
statement, with its row counts."""

import os
import sys
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients"))
import matrix_common as mc  # noqa: E402

DB = "st_matrix_perl_%d" % os.getpid()
SCRIPT = os.path.join(mc.CLIENTS, "matrix_perl.pl")
# The rows every client script inserts and reads back (matrix_common.ROW1/ROW2).
STR, BLOB, ROW1, ROW2 = mc.STR, mc.BLOB, mc.ROW1, mc.ROW2


class MatrixPerl(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)

    @classmethod
    def tearDownClass(cls):
        cls.srv.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def test_dbd_mariadb_server_prepare(self):
        with harness.Slowtap() as px:
            out = mc.same_both_ways(
                self, lambda port: ["perl", SCRIPT, "127.0.0.1", str(port), "app", "apppass",
                                    DB], self.srv, px)
            self.assertTrue(out.endswith("END\n"), out)
            self.assertIn('"hb" => "0001FF2062696E20275C"', out)
            self.assertIn("error: 1146\n", out)
            entries = mc.log_entries(px)
            mc.assert_proxy_healthy(self, px)
            ins = mc.check_execute(
                self, self.srv, DB, entries,
                "INSERT INTO m_perl (id, i, f, s, n, d, dt, b) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                [ROW1, ROW2])
            self.assertEqual([e["rows_affected"] for e in ins], [1, 1])
            sel = mc.check_execute(
                self, self.srv, DB, entries,
                "SELECT id, i, f, s, n, d, dt, HEX(b) AS hb FROM m_perl WHERE id = ? OR s = ? "
                "ORDER BY id", [(1, "tab\there"), (2, "none")])
            self.assertEqual([e["rows_sent"] for e in sel], [2, 1])
            text = mc.find(entries, "SELECT id, s, HEX(b) FROM m_perl ORDER BY id")
            self.assertEqual([e["rows_sent"] for e in text], [2])
            bad = [e for e in entries if e["admin"] == "Prepare" and e["error"]]
            self.assertEqual(len(bad), 1, entries)
            self.assertTrue(bad[0]["error"].startswith("1146"), bad[0]["raw"])
            for e in entries:
                self.assertEqual(e["user"], "app", e["raw"])
                self.assertEqual(e["schema"], DB, e["raw"])


if __name__ == "__main__":
    unittest.main(verbosity=2)
