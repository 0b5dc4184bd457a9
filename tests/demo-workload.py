"""demo-workload.py - the demo behind tests/demo: a throwaway MariaDB with a small school
database (20000 students, classes, enrollments), slowtap in front of it with
--long-query-time 0.05 and auto-EXPLAIN, a few app queries (an unindexed lookup, a primary-key
lookup, a join), then the slow-log entries and `slowtap report` of the log.
Usage: /usr/bin/python3 tests/demo-workload.py [SLOWTAP_BINARY]"""

import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "integration"))
os.environ.pop("SLOWTAP_TEST_MYSQL_PORT", None)  # always a throwaway server
if len(sys.argv) > 1:
    os.environ["SLOWTAP_BIN"] = os.path.abspath(sys.argv[1])

import harness  # noqa: E402
import pymysql  # noqa: E402


def step(msg):
    print("--", msg, flush=True)


def build_school(srv):
    srv.fresh_db("school")
    srv.sql("""
CREATE TABLE classes (id INT PRIMARY KEY, name VARCHAR(40) NOT NULL, room VARCHAR(10));
CREATE TABLE students (id INT PRIMARY KEY, name VARCHAR(60) NOT NULL,
    email VARCHAR(80) NOT NULL, city VARCHAR(40), born DATE);
CREATE TABLE enrollments (student_id INT NOT NULL, class_id INT NOT NULL, grade CHAR(2),
    PRIMARY KEY (student_id, class_id));
INSERT INTO classes SELECT seq, CONCAT('class-', seq), CONCAT('R', seq % 17) FROM seq_1_to_40;
INSERT INTO students SELECT seq, CONCAT('Student ', seq), CONCAT('student', seq, '@school.example'),
    ELT(1 + seq % 5, 'Oslo', 'Lyon', 'Porto', 'Graz', 'Turku'),
    DATE('2005-01-01') + INTERVAL (seq % 1500) DAY FROM seq_1_to_20000;
INSERT INTO enrollments SELECT s.seq, 1 + (s.seq * 7 + c.seq * 13) % 40,
    ELT(1 + (s.seq + c.seq) % 5, 'A', 'B', 'C', 'D', 'E')
    FROM seq_1_to_20000 s, seq_1_to_4 c;
ANALYZE TABLE classes, students, enrollments;
""", db="school")


def workload(port):
    c = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                        database="school", autocommit=True)
    cur = c.cursor()
    for sid in (17, 4242, 19999):  # indexed primary-key lookups: fast, no full scan
        cur.execute("SELECT name, email FROM students WHERE id = %s", (sid,))
        cur.fetchall()
    for sid in (123, 9876):  # unindexed lookup by email: a full scan, but a small table
        cur.execute("SELECT id, name FROM students WHERE email = %s",
                    ("student%d@school.example" % sid,))
        cur.fetchall()
    # the app looks up a class's top students by email, a column without an index: slow
    cur.execute("""SELECT s.name, e.grade FROM enrollments e
                   JOIN students s ON s.email = CONCAT('student', e.student_id, '@school.example')
                   WHERE e.class_id = 7 AND e.grade = 'A' AND e.student_id < 5000""")
    cur.fetchall()
    # a join over the primary keys, grouped: classes by enrollments
    cur.execute("""SELECT c.name, COUNT(*) AS n, SUM(e.grade = 'A') AS top
                   FROM enrollments e JOIN students s ON s.id = e.student_id
                   JOIN classes c ON c.id = e.class_id
                   GROUP BY c.name ORDER BY n DESC LIMIT 5""")
    cur.fetchall()
    c.close()


def show_entries(entries):
    if not entries:
        print("(no slow statements logged)")
    for e in entries:
        stmt = " ".join(e["statement"].split())
        if len(stmt) > 100:
            stmt = stmt[:97] + "..."
        full = (e["flags"] or {}).get("Full_scan") == "Yes"
        print("%8.6fs  rows %-4s %-10s %s" % (
            e["query_time"] or 0, e["rows_sent"], "FULL SCAN" if full else "", stmt))
        for row in e["explain"][1:]:
            cols = dict(zip(e["explain"][0], row))
            print("           plan: table %-12s type %-6s key %-8s rows %-7s %s" % (
                cols.get("table"), cols.get("type"), cols.get("key"), cols.get("rows"),
                cols.get("Extra", "")))
        if e["explain_error"]:
            print("           explain error: " + e["explain_error"])


def main():
    t0 = time.monotonic()
    step("starting a throwaway MariaDB")
    srv = harness.mariadb()
    step("loading the school database (20000 students, 40 classes, 80000 enrollments)")
    build_school(srv)
    with tempfile.TemporaryDirectory(prefix="slowtap-demo-") as tmp:
        pw = os.path.join(tmp, "explain.pw")
        with open(pw, "w") as f:
            f.write("explainpass\n")
        os.chmod(pw, 0o600)
        args = ["--explain-user", "explain", "--explain-password-file", pw]
        step("starting slowtap: --long-query-time 0 " + " ".join(args))
        with harness.Slowtap(args=args, long_query_time="0") as px:
            step("running the app's queries through 127.0.0.1:%d" % px.port)
            workload(px.port)
            time.sleep(1.0)  # give auto-EXPLAIN a moment
            entries = px.entries()
            log_copy = os.path.join(tmp, "slow.log")
            with open(log_copy, "w") as f:
                f.write(px.log_text())
        step("slow log: %d entries (--long-query-time 0 logs every statement)" % len(entries))
        show_entries(entries)
        scans = [e for e in entries if "WHERE email" in e["statement"]]
        if scans:
            step("one entry as written (the unindexed lookup by email):")
            print(scans[0]["raw"].rstrip())
        step("slowtap report")
        r = subprocess.run([harness.slowtap_bin(), "report", "--top", "5", log_copy],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                           timeout=60)
        print(r.stdout.rstrip() or "(no output)")
        if r.returncode != 0:
            print("(slowtap report exited with %d)" % r.returncode)
    step("done in %.1f s; stopping MariaDB" % (time.monotonic() - t0))
    srv.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
