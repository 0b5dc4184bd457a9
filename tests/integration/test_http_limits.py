#!/usr/bin/python3
"""test_http_limits.py - the HTTP server's limits and its guards (issue 23):

- Host check (DNS rebinding): a foreign Host gets 403, the listen address / localhost / a
  loopback address / a --http-allow-host name get 200; a foreign host in an absolute request
  URI gets 403; HTTP/1.0 without Host is served, HTTP/1.1 without Host gets 400.
- HTTPS with --http-tls-cert/--http-tls-key (a certificate from tests/tools/make-test-certs.sh,
  verified by Python's ssl against the test CA) serves the API; a non-loopback --http without
  HTTPS or without --http-auth-file is refused at start (exit 2, the missing option named).
- the 401 offers Basic (a browser can log in; with a token file, the token as the password).
- --http-max-connections: 200 idle connections leave at most the cap open in the process
  (counted in /proc/PID/fd), a normal request is still served, the closes are counted.
- --http-header-timeout counts from accept: a client sending one header byte every 200 ms is
  closed near the deadline instead of being kept open by each byte.
- a group/world-readable --http-auth-file gives one warning line at start (none at 0600).
Every network loop here is bounded in count and time."""

import base64
import contextlib
import json
import os
import select
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.error
import urllib.request

import harness

HERE = os.path.dirname(os.path.abspath(__file__))
CERTS_SH = os.path.join(harness.REPO, "tests", "tools", "make-test-certs.sh")


def raw_request(port, data, timeout=5.0):
    """Sends `data` on a new connection and returns (status line, headers text, body bytes) of
    the reply, read until the peer closes or Content-Length is met (bounded by `timeout`)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        buf = b""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                break
            buf += chunk
            head, sep, body = buf.partition(b"\r\n\r\n")
            if sep:
                lengths = [l.split(b":", 1)[1] for l in head.split(b"\r\n")
                           if l.lower().startswith(b"content-length:")]
                if lengths and len(body) >= int(lengths[0]):
                    break
    head, _sep, body = buf.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    return lines[0], "\n".join(lines[1:]), body


def status_of(port, host_line, version="HTTP/1.1", target="/api/summary"):
    req = "GET %s %s\r\n%s\r\n" % (target, version, host_line + "\r\n" if host_line else "")
    line = raw_request(port, req.encode())[0]
    return int(line.split(" ")[1]) if line.startswith("HTTP/") else None


def get(url, headers=None, context=None):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=10, context=context) as r:
            return r.status, r.headers, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers, e.read()


def metric(text, name):
    for line in text.splitlines():
        if line.startswith(name + " "):
            return float(line.split(" ")[1])
    return None


def socket_fds(pid):
    n = 0
    for fd in os.listdir("/proc/%d/fd" % pid):
        try:
            if os.readlink("/proc/%d/fd/%s" % (pid, fd)).startswith("socket:"):
                n += 1
        except OSError:
            pass
    return n


class HttpLimitsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        cls.tmp = tempfile.mkdtemp(prefix="slowtap-httplim-")

    @contextlib.contextmanager
    def start(self, extra=(), host="127.0.0.1"):
        self.http_port = harness.free_port()
        with harness.Slowtap(["--http", "%s:%d" % (host, self.http_port)] + list(extra),
                             server=self.server, long_query_time="10") as px:
            harness.wait_port(self.http_port, 10, proc=px.proc)
            yield px

    def certs(self):
        d = os.path.join(self.tmp, "certs")
        if not os.path.exists(os.path.join(d, "server.pem")):
            subprocess.run(["bash", CERTS_SH, d], check=True, stdout=subprocess.DEVNULL,
                           stderr=subprocess.PIPE, timeout=120)
        return d

    # ---- Host -------------------------------------------------------------------------------

    def test_host_check(self):
        with self.start() as px:
            p = self.http_port
            self.assertEqual(status_of(p, "Host: evil.example"), 403)
            self.assertEqual(status_of(p, "Host: evil.example:%d" % p), 403)
            self.assertEqual(status_of(p, "Host: 10.11.12.13:%d" % p), 403)
            self.assertEqual(status_of(p, "Host: 127.0.0.1:%d" % p), 200)
            self.assertEqual(status_of(p, "Host: 127.0.0.1"), 200)
            self.assertEqual(status_of(p, "Host: localhost:%d" % p), 200)
            self.assertEqual(status_of(p, "Host: LOCALHOST"), 200)
            self.assertEqual(status_of(p, "Host: [::1]:%d" % p), 200)
            # an absolute request URI naming another host
            self.assertEqual(status_of(p, "Host: localhost",
                                       target="http://evil.example/api/summary"), 403)
            # no Host: allowed for HTTP/1.0 (no browser sends it), 400 for HTTP/1.1
            self.assertEqual(status_of(p, None, version="HTTP/1.0"), 200)
            self.assertEqual(status_of(p, None), 400)
            # a 403 says why and is counted
            line, _h, body = raw_request(p, b"GET /metrics HTTP/1.1\r\nHost: evil.example\r\n\r\n")
            self.assertIn("403", line)
            self.assertIn("--http-allow-host", json.loads(body)["error"])
            text = get("http://127.0.0.1:%d/metrics" % p)[2].decode()
            self.assertEqual(metric(text, "slowtap_http_requests_forbidden_total"), 6)
            # urllib (what scrapers and browsers do) sends Host: 127.0.0.1:PORT
            self.assertEqual(get("http://127.0.0.1:%d/" % p)[0], 200)

    def test_allow_host(self):
        with self.start(["--http-allow-host", "dash.example,Other.Example",
                         "--http-allow-host", "third.example"]):
            p = self.http_port
            for h in ("dash.example", "other.example:%d" % p, "THIRD.example", "localhost"):
                self.assertEqual(status_of(p, "Host: " + h), 200, h)
            self.assertEqual(status_of(p, "Host: evil.example"), 403)
            self.assertEqual(status_of(p, "Host: dash.example.evil.example"), 403)
        with self.start(["--http-allow-host", "*"]):
            self.assertEqual(status_of(self.http_port, "Host: anything.example"), 200)

    # ---- HTTPS, start-up rules ---------------------------------------------------------------

    def test_https(self):
        d = self.certs()
        with self.start(["--http-tls-cert", os.path.join(d, "server.pem"),
                         "--http-tls-key", os.path.join(d, "server-key.pem")]):
            ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
            for host in ("localhost", "127.0.0.1"):
                st, h, body = get("https://%s:%d/api/summary" % (host, self.http_port),
                                  context=ctx)
                self.assertEqual(st, 200)
                summary = json.loads(body)
                self.assertIn("statements", summary)
                self.assertIn("connections_total", summary)
            st, _h, body = get("https://localhost:%d/metrics" % self.http_port, context=ctx)
            self.assertEqual(st, 200)
            self.assertIn(b"slowtap_http_connections_total", body)
            # the Host check holds over TLS too
            with socket.create_connection(("127.0.0.1", self.http_port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    s.sendall(b"GET /api/summary HTTP/1.1\r\nHost: evil.example\r\n"
                              b"Connection: close\r\n\r\n")
                    reply = b""
                    for _ in range(100):
                        chunk = s.recv(65536)
                        if not chunk:
                            break
                        reply += chunk
                    self.assertTrue(reply.startswith(b"HTTP/1.1 403"), reply[:40])
            # plain HTTP on the HTTPS port is not served
            with self.assertRaises(Exception):
                with urllib.request.urlopen("http://127.0.0.1:%d/api/summary"
                                            % self.http_port, timeout=5) as r:
                    r.read()

    def test_https_reload_on_sighup(self):
        d = self.certs()
        live = os.path.join(self.tmp, "live")
        os.makedirs(live, exist_ok=True)

        def install(name):
            for src, dst in ((name + ".pem", "cert.pem"), (name + "-key.pem", "key.pem")):
                with open(os.path.join(d, src), "rb") as f, \
                        open(os.path.join(live, dst), "wb") as g:
                    g.write(f.read())

        def peer_cert():
            ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
            with socket.create_connection(("127.0.0.1", self.http_port), timeout=5) as raw:
                with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                    return s.getpeercert(binary_form=True)

        install("server")
        with self.start(["--http-tls-cert", os.path.join(live, "cert.pem"),
                         "--http-tls-key", os.path.join(live, "key.pem")]) as px:
            first = peer_cert()
            install("server2")
            px.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            now = peer_cert()
            while now == first and time.monotonic() < deadline:
                time.sleep(0.1)
                now = peer_cert()
            self.assertNotEqual(now, first, "the HTTPS certificate was not reloaded on SIGHUP")
            with open(os.path.join(d, "server2.pem")) as f:
                self.assertEqual(ssl.DER_cert_to_PEM_cert(now).strip(), f.read().strip())
            # a broken key on reload keeps the working certificate
            with open(os.path.join(live, "key.pem"), "w") as f:
                f.write("not a key\n")
            px.proc.send_signal(signal.SIGHUP)
            deadline = time.monotonic() + 10
            while "keeps its previous certificate" not in px.stderr() and \
                    time.monotonic() < deadline:
                time.sleep(0.1)
            self.assertIn("keeps its previous certificate", px.stderr())
            self.assertEqual(peer_cert(), now)

    def run_start(self, extra):
        cmd = [harness.slowtap_bin(), "--listen", "127.0.0.1:%d" % harness.free_port(),
               "--backend", "127.0.0.1:%d" % self.server.port,
               "--slow-log", os.path.join(self.tmp, "slow.log")] + extra
        return subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True, timeout=20)

    def test_non_loopback_needs_https_and_auth(self):
        d = self.certs()
        auth = os.path.join(self.tmp, "auth-600")
        with open(auth, "w") as f:
            f.write("tok-abc\n")
        os.chmod(auth, 0o600)
        tls = ["--http-tls-cert", os.path.join(d, "server.pem"),
               "--http-tls-key", os.path.join(d, "server-key.pem")]
        addr = ["--http", "0.0.0.0:%d" % harness.free_port()]
        r = self.run_start(addr + ["--http-auth-file", auth])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--http-tls-cert", r.stderr)
        self.assertNotIn("without --http-auth-file", r.stderr)
        r = self.run_start(addr + tls)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--http-auth-file", r.stderr)
        r = self.run_start(addr)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--http-auth-file and --http-tls-cert", r.stderr)
        r = self.run_start(["--http", "127.0.0.1:1", "--http-tls-cert",
                            os.path.join(d, "server.pem")])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--http-tls-key", r.stderr)
        r = self.run_start(["--http", "127.0.0.1:1"] + tls[:2] +
                           ["--http-tls-key", os.path.join(d, "server2-key.pem")])
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--http-tls-key", r.stderr)
        # with both, a non-loopback address is served (over HTTPS, with auth)
        with self.start(["--http-auth-file", auth] + tls, host="0.0.0.0"):
            port = self.http_port
            ctx = ssl.create_default_context(cafile=os.path.join(d, "ca.pem"))
            url = "https://localhost:%d/api/summary" % port
            self.assertEqual(get(url, context=ctx)[0], 401)
            self.assertEqual(get(url, {"Authorization": "Bearer tok-abc"}, context=ctx)[0], 200)

    # ---- 401 and the auth file ---------------------------------------------------------------

    def test_401_offers_basic(self):
        tok = os.path.join(self.tmp, "token")
        with open(tok, "w") as f:
            f.write("t0ken-xyz\n")
        os.chmod(tok, 0o600)
        with self.start(["--http-auth-file", tok]) as px:
            base = "http://127.0.0.1:%d" % self.http_port
            st, h, _b = get(base + "/")
            self.assertEqual(st, 401)
            challenges = h.get_all("WWW-Authenticate")
            self.assertTrue(challenges[0].startswith('Basic realm="slowtap"'), challenges)
            self.assertTrue(any(c.startswith("Bearer") for c in challenges), challenges)
            good = "Basic " + base64.b64encode(b"anyone:t0ken-xyz").decode()
            bad = "Basic " + base64.b64encode(b"anyone:t0ken-xy").decode()
            self.assertEqual(get(base + "/", {"Authorization": good})[0], 200)
            self.assertEqual(get(base + "/", {"Authorization": bad})[0], 401)
            self.assertEqual(get(base + "/", {"Authorization": "Basic %%%"})[0], 401)
            self.assertEqual(get(base + "/", {"Authorization": "Bearer t0ken-xyz"})[0], 200)
            self.assertNotIn("readable by group", px.stderr())
        userpass = os.path.join(self.tmp, "userpass")
        with open(userpass, "w") as f:
            f.write("admin:s3cret\n")
        os.chmod(userpass, 0o600)
        with self.start(["--http-auth-file", userpass]):
            st, h, _b = get("http://127.0.0.1:%d/metrics" % self.http_port)
            self.assertEqual(st, 401)
            self.assertEqual(h.get_all("WWW-Authenticate"),
                             ['Basic realm="slowtap", charset="UTF-8"'])

    def test_auth_file_permission_warning(self):
        path = os.path.join(self.tmp, "token-644")
        with open(path, "w") as f:
            f.write("t0ken\n")
        os.chmod(path, 0o644)
        with self.start(["--http-auth-file", path]) as px:
            warn = [l for l in px.stderr().splitlines() if "readable by group or others" in l]
            self.assertEqual(len(warn), 1, px.stderr())
            self.assertIn(path, warn[0])
            self.assertNotIn("t0ken\n", px.stderr())  # never the secret
        os.chmod(path, 0o600)
        with self.start(["--http-auth-file", path]) as px:
            self.assertNotIn("readable by group", px.stderr(), px.stderr())

    # ---- the connection cap ------------------------------------------------------------------

    def test_connection_cap(self):
        cap = 8
        with self.start(["--http-max-connections", str(cap)]) as px:
            pid = px.proc.pid
            base = "http://127.0.0.1:%d" % self.http_port
            self.assertEqual(get(base + "/api/summary")[0], 200)
            # the sockets of the process without HTTP clients (listeners, ...)
            idle_sockets = socket_fds(pid)
            held = []
            try:
                for _ in range(200):
                    held.append(socket.create_connection(("127.0.0.1", self.http_port),
                                                         timeout=5))
                # a normal request is served although 200 idle connections came first
                st, _h, body = get(base + "/metrics")
                self.assertEqual(st, 200)
                text = body.decode()
                # and no more than the cap are held open (poll: closes finish in a loop turn)
                deadline = time.monotonic() + 5
                n = socket_fds(pid) - idle_sockets
                while n > cap and time.monotonic() < deadline:
                    time.sleep(0.1)
                    n = socket_fds(pid) - idle_sockets
                self.assertLessEqual(n, cap)
                self.assertGreaterEqual(n, 1)
                closed = 0
                for line in text.splitlines():
                    if line.startswith('slowtap_http_connections_closed_total{reason="max_'):
                        closed = float(line.split(" ")[1])
                self.assertGreaterEqual(closed, 200 - cap)
                self.assertLessEqual(metric(text, "slowtap_http_connections_open"), cap)
                # the oldest idle connections were the ones closed: the first reads EOF
                held[0].settimeout(5)
                self.assertEqual(held[0].recv(1), b"")
            finally:
                for s in held:
                    s.close()
            # and the server goes on serving
            self.assertEqual(get(base + "/api/summary")[0], 200)

    # ---- the header deadline -----------------------------------------------------------------

    def test_trickling_client_closed_at_header_timeout(self):
        with self.start(["--http-header-timeout", "1"]):
            req = b"GET /metrics HTTP/1.1\r\nHost: localhost\r\n" + b"X-Slow: abcdefgh\r\n" * 40
            s = socket.create_connection(("127.0.0.1", self.http_port), timeout=5)
            t0 = time.monotonic()
            closed_after = None
            try:
                for i in range(len(req)):  # one byte every 200 ms, at most 10 s
                    if time.monotonic() - t0 > 10:
                        break
                    r, _w, _x = select.select([s], [], [], 0.2)
                    if r:
                        try:
                            data = s.recv(4096)
                        except OSError:
                            data = b""
                        if not data:
                            closed_after = time.monotonic() - t0
                            break
                    try:
                        s.send(req[i:i + 1])
                    except OSError:
                        closed_after = time.monotonic() - t0
                        break
            finally:
                s.close()
            # the deadline is 1 s from accept; each byte restarting it would keep the client on
            # for the whole 10 s. Loose bound: a correctness check, not a timing.
            self.assertIsNotNone(closed_after, "a client trickling bytes was never closed")
            self.assertLess(closed_after, 6.0)
            text = get("http://127.0.0.1:%d/metrics" % self.http_port)[2].decode()
            for line in text.splitlines():
                if line.startswith('slowtap_http_connections_closed_total{reason="header_t'):
                    self.assertGreaterEqual(float(line.split(" ")[1]), 1)
                    break
            else:
                self.fail("no header_timeout counter")

    def test_keepalive_requests_within_deadline(self):
        """A keep-alive connection is not cut by the deadline while it makes requests: each
        request has --http-header-timeout from the end of the previous reply."""
        with self.start(["--http-header-timeout", "1"]):
            with socket.create_connection(("127.0.0.1", self.http_port), timeout=5) as s:
                for _ in range(4):  # 4 requests 0.6 s apart: 2.4 s on one connection
                    s.sendall(b"GET /api/summary HTTP/1.1\r\nHost: localhost\r\n\r\n")
                    buf = b""
                    for _ in range(50):
                        buf += s.recv(65536)
                        head, sep, body = buf.partition(b"\r\n\r\n")
                        if sep and b"\n" in body:
                            break
                    self.assertTrue(buf.startswith(b"HTTP/1.1 200"), buf[:40])
                    time.sleep(0.6)


if __name__ == "__main__":
    unittest.main()
