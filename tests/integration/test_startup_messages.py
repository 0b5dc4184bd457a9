"""test_startup_messages.py - what slowtap says on stderr, checked word for word where it
matters: a refused login is reported as an authentication failure (user and server error
code), never as a lost connection; a normal start prints only its one start-up line; the
open-file-limit note appears only when the limit is too low for --max-connections; when the
default HTTP address is taken slowtap starts without HTTP and says so on one line, while an
explicitly given --http that cannot listen stays a start-up error (exit 2); a slow log or
explain log that cannot be opened is a start-up error naming it (exit 2); what slowtap says
about a port given alone is a note, phrased as one."""
# slowtap-test: serial
# (serial: it holds the default HTTP port 127.0.0.1:9033 for a moment)

import os
import re
import resource
import signal
import socket
import subprocess
import tempfile
import time
import unittest

import harness

DEFAULT_HTTP = ("127.0.0.1", 9033)


class Proc:
    """slowtap started directly (not through harness.Slowtap, which always adds --http off),
    in front of the test MariaDB, with stderr in a file; `limit` sets its open-file limit
    (soft and hard)."""

    def __init__(self, args, limit=None):
        self.dir = tempfile.mkdtemp(prefix="slowtap-msg-")
        self.port = harness.free_port()
        self.err_path = os.path.join(self.dir, "stderr.txt")
        cmd = [harness.slowtap_bin(), "--listen", "127.0.0.1:%d" % self.port,
               "--backend", "127.0.0.1:%d" % harness.mariadb().port,
               "--slow-log", os.path.join(self.dir, "slow.log")] + list(args)

        def pre():
            if limit is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit, limit))

        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err, preexec_fn=pre)

    def wait_listening(self):
        harness.wait_port(self.port, 10, proc=self.proc)

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


def hold(addr):
    """A listening socket on addr, or None when something else already listens there (the
    address is taken either way)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(addr)
        s.listen(1)
        return s
    except OSError:
        s.close()
        with socket.create_connection(addr, timeout=2):
            pass  # it really is taken by someone else
        return None


class AuthFailure(unittest.TestCase):
    def test_wrong_password_is_an_auth_failure(self):
        import pymysql
        srv = harness.mariadb()
        with harness.Slowtap() as px:
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                pymysql.connect(host="127.0.0.1", port=px.port, user="app",
                                password="not-the-password", connect_timeout=10)
            # the client gets the server's own error, unchanged
            self.assertEqual(cm.exception.args[0], 1045, cm.exception.args)
            self.assertIn("Access denied", cm.exception.args[1])
            # a good login afterwards still works (and the session after it is unaffected)
            c = pymysql.connect(host="127.0.0.1", port=px.port, user="app", password="apppass")
            c.cursor().execute("SELECT 1")
            c.close()
            deadline = time.monotonic() + 5
            while "auth failed" not in px.stderr() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)  # anything the server's close might still print
            err = px.stderr()
        self.assertIsNotNone(srv)
        lines = [l for l in err.splitlines() if "auth failed" in l]
        self.assertEqual(len(lines), 1, err)
        self.assertTrue(lines[0].endswith("auth failed for user 'app' (server error 1045)"),
                        lines[0])
        self.assertNotIn("Lost connection", err)
        self.assertNotIn("closed by the server", err)
        self.assertNotIn("not-the-password", err)

    def test_failed_change_user_is_an_auth_failure(self):
        import MySQLdb
        harness.mariadb()
        with harness.Slowtap() as px:
            c = MySQLdb.connect(host="127.0.0.1", port=px.port, user="app", passwd="apppass")
            with self.assertRaises(MySQLdb.OperationalError) as cm:
                c.change_user("app", "wrong-pass-xyz")
            self.assertEqual(cm.exception.args[0], 1045, cm.exception.args)
            deadline = time.monotonic() + 5
            while "auth failed" not in px.stderr() and time.monotonic() < deadline:
                time.sleep(0.05)
            err = px.stderr()
        lines = [l for l in err.splitlines() if "auth failed" in l]
        self.assertEqual(len(lines), 1, err)
        self.assertIn("auth failed for user 'app' (server error 1045, COM_CHANGE_USER)",
                      lines[0])
        self.assertNotIn("wrong-pass-xyz", err)

    def test_unknown_database_is_reported_with_its_code(self):
        # 1044/1049 come during authentication too: the same message, another code
        import pymysql
        harness.mariadb()
        with harness.Slowtap() as px:
            with self.assertRaises(pymysql.err.OperationalError) as cm:
                pymysql.connect(host="127.0.0.1", port=px.port, user="app", password="apppass",
                                database="no_such_db_%d" % os.getpid(), connect_timeout=10)
            code = cm.exception.args[0]
            deadline = time.monotonic() + 5
            while "auth failed" not in px.stderr() and time.monotonic() < deadline:
                time.sleep(0.05)
            time.sleep(0.3)
            err = px.stderr()
        self.assertIn(code, (1044, 1049), cm.exception.args)
        self.assertIn("auth failed for user 'app' (server error %d)" % code, err)
        self.assertNotIn("Lost connection", err)


class StartupNotes(unittest.TestCase):
    def test_normal_start_prints_one_line(self):
        p = Proc(["--http", "off", "--max-connections", "100"], limit=4096)
        try:
            p.wait_listening()
            time.sleep(0.2)
        finally:
            self.assertEqual(p.stop(), 0, p.stderr())
        lines = [l for l in p.stderr().splitlines() if "stopping" not in l]
        self.assertEqual(len(lines), 1, p.stderr())
        self.assertRegex(lines[0], r"^slowtap \S+: listening on 127\.0\.0\.1:%d" % p.port)
        self.assertNotIn("open-file", p.stderr())

    def test_fd_note_only_when_too_low(self):
        # 4096 descriptors leave room for about 2016 connections
        cases = ((1000, False), (2100, False), (3000, True), (100000, True))
        for maxc, noted in cases:
            p = Proc(["--http", "off", "--max-connections", str(maxc)], limit=4096)
            try:
                p.wait_listening()
            finally:
                self.assertEqual(p.stop(), 0, p.stderr())
            err = p.stderr()
            if noted:
                note = [l for l in err.splitlines() if "open-file limit" in l]
                self.assertEqual(len(note), 1, err)
                self.assertIn("the open-file limit 4096 leaves room for about 2016 client "
                              "connections, fewer than --max-connections %d" % maxc, note[0])
                self.assertTrue(note[0].startswith("slowtap: note: "), note[0])
            else:
                self.assertNotIn("open-file", err, maxc)


class HttpFallback(unittest.TestCase):
    def test_default_http_taken_starts_without_http(self):
        import pymysql
        held = hold(DEFAULT_HTTP)
        try:
            p = Proc([])  # no --http: the default address
            try:
                p.wait_listening()
                self.assertIsNone(p.proc.poll())
                # the proxy itself works
                c = pymysql.connect(host="127.0.0.1", port=p.port, user="app",
                                    password="apppass")
                cur = c.cursor()
                cur.execute("SELECT 41 + 1")
                self.assertEqual(cur.fetchall(), ((42,),))
                c.close()
            finally:
                self.assertEqual(p.stop(), 0, p.stderr())
        finally:
            if held:
                held.close()
        err = p.stderr()
        notes = [l for l in err.splitlines() if "HTTP" in l and "listening on" not in l]
        self.assertEqual(notes, ["slowtap: HTTP off: the default address 127.0.0.1:9033 is in use "
                                 "(another slowtap?); give --http ADDR to serve metrics and the "
                                 "dashboard"], err)
        self.assertRegex(err, r"(?m)^slowtap \S+: listening on .*, HTTP off(,|$)")
        self.assertNotIn("cannot listen", err)

    def test_explicit_http_taken_is_an_error(self):
        busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        addr = "127.0.0.1:%d" % busy.getsockname()[1]
        try:
            for args in (["--http", addr], ["--http", "127.0.0.1:9033"]):
                held = hold(DEFAULT_HTTP) if args[1].endswith(":9033") else None
                try:
                    p = Proc(args)
                    rc = p.proc.wait(timeout=20)
                finally:
                    if held:
                        held.close()
                err = p.stderr()
                self.assertEqual(rc, 2, err)
                lines = err.splitlines()
                self.assertEqual(len(lines), 1, err)
                self.assertTrue(lines[0].startswith("slowtap: --http %s: cannot listen: "
                                                    % args[1]), lines[0])
                self.assertIn("in use", lines[0])
        finally:
            busy.close()

    def test_explicit_http_in_config_file_taken_is_an_error(self):
        busy = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        addr = "127.0.0.1:%d" % busy.getsockname()[1]
        d = tempfile.mkdtemp(prefix="slowtap-msg-ini-")
        ini = os.path.join(d, "slowtap.ini")
        with open(ini, "w") as f:
            f.write("[slowtap]\nhttp = %s\n" % addr)
        try:
            p = Proc(["--config", ini])
            rc = p.proc.wait(timeout=20)
        finally:
            busy.close()
        self.assertEqual(rc, 2, p.stderr())
        self.assertIn("cannot listen", p.stderr())


class StartupLogPaths(unittest.TestCase):
    def test_unopenable_log_is_a_startup_error(self):
        d = tempfile.mkdtemp(prefix="slowtap-msg-logs-")
        missing = os.path.join(d, "no-such-dir", "x.log")
        cases = (("--slow-log", missing, os.strerror(2)),
                 ("--slow-log", d, os.strerror(21)),  # a directory
                 ("--explain-log", missing, os.strerror(2)))
        for opt, path, why in cases:
            p = Proc([opt, path])
            try:
                rc = p.proc.wait(timeout=20)
            finally:
                p.stop()
            err = p.stderr()
            self.assertEqual(rc, 2, (opt, path, err))
            self.assertEqual(err.splitlines(), ["slowtap: %s %s: cannot open: %s"
                                                % (opt, path, why)], err)
            with self.assertRaises(OSError):  # it never listened
                socket.create_connection(("127.0.0.1", p.port), timeout=1).close()
        self.assertFalse(os.path.exists(os.path.dirname(missing)))
        # a log that does not exist yet, in a directory that does, is created at start
        fresh = os.path.join(d, "fresh.log")
        p = Proc(["--http", "off", "--slow-log", fresh])
        try:
            p.wait_listening()
            self.assertTrue(os.path.exists(fresh))
        finally:
            self.assertEqual(p.stop(), 0, p.stderr())
        self.assertNotIn("dropping", p.stderr())


class StartupNotesPhrased(unittest.TestCase):
    def test_port_alone_is_a_note(self):
        srv_port = harness.mariadb().port
        port = harness.free_port()
        # the later --listen and --backend win: a port alone, each
        p = Proc(["--http", "off", "--listen", str(port), "--backend", str(srv_port)])
        p.port = port
        try:
            p.wait_listening()
            time.sleep(0.2)
        finally:
            self.assertEqual(p.stop(), 0, p.stderr())
        lines = [l for l in p.stderr().splitlines() if "stopping" not in l and
                 not re.match(r"^slowtap \S+: listening on %d," % port, l)]
        self.assertEqual(lines, [
            "slowtap: note: --listen %d is 127.0.0.1:%d (a port alone means loopback)"
            % (port, port),
            "slowtap: note: --backend %d is 127.0.0.1:%d (a port alone means loopback)"
            % (srv_port, srv_port)], p.stderr())

if __name__ == "__main__":
    unittest.main()
