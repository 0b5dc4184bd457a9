"""test_logging_faults.py - the slow log under faults: a full disk (/dev/full) never stops the
traffic and warns once; a deleted or rotated log file is recreated on SIGHUP and gets the new
entries (without SIGHUP: test_logfile_moved.py); the log file is created with mode 0640 (under
umask 022)."""

import os
import signal
import time
import unittest

import pymysql

import harness

DB = "st_logfaults_%d" % os.getpid()
WARN = "slowtap: slow log /dev/full: No space left on device; dropping entries"


def connect(port):
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=DB, autocommit=True, connect_timeout=10, read_timeout=30)


def wait_for(pred, timeout=5.0):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return pred()


def statements(px):
    return [e["statement"] for e in harness.parse_slowlog(px.log_text())]


class LoggingFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        os.umask(0o022)  # inherited by the proxy: its log must come out 0640
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.srv.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20));"
                    "INSERT INTO t VALUES (1,'one'),(2,'two'),(3,'three')", db=DB)

    def test_dev_full_traffic_continues_one_warning(self):
        with harness.Slowtap(args=["--slow-log", "/dev/full"]) as px:
            c = connect(px.port)
            cur = c.cursor()
            # Spread over > 1 s so many flush batches (every ~50 ms) hit the full disk.
            for i in range(60):
                cur.execute("SELECT v FROM t WHERE id = %s", (i % 3 + 1,))
                self.assertEqual(cur.fetchall(), ((["one", "two", "three"][i % 3],),))
                time.sleep(0.02)
            c.close()
            # a second connection still works
            c = connect(px.port)
            cur = c.cursor()
            cur.execute("SELECT COUNT(*) FROM t")
            self.assertEqual(cur.fetchall(), ((3,),))
            c.close()
            self.assertTrue(wait_for(lambda: WARN in px.stderr()), px.stderr())
            time.sleep(0.3)
            err = px.stderr()
            self.assertEqual(err.count(WARN), 1, err)
            # no other complaint about the log file
            self.assertEqual(err.count("slowtap: slow log /dev/full:"), 1, err)
            self.assertNotIn("recovered", err)
            self.assertEqual(px.stop(), 0, px.stderr())

    def test_deleted_log_reopened_on_sighup(self):
        with harness.Slowtap() as px:
            c = connect(px.port)
            cur = c.cursor()
            cur.execute("SELECT 'before_hup_1'")
            self.assertTrue(wait_for(lambda: "SELECT 'before_hup_1'" in statements(px)),
                            px.log_text())
            os.unlink(px.log_path)
            px.proc.send_signal(signal.SIGHUP)
            # the writer reopens within ~100 ms even without traffic
            self.assertTrue(wait_for(lambda: os.path.exists(px.log_path), 3.0),
                            "log file not recreated after SIGHUP; stderr:\n" + px.stderr())
            self.assertEqual(os.stat(px.log_path).st_mode & 0o777, 0o640)
            cur.execute("SELECT 'after_hup_1'")
            self.assertTrue(wait_for(lambda: "SELECT 'after_hup_1'" in statements(px)),
                            px.log_text())
            self.assertNotIn("SELECT 'before_hup_1'", statements(px))
            c.close()
            self.assertEqual(px.stop(), 0, px.stderr())
            self.assertNotIn("dropping entries", px.stderr())

    def test_rotated_log_reopened_on_sighup(self):
        with harness.Slowtap() as px:
            c = connect(px.port)
            cur = c.cursor()
            cur.execute("SELECT 'rot_before'")
            self.assertTrue(wait_for(lambda: "SELECT 'rot_before'" in statements(px)))
            rotated = px.log_path + ".1"
            os.rename(px.log_path, rotated)
            cur.execute("SELECT 'rot_between'")  # before SIGHUP: still the old (renamed) file
            time.sleep(0.3)
            px.proc.send_signal(signal.SIGHUP)
            self.assertTrue(wait_for(lambda: os.path.exists(px.log_path), 3.0), px.stderr())
            cur.execute("SELECT 'rot_after'")
            self.assertTrue(wait_for(lambda: "SELECT 'rot_after'" in statements(px)))
            c.close()
            self.assertEqual(px.stop(), 0, px.stderr())
            with open(rotated) as f:
                old = [e["statement"] for e in harness.parse_slowlog(f.read())]
            self.assertIn("SELECT 'rot_before'", old)
            self.assertNotIn("SELECT 'rot_after'", old)
            new = statements(px)
            self.assertNotIn("SELECT 'rot_before'", new)
            # Between the rename and SIGHUP: in the old file, or in the new one when the writer
            # noticed the rename first (it compares the path with its file every 250 ms), but
            # in exactly one of them.
            self.assertEqual((old + new).count("SELECT 'rot_between'"), 1, (old, new))

    def test_log_mode_0640(self):
        with harness.Slowtap() as px:
            self.assertTrue(os.path.exists(px.log_path))
            self.assertEqual(os.stat(px.log_path).st_mode & 0o777, 0o640)
            c = connect(px.port)
            c.cursor().execute("SELECT 1")
            c.close()
            self.assertEqual(px.stop(), 0, px.stderr())
            self.assertEqual(os.stat(px.log_path).st_mode & 0o777, 0o640)
            self.assertIn("SELECT 1", statements(px))


if __name__ == "__main__":
    unittest.main()
