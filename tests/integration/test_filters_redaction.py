"""test_filters_redaction.py - statement filters and redaction end to end, through the real
proxy: --include/--exclude decide what is logged and explained while statistics (/api/digests,
/metrics) still count every statement; --redact patterns (an e-mail and a 16-digit card number)
keep the matching literals, sent in COM_QUERY text and as server-side prepared-statement
parameters (PHP PDO, ATTR_EMULATE_PREPARES off), out of the text and JSON slow logs, the
explain log, the HTTP API, /metrics, the dashboard and `slowtap report`, while other literals
are still shown; --redact-all logs fingerprints only; a bad pattern is a start-up error. Issue 12's lexer
leaks (a literal in an executable comment, a literal after `a\`) stay redacted in the text and
JSON logs and the API, and a prepared statement under NO_BACKSLASH_ESCAPES is logged with
doubled quotes (issue 11 item 6)."""

import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import unittest
import urllib.request

import pymysql

import harness

DB = "e2e_redact"
EXPLAIN_ARGS = ["--explain-user", "explain", "--explain-password", "explainpass"]

EMAIL_RE = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"
CARD_RE = r"^[0-9]{16}$"
REDACT_ARGS = ["--redact", EMAIL_RE, "--redact", CARD_RE]

# Values that must never be shown (each matches one of the patterns above).
SECRETS = ["alice.secret@example.com", "bob.hidden@example.org", "carol.x@example.net",
           "4111111111111111", "5500000000000004", "4000056655665556"]
# Literals that match no pattern and must still be visible where statements are shown.
VISIBLE_QUERY = "visible-note-7731"
VISIBLE_PARAM = "pdo-visible-8842"
VISIBLE_NUMBER = "424242"  # 6 digits: not a card

PHP_RUNNER = r"""<?php
$cfg = json_decode(stream_get_contents(STDIN), true);
$p = new PDO("mysql:host=127.0.0.1;port={$cfg['port']};dbname={$cfg['db']}", "app", "apppass",
             [PDO::ATTR_EMULATE_PREPARES => false, PDO::ATTR_ERRMODE => PDO::ERRMODE_EXCEPTION]);
$out = [];
foreach ($cfg['stmts'] as $st) {
    try {
        $s = $p->prepare($st[0]);
        foreach ($st[1] as $i => $v) {
            $t = is_int($v) ? PDO::PARAM_INT : (is_null($v) ? PDO::PARAM_NULL : PDO::PARAM_STR);
            $s->bindValue($i + 1, $v, $t);
        }
        $s->execute();
        $rows = $s->columnCount() > 0 ? $s->fetchAll(PDO::FETCH_NUM) : [];
        $out[] = ['ok' => true, 'rows' => $rows, 'affected' => $s->rowCount()];
        $s->closeCursor();
    } catch (PDOException $e) {
        $out[] = ['ok' => false, 'error' => $e->getMessage()];
    }
}
echo json_encode($out);
"""


def php_prepared(port, stmts, db=DB):
    """Runs [(sql, [params])] as server-side prepared statements with PHP PDO through the
    proxy; returns one {'ok', 'rows', 'affected'} or {'ok': False, 'error'} per statement."""
    php = shutil.which("php")
    if not php:
        raise unittest.SkipTest("php-cli is not installed")
    r = subprocess.run([php, "-d", "display_errors=stderr", "-r", PHP_RUNNER[len("<?php"):]],
                       input=json.dumps({"port": port, "db": db, "stmts": stmts}),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("php failed (%d): %s %s" % (r.returncode, r.stdout, r.stderr))
    return json.loads(r.stdout)


def connect(port, db=DB):
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=db, autocommit=True, connect_timeout=10, read_timeout=30)


def run_queries(port, stmts, db=DB):
    conn = connect(port, db)
    try:
        with conn.cursor() as c:
            for s in stmts:
                c.execute(s)
                c.fetchall()
    finally:
        conn.close()


def http_get(port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (port, path), timeout=10) as r:
        return r.read().decode("utf-8", "replace")


def wait_digests(hport, pred, timeout=8.0):
    """Polls /api/digests until pred(list) is true (statistics merge about once a second)."""
    deadline = time.monotonic() + timeout
    while True:
        d = json.loads(http_get(hport, "/api/digests?limit=1000"))
        if pred(d) or time.monotonic() >= deadline:
            return d
        time.sleep(0.2)


def wait_file(path, pred, timeout=8.0):
    deadline = time.monotonic() + timeout
    while True:
        text = harness.read_log(path)
        if pred(text) or time.monotonic() >= deadline:
            return text
        time.sleep(0.2)


def report(args):
    r = subprocess.run([harness.slowtap_bin(), "report"] + args, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    if r.returncode != 0:
        raise AssertionError("slowtap report %s failed (%d): %s" % (args, r.returncode, r.stderr))
    return r.stdout


def metric_series(text, name):
    """{digest: value} of the slowtap_digest_* family `name`."""
    out = {}
    for m in re.finditer(r'^%s\{digest="([0-9a-f]{16})",[^}]*\} (\S+)$' % re.escape(name), text,
                         re.M):
        out[m.group(1)] = float(m.group(2))
    return out


_db_ready = False


def setup_db(server):
    """Creates the schema once per process (both test classes use it read-mostly)."""
    global _db_ready
    if _db_ready:
        return
    _db_ready = True
    server.fresh_db(DB)
    server.sql("CREATE TABLE customers (id INT PRIMARY KEY, email VARCHAR(100), "
               "card VARCHAR(30), note VARCHAR(100), n INT);"
               "CREATE TABLE f (id INT PRIMARY KEY, v VARCHAR(50));"
               "CREATE TABLE ignored_tbl (id INT PRIMARY KEY);"
               "INSERT INTO f VALUES (1, 'one'), (2, 'two');"
               "INSERT INTO ignored_tbl VALUES (1)", db=DB)


class RedactionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        setup_db(cls.server)

    def workload(self, port):
        # COM_QUERY: secrets as quoted strings and as a bare number, next to visible literals.
        self.server.sql("DELETE FROM customers", db=DB)
        run_queries(port, [
            "INSERT INTO customers VALUES (1, 'alice.secret@example.com', '4111111111111111', "
            "'%s', %s)" % (VISIBLE_QUERY, VISIBLE_NUMBER),
            "SELECT id, note FROM customers WHERE email = 'alice.secret@example.com' "
            "AND note = '%s'" % VISIBLE_QUERY,
            "SELECT id, note FROM customers WHERE card = 4111111111111111 OR note = '%s'"
            % VISIBLE_QUERY,
            "UPDATE customers SET email = \"carol.x@example.net\" WHERE n = %s" % VISIBLE_NUMBER,
            "SELECT COUNT(*) FROM customers WHERE email LIKE 'carol.x@example.net%%' "
            "AND n = %s" % VISIBLE_NUMBER,
        ])
        # Server-side prepared statements: secrets as parameters.
        res = php_prepared(port, [
            ["INSERT INTO customers VALUES (?, ?, ?, ?, ?)",
             [2, "bob.hidden@example.org", "5500000000000004", VISIBLE_PARAM, 17]],
            ["SELECT id, note FROM customers WHERE email = ? OR card = ? OR note = ?",
             ["bob.hidden@example.org", "4000056655665556", VISIBLE_PARAM]],
            ["UPDATE customers SET card = ? WHERE id = ? AND note = ?",
             ["4000056655665556", 2, VISIBLE_PARAM]],
        ])
        for r in res:
            self.assertTrue(r["ok"], res)
        self.assertEqual(res[1]["rows"], [[2, VISIBLE_PARAM]])
        self.assertEqual(res[2]["affected"], 1)

    def assert_clean(self, what, text):
        for s in SECRETS:
            self.assertNotIn(s, text, "%s shows the redacted value %s:\n%s"
                             % (what, s, text[:6000]))

    def _run(self, fmt):
        hport = harness.free_port()
        tmp = tempfile.mkdtemp(prefix="slowtap-redact-")
        explain_log = os.path.join(tmp, "explain.log")
        args = REDACT_ARGS + EXPLAIN_ARGS + ["--http", "127.0.0.1:%d" % hport, "--log-format",
                                             fmt, "--explain-log", explain_log]
        try:
            with harness.Slowtap(args) as st:
                self.workload(st.port)
                # 8 statements on customers (plus connection chatter) merged into statistics.
                digests = wait_digests(hport, lambda d: sum(
                    x["count"] for x in d if "customers" in x["fingerprint"]) >= 8)
                self.assertGreaterEqual(
                    sum(x["count"] for x in digests if "customers" in x["fingerprint"]), 8)
                # Statements with a visible literal: their example shows it.
                examples = " ".join(x["example"] for x in digests)
                self.assertIn(VISIBLE_QUERY, examples)
                self.assertIn(VISIBLE_NUMBER, examples)
                api = json.dumps(digests)
                self.assert_clean("/api/digests", api)
                for x in digests:
                    one = http_get(hport, "/api/digests/" + x["digest"])
                    self.assert_clean("/api/digests/" + x["digest"], one)
                    self.assertEqual(json.loads(one)["digest"], x["digest"])
                self.assert_clean("/metrics", http_get(hport, "/metrics"))
                self.assert_clean("/api/summary", http_get(hport, "/api/summary"))
                dash = http_get(hport, "/")
                self.assertIn("<html", dash.lower())
                self.assert_clean("dashboard", dash)

                # Explain log: the SELECTs on customers were explained (explain may SELECT).
                elog = wait_file(explain_log, lambda t: t.count("customers") >= 2)
                lines = [json.loads(l) for l in elog.splitlines() if l.strip()]
                self.assertTrue(any("customers" in (l.get("statement") or "") for l in lines),
                                elog)
                # (its redaction is checked last, after the proxy stopped and flushed it)

                wait_file(st.log_path, lambda t: t.count(VISIBLE_PARAM) >= 3)
                self.assertEqual(st.stop(), 0, st.stderr())  # flushes the logs
                log_copy = os.path.join(tmp, "slow.log")
                shutil.copy(st.log_path, log_copy)
            with open(log_copy, errors="replace") as f:
                text = f.read()
            self.assert_clean("%s slow log" % fmt, text)
            self.assertIn(VISIBLE_QUERY, text)
            self.assertIn(VISIBLE_NUMBER, text)
            self.assertIn(VISIBLE_PARAM, text)  # in the Params of prepared statements
            if fmt == "json":
                recs = [json.loads(l) for l in text.splitlines() if l.strip()]
                execs = [r for r in recs if r["command"] == "Execute"]
                self.assertEqual(len(execs), 3, text)
                for r in execs:
                    self.assertIn("'%s'" % VISIBLE_PARAM, r["params"])
                    self.assertIn("?", r["params"])
                ins = [r for r in execs if r["statement"].startswith("INSERT")][0]
                # id 2 and n 17 are not secrets; the e-mail and card are.
                self.assertTrue(re.match(r"^2, \?, \?, '%s', 17$" % VISIBLE_PARAM, ins["params"]),
                                ins["params"])
                q = [r for r in recs if r["command"] == "Query"
                     and (r["statement"] or "").startswith("INSERT INTO customers")][0]
                self.assertEqual(q["statement"], "INSERT INTO customers VALUES (1, ?, ?, '%s', %s)"
                                 % (VISIBLE_QUERY, VISIBLE_NUMBER))
            else:
                ents = harness.parse_slowlog(text)
                q = [e for e in ents if e["statement"].startswith("SELECT id, note FROM customers "
                                                                  "WHERE card")]
                self.assertEqual(len(q), 1, text)
                self.assertEqual(q[0]["statement"], "SELECT id, note FROM customers WHERE card = ? "
                                 "OR note = '%s'" % VISIBLE_QUERY)
                ex = [e for e in ents if e["params"] and VISIBLE_PARAM in e["params"]]
                self.assertEqual(len(ex), 3, text)

            self.assert_clean("report table", report(["--top", "0", log_copy]))
            rj = report(["--top", "0", "--format", "json", log_copy])
            self.assert_clean("report json", rj)
            self.assertTrue(any("customers" in r["fingerprint"] for r in json.loads(rj)), rj)
            with open(explain_log, errors="replace") as f:
                self.assert_clean("explain log", f.read())
        finally:
            shutil.rmtree(tmp, ignore_errors=True)

    def test_redact_text_log(self):
        self._run("text")

    def test_redact_json_log(self):
        self._run("json")

    def test_redact_all(self):
        with harness.Slowtap(["--redact-all", "--log-format", "json"]) as st:
            self.workload(st.port)
            # Five queries, three prepares and three executes on customers. The two connections
            # may be on different workers, each handing its entries to the writer on its own
            # 50 ms tick: wait for all eleven, not for the last connection's.
            text = wait_file(st.log_path, lambda t: sum(
                "customers" in l for l in t.splitlines()) >= 11)
        recs = [json.loads(l) for l in text.splitlines() if l.strip()]
        for s in SECRETS + [VISIBLE_QUERY, VISIBLE_PARAM, VISIBLE_NUMBER]:
            self.assertNotIn(s, text)
        stmts = [r for r in recs if r["statement"] and "customers" in r["statement"]]
        self.assertEqual(len(stmts), 11, text)
        for r in stmts:
            # The statement is logged as its fingerprint: no literal left. A prepare's shape is
            # "administrator command: prepare" (it is not an execution of its statement), so
            # its redacted text is compared with the shape of an execution of it.
            if r.get("prepare"):
                execs = [x["fingerprint"] for x in recs
                         if x.get("command") == "Execute" and x["statement"] == r["statement"]]
                self.assertTrue(execs, r)
            else:
                self.assertEqual(r["statement"], r["fingerprint"], r)
            self.assertNotRegex(r["statement"], r"'|\"|\b\d+\b")
        execs = [r for r in recs if r["command"] == "Execute"]
        self.assertEqual(len(execs), 3)
        for r in execs:
            self.assertRegex(r["params"], r"^\?(, \?)*$")

    def test_bad_pattern_is_startup_error(self):
        for opt in ("--redact", "--include", "--exclude"):
            r = subprocess.run([harness.slowtap_bin(), "--listen", "127.0.0.1:%d"
                                % harness.free_port(), "--http", "off", "--slow-log",
                                os.devnull, opt, "("], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=20)
            self.assertEqual(r.returncode, 2, (opt, r.stderr))
            self.assertIn("'('", r.stderr, opt)
            self.assertRegex(r.stderr, r"offset 1\b", opt)
            self.assertIn(opt, r.stderr)
            self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)


class LexerLeakTest(unittest.TestCase):
    """Issue 12's two leaks, found with --redact secret: a literal inside an executable comment
    (which the server runs) and a literal after a backtick identifier ending in a backslash
    (no escape inside backticks). Both must be `?` in the text log, the JSON log and the API.
    And issue 11 item 6: under NO_BACKSLASH_ESCAPES a prepared statement's string parameter is
    logged with doubled quotes, as the server ran it."""

    LEAKS = {
        "SELECT /*! 'secret-x1' */ FROM leak": "SELECT /*! ? */ FROM leak",
        "SELECT `a\\`, 'secret-x2' FROM leak": "SELECT `a\\`, ? FROM leak",
        "SELECT /*!50000 'secret-x3', */ /*M! 'secret-x4', */ 1 FROM leak":
            "SELECT /*!50000 ?, */ /*M! ?, */ 1 FROM leak",
    }

    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        setup_db(cls.server)
        cls.server.sql("CREATE TABLE IF NOT EXISTS leak (`a\\` INT, note VARCHAR(50));"
                       "DELETE FROM leak; INSERT INTO leak VALUES (1, 'n')", db=DB)

    def _run(self, fmt):
        hport = harness.free_port()
        args = ["--redact", "secret", "--http", "127.0.0.1:%d" % hport, "--log-format", fmt]
        with harness.Slowtap(args) as st:
            conn = connect(st.port)
            try:
                with conn.cursor() as c:
                    for q in self.LEAKS:
                        c.execute(q)
                        self.assertEqual(len(c.fetchall()), 1, q)
            finally:
                conn.close()
            res = php_prepared(st.port, [
                ["SET SESSION sql_mode = 'NO_BACKSLASH_ESCAPES'", []],
                ["SELECT note FROM leak WHERE note = ? OR note = ?", ["' OR '1'='1", "a\\b"]],
            ])
            self.assertTrue(all(r["ok"] for r in res), res)
            self.assertEqual(res[1]["rows"], [])
            digests = wait_digests(hport, lambda d: sum(
                x["count"] for x in d if "leak" in x["fingerprint"]) >= 4)
            api = json.dumps(digests)
            self.assertNotIn("secret", api)
            examples = [x["example"] for x in digests]
            for want in self.LEAKS.values():
                self.assertIn(want, examples)
            for x in digests:
                self.assertNotIn("secret", http_get(hport, "/api/digests/" + x["digest"]))
            wait_file(st.log_path, lambda t: "OR note" in t)
            self.assertEqual(st.stop(), 0, st.stderr())
            text = st.log_text()
        self.assertNotIn("secret", text)
        if fmt == "json":
            stmts = [json.loads(l)["statement"] for l in text.splitlines() if l.strip()]
        else:
            stmts = [e["statement"] for e in harness.parse_slowlog(text)]
        for want in self.LEAKS.values():
            self.assertIn(want, stmts, text)
        nbe = "SELECT note FROM leak WHERE note = ''' OR ''1''=''1' OR note = 'a\\b'"
        self.assertIn(nbe, stmts, text)

    def test_leaks_text_log(self):
        self._run("text")

    def test_leaks_json_log(self):
        self._run("json")


class FilterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        setup_db(cls.server)

    def test_include_exclude(self):
        k = 3
        hport = harness.free_port()
        tmp = tempfile.mkdtemp(prefix="slowtap-filter-")
        explain_log = os.path.join(tmp, "explain.log")
        shapes = {
            "keep_select": "SELECT v, 'keep_a' FROM f WHERE id = %d",
            "skip_select": "SELECT v, 'skip_me' AS skipped FROM f WHERE id = %d",
            "keep_insert": "INSERT INTO f VALUES (%d, 'ins') ON DUPLICATE KEY UPDATE v = 'ins'",
            "not_included": "UPDATE f SET v = 'upd' WHERE id = %d",
            "excluded_tbl": "SELECT COUNT(*) FROM ignored_tbl WHERE id > %d",
        }
        args = EXPLAIN_ARGS + ["--http", "127.0.0.1:%d" % hport, "--explain-log", explain_log,
                               "--include", r"(?i)^\s*select\b", "--include", r"(?i)^\s*insert\b",
                               "--exclude", "skip_me", "--exclude", "ignored_tbl"]
        try:
            with harness.Slowtap(args) as st:
                stmts = []
                for i in range(k):
                    for name, tpl in shapes.items():
                        stmts.append(tpl % (10 + i))
                run_queries(st.port, stmts)
                # A prepared statement that is excluded: counted, not logged.
                res = php_prepared(st.port, [["SELECT v, 'skip_me' AS skipped FROM f WHERE id = ?",
                                              [1]]])
                self.assertTrue(res[0]["ok"], res)

                def fp_has(x, name):
                    fp = x["fingerprint"]
                    return {"keep_select": fp == "select v, ? from f where id = ?",
                            "skip_select": fp == "select v, ? as skipped from f where id = ?",
                            "keep_insert": fp.startswith("insert into f"),
                            "not_included": fp.startswith("update f"),
                            "excluded_tbl": "ignored_tbl" in fp}[name]

                def counts(d):
                    return {n: sum(x["count"] for x in d if fp_has(x, n)) for n in shapes}

                # Statistics count every statement, logged or not; the prepared execute has the
                # shape of the same text query.
                want = {n: k for n in shapes}
                want["skip_select"] = k + 1
                digests = wait_digests(hport, lambda d: counts(d) == want)
                self.assertEqual(counts(digests), want, digests)
                metrics = http_get(hport, "/metrics")
                calls = metric_series(metrics, "slowtap_digest_calls_total")
                for x in digests:
                    if any(fp_has(x, n) for n in shapes):
                        self.assertEqual(calls.get(x["digest"]), float(x["count"]), x)
                # Only logged statements are explained.
                for x in digests:
                    if fp_has(x, "skip_select") or fp_has(x, "excluded_tbl"):
                        self.assertIsNone(x["plan"], x)
                keep = [x for x in digests if fp_has(x, "keep_select")][0]
                elog = wait_file(explain_log, lambda t: "keep_a" in t)
                self.assertIn("keep_a", elog)
                self.assertNotIn("skip_me", elog)
                self.assertNotIn("ignored_tbl", elog)
                self.assertNotIn("UPDATE f", elog)
                self.assertIsNotNone(json.loads(http_get(hport, "/api/digests/" +
                                                         keep["digest"]))["plan"])
                ents = st.entries()
            stmts_logged = [e["statement"] for e in ents if e["statement"]]
            for e in stmts_logged:
                self.assertNotIn("skip_me", e)
                self.assertNotIn("ignored_tbl", e)
                self.assertFalse(e.upper().startswith("UPDATE"), e)
            self.assertEqual(len([s for s in stmts_logged if "keep_a" in s]), k, stmts_logged)
            self.assertEqual(len([s for s in stmts_logged if s.startswith("INSERT INTO f")]), k)
            # Nothing but the included statements (pymysql's own SETs etc. are not included).
            for s in stmts_logged:
                self.assertRegex(s, r"(?i)^\s*(select|insert)\b")
            keep_ents = [e for e in ents if "keep_a" in e["statement"]]
            self.assertTrue(all(e["explain"] or e["explain_error"] for e in keep_ents), keep_ents)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
