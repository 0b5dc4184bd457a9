"""test_matrix_c.py - client matrix, libmariadb (issue 4): a C program (clients/matrix_c.c, built
here) runs each protocol corner directly against MariaDB and through slowtap -- cursor fetch
(COM_STMT_FETCH), send_long_data, COM_STMT_RESET, a 20 MiB blob by text and binary protocol,
change_user, reset_connection, a CALL with two result sets (text and prepared), LOAD DATA LOCAL
INFILE, ping, statistics, field list, kill, COM_SET_OPTION, execute_direct and bulk execute --
and must print the same transcript both ways; the slow log must hold each statement with its
parameters substituted, rows and errors, and the proxy must stay healthy."""
# It raises the server's global max_allowed_packet to 64M, hence:
# slowtap-test: serial

import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest

import pymysql

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients"))
import matrix_common as mc  # noqa: E402

DB = "st_matrix_c_%d" % os.getpid()
OTHER = ("matrix_other", "otherpass")
class MatrixC(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.srv.ensure_user(*OTHER)
        rows = cls.srv.sql("SELECT @@global.max_allowed_packet")
        if int(rows[0][0]) < 64 << 20:
            cls.srv.sql("SET GLOBAL max_allowed_packet = %d" % (64 << 20))
        conn = pymysql.connect(host="127.0.0.1", port=cls.srv.port, user="app",
                               password="apppass", database=DB)
        with conn.cursor() as c:
            c.execute("CREATE PROCEDURE m_two(IN n INT) BEGIN SELECT n AS a; "
                      "SELECT n + 1 AS b, 'x' AS c; END")
        conn.close()
        cls.tmp = tempfile.mkdtemp(prefix="slowtap-matrix-c-")
        cls.exe = os.path.join(cls.tmp, "matrix_c")
        flags = subprocess.run(["pkg-config", "--cflags", "--libs", "libmariadb", "libcrypto"],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        if flags.returncode != 0:
            raise RuntimeError("pkg-config libmariadb libcrypto: " + flags.stderr)
        cc = subprocess.run(["cc", "-std=c11", "-D_GNU_SOURCE", "-O1", "-Wall", "-Werror", "-o",
                             cls.exe, os.path.join(mc.CLIENTS, "matrix_c.c")]
                            + flags.stdout.split(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if cc.returncode != 0:
            raise RuntimeError("building matrix_c failed:\n" + cc.stdout)
        cls.csv = os.path.join(cls.tmp, "load.csv")
        with open(cls.csv, "w") as f:
            f.write("".join("%d,val %d\n" % (i, i) for i in range(1, 101)))

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.tmp, ignore_errors=True)
        cls.srv.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def run_scenario(self, px, name, arg=None):
        """Runs the scenario both ways, checks the transcripts match; returns (stdout, entries)."""
        def cmd(port):
            return [self.exe, "127.0.0.1", str(port), "app", "apppass", DB, name] + (
                [arg] if arg else [])
        out = mc.same_both_ways(self, cmd, self.srv, px)
        self.assertTrue(out.endswith("END\n"), out)
        entries = mc.log_entries(px)
        mc.assert_proxy_healthy(self, px)
        return out, entries

    def test_cursor_fetch(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "cursor")
            self.assertIn("cursor round 1\ncols: id v\nrow: [2] [two]", out)
            mc.check_execute(self, self.srv, DB, entries,
                             "SELECT id, v FROM m_cur WHERE id > ? ORDER BY id",
                             [(0,), (1,), (0,)])
            fetches = mc.admin(entries, "Fetch")
            # 7 + 6 rows of the two full rounds and 2 of the partial third, 2 per fetch
            self.assertEqual(sum(h["rows_sent"] for h in fetches), 15, fetches)
            self.assertGreaterEqual(len(fetches), 8, fetches)
            cnt = mc.find(entries, "SELECT COUNT(*) AS n FROM m_cur")
            self.assertEqual([e["rows_sent"] for e in cnt], [1])

    def test_send_long_data(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "longdata")
            self.assertIn("row: [1] [hello long 'quoted' data] [0001FEFF]", out)
            mc.check_execute(self, self.srv, DB, entries,
                             "INSERT INTO m_ld (id, t, b) VALUES (?, ?, ?)",
                             [(1, "hello long 'quoted' data", b"\x00\x01\xfe\xff"),
                              (2, "inline", None)])

    def test_stmt_reset_drops_long_data(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "stmtreset")
            self.assertIn("row: [1] [xyz]", out)
            self.assertEqual(len(mc.admin(entries, "Reset stmt")), 2, entries)
            mc.check_execute(self, self.srv, DB, entries, "SELECT id, t FROM m_rs WHERE id >= ?",
                             [(0,), (1,)])
            # the long data was discarded by COM_STMT_RESET: the row holds the bound 'xyz'
            mc.check_execute(self, self.srv, DB, entries,
                             "INSERT INTO m_rs (id, t) VALUES (?, ?)", [(1, "xyz")])

    def test_blob_20mib_text_and_binary(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "blob20m")
            sha = re.search(r"sent sha256 (\w+)", out).group(1)
            self.assertEqual(out.count(sha), 6, out)  # sent, text, 2 binary, 2 by SHA2()
            ins = mc.find(entries, "INSERT INTO m_blob (id, b) VALUES (1, X'DC0465AA")
            self.assertEqual(len(ins), 1)
            self.assertEqual(ins[0]["rows_affected"], 1)
            sel = mc.find(entries, "SELECT b FROM m_blob WHERE id = ")
            self.assertEqual([e["rows_sent"] for e in sel], [1, 1, 1])
            self.assertEqual(sel[0]["bytes_sent"] > 20 << 20, True, sel[0]["raw"])
            bins = [e for e in entries if e["statement"].startswith("INSERT INTO m_blob (id, b) "
                                                                   "VALUES (2,")]
            self.assertEqual(len(bins), 1, "\n".join(e["raw"][:600] for e in entries))
            lits = mc.split_literals(bins[0]["params"] or "")
            # the 20 MiB value is logged cut short: X'<first bytes>'...
            self.assertEqual(len(lits), 2, bins[0]["raw"][:2000])
            self.assertEqual(lits[0], "2")
            self.assertTrue(lits[1].lower().startswith("x'dc0465aa1fad"), lits[1][:100])
            self.assertTrue(lits[1].endswith("..."), lits[1][-100:])

    def test_change_user(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "changeuser", "%s:%s" % OTHER)
            self.assertIn("row: [100] [matrix_other@%]", out)
            self.assertIn("change_user with a wrong password: error 1045", out)
            ex = mc.check_execute(self, self.srv, DB, entries,
                                  "SELECT ? + 1 AS next_v, CURRENT_USER() AS u", [(99,)])
            self.assertEqual(ex[0]["user"], "matrix_other")
            users = [(e["user"], e["statement"]) for e in entries
                     if e["statement"].startswith("SELECT CURRENT_USER() AS u")]
            self.assertEqual(users, [
                ("matrix_other", "SELECT CURRENT_USER() AS u, @matrix_var AS v, DATABASE() AS db"),
                ("app", "SELECT CURRENT_USER() AS u")])
            cu = mc.admin(entries, "Change user")
            self.assertEqual(len(cu), 3, entries)
            self.assertIsNone(cu[0]["error"])
            self.assertTrue((cu[2]["error"] or "").startswith("1045"), cu[2]["raw"])

    def test_reset_connection(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "resetconn")
            self.assertIn("reset connection\nquery: SELECT @matrix_var AS v\ncols: v\nrow: NULL",
                          out)
            mc.check_execute(self, self.srv, DB, entries, "SELECT ? * 3 AS triple", [(14,)])
            self.assertEqual(len(mc.admin(entries, "Reset connection")), 1, entries)

    def test_call_two_result_sets(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "callproc")
            self.assertIn("prepared call result 1: fields 2\ncols: b c\nrow: [8] [x]", out)
            text_call = mc.find(entries, "CALL m_two(5)")
            self.assertEqual([(e["rows_sent"], e["error"]) for e in text_call], [(2, None)])
            ex = mc.check_execute(self, self.srv, DB, entries, "CALL m_two(?)", [(7,)])
            self.assertEqual(ex[0]["rows_sent"], 2)
            self.assertTrue(mc.find(entries, "SELECT 'after call' AS s"))

    def test_load_data_local_infile(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "loaddata", self.csv)
            self.assertIn("loaded 100\n", out)
            ld = mc.find(entries, "LOAD DATA LOCAL INFILE '%s' INTO" % self.csv)
            self.assertEqual([(e["rows_affected"], e["error"]) for e in ld], [(100, None)])
            self.assertTrue(mc.find(entries, "SELECT 'after load' AS s"))

    def test_ping_statistics_field_list(self):
        with harness.Slowtap() as px:
            _, entries = self.run_scenario(px, "ping")
            self.assertEqual(len(mc.admin(entries, "Ping")), 3, entries)
        with harness.Slowtap() as px:
            _, entries = self.run_scenario(px, "statistics")
            self.assertEqual(len(mc.admin(entries, "Statistics")), 1, entries)
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "fieldlist")
            self.assertIn("fields (wild na%): 1\n  name type 253 table m_fl\n", out)
            fl = mc.admin(entries, "Field List")
            self.assertEqual(len(fl), 3, entries)
            self.assertEqual([h["error"] is None for h in fl], [True, True, False])
            self.assertTrue(fl[2]["error"].startswith("1146"), fl[2]["raw"])

    def test_kill(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "kill")
            self.assertIn("victim query after kill: error\n", out)
            self.assertIn("row: [victim alive after KILL QUERY]", out)
            kills = [e for e in entries if re.match(r"KILL (QUERY )?\d+$", e["statement"])]
            self.assertEqual(len(kills), 2, [e["statement"] for e in entries])
            self.assertTrue(all(e["error"] is None for e in kills))

    def test_set_option_multi_statements(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "multistmt")
            self.assertIn("multi statements on\nquery: SELECT 1 AS a; SELECT 2 AS b\ncols: a\n"
                          "row: [1]\ncols: b\nrow: [2]\n", out)
            self.assertEqual(len(mc.admin(entries, "Set option")), 2, entries)
            both = mc.find(entries, "SELECT 1 AS a; SELECT 2 AS b")
            self.assertEqual([(e["rows_sent"], (e["error"] or "")[:4]) for e in both],
                             [(0, "1064"), (2, ""), (0, "1064")])
            mid = mc.find(entries, "SELECT 3 AS c; SELECT * FROM m_no_such_table")
            self.assertEqual(len(mid), 1)
            self.assertTrue(mid[0]["error"].startswith("1146"), mid[0]["raw"])
            self.assertTrue(mc.find(entries, "SELECT 'alone' AS e"))

    def test_execute_direct(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "execdirect")
            self.assertIn("row: [42] [dir'ect]", out)
            mc.check_execute(self, self.srv, DB, entries,
                             "INSERT INTO m_direct (id, t) VALUES (?, ?)", [(41, "dir'ect")])
            mc.check_execute(self, self.srv, DB, entries,
                             "SELECT id + 1 AS nx, t FROM m_direct WHERE id = ? AND t = ?",
                             [(41, "dir'ect")])

    def test_bulk_execute(self):
        with harness.Slowtap() as px:
            out, entries = self.run_scenario(px, "bulk")
            self.assertIn("bulk affected 3\nbulk 2 affected 3\n", out)
            # the log shows the first row of each bulk execute
            ex = mc.check_execute(self, self.srv, DB, entries,
                                  "INSERT INTO m_bulk (id, t, n) VALUES (?, ?, ?)",
                                  [(1, "first", 10), (11, "first", 10)])
            self.assertEqual([e["rows_affected"] for e in ex], [3, 3])


if __name__ == "__main__":
    unittest.main(verbosity=2)
