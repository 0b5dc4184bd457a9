"""test_faults_client.py - clients that misbehave, against the real proxy and MariaDB: killed
in the middle of a result set (the backend connection is released), reading a 100 MiB result
very slowly (the proxy's memory stays bounded: it pauses reading the backend), silent or
half-sent handshakes (closed after --handshake-timeout), malformed packets and handshakes
(relayed, fail open: the client gets byte for byte what the server answers directly), and 1000 connect/fault cycles without leaking
descriptors or memory while a bystander client's results stay intact."""

import os
import socket
import struct
import sys
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import harness  # noqa: E402
from faultutil import (Bystander, connect, fd_count, in_processlist, rss_kb,  # noqa: E402
                       sanitized, wait_until)
from mywire import RawClient, parse_err, split_packets  # noqa: E402

DB = "faults_client"
BIG_ROWS = 100        # rows of 1 MiB: a 100 MiB result
ROW_BYTES = 1 << 20


def conn_id(c):
    pk = c.query("SELECT CONNECTION_ID()")
    return int(pk[-2][1:].decode())


def open_big_result(port, rows, row_bytes):
    """A raw client that has sent a query for `rows` rows of `row_bytes` bytes; returns
    (client, backend connection id)."""
    c = RawClient(port, db=DB, timeout=30)
    c.login()
    cid = conn_id(c)
    c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 << 10)
    c.send_packet(b"\x03SELECT seq, REPEAT('x', %d) FROM seq_1_to_%d" % (row_bytes, rows), 0)
    return c, cid


class ClientFaults(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.px = harness.Slowtap(args=["--threads", "2"], long_query_time="10").__enter__()
        cls.asan = sanitized(cls.px.proc.pid)

    @classmethod
    def tearDownClass(cls):
        cls.px.__exit__(None, None, None)

    def assert_alive(self):
        self.assertIsNone(self.px.proc.poll(), "proxy exited: " + self.px.stderr()[-2000:])
        c = connect(self.px.port)
        try:
            cur = c.cursor()
            cur.execute("SELECT 42")
            self.assertEqual(cur.fetchone()[0], 42)
        finally:
            c.close()

    # -- killed in the middle of a result set ---------------------------------------------

    def test_client_killed_mid_result(self):
        for how in ("reset", "close"):
            c, cid = open_big_result(self.px.port, 200, 64 << 10)
            got = c.sock.recv(200 << 10)
            self.assertTrue(got, "no result bytes")
            self.assertTrue(in_processlist(self.srv, cid))
            if how == "reset":
                c.abort()
            else:
                c.close()
            self.assertTrue(wait_until(lambda: not in_processlist(self.srv, cid), 5),
                            "%s: backend connection %d still in the processlist" % (how, cid))
        self.assert_alive()

    # -- a very slow reader ------------------------------------------------------------

    def test_slow_reader_bounded_memory(self):
        pid = self.px.proc.pid
        base = rss_kb(pid)
        c, cid = open_big_result(self.px.port, BIG_ROWS, ROW_BYTES)
        # Read nothing for a while: MariaDB could send the whole result meanwhile.
        peak = base
        for _ in range(20):
            time.sleep(0.1)
            peak = max(peak, rss_kb(pid))
        # Then read it slowly, in small pieces, checking every row.
        c.sock.settimeout(30)
        _, p = c.read_packet()
        self.assertEqual(p, b"\x02")
        c.read_packet(), c.read_packet()
        _, eof = c.read_packet()
        self.assertEqual(eof[0], 0xFE)
        rows = 0
        expect_tail = b"\xfd" + struct.pack("<I", ROW_BYTES)[:3] + b"x" * 16
        last = time.monotonic()
        while True:
            _, p = c.read_packet()
            if p[0] == 0xFE and len(p) < 9:
                break
            self.assertNotEqual(p[0], 0xFF, parse_err(p) if p[0] == 0xFF else "")
            rows += 1
            seqtxt = str(rows).encode()
            self.assertEqual(p[:1 + len(seqtxt)], bytes([len(seqtxt)]) + seqtxt)
            self.assertEqual(p[1 + len(seqtxt):1 + len(seqtxt) + 20], expect_tail)
            self.assertEqual(len(p), 1 + len(seqtxt) + 4 + ROW_BYTES)
            if time.monotonic() - last > 0.1:
                peak = max(peak, rss_kb(pid))
                last = time.monotonic()
            if rows % 4 == 0:
                time.sleep(0.02)
        peak = max(peak, rss_kb(pid))
        self.assertEqual(rows, BIG_ROWS)
        c.close()
        growth_mib = (peak - base) / 1024.0
        print("slow reader: proxy RSS %d KiB before, peak %d KiB (+%.1f MiB)%s"
              % (base, peak, growth_mib, " (ASan: not checked)" if self.asan else ""),
              file=sys.stderr)
        if not self.asan:
            self.assertLess(growth_mib, 64, "proxy RSS grew by %.1f MiB for a slow reader"
                            % growth_mib)
        self.assert_alive()

    # -- handshake timeouts -------------------------------------------------------------

    def check_timeout(self, send):
        # Its own proxy: on a loaded machine a 1 s limit could catch ordinary clients too.
        with harness.Slowtap(args=["--handshake-timeout", "1"]) as px:
            self.check_timeout_on(px, send)

    def check_timeout_on(self, px, send):
        s = socket.create_connection(("127.0.0.1", px.port), timeout=10)
        start = time.monotonic()
        if send:
            s.sendall(send)
        data = b""
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
        elapsed = time.monotonic() - start
        s.close()
        self.assertGreater(elapsed, 0.8)
        self.assertLess(elapsed, 3.0, "closed after %.1f s, --handshake-timeout is 1" % elapsed)
        pk = split_packets(data)
        self.assertEqual(pk[0][1][0], 0x0A, "no greeting")
        self.assertEqual(pk[-1][1][0], 0xFF)
        code, state, msg = parse_err(pk[-1][1])
        self.assertEqual((code, state), (1043, "08S01"))
        self.assertIn("timeout", msg)
        self.assertIsNone(px.proc.poll())
        self.assertIn("timeout", px.stderr())

    def test_silent_client_timeout(self):
        self.check_timeout(b"")
        self.assert_alive()

    def test_half_handshake_timeout(self):
        # A header promising 80 bytes, 10 of them.
        self.check_timeout(b"\x50\x00\x00\x01" + b"\x85\xa6\x3f\x20" + b"\0" * 6)
        self.assert_alive()

    def garbage_handshake(self, port):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.recv(65536)  # greeting
        s.sendall(b"\x05\x00\x00\x01hello")
        c = RawClient.__new__(RawClient)
        c.sock, c.buf = s, b""
        data = c.read_until_close(5)
        s.close()
        return data

    def test_garbage_handshake(self):
        # slowtap cannot read it, so it relays it (fail open): the server answers as directly.
        direct = self.garbage_handshake(self.srv.port)
        data = self.garbage_handshake(self.px.port)
        self.assertIsNotNone(data)
        self.assertEqual(data, direct)
        pk = split_packets(data)
        self.assertEqual(len(pk), 1)
        self.assertEqual(pk[0][0], 2)
        self.assertIn("untracked: the client sent a handshake response slowtap cannot read",
                      self.px.stderr())
        self.assert_alive()

    # -- malformed packets after login --------------------------------------------------

    def send_after_login(self, port, raw, half_close):
        """The bytes a client gets after `raw` following its login: until the peer closes, or
        None when it has not closed after 3 s; and the backend connection's id."""
        c = RawClient(port)
        c.login()
        cid = conn_id(c)
        c.send_raw(raw)
        if half_close:
            c.sock.shutdown(socket.SHUT_WR)
        data = c.read_until_close(3)
        c.close()
        return data, cid

    def malformed(self, raw, expect_err=True, half_close=False):
        """What slowtap does with packets it cannot place after login is what the server does
        directly: slowtap relays them (fail open) and the server answers."""
        direct, _ = self.send_after_login(self.srv.port, raw, half_close)
        data, cid = self.send_after_login(self.px.port, raw, half_close)
        self.assertEqual(data, direct, "through slowtap %r, directly %r" % (data, direct))
        if expect_err:
            pk = split_packets(data)
            self.assertEqual(len(pk), 1, pk)
            seq, p = pk[0]
            code, state, msg = parse_err(p)
            self.assertEqual((code, state), (1156, "08S01"))
            self.assertIn("out of order", msg)
        self.assertTrue(wait_until(lambda: not in_processlist(self.srv, cid), 5),
                        "backend connection %d not released" % cid)
        self.assert_alive()
        return data

    def test_command_with_sequence_5(self):
        data = self.malformed(b"\x09\x00\x00\x05\x03SELECT 1")
        self.assertEqual(data[4:7], b"\xff\x84\x04")
        self.assertIn("untracked: the client sent a command packet with sequence id 5",
                      self.px.stderr())

    def test_garbage_after_auth(self):
        self.malformed(b"\xde\xad\xbe\xef" + bytes(range(256)) * 4)

    def test_empty_packet_after_auth(self):
        # MariaDB neither answers an empty packet nor closes: neither does slowtap.
        direct, _ = self.send_after_login(self.srv.port, b"\x00\x00\x00\x00", False)
        self.assertIsNone(direct)
        data, _ = self.send_after_login(self.px.port, b"\x00\x00\x00\x00", False)
        self.assertIsNone(data)
        self.assertIn("untracked: the client sent an empty packet", self.px.stderr())
        self.assert_alive()

    def test_length_lies_then_close(self):
        # Header says 100 bytes, 10 come, then the client half-closes: nothing can answer it,
        # but the connection and its backend are released and the proxy serves on.
        data = self.malformed(b"\x64\x00\x00\x00\x03SELECT 1", expect_err=False,
                              half_close=True)
        self.assertEqual(data, b"")

    def test_length_lies_then_reset(self):
        c = RawClient(self.px.port)
        c.login()
        cid = conn_id(c)
        c.send_raw(b"\x64\x00\x00\x00\x03SELECT 1")
        time.sleep(0.1)
        c.abort()
        self.assertTrue(wait_until(lambda: not in_processlist(self.srv, cid), 5))
        self.assert_alive()

    # -- no leaks over 1000 cycles ------------------------------------------------------

    def cycle(self, i):
        kind = i % 5
        if kind == 0:  # normal session
            c = RawClient(self.px.port, db=DB)
            c.login()
            pk = c.query("SELECT %d" % i)
            self.assertEqual(pk[-2], bytes([len(str(i))]) + str(i).encode())
            c.send_packet(b"\x01", 0)
            c.close()
        elif kind == 1:  # killed mid-result
            c, _ = open_big_result(self.px.port, 50, 8 << 10)
            c.sock.recv(4096)
            c.abort()
        elif kind == 2:  # out-of-order packet
            c = RawClient(self.px.port)
            c.login()
            c.send_raw(b"\x02\x00\x00\x05\x0e\x00")
            self.assertIsNotNone(c.read_until_close(5))
            c.close()
        elif kind == 3:  # gone during the handshake
            s = socket.create_connection(("127.0.0.1", self.px.port), timeout=10)
            s.recv(100)
            s.sendall(b"\x50\x00\x00\x01abc")
            s.close()
        else:  # length that lies, then a close
            c = RawClient(self.px.port)
            c.login()
            c.send_raw(b"\x64\x00\x00\x00\x03SELECT 1")
            c.close()

    def test_no_leaks_over_1000_fault_cycles(self):
        pid = self.px.proc.pid
        by = Bystander(self.px.port, pause=0.002)
        by.start()
        try:
            for i in range(150):  # warm-up: pools, buffers, threads' arenas
                self.cycle(i)
            time.sleep(0.5)
            fds0, rss0 = fd_count(pid), rss_kb(pid)
            for i in range(150, 1150):
                self.cycle(i)
            # Sessions torn down by the peer's close may take a tick to go.
            wait_until(lambda: fd_count(pid) <= fds0, 10)
            time.sleep(0.3)
            fds1, rss1 = fd_count(pid), rss_kb(pid)
        finally:
            self.assertTrue(by.finish())
        print("1000 fault cycles: fds %d -> %d, RSS %d -> %d KiB; bystander %d statements ok"
              % (fds0, fds1, rss0, rss1, by.ok), file=sys.stderr)
        self.assertEqual(by.failures, [], "bystander results lost or corrupted")
        self.assertGreater(by.ok, 50)
        self.assertLessEqual(fds1, fds0 + 2, "descriptors: %d after warm-up, %d after 1000 "
                             "fault cycles" % (fds0, fds1))
        if not self.asan:
            self.assertLess(rss1 - rss0, 8 * 1024, "RSS: %d KiB after warm-up, %d KiB after "
                            "1000 fault cycles" % (rss0, rss1))
        self.assert_alive()


if __name__ == "__main__":
    unittest.main()
