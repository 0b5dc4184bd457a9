"""test_matrix_sysbench.py - client matrix, sysbench (issue 4): `oltp_read_write` (prepared
statements through libmariadb, 4 threads) prepares its tables and runs for 5 s through slowtap
with no errors but the deadlocks it retries (each logged with its error) and no reconnects; every execute appears in the slow log with its parameters
substituted (no `?` left), and the proxy stays healthy."""

import os
import re
import subprocess
import sys
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients"))
import matrix_common as mc  # noqa: E402

DB = "st_matrix_sb_%d" % os.getpid()
POINT = re.compile(r"^SELECT c FROM sbtest([12]) WHERE id=(\d+)$")


def sysbench(port, *args):
    cmd = ["sysbench", "oltp_read_write", "--mysql-host=127.0.0.1", "--mysql-port=%d" % port,
           "--mysql-user=app", "--mysql-password=apppass", "--mysql-db=" + DB, "--tables=2",
           "--table-size=1000"] + list(args)
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=180)


class MatrixSysbench(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)

    @classmethod
    def tearDownClass(cls):
        cls.srv.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def test_oltp_read_write(self):
        with harness.Slowtap() as px:
            prep = sysbench(px.port, "prepare")
            self.assertEqual(prep.returncode, 0, prep.stdout[-3000:])
            run = sysbench(px.port, "--time=5", "--threads=4", "--db-ps-mode=auto", "run")
            self.assertEqual(run.returncode, 0, run.stdout[-3000:])
            # sysbench exits non-zero on any error it does not retry; it retries (and counts
            # as "ignored errors") only deadlocks and lock wait timeouts, which 4 threads on
            # 1000-row tables cause directly too: each must be in the log as such.
            ignored = int(re.search(r"ignored errors:\s+(\d+)", run.stdout).group(1))
            m = re.search(r"reconnects:\s+(\d+)", run.stdout)
            self.assertEqual(m.group(1), "0", run.stdout)
            tx = int(re.search(r"transactions:\s+(\d+)", run.stdout).group(1))
            self.assertGreater(tx, 10, run.stdout)
            entries = mc.log_entries(px, settle=1.0)
            mc.assert_proxy_healthy(self, px)

        execs = [e for e in entries if e["params"] is not None]
        # 10 point selects per transaction (oltp_read_write defaults)
        self.assertGreaterEqual(len(execs), tx * 10, len(entries))
        points = 0
        for e in execs:
            self.assertNotIn("?", e["statement"], e["raw"])
            pm = POINT.match(e["statement"])
            if pm:
                points += 1
                self.assertEqual(e["params"], pm.group(2), e["raw"])
                self.assertTrue(1 <= int(pm.group(2)) <= 1000, e["raw"])
                self.assertEqual(e["rows_sent"], 1, e["raw"])
        self.assertGreaterEqual(points, tx * 10)
        # the write statements of the transaction, with values substituted
        for head in ("UPDATE sbtest", "DELETE FROM sbtest", "INSERT INTO sbtest"):
            self.assertTrue([e for e in execs if e["statement"].startswith(head)], head)
        ranges = [e for e in execs if e["statement"].startswith("SELECT c FROM sbtest")
                  and "BETWEEN" in e["statement"]]
        self.assertTrue(ranges)
        for e in ranges[:50]:
            a, b = mc.split_literals(e["params"])
            self.assertIn("BETWEEN %s AND %s" % (a, b), e["statement"])
        errs = [e for e in entries if e["error"]]
        self.assertEqual([e for e in errs if e["error"][:4] not in ("1213", "1205")], [])
        self.assertEqual(len(errs), ignored, [e["raw"] for e in errs][:3])


if __name__ == "__main__":
    unittest.main(verbosity=2)
