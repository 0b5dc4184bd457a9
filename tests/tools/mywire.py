"""mywire.py - a minimal MySQL wire-protocol client for fault tests: frames packets, logs in
with mysql_native_password over a raw socket, and sends arbitrary (also malformed) bytes so a
test can check, byte for byte, what comes back.

  RawClient(port, user='app', password='apppass', db=None, timeout=10)
      .login()            -> the server's final auth packet payload (raises LoginError on ERR)
      .send_packet(payload, seq=0) / .send_raw(bytes)
      .read_packet()      -> (seq, payload); raises EOFError when the peer closed
      .start_tls(caps)    -> sends an SSL request and wraps the socket (no certificate check)
      .query(sql)         -> list of packets of the response (ends at EOF/OK/ERR of the result)
      .read_until_close(timeout) -> bytes received until the peer closed (None on timeout)
  parse_err(payload) -> (code, sqlstate, message) of an ERR packet payload
  parse_greeting(payload) -> dict(conn_id, salt, caps, plugin, version)
  native_scramble(password, salt) -> the mysql_native_password response
"""

import hashlib
import socket
import ssl
import struct
import time

CLIENT_LONG_PASSWORD = 0x1
CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_SSL = 0x800
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_MULTI_RESULTS = 0x20000
CLIENT_PLUGIN_AUTH = 0x80000


class LoginError(Exception):
    pass


def packet(payload, seq=0):
    """One physical packet: 3-byte length, sequence id, payload (must be < 16 MiB)."""
    return struct.pack("<I", len(payload))[:3] + bytes([seq & 0xFF]) + payload


def native_scramble(password, salt):
    if not password:
        return b""
    p1 = hashlib.sha1(password.encode()).digest()
    p2 = hashlib.sha1(p1).digest()
    p3 = hashlib.sha1(salt + p2).digest()
    return bytes(a ^ b for a, b in zip(p1, p3))


def parse_greeting(p):
    i = 1
    end = p.index(b"\0", i)
    version = p[i:end].decode("latin-1")
    i = end + 1
    conn_id = struct.unpack_from("<I", p, i)[0]
    i += 4
    salt = p[i:i + 8]
    i += 9
    caps = struct.unpack_from("<H", p, i)[0]
    i += 2
    plugin = ""
    if len(p) > i:
        i += 3  # charset, status
        caps |= struct.unpack_from("<H", p, i)[0] << 16
        i += 2
        alen = p[i]
        i += 11
        n = max(13, alen - 8)
        salt += p[i:i + n].rstrip(b"\0")
        i += n
        if i < len(p):
            plugin = p[i:].split(b"\0")[0].decode("latin-1")
    return {"version": version, "conn_id": conn_id, "salt": salt[:20], "caps": caps,
            "plugin": plugin}


def parse_err(p):
    """(code, sqlstate, message) of an ERR payload (0xFF ...)."""
    if not p or p[0] != 0xFF:
        raise ValueError("not an ERR packet: %r" % p[:16])
    code = struct.unpack_from("<H", p, 1)[0]
    if len(p) > 3 and p[3:4] == b"#":
        return code, p[4:9].decode("latin-1"), p[9:].decode("utf-8", "replace")
    return code, "", p[3:].decode("utf-8", "replace")


class RawClient:
    def __init__(self, port, user="app", password="apppass", db=None, timeout=10.0,
                 host="127.0.0.1"):
        self.user = user
        self.password = password
        self.db = db
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(timeout)
        self.buf = b""
        self.greeting = None
        self.last_seq = 0

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def abort(self):
        """Closes with a TCP reset (SO_LINGER 0): a client that was killed."""
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
        self.close()

    def _fill(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(1 << 16)
            if not d:
                raise EOFError("peer closed (%d bytes buffered)" % len(self.buf))
            self.buf += d

    def read_packet(self):
        self._fill(4)
        n = struct.unpack("<I", self.buf[:3] + b"\0")[0]
        seq = self.buf[3]
        self._fill(4 + n)
        payload = self.buf[4:4 + n]
        self.buf = self.buf[4 + n:]
        self.last_seq = seq
        return seq, payload

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_packet(self, payload, seq=0):
        self.sock.sendall(packet(payload, seq))

    def read_greeting(self):
        _, p = self.read_packet()
        if p[:1] == b"\xff":
            raise LoginError("server refused: %r" % (parse_err(p),))
        self.greeting = parse_greeting(p)
        return self.greeting

    def start_tls(self, caps, seq=1):
        """Sends the SSL request (32 bytes: caps | CLIENT_SSL) and upgrades the socket to TLS
        without verifying the certificate; returns caps | CLIENT_SSL for the handshake
        response, which follows with sequence id seq + 1."""
        caps |= CLIENT_SSL
        self.send_packet(struct.pack("<IIB23x", caps, 1 << 24, 45), seq)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        self.sock = ctx.wrap_socket(self.sock)
        return caps

    def login(self):
        g = self.read_greeting()
        caps = (CLIENT_LONG_PASSWORD | CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS |
                CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH | CLIENT_MULTI_RESULTS)
        if self.db:
            caps |= CLIENT_CONNECT_WITH_DB
        auth = native_scramble(self.password, g["salt"])
        body = struct.pack("<IIB23x", caps, 1 << 24, 45)
        body += self.user.encode() + b"\0" + bytes([len(auth)]) + auth
        if self.db:
            body += self.db.encode() + b"\0"
        body += b"mysql_native_password\0"
        self.send_packet(body, 1)
        while True:
            seq, p = self.read_packet()
            if p[:1] == b"\x00":
                return p
            if p[:1] == b"\xff":
                raise LoginError("login failed: %r" % (parse_err(p),))
            if p[:1] == b"\xfe":  # auth switch: answer for mysql_native_password
                name, _, data = p[1:].partition(b"\0")
                if name != b"mysql_native_password":
                    raise LoginError("unsupported auth switch to %r" % name)
                self.send_packet(native_scramble(self.password, data[:20]), seq + 1)
                continue
            raise LoginError("unexpected auth packet %r" % p[:16])

    def query(self, sql):
        """Sends COM_QUERY and reads one text result (no multi-results): returns the packets
        (payloads) of the response, the last being OK, ERR or the final EOF."""
        if isinstance(sql, str):
            sql = sql.encode()
        self.send_packet(b"\x03" + sql, 0)
        out = []
        _, p = self.read_packet()
        out.append(p)
        if p[0] in (0x00, 0xFF):
            return out
        eofs = 0
        while eofs < 2:
            _, p = self.read_packet()
            out.append(p)
            if p[0] == 0xFF:
                return out
            if p[0] == 0xFE and len(p) < 9:
                eofs += 1
        return out

    def read_exactly(self, n, timeout):
        """The next n bytes (buffered ones first); AssertionError when they have not all come
        within `timeout` seconds or the peer closed first."""
        deadline = time.monotonic() + timeout
        while len(self.buf) < n:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("only %d of %d bytes within %.0f s: %r"
                                     % (len(self.buf), n, timeout, self.buf[:64]))
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(1 << 16)
            except socket.timeout:
                continue
            if not d:
                raise AssertionError("closed after %d of %d bytes: %r"
                                     % (len(self.buf), n, self.buf[:64]))
            self.buf += d
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_until_close(self, timeout):
        """Every byte until the peer closes (buffered ones included); None when it has not
        closed after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        data = self.buf
        self.buf = b""
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                d = self.sock.recv(1 << 16)
            except socket.timeout:
                return None
            except ConnectionResetError:
                return data
            if not d:
                return data
            data += d


def split_packets(data):
    """[(seq, payload)] of the whole packets in `data` (a trailing partial packet is dropped)."""
    out = []
    i = 0
    while i + 4 <= len(data):
        n = struct.unpack("<I", data[i:i + 3] + b"\0")[0]
        if i + 4 + n > len(data):
            break
        out.append((data[i + 3], data[i + 4:i + 4 + n]))
        i += 4 + n
    return out
