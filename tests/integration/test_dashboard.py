#!/usr/bin/python3
"""test_dashboard.py - the dashboard rendered by a real browser (headless Chromium): after a
workload through the proxy the page lists the statement shapes and marks the unindexed lookup
with FULL SCAN. Keeps a screenshot in tests/artifacts/dashboard.png."""

import os
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
                for i in range(10):  # no index on email: a full scan
                    cur.execute("SELECT id FROM users WHERE email = 'u%d@example.com'" % (i + 5))
                    cur.fetchall()
            conn.close()

            deadline = time.time() + 10
            shapes = []
            while time.time() < deadline:
                with urllib.request.urlopen(base + "/api/digests", timeout=10) as r:
                    shapes = json.loads(r.read())
                if sum(s["count"] for s in shapes if "from users" in s["fingerprint"]) >= 40:
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
