#!/usr/bin/python3
"""fakesha2.py - a fake MySQL 8.0 server whose one user authenticates with caching_sha2_password,
as MySQL 8 does it (sql/auth/sha2_password.cc), for auth tests without a MySQL server: protocol
10, version "8.0.36-fake", no TLS, no compression, no DEPRECATE_EOF, CLIENT_MYSQL (bit 0) set,
a random 20-byte nonce, and a 2048-bit RSA key pair generated per server.

  FakeSha2(mode="fast", user="sha2user", password="Sha2-pw-5513", auth_switch=False,
           wrong_scramble="full", port=0)
    mode "fast": the user is "in the cache": a right scramble gets 0x01 0x03
                 (fast_auth_success) then OK. A wrong one, as in MySQL, moves to full
                 authentication (wrong_scramble="err" answers ERR 1045 at once instead).
    mode "full": the scramble is ignored: 0x01 0x04 (perform_full_authentication), then
                 either the client sends 0x02 (request public key) and gets 0x01 + the PEM,
                 then sends RSA-OAEP(SHA-1) of XOR(password + NUL, nonce repeated); or it sends
                 anything else, which MySQL on a plaintext connection takes for the cipher: a
                 cleartext password (recorded as "cleartext") is refused with ERR 1045.
    auth_switch: the greeting names mysql_native_password; whatever the client answers, the
                 server asks it to switch (0xFE "caching_sha2_password" NUL nonce2 NUL) and goes
                 on with nonce2. Without it a client whose handshake response names another
                 plugin is switched too, with the greeting's nonce, as MySQL does.
  Sequence ids are checked like MySQL's net layer: each packet of the login exchange is the
  previous one + 1 and every command starts at 0; otherwise ERR 1156 "Got packets out of order"
  and the connection is closed.

  fs.port; fs.events: what each login did, in order, as strings: "greeting", "client-plugin=X",
  "auth-switch", "scramble-ok", "scramble-bad", "full-auth", "key-requested", "rsa-ok",
  "rsa-bad", "cleartext", "bad-cipher", "empty-password", "bad-user", "login-ok",
  "login-denied", "bad-seq", "ssl-request", "query", "quit". fs.take() returns them and empties
  the lists. fs.logins(): the events of each connection that sent a handshake response, from
  "client-plugin=..." on (a bare TCP probe gets only "greeting"). Every login event is recorded
  before the packet it leads to is sent. fs.notes: details (the sequence ids of a "bad-seq").
  fs.errors: exceptions of handler threads. fs.connections counts accepted connections.
  fs.public_pem is the PEM sent; sha2_scramble() and rsa_encrypt_password() are the client's
  side, for raw clients.

Command phase: COM_QUERY gets a result set of one row, then EOF: one column per item of a
SELECT list, each the item when it is a plain word or number, else "1" (see select_values);
COM_PING and COM_INIT_DB get OK; COM_QUIT closes; other commands get ERR 1047.

As a program: fakesha2.py [--port N] [--mode fast|full] [--auth-switch] [--user U]
[--password P] prints "port N" and serves until killed.
"""

import argparse
import hashlib
import os
import re
import struct
import sys
import time

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fakeserver import (LoopbackServer, _lenc_str, _pkt, coldef, eof_packet, err_packet,  # noqa: E402
                        ok_packet)

CLIENT_LONG_PASSWORD = 0x1  # CLIENT_MYSQL: a MySQL server, not MariaDB
CLIENT_LONG_FLAG = 0x4
CLIENT_CONNECT_WITH_DB = 0x8
CLIENT_PROTOCOL_41 = 0x200
CLIENT_SSL = 0x800
CLIENT_TRANSACTIONS = 0x2000
CLIENT_SECURE_CONNECTION = 0x8000
CLIENT_MULTI_RESULTS = 0x20000
CLIENT_PLUGIN_AUTH = 0x80000
CLIENT_CONNECT_ATTRS = 0x100000
CLIENT_PLUGIN_AUTH_LENENC_DATA = 0x200000
CAPS = (CLIENT_PROTOCOL_41 | CLIENT_SECURE_CONNECTION | CLIENT_PLUGIN_AUTH |
        CLIENT_PLUGIN_AUTH_LENENC_DATA | CLIENT_CONNECT_WITH_DB | CLIENT_TRANSACTIONS |
        CLIENT_LONG_PASSWORD | CLIENT_LONG_FLAG | CLIENT_MULTI_RESULTS)
VERSION = "8.0.36-fake"
SHA2 = "caching_sha2_password"
NATIVE = "mysql_native_password"
REQUEST_PUBLIC_KEY = b"\x02"
FAST_AUTH_SUCCESS = b"\x01\x03"
PERFORM_FULL_AUTH = b"\x01\x04"
CONN_TIMEOUT = 30.0
OAEP = padding.OAEP(mgf=padding.MGF1(algorithm=hashes.SHA1()), algorithm=hashes.SHA1(),
                    label=None)


def sha2_scramble(password, nonce):
    """The client's caching_sha2_password response:
    XOR(SHA256(pw), SHA256(SHA256(SHA256(pw)) || nonce)); b"" for an empty password."""
    if isinstance(password, str):
        password = password.encode()
    if not password:
        return b""
    d1 = hashlib.sha256(password).digest()
    d2 = hashlib.sha256(d1).digest()
    d3 = hashlib.sha256(d2 + nonce).digest()
    return bytes(a ^ b for a, b in zip(d1, d3))


def xor_nonce(data, nonce):
    return bytes(b ^ nonce[i % len(nonce)] for i, b in enumerate(data))


def rsa_encrypt_password(pem, password, nonce):
    """What a client sends after getting the key: RSA-OAEP(XOR(password + NUL, nonce))."""
    if isinstance(password, str):
        password = password.encode()
    key = serialization.load_pem_public_key(pem)
    return key.encrypt(xor_nonce(password + b"\0", nonce), OAEP)


def make_nonce():
    """20 bytes as MySQL's generate_user_salt makes them: 7-bit, never NUL or '$'."""
    out = bytearray()
    for b in os.urandom(20):
        b &= 0x7F
        if b in (0, 0x24):
            b += 1
        out.append(b)
    return bytes(out)


def select_values(sql):
    """The row a query gets: one value per item of a SELECT list (the item itself when it is a
    plain word or number, else "1"), ["1"] for anything else. So `SELECT 7` gives 7 and the
    CLI's `status` (which selects 4 values) finds as many columns as it asks for."""
    m = re.match(r"\s*select\s+(.*?)(?:\s+(?:from|limit)\s.*)?\s*;?\s*$", sql, re.I | re.S)
    if not m:
        return ["1"]
    items, depth, cur = [], 0, ""
    for ch in m.group(1):
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
            continue
        depth += {"(": 1, ")": -1}.get(ch, 0)
        cur += ch
    items.append(cur)
    return [i.strip() if re.fullmatch(r"\w{1,50}", i.strip()) else "1" for i in items[:250]]


def greeting(conn_id, nonce, plugin, caps=CAPS):
    return (b"\x0a" + VERSION.encode() + b"\0" + struct.pack("<I", conn_id) + nonce[:8] + b"\0" +
            struct.pack("<H", caps & 0xFFFF) + bytes([255]) + struct.pack("<H", 2) +
            struct.pack("<H", caps >> 16) + bytes([21]) + b"\0" * 10 + nonce[8:] + b"\0" +
            plugin.encode() + b"\0")


def _lenenc_int(p, i):
    b = p[i]
    if b < 0xFB:
        return b, i + 1
    if b == 0xFC:
        return struct.unpack_from("<H", p, i + 1)[0], i + 3
    if b == 0xFD:
        return struct.unpack_from("<I", p[i + 1:i + 4] + b"\0")[0], i + 4
    if b == 0xFE:
        return struct.unpack_from("<Q", p, i + 1)[0], i + 9
    raise ValueError("bad length-encoded integer")


def parse_response(p):
    """The protocol-41 handshake response: dict(caps, user, auth, db, plugin)."""
    caps = struct.unpack_from("<I", p, 0)[0] & (CAPS | CLIENT_SSL | CLIENT_CONNECT_ATTRS)
    i = 32
    end = p.index(b"\0", i)
    user = p[i:end].decode("utf-8", "replace")
    i = end + 1
    if caps & CLIENT_PLUGIN_AUTH_LENENC_DATA:
        n, i = _lenenc_int(p, i)
        auth = p[i:i + n]
        i += n
    elif caps & CLIENT_SECURE_CONNECTION:
        n = p[i]
        auth = p[i + 1:i + 1 + n]
        i += 1 + n
    else:
        end = p.index(b"\0", i)
        auth = p[i:end]
        i = end + 1
    db = None
    if caps & CLIENT_CONNECT_WITH_DB and i < len(p):
        end = p.index(b"\0", i)
        db = p[i:end].decode("utf-8", "replace")
        i = end + 1
    plugin = None
    if caps & CLIENT_PLUGIN_AUTH and i < len(p):
        end = p.find(b"\0", i)
        plugin = p[i:end if end >= 0 else len(p)].decode("latin-1")
    return {"caps": caps, "user": user, "auth": auth, "db": db, "plugin": plugin}


class BadSequence(Exception):
    def __init__(self, got, want):
        super().__init__("got packet %d, expected %d" % (got, want))
        self.got = got
        self.want = want


class _Conn:
    """One client connection: framing, and the sequence id of the last packet either way."""

    def __init__(self, sock, cid):
        self.sock = sock
        self.cid = cid
        self.buf = b""
        self.seq = -1

    def _fill(self, n):
        while len(self.buf) < n:
            d = self.sock.recv(65536)
            if not d:
                raise EOFError
            self.buf += d

    def read(self):
        """The next packet's payload; BadSequence unless its id is the previous one + 1."""
        self._fill(4)
        n = struct.unpack("<I", self.buf[:3] + b"\0")[0]
        self._fill(4 + n)
        seq, payload = self.buf[3], self.buf[4:4 + n]
        self.buf = self.buf[4 + n:]
        want = (self.seq + 1) & 0xFF
        self.seq = seq
        if seq != want:
            raise BadSequence(seq, want)
        return payload

    def send(self, *payloads):
        data = b""
        for p in payloads:
            self.seq = (self.seq + 1) & 0xFF
            data += _pkt(p, self.seq)
        self.sock.sendall(data)


class FakeSha2(LoopbackServer):
    conn_timeout = CONN_TIMEOUT

    def __init__(self, mode="fast", user="sha2user", password="Sha2-pw-5513", auth_switch=False,
                 wrong_scramble="full", port=0, extra_caps=0):
        if mode not in ("fast", "full"):
            raise ValueError("mode must be fast or full")
        if wrong_scramble not in ("full", "err"):
            raise ValueError("wrong_scramble must be full or err")
        self.mode = mode
        self.user = user
        self.password = password.encode() if isinstance(password, str) else password
        self.auth_switch = auth_switch
        self.extra_caps = extra_caps  # offered in the greeting only (e.g. CLIENT_QUERY_ATTRIBUTES)
        self.wrong_scramble = wrong_scramble
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.public_pem = self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        self.events = []
        self.by_conn = {}
        self.notes = []
        super().__init__(port)

    def event(self, what, cid=None):
        with self._lock:
            self.events.append(what)
            if cid is not None:
                self.by_conn.setdefault(cid, []).append(what)

    def take(self):
        """The events so far; the list is emptied."""
        with self._lock:
            got = list(self.events)
            self.events.clear()
            self.by_conn.clear()
            return got

    def logins(self):
        """Per connection that sent a handshake response (not a bare TCP probe), in order of
        connection, the events of its login: from "client-plugin=..." on."""
        with self._lock:
            out = []
            for cid in sorted(self.by_conn):
                evs = self.by_conn[cid]
                for i, e in enumerate(evs):
                    if e.startswith("client-plugin=") or e == "ssl-request":
                        out.append(list(evs[i:]))
                        break
            return out

    def wait_event(self, what, timeout=5.0):
        """True once `what` is in events (a login's last event can follow the client's exit by a
        moment)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if what in self.events:
                    return True
            time.sleep(0.02)
        return False

    def _serve(self, sock, cid, host):
        c = _Conn(sock, cid)
        try:
            if self._login(c, cid, host):
                self._commands(c)
        except BadSequence as e:
            self.event("bad-seq", cid)
            with self._lock:
                self.notes.append("connection %d: %s" % (cid, e))
            try:
                sock.sendall(_pkt(err_packet(1156, "08S01", "Got packets out of order"),
                                  e.got + 1))
            except OSError:
                pass
        except (EOFError, OSError):
            pass
        except Exception as e:  # reported to the test
            self.errors.append(e)
        finally:
            try:
                sock.close()
            except OSError:
                pass

    def _deny(self, c, user, host, used_password=True):
        self.event("login-denied", c.cid)
        c.send(err_packet(1045, "28000", "Access denied for user '%s'@'%s' (using password: %s)"
                          % (user, host, "YES" if used_password else "NO")))
        return False

    def _login(self, c, cid, host):
        nonce = make_nonce()
        c.send(greeting(cid, nonce, NATIVE if self.auth_switch else SHA2,
                        CAPS | self.extra_caps))
        self.event("greeting", c.cid)
        p = c.read()
        caps = struct.unpack_from("<I", p, 0)[0] if len(p) >= 4 else 0
        if len(p) == 32 and caps & CLIENT_SSL:
            self.event("ssl-request", c.cid)  # TLS is not offered: nothing to go on with
            return False
        r = parse_response(p)
        self.event("client-plugin=%s" % r["plugin"], c.cid)
        auth = r["auth"]
        if self.auth_switch or r["plugin"] != SHA2:
            if self.auth_switch:
                nonce = make_nonce()
            self.event("auth-switch", c.cid)
            c.send(b"\xfe" + SHA2.encode() + b"\0" + nonce + b"\0")
            auth = c.read()
        return self._sha2(c, r["user"], auth, nonce, host)

    def _sha2(self, c, user, auth, nonce, host):
        user_ok = user == self.user
        if not user_ok:
            self.event("bad-user", c.cid)
        if not auth or auth == b"\0":
            self.event("empty-password", c.cid)
            if user_ok and not self.password:
                return self._ok(c)
            return self._deny(c, user, host, used_password=False)
        if len(auth) != 32:  # CR_ERROR before the cache is looked at
            self.event("scramble-bad", c.cid)
            return self._deny(c, user, host)
        if self.mode == "fast":
            if user_ok and auth == sha2_scramble(self.password, nonce):
                self.event("scramble-ok", c.cid)
                c.send(FAST_AUTH_SUCCESS)
                return self._ok(c)
            self.event("scramble-bad", c.cid)
            if self.wrong_scramble == "err":
                return self._deny(c, user, host)
        self.event("full-auth", c.cid)
        c.send(PERFORM_FULL_AUTH)
        p = c.read()
        if p == REQUEST_PUBLIC_KEY:
            self.event("key-requested", c.cid)
            c.send(b"\x01" + self.public_pem)
            p = c.read()
        if len(p) == self.private_key.key_size // 8:
            try:
                plain = xor_nonce(self.private_key.decrypt(p, OAEP), nonce)
            except ValueError:
                plain = b""
            if user_ok and plain.split(b"\0")[0] == self.password and b"\0" in plain:
                self.event("rsa-ok", c.cid)
                return self._ok(c)
            self.event("rsa-bad", c.cid)
            return self._deny(c, user, host)
        # Not a cipher: on a connection without TLS MySQL refuses it (pkt_len != cipher_length)
        self.event("cleartext" if p.endswith(b"\0") else "bad-cipher", c.cid)
        return self._deny(c, user, host)

    def _ok(self, c):
        self.event("login-ok", c.cid)
        c.send(ok_packet())
        return True

    def _commands(self, c):
        while True:
            c.seq = -1
            p = c.read()
            if not p or p[0] == 0x01:  # COM_QUIT
                self.event("quit", c.cid)
                return
            if p[0] in (0x0E, 0x02):  # COM_PING, COM_INIT_DB
                c.send(ok_packet())
                continue
            if p[0] != 0x03:
                c.send(err_packet(1047, "08S01", "Unknown command"))
                continue
            self.event("query", c.cid)
            values = [v.encode() for v in select_values(p[1:].decode("utf-8", "replace"))]
            c.send(bytes([len(values)]), *[coldef("c%d" % i) for i in range(len(values))],
                   eof_packet(), b"".join(_lenc_str(v) for v in values), eof_packet())


def main(argv):
    ap = argparse.ArgumentParser(description="fake MySQL 8 server with caching_sha2_password")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--mode", choices=("fast", "full"), default="fast")
    ap.add_argument("--auth-switch", action="store_true")
    ap.add_argument("--user", default="sha2user")
    ap.add_argument("--password", default="Sha2-pw-5513")
    a = ap.parse_args(argv[1:])
    fs = FakeSha2(mode=a.mode, user=a.user, password=a.password, auth_switch=a.auth_switch,
                  port=a.port)
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
