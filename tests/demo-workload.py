"""demo-workload.py - the demo behind tests/demo: a throwaway MariaDB with a small school
database (20000 students, classes, enrollments), slowtap in front of it with
--long-query-time 0.05 and auto-EXPLAIN, a few app queries (primary-key lookups, unindexed
lookups, a join on an unindexed expression, a grouped join), then the slow-log entries in
execution order, the costliest entry in full (plan and flags included) and `slowtap report`.
Then the seed-style Flask + SQLAlchemy app (tests/integration/seed_app.py, tagged by
contrib/sqlcommenter_sqlalchemy.py) runs its lazy-loading /roster page through slowtap, and
the demo shows the N+1 finding with its fix (/api/findings), and the dashboard's address with
what to click (http://127.0.0.1:9033/, another free port when that is taken, or
$SLOWTAP_DEMO_HTTP_PORT); in a terminal, slowtap and MariaDB keep running until Enter is
pressed (SLOWTAP_DEMO_WAIT=0: never; 1: always), otherwise nothing is left running.
tests/integration/test_demo.py runs it.
One progress line per step, with the time it took. Output fits a 100-column terminal.
Usage: /usr/bin/python3 tests/demo-workload.py [SLOWTAP_BINARY]"""

import json
import os
import re
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "integration"))
os.environ.pop("SLOWTAP_TEST_MYSQL_PORT", None)  # always a throwaway server
if len(sys.argv) > 1:
    os.environ["SLOWTAP_BIN"] = os.path.abspath(sys.argv[1])

import harness  # noqa: E402
import pymysql  # noqa: E402
import seed_app  # noqa: E402

sys.path.insert(0, os.path.join(HERE, "..", "contrib"))

LONG_QUERY_TIME = "0.05"
WIDTH = 100


class step:
    """`with step("starting MariaDB"):` prints "-- starting MariaDB... 1.2 s" on one line."""

    def __init__(self, msg):
        self.msg = msg

    def __enter__(self):
        self.t0 = time.monotonic()
        print("-- %s..." % self.msg, end="", flush=True)
        return self

    def __exit__(self, exc_type, exc, tb):
        print(" %s" % ("failed" if exc_type else "%.1f s" % (time.monotonic() - self.t0)),
              flush=True)
        return False


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


# The app's statements, in the order it runs them (with their parameters).
WORKLOAD = [
    # indexed primary-key lookups: fast, under the threshold, not logged
    ("SELECT name, email FROM students WHERE id = %s", (17,)),
    ("SELECT name, email FROM students WHERE id = %s", (4242,)),
    ("SELECT name, email FROM students WHERE id = %s", (19999,)),
    # a lookup by email, a column without an index: a full scan of a small table
    ("SELECT id, name FROM students WHERE email = %s", ("student123@school.example",)),
    # students of one city born in a year, sorted: a full scan, a filesort
    ("SELECT id, name, born FROM students WHERE city = %s AND YEAR(born) = %s ORDER BY born, name",
     ("Porto", 2006)),
    # the app looks up a class's top students by email, a column without an index: slow
    ("SELECT s.name, e.grade FROM enrollments e "
     "JOIN students s ON s.email = CONCAT('student', e.student_id, '@school.example') "
     "WHERE e.class_id = %s AND e.grade = %s AND e.student_id < %s", (7, "A", 5000)),
    # a join over the primary keys, grouped: classes by enrollments
    ("SELECT c.name, COUNT(*) AS n, SUM(e.grade = 'A') AS top FROM enrollments e "
     "JOIN students s ON s.id = e.student_id JOIN classes c ON c.id = e.class_id "
     "GROUP BY c.name ORDER BY n DESC LIMIT 5", ()),
]


def workload(port):
    c = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                        database="school", autocommit=True)
    cur = c.cursor()
    for sql, args in WORKLOAD:
        cur.execute(sql, args)
        cur.fetchall()
    c.close()


# ---- showing statements: tokens, the clause a flag is about, wrapping ----

TOKEN = re.compile(r"'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.)*\"|`[^`]*`|[\w.@$]+|\S")
CLAUSE_END = {"join", "left", "right", "inner", "cross", "straight_join", "natural", "where",
              "group", "order", "having", "limit", "union", "window", "for", "into"}
SCAN_END = CLAUSE_END - {"join", "left", "right", "inner", "cross", "straight_join", "natural",
                         "where"}


def tokens(stmt):
    """[(start, end, text)] of the statement's tokens (strings and quoted names whole)."""
    return [(m.start(), m.end(), m.group(0)) for m in TOKEN.finditer(stmt)]


def flagged_tables(e):
    """[(table as the plan names it, "join" or "scan")] for the plan rows of type ALL."""
    rows = e["explain"] or []
    if len(rows) < 2:
        return []
    head = rows[0]
    out, ids = [], set()
    for row in rows[1:]:
        cols = dict(zip(head, row))
        sid = cols.get("id")
        if cols.get("type") == "ALL":
            out.append((cols.get("table") or "", "join" if sid in ids else "scan"))
        ids.add(sid)
    return out


def must_show_until(stmt, e):
    """Offset up to which the statement must be shown: the end of the clause that explains
    each flagged table (its JOIN ... ON for a full join; for a full scan, its WHERE)."""
    toks = tokens(stmt)
    need = 0
    for table, kind in flagged_tables(e):
        name = table.strip("`").lower()
        at = None
        for i, (_s, _e, t) in enumerate(toks):
            prev = toks[i - 1][2].lower() if i else ""
            prev2 = toks[i - 2][2].lower() if i > 1 else ""
            if t.strip("`").lower() == name and (prev in ("from", "join", ",") or
                                                 prev2 in ("from", "join", ",")
                                                 or prev == "as"):
                at = i
                break
        if at is None:
            return len(stmt)  # not found: show everything rather than cut the reason away
        ends = CLAUSE_END if kind == "join" else SCAN_END
        depth, j = 0, at + 1
        while j < len(toks):
            t = toks[j][2]
            if t == "(":
                depth += 1
            elif t == ")":
                depth -= 1
                if depth < 0:
                    break
            elif depth == 0 and t.lower() in ends:
                break
            j += 1
        need = max(need, toks[j - 1][1])
    f = e["flags"] or {}
    if f.get("Tmp_table") == "Yes" or f.get("Filesort") == "Yes":
        # a temporary table or a filesort is about GROUP BY / ORDER BY / DISTINCT: show the
        # last of those clauses to its end
        depth, at = 0, None
        for i, (_s, _e, t) in enumerate(toks):
            depth += t == "("
            depth -= t == ")"
            if depth == 0 and t.lower() in ("group", "order", "distinct"):
                at = i
        if at is None:
            return len(stmt)
        depth, j = 0, at + 1
        while j < len(toks):
            t = toks[j][2].lower()
            depth += t == "("
            depth -= t == ")"
            if depth < 0 or (depth == 0 and t in ("limit", "having", "union", "window", "for",
                                                   "into", "order")):
                break
            j += 1
        need = max(need, toks[j - 1][1])
    return need


def wrap(stmt, width, indent, max_lines, keep):
    """The statement (whitespace folded) on lines of `width`, broken between tokens, at most
    `max_lines` lines unless more are needed to show the text up to offset `keep`; a cut text
    ends with " ..." after a whole token (every line leaves room for it)."""
    lines, cur, prev_end = [], "", 0
    for s, e, t in tokens(stmt):
        glue = " " if cur and s > prev_end else ""  # the statement's own spacing
        prev_end = e
        if cur and len(cur) + len(glue) + len(t) > width - 4:
            lines.append(cur)
            cur, glue = "", ""
            if len(lines) >= max_lines and s >= keep:
                lines[-1] += " ..."
                return ("\n" + " " * indent).join(lines)
        cur += glue + t
    lines.append(cur)
    return ("\n" + " " * indent).join(lines)


def flag_words(e):
    f = e["flags"] or {}
    names = [("Full_scan", "full scan"), ("Full_join", "full join"), ("Tmp_table", "temp table"),
             ("Filesort", "filesort")]
    words = [w for k, w in names if f.get(k) == "Yes"]
    if not words and e.get("no_index_used") in ("Yes", True):
        words = ["no index used"]
    return ", ".join(words) or "-"


def show_entries(entries):
    if not entries:
        print("(no statement took %s s or more)" % LONG_QUERY_TIME)
        return
    fw = max([5] + [len(flag_words(e)) for e in entries])
    print("%9s  %6s  %-*s  %s" % ("time", "rows", fw, "flags", "statement"))
    indent = 9 + 2 + 6 + 2 + fw + 2
    for e in entries:
        stmt = " ".join(e["statement"].split())
        keep = must_show_until(stmt, e)
        text = wrap(stmt, WIDTH - indent, indent, 2, keep)
        print("%7.3f s  %6s  %-*s  %s" % (e["query_time"] or 0, e["rows_sent"], fw,
                                          flag_words(e), text))
        if e["explain_error"]:
            print(" " * indent + "explain error: " + e["explain_error"])


def show_plan(e):
    """The plan as an aligned table (the raw entry has it tab-separated)."""
    rows = e["explain"] or []
    if len(rows) < 2:
        return
    keep = ("id", "table", "type", "key", "ref", "rows", "Extra")
    head = rows[0]
    idx = [head.index(k) for k in keep if k in head]
    table = [[head[i] for i in idx]] + [[(r[i] if i < len(r) else "") for i in idx]
                                        for r in rows[1:]]
    widths = [max(len(r[c]) for r in table) for c in range(len(idx))]
    for r in table:
        print("  " + "  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())


# ---- the seed-style app: its N+1, and the dashboard ----

SEED_DB, SEED_STUDENTS, SEED_CLASSES, SEED_PER_CLASS = "seed", 2000, 10, 30


def have_flask_sqlalchemy():
    try:
        import flask_sqlalchemy  # noqa: F401
        import sqlcommenter_sqlalchemy  # noqa: F401
    except ImportError:
        return False
    return True


def seed_workload(port):
    """The seed-style app through slowtap, tagged by the contrib helper: one /roster page (a
    class, its students, then each student's classes: one statement per student) and three
    /my_class lookups (students by student_id, a column without an index)."""
    import sqlcommenter_sqlalchemy
    app, db = seed_app.make_app(port, SEED_DB)
    with app.app_context():
        sqlcommenter_sqlalchemy.install(db.engine)
    client = app.test_client()
    if client.get("/roster/1").status_code != 200:
        raise RuntimeError("/roster/1 failed")
    for sid in (5, 150, 290):
        if client.get("/my_class/%d" % (seed_app.STUDENT_ID_BASE + sid)).status_code != 200:
            raise RuntimeError("/my_class failed")
    with app.app_context():
        db.engine.dispose()  # the request's unit of work ends with its connection


def get_json(http_port, path):
    with urllib.request.urlopen("http://127.0.0.1:%d%s" % (http_port, path), timeout=10) as r:
        return json.loads(r.read().decode())


def wait_n_plus_one(http_port, timeout=5.0):
    """The N+1 finding of /api/findings (statistics merge once a second; at most `timeout`
    seconds, polled every 0.2 s), or None."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            for f in get_json(http_port, "/api/findings"):
                if f.get("kind") == "n_plus_one":
                    return f
        except OSError:
            pass
        if time.monotonic() > deadline:
            return None
        time.sleep(0.2)


def show_finding(f):
    def para(label, text):
        lines = textwrap.wrap(" ".join(str(text).split()), WIDTH - 12) or [""]
        print("  %-9s %s" % (label, ("\n" + " " * 12).join(lines)))
    para("route", f.get("route") or "(untagged)")
    para("parent", f["parent"].get("name") or f["parent"]["fingerprint"])
    para("child", "%s: run %d times in one request, %.3f s in all"
         % (f["child"].get("name") or f["child"]["fingerprint"], f["count"], f["total"]))
    para("fix", ("(%s) " % f["orm"] if f.get("orm") else "") + (f.get("fix") or "-"))


def port_free(port):
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as slowtap binds it
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def show_dashboard(http_port, seed, finding):
    print("== the dashboard: http://127.0.0.1:%d/" % http_port)
    print("  - the shapes table ranks statement shapes by total time (\"rank by\" changes it);")
    print("    click a row for its slowest example, latency histogram, plan and index advice")
    if seed:
        print("    (the FULL SCAN row SELECT students WHERE student_id = ? shows the ALTER TABLE")
        print("    ... ADD INDEX that removes the scan)")
        print("  - Routes: the seed app's /roster/<int:class_id> and /my_class/<int:student_id>,")
        print("    with statements per request; click one to draw its charts under")
        print("    \"Over the last hour\"")
    if finding:
        print("  - Findings: the N+1 card above, with the parent's and the child's example and")
        print("    the fix")
    print("  From another machine: ssh -L %d:127.0.0.1:%d HOST, then open the same address."
          % (http_port, http_port))


def want_wait():
    w = os.environ.get("SLOWTAP_DEMO_WAIT", "")
    if w in ("0", "1"):
        return w == "1"
    return sys.stdin.isatty() and sys.stdout.isatty()


def main():
    t0 = time.monotonic()
    with step("starting a throwaway MariaDB"):
        srv = harness.mariadb()
    with step("loading the school database (20000 students, 40 classes, 80000 enrollments)"):
        build_school(srv)
    seed = have_flask_sqlalchemy()
    if seed:
        with step("loading the seed app's database (%d students, %d classes of %d)"
                  % (SEED_STUDENTS, SEED_CLASSES, SEED_PER_CLASS)):
            seed_app.create_schema(srv, SEED_DB, students=SEED_STUDENTS, classes=SEED_CLASSES,
                                   per_class=SEED_PER_CLASS)
    with tempfile.TemporaryDirectory(prefix="slowtap-demo-") as tmp:
        pw = os.path.join(tmp, "explain.pw")
        with open(pw, "w") as f:
            f.write("explainpass\n")
        os.chmod(pw, 0o600)
        http_port = int(os.environ.get("SLOWTAP_DEMO_HTTP_PORT") or 0) or (
            9033 if port_free(9033) else harness.free_port())
        args = ["--explain-user", "explain", "--explain-password-file", pw,
                "--http", "127.0.0.1:%d" % http_port]
        with step("starting slowtap: --long-query-time %s %s" % (LONG_QUERY_TIME,
                                                                " ".join(args[:2]))):
            px = harness.Slowtap(args=args, long_query_time=LONG_QUERY_TIME).__enter__()
        finding = None
        try:
            with step("running the app's %d statements through 127.0.0.1:%d"
                      % (len(WORKLOAD), px.port)):
                workload(px.port)
            if seed:
                with step("running the seed app's /roster and /my_class pages (Flask + "
                          "SQLAlchemy)"):
                    seed_workload(px.port)
            with step("waiting for auto-EXPLAIN and the log"):
                # entries waiting for their plan reach the log later: wait until the log
                # stops growing (at most 5 s)
                deadline = time.monotonic() + 5
                entries, prev = px.entries(settle=0.5), -1
                while time.monotonic() < deadline and len(entries) != prev:
                    prev = len(entries)
                    entries = px.entries(settle=0.5)
                if seed:
                    finding = wait_n_plus_one(http_port)
            log_text = px.log_text()
            notes = px.stderr()
            log_copy = os.path.join(tmp, "slow.log")
            with open(log_copy, "w") as f:
                f.write(log_text)
            show_results(entries, log_copy, notes)
            print()
            if seed:
                print("== an N+1 in the seed app's /roster page (GET /api/findings; the app is "
                      "tagged by")
                print("   contrib/sqlcommenter_sqlalchemy.py, so slowtap knows its route and "
                      "its ORM)")
                if finding:
                    show_finding(finding)
                else:
                    print("  (no N+1 finding within 5 s)")
            else:
                print("== (Flask-SQLAlchemy is not installed: the seed app's N+1 is not shown; "
                      "tests/deps.sh demo)")
            print()
            show_dashboard(http_port, seed, finding)
            if want_wait():
                print()
                input("-- slowtap and MariaDB keep running: press Enter to stop them ")
                print()
            else:
                print("  (tests/demo run in a terminal keeps slowtap and MariaDB running until "
                      "Enter)")
        finally:
            px.__exit__(None, None, None)
    with step("stopping MariaDB"):
        srv.stop()
    before = int(os.environ.get("SLOWTAP_DEMO_ELAPSED", "0") or 0)  # tests/demo's install+build
    print("-- done in %.1f s%s" % (time.monotonic() - t0 + before,
                                   " (installing and building included)" if before else ""))
    return 0


def show_results(entries, log_copy, notes):
    """The slow log's entries in execution order, the costliest in full with its plan, and
    `slowtap report` of the log."""
    entries = [e for e in entries if e.get("schema") == "school"]  # the app's statements
    entries.sort(key=lambda e: e["time"] or "")  # execution order (log order may differ)
    print()
    print("== the slow log: %d of %d statements took %s s or more (execution order)"
          % (len(entries), len(WORKLOAD), LONG_QUERY_TIME))
    show_entries(entries)
    if entries:
        worst = max(entries, key=lambda e: e["query_time"] or 0)
        print()
        print("== the costliest statement (%.3f s), its entry as written in the slow log:"
              % (worst["query_time"] or 0))
        print(worst["raw"].rstrip())
        if worst["explain"]:
            print()
            print("== its plan (type ALL = every row read; %s):" % flag_words(worst))
            show_plan(worst)
    print()
    print("== slowtap report %s (statement shapes ranked by total time)" % "slow.log")
    r = subprocess.run([harness.slowtap_bin(), "report", "--top", "5", log_copy],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=60)
    print(r.stdout.rstrip() or "(no output)")
    if r.returncode != 0:
        print("(slowtap report exited with %d)" % r.returncode)
    warn = [l for l in notes.splitlines() if l.strip() and "stopping" not in l
            and not re.match(r"slowtap [0-9][^ ]*: listening on ", l)]
    if warn:
        print()
        print("== slowtap's stderr:")
        print("\n".join(warn))


if __name__ == "__main__":
    sys.exit(main())
