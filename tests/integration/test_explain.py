"""test_explain.py - auto-EXPLAIN through the proxy: a school schema queried by SQLAlchemy ORM
and PyMySQL; full scans flagged, primary-key lookups not; one EXPLAIN per statement shape
(counted in the server's general log); DML explained but run once; statements that are not
explainable never EXPLAINed; a wrong explain password and an explain server that never answers
do not disturb the traffic; live plans (SHOW EXPLAIN) of long statements."""
# The general log is switched on and off, server-wide:
# slowtap-test: serial

import contextlib
import socket
import struct
import threading
import time
import unittest

import pymysql
from sqlalchemy import Column, ForeignKey, Integer, String, create_engine, select
from sqlalchemy.orm import declarative_base, sessionmaker

import harness

DB = "school_explain"
EXPLAIN_ARGS = ["--explain-user", "explain", "--explain-password", "explainpass"]
PLAN_FLAGS = ("Full_scan", "Full_join", "Tmp_table", "Filesort")
# EXPLAIN UPDATE/DELETE/INSERT needs the privilege of the statement itself: a user that could
# run them, to show that only EXPLAIN is ever sent.
DML_USER, DML_PASSWORD = "explain_dml", "explaindmlpass"

Base = declarative_base()



def side_query_is_read(q):
    """What the auto-EXPLAIN connection may send: EXPLAIN, SHOW EXPLAIN/ANALYZE, SELECTs that
    read only information_schema, performance_schema or server variables, and SET SESSION
    sql_mode (the client session's mode, so the statement's text means the same)."""
    u = " ".join(q.split()).upper()
    if u.startswith("EXPLAIN ") or u.startswith("SHOW EXPLAIN FOR ") or \
            u.startswith("SHOW ANALYZE "):
        return True
    if u.startswith("SET SESSION SQL_MODE = "):
        return ";" not in u
    if u.startswith("SELECT ") or u.startswith("(SELECT "):
        import re
        tables = re.findall(r"\b(?:FROM|JOIN)\s+([A-Z_`.]+)", u)
        return all(t.strip("`").startswith(("INFORMATION_SCHEMA.", "PERFORMANCE_SCHEMA."))
                   for t in tables) and " INTO " not in u and "FOR UPDATE" not in u
    return False

class Student(Base):
    __tablename__ = "students"
    id = Column(Integer, primary_key=True)
    name = Column(String(60), nullable=False)  # deliberately without an index
    class_id = Column(Integer)


class SchoolClass(Base):
    __tablename__ = "classes"
    id = Column(Integer, primary_key=True)
    title = Column(String(60), nullable=False)


class Membership(Base):
    __tablename__ = "memberships"
    student_id = Column(Integer, ForeignKey("students.id"), primary_key=True)
    class_id = Column(Integer, ForeignKey("classes.id"), primary_key=True)


def connect(port, db=DB, user="app", password="apppass"):
    return pymysql.connect(host="127.0.0.1", port=port, user=user, password=password,
                           database=db, autocommit=True, connect_timeout=10, read_timeout=30)


def query(port, sql, db=DB):
    conn = connect(port, db)
    try:
        with conn.cursor() as c:
            c.execute(sql)
            return c.fetchall()
    finally:
        conn.close()


def wait_entries(st, pred, n=1, timeout=15.0):
    """Polls the slow log until at least `n` entries satisfy `pred`; returns them."""
    deadline = time.monotonic() + timeout
    while True:
        found = [e for e in st.entries(settle=0.1) if pred(e)]
        if len(found) >= n or time.monotonic() >= deadline:
            return found
        time.sleep(0.2)


@contextlib.contextmanager
def general_log(server):
    """The server's general log into mysql.general_log for the block; restored afterwards."""
    old_on, old_output = server.sql("SELECT @@global.general_log, @@global.log_output")[0]
    outputs = set(o for o in old_output.split(",") if o and o != "NONE") | {"TABLE"}
    server.sql("SET GLOBAL general_log = 0; TRUNCATE TABLE mysql.general_log; "
               "SET GLOBAL log_output = '%s'; SET GLOBAL general_log = 1"
               % ",".join(sorted(outputs)))
    try:
        yield
    finally:
        server.sql("SET GLOBAL general_log = 0; SET GLOBAL log_output = '%s'; "
                   "SET GLOBAL general_log = %s" % (old_output, old_on))


def explain_user_queries(server, user="explain"):
    """Every statement the explain user sent, as text (general log, command Query)."""
    rows = server.sql("SELECT CONVERT(argument USING utf8mb4) FROM mysql.general_log "
                      "WHERE user_host LIKE '%s[%%' AND command_type = 'Query'" % user)
    return [r[0] for r in rows]


class BlackHoleForExplain:
    """A TCP relay to the real server that never answers the explain user: it relays the
    server's greeting, reads the client's handshake response and, when the user name is
    'explain', keeps the connection open without ever sending another byte. Everyone else is
    relayed both ways. (The proxy has no separate explain backend address, so this is how the
    explain connections meet a server that does not answer.)"""

    def __init__(self, upstream_port):
        self.upstream_port = upstream_port
        self.ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.ls.bind(("127.0.0.1", 0))
        self.ls.listen(64)
        self.port = self.ls.getsockname()[1]
        self.held = []
        self.stopped = False
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while not self.stopped:
            try:
                c, _ = self.ls.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(c,), daemon=True).start()

    @staticmethod
    def _read_packet(s):
        hdr = b""
        while len(hdr) < 4:
            d = s.recv(4 - len(hdr))
            if not d:
                return None
            hdr += d
        n = hdr[0] | hdr[1] << 8 | hdr[2] << 16
        body = b""
        while len(body) < n:
            d = s.recv(n - len(body))
            if not d:
                return None
            body += d
        return hdr + body

    @staticmethod
    def _pipe(a, b):
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

    def _serve(self, c):
        try:
            u = socket.create_connection(("127.0.0.1", self.upstream_port))
            greeting = self._read_packet(u)
            c.sendall(greeting)
            resp = self._read_packet(c)
            if resp is None:
                return
            payload = resp[4:]
            user = b""
            if len(payload) > 32:  # capabilities 4, max packet 4, charset 1, filler 23
                user = payload[32:].split(b"\0", 1)[0]
            if user == b"explain":
                self.held.append((c, u))  # never answer
                return
            u.sendall(resp)
        except OSError:
            return
        threading.Thread(target=self._pipe, args=(u, c), daemon=True).start()
        self._pipe(c, u)

    def close(self):
        self.stopped = True
        self.ls.close()
        for c, u in self.held:
            c.close()
            u.close()


class ExplainTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        cls.server.fresh_db(DB)
        engine = create_engine("mysql+pymysql://app:apppass@127.0.0.1:%d/%s"
                               % (cls.server.port, DB), future=True)
        Base.metadata.create_all(engine)
        engine.dispose()
        cls.server.sql(
            "INSERT INTO classes (id, title) SELECT seq, CONCAT('class', seq) FROM seq_1_to_20;"
            "INSERT INTO students (id, name, class_id) "
            "  SELECT seq, CONCAT('student', seq), seq % 20 + 1 FROM seq_1_to_3000;"
            "INSERT INTO memberships SELECT id, class_id FROM students;"
            "CREATE TABLE tally (id INT PRIMARY KEY, n INT NOT NULL);"
            "INSERT INTO tally VALUES (1, 0), (2, 0);"
            "CREATE TABLE inserted (v INT);"
            "CREATE PROCEDURE count_students() SELECT COUNT(*) FROM students;"
            "ANALYZE TABLE students, classes, memberships", db=DB)

    def test_orm_full_scan_flagged_pk_lookup_not(self):
        with harness.Slowtap(args=EXPLAIN_ARGS) as st:
            engine = create_engine("mysql+pymysql://app:apppass@127.0.0.1:%d/%s"
                                   % (st.port, DB), future=True)
            Session = sessionmaker(engine, future=True)
            with Session() as s:
                found = s.execute(select(Student).where(Student.name == "student42")
                                  ).scalars().all()
                self.assertEqual([x.id for x in found], [42])
            with Session() as s:
                self.assertEqual(s.get(Student, 7).name, "student7")
            with Session() as s:  # a join through the link table
                titles = s.execute(select(SchoolClass.title)
                                   .join(Membership, Membership.class_id == SchoolClass.id)
                                   .where(Membership.student_id == 9)).scalars().all()
                self.assertEqual(titles, ["class10"])
            engine.dispose()

            scan = wait_entries(st, lambda e: "'student42'" in e["statement"])
            self.assertEqual(len(scan), 1, st.log_text()[-3000:])
            e = scan[0]
            self.assertIsNone(e["explain_error"], e["raw"])
            self.assertEqual(e["explain_source"], "after", e["raw"])
            self.assertEqual(e["flags"].get("Full_scan"), "Yes", e["raw"])
            self.assertEqual(e["explain"][0][:4], ["id", "select_type", "table", "type"])
            self.assertTrue(any("students" in row and "ALL" in row for row in e["explain"][1:]),
                            e["raw"])

            pk = wait_entries(st, lambda e: "students.id = 7" in e["statement"]
                              and e["statement"].lstrip().upper().startswith("SELECT"))
            self.assertEqual(len(pk), 1, st.log_text()[-3000:])
            self.assertIsNone(pk[0]["explain_error"], pk[0]["raw"])
            self.assertEqual({k: pk[0]["flags"].get(k) for k in PLAN_FLAGS},
                             {k: "No" for k in PLAN_FLAGS}, pk[0]["raw"])
            self.assertTrue(any("const" in row for row in pk[0]["explain"][1:]), pk[0]["raw"])

            join = wait_entries(st, lambda e: "memberships.student_id = 9" in e["statement"])
            self.assertEqual(len(join), 1)
            self.assertGreaterEqual(len(join[0]["explain"]), 3, join[0]["raw"])  # header + 2

    def test_one_explain_per_shape(self):
        with general_log(self.server), harness.Slowtap(args=EXPLAIN_ARGS) as st:
            conn = connect(st.port)
            with conn.cursor() as c:
                for i in range(200):
                    c.execute("SELECT id FROM students WHERE name = 'ratelimit%d'" % i)
                    self.assertEqual(c.fetchall(), ())
            conn.close()
            entries = wait_entries(st, lambda e: "'ratelimit" in e["statement"], n=200)
            self.assertEqual(len(entries), 200)
            sources = [e["explain_source"] for e in entries]
            self.assertEqual(sources.count("after"), 1, sources)
            self.assertEqual(sources.count("cached"), 199, sources)
            self.assertTrue(all(e["flags"].get("Full_scan") == "Yes" for e in entries))
            sent = [q for q in explain_user_queries(self.server) if "ratelimit" in q]
        self.assertEqual(len(sent), 1, sent)
        self.assertTrue(sent[0].startswith("EXPLAIN SELECT id FROM students"), sent)

    def test_dml_explained_but_run_once(self):
        self.server.ensure_user(DML_USER, DML_PASSWORD,
                                ["SELECT, INSERT, UPDATE, DELETE ON %s.*" % DB, "PROCESS ON *.*"])
        args = ["--explain-user", DML_USER, "--explain-password", DML_PASSWORD]
        with general_log(self.server), harness.Slowtap(args=args) as st:
            conn = connect(st.port)
            with conn.cursor() as c:
                self.assertEqual(c.execute("UPDATE tally SET n = n + 1 WHERE id = 1"), 1)
                self.assertEqual(c.execute("DELETE FROM tally WHERE id = 2"), 1)
                self.assertEqual(c.execute("INSERT INTO inserted (v) VALUES (77)"), 1)
                self.assertEqual(c.execute("REPLACE INTO tally VALUES (3, 5)"), 1)
            conn.close()
            kinds = ("UPDATE tally", "DELETE FROM tally", "INSERT INTO inserted",
                     "REPLACE INTO tally")
            for k in kinds:
                got = wait_entries(st, lambda e, k=k: e["statement"].startswith(k))
                self.assertEqual(len(got), 1, k)
                self.assertIsNone(got[0]["explain_error"], got[0]["raw"])
                self.assertIn(got[0]["explain_source"], ("after", "cached"), got[0]["raw"])
                self.assertGreaterEqual(len(got[0]["explain"]), 2, got[0]["raw"])
            sent = explain_user_queries(self.server, DML_USER)
        self.assertEqual(self.server.sql("SELECT id, n FROM tally ORDER BY id", db=DB),
                         [["1", "1"], ["3", "5"]])
        self.assertEqual(self.server.sql("SELECT COUNT(*) FROM inserted WHERE v = 77", db=DB),
                         [["1"]])
        for k in kinds:
            self.assertEqual(len([q for q in sent if q.startswith("EXPLAIN ") and k in q]), 1,
                             (k, sent))
        # the explain user never sent anything but reads
        for q in sent:
            self.assertTrue(side_query_is_read(q), q)
            self.assertFalse(q.upper().startswith("EXPLAIN ANALYZE"), q)

    def test_not_explainable_never_explained(self):
        with general_log(self.server), harness.Slowtap(args=EXPLAIN_ARGS) as st:
            conn = connect(st.port)
            with conn.cursor() as c:
                c.execute("SET @marker_ne = 1")
                c.execute("SHOW TABLES LIKE 'stud%'")
                self.assertEqual(c.fetchall(), (("students",),))
                c.execute("CREATE TABLE made_ne (a INT)")
                c.execute("CALL count_students()")
                self.assertEqual(c.fetchall(), ((3000,),))
                while c.nextset():
                    pass
                c.execute("DROP TABLE made_ne")
                c.execute("SELECT COUNT(*) FROM classes WHERE title = 'marker_ne_select'")
            conn.close()
            # the SELECT at the end is explained: once it is, the others have been handled
            sel = wait_entries(st, lambda e: "marker_ne_select" in e["statement"])
            self.assertEqual(len(sel), 1)
            self.assertIsNotNone(sel[0]["explain_source"], sel[0]["raw"])
            for marker in ("@marker_ne", "SHOW TABLES", "made_ne", "count_students"):
                es = wait_entries(st, lambda e, m=marker: m in e["statement"])
                self.assertGreaterEqual(len(es), 1, marker)
                for e in es:
                    self.assertEqual(e["explain"], [], e["raw"])
            time.sleep(0.5)
            sent = explain_user_queries(self.server)
        for marker in ("marker_ne = 1", "SHOW TABLES", "made_ne", "count_students"):
            self.assertEqual([q for q in sent if marker in q], [], marker)
        self.assertEqual(len([q for q in sent if "marker_ne_select" in q]), 1, sent)

    def test_wrong_explain_password(self):
        args = ["--explain-user", "explain", "--explain-password", "not-the-password"]
        with harness.Slowtap(args=args) as st:
            for i in range(10):
                rows = query(st.port, "SELECT name FROM students WHERE id = %d" % (i + 1))
                self.assertEqual(rows, (("student%d" % (i + 1),),))
            got = wait_entries(st, lambda e: e["statement"].startswith("SELECT name FROM "
                                                                       "students WHERE id"), n=10)
            self.assertEqual(len(got), 10)
            for e in got:
                self.assertIsNotNone(e["explain_error"], e["raw"])
                self.assertIn("Explain_error:", e["raw"])
                self.assertEqual(e["explain"], [])
            self.assertTrue(any("Access denied" in e["explain_error"] for e in got))
            err = st.stderr()
        self.assertNotIn("not-the-password", err)
        self.assertLessEqual(err.count("Access denied"), 1, err)

    def test_live_plan_of_a_long_statement(self):
        args = EXPLAIN_ARGS + ["--explain-threshold", "0.5"]
        with harness.Slowtap(args=args) as st:
            t0 = time.monotonic()
            rows = query(st.port, "SELECT SLEEP(2) FROM students WHERE class_id = 3 LIMIT 1")
            self.assertEqual(rows, ((0,),))
            self.assertLess(time.monotonic() - t0, 4.0)
            got = wait_entries(st, lambda e: "SLEEP(2)" in e["statement"])
            self.assertEqual(len(got), 1, st.log_text()[-3000:])
            e = got[0]
            self.assertEqual(e["explain_source"], "live", e["raw"])
            self.assertIn("# Explain: live", e["raw"])
            self.assertTrue(any("students" in row for row in e["explain"][1:]), e["raw"])
            self.assertEqual(e["flags"].get("Full_scan"), "Yes", e["raw"])

    def test_unanswering_explain_server_does_not_block(self):
        bh = BlackHoleForExplain(self.server.port)
        try:
            args = EXPLAIN_ARGS + ["--backend", "127.0.0.1:%d" % bh.port,
                                   "--explain-timeout", "1"]
            with harness.Slowtap(args=args) as st:
                conn = connect(st.port)
                t0 = time.monotonic()
                with conn.cursor() as c:
                    for i in range(30):
                        q0 = time.monotonic()
                        c.execute("SELECT class_id FROM students WHERE name = 'bh%d'" % i)
                        c.fetchall()
                        self.assertLess(time.monotonic() - q0, 0.5, "query %d waited" % i)
                self.assertLess(time.monotonic() - t0, 3.0)
                conn.close()
                got = wait_entries(st, lambda e: "'bh" in e["statement"], n=30, timeout=20)
                self.assertEqual(len(got), 30)
                for e in got:
                    self.assertIsNotNone(e["explain_error"], e["raw"])
                    self.assertEqual(e["explain"], [], e["raw"])
                self.assertTrue(any("timeout" in e["explain_error"] for e in got),
                                [e["explain_error"] for e in got])
        finally:
            bh.close()


if __name__ == "__main__":
    unittest.main()
