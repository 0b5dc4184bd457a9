#!/usr/bin/python3
"""fakeserver.py - a small scripted fake MySQL server for fault tests: it speaks a valid
greeting (mysql_native_password, no TLS, no compression, no DEPRECATE_EOF), accepts any login
with OK, and answers each COM_QUERY by the script named by the query text:

  ok            a valid result set: one column `c`, one row 'ok', EOF
  bad_colcount  a result set whose column count (1) is lower than the column definitions sent
                (2), then EOF, a row and EOF
  bad_first     a response whose column count is a truncated length-encoded integer (FC 01)
  unsolicited   a valid OK, then 50 ms later a second OK nobody asked for
  truncated     column count, definition, EOF, then a row packet whose header says 100 bytes,
                only 10 of them, and the connection closed
  truncated_long  the same with 60 of the 100 bytes
  close         the connection closed without any answer
  reset         column count, definition, EOF and one row, then the connection reset (RST)
  anything else an OK packet
COM_PING and COM_INIT_DB get OK; COM_QUIT closes; other commands get ERR 1047.

Use in-process (`with FakeServer() as fs: fs.port`) or as a program:
  fakeserver.py [--port N]      prints "port N" on stdout and serves until killed.
fs.connections counts accepted connections; fs.errors lists exceptions of handler threads.
"""

import socket
import struct
import sys
import threading
import time

CAPS = (0x1 | 0x4 | 0x8 | 0x200 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x80000)


def _pkt(payload, seq):
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload


def _lenc_str(b):
    assert len(b) < 251
    return bytes([len(b)]) + b


def greeting(conn_id):
    salt = b"abcdefgh" + b"ijklmnopqrst"
    return (b"\x0a" + b"5.5.5-10.11.0-fake\0" + struct.pack("<I", conn_id) + salt[:8] + b"\0" +
            struct.pack("<H", CAPS & 0xFFFF) + b"\x2d" + struct.pack("<H", 2) +
            struct.pack("<H", CAPS >> 16) + bytes([21]) + b"\0" * 10 + salt[8:] + b"\0" +
            b"mysql_native_password\0")


def ok_packet(status=2):
    return b"\x00\x00\x00" + struct.pack("<HH", status, 0)


def eof_packet(status=2):
    return b"\xfe" + struct.pack("<HH", 0, status)


def err_packet(code, state, msg):
    return b"\xff" + struct.pack("<H", code) + b"#" + state.encode() + msg.encode()


def coldef(name):
    n = name.encode()
    return (_lenc_str(b"def") + _lenc_str(b"") + _lenc_str(b"") + _lenc_str(b"") +
            _lenc_str(n) + _lenc_str(n) + b"\x0c" + struct.pack("<HIBHB", 45, 255, 253, 0, 0) +
            b"\0\0")


class LoopbackServer:
    """What every fake server here shares: a listener on 127.0.0.1 (port 0: any free one), one
    thread per accepted connection running self._serve(sock, cid, peer_host), the sockets
    closed on close() / leaving the `with` block. cid counts connections from 1; a subclass
    sets conn_timeout for its connections' sockets (None: blocking)."""

    conn_timeout = None

    def __init__(self, port=0):
        self.ls = socket.socket()
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", port))
        self.ls.listen(64)
        self.host = "127.0.0.1"
        self.port = self.ls.getsockname()[1]
        self.connections = 0
        self.errors = []
        self.socks = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        try:
            self.ls.close()
        except OSError:
            pass
        with self._lock:
            for s in self.socks:
                try:
                    s.close()
                except OSError:
                    pass

    def _accept(self):
        while True:
            try:
                c, peer = self.ls.accept()
            except OSError:
                return
            if self.conn_timeout is not None:
                c.settimeout(self.conn_timeout)
            with self._lock:
                self.connections += 1
                cid = self.connections
                self.socks.append(c)
            threading.Thread(target=self._serve, args=(c, cid, peer[0]), daemon=True).start()

    def _serve(self, sock, cid, host):
        raise NotImplementedError


class FakeServer(LoopbackServer):
    """Serves scripted answers (see _script). With greeting_payload, that payload is its
    greeting instead of a valid one (a server slowtap cannot read)."""

    def __init__(self, port=0, greeting_payload=None):
        super().__init__(port)
        self.greeting_payload = greeting_payload

    @staticmethod
    def _read(c, buf, n):
        while len(buf) < n:
            d = c.recv(65536)
            if not d:
                raise EOFError
            buf += d
        return buf

    def _read_packet(self, c, state):
        state[0] = self._read(c, state[0], 4)
        n = struct.unpack("<I", state[0][:3] + b"\0")[0]
        state[0] = self._read(c, state[0], 4 + n)
        seq, payload = state[0][3], state[0][4:4 + n]
        state[0] = state[0][4 + n:]
        return seq, payload

    def _serve(self, c, cid, _host):
        state = [b""]
        try:
            c.sendall(_pkt(self.greeting_payload or greeting(cid), 0))
            seq, _resp = self._read_packet(c, state)
            c.sendall(_pkt(ok_packet(), seq + 1))
            while True:
                _seq, p = self._read_packet(c, state)
                if not p or p[0] == 0x01:  # COM_QUIT
                    return
                if p[0] in (0x0E, 0x02):  # COM_PING, COM_INIT_DB
                    c.sendall(_pkt(ok_packet(), 1))
                    continue
                if p[0] != 0x03:
                    c.sendall(_pkt(err_packet(1047, "08S01", "Unknown command"), 1))
                    continue
                if not self._script(c, p[1:].decode("latin-1").strip()):
                    return
        except (EOFError, OSError):
            pass
        except Exception as e:  # reported to the test
            self.errors.append(e)
        finally:
            try:
                c.close()
            except OSError:
                pass

    def _script(self, c, q):
        """Answers one query; False when the connection is to be closed."""
        if q == "ok":
            c.sendall(_pkt(b"\x01", 1) + _pkt(coldef("c"), 2) + _pkt(eof_packet(), 3) +
                      _pkt(_lenc_str(b"ok"), 4) + _pkt(eof_packet(), 5))
        elif q == "bad_colcount":
            c.sendall(_pkt(b"\x01", 1) + _pkt(coldef("a"), 2) + _pkt(coldef("b"), 3) +
                      _pkt(eof_packet(), 4) + _pkt(_lenc_str(b"x") + _lenc_str(b"y"), 5) +
                      _pkt(eof_packet(), 6))
        elif q == "bad_first":
            c.sendall(_pkt(b"\xfc\x01", 1))
        elif q == "unsolicited":
            c.sendall(_pkt(ok_packet(), 1))
            time.sleep(0.05)
            c.sendall(_pkt(ok_packet(), 1))
        elif q in ("truncated", "truncated_long"):
            n = 9 if q == "truncated" else 59
            c.sendall(_pkt(b"\x01", 1) + _pkt(coldef("c"), 2) + _pkt(eof_packet(), 3) +
                      struct.pack("<I", 100)[:3] + b"\x04" + b"\x63" + b"x" * n)
            time.sleep(0.05)
            return False
        elif q == "close":
            return False
        elif q == "reset":
            c.sendall(_pkt(b"\x01", 1) + _pkt(coldef("c"), 2) + _pkt(eof_packet(), 3) +
                      _pkt(_lenc_str(b"ok"), 4))
            time.sleep(0.05)
            c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            return False
        else:
            c.sendall(_pkt(ok_packet(), 1))
        return True


def main(argv):
    port = 0
    if len(argv) == 3 and argv[1] == "--port":
        port = int(argv[2])
    elif len(argv) != 1:
        print("usage: fakeserver.py [--port N]", file=sys.stderr)
        return 2
    fs = FakeServer(port)
    fs._thread.start()
    print("port %d" % fs.port, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fs.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
