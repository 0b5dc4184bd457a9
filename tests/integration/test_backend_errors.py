"""test_backend_errors.py - the proxy when its backend fails: nothing listening at the backend
address (the proxy starts anyway, clients get a MySQL error naming the backend, and it serves
once the backend exists), and the backend closing a connection (the client's connection is
closed too, promptly, and the proxy keeps serving others)."""

import os
import socket
import threading
import time
import types
import unittest

import pymysql

import harness


class Forwarder:
    """A TCP forwarder on 127.0.0.1:port to a target port: a backend that appears later."""

    def __init__(self, port, target):
        self.target = target
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(16)
        self.socks = []
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            try:
                b = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            self.socks += [c, b]
            threading.Thread(target=self._pump, args=(c, b), daemon=True).start()
            threading.Thread(target=self._pump, args=(b, c), daemon=True).start()

    @staticmethod
    def _pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def close(self):
        self.ls.close()
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def connect(port, **kw):
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           autocommit=True, connect_timeout=10, read_timeout=20, **kw)


def select_one(port):
    c = connect(port)
    try:
        cur = c.cursor()
        cur.execute("SELECT 1")
        return cur.fetchone()[0]
    finally:
        c.close()


def wait_eof(sock, timeout):
    """Reads until the peer closes; True when it did within `timeout` seconds."""
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if sock.recv(65536) == b"":
                return True
    except socket.timeout:
        return False
    except OSError:
        return True  # reset: closed too
    return False


class BackendErrors(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()

    def test_backend_down_then_up(self):
        port = harness.free_port()
        fake = types.SimpleNamespace(port=port, host="127.0.0.1")
        with harness.Slowtap(server=fake) as px:
            addr = "127.0.0.1:%d" % port
            for attempt in range(2):  # the proxy keeps answering while the backend is down
                with self.assertRaises(pymysql.err.MySQLError) as cm:
                    select_one(px.port)
                msg = str(cm.exception.args)
                self.assertIn(addr, msg, "error does not name the backend: %s" % msg)
            r = harness.client_cli(px.port, "SELECT 1")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn(addr, r.stderr)
            self.assertIsNone(px.proc.poll(), "proxy exited: " + px.stderr())

            fwd = Forwarder(port, self.srv.port)
            try:
                deadline = time.monotonic() + 10
                while True:
                    try:
                        self.assertEqual(select_one(px.port), 1)
                        break
                    except pymysql.err.MySQLError:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(0.2)
                self.assertEqual(select_one(px.port), 1)
            finally:
                fwd.close()

    def test_backend_reset_reaches_the_client_as_a_reset(self):
        """MariaDB resets a connection idle past wait_timeout; a client sees the same reset
        through slowtap as directly (found by mysql2's own test-server-close)."""
        def outcome(port):
            c = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass")
            c.cursor().execute("SET SESSION wait_timeout = 1")
            time.sleep(2.5)
            sock = c._sock
            sock.settimeout(5)
            try:
                data = b""
                while True:
                    d = sock.recv(4096)
                    if not d:
                        return ("closed", data[:1])
                    data += d
            except ConnectionResetError:
                return ("reset", b"")
            finally:
                sock.close()
        direct = outcome(self.srv.port)
        with harness.Slowtap() as px:
            proxied = outcome(px.port)
        self.assertEqual(proxied, direct)

    def test_backend_closes_idle_connection(self):
        with harness.Slowtap() as px:
            c = connect(px.port)
            cur = c.cursor()
            cur.execute("SELECT CONNECTION_ID()")
            conn_id = cur.fetchone()[0]
            self.srv.sql("KILL CONNECTION %d" % conn_id)
            self.assertTrue(wait_eof(c._sock, 5), "client connection not closed after the "
                            "backend closed its side")
            c._sock.close()
            self.assertEqual(select_one(px.port), 1)

    def test_backend_closes_during_query(self):
        with harness.Slowtap() as px:
            c = connect(px.port)
            cur = c.cursor()
            cur.execute("SELECT CONNECTION_ID()")
            conn_id = cur.fetchone()[0]
            errors = []

            def run():
                try:
                    cur.execute("SELECT SLEEP(30)")
                    errors.append(None)
                except pymysql.err.MySQLError as e:
                    errors.append(e)

            t = threading.Thread(target=run, daemon=True)
            start = time.monotonic()
            t.start()
            time.sleep(0.5)
            self.srv.sql("KILL CONNECTION %d" % conn_id)
            t.join(10)
            self.assertFalse(t.is_alive(), "client still waiting after the backend closed")
            self.assertLess(time.monotonic() - start, 10)
            # The query is interrupted: an error, or SLEEP's result 1 followed by the close.
            if errors[0] is None:
                self.assertTrue(wait_eof(c._sock, 5))
            try:
                c.close()
            except Exception:
                pass
            self.assertEqual(select_one(px.port), 1)
            self.assertIsNone(px.proc.poll(), "proxy exited: " + px.stderr())


if __name__ == "__main__":
    unittest.main()
