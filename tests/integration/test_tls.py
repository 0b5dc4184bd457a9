"""test_tls.py - TLS on both sides of the proxy (issue 8), against a throwaway MariaDB of its own
that has ssl_cert/ssl_key/ssl_ca and require_secure_transport=ON: the mariadb CLI, PyMySQL and
PHP PDO over TLS through --tls-cert/--tls-key with --backend-tls verify-ca; --tls-require;
--backend-tls off relaying the server's refusal; verify-ca/verify-identity successes and
failures (proxy and auto-EXPLAIN side connections); client certificates (--tls-ca); certificate
reload on SIGHUP; startup errors for bad certificate files; a failed backend handshake
under --backend-tls preferred/required named by its real cause (a fake TLS backend).

Not tested: a client that insists on caching_sha2_password full authentication over TLS (MySQL
8 behaviour) - MariaDB has no caching_sha2_password, so it cannot happen against this server."""
# Starts its own MariaDB and swaps its certificate (FLUSH SSL):
# slowtap-test: serial

import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import tempfile
import threading
import time
import types
import unittest

import pymysql

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
MAKE_CERTS = os.path.join(os.path.dirname(HERE), "tools", "make-test-certs.sh")
DB = "tls_test"
EXPLAIN_ARGS = ["--explain-user", "explain", "--explain-password", "explainpass"]

CERTS = None  # directory made by make-test-certs.sh
SRV = None  # the TLS-only MariaDB
SRV_CERT = SRV_KEY = None  # the files the server reads (swapped by FLUSH SSL tests)


def cert(name):
    return os.path.join(CERTS, name)


def start_tls_server(startup_timeout=60.0):
    """A throwaway mariadbd like harness.start_throwaway(), plus TLS and
    require_secure_transport=ON. Stopped at exit by the harness's cleanup list."""
    install_db = harness._find(["mariadb-install-db", "mysql_install_db"])
    mariadbd = harness._find(["mariadbd", "mysqld"])
    if not install_db or not mariadbd:
        harness._skip("MariaDB server is not installed; run tests/deps.sh")
    harness._install_handlers()
    base = tempfile.mkdtemp(prefix="slowtap-tls-mdb-")
    datadir = os.path.join(base, "data")
    sock = os.path.join(base, "mysqld.sock")
    errlog = os.path.join(base, "error.log")
    os.mkdir(datadir)
    user = "root" if os.geteuid() == 0 else os.environ.get("USER", "root")
    srv = harness.Server(0, sock, None, base, errlog)
    harness._cleanups.append(srv.stop)
    r = subprocess.run([install_db, "--no-defaults", "--auth-root-authentication-method=socket",
                        "--user=" + user, "--datadir=" + datadir, "--skip-test-db",
                        "--skip-name-resolve", "--force"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=180)
    if r.returncode != 0:
        raise RuntimeError("mariadb-install-db failed:\n" + r.stdout[-3000:])
    for _attempt in range(3):
        port = harness.free_port()
        args = [mariadbd, "--no-defaults", "--user=" + user, "--datadir=" + datadir,
                "--socket=" + sock, "--port=%d" % port, "--bind-address=127.0.0.1",
                "--skip-name-resolve", "--log-error=" + errlog,
                "--pid-file=" + os.path.join(base, "mysqld.pid"),
                "--innodb-buffer-pool-size=32M", "--innodb-log-file-size=16M",
                "--innodb-flush-log-at-trx-commit=0", "--skip-log-bin",
                "--ssl-cert=" + SRV_CERT, "--ssl-key=" + SRV_KEY, "--ssl-ca=" + cert("ca.pem"),
                "--require-secure-transport=ON"]
        proc = subprocess.Popen(args, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL, preexec_fn=harness._die_with_parent)
        srv.proc, srv.port = proc, port
        deadline = time.monotonic() + startup_timeout
        while time.monotonic() < deadline and proc.poll() is None:
            if os.path.exists(sock):
                try:
                    harness.wait_port(port, 0.5)
                    srv.sql("SELECT 1")
                    break
                except Exception:
                    pass
            time.sleep(0.05)
        else:
            tail = harness._tail(errlog)
            if proc.poll() is None:
                raise RuntimeError("TLS mariadbd did not start:\n" + tail)
            if "Address already in use" in tail:
                continue
            raise RuntimeError("TLS mariadbd exited:\n" + tail)
        break
    srv.sql("DELETE FROM mysql.global_priv WHERE User=''; FLUSH PRIVILEGES")
    srv._setup_users()
    return srv


def setUpModule():
    global CERTS, SRV, SRV_CERT, SRV_KEY
    CERTS = tempfile.mkdtemp(prefix="slowtap-certs-")
    harness._cleanups.append(lambda: shutil.rmtree(CERTS, ignore_errors=True))
    subprocess.run(["bash", MAKE_CERTS, CERTS], check=True, timeout=120)
    SRV_CERT = os.path.join(CERTS, "mdb-cert.pem")
    SRV_KEY = os.path.join(CERTS, "mdb-key.pem")
    shutil.copy(cert("server.pem"), SRV_CERT)
    shutil.copy(cert("server-key.pem"), SRV_KEY)
    SRV = start_tls_server()
    SRV.fresh_db(DB)
    SRV.sql("CREATE TABLE t (id INT PRIMARY KEY, v VARCHAR(20), n INT); "
            "INSERT INTO t VALUES (1,'a',10),(2,'b',20),(3,'c',30),(4,'d',40)", db=DB)


def server_cert_as(name):
    """Makes the MariaDB serve certificate `name` (FLUSH SSL re-reads ssl_cert/ssl_key)."""
    shutil.copy(cert(name + ".pem"), SRV_CERT)
    shutil.copy(cert(name + "-key.pem"), SRV_KEY)
    SRV.sql("FLUSH SSL")


def proxy(args, backend=None, **kw):
    a = list(args)
    if backend:
        a += ["--backend", backend]
    return harness.Slowtap(a, server=SRV, **kw)


def front_args():
    return ["--tls-cert", cert("server.pem"), "--tls-key", cert("server-key.pem")]


def back_args(mode="verify-ca", ca="ca.pem"):
    a = ["--backend-tls", mode]
    if ca:
        a += ["--backend-tls-ca", cert(ca)]
    return a


def cli_tls(port, stmt, extra=()):
    return harness.client_cli(port, stmt, db=DB, extra=["--ssl", "--ssl-verify-server-cert",
                                                       "--ssl-ca=" + cert("ca.pem")] + list(extra))


def cli_plain(port, stmt, extra=()):
    return harness.client_cli(port, stmt, db=DB, extra=["--skip-ssl"] + list(extra))


def pymysql_tls(port, **kw):
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=DB, autocommit=True, connect_timeout=10, read_timeout=30,
                           ssl={"ca": cert("ca.pem")}, **kw)


def scalar(conn, sql):
    with conn.cursor() as c:
        c.execute(sql)
        return c.fetchone()


def der_of(name):
    with open(cert(name + ".pem")) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


def served_cert(port):
    """The DER certificate the proxy presents to a new TLS client: a hand-built SSL request
    after the greeting, then a TLS handshake without verification."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        hdr = s.recv(4, socket.MSG_WAITALL)
        n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        greeting = s.recv(n, socket.MSG_WAITALL)
        assert len(greeting) == n
        caps = 0x00000200 | 0x00008000 | 0x00000800 | 0x00080000  # 4.1, secure conn, SSL, plugin
        payload = struct.pack("<IIB23x", caps, 1 << 24, 45)
        s.sendall(struct.pack("<I", len(payload))[:3] + bytes([1]) + payload)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with ctx.wrap_socket(s, server_hostname="localhost") as t:
            return t.getpeercert(binary_form=True)


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.1)
    return pred()


def statements(st):
    return [e["statement"] for e in st.entries()]


class TlsBothSides(unittest.TestCase):
    """(a) real clients over TLS to the proxy, the proxy over TLS (verify-ca) to MariaDB."""

    def test_clients_over_tls(self):
        with proxy(front_args() + ["--tls-require"] + back_args()) as st:
            r = cli_tls(st.port, "SELECT 'cli-tls-marker', v FROM t WHERE id = 1")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout.strip(), "cli-tls-marker\ta")
            r = cli_tls(st.port, "SHOW SESSION STATUS LIKE 'Ssl_version'")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"^Ssl_version\tTLSv1\.[23]$")

            conn = pymysql_tls(st.port)
            try:
                self.assertIsInstance(conn._sock, ssl.SSLSocket)
                self.assertEqual(conn._sock.getpeercert(binary_form=True), der_of("server"))
                self.assertEqual(scalar(conn, "SELECT 'pymysql-tls-marker', n FROM t "
                                              "WHERE id = 2"), ("pymysql-tls-marker", 20))
                ver = scalar(conn, "SHOW SESSION STATUS LIKE 'Ssl_version'")
                self.assertTrue(ver[1].startswith("TLSv1."), ver)
            finally:
                conn.close()

            php = shutil.which("php")
            if php:
                code = r"""
$pdo = new PDO('mysql:host=127.0.0.1;port=' . $argv[1] . ';dbname=%s', 'app', 'apppass', [
    PDO::MYSQL_ATTR_SSL_CA => $argv[2],
    PDO::MYSQL_ATTR_SSL_VERIFY_SERVER_CERT => true,
    PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$st = $pdo->prepare("SELECT 'php-tls-marker', v FROM t WHERE id = ?");
$st->execute([3]);
echo implode(',', $st->fetch(PDO::FETCH_NUM)), "\n";
$r = $pdo->query("SHOW SESSION STATUS LIKE 'Ssl_version'")->fetch(PDO::FETCH_NUM);
echo $r[1], "\n";
""" % DB
                r = subprocess.run([php, "-r", code, str(st.port), cert("ca.pem")],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   timeout=60)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                lines = r.stdout.split("\n")
                self.assertEqual(lines[0], "php-tls-marker,c")
                self.assertTrue(lines[1].startswith("TLSv1."), r.stdout)

            stmts = statements(st)
            joined = "\n".join(stmts)
            self.assertIn("SELECT 'cli-tls-marker', v FROM t WHERE id = 1", stmts)
            self.assertIn("SELECT 'pymysql-tls-marker', n FROM t WHERE id = 2", stmts)
            if php:
                self.assertIn("php-tls-marker", joined)
            for e in st.entries():
                if "tls-marker" in e["statement"]:
                    self.assertEqual(e["user"], "app")
                    self.assertIsNone(e["error"])

    def test_plain_client_refused_with_tls_require(self):
        """(b) --tls-require: a client that does not upgrade gets ERR 3159."""
        with proxy(front_args() + ["--tls-require"] + back_args()) as st:
            r = cli_plain(st.port, "SELECT 'plain-marker'")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("3159", r.stderr)
            self.assertIn("insecure transport are prohibited", r.stderr)
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                pymysql.connect(host="127.0.0.1", port=st.port, user="app", password="apppass",
                                connect_timeout=10)
            self.assertEqual(cm.exception.args[0], 3159)
            # without --tls-require the same plaintext client is served (TLS to the backend)
        with proxy(front_args() + back_args()) as st:
            r = cli_plain(st.port, "SHOW SESSION STATUS LIKE 'Ssl_version'")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertRegex(r.stdout, r"^Ssl_version\tTLSv1\.[23]$")
            self.assertNotIn("plain-marker", "\n".join(statements(st)))

    def test_backend_tls_off_relays_server_error(self):
        """(c) --backend-tls off: MariaDB refuses the plaintext connection; the client gets
        that refusal, unchanged, and the proxy lives on."""
        direct = cli_plain(SRV.port, "SELECT 1")
        self.assertNotEqual(direct.returncode, 0)
        server_err = direct.stderr.strip().split("\n")[-1]
        self.assertRegex(server_err, r"ERROR \d+ \(\w+\)")
        with proxy(["--backend-tls", "off"]) as st:
            for _ in range(2):
                r = cli_plain(st.port, "SELECT 1")
                self.assertNotEqual(r.returncode, 0)
                self.assertEqual(r.stderr.strip().split("\n")[-1], server_err)
                self.assertNotIn("slowtap", r.stderr)
            # a TLS client to a plaintext-to-backend proxy is refused the same way
            self.assertIsNone(st.proc.poll())
        self.assertEqual(st.exit_code, 0)


class BackendVerification(unittest.TestCase):
    """(d) verify-ca / verify-identity on the proxy's backend connection."""

    def test_verify_ca_wrong_ca(self):
        with proxy(back_args("verify-ca", "other-ca.pem")) as st:
            r = cli_plain(st.port, "SELECT 1")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("TLS", r.stderr)
            self.assertIsNone(st.proc.poll())

    # The error names the certificate check's result, not libevent's generic SSL_ERROR_SSL.
    def test_verify_ca_wrong_ca_names_the_cause(self):
        with proxy(back_args("verify-ca", "other-ca.pem")) as st:
            r = cli_plain(st.port, "SELECT 1")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("certificate verify failed", r.stderr)

    def test_required_without_ca(self):
        with proxy(back_args("required", None)) as st:
            r = cli_plain(st.port, "SHOW SESSION STATUS LIKE 'Ssl_version'")
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("TLSv1.", r.stdout)

    def test_verify_identity_right_name(self):
        for backend in ("127.0.0.1:%d" % SRV.port, "localhost:%d" % SRV.port):
            with proxy(back_args("verify-identity"), backend=backend) as st:
                r = cli_plain(st.port, "SHOW SESSION STATUS LIKE 'Ssl_version'")
                self.assertEqual(r.returncode, 0, "%s: %s" % (backend, r.stderr))
                self.assertIn("TLSv1.", r.stdout)

    def test_verify_identity_wrong_name(self):
        """A certificate of the right CA for another name: verify-identity refuses it,
        verify-ca accepts it (chain only)."""
        server_cert_as("wrongname")
        try:
            with proxy(back_args("verify-identity")) as st:
                r = cli_plain(st.port, "SELECT 1")
                self.assertNotEqual(r.returncode, 0)
                self.assertIn("TLS", r.stderr)
            with proxy(back_args("verify-ca")) as st:
                r = cli_plain(st.port, "SELECT 1")
                self.assertEqual(r.returncode, 0, r.stderr)
        finally:
            server_cert_as("server")


class ClientCertificates(unittest.TestCase):
    """(e) --tls-ca: the proxy asks for and verifies client certificates."""

    def test_client_cert_required(self):
        with proxy(front_args() + ["--tls-ca", cert("ca.pem")] + back_args()) as st:
            ok = cli_tls(st.port, "SELECT 'client-cert-marker'",
                         ["--ssl-cert=" + cert("client.pem"),
                          "--ssl-key=" + cert("client-key.pem")])
            self.assertEqual(ok.returncode, 0, ok.stderr)
            self.assertEqual(ok.stdout.strip(), "client-cert-marker")
            no = cli_tls(st.port, "SELECT 'no-client-cert-marker'")
            self.assertNotEqual(no.returncode, 0)
            # a certificate from another CA is refused too
            other = cli_tls(st.port, "SELECT 'other-client-cert-marker'",
                            ["--ssl-cert=" + cert("other-server.pem"),
                             "--ssl-key=" + cert("other-server-key.pem")])
            self.assertNotEqual(other.returncode, 0)
            with self.assertRaises(pymysql.err.OperationalError):
                pymysql_tls(st.port).close()
            conn = pymysql.connect(host="127.0.0.1", port=st.port, user="app", password="apppass",
                                   database=DB, connect_timeout=10,
                                   ssl={"ca": cert("ca.pem"), "cert": cert("client.pem"),
                                        "key": cert("client-key.pem")})
            try:
                self.assertEqual(scalar(conn, "SELECT 7"), (7,))
            finally:
                conn.close()
            stmts = "\n".join(statements(st))
            self.assertIn("'client-cert-marker'", stmts)
            self.assertNotIn("no-client-cert-marker", stmts)
            self.assertNotIn("other-client-cert-marker", stmts)
            self.assertIsNone(st.proc.poll())


class Reload(unittest.TestCase):
    """(f) SIGHUP reloads the certificate files; open connections keep their TLS session."""

    def test_sighup_reload(self):
        tmp = tempfile.mkdtemp(prefix="slowtap-tls-reload-")
        self.addCleanup(shutil.rmtree, tmp, True)
        c, k = os.path.join(tmp, "cert.pem"), os.path.join(tmp, "key.pem")
        shutil.copy(cert("server.pem"), c)
        shutil.copy(cert("server-key.pem"), k)
        with proxy(["--tls-cert", c, "--tls-key", k] + back_args()) as st:
            self.assertEqual(served_cert(st.port), der_of("server"))
            old = pymysql_tls(st.port)
            try:
                self.assertEqual(scalar(old, "SELECT 1"), (1,))
                shutil.copy(cert("server2.pem"), c)
                shutil.copy(cert("server2-key.pem"), k)
                st.proc.send_signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: "reloaded" in st.stderr()), st.stderr())
                self.assertEqual(served_cert(st.port), der_of("server2"))
                new = pymysql_tls(st.port)
                try:
                    self.assertEqual(new._sock.getpeercert(binary_form=True), der_of("server2"))
                    self.assertEqual(scalar(new, "SELECT 'after-reload-new'"),
                                     ("after-reload-new",))
                finally:
                    new.close()
                # the connection opened before the reload still works, on its old session
                self.assertEqual(old._sock.getpeercert(binary_form=True), der_of("server"))
                self.assertEqual(scalar(old, "SELECT 'after-reload-old'"), ("after-reload-old",))

                # a reload with a broken key keeps the certificate in use
                with open(k, "w") as f:
                    f.write("not a key\n")
                st.proc.send_signal(signal.SIGHUP)
                self.assertTrue(wait_for(lambda: "reload failed" in st.stderr()), st.stderr())
                self.assertEqual(served_cert(st.port), der_of("server2"))
                self.assertEqual(scalar(old, "SELECT 2"), (2,))
            finally:
                old.close()
            stmts = statements(st)
            self.assertIn("SELECT 'after-reload-new'", stmts)
            self.assertIn("SELECT 'after-reload-old'", stmts)


class StartupErrors(unittest.TestCase):
    """(g) bad certificate files: exit 2 and one line naming the file."""

    def run_proxy(self, args):
        cmd = [harness.slowtap_bin(), "--listen", "127.0.0.1:%d" % harness.free_port(),
               "--backend", "127.0.0.1:%d" % SRV.port, "--http", "off",
               "--slow-log", os.devnull] + args
        return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=30)

    def check(self, args, path):
        r = self.run_proxy(args)
        self.assertEqual(r.returncode, 2, r.stderr)
        lines = r.stderr.strip().split("\n")
        self.assertEqual(len(lines), 1, r.stderr)
        self.assertIn(path, lines[0])
        return lines[0]

    def test_missing_cert(self):
        missing = os.path.join(CERTS, "does-not-exist.pem")
        line = self.check(["--tls-cert", missing, "--tls-key", cert("server-key.pem")], missing)
        self.assertIn("No such file", line)

    def test_unreadable_key(self):
        if os.geteuid() == 0:
            # root reads any file: make the key unreadable as a directory instead
            bad = tempfile.mkdtemp(prefix="slowtap-key-dir-")
            self.addCleanup(shutil.rmtree, bad, True)
        else:
            fd, bad = tempfile.mkstemp(prefix="slowtap-key-")
            os.close(fd)
            shutil.copy(cert("server-key.pem"), bad)
            os.chmod(bad, 0)
            self.addCleanup(os.unlink, bad)
        self.check(["--tls-cert", cert("server.pem"), "--tls-key", bad], bad)

    def test_garbage_key(self):
        fd, bad = tempfile.mkstemp(prefix="slowtap-key-", suffix=".pem")
        os.write(fd, b"-----BEGIN PRIVATE KEY-----\nnonsense\n-----END PRIVATE KEY-----\n")
        os.close(fd)
        self.addCleanup(os.unlink, bad)
        self.check(["--tls-cert", cert("server.pem"), "--tls-key", bad], bad)

    def test_key_does_not_match(self):
        line = self.check(["--tls-cert", cert("server.pem"), "--tls-key",
                           cert("server2-key.pem")], cert("server2-key.pem"))
        self.assertRegex(line, r"mismatch|does not match")

    def test_missing_backend_ca(self):
        missing = os.path.join(CERTS, "no-ca.pem")
        self.check(["--backend-tls", "verify-ca", "--backend-tls-ca", missing], missing)


def wait_explained(st, marker, timeout=15.0):
    def found():
        es = [e for e in st.entries(settle=0.1) if marker in e["statement"]]
        return es if es and (es[0]["explain"] or es[0]["explain_error"]) else None
    return wait_for(found, timeout) or []


class ExplainOverTls(unittest.TestCase):
    """(h) auto-EXPLAIN side connections follow --backend-tls (explain/explain.c)."""

    def explain_one(self, tls_args, marker, backend=None):
        with proxy(tls_args + EXPLAIN_ARGS, backend=backend) as st:
            r = cli_plain(st.port, "SELECT '%s', v FROM t WHERE n > 15" % marker)
            self.assertEqual(r.returncode, 0, r.stderr)
            es = wait_explained(st, marker)
            self.assertTrue(es, "no entry for %s:\n%s" % (marker, st.log_text()))
            return es[0], st.stderr()

    def test_verify_ca(self):
        e, err = self.explain_one(back_args("verify-ca"), "explain-verify-ca")
        self.assertIsNone(e["explain_error"], e["raw"])
        self.assertGreaterEqual(len(e["explain"]), 2, e["raw"])
        self.assertIn("table", e["explain"][0])
        self.assertIn("t", [row[2] for row in e["explain"][1:]])

    def test_required_and_preferred(self):
        for mode in ("required", "preferred"):
            e, err = self.explain_one(back_args(mode, None), "explain-" + mode)
            self.assertIsNone(e["explain_error"], e["raw"])
            self.assertGreaterEqual(len(e["explain"]), 2, e["raw"])

    def test_verify_identity(self):
        for backend in ("127.0.0.1:%d" % SRV.port, "localhost:%d" % SRV.port):
            e, err = self.explain_one(back_args("verify-identity"), "explain-identity",
                                      backend=backend)
            self.assertIsNone(e["explain_error"], backend + ":\n" + e["raw"] + err)
            self.assertGreaterEqual(len(e["explain"]), 2, e["raw"])

    def test_verify_ca_accepts_other_name_identity_refuses(self):
        """The side connections check the chain only under verify-ca, the name as well under
        verify-identity. The client connections are verify-ca here so that they work."""
        server_cert_as("wrongname")
        try:
            e, err = self.explain_one(back_args("verify-ca"), "explain-ca-wrongname")
            self.assertIsNone(e["explain_error"], e["raw"] + err)
            self.assertGreaterEqual(len(e["explain"]), 2, e["raw"])
        finally:
            server_cert_as("server")

    def explain_on_open_session(self, tls_args, marker, before_statement, backend=None):
        """A TLS session opened first, then `before_statement()` (e.g. a certificate swap on
        the server), then a statement: only the explain side connection sees the change."""
        with proxy(tls_args + EXPLAIN_ARGS, backend=backend) as st:
            conn = pymysql.connect(host="127.0.0.1", port=st.port, user="app",
                                   password="apppass", database=DB, autocommit=True,
                                   connect_timeout=10, read_timeout=30)
            try:
                self.assertIn("TLSv1.", scalar(conn, "SHOW SESSION STATUS LIKE 'Ssl_version'")[1])
                before_statement()
                self.assertEqual(len(scalar(conn, "SELECT '%s', v FROM t WHERE n > 15"
                                                  % marker)), 2)
            finally:
                conn.close()
            es = wait_explained(st, marker)
            self.assertTrue(es, "no entry for %s:\n%s" % (marker, st.log_text()))
            return es[0], st.stderr()

    def test_explain_verify_ca_wrong_ca_fails(self):
        try:
            e, err = self.explain_on_open_session(back_args("verify-ca"), "explain-other-ca",
                                                  lambda: server_cert_as("other-server"))
        finally:
            server_cert_as("server")
        self.assertEqual(e["explain"], [], e["raw"])
        self.assertIsNotNone(e["explain_error"], e["raw"])
        self.assertRegex(e["explain_error"], r"SSL|TLS")
        self.assertRegex(e["explain_error"], r"certificate|verify")

    def test_explain_verify_identity_wrong_name_fails(self):
        try:
            e, err = self.explain_on_open_session(back_args("verify-identity"),
                                                  "explain-identity-wrongname",
                                                  lambda: server_cert_as("wrongname"))
        finally:
            server_cert_as("server")
        self.assertEqual(e["explain"], [], e["raw"])
        self.assertIsNotNone(e["explain_error"], e["raw"])
        self.assertRegex(e["explain_error"], r"SSL|TLS")

    def test_explain_tls_required_refuses_plaintext(self):
        """Side connections through a forwarder that hides CLIENT_SSL in the greeting of
        connections made after the client session is open, to the server with
        require_secure_transport switched off: required and verify-ca refuse the plaintext
        side connection, preferred uses it."""
        SRV.sql("SET GLOBAL require_secure_transport = OFF")
        fwd = SslStripper(SRV.port)
        try:
            for mode, ok in (("required", False), ("verify-ca", False), ("preferred", True)):
                fwd.strip, fwd.stripped = False, 0
                e, err = self.explain_on_open_session(
                    back_args(mode, None if mode != "verify-ca" else "ca.pem"),
                    "explain-stripped-" + mode, lambda: setattr(fwd, "strip", True),
                    backend="127.0.0.1:%d" % fwd.port)
                self.assertGreaterEqual(fwd.stripped, 1, mode)
                if ok:
                    self.assertIsNone(e["explain_error"], mode + ": " + e["raw"])
                    self.assertGreaterEqual(len(e["explain"]), 2, e["raw"])
                else:
                    self.assertEqual(e["explain"], [], e["raw"])
                    self.assertIn("does not offer TLS", e["explain_error"] or "",
                                  mode + ": " + e["raw"])
                    self.assertIn("does not offer TLS", err)
        finally:
            fwd.close()
            SRV.sql("SET GLOBAL require_secure_transport = ON")


class BackendTlsErrors(unittest.TestCase):
    """With --backend-tls preferred or required (no verification), a backend TLS handshake
    that fails for another reason is reported with that reason, not as a certificate
    verification failure: OpenSSL records the unverifiable chain (the test CA is unknown to
    slowtap here) even under SSL_VERIFY_NONE, which once made every such failure read
    "certificate verify failed"."""

    def test_failed_handshake_without_verification_names_the_real_cause(self):
        fb = TlsRefusingBackend()
        try:
            for mode in ("preferred", "required"):
                before = fb.refused
                with harness.Slowtap(["--backend-tls", mode],
                                     server=types.SimpleNamespace(port=fb.port)) as st:
                    r = cli_plain(st.port, "SELECT 1")
                    self.assertIsNone(st.proc.poll())
                self.assertNotEqual(r.returncode, 0)
                self.assertGreater(fb.refused, before, mode)  # the certificate was sent
                self.assertIn("TLS connection error with backend", r.stderr)
                self.assertIn("alert handshake failure", r.stderr, mode)
                self.assertNotIn("certificate verify failed", r.stderr, mode)
        finally:
            fb.close()

    def test_verification_failure_still_named(self):
        """The same backend under verify-ca with a CA that did not sign its certificate."""
        fb = TlsRefusingBackend()
        try:
            with harness.Slowtap(back_args("verify-ca", "other-ca.pem"),
                                 server=types.SimpleNamespace(port=fb.port)) as st:
                r = cli_plain(st.port, "SELECT 1")
            self.assertNotEqual(r.returncode, 0)
            self.assertIn("certificate verify failed", r.stderr)
        finally:
            fb.close()


class TlsRefusingBackend:
    """A fake server that offers CLIENT_SSL, reads the SSL request, sends its certificate
    (server.pem, TLS 1.2) and then fails the handshake by demanding a client certificate that
    slowtap does not have. .refused counts the handshakes it failed."""

    CAPS = 0x1 | 0x4 | 0x8 | 0x200 | 0x800 | 0x2000 | 0x8000 | 0x10000 | 0x20000 | 0x80000

    def __init__(self):
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        self.ctx.load_cert_chain(cert("server.pem"), cert("server-key.pem"))
        self.ctx.load_verify_locations(cert("ca.pem"))
        self.ctx.verify_mode = ssl.CERT_REQUIRED
        self.refused = 0
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def _greeting(self):
        salt = b"abcdefgh" + b"ijklmnopqrst"
        g = (b"\x0a" + b"5.5.5-10.11.0-fake\0" + struct.pack("<I", 7) + salt[:8] + b"\0" +
             struct.pack("<H", self.CAPS & 0xFFFF) + b"\x2d" + struct.pack("<H", 2) +
             struct.pack("<H", self.CAPS >> 16) + bytes([21]) + b"\0" * 10 + salt[8:] + b"\0" +
             b"mysql_native_password\0")
        return struct.pack("<I", len(g))[:3] + b"\0" + g

    def _accept(self):
        while True:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    def _serve(self, c):
        try:
            c.settimeout(10)
            c.sendall(self._greeting())
            hdr = c.recv(4, socket.MSG_WAITALL)
            if len(hdr) < 4:
                return  # a connection probe (harness.wait_port) closed by slowtap
            n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
            c.recv(n, socket.MSG_WAITALL)  # the SSL request
            try:
                self.ctx.wrap_socket(c, server_side=True).close()
            except (ssl.SSLError, OSError):
                self.refused += 1
        finally:
            c.close()

    def close(self):
        self.lsock.close()


class SslStripper:
    """A TCP forwarder to 127.0.0.1:port that clears CLIENT_SSL in the server greeting of the
    connections accepted while .strip is true (counted in .stripped)."""

    def __init__(self, port):
        self.target = port
        self.strip = False
        self.stripped = 0
        self.lsock = socket.socket()
        self.lsock.bind(("127.0.0.1", 0))
        self.lsock.listen(16)
        self.port = self.lsock.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.closed:
            try:
                c, _ = self.lsock.accept()
            except OSError:
                return
            strip = self.strip
            self.stripped += 1 if strip else 0
            b = socket.create_connection(("127.0.0.1", self.target))
            threading.Thread(target=self._pipe, args=(b, c, strip), daemon=True).start()
            threading.Thread(target=self._pipe, args=(c, b, False), daemon=True).start()

    @staticmethod
    def _pipe(src, dst, strip):
        try:
            if strip:
                hdr = src.recv(4, socket.MSG_WAITALL)
                n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
                g = bytearray(src.recv(n, socket.MSG_WAITALL))
                pos = g.index(0, 1) + 1 + 4 + 8 + 1  # version, thread id, scramble, filler
                g[pos + 1] &= ~0x08  # CLIENT_SSL is 0x0800 of the lower capability bytes
                dst.sendall(hdr + bytes(g))
            while True:
                d = src.recv(65536)
                if not d:
                    break
                dst.sendall(d)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            src.close()

    def close(self):
        self.closed = True
        self.lsock.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
