"""test_tls_default.py - TLS for clients with no TLS option given (issue 11, item 5): slowtap
generates a self-signed certificate at start and offers CLIENT_SSL, so that clients that
require TLS connect, and their statements are logged.

slowtap offers TLS as the server does (issue 24): so these run against a MariaDB of their own
that offers TLS (the backend leg is TLS when the client's is; test_tls.py covers the backend
modes, test_tls_mirror.py the mirroring):
- the greeting carries CLIENT_SSL by default and not with --tls off (option and ini key), nor
  at defaults against a server without TLS (the suite's shared one);
- the generated certificate: CN = the host name, subjectAltName localhost, 127.0.0.1, ::1;
  --tls-generated-cert writes exactly the certificate that is served (never a key), and the
  start-up line names its SHA-256 fingerprint;
- the mariadb CLI: --ssl uses TLS; --ssl-verify-server-cert refuses the self-signed
  certificate unless given it as --ssl-ca (then 127.0.0.1, localhost and the host name pass);
- PyMySQL with ssl={...} without a CA (TLS, no verification) and with the certificate as CA;
- clients that REQUIRE TLS: libmariadb with a pinned fingerprint (ssl-fp, through MySQLdb)
  and the CLI with verification; with --tls off they fail with "SSL is required, but the
  server does not support it" (2026);
- --tls-require with the generated certificate; SIGHUP keeps the generated certificate;
- start-up errors (exit 2, one line).
- When $SLOWTAP_TEST_CONNECTOR_C34 names an install prefix of MariaDB Connector/C 3.4 (built
  from source; Debian ships 3.3), its defaults: a local TCP address (127.0.0.1) connects over
  TLS, a host name is refused ("The certificate is NOT trusted": the zero-configuration check
  needs the server's fingerprint signature, which a TLS-terminating proxy cannot give), and the
  certificate as CA or its fingerprint make the host name work. Skipped (and reported skipped)
  without it."""

import hashlib
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import unittest

import pymysql

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import hostsfile  # noqa: E402

DB = "tls_default"
CLIENT_SSL = 0x0800


TLS_SRV = None  # a MariaDB that offers TLS (its own certificate, from make-test-certs.sh)


def setUpModule():
    global TLS_SRV
    certs = tempfile.mkdtemp(prefix="slowtap-tlsdef-certs-")
    harness._cleanups.append(lambda: shutil.rmtree(certs, ignore_errors=True))
    subprocess.run(["bash", os.path.join(os.path.dirname(os.path.dirname(
        os.path.abspath(__file__))), "tools", "make-test-certs.sh"), certs], check=True,
        timeout=120, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    TLS_SRV = harness.start_throwaway(extra_args=[
        "--ssl-cert=" + os.path.join(certs, "server.pem"),
        "--ssl-key=" + os.path.join(certs, "server-key.pem")])
    for srv in (TLS_SRV, harness.mariadb()):
        srv.fresh_db(DB)
        srv.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20)); "
                "INSERT INTO t VALUES (1,'a')", db=DB)


class Proxy(harness.Slowtap):
    """harness.Slowtap plus --tls-generated-cert in its temporary directory (self.cert)."""

    def __init__(self, args=(), write_cert=True, server=None):
        self.write_cert = write_cert
        self.certdir = tempfile.mkdtemp(prefix="slowtap-gencert-")
        harness._cleanups.append(lambda: shutil.rmtree(self.certdir, ignore_errors=True))
        self.cert = os.path.join(self.certdir, "slowtap-cert.pem")
        extra = ["--tls-generated-cert", self.cert] if write_cert else []
        super().__init__(list(args) + extra, server=server or TLS_SRV)


def greeting_caps(port):
    """The capability flags of the greeting slowtap sends."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        hdr = s.recv(4, socket.MSG_WAITALL)
        n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        g = s.recv(n, socket.MSG_WAITALL)
    pos = g.index(0, 1) + 1 + 4 + 8 + 1  # protocol version, server version, id, scramble, 0
    lo = struct.unpack_from("<H", g, pos)[0]
    hi = struct.unpack_from("<H", g, pos + 2 + 1 + 2)[0]  # after charset and status
    return lo | hi << 16


def served_cert(port):
    """The DER certificate slowtap presents after a hand-built SSL request."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        hdr = s.recv(4, socket.MSG_WAITALL)
        n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        s.recv(n, socket.MSG_WAITALL)
        caps = 0x00000200 | 0x00008000 | CLIENT_SSL | 0x00080000
        payload = struct.pack("<IIB23x", caps, 1 << 24, 45)
        s.sendall(struct.pack("<I", len(payload))[:3] + bytes([1]) + payload)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def der_of(path):
    with open(path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def fingerprint(der, algo="sha256"):
    return ":".join("%02X" % b for b in hashlib.new(algo, der).digest())


def cli(port, stmt, extra=(), host="127.0.0.1", env=None):
    """The mariadb CLI with --ssl over TCP to host:port (harness.client_cli's -h is
    overridden by the later one)."""
    return harness.client_cli(port, stmt, db=DB, extra=["--ssl", "-h", host] + list(extra),
                              env=env)


def host_name_env():
    """(the host name, an environment in which it resolves to 127.0.0.1): the certificate
    names the host, but a container or a minimal install need not resolve its own name, so
    the clients that connect by it get it from a hosts file of the test's own (hostsfile)."""
    name = socket.gethostname()
    return name, hostsfile.env("127.0.0.1 %s\n" % name)


def statements(st):
    return [e["statement"] for e in st.entries()]


def mysqldb_connect(port, option_file):
    import MySQLdb
    return MySQLdb.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=DB, read_default_file=option_file, connect_timeout=10)


def write_option_file(dirname, name, text):
    p = os.path.join(dirname, name)
    with open(p, "w") as f:
        f.write(text)
    return p


class GeneratedCertificate(unittest.TestCase):
    def test_greeting_offers_tls_by_default_and_not_with_tls_off(self):
        with Proxy(write_cert=False) as st:
            self.assertTrue(greeting_caps(st.port) & CLIENT_SSL)
            self.assertIn("client TLS generated self-signed certificate", st.stderr())
        # a server without TLS: slowtap offers none either, as the server would
        with Proxy(server=harness.mariadb()) as st:
            self.assertFalse(greeting_caps(st.port) & CLIENT_SSL)
            r = cli(st.port, "SELECT 'no-tls-backend-marker'")  # --ssl: falls back to plain
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("SELECT 'no-tls-backend-marker'", statements(st))
        with Proxy(["--tls", "off"], write_cert=False) as st:
            self.assertFalse(greeting_caps(st.port) & CLIENT_SSL)
            self.assertIn("client TLS off", st.stderr())
            r = cli(st.port, "SELECT 'tls-off-plain-marker'")  # the CLI falls back to plaintext
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("SELECT 'tls-off-plain-marker'", statements(st))
        ini = os.path.join(tempfile.mkdtemp(prefix="slowtap-tlsini-"), "s.ini")
        with open(ini, "w") as f:
            f.write("[slowtap]\ntls = off\n")
        with Proxy(["--config", ini], write_cert=False) as st:
            self.assertFalse(greeting_caps(st.port) & CLIENT_SSL)

    def test_certificate_file_names_and_fingerprint(self):
        with Proxy() as st:
            der = served_cert(st.port)
            self.assertEqual(der_of(st.cert), der)
            with open(st.cert) as f:
                text = f.read()
            self.assertNotIn("PRIVATE KEY", text)
            self.assertEqual(text.count("BEGIN CERTIFICATE"), 1)
            mask = os.umask(0)
            os.umask(mask)
            self.assertEqual(os.stat(st.cert).st_mode & 0o777, 0o644 & ~mask)
            self.assertIn("SHA-256 fingerprint " + fingerprint(der), st.stderr())
            self.assertIn("written to " + st.cert, st.stderr())
            dec = ssl._ssl._test_decode_cert(st.cert)
            subject = dict(x[0] for x in dec["subject"])
            host = socket.gethostname()
            self.assertEqual(subject["commonName"], host[:64])
            sans = set(dec["subjectAltName"])
            self.assertLessEqual({("DNS", "localhost"), ("IP Address", "127.0.0.1"),
                                  ("IP Address", "0:0:0:0:0:0:0:1")}, sans)
            self.assertIn(("DNS", host), sans)
            # the key never reaches the disk: the only files are the certificate and logs
            self.assertEqual(os.listdir(st.certdir), ["slowtap-cert.pem"])
            # another process generates another key
            with Proxy() as st2:
                self.assertNotEqual(served_cert(st2.port), der)

    def test_sighup_keeps_the_generated_certificate(self):
        with Proxy() as st:
            before = served_cert(st.port)
            st.proc.send_signal(signal.SIGHUP)
            time.sleep(0.5)
            self.assertEqual(served_cert(st.port), before)
            r = cli(st.port, "SELECT 'after-hup-marker'", ["--ssl-verify-server-cert",
                                                           "--ssl-ca=" + st.cert])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertNotIn("reload failed", st.stderr())
            self.assertIsNone(st.proc.poll())


class Clients(unittest.TestCase):
    def test_cli(self):
        with Proxy() as st:
            r = cli(st.port, "SELECT 'cli-default-marker', v FROM t WHERE id = 1; \\s")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("cli-default-marker\ta", r.stdout)
            self.assertRegex(r.stdout, r"SSL:\s+Cipher in use is \S+")
            # verification without the certificate: refused, as it must be (self-signed)
            r = cli(st.port, "SELECT 'cli-unverified-marker'", ["--ssl-verify-server-cert"])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("2026", r.stderr)
            self.assertRegex(r.stderr, "self.signed")
            # with the written certificate as CA: verified, by address and by names
            name, by_name = host_name_env()
            for host, env in (("127.0.0.1", None), ("localhost", None), (name, by_name)):
                r = cli(st.port, "SELECT 'cli-verified-marker'", ["--ssl-verify-server-cert",
                                                                  "--ssl-ca=" + st.cert],
                        host=host, env=env)
                self.assertEqual(r.returncode, 0, "%s: %s" % (host, r.stderr))
                self.assertEqual(r.stdout.strip(), "cli-verified-marker")
            stmts = statements(st)
            self.assertIn("SELECT 'cli-default-marker', v FROM t WHERE id = 1", stmts)
            self.assertEqual(stmts.count("SELECT 'cli-verified-marker'"), 3)
            self.assertNotIn("SELECT 'cli-unverified-marker'", stmts)

    def test_pymysql(self):
        with Proxy() as st:
            # TLS without a CA: PyMySQL does not verify (its ssl={} alone means no TLS)
            c = pymysql.connect(host="127.0.0.1", port=st.port, user="app", password="apppass",
                                database=DB, ssl={"check_hostname": False}, connect_timeout=10)
            try:
                self.assertIsInstance(c._sock, ssl.SSLSocket)
                self.assertTrue(c._sock.version().startswith("TLSv1."))
                with c.cursor() as cur:
                    cur.execute("SELECT 'pymysql-noca-marker'")
                    self.assertEqual(cur.fetchone(), ("pymysql-noca-marker",))
            finally:
                c.close()
            c = pymysql.connect(host="127.0.0.1", port=st.port, user="app", password="apppass",
                                database=DB, ssl={"ca": st.cert}, connect_timeout=10)
            try:
                self.assertEqual(c._sock.getpeercert(binary_form=True), der_of(st.cert))
                with c.cursor() as cur:
                    cur.execute("SELECT 'pymysql-ca-marker'")
            finally:
                c.close()
            with self.assertRaises(pymysql.err.OperationalError):
                pymysql.connect(host="127.0.0.1", port=st.port, user="app", password="apppass",
                                ssl={"ca": other_cert()}, connect_timeout=10)
            stmts = statements(st)
            self.assertIn("SELECT 'pymysql-noca-marker'", stmts)
            self.assertIn("SELECT 'pymysql-ca-marker'", stmts)

    def test_clients_that_require_tls(self):
        """libmariadb (3.3, through MySQLdb) with a pinned fingerprint requires TLS and that
        certificate; the CLI with --ssl-verify-server-cert requires TLS. Both connect by
        default and fail against --tls off."""
        with Proxy() as st:
            der = served_cert(st.port)
            # Connector/C 3.3 pins SHA-1 fingerprints only (3.4 also takes SHA-256)
            good = write_option_file(st.certdir, "fp.cnf",
                                     "[client]\nssl-fp=%s\n" % fingerprint(der, "sha1"))
            bad = write_option_file(st.certdir, "badfp.cnf",
                                    "[client]\nssl-fp=%s\n" % ("00:" * 20)[:-1])
            c = mysqldb_connect(st.port, good)
            try:
                cur = c.cursor()
                cur.execute("SELECT 'mysqldb-pinned-marker'")
                self.assertEqual(cur.fetchall(), (("mysqldb-pinned-marker",),))
            finally:
                c.close()
            import MySQLdb
            with self.assertRaises(MySQLdb.OperationalError) as cm:
                mysqldb_connect(st.port, bad)
            self.assertEqual(cm.exception.args[0], 2026)
            self.assertIn("SELECT 'mysqldb-pinned-marker'", statements(st))
        with Proxy(["--tls", "off"], write_cert=False) as st:
            with self.assertRaises(MySQLdb.OperationalError) as cm:
                mysqldb_connect(st.port, good)
            self.assertEqual(cm.exception.args[0], 2026)
            self.assertIn("SSL is required, but the server does not support it",
                          cm.exception.args[1])
            r = cli(st.port, "SELECT 'must-not-run'", ["--ssl-verify-server-cert",
                                                       "--ssl-ca=" + other_cert()])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("SSL is required, but the server does not support it", r.stderr)
            self.assertNotIn("must-not-run", st.log_text())

    def test_tls_require_with_generated_certificate(self):
        with Proxy(["--tls-require"]) as st:
            r = harness.client_cli(st.port, "SELECT 'plain-refused'", db=DB,
                                   extra=["--skip-ssl"])
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("3159", r.stderr)
            r = cli(st.port, "SELECT 'required-tls-marker'")
            self.assertEqual(r.returncode, 0, r.stderr)
            stmts = statements(st)
            self.assertIn("SELECT 'required-tls-marker'", stmts)
            self.assertNotIn("SELECT 'plain-refused'", stmts)


_OTHER = {}


def other_cert():
    """A self-signed certificate that is not slowtap's (for a verification that must fail)."""
    if "path" not in _OTHER:
        d = tempfile.mkdtemp(prefix="slowtap-othercert-")
        harness._cleanups.append(lambda: shutil.rmtree(d, ignore_errors=True))
        p = os.path.join(d, "other.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-nodes", "-keyout",
                        os.path.join(d, "k.pem"), "-out", p, "-days", "2", "-subj",
                        "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"],
                       check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _OTHER["path"] = p
    return _OTHER["path"]


class StartupErrors(unittest.TestCase):
    def run_proxy(self, args):
        cmd = [harness.slowtap_bin(), "--listen", "127.0.0.1:%d" % harness.free_port(),
               "--http", "off", "--slow-log", os.devnull] + args
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=30)

    def check(self, args, *needles):
        r = self.run_proxy(args)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().split("\n")
        self.assertEqual(len(lines), 1, r.stderr)
        for n in needles:
            self.assertIn(n, lines[0])

    def test_errors(self):
        self.check(["--tls", "maybe"], "--tls", "'maybe'")
        self.check(["--tls", "off", "--tls-require"], "--tls-require", "--tls off")
        self.check(["--tls-generated-cert", "/nonexistent/dir/c.pem"], "/nonexistent/dir/c.pem",
                   "No such file")


CC34_SRC = r"""
#include <mysql.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* argv: host port [ca=FILE] [fp=HEX]; prints "TLS <cipher> <value>" or "ERROR <n>: <text>" */
int main(int argc, char **argv)
{
    MYSQL *m = mysql_init(NULL);
    for (int i = 3; i < argc; i++) {
        if (!strncmp(argv[i], "ca=", 3)) mysql_options(m, MYSQL_OPT_SSL_CA, argv[i] + 3);
        if (!strncmp(argv[i], "fp=", 3)) mysql_options(m, MARIADB_OPT_TLS_PEER_FP, argv[i] + 3);
    }
    if (!mysql_real_connect(m, argv[1], "app", "apppass", "tls_default",
                            (unsigned)atoi(argv[2]), NULL, 0)) {
        printf("ERROR %u: %s\n", mysql_errno(m), mysql_error(m));
        return 1;
    }
    const char *c = mysql_get_ssl_cipher(m);
    if (mysql_query(m, "SELECT 'cc34-marker'")) {
        printf("ERROR %u: %s\n", mysql_errno(m), mysql_error(m));
        return 1;
    }
    MYSQL_RES *r = mysql_store_result(m);
    MYSQL_ROW row = mysql_fetch_row(r);
    printf("TLS %s %s\n", c ? c : "none", row[0]);
    mysql_free_result(r);
    mysql_close(m);
    return 0;
}
"""


class ConnectorC34(unittest.TestCase):
    """MariaDB Connector/C 3.4's defaults (verification on, so TLS is required)."""

    @classmethod
    def setUpClass(cls):
        prefix = os.environ.get("SLOWTAP_TEST_CONNECTOR_C34")
        if not prefix:
            raise unittest.SkipTest("set SLOWTAP_TEST_CONNECTOR_C34 to a Connector/C 3.4 "
                                    "install prefix to run these")
        cls.dir = tempfile.mkdtemp(prefix="slowtap-cc34-")
        harness._cleanups.append(lambda: shutil.rmtree(cls.dir, ignore_errors=True))
        src = os.path.join(cls.dir, "cc34.c")
        with open(src, "w") as f:
            f.write(CC34_SRC)
        cls.bin = os.path.join(cls.dir, "cc34")
        lib = os.path.join(prefix, "lib", "mariadb")
        subprocess.run(["cc", "-o", cls.bin, src, "-I" + os.path.join(prefix, "include",
                                                                      "mariadb"),
                        "-L" + lib, "-lmariadb", "-Wl,-rpath," + lib], check=True)

    def run_client(self, host, port, *opts):
        r = subprocess.run([self.bin, host, str(port)] + list(opts), stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=60, env=self.env)
        return r.stdout.strip()

    def test_defaults(self):
        host, self.env = host_name_env()  # run_client connects with it
        with Proxy() as st:
            out = self.run_client("127.0.0.1", st.port)
            self.assertRegex(out, r"^TLS \S+ cc34-marker$")
            out = self.run_client(host, st.port)
            self.assertIn("ERROR 2026", out)
            self.assertIn("The certificate is NOT trusted", out)
            out = self.run_client(host, st.port, "ca=" + st.cert)
            self.assertRegex(out, r"^TLS \S+ cc34-marker$")
            out = self.run_client(host, st.port, "fp=" + fingerprint(der_of(st.cert)))
            self.assertRegex(out, r"^TLS \S+ cc34-marker$")
            self.assertEqual(statements(st).count("SELECT 'cc34-marker'"), 3)
        with Proxy(["--tls", "off"], write_cert=False) as st:
            out = self.run_client("127.0.0.1", st.port)
            self.assertIn("SSL is required, but the server does not support it", out)


if __name__ == "__main__":
    unittest.main(verbosity=2)
