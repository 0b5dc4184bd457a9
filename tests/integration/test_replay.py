"""test_replay.py - `slowtap replay` and `slowtap whatif` against two real MariaDB servers: the
suite's server (A, the captured one) and two throwaway servers (B and C, the copies compared)
loaded from A with mariadb-dump. The capture is built by running a known workload on A and writing what it sent
and what A answered (rows, affected rows, the row checksums computed in Python from the rows A
returned) with capwriter.py, an implementation of docs/capture-format.md independent of the C
codec: text selects with route tags, a prepared statement executed with parameters, a
transaction with an UPDATE, INSERTs.

Checks: replayed against C and B side by side (--repeat 3), every shape is "same" and no result differs; the replay's
checksums equal the captured ones (fidelity, text and prepared statements); --read-only (the
default) skips the writes, counts them and leaves B's data unchanged; --writes is refused
without --captured-from and against the captured server; a bad URI or option exits 2 with one
line naming it; whatif --advice on B finds the index for the unindexed students lookup, the
lookup gets "faster" (the statistical rule) with its plan going from ALL to ref, the write cost on students is a
number, no result differs, and the index is gone afterwards."""
# slowtap-test: serial
# (serial: "same" on identical copies and "faster" for the index are timings; run alone, the
# suite's other tests do not load one copy more than the other. Seen on this 2-core machine
# under other users' load: one copy's scan 2.3x slower than the other's for seconds.)

import json
import os
import subprocess
import tempfile
import time
import unittest

import pymysql

import capwriter
import harness

DB = "st_replay_%d" % os.getpid()
NSTUDENTS = 10000

SCHEMA = """
CREATE TABLE students (id INT PRIMARY KEY, student_id INT NOT NULL, name VARCHAR(60),
  year INT, note VARCHAR(20), email VARCHAR(100), bio VARCHAR(400)) DEFAULT CHARSET utf8mb4;
CREATE TABLE classes (id INT PRIMARY KEY, title VARCHAR(60)) DEFAULT CHARSET utf8mb4;
CREATE TABLE log (id INT AUTO_INCREMENT PRIMARY KEY, msg VARCHAR(60)) DEFAULT CHARSET utf8mb4;
CREATE TABLE ld (id INT PRIMARY KEY, name VARCHAR(20)) DEFAULT CHARSET utf8mb4;
INSERT INTO students SELECT seq, 20000 - seq, CONCAT('Student', seq), seq %% 4 + 1,
  IF(seq %% 7 = 0, NULL, 'n'), CONCAT('student', seq, '@school.example'),
  REPEAT('x', 300) FROM seq_1_to_%d;
INSERT INTO classes SELECT seq, CONCAT('Class ', seq) FROM seq_1_to_50;
ANALYZE TABLE students, classes;
""" % NSTUDENTS


def slowtap(*args, timeout=120):
    r = subprocess.run([harness.slowtap_bin()] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def replay_ratio_fast():
    """REPLAY_RATIO_FAST from replay/replay.h."""
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "replay", "replay.h")) as f:
        for line in f:
            if line.startswith("#define REPLAY_RATIO_FAST"):
                return float(line.split()[2])
    raise AssertionError("REPLAY_RATIO_FAST not found")


def uri(srv, db=DB):
    return "mysql://app:apppass@127.0.0.1:%d/%s" % (srv.port, db)


CORPUS_SCRIPT = """SELECT id, name, note, email FROM students WHERE year = 2 AND id < 60;
SELECT COUNT(*), SUM(id), AVG(year) FROM students;
SELECT id, name FROM students WHERE email = 'student77@school.example';
-- @bind 3 50
SELECT id, name, note, year FROM students WHERE year = ? AND id < ?;
SELECT NOW() - NOW(), CAST('2026-12-07 22:45:01.25' AS DATETIME(2)), CAST('10:11:12' AS TIME),
  DATE('2020-02-29'), 1.5e3, CAST(2.50 AS DECIMAL(5,2)), NULL, 'x', -7, 300000000000,
  CAST('2026-12-07 22:45:01' AS DATETIME), CAST('2026-12-07' AS DATETIME),
  CAST('00:00:00' AS TIME), CAST('-838:59:59' AS TIME), CAST(1.25 AS FLOAT), YEAR('2026-01-01'),
  CAST(-5 AS SIGNED) * 1000000000;
SELECT title FROM classes ORDER BY id LIMIT 5;
BEGIN;
SAVEPOINT s1;
UPDATE students SET note = 'changed' WHERE id BETWEEN 10 AND 12;
ROLLBACK TO SAVEPOINT s1;
UPDATE classes SET title = CONCAT(title, '') WHERE id <= 3;
COMMIT;
"""


class Recorder:
    """Runs statements on a server and writes them, with the answers, into a capture."""

    def __init__(self, srv, cap):
        self.srv = srv
        self.cap = cap
        self.sessions = 0
        self.writes = 0

    def session(self):
        self.sessions += 1
        sid = self.sessions
        conn = pymysql.connect(host="127.0.0.1", port=self.srv.port, user="app",
                               password="apppass", database=DB, conv={}, use_unicode=False,
                               autocommit=True)
        self.cap.session(sid, int(time.time() * 1e6), schema=DB)
        return sid, conn

    def query(self, sid, conn, seq, sql, write=False):
        cur = conn.cursor()
        t0 = int(time.time() * 1e6)
        n = cur.execute(sql)
        rows = list(cur.fetchall()) if cur.description else []
        t1 = int(time.time() * 1e6)
        self.cap.command(sid, seq, t0, t1, capwriter.COM_QUERY, sql,
                         rows=len(rows), affected=0 if cur.description else n,
                         checksum=capwriter.text_rows_sum(rows))
        if write:
            self.writes += 1
        return rows

    def prepared(self, sid, conn, seq, sql, stmt_id, executes, types):
        """A prepare, then one execute per parameter tuple (ints), then a close. The answers are
        computed by running the statement with the values written in."""
        t = int(time.time() * 1e6)
        self.cap.command(sid, seq, t, t + 100, capwriter.COM_STMT_PREPARE, sql,
                         prepare_id=stmt_id)
        seq += 1
        cur = conn.cursor()
        for params in executes:
            text = sql
            for p in params:
                text = text.replace("?", str(p), 1)
            t0 = int(time.time() * 1e6)
            cur.execute(text)
            rows = list(cur.fetchall())
            t1 = int(time.time() * 1e6)
            vals = [[None if v is None else (int(v) if ty == "int" else v) for v, ty in
                     zip(r, types)] for r in rows]
            self.cap.command(sid, seq, t0, t1, capwriter.COM_STMT_EXECUTE, stmt_id=stmt_id,
                             params=[(capwriter.T_LONG, p.to_bytes(4, "little", signed=True))
                                     for p in params],
                             rows=len(rows), checksum=capwriter.binary_rows_sum(vals, types))
            seq += 1
        t = int(time.time() * 1e6)
        self.cap.command(sid, seq, t, t, capwriter.COM_STMT_CLOSE, stmt_id=stmt_id)
        return seq + 1


class ReplayTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = harness.mariadb()
        cls.a.fresh_db(DB)
        cls.a.sql(SCHEMA, db=DB)
        # two copies: the baseline and the candidate (the suite's server, where the capture is
        # made, also runs other tests: its timings are not a copy's)
        dump = subprocess.run(["mariadb-dump", "--no-defaults", "--protocol=socket", "-S",
                               cls.a.socket, "-u", cls.a.root_user, "--databases", DB],
                              stdout=subprocess.PIPE, check=True, timeout=120).stdout
        cls.b = harness.start_throwaway()
        cls.c = harness.start_throwaway()
        for srv in (cls.b, cls.c):
            subprocess.run(srv._cli_base(), input=dump, check=True, timeout=120)
            srv.sql("ANALYZE TABLE students, classes", db=DB)
        cls.tmp = tempfile.mkdtemp(prefix="st-replay-")
        cls.capfile = os.path.join(cls.tmp, "app.cap")
        cap = capwriter.Capture(cls.capfile)
        rec = Recorder(cls.a, cap)
        cls.rec = rec
        # 1: the students lookup by an unindexed column, tagged with its route
        sid, c = rec.session()
        seq = 1
        for i in range(24):
            rec.query(sid, c, seq, "SELECT id, name, note FROM students WHERE email = "
                      "'student%d@school.example' /*route='%%2Fmy_class'*/" % (9000 - i * 37))
            seq += 1
        for i in range(8):
            rec.query(sid, c, seq, "SELECT title FROM classes WHERE id = %d "
                      "/*route='%%2Fmy_class'*/" % (i + 1))
            seq += 1
        # 2: a prepared statement with parameters
        sid, c = rec.session()
        rec.prepared(sid, c, 1, "SELECT id, name, note FROM students WHERE year = ? AND id < ?",
                     7, [(1 + i % 4, 40 + i) for i in range(12)], ["int", "str", "str"])
        # 3: a transaction: reads and an UPDATE
        sid, c = rec.session()
        seq = 1
        for i in range(6):
            rec.query(sid, c, seq, "BEGIN")
            rec.query(sid, c, seq + 1, "SELECT name FROM students WHERE id = %d FOR UPDATE"
                      % (100 + i))
            rec.query(sid, c, seq + 2, "UPDATE students SET name = name WHERE id = %d"
                      % (100 + i), write=True)
            rec.query(sid, c, seq + 3, "COMMIT")
            seq += 4
        # 4: writes
        sid, c = rec.session()
        for i in range(5):
            rec.query(sid, c, i + 1, "INSERT INTO log (msg) VALUES ('hello %d')" % i, write=True)
        cap.write()
        # the same kind of workload through slowtap --capture (the capture half of issue 27):
        # libmariadb's prepared statements (binary rows: DATETIME(2), TIME, DATE, DOUBLE,
        # DECIMAL, NULL) and text queries, a transaction with a savepoint
        with open(os.path.join(cls.tmp, "w.sql"), "w") as f:
            f.write(CORPUS_SCRIPT)
        cls.realcap = os.path.join(cls.tmp, "real.cap")
        client = os.path.join(os.path.dirname(harness.slowtap_bin()), "tests", "corpus",
                              "corpus_client")
        with harness.Slowtap(args=["--capture", cls.realcap]) as px:
            for mode in ("ps", "text"):
                p = subprocess.run([client, "--mode", mode, "127.0.0.1", str(px.port), "app",
                                    "apppass", DB, "w.sql"], cwd=cls.tmp, stdout=subprocess.PIPE,
                                   stderr=subprocess.PIPE, text=True, timeout=120)
                assert p.returncode == 0, p.stderr[-2000:]
            px.stop()

    @classmethod
    def tearDownClass(cls):
        cls.b.stop()
        cls.c.stop()

    def shape(self, shapes, needle):
        found = [s for s in shapes if needle in s["fingerprint"]]
        self.assertEqual(len(found), 1, [s["fingerprint"] for s in shapes])
        return found[0]

    def test_two_targets_same(self):
        rc, out, err = slowtap("replay", self.capfile, "--target", uri(self.c), "--target",
                               uri(self.b), "--repeat", "3", "--format", "json")
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        self.assertEqual(j["sessions"], 4)
        self.assertGreater(len(j["shapes"]), 4)
        for s in j["shapes"]:
            self.assertIn(s["verdict"], ("same", "too few"), s)
            self.assertEqual(s["result_differences"], 0, s)
            self.assertEqual(s["errors_only_a"] + s["errors_only_b"], 0, s)
            self.assertEqual(s["fidelity_different"], 0, s)
        look = self.shape(j["shapes"], "where email = ?")
        self.assertEqual(look["A"]["count"], 24)
        self.assertEqual(look["fidelity_same"], 24)
        self.assertEqual(look["A"]["plan_types"], "ALL")
        prep = self.shape(j["shapes"], "where year = ? and id < ?")
        self.assertTrue(prep["prepared"])
        self.assertEqual(prep["A"]["count"], 12)
        self.assertEqual(prep["fidelity_same"], 12)  # the binary rows' checksums
        self.assertGreater(prep["A"]["rows"], 0)
        routes = {r["route"]: r for r in j["routes"]}
        self.assertEqual(routes["/my_class"]["A"]["count"], 32)
        self.assertEqual(routes["/my_class"]["verdict"], "same")
        # the transaction's reads ran, its UPDATE did not
        self.assertEqual(self.shape(j["shapes"], "for update")["A"]["count"], 6)

    def test_real_capture(self):
        """A capture slowtap made, replayed on both copies: every read's checksum equals the
        captured one (text rows, and binary rows rebuilt from the fetched values)."""
        rc, out, err = slowtap("replay", self.realcap, "--target", uri(self.c), "--target",
                               uri(self.b), "--no-wait", "--format", "json")
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        self.assertEqual(j["sessions"], 2)
        same = 0
        for s in j["shapes"]:
            self.assertEqual(s["result_differences"], 0, s)
            self.assertEqual(s["fidelity_different"], 0, s)
            same += s["fidelity_same"]
            self.assertEqual(s["errors_not_as_captured"], 0, s)
        self.assertEqual(same, 12)  # 6 SELECTs, prepared and as text
        # the temporal, double and decimal row, once executed prepared (binary row), once as text
        self.assertEqual(self.shape(j["shapes"], "cast(? as datetime(?))")["fidelity_same"], 2)
        self.assertEqual(j["targets"][0]["skipped_writes"], 4)  # the UPDATEs
        self.assertEqual(j["targets"][0]["errors"], 0)

    def test_real_capture_writes(self):
        """--writes on a copy: the transaction with its savepoint replays, each UPDATE with the
        affected rows captured."""
        rc, out, err = slowtap("replay", self.realcap, "--target", uri(self.c), "--writes",
                               "--captured-from", uri(self.a), "--format", "json")
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        self.assertEqual(j["targets"][0]["skipped_writes"], 0)
        self.assertEqual(j["targets"][0]["errors"], 0)
        up = self.shape(j["shapes"], "update students set note")
        self.assertEqual((up["fidelity_same"], up["fidelity_different"]), (2, 0))
        up = self.shape(j["shapes"], "update classes")
        self.assertEqual((up["fidelity_same"], up["fidelity_different"]), (2, 0))
        # the savepoint was rolled back on the copy as on the captured server
        self.assertEqual(self.c.sql("SELECT COUNT(*) FROM students WHERE note = 'changed'",
                                    db=DB), [["0"]])

    def test_load_data_local(self):
        """LOAD DATA LOCAL sends the file content the capture holds (never a local file: the
        statement names /etc/passwd); one whose content is not in the capture sends none."""
        path = os.path.join(self.tmp, "ld.cap")
        cap = capwriter.Capture(path)
        t = int(time.time() * 1e6)
        cap.session(1, t, schema=DB)
        sql = "LOAD DATA LOCAL INFILE '/etc/passwd' INTO TABLE ld FIELDS TERMINATED BY ','"
        cap.file(1, 1, b"1,one\n2,two\n3,three\n")
        cap.command(1, 1, t + 10, t + 20, capwriter.COM_QUERY, sql, affected=3)
        cap.command(1, 2, t + 30, t + 40, capwriter.COM_QUERY, sql.replace("ld", "ld "), affected=3)
        cap.write()
        self.c.sql("DELETE FROM ld", db=DB)
        try:
            rc, out, err = slowtap("replay", path, "--target", uri(self.c), "--writes", "--force",
                                   "--no-wait", "--format", "json")
            self.assertEqual(rc, 0, err)
            self.assertEqual(self.c.sql("SELECT id, name FROM ld ORDER BY id", db=DB),
                             [["1", "one"], ["2", "two"], ["3", "three"]])
            j = json.loads(out)
            # the second has no content in the capture: it loads nothing (where the capture
            # says 3 rows: a fidelity difference, no error)
            self.assertEqual(j["targets"][0]["errors"], 0)
            self.assertEqual(sum(s["fidelity_same"] for s in j["shapes"]), 1)
            self.assertEqual(sum(s["fidelity_different"] for s in j["shapes"]), 1)
        finally:
            self.c.sql("DELETE FROM ld", db=DB)

    def test_read_only_skips_writes(self):
        before = self.b.sql("SELECT COUNT(*) FROM log", db=DB)
        rc, out, err = slowtap("replay", self.capfile, "--target", uri(self.b), "--no-wait")
        self.assertEqual(rc, 0, err)
        self.assertIn("%d writes skipped (read-only)" % self.rec.writes, out)
        self.assertIn("fidelity (A vs the capture):", out)
        self.assertNotIn(" 0 same", out)
        self.assertIn(", 0 different", out)
        self.assertEqual(self.b.sql("SELECT COUNT(*) FROM log", db=DB), before)

    def test_writes_refused(self):
        rc, out, err = slowtap("replay", self.capfile, "--target", uri(self.b), "--writes")
        self.assertEqual(rc, 2)
        self.assertIn("--captured-from", err)
        rc, out, err = slowtap("replay", self.capfile, "--target", uri(self.a), "--writes",
                               "--captured-from", uri(self.a))
        self.assertEqual(rc, 2)
        self.assertIn("is the captured server", err)
        # the same server under another name: refused by @@hostname:@@port
        rc, out, err = slowtap("replay", self.capfile, "--target",
                               "mysql://app:apppass@localhost:%d/%s" % (self.a.port, DB),
                               "--writes", "--captured-from", uri(self.a))
        self.assertEqual(rc, 2, err)
        self.assertIn("is the captured server", err)

    def test_writes_replayed(self):
        before = int(self.b.sql("SELECT COUNT(*) FROM log", db=DB)[0][0])
        rc, out, err = slowtap("replay", self.capfile, "--target", uri(self.b), "--writes",
                               "--captured-from", uri(self.a), "--no-wait", "--format", "json")
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        self.assertEqual(j["targets"][0]["skipped_writes"], 0)
        self.assertEqual(int(self.b.sql("SELECT COUNT(*) FROM log", db=DB)[0][0]), before + 5)
        ins = self.shape(j["shapes"], "insert into log")
        self.assertEqual(ins["fidelity_same"], 5)  # affected rows as captured

    def test_password_sources(self):
        """The password from SLOWTAP_TARGET_PASSWORD, else --password-file; a wrong one: the
        sessions do not connect, exit 1, and the password is never printed."""
        bare = "mysql://app@127.0.0.1:%d/%s" % (self.b.port, DB)
        env = dict(os.environ, SLOWTAP_TARGET_PASSWORD="apppass")
        r = subprocess.run([harness.slowtap_bin(), "replay", self.capfile, "--target", bare,
                            "--no-wait", "--format", "json"], stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=120, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreater(json.loads(r.stdout)["targets"][0]["ran"], 0)
        pw = os.path.join(self.tmp, "pw")
        with open(pw, "w") as f:
            f.write("apppass\n")
        rc, out, err = slowtap("replay", self.capfile, "--target", bare, "--password-file", pw,
                               "--no-wait", "--format", "json")
        self.assertEqual(rc, 0, err)
        self.assertGreater(json.loads(out)["targets"][0]["ran"], 0)
        rc, out, err = slowtap("replay", self.capfile, "--target",
                               "mysql://app:Wr0ngSecret@127.0.0.1:%d/%s" % (self.b.port, DB),
                               "--no-wait")
        self.assertEqual(rc, 1)
        self.assertIn("sessions could not connect", out)
        self.assertNotIn("Wr0ngSecret", out + err)

    def test_whatif_ddl_keep(self):
        """--ddl applies the given DDL, --keep leaves it."""
        rc, out, err = slowtap("whatif", self.capfile, "--target", uri(self.c), "--ddl",
                               "CREATE INDEX ix_year ON students (year)", "--keep", "--force",
                               "--no-wait", "--format", "json")
        try:
            self.assertEqual(rc, 0, err)
            j = json.loads(out)
            self.assertEqual(j["ddl"][0]["undo"], "DROP INDEX ix_year ON students")
            self.assertTrue(j["ddl"][0]["applied"])
            self.assertNotIn("undone", err)
            idx = self.c.sql("SELECT DISTINCT INDEX_NAME FROM information_schema.STATISTICS "
                             "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = 'students'" % DB)
            self.assertIn(["ix_year"], idx)
        finally:
            self.c.sql("DROP INDEX IF EXISTS ix_year ON students", db=DB)

    def test_usage_errors(self):
        for args, name in [(["--target", "http://x"], "--target"),
                           (["--target", "mysql://app@h:99999"], "--target"),
                           (["--target", uri(self.b), "--speed", "0"], "--speed"),
                           (["--target", uri(self.b), "--format", "xml"], "--format"),
                           (["--target", uri(self.b), "--bogus"], "--bogus"),
                           ([], "--target")]:
            rc, out, err = slowtap("replay", self.capfile, *args)
            self.assertEqual(rc, 2, (args, err))
            self.assertEqual(len(err.strip().splitlines()), 1, err)
            self.assertIn(name, err)
        rc, out, err = slowtap("whatif", self.capfile, "--target", uri(self.b))
        self.assertEqual(rc, 2)
        self.assertIn("--ddl or --advice", err)
        rc, out, err = slowtap("replay", "/nonexistent.cap", "--target", uri(self.b))
        self.assertEqual(rc, 1)

    def test_whatif_advice(self):
        page = os.path.join(self.tmp, "whatif.html")
        rc, out, err = slowtap("whatif", self.capfile, "--target", uri(self.b), "--advice",
                               "--captured-from", uri(self.a), "--repeat", "2", "--format",
                               "json", "--html", page)
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        ddl = [d["sql"] for d in j["ddl"]]
        self.assertTrue(any("students" in d and "`email`" in d for d in ddl), ddl)
        look = self.shape(j["shapes"], "where email = ?")
        self.assertEqual(look["before"]["plan_types"], "ALL")
        self.assertEqual(look["after"]["plan_types"], "ref")
        self.assertEqual(look["verdict"], "faster")
        # "faster" is the rule's verdict (p < 0.001, ratio < 0.5, both runs apart). The ratio
        # itself is a timing: on an idle machine it is 0.05-0.08, under the suite's load it
        # was seen up to 0.22 (the lookup's round trip dominates), so >= 10x is not asserted.
        self.assertLess(look["ratio"], replay_ratio_fast(), look)
        self.assertEqual(look["result_differences"], 0)
        for s in j["shapes"]:
            self.assertEqual(s["result_differences"], 0, s)
        cost = {c["table"]: c for c in j["write_cost"]}
        self.assertEqual(cost["students"]["writes"], 6)
        self.assertIn(cost["students"]["verdict"], ("same", "slower", "faster"))
        self.assertGreater(cost["students"]["before_ms"], 0)
        self.assertGreater(cost["students"]["after_ms"], 0)
        self.assertEqual(j["targets"][0]["skipped_writes"], 0)  # rolled back, not skipped
        # undone, and the data as it was (the writes were rolled back)
        idx = self.b.sql("SELECT INDEX_NAME FROM information_schema.STATISTICS WHERE "
                         "TABLE_SCHEMA = '%s' AND TABLE_NAME = 'students'" % DB)
        self.assertEqual([r[0] for r in idx], ["PRIMARY"])
        self.assertIn("undone", err)
        routes = {r["route"]: r for r in j["routes"]}
        self.assertEqual(routes["/my_class"]["verdict"], "faster")
        with open(page) as f:
            html = f.read()
        self.assertIn("ALL &rarr; ref", html)
        self.assertIn("Result differences: 0", html)


if __name__ == "__main__":
    unittest.main()
