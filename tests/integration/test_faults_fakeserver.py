"""test_faults_fakeserver.py - the proxy in front of a scripted fake server
(tests/tools/fakeserver.py) that sends broken responses: a result set with more column
definitions than its column count, a response starting with an impossible byte, a packet when
no command is pending, a truncated packet then a close. Each time the client's connection is
closed promptly, the proxy stays alive and serves the next connection, and other clients'
sessions are untouched."""

import os
import socket
import sys
import time
import types
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import harness  # noqa: E402
from fakeserver import FakeServer  # noqa: E402
from mywire import RawClient, split_packets  # noqa: E402

CLOSE_WITHIN = 5.0


class FakeServerFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fs = FakeServer().__enter__()
        cls.px = harness.Slowtap(server=types.SimpleNamespace(host="127.0.0.1",
                                                              port=cls.fs.port)).__enter__()

    @classmethod
    def tearDownClass(cls):
        try:
            cls.px.__exit__(None, None, None)
        finally:
            cls.fs.close()

    def client(self):
        c = RawClient(self.px.port, timeout=CLOSE_WITHIN)
        c.login()
        return c

    def assert_ok_query(self, c):
        pk = c.query("ok")
        self.assertEqual(pk[0], b"\x01")
        self.assertEqual(pk[-2], b"\x02ok")
        self.assertEqual(pk[-1][0], 0xFE)

    def assert_alive(self):
        self.assertIsNone(self.px.proc.poll(), "proxy exited: " + self.px.stderr()[-2000:])
        c = self.client()
        try:
            self.assert_ok_query(c)
        finally:
            c.close()
        self.assertEqual(self.fs.errors, [])

    def run_fault(self, script):
        """Runs `script` on one connection while a bystander connection stays open; returns
        the bytes the faulty connection got after its query."""
        bystander = self.client()
        c = self.client()
        self.assert_ok_query(c)
        c.send_packet(b"\x03" + script.encode(), 0)
        start = time.monotonic()
        data = c.read_until_close(CLOSE_WITHIN)
        self.assertIsNotNone(data, "%s: client connection still open after %.0f s"
                             % (script, CLOSE_WITHIN))
        self.assertLess(time.monotonic() - start, CLOSE_WITHIN)
        c.close()
        self.assert_ok_query(bystander)  # other sessions are untouched
        bystander.close()
        self.assert_alive()
        return data

    def test_valid_result_passes(self):
        c = self.client()
        for _ in range(3):
            self.assert_ok_query(c)
        c.close()

    def test_too_many_column_definitions(self):
        data = self.run_fault("bad_colcount")
        # The result's header and first definition may have been relayed; never the row.
        self.assertNotIn(b"\x01x\x01y", data)
        self.assertIn("cannot follow command", self.px.stderr())

    def test_impossible_first_byte(self):
        self.run_fault("bad_first")

    def test_packet_when_no_command_pending(self):
        data = self.run_fault("unsolicited")
        pk = split_packets(data)
        # The real answer arrives, the unsolicited packet does not reach the client.
        self.assertEqual(len(pk), 1, pk)
        self.assertEqual(pk[0][1][0], 0x00)
        self.assertIn("no command was pending", self.px.stderr())

    def test_truncated_packet_then_close(self):
        data = self.run_fault("truncated")
        # The partial row (10 of 100 bytes) was still held back: the client gets the result's
        # header, definition and EOF, then its connection closes as the server's did (issue
        # 24: no ERR of slowtap's once the server has spoken).
        pk = split_packets(data)
        self.assertEqual([seq for seq, _ in pk], [1, 2, 3], pk)
        self.assertEqual(pk[2][1][0], 0xFE)
        self.assertEqual(len(data), sum(4 + len(p) for _, p in pk), data)
        self.assertNotIn(b"x" * 9, data)
        self.assertIn("Lost connection to MySQL server at '127.0.0.1:%d'" % self.fs.port,
                      self.px.stderr())

    def test_reset_after_rows_is_a_reset(self):
        """A backend that resets after part of a result: the client gets that part, then a
        reset of its own connection (not a FIN, not an ERR)."""
        c = self.client()
        self.assert_ok_query(c)
        c.send_packet(b"\x03reset", 0)
        data, how = b"", None
        deadline = time.monotonic() + CLOSE_WITHIN
        while how is None and time.monotonic() < deadline:
            c.sock.settimeout(max(0.1, deadline - time.monotonic()))
            try:
                d = c.sock.recv(65536)
            except ConnectionResetError:
                how = "reset"
                break
            except socket.timeout:
                continue
            if not d:
                how = "close"
            data += d
        c.close()
        self.assertEqual(how, "reset", data)
        pk = split_packets(data)
        self.assertEqual([seq for seq, _ in pk], [1, 2, 3, 4], pk)
        self.assertEqual(pk[3][1], b"\x02ok")
        self.assert_alive()

    def test_truncated_long_packet_then_close(self):
        data = self.run_fault("truncated_long")
        # The partial row was relayed as it came: the client cannot resync, but it is closed.
        self.assertIn(b"x" * 59, data)

    def test_close_without_answer(self):
        # The server spoke (greeting, login) and then closed: so does the client's connection,
        # without an ERR slowtap would have made up (issue 24).
        c = self.client()
        c.send_packet(b"\x03close", 0)
        data = c.read_until_close(CLOSE_WITHIN)
        self.assertEqual(data, b"")
        c.close()
        self.assertIn("Lost connection to MySQL server at '127.0.0.1:%d'" % self.fs.port,
                      self.px.stderr())
        self.assert_alive()

    def test_many_faults_no_leak(self):
        before = self.fs.connections
        for i in range(50):
            c = self.client()
            c.send_packet(b"\x03" + ["bad_colcount", "unsolicited", "truncated",
                                     "bad_first", "truncated_long"][i % 5].encode(), 0)
            self.assertIsNotNone(c.read_until_close(CLOSE_WITHIN))
            c.close()
        self.assertGreaterEqual(self.fs.connections - before, 50)
        self.assert_alive()


if __name__ == "__main__":
    unittest.main()
