"""test_lockwait.py - a statement slowed by a lock names its blocker and what the blocker did
(issue 13, item 2). While a statement runs past the explain threshold, the auto-EXPLAIN
connection asks the server what it waits for (PROCESSLIST, INNODB_TRX, INNODB_LOCK_WAITS,
INNODB_LOCKS); when the blocker is a session that came through slowtap, the entry also shows
its user, host, open transaction, idle time and statements. Lock_time is the measured wait."""

import json
import subprocess
import threading
import time
import unittest
import urllib.request

import pymysql

import harness
import test_dashboard

EXPLAIN_ARGS = ["--explain-user", "explain", "--explain-password", "explainpass",
                "--explain-threshold", "0.2"]


def connect(port, **kw):
    kw.setdefault("autocommit", True)
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           connect_timeout=10, read_timeout=30, **kw)


def one(cur, sql):
    cur.execute(sql)
    return cur.fetchone()


class LockWait(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db("lkw")
        cls.srv.sql("CREATE TABLE lkw.acc (id INT PRIMARY KEY, bal INT) ENGINE=InnoDB")
        cls.srv.sql("INSERT INTO lkw.acc VALUES (7, 100), (8, 100)")
        cls.srv.sql("CREATE TABLE lkw.m (id INT PRIMARY KEY) ENGINE=InnoDB")

    def _blocked_update(self, px_port, blocker, hold):
        """blocker holds a row lock; an UPDATE through slowtap waits `hold` seconds for it."""
        b = connect(px_port)
        bc = b.cursor()
        tid = one(bc, "SELECT CONNECTION_ID()")[0]
        done = threading.Timer(hold, blocker.commit)
        done.start()
        t0 = time.monotonic()
        bc.execute("UPDATE lkw.acc SET bal = bal - 1 WHERE id = 7")
        waited = time.monotonic() - t0
        done.join()
        b.close()
        return tid, waited

    def test_row_lock_blocker_through_slowtap(self):
        http_port = harness.free_port()
        with harness.Slowtap(EXPLAIN_ARGS + ["--http", "127.0.0.1:%d" % http_port],
                             long_query_time="0.5") as px:
            harness.wait_port(http_port, 10, proc=px.proc)
            a = connect(px.port, autocommit=False)
            ac = a.cursor()
            a_tid = one(ac, "SELECT CONNECTION_ID()")[0]
            ac.execute("UPDATE lkw.acc SET bal = bal + 1 WHERE id = 7")
            time.sleep(0.3)  # A goes idle inside its transaction
            b_tid, waited = self._blocked_update(px.port, a, 2.0)
            a.close()
            self.assertGreater(waited, 1.8)
            es = [e for e in px.entries(settle=0.5)
                  if e["statement"] == "UPDATE lkw.acc SET bal = bal - 1 WHERE id = 7"]
            self.assertEqual(len(es), 1, px.log_text())
            e = es[0]
            f = e["flags"]
            self.assertEqual(e["thread_id"], b_tid)
            self.assertEqual(f.get("Lock_type"), "row", e["raw"])
            self.assertEqual(f.get("Blocked_by"), str(a_tid), e["raw"])
            self.assertEqual(f.get("Lock_table"), "`lkw`.`acc`", e["raw"])
            self.assertAlmostEqual(float(f["Lock_wait"]), waited, delta=0.3)
            self.assertAlmostEqual(e["lock_time"], float(f["Lock_wait"]), delta=0.000001)
            # what slowtap knows of A
            self.assertEqual(f.get("Blocker"), str(a_tid), e["raw"])
            self.assertEqual(f.get("Blocker_user"), "app@127.0.0.1", e["raw"])
            self.assertGreaterEqual(float(f["Idle"]), 0.3, e["raw"])
            self.assertGreaterEqual(float(f["In_transaction"]), float(f["Idle"]), e["raw"])
            self.assertIn("# blocker: +", e["raw"])
            self.assertIn("UPDATE lkw.acc SET bal = bal + 1 WHERE id = 7", e["raw"])
            # the same wait in the API: B's shape counts it and names A (issue 13 item 2)
            shape = self._api_lock_shape(http_port, e["digest"])
            lw = shape["lock_waits"]
            self.assertGreaterEqual(lw["count"], 1, lw)
            self.assertGreaterEqual(lw["total_s"], 1.5, lw)
            self.assertGreaterEqual(lw["max_s"], 1.5, lw)
            self.assertLessEqual(lw["max_s"], lw["total_s"], lw)
            last = lw["last"]
            self.assertEqual(last["type"], "row", lw)
            self.assertEqual(last["table"], "`lkw`.`acc`", lw)
            self.assertEqual(last["blocked_by"], a_tid, lw)
            self.assertFalse(last["inferred"], lw)
            self.assertEqual(last["candidates"], [], lw)
            bl = last["blocker"]
            self.assertEqual(bl["thread_id"], a_tid, lw)
            self.assertEqual((bl["user"], bl["host"]), ("app", "127.0.0.1"), lw)
            self.assertEqual(bl["last_statement"],
                             "UPDATE lkw.acc SET bal = bal + 1 WHERE id = 7", lw)
            self.assertGreaterEqual(bl["idle_s"], 0.3, lw)
            self.assertGreaterEqual(bl["trx_s"], bl["idle_s"], lw)
            # the per-digest endpoint has the same object; a shape that never waited has null
            with urllib.request.urlopen("http://127.0.0.1:%d/api/digests/%s"
                                        % (http_port, shape["digest"]), timeout=10) as r:
                self.assertEqual(json.loads(r.read())["lock_waits"], lw)
            with urllib.request.urlopen("http://127.0.0.1:%d/api/digests" % http_port,
                                        timeout=10) as r:
                shapes = json.loads(r.read())
            other = [x for x in shapes if x["fingerprint"] == "select connection_id()"]
            self.assertEqual(len(other), 1, shapes)
            self.assertIsNone(other[0]["lock_waits"], other)
            # `slowtap report` reads the same wait back from the log
            r = subprocess.run([harness.slowtap_bin(), "report", "--format", "json",
                                px.log_path], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            rep = [x for x in json.loads(r.stdout) if x["digest"] == e["digest"]]
            self.assertEqual(len(rep), 1, r.stdout)
            rl = rep[0]["lock_waits"]
            self.assertEqual(rl["count"], 1, rl)
            self.assertAlmostEqual(rl["max_s"], float(f["Lock_wait"]), delta=0.000001)
            lo = rl["longest"]
            self.assertEqual((lo["type"], lo["table"], lo["blocked_by"], lo["inferred"]),
                             ("row", "`lkw`.`acc`", a_tid, False), rl)
            self.assertEqual((lo["blocker"]["thread_id"], lo["blocker"]["user"],
                              lo["blocker"]["host"], lo["blocker"]["last_statement"]),
                             (a_tid, "app", "127.0.0.1",
                              "UPDATE lkw.acc SET bal = bal + 1 WHERE id = 7"), rl)
            self.assertAlmostEqual(lo["blocker"]["idle_s"], float(f["Idle"]), delta=0.000001)
            r = subprocess.run([harness.slowtap_bin(), "report", px.log_path],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               timeout=60)
            self.assertIn("blocked by %d; blocker %d app@127.0.0.1: idle for " % (a_tid, a_tid),
                          " ".join(r.stdout.split()))
            # the dashboard (headless Chromium) shows it in the shape's details
            out = test_dashboard.run_chromium(
                ["--virtual-time-budget=5000", "--dump-dom",
                 "http://127.0.0.1:%d/#digest=%s" % (http_port, shape["digest"])])
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            self.assertIn("LOCK WAIT", out.stdout)
            self.assertIn("waited for locks", out.stdout)
            self.assertIn("row lock on `lkw`.`acc`, blocked by %d" % a_tid, out.stdout)
            self.assertIn("Blocker: %d app@127.0.0.1  in transaction " % a_tid, out.stdout)
            self.assertIn("; last: UPDATE lkw.acc SET bal = bal + 1 WHERE id = 7", out.stdout)

    def test_api_blocker_statement_redacted(self):
        """With --redact, the API shows the blocker's last statement as the slow log does."""
        http_port = harness.free_port()
        with harness.Slowtap(EXPLAIN_ARGS + ["--http", "127.0.0.1:%d" % http_port,
                                             "--redact", "^31337$"],
                             long_query_time="0.5") as px:
            harness.wait_port(http_port, 10, proc=px.proc)
            a = connect(px.port, autocommit=False)
            a.cursor().execute("UPDATE lkw.acc SET bal = bal + 31337 WHERE id = 7")
            self._blocked_update(px.port, a, 1.0)
            a.close()
            es = [e for e in px.entries(settle=0.5)
                  if e["statement"].startswith("UPDATE lkw.acc SET bal = bal - ")]
            self.assertEqual(len(es), 1, px.log_text())
            blines = [x for x in es[0]["raw"].splitlines() if x.startswith("# blocker: +")]
            self.assertTrue(blines[-1].endswith(" UPDATE lkw.acc SET bal = bal + ? WHERE id = 7"),
                            es[0]["raw"])
            bl = self._api_lock_shape(http_port, es[0]["digest"])["lock_waits"]["last"]["blocker"]
            self.assertEqual(bl["last_statement"], "UPDATE lkw.acc SET bal = bal + ? WHERE id = 7")

    @staticmethod
    def _api_lock_shape(http_port, digest):
        """The shape `digest` from /api/digests once its lock wait is merged (it may come
        before the worker's next merge of the shape's counters)."""
        deadline = time.time() + 10
        shapes = []
        while time.time() < deadline:
            with urllib.request.urlopen("http://127.0.0.1:%d/api/digests" % http_port,
                                        timeout=10) as r:
                shapes = json.loads(r.read())
            got = [x for x in shapes if x["digest"] == digest]
            if got and got[0]["lock_waits"]:
                return got[0]
            time.sleep(0.2)
        raise AssertionError("no lock_waits for %s in %r" % (digest, shapes))

    def test_blocker_not_through_slowtap(self):
        a = pymysql.connect(host="127.0.0.1", port=self.srv.port, user="app", password="apppass",
                            autocommit=False)
        ac = a.cursor()
        a_tid = one(ac, "SELECT CONNECTION_ID()")[0]
        ac.execute("UPDATE lkw.acc SET bal = bal + 1 WHERE id = 7")
        with harness.Slowtap(EXPLAIN_ARGS + ["--log-format", "json"], long_query_time="0.5") as px:
            self._blocked_update(px.port, a, 1.2)
            a.close()
            time.sleep(0.5)
            lines = [json.loads(x) for x in px.log_text().splitlines() if x.strip()]
            es = [x for x in lines if x["statement"].startswith("UPDATE lkw.acc SET bal = bal - 1")]
            self.assertEqual(len(es), 1, px.log_text())
            lw = es[0]["lock_wait"]
            self.assertIsNotNone(lw, es[0])
            self.assertEqual(lw["type"], "row")
            self.assertEqual(lw["blocked_by"], a_tid)
            self.assertIsNone(lw["blocker"])  # not one of slowtap's sessions
            self.assertGreater(es[0]["lock_time"], 0.9)

    def test_metadata_lock(self):
        """MariaDB names no metadata-lock owner (performance_schema is off here): slowtap infers
        it from the open transactions and its own session registry, which saw A read lkw.m."""
        with harness.Slowtap(EXPLAIN_ARGS, long_query_time="0.5") as px:
            a = connect(px.port, autocommit=False)
            ac = a.cursor()
            a_tid = one(ac, "SELECT CONNECTION_ID()")[0]
            ac.execute("SELECT * FROM lkw.m")  # holds a metadata lock until its transaction ends
            b = connect(px.port)
            timer = threading.Timer(1.5, a.commit)
            timer.start()
            b.cursor().execute("ALTER TABLE lkw.m ADD COLUMN x INT")
            timer.join()
            b.cursor().execute("ALTER TABLE lkw.m DROP COLUMN x")
            a.close()
            b.close()
            es = [e for e in px.entries(settle=0.5)
                  if e["statement"] == "ALTER TABLE lkw.m ADD COLUMN x INT"]
            self.assertEqual(len(es), 1, px.log_text())
            f = es[0]["flags"]
            self.assertEqual(f.get("Lock_type"), "metadata", es[0]["raw"])
            self.assertEqual(f.get("Lock_state"), "Waiting_for_table_metadata_lock", es[0]["raw"])
            self.assertEqual(f.get("Lock_table"), "`lkw`.`m`", es[0]["raw"])
            self.assertEqual(f.get("Blocked_by"), "%d (inferred)" % a_tid, es[0]["raw"])
            self.assertNotIn("Lock_candidates", f, es[0]["raw"])
            # what slowtap knows of A: its transaction and its last statement
            self.assertEqual(f.get("Blocker"), str(a_tid), es[0]["raw"])
            self.assertEqual(f.get("Blocker_user"), "app@127.0.0.1", es[0]["raw"])
            blines = [x for x in es[0]["raw"].splitlines() if x.startswith("# blocker: +")]
            self.assertTrue(blines, es[0]["raw"])
            self.assertTrue(blines[-1].endswith(" SELECT * FROM lkw.m"), es[0]["raw"])
            # the log readers still read an entry with an inferred blocker
            import subprocess
            r = subprocess.run(["pt-query-digest", "--no-version-check", "--group-by",
                                "Blocked_by", px.log_path], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Report grouped by Blocked_by", r.stdout)
            self.assertRegex(r.stdout, r"\n%d\n" % a_tid)
            r = subprocess.run(["pt-query-digest", "--no-version-check", px.log_path],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("ALTER TABLE lkw.m", r.stdout)
            r = subprocess.run(["mariadb-dumpslow", px.log_path], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("ALTER TABLE lkw.m", r.stdout)

    def test_metadata_lock_json(self):
        """The same in the JSON log: blocked_by with blocked_by_inferred, and the blocker."""
        with harness.Slowtap(EXPLAIN_ARGS + ["--log-format", "json"], long_query_time="0.5") as px:
            a = connect(px.port, autocommit=False)
            ac = a.cursor()
            a_tid = one(ac, "SELECT CONNECTION_ID()")[0]
            ac.execute("SELECT id FROM lkw.m WHERE id = 1")
            b = connect(px.port)
            timer = threading.Timer(1.2, a.commit)
            timer.start()
            b.cursor().execute("ALTER TABLE lkw.m ADD COLUMN y INT")
            timer.join()
            b.cursor().execute("ALTER TABLE lkw.m DROP COLUMN y")
            a.close()
            b.close()
            time.sleep(0.5)
            lines = [json.loads(x) for x in px.log_text().splitlines() if x.strip()]
            es = [x for x in lines if x["statement"] == "ALTER TABLE lkw.m ADD COLUMN y INT"]
            self.assertEqual(len(es), 1, px.log_text())
            lw = es[0]["lock_wait"]
            self.assertEqual(lw["type"], "metadata", lw)
            self.assertEqual(lw["table"], "`lkw`.`m`", lw)
            self.assertEqual(lw["blocked_by"], a_tid, lw)
            self.assertTrue(lw["blocked_by_inferred"], lw)
            self.assertEqual(lw["candidates"], [], lw)
            self.assertEqual(lw["blocker"]["thread_id"], a_tid, lw)
            self.assertEqual(lw["blocker"]["statements"][-1]["statement"],
                             "SELECT id FROM lkw.m WHERE id = 1", lw)

    def test_log_readers(self):
        import subprocess
        with harness.Slowtap(EXPLAIN_ARGS, long_query_time="0.5") as px:
            a = connect(px.port, autocommit=False)
            a.cursor().execute("UPDATE lkw.acc SET bal = bal + 1 WHERE id = 7")
            self._blocked_update(px.port, a, 1.0)
            px.entries(settle=0.5)
            a_tid = a.thread_id()
            r = subprocess.run(["pt-query-digest", "--no-version-check", "--group-by",
                                "Blocked_by", px.log_path], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Report grouped by Blocked_by", r.stdout)
            self.assertRegex(r.stdout, r"\n%d\n" % a_tid)
            r = subprocess.run(["pt-query-digest", "--no-version-check", px.log_path],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("UPDATE lkw.acc", r.stdout)
            a.close()
            r = subprocess.run(["mariadb-dumpslow", px.log_path], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("UPDATE lkw.acc", r.stdout)


if __name__ == "__main__":
    unittest.main()
