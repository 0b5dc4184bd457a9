"""test_tls_mirror.py - TLS mirrors the server (issue 24, item 1), at slowtap's defaults:

- against a MariaDB that offers TLS: a user created REQUIRE SSL logs in through slowtap over
  TLS and sees an Ssl_cipher, the same as directly (the backend leg is TLS because the
  client's is: --backend-tls mirror); a plaintext client stays plaintext on both legs (the
  REQUIRE SSL user is refused as directly);
- against a MariaDB with TLS disabled (the suite's shared server, have_ssl=DISABLED): slowtap
  offers no TLS, so a client whose TLS is optional but that was given a CA (the mariadb CLI
  --ssl --ssl-ca, PyMySQL ssl={'ca': ...}) connects in plain text, as directly; with
  --tls-cert slowtap offers TLS whatever the backend does;
- the mirrored leg's verification: with --backend-tls-ca the server's chain is verified (a
  wrong CA fails the login, the right one passes); --backend-tls off keeps the backend leg
  plain under a TLS client (Ssl_cipher empty).
"""

import os
import shutil
import socket
import struct
import subprocess
import tempfile
import unittest

import pymysql

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_CERTS = os.path.join(os.path.dirname(HERE), "tools", "make-test-certs.sh")
CLIENT_SSL = 0x0800
CERTS = None
TLS_SRV = None


def cert(name):
    return os.path.join(CERTS, name)


def setUpModule():
    global CERTS, TLS_SRV
    CERTS = tempfile.mkdtemp(prefix="slowtap-mirror-certs-")
    harness._cleanups.append(lambda: shutil.rmtree(CERTS, ignore_errors=True))
    subprocess.run(["bash", MAKE_CERTS, CERTS], check=True, timeout=120,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    TLS_SRV = harness.start_throwaway(extra_args=[
        "--ssl-cert=" + cert("server.pem"), "--ssl-key=" + cert("server-key.pem"),
        "--ssl-ca=" + cert("ca.pem")])
    TLS_SRV.sql("CREATE USER 'ssluser'@'%' IDENTIFIED BY 'sslpass' REQUIRE SSL; "
                "GRANT SELECT ON *.* TO 'ssluser'@'%'")
    harness.mariadb()


def greeting_caps(port):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        hdr = s.recv(4, socket.MSG_WAITALL)
        n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        g = s.recv(n, socket.MSG_WAITALL)
    pos = g.index(0, 1) + 1 + 4 + 8 + 1
    lo = struct.unpack_from("<H", g, pos)[0]
    hi = struct.unpack_from("<H", g, pos + 2 + 1 + 2)[0]
    return lo | hi << 16


def status(port, user, password, **kw):
    """(Ssl_cipher, Ssl_version) the server reports for a PyMySQL session, and whether the
    client's socket is TLS."""
    c = pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                        connect_timeout=10, **kw)
    try:
        cur = c.cursor()
        cur.execute("SHOW SESSION STATUS WHERE Variable_name IN ('Ssl_cipher', 'Ssl_version')")
        st = dict(cur.fetchall())
        import ssl
        return st.get("Ssl_cipher", ""), st.get("Ssl_version", ""), isinstance(c._sock,
                                                                               ssl.SSLSocket)
    finally:
        c.close()


NOVERIFY = {"ssl": {"check_hostname": False}}  # TLS, no verification (PyMySQL)


class TlsBackend(unittest.TestCase):
    def test_require_ssl_user_and_the_servers_cipher(self):
        direct = status(TLS_SRV.port, "ssluser", "sslpass", **NOVERIFY)
        self.assertTrue(direct[0], direct)
        with harness.Slowtap(server=TLS_SRV) as px:
            self.assertTrue(greeting_caps(px.port) & CLIENT_SSL)
            via = status(px.port, "ssluser", "sslpass", **NOVERIFY)
            self.assertTrue(via[2], "the client's leg is not TLS")
            self.assertEqual(via[:2], direct[:2])  # the server's own cipher and version
            # a plaintext client: plaintext on both legs, refused as directly
            with self.assertRaises(pymysql.err.OperationalError) as d:
                status(TLS_SRV.port, "ssluser", "sslpass")
            with self.assertRaises(pymysql.err.OperationalError) as v:
                status(px.port, "ssluser", "sslpass")
            self.assertEqual(v.exception.args[0], d.exception.args[0])
            self.assertEqual(v.exception.args[0], 1045)
            # an ordinary user over plaintext sees no cipher, as directly
            self.assertEqual(status(px.port, "app", "apppass")[:3], ("", "", False))
            # the mariadb CLI with its --ssl
            r = harness.client_cli(px.port, "SHOW SESSION STATUS LIKE 'Ssl_cipher'",
                                   user="ssluser", password="sslpass", extra=["--ssl"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.split(), ["Ssl_cipher", direct[0]])

    def test_backend_tls_off_keeps_the_backend_leg_plain(self):
        with harness.Slowtap(args=["--backend-tls", "off"], server=TLS_SRV) as px:
            self.assertEqual(status(px.port, "app", "apppass", **NOVERIFY)[:3], ("", "", True))

    def test_mirrored_leg_verified_against_backend_tls_ca(self):
        with harness.Slowtap(args=["--backend-tls-ca", cert("ca.pem")], server=TLS_SRV) as px:
            via = status(px.port, "ssluser", "sslpass", **NOVERIFY)
            self.assertTrue(via[0], via)
        with harness.Slowtap(args=["--backend-tls-ca", cert("other-ca.pem")],
                             server=TLS_SRV) as px:
            with self.assertRaises(pymysql.err.OperationalError):
                status(px.port, "ssluser", "sslpass", **NOVERIFY)
            self.assertIn("certificate verify failed", px.stderr())
            # a plaintext client is not touched by the backend's certificate
            self.assertEqual(status(px.port, "app", "apppass")[:3], ("", "", False))


class TlsLessBackend(unittest.TestCase):
    def test_optional_tls_connects_in_plain_text(self):
        shared = harness.mariadb()
        with harness.Slowtap() as px:
            self.assertFalse(greeting_caps(px.port) & CLIENT_SSL)
            for port in (shared.port, px.port):  # directly, then through slowtap
                r = harness.client_cli(port, "SHOW SESSION STATUS LIKE 'Ssl_cipher'",
                                       extra=["--ssl", "--ssl-ca=" + cert("ca.pem")])
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(r.stdout.split(), ["Ssl_cipher"])
                got = status(port, "app", "apppass", ssl={"ca": cert("ca.pem")})
                self.assertEqual(got, ("", "", False))

    def test_tls_cert_offers_tls_anyway(self):
        with harness.Slowtap(args=["--tls-cert", cert("server.pem"),
                                   "--tls-key", cert("server-key.pem")]) as px:
            self.assertTrue(greeting_caps(px.port) & CLIENT_SSL)
            got = status(px.port, "app", "apppass", ssl={"ca": cert("ca.pem")})
            self.assertEqual(got, ("", "", True))  # TLS to slowtap; the server has none


if __name__ == "__main__":
    unittest.main()
