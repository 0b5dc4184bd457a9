"""test_addresses.py - addresses that resolve to several addresses (issue 11, item 3).

slowtap runs with a resolver override (tests/tools/hostsfile.py: an LD_PRELOAD getaddrinfo()
that answers from a hosts file of the test's own; /etc/hosts is never touched, no mount, no
root, so it works in a chroot or container too), so that `localhost` resolves to ::1 first and
127.0.0.1 second, as on Debian. The MariaDB server is reached through a relay
that listens on 127.0.0.1 only, as Debian's MariaDB does. Checked:
  - --backend localhost:PORT: the proxy and the auto-EXPLAIN connections fall back from ::1
    (refused) to 127.0.0.1; the start-up line lists the addresses in the order tried;
  - --listen localhost:PORT listens on both 127.0.0.1 and ::1 (several worker threads); an
    address of the name that this host lacks is skipped with a note (alone: exit 2);
  - the auto-EXPLAIN connect error names every address tried;
  - a first address that never answers (a listener whose accept queue is full) is abandoned
    after its share of --handshake-timeout and the second one is used;
  - every address refused: one ERR 1105 naming each address with its errno text;
  - a second slowtap on the same --listen (TCP or unix socket) exits 2 with one line naming the
    address, while the first keeps serving; a stale unix socket file is replaced;
  - an explicitly given --http address that is taken is a start-up error (exit 2)."""

import os
import socket
import subprocess
import sys
import tempfile
import threading
import time
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))

import pymysql  # noqa: E402

import harness  # noqa: E402
import hostsfile  # noqa: E402
from mywire import RawClient, parse_err, split_packets  # noqa: E402

V6_FIRST_HOSTS = "::1 localhost ip6-localhost\n127.0.0.1 localhost\n"
DB = "st_addr_%d" % os.getpid()


def free_port_both():
    """A port free on 127.0.0.1 and on ::1."""
    for _ in range(50):
        p = harness.free_port()
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
                s.bind(("::1", p))
            return p
        except OSError:
            continue
    raise RuntimeError("no port free on both 127.0.0.1 and ::1")


class Relay:
    """A TCP relay on 127.0.0.1:port (IPv4 only) to the MariaDB server."""

    def __init__(self, target_port):
        self.target = target_port
        self.port = free_port_both()
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(64)
        self.accepted = 0
        self.lock = threading.Lock()
        self._stop = False
        threading.Thread(target=self._run, daemon=True).start()

    def _pipe(self, a, b, done):
        try:
            while True:
                d = a.recv(65536)
                if not d:
                    break
                b.sendall(d)
        except OSError:
            pass
        for s in (a, b):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        with self.lock:
            done.append(1)
            if len(done) == 2:  # both directions finished: the pair can go
                a.close()
                b.close()

    def _run(self):
        while not self._stop:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.accepted += 1
            try:
                u = socket.create_connection(("127.0.0.1", self.target))
            except OSError:
                c.close()
                continue
            if self._stop:
                c.close()
                u.close()
                return
            done = []
            threading.Thread(target=self._pipe, args=(c, u, done), daemon=True).start()
            threading.Thread(target=self._pipe, args=(u, c, done), daemon=True).start()

    def close(self):
        self._stop = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)  # wakes the accept()
        except OSError:
            pass
        self.sock.close()


class NsSlowtap:
    """slowtap run with getaddrinfo() answering from `hosts` (hostsfile.env; hosts=None:
    plainly). Waits until 127.0.0.1:wait_port accepts, unless wait_port is None."""

    def __init__(self, args, hosts=None, wait_port=None, wait_host="127.0.0.1"):
        self.tmp = tempfile.mkdtemp(prefix="slowtap-addr-")
        self.log_path = os.path.join(self.tmp, "slow.log")
        self.err_path = os.path.join(self.tmp, "stderr.txt")
        cmd = [harness.slowtap_bin(), "--slow-log", self.log_path] + list(args)
        env = None if hosts is None else hostsfile.env(hosts, directory=self.tmp)
        self.cmd = cmd
        with open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                         stderr=err, env=env,
                                         preexec_fn=harness._die_with_parent)
        if wait_port is not None:
            try:
                harness.wait_port(wait_port, 10.0, host=wait_host, proc=self.proc)
            except Exception:
                self.stop()
                raise RuntimeError("slowtap did not start: %s\n%s" % (" ".join(cmd),
                                                                        self.stderr()))

    def stderr(self):
        with open(self.err_path, errors="replace") as f:
            return f.read()

    def entries(self, settle=0.5):
        time.sleep(settle)
        return harness.parse_slowlog(harness.read_log(self.log_path))

    def wait(self, timeout=15):
        return self.proc.wait(timeout=timeout)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        code = self.stop()
        if exc[0] is not None or code not in (0, -15):
            print("slowtap stderr (exit %s):\n%s" % (code, self.stderr()[-3000:]),
                  file=sys.stderr)
        return False


def connect(port, host="127.0.0.1", db=None):
    return pymysql.connect(host=host, port=port, user="app", password="apppass", database=db,
                           autocommit=True, connect_timeout=10)


def one_err(port, timeout=10):
    """Connects raw and returns (code, message) of the single ERR packet slowtap sends."""
    c = RawClient(port)
    data = c.read_until_close(timeout)
    c.close()
    pk = split_packets(data or b"")
    if len(pk) != 1:
        raise AssertionError("expected one packet, got %r" % (data,))
    code, _state, msg = parse_err(pk[0][1])
    return code, msg


class Addresses(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.srv.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT); "
                    "INSERT INTO t VALUES (1,1),(2,2),(3,3)", db=DB)
        cls.relay = Relay(cls.srv.port)
        # the override really resolves localhost to ::1 first (else the test proves nothing)
        tmp = tempfile.mkdtemp(prefix="slowtap-addr-")
        out = subprocess.run(["getent", "ahosts", "localhost"],
                             env=hostsfile.env(V6_FIRST_HOSTS, directory=tmp),
                             capture_output=True, text=True, timeout=30)
        first = out.stdout.split()[:1]
        if out.returncode != 0 or first != ["::1"]:
            raise RuntimeError("cannot make localhost resolve to ::1 first: rc %s, %r %r"
                               % (out.returncode, out.stdout, out.stderr))

    @classmethod
    def tearDownClass(cls):
        cls.relay.close()
        cls.srv.sql("DROP DATABASE IF EXISTS %s" % DB)

    def test_backend_localhost_v6_first(self):
        port = harness.free_port()
        rp = self.relay.port
        args = ["--listen", "127.0.0.1:%d" % port, "--backend", "localhost:%d" % rp,
                "--http", "off", "--long-query-time", "0", "--threads", "2",
                "--explain-user", "explain", "--explain-password", "explainpass"]
        with NsSlowtap(args, hosts=V6_FIRST_HOSTS, wait_port=port) as px:
            self.assertIn("slowtap: note: --backend localhost:%d resolves to [::1]:%d, 127.0.0.1:%d "
                          "(tried in this order)" % (rp, rp, rp), px.stderr())
            before = self.relay.accepted
            for i in range(10):
                c = connect(port, db=DB)
                with c.cursor() as cur:
                    cur.execute("SELECT v FROM t WHERE v = %s", (i % 3 + 1,))
                    self.assertEqual(cur.fetchall(), ((i % 3 + 1,),))
                c.close()
            self.assertGreaterEqual(self.relay.accepted - before, 10)
            # the auto-EXPLAIN connections fell back to 127.0.0.1 as well
            deadline = time.monotonic() + 10
            planned = []
            while time.monotonic() < deadline and not planned:
                planned = [e for e in px.entries()
                           if "FROM t WHERE" in e["statement"] and "# explain:" in e["raw"]]
            self.assertTrue(planned, "no plan in the log:\n%s" % px.stderr())
            self.assertNotIn("cannot connect", px.stderr())
            self.assertNotIn("Can't connect", px.stderr())

    def test_explain_connect_error_names_every_address(self):
        # ::1 refuses; 127.0.0.1 accepts but refuses the explain user's password: the EXPLAIN
        # error lists both attempts in order
        port = harness.free_port()
        rp = self.relay.port
        args = ["--listen", "127.0.0.1:%d" % port, "--backend", "localhost:%d" % rp,
                "--http", "off", "--long-query-time", "0",
                "--explain-user", "explain", "--explain-password", "not-the-password"]
        with NsSlowtap(args, hosts=V6_FIRST_HOSTS, wait_port=port) as px:
            c = connect(port, db=DB)
            with c.cursor() as cur:
                cur.execute("SELECT v FROM t WHERE id = 2")
                self.assertEqual(cur.fetchall(), ((2,),))
            c.close()
            deadline = time.monotonic() + 10
            failed = []
            while time.monotonic() < deadline and not failed:
                failed = [e for e in px.entries()
                          if "WHERE id = 2" in e["statement"] and e["explain_error"]]
            self.assertTrue(failed, "no explain error in the log:\n%s" % px.stderr())
            err = failed[0]["explain_error"]
            self.assertRegex(err, r"^cannot connect: \[::1\]:%d: Can't connect to server on "
                             r"'::1' \(111\); 127\.0\.0\.1:%d: Access denied for user "
                             r"'explain'" % (rp, rp))

    def test_listen_localhost_both_families(self):
        port = free_port_both()
        args = ["--listen", "localhost:%d" % port, "--backend", "127.0.0.1:%d" % self.srv.port,
                "--http", "off", "--threads", "3"]
        with NsSlowtap(args, hosts=V6_FIRST_HOSTS, wait_port=port) as px:
            harness.wait_port(port, 10.0, host="::1", proc=px.proc)
            self.assertIn("slowtap: note: --listen localhost:%d resolves to [::1]:%d, 127.0.0.1:%d "
                          "(each listened on)" % (port, port, port), px.stderr())
            for host in ("127.0.0.1", "::1") * 4:
                c = connect(port, host=host)
                with c.cursor() as cur:
                    cur.execute("SELECT 7")
                    self.assertEqual(cur.fetchone(), (7,))
                c.close()

    def test_listen_skips_an_address_the_host_lacks(self):
        # a name listing an address this host does not have (as ::1 where IPv6 is off): slowtap
        # says so and listens on the others; a single such address stays a start-up error
        port = harness.free_port()
        hosts = "10.255.255.1 multi.test\n127.0.0.1 multi.test\n"
        args = ["--listen", "multi.test:%d" % port, "--backend", "127.0.0.1:%d" % self.srv.port,
                "--http", "off", "--threads", "2"]
        with NsSlowtap(args, hosts=hosts, wait_port=port) as px:
            self.assertIn("slowtap: note: --listen multi.test:%d: not listening on 10.255.255.1:%d: "
                          "bind: %s" % (port, port, os.strerror(99)), px.stderr())
            c = connect(port)
            c.close()
        alone = NsSlowtap(["--listen", "10.255.255.1:%d" % port, "--backend",
                           "127.0.0.1:%d" % self.srv.port, "--http", "off"])
        self.assertEqual(alone.wait(), 2)
        self.assertEqual(alone.stderr().strip().splitlines()[-1],
                         "slowtap: --listen 10.255.255.1:%d: 10.255.255.1:%d: bind: %s"
                         % (port, port, os.strerror(99)))

    def test_unresponsive_first_address(self):
        # [::1]:rp accepts nothing: its accept queue is full, so further SYNs go unanswered
        rp = self.relay.port
        hole = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        hole.bind(("::1", rp))
        hole.listen(0)
        fillers = []
        for _ in range(4):
            f = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
            f.setblocking(False)
            try:
                f.connect(("::1", rp))
            except BlockingIOError:
                pass
            fillers.append(f)
        time.sleep(0.3)
        probe = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
        probe.settimeout(1.0)
        try:
            probe.connect(("::1", rp))
            hung = False
        except OSError:
            hung = True
        probe.close()
        self.assertTrue(hung, "a full accept queue still completes connects on this kernel")
        try:
            port = harness.free_port()
            args = ["--listen", "127.0.0.1:%d" % port, "--backend", "localhost:%d" % rp,
                    "--http", "off", "--handshake-timeout", "4"]
            with NsSlowtap(args, hosts=V6_FIRST_HOSTS, wait_port=port):
                t0 = time.monotonic()
                c = connect(port, db=DB)
                took = time.monotonic() - t0
                with c.cursor() as cur:
                    cur.execute("SELECT COUNT(*) FROM t")
                    self.assertEqual(cur.fetchone(), (3,))
                c.close()
                # the first address had half the handshake timeout (2 s), then 127.0.0.1 worked
                self.assertGreater(took, 1.5)
                self.assertLess(took, 3.9)
        finally:
            for f in fillers:
                f.close()
            hole.close()

    def test_all_addresses_refused(self):
        dead = free_port_both()
        port = harness.free_port()
        args = ["--listen", "127.0.0.1:%d" % port, "--backend", "localhost:%d" % dead,
                "--http", "off"]
        with NsSlowtap(args, hosts=V6_FIRST_HOSTS, wait_port=port) as px:
            code, msg = one_err(port)
            self.assertEqual(code, 1105)
            refused = os.strerror(111)
            self.assertEqual(msg, "Can't connect to MySQL server on 'localhost:%d' ([::1]:%d: 111 "
                             "\"%s\"; 127.0.0.1:%d: 111 \"%s\") (slowtap backend)"
                             % (dead, dead, refused, dead, refused))
            self.assertIsNone(px.proc.poll())
        # a single address keeps the classic message
        with NsSlowtap(["--listen", "127.0.0.1:%d" % port, "--backend",
                        "127.0.0.1:%d" % dead, "--http", "off"], wait_port=port):
            code, msg = one_err(port)
            self.assertEqual(code, 1105)
            self.assertEqual(msg, "Can't connect to MySQL server on '127.0.0.1:%d' (111 \"%s\") "
                             "(slowtap backend)" % (dead, os.strerror(111)))

    def test_second_instance_same_listen(self):
        port = harness.free_port()
        base = ["--backend", "127.0.0.1:%d" % self.srv.port, "--http", "off"]
        with NsSlowtap(["--listen", "127.0.0.1:%d" % port, "--threads", "4"] + base,
                       wait_port=port) as first:
            second = NsSlowtap(["--listen", "127.0.0.1:%d" % port, "--threads", "4"] + base)
            self.assertEqual(second.wait(), 2)
            lines = second.stderr().strip().splitlines()
            self.assertEqual(len(lines), 1, lines)
            self.assertEqual(lines[0], "slowtap: --listen 127.0.0.1:%d: 127.0.0.1:%d is already "
                             "in use (bind: Address already in use) (another slowtap on the same "
                             "address?)" % (port, port))
            # a bare port means 127.0.0.1: the same address
            third = NsSlowtap(["--listen", str(port)] + base)
            self.assertEqual(third.wait(), 2)
            self.assertIn("already in use", third.stderr())
            # the first still has every connection (none went to a half-started second one)
            for _ in range(20):
                c = connect(port)
                c.close()
            self.assertIsNone(first.proc.poll())
        # stopped: the address is free again
        with NsSlowtap(["--listen", "127.0.0.1:%d" % port] + base, wait_port=port) as again:
            self.assertIsNone(again.proc.poll())

    def test_second_instance_same_unix_socket(self):
        path = os.path.join(tempfile.mkdtemp(prefix="slowtap-addr-"), "px.sock")
        base = ["--listen", path, "--backend", "127.0.0.1:%d" % self.srv.port, "--http", "off"]

        def wait_sock(proc):
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    with socket.socket(socket.AF_UNIX) as s:
                        s.connect(path)
                        return
                except OSError:
                    time.sleep(0.05)
            raise AssertionError("nothing accepts on %s" % path)

        with NsSlowtap(base) as first:
            wait_sock(first.proc)
            second = NsSlowtap(base)
            self.assertEqual(second.wait(), 2)
            self.assertEqual(second.stderr().strip(), "slowtap: --listen %s: %s is already in use "
                             "(another process listens on it) (another slowtap on the same "
                             "address?)" % (path, path))
            c = pymysql.connect(unix_socket=path, user="app", password="apppass")
            c.close()
        # the first left its socket file behind; nothing accepts on it: it is replaced
        self.assertTrue(os.path.exists(path))
        with NsSlowtap(base) as again:
            wait_sock(again.proc)
            c = pymysql.connect(unix_socket=path, user="app", password="apppass")
            c.close()

    def test_http_explicit_address_taken(self):
        hp = harness.free_port()
        taken = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        taken.bind(("127.0.0.1", hp))
        taken.listen(1)
        try:
            px = NsSlowtap(["--listen", "127.0.0.1:%d" % harness.free_port(), "--backend",
                            "127.0.0.1:%d" % self.srv.port, "--http", "127.0.0.1:%d" % hp])
            self.assertEqual(px.wait(), 2)
            self.assertIn("slowtap: --http 127.0.0.1:%d: cannot listen: 127.0.0.1:%d is already "
                          "in use" % (hp, hp), px.stderr())
        finally:
            taken.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
