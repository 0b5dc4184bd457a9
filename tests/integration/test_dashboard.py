#!/usr/bin/python3
"""test_dashboard.py - the dashboard rendered by a real browser (headless Chromium): after a
workload through the proxy the page lists the statement shapes by their short names and marks
the unindexed lookup with FULL SCAN; at 1280 px the page has no horizontal overflow (measured
through the DevTools protocol: document.documentElement.scrollWidth). Keeps a screenshot in
tests/artifacts/dashboard.png."""

import base64
import os
import socket
import struct
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import json
import urllib.request

import harness

import pymysql

ARTIFACTS = os.path.join(harness.REPO, "tests", "artifacts")
CHROME_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update",
                "--disable-sync"]


def chromium():
    path = shutil.which("chromium")
    if path:
        return path
    subprocess.run(["apt-get", "install", "-y", "chromium"], stdout=subprocess.DEVNULL,
                   stderr=subprocess.STDOUT, timeout=600)
    return shutil.which("chromium")


def run_chromium(args, timeout=90):
    profile = tempfile.mkdtemp(prefix="slowtap-chromium-")
    try:
        return subprocess.run([chromium()] + CHROME_FLAGS + ["--user-data-dir=" + profile] + args,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              timeout=timeout)
    finally:
        shutil.rmtree(profile, ignore_errors=True)


def _ws_send(sock, text):
    """One masked text frame (RFC 6455: a client masks what it sends)."""
    data = text.encode()
    mask = os.urandom(4)
    head = bytes([0x81])
    if len(data) < 126:
        head += bytes([0x80 | len(data)])
    else:
        head += bytes([0x80 | 126]) + struct.pack(">H", len(data))
    sock.sendall(head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data)))


def _ws_recv(sock):
    def exact(n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("devtools closed")
            buf += chunk
        return buf
    b0, b1 = exact(2)
    n = b1 & 0x7f
    if n == 126:
        n = struct.unpack(">H", exact(2))[0]
    elif n == 127:
        n = struct.unpack(">Q", exact(8))[0]
    return exact(n).decode(errors="replace")


def evaluate(url, expression, width=1280, height=900, settle=4.0):
    """Loads url in headless Chromium at width x height and returns the value of a JavaScript
    expression, through the DevTools protocol (Runtime.evaluate over its WebSocket)."""
    port = harness.free_port()
    profile = tempfile.mkdtemp(prefix="slowtap-chromium-")
    proc = subprocess.Popen([chromium()] + CHROME_FLAGS +
                            ["--user-data-dir=" + profile, "--remote-debugging-port=%d" % port,
                             "--window-size=%d,%d" % (width, height), url],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ws_url = None
        deadline = time.time() + 30
        while time.time() < deadline and ws_url is None:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port,
                                            timeout=5) as r:
                    pages = [p for p in json.loads(r.read()) if p.get("type") == "page"]
                if pages:
                    ws_url = pages[0]["webSocketDebuggerUrl"]
            except OSError:
                time.sleep(0.2)
        if ws_url is None:
            raise AssertionError("chromium's DevTools did not answer")
        time.sleep(settle)  # the page's first fetches (not a timed assertion: content checked)
        path = ws_url.split(str(port), 1)[1]
        sock = socket.create_connection(("127.0.0.1", port), timeout=20)
        key = base64.b64encode(os.urandom(16)).decode()
        sock.sendall(("GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
                      "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
                      "Sec-WebSocket-Version: 13\r\n\r\n" % (path, port, key)).encode())
        resp = b""
        while b"\r\n\r\n" not in resp:
            chunk = sock.recv(4096)
            if not chunk:
                raise AssertionError("devtools handshake failed")
            resp += chunk
        assert b" 101 " in resp.split(b"\r\n", 1)[0], resp
        _ws_send(sock, json.dumps({"id": 1, "method": "Runtime.evaluate",
                                   "params": {"expression": expression,
                                              "returnByValue": True}}))
        for _ in range(200):
            msg = json.loads(_ws_recv(sock))
            if msg.get("id") == 1:
                sock.close()
                return msg["result"]["result"].get("value")
        raise AssertionError("no answer to Runtime.evaluate")
    finally:
        proc.kill()
        proc.wait()
        shutil.rmtree(profile, ignore_errors=True)


class DashboardTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        cls.server.fresh_db("st_dash")
        cls.server.sql("CREATE TABLE users (id INT PRIMARY KEY, email VARCHAR(64), age INT)",
                       db="st_dash")
        cls.server.sql("INSERT INTO users SELECT seq, CONCAT('u', seq, '@example.com'), seq % 90 "
                       "FROM seq_1_to_2000", db="st_dash")

    def test_dashboard(self):
        self.assertIsNotNone(chromium(), "chromium is not installed and apt-get failed")
        http_port = harness.free_port()
        base = "http://127.0.0.1:%d" % http_port
        with harness.Slowtap(["--http", "127.0.0.1:%d" % http_port], server=self.server,
                             long_query_time="10") as px:
            harness.wait_port(http_port, 10, proc=px.proc)
            # the empty page first
            out = run_chromium(["--virtual-time-budget=3000", "--dump-dom", base + "/"])
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            self.assertIn("no statements yet", out.stdout)
            self.assertIsNone(re.search(r'<div id="empty"[^>]*\bhidden\b', out.stdout))

            conn = pymysql.connect(host="127.0.0.1", port=px.port, user="app",
                                   password="apppass", database="st_dash", autocommit=True)
            with conn.cursor() as cur:
                for i in range(30):
                    cur.execute("SELECT email FROM users WHERE id = %d" % (i + 1))
                    cur.fetchall()
                for i in range(10):  # no index on email: a full scan, from a route
                    cur.execute("SELECT id FROM users WHERE email = 'u%d@example.com' "
                                "/*route='%%2Fprofile%%2F%%3Cint%%3Aid%%3E'*/" % (i + 5))
                    cur.fetchall()
                # a long shape that is its route's costliest (the routes table ran off the page)
                cond = " AND ".join("age <> %d" % k for k in range(40))
                cur.execute("SELECT id FROM users WHERE " + cond +
                            " /*route='%2Fa%2Fvery%2Flong%2Froute%2Fname%2Fto%2Fshow'*/")
                cur.fetchall()
            conn.close()

            deadline = time.time() + 10
            shapes = []
            while time.time() < deadline:
                with urllib.request.urlopen(base + "/api/digests", timeout=10) as r:
                    shapes = json.loads(r.read())
                if sum(s["count"] for s in shapes if "from users" in s["fingerprint"]) >= 40 and \
                        any(s.get("route") for s in shapes):
                    break
                time.sleep(0.3)
            scan = [s for s in shapes if "where email" in s["fingerprint"]]
            self.assertEqual(len(scan), 1, shapes)

            out = run_chromium(["--virtual-time-budget=5000", "--dump-dom", base + "/"])
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            dom = out.stdout
            self.assertIn("FULL SCAN", dom)
            self.assertIn("where email", dom)
            self.assertIn("where id", dom)
            self.assertIsNotNone(re.search(r'<div id="empty"[^>]*\bhidden\b', dom))
            # the shapes by their short names, the full text in the title
            self.assertIn(">SELECT users WHERE email = ?<", dom)
            self.assertIn(">SELECT users WHERE id = ?<", dom)
            self.assertEqual(scan[0]["name"], "SELECT users WHERE email = ?")
            self.assertEqual(scan[0]["route"], "/profile/<int:id>")  # the shapes' route column
            self.assertIn(">/profile/&lt;int:id&gt;<", dom)

            # at 1280 px nothing runs off the page, the names are shown, the 0 counter is not red
            got = evaluate(base + "/", "JSON.stringify({w: document.documentElement.scrollWidth,"
                           " names: Array.from(document.querySelectorAll('span.fpt'))"
                           ".map(function (e) { return e.textContent; }),"
                           " errColor: getComputedStyle(document.getElementById('t-errors'))"
                           ".color})")
            got = json.loads(got)
            self.assertLessEqual(got["w"], 1280, got)
            self.assertIn("SELECT users WHERE email = ?", got["names"])
            self.assertNotEqual(got["errColor"], "rgb(255, 138, 138)", got)

            os.makedirs(ARTIFACTS, exist_ok=True)
            shot = os.path.join(ARTIFACTS, "dashboard.png")
            if os.path.exists(shot):
                os.unlink(shot)
            out = run_chromium(["--virtual-time-budget=5000", "--screenshot=" + shot,
                                "--window-size=1400,900",
                                base + "/#digest=" + scan[0]["digest"]])
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            self.assertTrue(os.path.getsize(shot) > 10000)


if __name__ == "__main__":
    unittest.main()
