"""test_compress.py - the compressed protocol through slowtap (issue 11, item 4): the mariadb CLI
with --compress and mysqlclient with compress=True, with both legs compressed (frames relayed
as they are) and with each --backend-compress setting (frames decoded on one leg and built for
the other). The client's leg is compressed when the CLI's `status` says "Protocol: Compressed"
(a client that expects frames and gets none, or the reverse, fails at once); the backend's when
the server's `SHOW STATUS LIKE 'Compression'` says ON. Results must be identical to a direct
connection, including a 20 MiB result, a 17 MiB row and a 17 MiB INSERT, and statements must
be logged with the right Rows_sent / Rows_affected."""
# It raises the server's global max_allowed_packet to 64M, hence:
# slowtap-test: serial

import hashlib
import os
import random
import socket
import struct
import unittest
import zlib

import MySQLdb

import harness

DB = "st_compress_%d" % os.getpid()

# (slowtap arguments, client compresses) -> backend leg compressed
MODES = [
    ([], True, True),
    ([], False, False),
    (["--backend-compress", "on"], True, True),
    (["--backend-compress", "on"], False, True),
    (["--backend-compress", "off"], True, False),
    (["--backend-compress", "off"], False, False),
]

BIG_ROWS = "SELECT seq, REPEAT(CHAR(65 + seq % 26), 1000) FROM seq_1_to_21000 ORDER BY seq"
BIG_ROW = "SELECT LENGTH(REPEAT('q', 17 << 20)) AS n, REPEAT('q', 17 << 20) AS v"


def cli(port, stmt, compress=True, input=None):
    extra = ["--max-allowed-packet=64M"] + (["--compress"] if compress else [])
    return harness.client_cli(port, stmt, db=DB, extra=extra, input=input, timeout=180)


def find(entries, text):
    return [e for e in entries if text.lower() in e["statement"].lower()]


def digest(text):
    return hashlib.sha256(text.encode("utf-8", "surrogateescape")).hexdigest()


class RawClient:
    """A minimal compressing client over a socket: mysql_native_password login, then zlib
    frames built and read by hand (independently of slowtap's and libmariadb's code)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        seq, greeting = self.read_packet()
        self.caps = struct.unpack("<H", greeting[greeting.index(b"\0", 1) + 14:][:2])[0]
        p = greeting.index(b"\0", 1) + 1 + 4
        salt = greeting[p:p + 8]
        p += 8 + 1 + 2 + 1 + 2 + 2
        alen = greeting[p]
        salt += greeting[p + 11:p + 11 + max(13, alen - 8) - 1]
        h1 = hashlib.sha1(b"apppass").digest()
        scramble = bytes(a ^ b for a, b in zip(h1, hashlib.sha1(
            salt + hashlib.sha1(h1).digest()).digest()))
        caps = 0x1 | 0x4 | 0x8 | 0x20 | 0x200 | 0x8000 | 0x80000  # ... COMPRESS, PLUGIN_AUTH
        resp = (struct.pack("<IIB23x", caps, 1 << 24, 33) + b"app\0" + bytes([20]) + scramble
                + DB.encode() + b"\0" + b"mysql_native_password\0")
        self.sock.sendall(struct.pack("<I", len(resp))[:3] + bytes([seq + 1]) + resp)
        _, ok = self.read_packet()
        if ok[0] != 0:
            raise AssertionError("login failed: %r" % ok[:80])

    def recv(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_packet(self):
        h = self.recv(4)
        return h[3], self.recv(struct.unpack("<I", h[:3] + b"\0")[0])

    def send_frame(self, payload, seq, compress=True):
        if compress:
            body = zlib.compress(payload)
            hdr = struct.pack("<I", len(body))[:3] + bytes([seq]) + struct.pack("<I", len(payload))[:3]
        else:
            body = payload
            hdr = struct.pack("<I", len(body))[:3] + bytes([seq]) + b"\0\0\0"
        self.sock.sendall(hdr + body)

    def read_frames(self, until):
        """Reads frames until the decoded stream satisfies until(packets); returns the
        frames' (seq, stored) and the decoded packets' payloads."""
        plain, frames = b"", []
        while True:
            h = self.recv(7)
            clen = struct.unpack("<I", h[:3] + b"\0")[0]
            ulen = struct.unpack("<I", h[4:7] + b"\0")[0]
            body = self.recv(clen)
            frames.append((h[3], ulen == 0))
            plain += zlib.decompress(body) if ulen else body
            packets, p = [], 0
            while p + 4 <= len(plain):
                n = struct.unpack("<I", plain[p:p + 3] + b"\0")[0]
                if p + 4 + n > len(plain):
                    break
                packets.append(plain[p + 4:p + 4 + n])
                p += 4 + n
            if until(packets):
                return frames, packets


def query_packet(sql):
    body = b"\x03" + sql.encode()
    return struct.pack("<I", len(body))[:3] + b"\0" + body


class Compress(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        rows = cls.srv.sql("SELECT @@global.max_allowed_packet")
        if int(rows[0][0]) < 64 << 20:
            cls.srv.sql("SET GLOBAL max_allowed_packet = %d" % (64 << 20))
        cls.srv.fresh_db(DB)
        cls.srv.sql("CREATE TABLE t (id INT PRIMARY KEY, name VARCHAR(40), note TEXT);"
                    "INSERT INTO t VALUES (1,'ann','short'),(2,'bob',REPEAT('abc', 500)),"
                    "(3,'cid',NULL);"
                    "CREATE TABLE big (id INT PRIMARY KEY, v LONGTEXT)", db=DB)
        q = "SELECT id, name, note FROM t ORDER BY id"
        cls.small_q = q
        cls.small_direct = cli(cls.srv.port, q, compress=False).stdout

    def test_cli_modes(self):
        """Each mode: the client's and the backend's leg compressed as configured; a small
        result, a multi-statement, an error, all identical to direct and logged."""
        for args, client_z, backend_z in MODES:
            with self.subTest(args=args, client=client_z):
                with harness.Slowtap(args) as px:
                    r = cli(px.port, "status; SHOW STATUS LIKE 'Compression'", compress=client_z)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual("Protocol:\t\tCompressed" in r.stdout, client_z, r.stdout)
                    self.assertIn("Compression\t%s" % ("ON" if backend_z else "OFF"), r.stdout)

                    r = cli(px.port, self.small_q, compress=client_z)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(r.stdout, self.small_direct)

                    multi = "SELECT 1; SELECT name FROM t WHERE id = 2; SELECT COUNT(*) FROM t"
                    r = cli(px.port, multi, compress=client_z)
                    self.assertEqual(r.stdout, cli(self.srv.port, multi, compress=False).stdout)

                    r = cli(px.port, "SELECT * FROM no_such_table", compress=client_z)
                    self.assertNotEqual(r.returncode, 0)
                    self.assertIn("ERROR 1146 (42S02)", r.stderr)
                    # the session survives an error
                    r = cli(px.port, "SELECT * FROM no_such_table_2; ", compress=client_z)
                    self.assertIn("1146", r.stderr)

                    entries = px.entries()
                    sel = find(entries, self.small_q)
                    self.assertEqual(len(sel), 1, [e["statement"] for e in entries])
                    self.assertEqual(sel[0]["rows_sent"], 3, sel[0]["raw"])
                    err = find(entries, "no_such_table")
                    self.assertEqual(len(err), 2)
                    self.assertIn("1146", err[0]["error"], err[0]["raw"])
                    self.assertNotIn("closing", px.stderr())

    def test_cli_big(self):
        """A 21 MB result of 21000 rows, a 17 MiB single row and a 17 MiB INSERT in each mode
        with a compressed client: identical to direct, logged with their row counts."""
        direct_rows = cli(self.srv.port, BIG_ROWS, compress=False)
        self.assertEqual(direct_rows.returncode, 0, direct_rows.stderr)
        self.assertGreater(len(direct_rows.stdout), 20 << 20)
        direct_row = cli(self.srv.port, BIG_ROW, compress=False)
        self.assertEqual(direct_row.returncode, 0, direct_row.stderr)
        want_rows, want_row = digest(direct_rows.stdout), digest(direct_row.stdout)
        value = "".join(chr(97 + i % 26) for i in range(4096)) * ((17 << 20) // 4096)
        want_md5 = hashlib.md5(value.encode()).hexdigest()
        modes = [m for m in MODES if m[1]] + [(["--backend-compress", "on"], False, True)]
        for i, (args, client_z, backend_z) in enumerate(modes):
            with self.subTest(args=args, client=client_z):
                with harness.Slowtap(args) as px:
                    r = cli(px.port, BIG_ROWS, compress=client_z)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(digest(r.stdout), want_rows)
                    r = cli(px.port, BIG_ROW, compress=client_z)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(digest(r.stdout), want_row)
                    ins = "INSERT INTO big VALUES (%d, '%s');\n" % (i + 1, value)
                    r = cli(px.port, None, compress=client_z, input=ins)
                    self.assertEqual(r.returncode, 0, r.stderr[-300:])
                    r = cli(px.port, "SELECT LENGTH(v), MD5(v) FROM big WHERE id = %d" % (i + 1),
                            compress=client_z)
                    self.assertEqual(r.stdout, "%d\t%s\n" % (len(value), want_md5), r.stderr)

                    entries = px.entries()
                    e = find(entries, "FROM seq_1_to_21000")
                    self.assertEqual(len(e), 1)
                    self.assertEqual(e[0]["rows_sent"], 21000, e[0]["raw"])
                    e = find(entries, "REPEAT('q', 17 << 20)")
                    self.assertEqual(len(e), 1)
                    self.assertEqual(e[0]["rows_sent"], 1, e[0]["raw"])
                    self.assertGreater(e[0]["bytes_sent"], 17 << 20, e[0]["raw"])
                    e = find(entries, "INSERT INTO big VALUES (%d, 'abcdefgh" % (i + 1))
                    self.assertEqual(len(e), 1)
                    self.assertEqual(e[0]["rows_affected"], 1, e[0]["raw"])
                    self.assertNotIn("closing", px.stderr())

    def mysqlclient_session(self, port, compress):
        conn = MySQLdb.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                               database=DB, compress=compress)
        out = []
        try:
            cur = conn.cursor()
            cur.execute("SHOW STATUS LIKE 'Compression'")
            status = cur.fetchall()[0][1]
            cur.execute("SELECT id, name, note FROM t ORDER BY id")
            out.append(cur.fetchall())
            cur.execute("CREATE TEMPORARY TABLE tmp (id INT PRIMARY KEY, b LONGBLOB)")
            cur.executemany("INSERT INTO tmp VALUES (%s, %s)",
                            [(k, bytes([k % 251]) * (k * 7919)) for k in range(1, 40)])
            out.append(cur.rowcount)
            blob = random.Random(7).randbytes(3 << 20)  # incompressible: stored frames
            cur.execute("INSERT INTO tmp VALUES (100, %s)", (blob,))
            cur.execute("SELECT id, LENGTH(b), MD5(b) FROM tmp ORDER BY id")
            out.append(cur.fetchall())
            cur.execute("SELECT b FROM tmp WHERE id = 100")
            out.append(cur.fetchall()[0][0] == blob)
            try:
                cur.execute("SELECT nope FROM t")
            except MySQLdb.OperationalError as e:
                out.append(e.args[0])
            cur.execute("SELECT SUM(LENGTH(b)) FROM tmp")
            out.append(cur.fetchall())
            conn.commit()
        finally:
            conn.close()
        return status, out

    def test_mysqlclient(self):
        _, direct = self.mysqlclient_session(self.srv.port, True)
        self.assertTrue(direct[3])
        for args, client_z, backend_z in MODES:
            if not client_z:
                continue
            with self.subTest(args=args):
                with harness.Slowtap(args) as px:
                    status, via = self.mysqlclient_session(px.port, True)
                    self.assertEqual(status, "ON" if backend_z else "OFF")
                    self.assertEqual(via, direct)
                    entries = px.entries()
                    e = find(entries, "SELECT id, LENGTH(b), MD5(b) FROM tmp")
                    self.assertEqual(len(e), 1)
                    self.assertEqual(e[0]["rows_sent"], 40, e[0]["raw"])
                    # executemany: multi-row INSERTs of up to 64 KiB each, and the blob
                    e = find(entries, "INSERT INTO tmp VALUES (")
                    self.assertGreater(len(e), 2)
                    self.assertEqual(sum(x["rows_affected"] for x in e), 40)
                    self.assertNotIn("closing", px.stderr())

    def test_raw_frames(self):
        """Frames built by hand: the greeting offers CLIENT_COMPRESS, a query in a compressed
        frame and one in a stored frame get their result sets in frames whose sequence ids
        continue the command's, and a frame that does not decode gets ERROR 1156 in a stored
        frame before the connection closes; the proxy stays up."""
        def done(packets):  # no DEPRECATE_EOF: an EOF after the columns, one after the rows
            return sum(1 for p in packets if p[:1] == b"\xfe" and len(p) < 9) >= 2

        for args in ([], ["--backend-compress", "off"]):
            with self.subTest(args=args), harness.Slowtap(args) as px:
                c = RawClient(px.port)
                self.assertTrue(c.caps & 0x20, "CLIENT_COMPRESS not offered")
                q = "SELECT name, REPEAT(name, 30) FROM t ORDER BY id"
                c.send_frame(query_packet(q), 0)
                frames, packets = c.read_frames(done)
                self.assertEqual(frames[0][0], 1, frames)
                self.assertEqual([f[0] for f in frames], list(range(1, len(frames) + 1)))
                rows = [p for p in packets if p[:1] not in (b"\xfe",)][3:]
                self.assertEqual(rows[0][1:4], b"ann")
                self.assertEqual(len(rows), 3, packets)
                c.send_frame(query_packet("SELECT 1"), 0, compress=False)
                frames, packets = c.read_frames(done)
                self.assertEqual(frames[0][0], 1, frames)
                self.assertIn(b"\x011", packets)

                c.sock.sendall(b"\x0a\x00\x00\x00\x64\x00\x00" + b"not zlib!!")
                frames, packets = c.read_frames(lambda pk: len(pk) >= 1)
                self.assertTrue(frames[0][1], "the ERR is not in a stored frame")
                self.assertEqual(packets[0][0], 0xFF)
                self.assertEqual(struct.unpack("<H", packets[0][1:3])[0], 1156)
                self.assertEqual(c.sock.recv(100), b"")  # closed
                c.sock.close()
                self.assertIn("Bad compressed packet", px.stderr())
                r = cli(px.port, "SELECT 42", compress=True)
                self.assertEqual(r.stdout, "42\n", r.stderr)


if __name__ == "__main__":
    unittest.main(verbosity=2)
