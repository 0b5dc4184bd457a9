"""test_auth_sha2.py - MySQL 8's caching_sha2_password through slowtap, with the real mariadb CLI
(libmariadb's caching_sha2_password client plugin) against a fake MySQL 8.0 server
(tests/tools/fakesha2.py) that records which path each login took: the fast path (scramble
checked, 0x01 0x03), full authentication with the client asking for the RSA public key, both
after an auth switch from mysql_native_password too; each directly and through slowtap, over
plaintext and client TLS; and CLIENT_QUERY_ATTRIBUTES hidden from the greeting. With client TLS
the client believes its connection is secure and answers full authentication with its cleartext
password; the backend leg is plaintext, where
MySQL refuses a cleartext password, so slowtap must not forward it but do the public-key exchange
with the backend itself (0x02, the key, the RSA-encrypted password): the login works, with the
right sequence ids on both legs, and a wrong password is refused without ever crossing the
plaintext leg. No password appears on slowtap's stderr or in its slow log.

The CLI needs neither --plugin-dir nor --default-auth: libmariadb finds the plugin in its
compiled-in plugin directory and starts with the plugin the greeting names. It must be run with
--skip-ssl for a plaintext login: by default (ssl on, but not offered by the server) it thinks
the connection secure and sends the cleartext password (see test_fake_server_refuses_cleartext).
Uses only its own fake servers (no MariaDB)."""

import os
import struct
import sys
import time
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import mywire  # noqa: E402

tls_args = harness.tls_cert_args
from fakesha2 import FakeSha2, rsa_encrypt_password, sha2_scramble  # noqa: E402

USER = "sha2user"
PW = "Sha2-pw-5513"
WRONG_PW = "Wrong-sha2-8820"
SECRETS = (PW, WRONG_PW)
PLAIN = ["--skip-ssl"]
TLS = ["--ssl"]
DENIED = "ERROR 1045 (28000): Access denied for user '%s'@'127.0.0.1' (using password: YES)\n" \
    % USER

SHA2_FIRST = ["client-plugin=caching_sha2_password"]
SWITCHED = ["client-plugin=mysql_native_password", "auth-switch"]
FAST_OK = ["scramble-ok", "login-ok"]
RSA_OK = ["full-auth", "key-requested", "rsa-ok", "login-ok"]
RSA_BAD = ["full-auth", "key-requested", "rsa-bad", "login-denied"]


def cli(port, password, stmt="SELECT 1", extra=()):
    """The mariadb CLI as sha2user over TCP; (exit status, stdout, stderr)."""
    r = harness.client_cli(port, stmt, user=USER, password=password,
                           extra=["--connect-timeout=10"] + list(extra), timeout=30)
    return r.returncode, r.stdout, r.stderr


def raw_sha2_login(port, tls, password=PW):
    """Logs in as sha2user with a raw client that answers the greeting with a caching_sha2
    scramble; over TLS when `tls`, where it answers full authentication with its cleartext
    password, else by asking for the public key. Returns the sequence ids of the packets it
    read (greeting, each auth packet, the final OK/ERR) and the value of SELECT 1 (or the ERR)."""
    rc = mywire.RawClient(port, user=USER, password=password, timeout=10)
    try:
        seq0, greeting = rc.read_packet()
        g = mywire.parse_greeting(greeting)
        assert g["plugin"] == "caching_sha2_password", g
        caps = (mywire.CLIENT_LONG_PASSWORD | mywire.CLIENT_PROTOCOL_41 |
                mywire.CLIENT_TRANSACTIONS | mywire.CLIENT_SECURE_CONNECTION |
                mywire.CLIENT_PLUGIN_AUTH | mywire.CLIENT_MULTI_RESULTS)
        seq = 1
        if tls:
            assert g["caps"] & mywire.CLIENT_SSL, "TLS not offered"
            caps = rc.start_tls(caps, seq)
            seq += 1
        scramble = sha2_scramble(password, g["salt"])
        body = (struct.pack("<IIB23x", caps, 1 << 24, 45) + USER.encode() + b"\0" +
                bytes([len(scramble)]) + scramble + b"caching_sha2_password\0")
        rc.send_packet(body, seq)
        seqs = [seq0]
        s, p = rc.read_packet()
        if p == b"\x01\x04":  # perform full authentication
            seqs.append(s)
            if tls:
                rc.send_packet(password.encode() + b"\0", s + 1)
            else:
                rc.send_packet(b"\x02", s + 1)
                s, p = rc.read_packet()
                seqs.append(s)
                assert p[:1] == b"\x01" and b"PUBLIC KEY" in p, p[:40]
                rc.send_packet(rsa_encrypt_password(p[1:], password, g["salt"]), s + 1)
            s, p = rc.read_packet()
        elif p == b"\x01\x03":  # fast_auth_success, then OK
            seqs.append(s)
            s, p = rc.read_packet()
        seqs.append(s)
        if p[:1] == b"\xff":
            return seqs, mywire.parse_err(p)
        assert p[:1] == b"\x00", p[:40]
        rows = rc.query("SELECT 1")
        return seqs, rows[3][1:2]
    finally:
        rc.close()


CLIENT_QUERY_ATTRIBUTES = 1 << 27


def greeting_caps(port):
    """The capability flags of the greeting a raw client reads on `port`."""
    rc = mywire.RawClient(port, timeout=10)
    try:
        _, p = rc.read_packet()
        return mywire.parse_greeting(p)["caps"]
    finally:
        rc.close()


def auth_path(fs):
    """The events of the last login the fake server saw, up to its verdict."""
    logins = fs.logins()
    if not logins:
        return []
    evs = logins[-1]
    for end in ("login-ok", "login-denied", "bad-seq"):
        if end in evs:
            return evs[:evs.index(end) + 1]
    return evs


class Sha2Auth(unittest.TestCase):
    def assert_no_secrets(self, px):
        text = px.log_text() + px.stderr()
        for s in SECRETS:
            self.assertNotIn(s, text)

    def via(self, fs, px, password, opts, stmt="SELECT 1"):
        """The CLI through slowtap; checks slowtap's stderr and slow log for the passwords."""
        fs.take()
        got = cli(px.port, password, stmt, opts)
        self.assert_no_secrets(px)
        self.assertIsNone(px.proc.poll(), "slowtap exited: " + px.stderr()[-2000:])
        self.assertEqual(fs.errors, [])
        return got, auth_path(fs)

    def direct(self, fs, password, opts=PLAIN):
        fs.take()
        got = cli(fs.port, password, "SELECT 1", opts)
        return got, auth_path(fs)

    def check_plain_logins(self, fs, px, first, good, bad):
        """A right and a wrong password over plaintext, directly then through slowtap: the same
        output and the same path on the fake server."""
        for pw, path, want in ((PW, first + good, (0, "1\n", "")),
                               (WRONG_PW, first + bad, (1, "", DENIED))):
            direct = self.direct(fs, pw)
            self.assertEqual(direct, (want, path))
            via = self.via(fs, px, pw, PLAIN)
            self.assertEqual(via, direct, px.stderr()[-2000:])

    # a. the fast path

    def test_fast_path(self):
        with FakeSha2(mode="fast", user=USER, password=PW) as fs, \
                harness.Slowtap(args=tls_args(), server=fs) as px:
            self.check_plain_logins(fs, px, SHA2_FIRST, FAST_OK, ["scramble-bad"] + RSA_BAD)
            got, path = self.via(fs, px, PW, TLS, "SELECT 42")
            self.assertEqual((got, path), ((0, "42\n", ""), SHA2_FIRST + FAST_OK),
                             px.stderr()[-2000:])
            # the client's leg really was TLS
            (code, out, err), path = self.via(fs, px, PW, TLS, "status")
            self.assertEqual(code, 0, err)
            self.assertRegex(out, r"SSL:\s+Cipher in use is \S+")
            self.assertEqual(path, SHA2_FIRST + FAST_OK)
            deadline = time.monotonic() + 10
            while True:
                users = {e["statement"]: e["user"] for e in harness.parse_slowlog(px.log_text())}
                if "SELECT 42" in users or time.monotonic() > deadline:
                    break
                time.sleep(0.1)
            self.assertEqual(users.get("SELECT 1"), USER, users)
            self.assertEqual(users.get("SELECT 42"), USER, users)
            self.assert_no_secrets(px)

    def test_query_attributes_hidden(self):
        # MySQL 8's CLIENT_QUERY_ATTRIBUTES changes COM_QUERY and COM_STMT_EXECUTE (attribute
        # counts and names before the statement); slowtap hides it so clients never send them
        with FakeSha2(mode="fast", user=USER, password=PW,
                      extra_caps=CLIENT_QUERY_ATTRIBUTES) as fs, \
                harness.Slowtap(args=tls_args(), server=fs) as px:
            self.assertTrue(greeting_caps(fs.port) & CLIENT_QUERY_ATTRIBUTES)
            caps = greeting_caps(px.port)
            self.assertFalse(caps & CLIENT_QUERY_ATTRIBUTES, hex(caps))
            self.assertTrue(caps & mywire.CLIENT_PLUGIN_AUTH, hex(caps))
            got, path = self.via(fs, px, PW, PLAIN, "SELECT 7")
            self.assertEqual((got, path), ((0, "7\n", ""), SHA2_FIRST + FAST_OK))

    # b. full authentication, the client asks for the public key

    def test_full_auth_plaintext_client(self):
        with FakeSha2(mode="full", user=USER, password=PW) as fs, \
                harness.Slowtap(args=tls_args(), server=fs) as px:
            self.check_plain_logins(fs, px, SHA2_FIRST, RSA_OK, RSA_BAD)

    def test_fake_server_refuses_cleartext(self):
        # The control for the "cleartext" assertions below: the CLI's default (ssl on, the
        # server does not offer it) makes libmariadb think the connection secure, and a real
        # MySQL 8 (like the fake) refuses the cleartext password it then sends.
        with FakeSha2(mode="full", user=USER, password=PW) as fs:
            got, path = self.direct(fs, PW, opts=())
            self.assertEqual((got, path), ((1, "", DENIED),
                                           SHA2_FIRST + ["full-auth", "cleartext",
                                                         "login-denied"]))

    # c. full authentication, client TLS, backend leg plaintext: slowtap must not forward the
    # cleartext password but do the public-key exchange itself

    def assert_tls_full_auth(self, fs, px, first, wrong_scramble=False):
        pre = first + (["scramble-bad"] if wrong_scramble else [])
        if not wrong_scramble:
            got, path = self.via(fs, px, PW, TLS)
            self.assertNotIn("cleartext", path, "slowtap forwarded the cleartext password")
            self.assertEqual(path, pre + RSA_OK, px.stderr()[-2000:])
            self.assertEqual(got, (0, "1\n", ""), px.stderr()[-2000:])
            self.assertIn("SSL:", self.via(fs, px, PW, TLS, "status")[0][1])
        got, path = self.via(fs, px, WRONG_PW, TLS)
        self.assertNotIn("cleartext", path, "slowtap forwarded the cleartext password")
        self.assertEqual(path, pre + RSA_BAD, px.stderr()[-2000:])
        self.assertEqual(got[:2], (1, ""))
        self.assertIn("ERROR 1045 (28000)", got[2])
        self.assertEqual(got[2], DENIED)
        # the proxy goes on
        self.assertEqual(self.via(fs, px, PW, PLAIN)[0], (0, "1\n", ""))

    def test_full_auth_client_tls(self):
        with FakeSha2(mode="full", user=USER, password=PW) as fs, \
                harness.Slowtap(args=tls_args(), server=fs) as px:
            self.assert_tls_full_auth(fs, px, SHA2_FIRST)

    def test_fast_path_wrong_password_client_tls(self):
        # A wrong scramble moves MySQL to full authentication: the same cleartext answer.
        with FakeSha2(mode="fast", user=USER, password=PW) as fs, \
                harness.Slowtap(args=tls_args(), server=fs) as px:
            self.assert_tls_full_auth(fs, px, SHA2_FIRST, wrong_scramble=True)

    # d. after an auth switch from mysql_native_password

    def test_auth_switch_fast_path(self):
        with FakeSha2(mode="fast", user=USER, password=PW, auth_switch=True) as fs, \
                harness.Slowtap(args=tls_args(), server=fs) as px:
            self.check_plain_logins(fs, px, SWITCHED, FAST_OK, ["scramble-bad"] + RSA_BAD)
            self.assertEqual(self.via(fs, px, PW, TLS), ((0, "1\n", ""), SWITCHED + FAST_OK))

    def test_auth_switch_full_auth_plaintext_client(self):
        with FakeSha2(mode="full", user=USER, password=PW, auth_switch=True) as fs, \
                harness.Slowtap(args=tls_args(), server=fs) as px:
            self.check_plain_logins(fs, px, SWITCHED, RSA_OK, RSA_BAD)

    def test_auth_switch_full_auth_client_tls(self):
        with FakeSha2(mode="full", user=USER, password=PW, auth_switch=True) as fs, \
                harness.Slowtap(args=tls_args(), server=fs) as px:
            self.assert_tls_full_auth(fs, px, SWITCHED)

    # sequence ids, with a raw client

    def test_raw_sequence_ids(self):
        with FakeSha2(mode="full", user=USER, password=PW) as fs:
            direct = raw_sha2_login(fs.port, False)
            self.assertEqual(direct, ([0, 2, 4, 6], b"1"))
            with harness.Slowtap(args=tls_args(), server=fs) as px:
                fs.take()
                self.assertEqual(raw_sha2_login(px.port, False), direct)
                self.assertEqual(auth_path(fs), SHA2_FIRST + RSA_OK)
                self.assert_no_secrets(px)
        with FakeSha2(mode="fast", user=USER, password=PW) as fs, \
                harness.Slowtap(args=tls_args(), server=fs) as px:
            # client TLS: its packets count one further (its SSL request was 1)
            self.assertEqual(raw_sha2_login(px.port, True), ([0, 3, 4], b"1"))
            self.assertEqual(auth_path(fs), SHA2_FIRST + FAST_OK)
            self.assert_no_secrets(px)

    def test_fake_server_checks_sequence_ids(self):
        # The control for the sequence-id checks: a handshake response numbered 2 instead of 1.
        with FakeSha2(mode="full", user=USER, password=PW) as fs:
            rc = mywire.RawClient(fs.port, timeout=10)
            try:
                g = rc.read_greeting()
                scramble = sha2_scramble(PW, g["salt"])
                rc.send_packet(struct.pack("<IIB23x", 0x8A201, 1 << 24, 45) + USER.encode() +
                               b"\0" + bytes([32]) + scramble + b"caching_sha2_password\0", 2)
                seq, p = rc.read_packet()
                self.assertEqual(mywire.parse_err(p)[:2], (1156, "08S01"))
                self.assertIsNotNone(rc.read_until_close(5))
            finally:
                rc.close()
            self.assertIn("bad-seq", fs.events)
            self.assertEqual(fs.notes, ["connection 1: got packet 2, expected 1"])

    def test_raw_sequence_ids_full_auth_client_tls(self):
        # The client sends its cleartext password as packet 4 and gets the OK as 5; the backend
        # leg, two packets longer (0x02, the key), is numbered on its own: the fake server
        # checks every id of its leg (a wrong one would be "bad-seq").
        with FakeSha2(mode="full", user=USER, password=PW) as fs, \
                harness.Slowtap(args=tls_args(), server=fs) as px:
            fs.take()
            got = raw_sha2_login(px.port, True)
            path = auth_path(fs)
            self.assertNotIn("cleartext", path, "slowtap forwarded the cleartext password")
            self.assertEqual(path, SHA2_FIRST + RSA_OK, fs.notes)
            self.assertEqual(got, ([0, 3, 5], b"1"))
            fs.take()
            got = raw_sha2_login(px.port, True, WRONG_PW)
            self.assertEqual(auth_path(fs), SHA2_FIRST + RSA_BAD, fs.notes)
            self.assertEqual(got[0], [0, 3, 5])
            self.assertEqual(got[1][:2], (1045, "28000"))
            self.assert_no_secrets(px)
            self.assertEqual(fs.errors, [])


if __name__ == "__main__":
    unittest.main()
