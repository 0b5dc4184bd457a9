"""test_logfile_moved.py - a slow log that is deleted or renamed while slowtap runs is noticed
without SIGHUP (issue 23, item 5): the path is opened anew, the new entries go there, and one
stderr line says so.
  - deleted, with no traffic at all: the file exists again at its path (the writer checks on
    its own), one line "the file was deleted; reopened", and a statement run then is in it;
  - renamed, with statements running meanwhile: the file exists again, one line "the file was
    renamed; reopened", every statement is in exactly one of the two files and none is lost,
    and the counter of written entries equals the entries in both files.
The time to notice is printed (logfile.h: every 250 ms, 350 at most); the loops that wait for it
give up after 5 s."""

import os
import re
import sys
import time
import unittest
import urllib.request

import pymysql

import harness

DB = "st_logmoved_%d" % os.getpid()


def connect(port):
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=DB, autocommit=True, connect_timeout=10, read_timeout=30)


def wait_for(pred, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.02)
    return pred()


def statements_in(path):
    return [e["statement"] for e in harness.parse_slowlog(harness.read_log(path))]


def metric(port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    # the slow log's series: slowtap_log_entries_dropped_total has one per log
    m = re.search(r'^%s(?:\{log="slow"\})? (\d+)$' % re.escape(name), text, re.M)
    if not m:
        raise AssertionError("no %s in /metrics" % name)
    return int(m.group(1))


class LogMoved(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)

    def test_deleted_idle(self):
        with harness.Slowtap() as px:
            c = connect(px.port)
            cur = c.cursor()
            cur.execute("SELECT 'del_before'")
            self.assertTrue(wait_for(lambda: "SELECT 'del_before'" in statements_in(px.log_path)))
            os.unlink(px.log_path)
            t0 = time.monotonic()
            self.assertTrue(wait_for(lambda: os.path.exists(px.log_path)),
                            "the deleted log was not recreated in 5 s:\n" + px.stderr())
            print("deleted log noticed after %.0f ms" % ((time.monotonic() - t0) * 1000),
                  file=sys.stderr)
            cur.execute("SELECT 'del_after'")
            self.assertTrue(wait_for(lambda: "SELECT 'del_after'" in statements_in(px.log_path)),
                            px.stderr())
            self.assertNotIn("SELECT 'del_before'", statements_in(px.log_path))
            c.close()
            self.assertEqual(px.stop(), 0, px.stderr())
            said = [ln for ln in px.stderr().splitlines() if "reopened" in ln]
            self.assertEqual(said, ["slowtap: slow log %s: the file was deleted; reopened"
                                    % px.log_path], px.stderr())

    def test_renamed_busy(self):
        hp = harness.free_port()
        with harness.Slowtap(args=["--http", "127.0.0.1:%d" % hp]) as px:
            c = connect(px.port)
            cur = c.cursor()
            sent = ["SELECT 'ren_before'"]
            cur.execute(sent[0])
            self.assertTrue(wait_for(lambda: sent[0] in statements_in(px.log_path)))
            rotated = px.log_path + ".1"
            os.rename(px.log_path, rotated)
            t0 = time.monotonic()
            deadline = t0 + 5
            while not os.path.exists(px.log_path) and time.monotonic() < deadline:
                sent.append("SELECT 'ren_during_%d'" % len(sent))
                cur.execute(sent[-1])
                time.sleep(0.01)
            self.assertTrue(os.path.exists(px.log_path),
                            "the renamed log was not recreated in 5 s:\n" + px.stderr())
            print("renamed log noticed after %.0f ms, %d statements meanwhile"
                  % ((time.monotonic() - t0) * 1000, len(sent) - 1), file=sys.stderr)
            sent.append("SELECT 'ren_after'")
            cur.execute(sent[-1])
            c.close()

            def both():
                return statements_in(rotated) + statements_in(px.log_path)
            self.assertTrue(wait_for(lambda: sent[-1] in both()), px.stderr())
            self.assertTrue(wait_for(lambda: metric(hp, "slowtap_log_entries_written_total")
                                     == len(both())))
            got = both()
            for s in sent:
                self.assertEqual(got.count(s), 1, "%s: %d times" % (s, got.count(s)))
            self.assertIn(sent[-1], statements_in(px.log_path))
            self.assertIn(sent[0], statements_in(rotated))
            self.assertEqual(metric(hp, "slowtap_log_entries_dropped_total"), 0)
            self.assertEqual(px.stop(), 0, px.stderr())
            said = [ln for ln in px.stderr().splitlines() if "reopened" in ln]
            self.assertEqual(said, ["slowtap: slow log %s: the file was renamed; reopened"
                                    % px.log_path], px.stderr())


if __name__ == "__main__":
    unittest.main()
