"""test_auth.py - authentication that takes more than one round trip, through slowtap: MariaDB's
ed25519 plugin (the server asks the client to switch plugins), a user with two methods where the
first fails (`IDENTIFIED VIA mysql_native_password ... OR ed25519 ...`: two switches), a
client whose first plugin is not the user's (`--default-auth=client_ed25519` for a native user),
wrong passwords, each over plaintext, client TLS and the compressed protocol, with the mariadb
CLI; COM_CHANGE_USER to such users in the command phase with the node `mariadb` connector; and,
with a raw client, the sequence ids of an auth switch when only the client's leg is TLS.

Each client must print through slowtap exactly what it prints directly (errors included), the
statements run afterwards are logged under the user who ran them, and no password appears in the
slow log or on slowtap's stderr. caching_sha2_password's round trips (MySQL 8) are not here:
MariaDB has no such plugin; the relay treats every exchange alike, until OK or ERR."""

import os
import struct
import subprocess
import sys
import time
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                "tools"))
import mywire  # noqa: E402
from test_matrix_node import npm_install

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_SCRIPT = os.path.join(HERE, "clients", "auth_node.js")
DB = "st_auth_%d" % os.getpid()
ED, ED_PW = "st_auth_ed", "Ed-pw-7731"
CHAIN, CHAIN_PW1, CHAIN_PW2 = "st_auth_chain", "Chain1-pw-4417", "Chain2-pw-9902"
SECRETS = (ED_PW, CHAIN_PW1, CHAIN_PW2)
# The 10.11 CLI upgrades to TLS whenever it is offered (slowtap offers it by default).
MODES = {"plain": ["--skip-ssl"], "tls": ["--ssl"], "compress": ["--compress", "--skip-ssl"]}


def cli(port, user, password, stmt, extra=()):
    """The mariadb CLI over TCP; (exit status, stdout, stderr)."""
    r = harness.client_cli(port, stmt, db=DB, user=user, password=password, extra=extra)
    return r.returncode, r.stdout, r.stderr


def wait_logged(fn, n, timeout=10.0):
    """fn()'s dict once it has n keys, or what it has after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        got = fn()
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


def switch_login(port, tls):
    """Logs in as app with a raw client that names client_ed25519 as its plugin, so that the
    server asks it to switch to mysql_native_password; over TLS when `tls`. Returns the
    sequence ids of [greeting, auth switch request, OK] and the first column of SELECT 1."""
    rc = mywire.RawClient(port)
    try:
        seq0, greeting = rc.read_packet()
        g = mywire.parse_greeting(greeting)
        caps = (mywire.CLIENT_LONG_PASSWORD | mywire.CLIENT_PROTOCOL_41 |
                mywire.CLIENT_TRANSACTIONS | mywire.CLIENT_SECURE_CONNECTION |
                mywire.CLIENT_PLUGIN_AUTH)
        seq = 1
        if tls:
            assert g["caps"] & mywire.CLIENT_SSL, "TLS not offered"
            caps = rc.start_tls(caps, seq)
            seq += 1
        body = struct.pack("<IIB23x", caps, 1 << 24, 45) + b"app\0" + bytes([32]) + bytes(32)
        rc.send_packet(body + b"client_ed25519\0", seq)
        sw_seq, sw = rc.read_packet()
        name, _, salt = sw[1:].partition(b"\0")
        assert sw[:1] == b"\xfe" and name == b"mysql_native_password", sw[:40]
        rc.send_packet(mywire.native_scramble("apppass", salt[:20]), sw_seq + 1)
        ok_seq, ok = rc.read_packet()
        assert ok[:1] == b"\x00", ok[:40]
        rows = rc.query("SELECT 1")
        return [seq0, sw_seq, ok_seq], rows[3][1:2]
    finally:
        rc.close()


class Auth(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        have = cls.srv.sql("SELECT COUNT(*) FROM information_schema.PLUGINS "
                           "WHERE PLUGIN_NAME = 'ed25519' AND PLUGIN_STATUS = 'ACTIVE'")
        if have != [["1"]]:
            cls.srv.sql("INSTALL SONAME 'auth_ed25519'")
        cls.srv.fresh_db(DB)
        cls.srv.sql(
            "CREATE OR REPLACE USER %s@'%%' IDENTIFIED VIA ed25519 USING PASSWORD('%s');"
            "CREATE OR REPLACE USER %s@'%%' IDENTIFIED VIA mysql_native_password USING "
            "PASSWORD('%s') OR ed25519 USING PASSWORD('%s');"
            "GRANT ALL ON `%s`.* TO %s@'%%'; GRANT ALL ON `%s`.* TO %s@'%%'"
            % (ED, ED_PW, CHAIN, CHAIN_PW1, CHAIN_PW2, DB, ED, DB, CHAIN))
        got = cls.srv.sql("SELECT user, plugin FROM mysql.user WHERE user IN ('%s', '%s') "
                          "ORDER BY user" % (ED, CHAIN))
        # the chain's first method is what mysql.user shows; its JSON lists both
        assert got == [[CHAIN, "mysql_native_password"], [ED, "ed25519"]], got

    @classmethod
    def tearDownClass(cls):
        cls.srv.sql("DROP USER IF EXISTS %s@'%%', %s@'%%'; DROP DATABASE IF EXISTS `%s`"
                    % (ED, CHAIN, DB))

    def assert_no_secrets(self, px):
        text = px.log_text() + px.stderr()
        for s in SECRETS:
            self.assertNotIn(s, text)

    def test_logins_that_switch_plugins(self):
        # (user, password, extra CLI options): ed25519 after a switch from native; the chain's
        # first method; its second one after the first failed; a native user reached from a
        # client whose first plugin is ed25519.
        logins = [(ED, ED_PW, []), (CHAIN, CHAIN_PW1, []), (CHAIN, CHAIN_PW2, []),
                  ("app", "apppass", ["--default-auth=client_ed25519"])]
        with harness.Slowtap(args=harness.tls_cert_args()) as px:
            for mode, opts in MODES.items():
                for i, (user, pw, extra) in enumerate(logins):
                    tag = "%s-%d" % (mode, i)
                    stmt = "SELECT CURRENT_USER(), '%s'" % tag
                    direct = cli(self.srv.port, user, pw, stmt, extra)
                    self.assertEqual(direct[0], 0, direct)
                    self.assertEqual(direct[1], "%s@%%\t%s\n" % (user, tag))
                    via = cli(px.port, user, pw, stmt, list(extra) + opts)
                    self.assertEqual(via, direct, (mode, user, extra, px.stderr()[-2000:]))
            # the client leg really was encrypted, and compressed
            code, out, err = cli(px.port, ED, ED_PW, "status", ["--ssl"])
            self.assertEqual(code, 0, err)
            self.assertRegex(out, r"SSL:\s+Cipher in use is \S+")
            code, out, err = cli(px.port, CHAIN, CHAIN_PW2, "status", ["--compress"])
            self.assertEqual(code, 0, err)
            self.assertRegex(out, r"Protocol:\s+Compressed")

            def logged():
                return {e["statement"]: e["user"] for e in harness.parse_slowlog(px.log_text())
                        if "CURRENT_USER()" in e["statement"]}
            got = wait_logged(logged, 12)
            for mode in MODES:
                for i, (user, _pw, _extra) in enumerate(logins):
                    stmt = "SELECT CURRENT_USER(), '%s-%d'" % (mode, i)
                    self.assertEqual(got.get(stmt), user, (stmt, got))
            self.assert_no_secrets(px)
            self.assertIsNone(px.proc.poll())

    def test_wrong_passwords_answered_as_directly(self):
        cases = [(ED, ED_PW + "x"), (CHAIN, "neither"), (ED, "")]
        with harness.Slowtap(args=harness.tls_cert_args()) as px:
            for mode, opts in MODES.items():
                for user, pw in cases:
                    direct = cli(self.srv.port, user, pw, "SELECT 1")
                    self.assertEqual(direct[0], 1, direct)
                    self.assertIn("ERROR 1045 (28000): Access denied for user '%s'" % user,
                                  direct[2])
                    via = cli(px.port, user, pw, "SELECT 1", opts)
                    self.assertEqual(via, direct, (mode, user, px.stderr()[-2000:]))
            # the proxy goes on: a good login after the failures
            self.assertEqual(cli(px.port, ED, ED_PW, "SELECT 7")[:2], (0, "7\n"))
            self.assert_no_secrets(px)
            self.assertIsNone(px.proc.poll())

    def test_sequence_ids_across_an_auth_switch(self):
        # Over client TLS the client's packets count one further (its SSL request was 1) than
        # the backend's plaintext leg: every packet of the exchange is renumbered, not only the
        # handshake response.
        direct = switch_login(self.srv.port, False)
        self.assertEqual(direct, ([0, 2, 4], b"1"))
        with harness.Slowtap(args=harness.tls_cert_args()) as px:
            self.assertEqual(switch_login(px.port, False), direct)
            self.assertEqual(switch_login(px.port, True), ([0, 3, 5], b"1"))
            self.assertIsNone(px.proc.poll())

    def test_change_user_to_ed25519_users(self):
        npm_install()

        def run(port, tls=None):
            cmd = ["/usr/bin/node", NODE_SCRIPT, "127.0.0.1", str(port), DB, ED, ED_PW,
                   CHAIN, CHAIN_PW2] + ([tls] if tls else [])
            return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                  text=True, timeout=120)

        direct = run(self.srv.port)
        self.assertEqual(direct.returncode, 0, direct.stdout + direct.stderr)
        self.assertEqual(direct.stdout, "ed25519 login: %s@%% %s\n"
                                        "changed to chain: %s@%% %s\n"
                                        "changed back: %s@%% %s\n"
                                        "wrong password: error 1045 28000\nEND\n"
                         % (ED, DB, CHAIN, DB, ED, DB))
        for tls in (None, "tls"):
            with harness.Slowtap(args=harness.tls_cert_args()) as px:
                via = run(px.port, tls)
                self.assertEqual((via.returncode, via.stdout), (0, direct.stdout),
                                 "%s\n%s\n%s" % (tls, via.stderr, px.stderr()[-2000:]))
                want = {"ed25519 login": ED, "changed to chain": CHAIN, "changed back": ED}
                got = wait_logged(
                    lambda: {e["statement"].rsplit("'", 2)[1]: e["user"]
                             for e in harness.parse_slowlog(px.log_text())
                             if "CURRENT_USER()" in e["statement"]}, len(want))
                self.assertEqual(got, want, px.log_text()[-3000:])
                self.assert_no_secrets(px)
                self.assertIsNone(px.proc.poll())


if __name__ == "__main__":
    unittest.main()
