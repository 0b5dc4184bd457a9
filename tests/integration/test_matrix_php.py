"""test_matrix_php.py - client matrix, PHP (issue 4): mysqli and PDO_mysql with native prepared
statements (PDO::ATTR_EMULATE_PREPARES off) bind ints, floats, strings with quotes, backslashes
and newlines, NULL, dates and a blob (mysqli also by send_long_data); the script
(clients/matrix_php.php) prints the same through slowtap as directly, and the slow log holds
each execute with parameters that evaluate to the bound values, substituted into the
statement, with its row counts."""

import os
import sys
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients"))
import matrix_common as mc  # noqa: E402

DB = "st_matrix_php_%d" % os.getpid()
SCRIPT = os.path.join(mc.CLIENTS, "matrix_php.php")
# The rows every client script inserts and reads back (matrix_common.ROW1/ROW2).
STR, BLOB, ROW1, ROW2 = mc.STR, mc.BLOB, mc.ROW1, mc.ROW2


class MatrixPHP(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)

    @classmethod
    def tearDownClass(cls):
        cls.srv.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def run_php(self, mode, table):
        with harness.Slowtap() as px:
            out = mc.same_both_ways(
                self, lambda port: ["php", SCRIPT, mode, "127.0.0.1", str(port), "app",
                                    "apppass", DB], self.srv, px)
            self.assertTrue(out.endswith("END\n"), out)
            self.assertIn("'hb' => '0001FF2062696E20275C'", out)
            entries = mc.log_entries(px)
            mc.assert_proxy_healthy(self, px)
            ins = mc.check_execute(
                self, self.srv, DB, entries,
                "INSERT INTO %s (id, i, f, s, n, d, dt, b) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                % table, [ROW1, ROW2])
            self.assertEqual([e["rows_affected"] for e in ins], [1, 1])
            sel = mc.check_execute(
                self, self.srv, DB, entries,
                "SELECT id, i, f, s, n, d, dt, HEX(b) AS hb FROM %s WHERE id = ? OR s = ? "
                "ORDER BY id" % table, [(1, "tab\there")])
            self.assertEqual(sel[0]["rows_sent"], 2)
            for e in entries:
                self.assertEqual(e["user"], "app", e["raw"])
                self.assertEqual(e["schema"], DB, e["raw"])
            return out, entries

    def test_mysqli(self):
        out, entries = self.run_php("mysqli", "m_php")
        text = mc.find(entries, "SELECT id, s, HEX(b) AS hb FROM m_php ORDER BY id")
        self.assertEqual([e["rows_sent"] for e in text], [2])

    def test_pdo_native_prepares(self):
        out, entries = self.run_php("pdo", "m_pdo")
        self.assertIn("error: 1146\n", out)
        # PDO::query() without emulation is a prepare + execute too
        q = mc.find(entries, "SELECT id, s, HEX(b) AS hb FROM m_pdo ORDER BY id")
        self.assertEqual([e["rows_sent"] for e in q], [2])


if __name__ == "__main__":
    unittest.main(verbosity=2)
