"""test_pfs.py - what the server measured (issue 13, item 4). With performance_schema=ON and
its statement history collected, each slow statement's row of
performance_schema.events_statements_history (read on the auto-EXPLAIN connection) fills
Rows_examined and Lock_time and adds MariaDB's log_slow_verbosity=query_plan figures
(Tmp_tables, Tmp_disk_tables, Tmp_table_on_disk, Filesort_on_disk, Merge_passes); a live
capture on MariaDB >= 10.9 adds SHOW ANALYZE's actual rows as `# analyze:` lines. With
performance_schema off (the suite's shared server) Rows_examined stays 0 and nothing is
reported. pt-query-digest and mariadb-dumpslow still read the log."""

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

EXPLAIN_ARGS = ["--explain-user", "explain", "--explain-password", "explainpass"]
DB = "pfs"
NROWS = 10000
SCAN = "SELECT COUNT(*) FROM big WHERE note LIKE '%%x7%%'"
SCAN_SQL = SCAN.replace("%%", "%")
GROUP = "SELECT note, COUNT(*) FROM big GROUP BY note ORDER BY 2 DESC LIMIT 3"


def start_pfs_server(startup_timeout=60.0):
    """A throwaway mariadbd like harness.start_throwaway(), with performance_schema=ON and the
    statement consumers (MariaDB enables neither by default). Stopped at exit by the harness's
    cleanup list."""
    install_db = harness._find(["mariadb-install-db", "mysql_install_db"])
    mariadbd = harness._find(["mariadbd", "mysqld"])
    if not install_db or not mariadbd:
        harness._skip("MariaDB server is not installed; run tests/deps.sh")
    harness._install_handlers()
    base = tempfile.mkdtemp(prefix="slowtap-pfs-mdb-")
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
                "--performance-schema=ON",
                "--performance-schema-consumer-events-statements-current=ON",
                "--performance-schema-consumer-events-statements-history=ON"]
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
                raise RuntimeError("mariadbd (performance_schema) did not start:\n" + tail)
            if "Address already in use" in tail:
                continue
            raise RuntimeError("mariadbd (performance_schema) exited:\n" + tail)
        break
    srv.sql("DELETE FROM mysql.global_priv WHERE User=''; FLUSH PRIVILEGES")
    srv._setup_users()
    return srv


def make_schema(srv):
    srv.fresh_db(DB)
    srv.sql("CREATE TABLE big (id INT PRIMARY KEY, note VARCHAR(40)) ENGINE=InnoDB;"
            "INSERT INTO big SELECT seq, CONCAT('n', seq) FROM seq_1_to_%d;"
            "CREATE TABLE small (id INT PRIMARY KEY, w INT) ENGINE=InnoDB;"
            "INSERT INTO small SELECT seq, seq FROM seq_1_to_5" % NROWS, db=DB)


def connect(port):
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=DB, autocommit=True, connect_timeout=10, read_timeout=30)


def wait_entries(px, pred, timeout=10.0):
    """The log's entries once one satisfies pred (records wait for their server row)."""
    deadline = time.monotonic() + timeout
    while True:
        entries = harness.parse_slowlog(px.log_text())
        if any(pred(e) for e in entries) or time.monotonic() > deadline:
            return entries
        time.sleep(0.1)


def entry_block(text, needle):
    """The raw text of the entry whose statement contains needle."""
    for block in re.split(r"(?m)^(?=# Time: )", text):
        if needle in block:
            return block
    return ""


class PfsOn(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = start_pfs_server()
        make_schema(cls.srv)
        with harness.Slowtap(EXPLAIN_ARGS + ["--explain-threshold", "0.2"], server=cls.srv,
                             long_query_time="0") as px:
            c = connect(px.port)
            cur = c.cursor()
            # live capture: still running past --explain-threshold (0.2 s); its record finds
            # the statement history on, so the statements below that need no plan (under the
            # explain threshold) are sent for the server's figures too
            cur.execute("SELECT s.id, b.id FROM small s JOIN big b ON b.id = s.w "
                        "WHERE SLEEP(0.2) = 0")
            cur.fetchall()
            wait_entries(px, lambda e: "SLEEP(0.2)" in e["statement"] and e["rows_examined"])
            cur.execute(SCAN)
            cls.scan_count = cur.fetchone()[0]
            cur.execute("SELECT id FROM big WHERE id = 42")
            cur.fetchall()
            cur.execute(GROUP)
            cur.fetchall()
            # the same text twice in a row: each entry gets its own run's row
            cur.execute("SELECT COUNT(*) FROM big WHERE id < 100")
            cur.execute("SELECT COUNT(*) FROM big WHERE id < 100")
            # the history is the connection's: it goes when the connection closes
            cls.entries = wait_entries(px, lambda e: "id < 100" in e["statement"] and
                                       e["rows_examined"])
            c.close()
            code = px.stop()
            cls.stop_code = code
            cls.stderr = px.stderr()
            cls.log = px.log_text()
            cls.entries = harness.parse_slowlog(cls.log)
        cls.json_run(cls.srv)

    @classmethod
    def json_run(cls, srv):
        """The same figures in the JSON log and in /api/digests (per shape: server)."""
        cls.http_port = harness.free_port()
        with harness.Slowtap(EXPLAIN_ARGS + ["--log-format", "json",
                                             "--http", "127.0.0.1:%d" % cls.http_port],
                             server=srv, long_query_time="0") as px:
            c = connect(px.port)
            cur = c.cursor()
            cur.execute(GROUP)
            cur.fetchall()
            cur.execute("SELECT id FROM big WHERE id = 43")
            cur.fetchall()

            def jentries():
                return [json.loads(x) for x in px.log_text().splitlines() if x.strip()]
            def measured(es, sql):
                return any(e["statement"] == sql and e["tmp_tables"] is not None for e in es)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline and not (
                    measured(jentries(), GROUP) and
                    measured(jentries(), "SELECT id FROM big WHERE id = 43")):
                time.sleep(0.1)
            cls.jentries = jentries()
            cls.api = []
            while time.monotonic() < deadline + 5:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/digests?limit=1000"
                                            % cls.http_port, timeout=10) as r:
                    cls.api = json.loads(r.read())
                if any(d["server"] and "GROUP BY note" in d["example"] for d in cls.api):
                    break
                time.sleep(0.2)
            c.close()

    def entry(self, needle):
        for e in self.entries:
            if needle in e["statement"]:
                return e
        self.fail("no entry for %r in:\n%s" % (needle, self.log))

    def test_clean_exit(self):
        self.assertEqual(self.stop_code, 0, self.stderr)
        self.assertNotIn("performance_schema", self.stderr)

    def test_full_scan_rows_examined(self):
        self.assertEqual(self.scan_count, 0)
        e = self.entry("FROM big WHERE note LIKE")
        self.assertGreaterEqual(e["rows_examined"], NROWS, entry_block(self.log, "note LIKE"))
        block = entry_block(self.log, "note LIKE")
        self.assertRegex(block, r"(?m)^# Tmp_tables: 0  Tmp_disk_tables: 0  "
                                r"Tmp_table_on_disk: No  Filesort_on_disk: No  Merge_passes: 0$")
        # the server's lock time (MariaDB: microseconds of table locking) is a number >= 0
        self.assertIsNotNone(e["lock_time"])

    def jentry(self, needle):
        for e in self.jentries:
            if e["statement"] and needle in e["statement"]:
                return e
        self.fail("no JSON entry for %r in %r" % (needle, self.jentries))

    def test_json_log_tmp_figures(self):
        e = self.jentry("GROUP BY note")
        self.assertGreaterEqual(e["tmp_tables"], 1, e)
        self.assertIsInstance(e["tmp_disk_tables"], int, e)
        self.assertEqual(e["tmp_table_on_disk"], e["tmp_disk_tables"] > 0, e)
        self.assertIsInstance(e["merge_passes"], int, e)
        self.assertEqual(e["filesort_on_disk"], e["merge_passes"] > 0, e)
        self.assertGreaterEqual(e["rows_examined"], NROWS, e)
        p = self.jentry("WHERE id = 43")  # measured: no temporary table
        self.assertEqual((p["tmp_tables"], p["tmp_disk_tables"], p["tmp_table_on_disk"],
                          p["filesort_on_disk"], p["merge_passes"]), (0, 0, False, False, 0), p)

    def test_api_server_figures(self):
        ds = [d for d in self.api if "GROUP BY note" in d["example"]]
        self.assertEqual(len(ds), 1, self.api)
        sv = ds[0]["server"]
        self.assertIsNotNone(sv, ds[0])
        self.assertEqual(sv["measured"], 1, sv)
        self.assertGreaterEqual(sv["rows_examined"], NROWS, sv)
        self.assertGreaterEqual(sv["tmp_tables"], 1, sv)
        for k in ("tmp_disk_tables", "tmp_table_on_disk", "filesort_on_disk", "merge_passes"):
            self.assertIsInstance(sv[k], int, sv)
        self.assertEqual(sv["tmp_table_on_disk"], 1 if sv["tmp_disk_tables"] else 0, sv)

    def test_point_lookup(self):
        e = self.entry("WHERE id = 42")
        self.assertEqual(e["rows_examined"], 1, entry_block(self.log, "WHERE id = 42"))

    def test_tmp_table(self):
        block = entry_block(self.log, "GROUP BY note")
        m = re.search(r"(?m)^# Tmp_tables: (\d+)  Tmp_disk_tables: (\d+)", block)
        self.assertIsNotNone(m, block)
        self.assertGreaterEqual(int(m.group(1)), 1, block)
        self.assertGreaterEqual(self.entry("GROUP BY note")["rows_examined"], NROWS, block)

    def test_repeated_text(self):
        es = [e for e in self.entries if "WHERE id < 100" in e["statement"]]
        self.assertEqual(len(es), 2, self.log)
        for e in es:
            self.assertEqual(e["rows_examined"], 99, self.log)

    def test_show_analyze_live(self):
        block = entry_block(self.log, "SLEEP(0.2)")
        # 5 rows of small read, 5 eq_ref lookups in big
        self.assertEqual(self.entry("SLEEP(0.2)")["rows_examined"], 10, block)
        self.assertIn("# Explain: live", block)
        lines = [l for l in block.split("\n") if l.startswith("# analyze: ")]
        self.assertTrue(lines, block)
        tables = {l.split()[2]: l for l in lines if " r_rows=" in l}
        self.assertIn("s", tables, block)
        self.assertRegex(tables["s"], r" r_rows=\d", block)

    @unittest.skipUnless(shutil.which("pt-query-digest"), "percona-toolkit not installed")
    def test_pt_query_digest(self):
        rc, err, doc = harness.pt_query_digest_json(self.log)
        self.assertEqual(rc, 0, err)
        classes = {c["fingerprint"]: c for c in doc["classes"]}
        fp = "select count(*) from big where note like ?"
        self.assertIn(fp, classes, sorted(classes))
        self.assertGreaterEqual(int(classes[fp]["metrics"]["Rows_examined"]["sum"]), NROWS)

    @unittest.skipUnless(shutil.which("mariadb-dumpslow"), "mariadb-dumpslow not installed")
    def test_mariadb_dumpslow(self):
        path = os.path.join(tempfile.gettempdir(), "st-pfs-dump-%d.log" % os.getpid())
        with open(path, "w") as f:
            f.write(self.log)
        try:
            r = subprocess.run(["mariadb-dumpslow", "-s", "c", path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120)
        finally:
            os.unlink(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        # dumpslow keeps slowtap's extra "# ..." lines in the statement's block
        blocks = [b for b in r.stdout.split("\n\n") if "FROM big WHERE note LIKE" in b]
        self.assertEqual(len(blocks), 1, r.stdout)
        m = re.search(r"Rows_examined=[\d.]+ \((\d+)\)", blocks[0])
        self.assertIsNotNone(m, r.stdout)
        self.assertGreaterEqual(int(m.group(1)), NROWS, r.stdout)


class PfsOff(unittest.TestCase):
    """The shared server: performance_schema off, so the fields stay as before."""

    def test_rows_examined_stays_zero(self):
        srv = harness.mariadb()
        on = srv.sql("SELECT @@performance_schema, (SELECT ENABLED FROM "
                     "performance_schema.setup_consumers WHERE NAME = "
                     "'events_statements_history')")[0]
        if on == ["1", "YES"]:
            self.skipTest("the shared server collects the statement history")
        make_schema(srv)
        with harness.Slowtap(EXPLAIN_ARGS, server=srv, long_query_time="0") as px:
            c = connect(px.port)
            cur = c.cursor()
            cur.execute(SCAN)
            cur.fetchall()
            c.close()
            entries = wait_entries(px, lambda e: "note LIKE" in e["statement"])
            code = px.stop()
            log, err = px.log_text(), px.stderr()
        self.assertEqual(code, 0, err)
        es = [e for e in harness.parse_slowlog(log) if "note LIKE" in e["statement"]]
        self.assertEqual(len(es), 1, log)
        self.assertEqual(es[0]["rows_examined"], 0, log)
        self.assertNotIn("# Tmp_tables:", log)
        self.assertNotIn("# analyze:", log)
        self.assertNotIn("performance_schema", err)
        self.assertIn("Full_scan: Yes", entry_block(log, "note LIKE"))
        del entries


if __name__ == "__main__":
    unittest.main()
