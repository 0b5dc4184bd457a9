#!/usr/bin/python3
"""test_prometheus.py - a real Prometheus (Debian's `prometheus`, on loopback, scraping every
second) in front of two slowtap instances that share one MariaDB. After a known workload split
unevenly between the instances, Prometheus' HTTP API gives:
  - sum by (fingerprint)(rate(slowtap_digest_calls_total[1m])): the workload's shapes with the
    combined rates (and sum by fingerprint of the counters: the exact combined counts);
  - histogram_quantile(0.99 and 0.5, ...) over both instances' slowtap_digest_duration_seconds
    buckets: the combined distribution, not one instance's;
  - slowtap_transaction_oldest_open_seconds: the age of a transaction left open on A, 0 on B;
  - the example alert rules (conf/slowtap-alerts.yml) loaded and healthy.
Each instance's /metrics passes `promtool check metrics`, and conf/slowtap-alerts.yml passes
`promtool check rules` and its unit tests (`promtool test rules`)."""

import json
import os
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.parse
import urllib.request

import pymysql
from prometheus_client.parser import text_string_to_metric_families

import harness

CONF = os.path.join(harness.REPO, "conf")
RULES = os.path.join(CONF, "slowtap-alerts.yml")
RULES_TEST = os.path.join(CONF, "slowtap-alerts.test.yml")

# Shape "point": N_POINT_A executions on instance A, N_POINT_B on B (+1 warm-up each).
N_POINT_A, N_POINT_B = 30, 10
# Shape "sleep": N_FAST SLEEP(0) on A, N_SLOW SLEEP(SLOW_S) on B. The two are buckets apart,
# so that a loaded machine (a SLEEP(0) can take 50 ms there) does not blur the quantiles.
N_FAST, N_SLOW, SLOW_S = 40, 10, 0.6
SLOW_BUCKET = (0.524288, 2.097152)  # the bucket of slowtap_digest_duration_seconds holding it
BOUNDS = [2.0 ** k / 1e6 for k in range(7, 26, 2)]  # its le bounds: 128 us .. 33.5 s
SAMPLED_SECONDS = 15  # how long Prometheus samples the final values before rate() is read


def http_get(url, timeout=10):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.read().decode()


def run(cmd, **kw):
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=kw.pop("timeout", 60), **kw)


class PrometheusTest(unittest.TestCase):
    at = None

    def test_promtool_rules(self):
        for tool in ("promtool",):
            self.assertTrue(shutil.which(tool), "%s is missing: run tests/deps.sh" % tool)
        r = run(["promtool", "check", "rules", RULES])
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS: 4 rules found", r.stdout)
        r = run(["promtool", "test", "rules", RULES_TEST], cwd=CONF)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("SUCCESS", r.stdout)

    def test_two_instances(self):
        for tool in ("prometheus", "promtool"):
            self.assertTrue(shutil.which(tool), "%s is missing: run tests/deps.sh" % tool)
        server = harness.mariadb()
        server.fresh_db("st_prom")
        server.sql("CREATE TABLE t (id INT PRIMARY KEY, v INT); "
                   "INSERT INTO t VALUES (1, 10), (2, 20), (3, 30)", db="st_prom")
        ha, hb = harness.free_port(), harness.free_port()
        with harness.Slowtap(["--http", "127.0.0.1:%d" % ha], long_query_time="1") as a, \
                harness.Slowtap(["--http", "127.0.0.1:%d" % hb], long_query_time="1") as b:
            self.two_instances(a, b, ha, hb)

    def query_all(self, port, stmts):
        c = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                            database="st_prom", autocommit=True)
        try:
            with c.cursor() as cur:
                for s in stmts:
                    cur.execute(s)
                    cur.fetchall()
        finally:
            c.close()

    def start_prometheus(self, targets):
        tmp = tempfile.mkdtemp(prefix="slowtap-prom-")
        self.addCleanup(shutil.rmtree, tmp, True)
        cfg = os.path.join(tmp, "prometheus.yml")
        with open(cfg, "w") as f:
            f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
                    "  evaluation_interval: 1s\n"
                    "rule_files:\n  - %s\n"
                    "scrape_configs:\n  - job_name: slowtap\n    static_configs:\n"
                    "      - targets: [%s]\n"
                    % (json.dumps(RULES), ", ".join('"%s"' % t for t in targets)))
        port = harness.free_port()
        log = open(os.path.join(tmp, "prometheus.log"), "wb")
        self.addCleanup(log.close)
        proc = subprocess.Popen(
            ["prometheus", "--config.file=" + cfg, "--storage.tsdb.path=" + tmp + "/data",
             "--web.listen-address=127.0.0.1:%d" % port, "--log.level=warn"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, cwd=tmp,
            preexec_fn=harness._die_with_parent)

        def stop():
            if proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
        self.addCleanup(stop)
        self.prom = "http://127.0.0.1:%d" % port
        end = time.time() + 30
        while True:
            if proc.poll() is not None:
                with open(os.path.join(tmp, "prometheus.log"), errors="replace") as f:
                    raise AssertionError("prometheus exited %d:\n%s" % (proc.returncode, f.read()))
            try:
                http_get(self.prom + "/-/ready", timeout=2)
                return
            except OSError:
                if time.time() > end:
                    raise AssertionError("prometheus not ready after 30 s")
                time.sleep(0.2)

    def promql(self, q):
        """Instant query at self.at (None: now): [(labels, float value)]."""
        args = {"query": q}
        if self.at is not None:
            args["time"] = "%.3f" % self.at
        body = http_get(self.prom + "/api/v1/query?" + urllib.parse.urlencode(args))
        j = json.loads(body)
        self.assertEqual(j["status"], "success", body)
        self.assertEqual(j["data"]["resultType"], "vector", body)
        return [(r["metric"], float(r["value"][1])) for r in j["data"]["result"]]

    def by_fp(self, q):
        out = {}
        for labels, v in self.promql(q):
            self.assertNotIn(labels.get("fingerprint"), out, q)
            out[labels.get("fingerprint")] = v
        return out

    def wait_promql(self, q, pred, what, timeout=30):
        end = time.time() + timeout
        res = None
        while time.time() < end:
            res = self.by_fp(q)
            if pred(res):
                return res
            time.sleep(0.5)
        raise AssertionError("%s: %s still gives %r" % (what, q, res))

    def check_histogram(self, text, fp_sleep, is_b):
        """One instance's per-shape histogram, exactly: cumulative buckets with the fixed
        bounds, +Inf equal to _count equal to slowtap_digest_calls_total, for every shape."""
        buckets, counts, calls = {}, {}, {}
        for fam in text_string_to_metric_families(text):
            for smp in fam.samples:
                fp = smp.labels.get("fingerprint")
                if smp.name == "slowtap_digest_duration_seconds_bucket":
                    buckets.setdefault(fp, []).append((float(smp.labels["le"]), smp.value))
                elif smp.name == "slowtap_digest_duration_seconds_count":
                    counts[fp] = smp.value
                elif smp.name == "slowtap_digest_calls_total":
                    calls[fp] = smp.value
        self.assertEqual(sorted(buckets), sorted(calls))
        for fp, bs in buckets.items():
            self.assertEqual([le for le, _ in bs], BOUNDS + [float("inf")], fp)
            vals = [v for _, v in bs]
            self.assertEqual(vals, sorted(vals), fp)  # cumulative
            self.assertEqual(vals[-1], counts[fp], fp)
            self.assertEqual(counts[fp], calls[fp], fp)
        sleep = dict(buckets[fp_sleep])
        if is_b:  # 1 warm-up SLEEP(0), then N_SLOW of SLEEP(SLOW_S): none of those is under it
            self.assertEqual(sleep[float("inf")], 1 + N_SLOW)
            self.assertLessEqual(sleep[SLOW_BUCKET[0]], 1)
        else:  # 1 + N_FAST of SLEEP(0)
            self.assertEqual(sleep[float("inf")], 1 + N_FAST)

    def two_instances(self, a, b, ha, hb):
        targets = ["127.0.0.1:%d" % ha, "127.0.0.1:%d" % hb]
        self.start_prometheus(targets)
        point = lambda i: "SELECT v FROM t WHERE id = %d" % (i % 3 + 1)
        # Warm-up: each shape once per instance, so that every series exists (with a baseline
        # sample) before the measured workload; rate() ignores what precedes a first sample.
        for st in (a, b):
            self.query_all(st.port, [point(0), "SELECT SLEEP(0)"])
        # The shapes' fingerprints as slowtap computes them (workers merge about once a second).
        end = time.time() + 10
        while True:
            digests = json.loads(http_get("http://127.0.0.1:%d/api/digests" % ha))
            fps = {}
            for d in digests:
                if d["example"].startswith("SELECT v FROM t"):
                    fps["point"] = d["fingerprint"]
                elif d["example"].startswith("SELECT SLEEP("):
                    fps["sleep"] = d["fingerprint"]
            if len(fps) == 2 or time.time() > end:
                break
            time.sleep(0.2)
        self.assertEqual(sorted(fps), ["point", "sleep"], digests)
        fp_point, fp_sleep = fps["point"], fps["sleep"]
        calls = "sum by (fingerprint) (slowtap_digest_calls_total)"
        self.wait_promql(
            "sum by (fingerprint) (count_over_time(slowtap_digest_calls_total[1m]))",
            lambda r: r.get(fp_point, 0) >= 4 and r.get(fp_sleep, 0) >= 4,
            "two baseline samples per instance")
        base = self.by_fp(calls)
        self.assertEqual(base[fp_point], 2)
        self.assertEqual(base[fp_sleep], 2)

        # The measured workload, split unevenly between the instances.
        self.query_all(a.port, [point(i) for i in range(N_POINT_A)] +
                       ["SELECT SLEEP(0)"] * N_FAST)
        self.query_all(b.port, [point(i) for i in range(N_POINT_B)] +
                       ["SELECT SLEEP(%s)" % SLOW_S] * N_SLOW)
        want = {fp_point: 2 + N_POINT_A + N_POINT_B, fp_sleep: 2 + N_FAST + N_SLOW}
        self.wait_promql(calls, lambda r: all(r.get(k) == v for k, v in want.items()),
                         "the combined counts")
        done = time.time()

        # Let Prometheus sample the final values for a while, so that rate()'s extrapolation
        # beyond the first and last samples is a small fraction of the sampled time.
        for hp in (ha, hb):
            text = http_get("http://127.0.0.1:%d/metrics" % hp)
            r = run(["promtool", "check", "metrics"], input=text)
            self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
            self.check_histogram(text, fp_sleep, hp == hb)
        # Meanwhile a transaction stays open on A (its own shapes, not the two above).
        trx = pymysql.connect(host="127.0.0.1", port=a.port, user="app", password="apppass",
                              database="st_prom", autocommit=True)
        self.addCleanup(trx.close)
        with trx.cursor() as cur:
            cur.execute("START TRANSACTION")
            cur.execute("SELECT id FROM t WHERE id > 0 FOR UPDATE")
            cur.fetchall()
        trx_started = time.time()
        time.sleep(max(0.0, SAMPLED_SECONDS - (time.time() - done)))
        self.at = time.time()  # every query below sees the same instant

        rates = self.by_fp("sum by (fingerprint) (rate(slowtap_digest_calls_total[1m]))")
        for fp in (fp_point, fp_sleep):
            self.assertIn(fp, rates)
        # rate() over 1m is the increase seen in the window, extrapolated a little past the
        # first and last samples (about 1.5 scrape intervals, a few more when scrapes are late,
        # over >= SAMPLED_SECONDS of samples), divided by 60 s.
        for fp, inc in ((fp_point, N_POINT_A + N_POINT_B), (fp_sleep, N_FAST + N_SLOW)):
            self.assertGreaterEqual(rates[fp] * 60, inc * 0.98, (fp, rates))
            self.assertLessEqual(rates[fp] * 60, inc * (1 + 3.0 / SAMPLED_SECONDS), (fp, rates))
        # Per instance: two series per shape, in the ratio of the workload split.
        per = self.promql('rate(slowtap_digest_calls_total{fingerprint="%s"}[1m])'
                          % fp_point.replace("\\", "\\\\").replace('"', '\\"'))
        self.assertEqual(len(per), 2, per)
        by_inst = {lab["instance"]: v for lab, v in per}
        self.assertEqual(sorted(by_inst), sorted(targets))
        ratio = by_inst[targets[0]] / by_inst[targets[1]]
        self.assertAlmostEqual(ratio, N_POINT_A / N_POINT_B, delta=0.6)
        self.assertAlmostEqual(sum(by_inst.values()), rates[fp_point], places=6)

        # Latency over both instances: 40 fast + 10 slow executions of "sleep" (20% slow).
        hq = ("histogram_quantile(%s, sum by (fingerprint, le) "
              "(rate(slowtap_digest_duration_seconds_bucket[1m])))")
        p99 = self.by_fp(hq % "0.99")
        p50 = self.by_fp(hq % "0.5")
        self.assertGreater(p99[fp_sleep], SLOW_BUCKET[0], p99)
        self.assertLessEqual(p99[fp_sleep], SLOW_BUCKET[1], p99)
        self.assertLess(p50[fp_sleep], SLOW_BUCKET[0], p50)
        self.assertLess(p50[fp_point], 0.131072, p50)
        # Instance A alone never saw a slow one: the combined quantiles are not A's.
        p90 = self.by_fp(hq % "0.9")
        p90_a = self.by_fp(
            'histogram_quantile(0.9, sum by (fingerprint, le) (rate('
            'slowtap_digest_duration_seconds_bucket{instance="%s"}[1m])))' % targets[0])
        self.assertGreater(p90[fp_sleep], SLOW_BUCKET[0], p90)
        self.assertLess(p90_a[fp_sleep], SLOW_BUCKET[0], p90_a)
        # _count and _sum sum across instances too.
        cnt = self.by_fp("sum by (fingerprint) (slowtap_digest_duration_seconds_count)")
        self.assertEqual(cnt[fp_sleep], want[fp_sleep])
        tot = self.by_fp("sum by (fingerprint) (slowtap_digest_duration_seconds_sum)")
        self.assertGreaterEqual(tot[fp_sleep], N_SLOW * SLOW_S * 0.999)

        # The oldest open transaction, per instance (SlowtapLongOpenTransaction's input): A's
        # as old as the transaction (within a scrape interval), B has none.
        oldest = {lab["instance"]: v for lab, v in
                  self.promql("slowtap_transaction_oldest_open_seconds")}
        self.assertEqual(sorted(oldest), sorted(targets), oldest)
        self.assertEqual(oldest[targets[1]], 0, oldest)
        age = self.at - trx_started
        self.assertGreater(oldest[targets[0]], age - 2.5, (oldest, age))
        self.assertLess(oldest[targets[0]], age + 1.0, (oldest, age))

        # The example alert rules are loaded and evaluate without errors.
        j = json.loads(http_get(self.prom + "/api/v1/rules"))
        rules = [r for g in j["data"]["groups"] for r in g["rules"]]
        self.assertEqual(sorted(r["name"] for r in rules),
                         ["SlowtapFullScans", "SlowtapLongOpenTransaction",
                          "SlowtapShapeP99High", "SlowtapSlowStatements"])
        for r in rules:
            self.assertEqual(r["health"], "ok", r)
        print("rates %r p99 %r p50 %r" % (rates, p99, p50))


if __name__ == "__main__":
    unittest.main()
