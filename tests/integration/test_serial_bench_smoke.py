"""test_serial_bench_smoke.py - runs tests/bench/run in its quickest mode (1 s runs, one
repeat, only oltp_point_select at 1 thread, 100 idle connections) and checks that it completes
and writes valid JSON with every target present. No performance numbers are asserted: the
benchmark is not a timed test. Serial: it starts its own MariaDB, two haproxies and the slowtap
targets and loads the machine while it runs."""

import json
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
RUN = os.path.join(REPO, "tests", "bench", "run")

TARGETS = ["direct", "haproxy", "haproxy-t1", "slowtap-nolog", "slowtap-nolog-t1",
           "slowtap-logged", "slowtap-logged-t1", "slowtap-explain", "slowtap-tags",
           "direct-compress", "haproxy-compress", "slowtap-compress", "slowtap-sink",
           "slowtap-capture"]
PROXIES = [t for t in TARGETS if not t.startswith("direct")]
LOGGED = ["slowtap-capture", "slowtap-compress", "slowtap-explain", "slowtap-logged",
          "slowtap-logged-t1", "slowtap-sink", "slowtap-tags"]


class BenchSmoke(unittest.TestCase):
    def test_quick_run_writes_json(self):
        for tool in ("sysbench", "haproxy", "mariadbd"):
            if not (shutil.which(tool) or os.path.exists("/usr/sbin/" + tool)):
                if tool == "mariadbd":
                    print("SKIP: MariaDB is not installed", file=sys.stderr)
                    os._exit(77)
                self.fail("%s is not installed (run tests/deps.sh)" % tool)
        tmp = tempfile.mkdtemp(prefix="slowtap-bench-smoke-")
        self.addCleanup(shutil.rmtree, tmp, True)
        out = os.path.join(tmp, "result.json")
        env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
        env.update(BENCH_SECONDS="1", BENCH_REPEAT="1", BENCH_IDLE_CONNS="100",
                   BENCH_TESTS="oltp_point_select", BENCH_THREADS="1",
                   BENCH_CONNECT_SECONDS="1", BENCH_TABLES="1", BENCH_TABLE_SIZE="1000",
                   BENCH_OUT=out)
        r = subprocess.run([RUN], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=90)
        self.assertEqual(r.returncode, 0, "tests/bench/run failed:\n" + r.stdout[-4000:])
        self.assertIn("results: " + out, r.stdout)
        with open(out) as f:
            doc = json.load(f)

        self.assertEqual(doc["failures"], [])
        for key in ("nproc", "cpu", "kernel"):
            self.assertIn(key, doc["machine"])
        self.assertEqual(doc["config"]["ps_mode"], "auto")
        self.assertEqual(len(doc["sysbench"]), 1)
        row = doc["sysbench"][0]
        self.assertEqual((row["test"], row["threads"]), ("oltp_point_select", 1))
        self.assertEqual(sorted(row["targets"]), sorted(TARGETS))
        for name, t in row["targets"].items():
            for key in ("qps_median", "qps_min", "qps_max", "avg_ms", "p50_ms", "p95_ms"):
                self.assertIsInstance(t[key], (int, float), name + " " + key)
            if name in PROXIES:  # issue 16: CPU per statement and latency added
                self.assertGreaterEqual(t["cpu_us_per_stmt"], 0, name)
                self.assertGreater(t["runs"][0]["queries"], 0, name)
                self.assertIsInstance(t["added_p50_us"], float, name)
                self.assertIsInstance(t["added_p95_us"], float, name)
            self.assertGreater(t["qps_median"], 0, name)
            self.assertEqual(len(t["runs"]), 1, name)
        for name in ("slowtap-nolog", "slowtap-logged", "slowtap-explain"):
            self.assertIn("vs_haproxy", row["targets"][name])
            self.assertIn("vs_direct", row["targets"][name])

        # both logged configurations were checked, and logged every statement
        checked = sorted(c["target"] for c in doc["log_checks"])
        self.assertEqual(checked, LOGGED)
        for c in doc["log_checks"]:
            self.assertTrue(c["ok"], c)
            self.assertGreaterEqual(c["entries_logged"], c["queries"])

        self.assertEqual(sorted(doc["connect"]), ["direct", "haproxy", "slowtap-nolog"])
        for name, c in doc["connect"].items():
            self.assertGreater(c["rate_median"], 0, name)
            self.assertEqual(c["errors"], 0, name)

        for name in ("slowtap", "haproxy"):
            idle = doc["idle"][name]
            self.assertEqual(idle["connections"], 100)
            self.assertEqual(idle["opened"], 100)
            self.assertEqual(idle["pinged"], 100)
            self.assertEqual(idle["errors"], 0)
            self.assertIsInstance(idle["kib_per_connection"], float)
        self.assertTrue(doc["goals"])
        # the printed table names every target
        for name in TARGETS:
            self.assertIn(name, r.stdout)


if __name__ == "__main__":
    unittest.main()
