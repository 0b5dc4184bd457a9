"""test_faults_backend.py - the backend failing under the proxy: down at connect (an ERR 1105
naming the backend address, byte for byte), restarted under load (a throwaway MariaDB of this
test: looping clients see errors only around the restart, reconnect and go on), killed with
SIGKILL or KILL CONNECTION in the middle of a large result set (the client sees its connection
lost, 2013, within a bounded time, not a hang and not an ERR of slowtap's). The proxy stays alive and serves afterwards."""
# slowtap-test: serial

import os
import signal
import subprocess
import sys
import threading
import time
import types
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import pymysql  # noqa: E402
import pymysql.cursors  # noqa: E402

import harness  # noqa: E402
from faultutil import Bystander, connect, fd_count, wait_until  # noqa: E402
from mywire import RawClient, parse_err, split_packets  # noqa: E402

ERROR_BOUND = 10.0  # seconds a client may wait for its error after the backend died


def restart(srv, kill_sig=signal.SIGTERM):
    """Stops the throwaway server `srv` with `kill_sig` and starts it again on the same
    datadir and port; returns (stopped_at, ready_at) monotonic times."""
    args = srv.proc.args
    t0 = time.monotonic()
    srv.proc.send_signal(kill_sig)
    srv.proc.wait(60)
    t1 = time.monotonic()
    for _ in range(50):  # the port may linger a moment
        srv.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                    stderr=subprocess.DEVNULL,
                                    preexec_fn=harness._die_with_parent)
        ok = wait_until(lambda: srv.proc.poll() is not None or _ready(srv), 60, 0.1)
        if ok and srv.proc.poll() is None:
            return t0, t1, time.monotonic()
        time.sleep(0.2)
    raise RuntimeError("throwaway mariadbd did not restart:\n" + harness._tail(srv.errlog))


def _ready(srv):
    try:
        harness.wait_port(srv.port, 0.2)
        srv.sql("SELECT 1")
        return True
    except Exception:
        return False


def big_select(conn, rows=200, width=256 << 10):
    cur = conn.cursor(pymysql.cursors.SSCursor)
    cur.execute("SELECT seq, REPEAT('z', %d) FROM seq_1_to_%d" % (width, rows))
    return cur


class BackendFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.shared = harness.mariadb()
        cls.shared.fresh_db("faults_backend")
        cls.own = harness.start_throwaway()  # restarted and killed by these tests
        cls.own.fresh_db("faults_backend")

    @classmethod
    def tearDownClass(cls):
        cls.own.stop()

    def test_backend_down_at_connect(self):
        port = harness.free_port()
        with harness.Slowtap(server=types.SimpleNamespace(host="127.0.0.1", port=port)) as px:
            fds0 = None
            for i in range(200):
                c = RawClient(px.port)
                data = c.read_until_close(5)
                c.close()
                self.assertIsNotNone(data)
                pk = split_packets(data)
                self.assertEqual(len(pk), 1, data)
                seq, p = pk[0]
                self.assertEqual(seq, 0)
                code, state, msg = parse_err(p)
                self.assertEqual(code, 1105)
                self.assertEqual(state, "HY000")
                self.assertIn("127.0.0.1:%d" % port, msg)
                if i == 20:
                    fds0 = fd_count(px.proc.pid)
            self.assertLessEqual(fd_count(px.proc.pid), fds0 + 2)
            # And with a real client library.
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                connect(px.port)
            self.assertEqual(cm.exception.args[0], 1105)
            self.assertIsNone(px.proc.poll())

    def test_backend_restarted_under_load(self):
        with harness.Slowtap(server=self.own) as px:
            loops = [Bystander(px.port, reconnect=True, pause=0.005) for _ in range(3)]
            for b in loops:
                b.start()
            time.sleep(1.0)
            before = [b.ok for b in loops]
            stopped_at, down_at, ready_at = restart(self.own)
            time.sleep(2.0)
            after = [b.ok for b in loops]
            for b in loops:
                self.assertTrue(b.finish())
            for b in loops:
                self.assertEqual(b.failures, [], "wrong results through the restart")
                # Errors only for statements around the restart (in flight or connecting
                # while the server was away), none after it was back.
                for t, e in b.errors:
                    self.assertGreaterEqual(t, stopped_at - 0.5, repr(e))
                    self.assertLessEqual(t, ready_at + 1.0, "error %.1f s after the restart: "
                                         "%r" % (t - ready_at, e))
            for b0, b1 in zip(before, after):
                self.assertGreater(b0, 0)
                self.assertGreater(b1, b0 + 5, "clients did not continue after the restart")
            self.assertIsNone(px.proc.poll())
            c = connect(px.port)
            c.close()

    def check_error_mid_result(self, px, kill):
        conn = connect(px.port, database="faults_backend", read_timeout=30)
        cid = conn.thread_id()
        cur = big_select(conn)
        first = cur.fetchone()
        self.assertEqual(first[0], 1)
        result = {}

        def reader():
            n = 1
            try:
                for _row in cur:
                    n += 1
                    time.sleep(0.01)
                result["rows"] = n
            except pymysql.err.MySQLError as e:
                result["error"] = e
            except Exception as e:  # pymysql may raise other errors on a torn stream
                result["error"] = e

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        time.sleep(0.3)
        start = time.monotonic()
        kill(cid)
        t.join(ERROR_BOUND)
        self.assertFalse(t.is_alive(), "client hangs after the backend died")
        self.assertIn("error", result, "the whole result arrived: %r" % result)
        self.assertLess(time.monotonic() - start, ERROR_BOUND)
        # pymysql would try to drain the dead stream when the result is collected
        if cur._result is not None:
            cur._result.unbuffered_active = False
        cur._result = conn._result = None
        try:
            conn.close()
        except Exception:
            pass
        print("backend died mid-result: the client got %r after %.2f s"
              % (result["error"], time.monotonic() - start), file=sys.stderr)
        return result["error"]

    def test_kill_connection_mid_result(self):
        with harness.Slowtap() as px:
            err = self.check_error_mid_result(px, lambda cid: self.shared.sql(
                "KILL CONNECTION %d" % cid))
            # the connection is lost, as directly (issue 24): no ERR of slowtap's
            self.assertIsInstance(err, pymysql.err.OperationalError, repr(err))
            self.assertEqual(err.args[0], 2013, repr(err))
            self.assertIsNone(px.proc.poll())
            c = connect(px.port)
            c.close()

    def test_sigkill_mid_result(self):
        with harness.Slowtap(server=self.own) as px:
            by_ok = []

            def kill(_cid):
                by_ok.append(time.monotonic())
                self.own.proc.kill()

            err = self.check_error_mid_result(px, kill)
            self.assertIsInstance(err, pymysql.err.OperationalError, repr(err))
            self.assertEqual(err.args[0], 2013, repr(err))  # a lost connection, not ERR 1105
            self.own.proc.wait(30)
            # Connects while it is down get the 1105 error; after the restart all is well.
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                connect(px.port)
            self.assertEqual(cm.exception.args[0], 1105)
            self.own.proc.returncode = None
            args = self.own.proc.args
            self.own.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                             stdout=subprocess.DEVNULL,
                                             stderr=subprocess.DEVNULL,
                                             preexec_fn=harness._die_with_parent)
            self.assertTrue(wait_until(lambda: _ready(self.own), 60, 0.2),
                            harness._tail(self.own.errlog))
            c = connect(px.port)
            cur = c.cursor()
            cur.execute("SELECT 7")
            self.assertEqual(cur.fetchone()[0], 7)
            c.close()
            self.assertIsNone(px.proc.poll())


if __name__ == "__main__":
    unittest.main()
