"""test_faults_fakeserver.py - the proxy in front of a scripted fake server
(tests/tools/fakeserver.py) that sends broken responses: a result set with more column
definitions than its column count, a response starting with an impossible byte, a packet when
no command is pending, a truncated packet then a close.

Fail open: a packet slowtap cannot place reaches the client exactly as the server sent it, the
client stays connected and its next commands are relayed (unexamined), stderr says so once
with the packet's first bytes in hex, slowtap_sessions_untracked_total counts the session and
the command it lost track of is logged with "# Untracked: Yes". A server that closes mid-answer
still ends the client's connection. The proxy stays alive and other sessions are untouched."""

import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import types
import unittest
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import harness  # noqa: E402
from fakeserver import FakeServer  # noqa: E402
from fakeserver import _lenc_str, _pkt, coldef, eof_packet, ok_packet  # noqa: E402
from mywire import RawClient, split_packets  # noqa: E402

CLOSE_WITHIN = 5.0


class FakeServerFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.fs = FakeServer().__enter__()
        cls.http_port = harness.free_port()
        cls.px = harness.Slowtap(server=types.SimpleNamespace(host="127.0.0.1",
                                                              port=cls.fs.port),
                                 args=["--http", "127.0.0.1:%d" % cls.http_port]).__enter__()

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

    def untracked_total(self):
        body = urllib.request.urlopen("http://127.0.0.1:%d/metrics" % self.http_port,
                                      timeout=5).read().decode()
        m = re.search(r"^slowtap_sessions_untracked_total (\d+)$", body, re.M)
        self.assertIsNotNone(m, "no slowtap_sessions_untracked_total in /metrics")
        return int(m.group(1))

    def run_untracked(self, script, expect, reason, first_hex):
        """Sends `script` on one connection (a bystander open beside it): the client must get
        exactly `expect` (the fake server's bytes), stay connected and be served afterwards;
        the session is counted, said once on stderr and its command logged as untracked."""
        before = self.untracked_total()
        bystander = self.client()
        c = self.client()
        self.assert_ok_query(c)
        c.send_packet(b"\x03" + script.encode(), 0)
        got = c.read_exactly(len(expect), CLOSE_WITHIN)
        self.assertEqual(got, expect, "%s: the client got other bytes than the server sent"
                         % script)
        # still connected; the next command is relayed and answered (unexamined)
        self.assert_ok_query(c)
        self.assert_ok_query(bystander)  # other sessions are untouched
        c.close()
        bystander.close()
        self.assertEqual(self.untracked_total(), before + 1)
        lines = [ln for ln in self.px.stderr().splitlines() if "untracked:" in ln]
        self.assertTrue(any(first_hex in ln for ln in lines), lines[-3:])
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            ent = [e for e in harness.parse_slowlog(self.px.log_text())
                   if e["flags"].get("Untracked_reason") == reason
                   and e["statement"] == script]
            if ent:
                break
            time.sleep(0.1)
        self.assertTrue(ent, "no '# Untracked: Yes' entry for %s" % script)
        self.assertEqual(ent[-1]["flags"].get("Untracked"), "Yes")
        self.assert_log_tools_read(script)
        self.assert_alive()

    def assert_log_tools_read(self, script):
        """pt-query-digest and mariadb-dumpslow still read a log with untracked entries."""
        text = self.px.log_text()
        rc, err, doc = harness.pt_query_digest_json(text)
        self.assertEqual(rc, 0, err)
        self.assertTrue(any(c.get("fingerprint") == script for c in doc["classes"]),
                        [c.get("fingerprint") for c in doc["classes"]])
        with tempfile.NamedTemporaryFile("w", suffix=".log") as f:
            f.write(text)
            f.flush()
            r = subprocess.run(["mariadb-dumpslow", "-s", "c", f.name], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn(script, r.stdout)

    def test_too_many_column_definitions(self):
        expect = (_pkt(b"\x01", 1) + _pkt(coldef("a"), 2) + _pkt(coldef("b"), 3) +
                  _pkt(eof_packet(), 4) + _pkt(_lenc_str(b"x") + _lenc_str(b"y"), 5) +
                  _pkt(eof_packet(), 6))
        # lost at the second definition: its first bytes are "def" as a length-coded string
        self.run_untracked("bad_colcount", expect, "unplaceable_response", "03 64 65 66")

    def test_impossible_first_byte(self):
        self.run_untracked("bad_first", _pkt(b"\xfc\x01", 1), "unplaceable_response", "fc 01")

    def test_packet_when_no_command_pending(self):
        # The real answer ends the command; the second OK comes when nothing is pending: it
        # reaches the client as it would directly. The command itself completed normally.
        before = self.untracked_total()
        c = self.client()
        c.send_packet(b"\x03unsolicited", 0)
        expect = _pkt(ok_packet(), 1) * 2
        self.assertEqual(c.read_exactly(len(expect), CLOSE_WITHIN), expect)
        self.assert_ok_query(c)
        c.close()
        self.assertEqual(self.untracked_total(), before + 1)
        self.assertIn("when no command was pending", self.px.stderr())
        self.assert_alive()

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
            script = ["bad_colcount", "unsolicited", "truncated", "bad_first",
                      "truncated_long"][i % 5]
            c.send_packet(b"\x03" + script.encode(), 0)
            if script.startswith("truncated"):
                self.assertIsNotNone(c.read_until_close(CLOSE_WITHIN))
            else:
                time.sleep(0.02)
            c.close()
        self.assertGreaterEqual(self.fs.connections - before, 50)
        self.assert_alive()

class UnreadableGreeting(unittest.TestCase):
    """A greeting slowtap cannot read (protocol version 9) is relayed as it is, and the
    connection goes on as a plain relay of bytes: the client talks to the server as directly."""

    def test_relayed_blindly(self):
        bad = b"\x09" + b"4.0-ancient\0" + b"\x07" * 20
        with FakeServer(greeting_payload=bad) as fs, \
                harness.Slowtap(server=types.SimpleNamespace(host="127.0.0.1",
                                                             port=fs.port)) as px:
            c = RawClient(px.port, timeout=CLOSE_WITHIN)
            self.assertEqual(c.read_exactly(4 + len(bad), CLOSE_WITHIN), _pkt(bad, 0))
            c.send_packet(b"\x00" * 32 + b"app\0\0", 1)  # any handshake response
            self.assertEqual(c.read_exactly(11, CLOSE_WITHIN), _pkt(ok_packet(), 2))
            pk = c.query("ok")
            self.assertEqual(pk[-2], b"\x02ok")
            c.close()
            self.assertIn("untracked: the backend 127.0.0.1:%d sent a greeting slowtap cannot "
                          "read" % fs.port, px.stderr())
            self.assertIn("first bytes: 09 34 2e 30", px.stderr())
            self.assertEqual(fs.errors, [])


if __name__ == "__main__":
    unittest.main()
