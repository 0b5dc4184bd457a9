"""test_report.py - `slowtap report` on a slow log written by MariaDB itself (long_query_time=0,
log_slow_verbosity=query_plan,explain; a known workload with a full scan, a full join, a
temporary table and a filesort) and on handwritten slowtap-format samples (text and JSON
lines) with known numbers: counts per shape, totals, exact percentiles, rows, errors, the
Full_scan/Full_join/Tmp_table/Filesort flags (from flags lines and from EXPLAIN rows), --top,
--since, table and JSON output, a table that fits 100 columns without cutting a word, usage
errors; --group-by (tags, user, host, schema; text and JSON logs; a slowtap log of tagged
statements); "not a slow log" (exit 2) against an empty log (exit 0); each shape's last plan
and advice; rows examined slowtap could not learn shown as unknown, never as 0."""
# slowtap-test: serial
# (serial: it changes the server's global slow-log settings)

import json
import os
import subprocess
import tempfile
import time
import unittest

import harness

DB = "st_report_%d" % os.getpid()


def report(*args):
    """Runs `slowtap report ARGS`; returns (exit status, stdout, stderr)."""
    r = subprocess.run([harness.slowtap_bin(), "report"] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=60)
    return r.returncode, r.stdout, r.stderr


def report_json(*args):
    rc, out, err = report("--format", "json", *args)
    if rc != 0:
        raise AssertionError("report failed (%d): %s" % (rc, err))
    return json.loads(out)


def by_fp(shapes, needle):
    """The one shape whose fingerprint contains `needle`."""
    hits = [s for s in shapes if needle in s["fingerprint"]]
    if len(hits) != 1:
        raise AssertionError("%d shapes contain %r: %r" % (len(hits), needle,
                                                           [s["fingerprint"] for s in shapes]))
    return hits[0]


def table_rows(out):
    """Parses the table: a dict per row keyed by the header names. The last two columns, flags
    and fingerprint, wrap onto continuation lines that start with blanks up to the flags
    column: a flags part continues the flags as they are (they wrap after a comma), a
    fingerprint part is joined with a single space. The table ends at the first empty line
    (the sections below it follow)."""
    lines = [l for l in out.splitlines() if not l.startswith("#")]
    head = lines[0].split()
    assert head[-2:] == ["flags", "fingerprint"], head
    fcol = lines[0].index(" flags ") + 1
    col = lines[0].index("fingerprint")
    rows = []
    for l in lines[1:]:
        if not l:
            break
        if l[:fcol].strip():
            row = dict(zip(head[:-2], l[:fcol].split()))
            row["flags"] = l[fcol:col].strip()
            row["fingerprint"] = l[col:].strip()
            rows.append(row)
        else:
            rows[-1]["flags"] += l[fcol:col].strip()
            if l[col:].strip():
                rows[-1]["fingerprint"] += " " + l[col:].strip()
    return head, rows


def assert_fits(test, out, json_shapes=None):
    """Every line fits 100 columns, without trailing blanks; with the JSON of the same report,
    every fingerprint shown is the whole fingerprint or a prefix of it ending at a word, then
    " ..." (words are never cut)."""
    for line in out.splitlines():
        test.assertLessEqual(len(line), 100, line)
        test.assertEqual(line, line.rstrip(), line)
    if json_shapes is None:
        return
    _head, rows = table_rows(out)
    test.assertEqual(len(rows), len(json_shapes))
    for row, shape in zip(rows, json_shapes):
        want = " ".join(shape["fingerprint"].split())
        got = row["fingerprint"]
        if got.endswith(" ..."):
            got = got[:-4]
            test.assertTrue(want.startswith(got + " "), (got, want))
        else:
            test.assertEqual(got, want)


def text_entry(t, qt, rows_sent, rows_exam, stmt, full_scan=None, explain_type=None,
               schema="shop", flags_line=None, extra=None, error=None, rows_affected=0,
               lock_time=0.0, no_index=None):
    """One entry in slowtap's text format (proxy/output/slowlog.h)."""
    lines = ["# Time: %s" % t,
             "# User@Host: app[app] @  [127.0.0.1]",
             "# Thread_id: 7  Schema: %s  QC_hit: No" % schema,
             "# Query_time: %.6f  Lock_time: %.6f  Rows_sent: %d  Rows_examined: %d"
             % (qt, lock_time, rows_sent, rows_exam),
             "# Rows_affected: %d  Bytes_sent: 100" % rows_affected]
    if no_index is not None:
        lines.append("# No_index_used: %s  No_good_index_used: No" % ("Yes" if no_index else "No"))
    lines.append("# Digest: 0123456789abcdef")
    if error:
        lines.append("# Error: %s" % error)
    if full_scan is not None:
        lines.append("# Full_scan: %s  Full_join: No  Tmp_table: No  Filesort: No"
                     % ("Yes" if full_scan else "No"))
    if flags_line is not None:
        lines.append("# " + flags_line)
    if explain_type is not None:
        lines.append("# Explain: live")
        lines.append("# explain: id\tselect_type\ttable\ttype\tpossible_keys\tkey\tkey_len"
                     "\tref\trows\tExtra")
        lines.append("# explain: 1\tSIMPLE\torders\t%s\tNULL\tNULL\tNULL\tNULL\t1000\t%s"
                     % (explain_type, extra or ""))
        lines.append("# explain: 1\tSIMPLE\tusers\tALL\tNULL\tNULL\tNULL\tNULL\t10\t")
    lines.append("use %s;" % schema)
    lines.append("SET timestamp=%d;" % 1795556880)
    lines.append(stmt + ";")
    return "\n".join(lines) + "\n"


class ReportHandwritten(unittest.TestCase):
    """Known numbers: shape A has 10 entries of 0.1 .. 1.0 s, shape B 3 entries (2 full scans:
    one by Full_scan: Yes, one by an EXPLAIN of type ALL on the first table), shape C one."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="slowtap-report-")
        text = ""
        for i in range(1, 11):
            text += text_entry("2026-11-24T21:%02d:00.000000Z" % i, i / 10.0, 1, 1,
                               "SELECT name FROM users WHERE id = %d" % (i * 7))
        text += text_entry("2026-11-24T22:00:00.000000Z", 2.0, 5, 1000,
                           "SELECT * FROM orders WHERE note LIKE '%x%'", full_scan=True)
        text += text_entry("2026-11-24T22:01:00.000000Z", 1.0, 5, 1000,
                           "SELECT * FROM orders\n  WHERE note LIKE 'y'", full_scan=False,
                           explain_type="ALL")
        text += text_entry("2026-11-24T22:02:00.000000Z", 0.5, 0, 1000,
                           "select *  from orders where note like \"z\"", explain_type="ref")
        # a multi-line statement with a line slowtap's framing shifts by one space
        text += text_entry("2026-11-24T22:03:00.000000Z", 0.25, 0, 0,
                           "UPDATE users SET a = 1 -- c\n #x\n WHERE id = 3")
        cls.text_log = os.path.join(cls.dir, "slow.log")
        with open(cls.text_log, "w") as f:
            f.write(text)

        jl = []
        for i in range(1, 5):
            jl.append({"time": "2026-11-24T21:%02d:00.000000Z" % i, "ts": 1795556880.0 + i,
                       "thread_id": 3, "user": "app", "host": "127.0.0.1", "schema": "shop",
                       "statement": "DELETE FROM carts WHERE id = %d" % i, "params": None,
                       "query_time": 0.01 * i, "lock_time": 0.0, "rows_sent": 0,
                       "rows_examined": 0, "rows_affected": 1, "bytes_sent": 11,
                       "error_code": 0, "error": None, "digest": "00", "fingerprint": "x",
                       "flags": {"full_scan": i == 4, "full_join": False, "tmp_table": False,
                                 "filesort": False},
                       "explain_source": None, "plan": None})
        cls.json_log = os.path.join(cls.dir, "slow.jsonl")
        with open(cls.json_log, "w") as f:
            f.write("\n".join(json.dumps(o) for o in jl) + "\n")

    def test_json_numbers(self):
        shapes = report_json(self.text_log)
        self.assertEqual(len(shapes), 3)
        a = by_fp(shapes, "from users where id =")
        b = by_fp(shapes, "from orders where note like")
        c = by_fp(shapes, "update users")
        self.assertEqual(a["count"], 10)
        self.assertAlmostEqual(a["total_s"], 5.5, places=6)
        self.assertAlmostEqual(a["avg_ms"], 550.0, places=3)
        self.assertAlmostEqual(a["p50_ms"], 500.0, places=3)
        self.assertAlmostEqual(a["p95_ms"], 1000.0, places=3)
        self.assertAlmostEqual(a["p99_ms"], 1000.0, places=3)
        self.assertEqual(a["rows_sent"], 10)
        self.assertEqual(a["rows_examined"], 10)
        self.assertEqual(a["full_scans"], 0)
        self.assertEqual(b["count"], 3)
        self.assertAlmostEqual(b["total_s"], 3.5, places=6)
        self.assertAlmostEqual(b["p50_ms"], 1000.0, places=3)
        self.assertAlmostEqual(b["p99_ms"], 2000.0, places=3)
        self.assertEqual(b["rows_examined"], 3000)
        self.assertEqual(b["full_scans"], 2)
        # the users table read with type ALL after orders, in two of b's three plans
        self.assertEqual(b["full_joins"], 2)
        self.assertEqual(b["tmp_tables"], 0)
        self.assertEqual(b["filesorts"], 0)
        self.assertEqual(a["full_joins"], 0)
        self.assertEqual(c["count"], 1)
        self.assertEqual(c["full_scans"], 0)
        self.assertEqual(c["errors"], 0)
        # ranked by total time
        self.assertEqual([s["rank"] for s in shapes], [1, 2, 3])
        self.assertIs(shapes[0], a)
        self.assertIs(shapes[1], b)
        self.assertEqual(len(a["digest"]), 16)
        for s in shapes:
            for k in ("count", "total_s", "avg_ms", "p50_ms", "p95_ms", "p99_ms", "rows_sent",
                      "rows_examined", "rows_affected", "lock_s", "errors", "full_scans",
                      "full_joins", "tmp_tables", "filesorts", "no_index", "min_ms", "max_ms"):
                self.assertIsInstance(s[k], (int, float), k)

    def test_table(self):
        rc, out, err = report(self.text_log)
        self.assertEqual(rc, 0, err)
        head, rows = table_rows(out)
        self.assertEqual(head, ["rank", "digest", "count", "total_s", "avg_ms", "p95_ms", "rows",
                                "exam", "flags", "fingerprint"])
        self.assertEqual(len(rows), 3)
        self.assertEqual(rows[0]["rank"], "1")
        self.assertEqual(rows[0]["count"], "10")
        self.assertEqual(rows[0]["total_s"], "5.500")
        self.assertEqual(rows[0]["avg_ms"], "550.0")
        self.assertEqual(rows[0]["p95_ms"], "1000")
        self.assertEqual(rows[0]["rows"], "10")
        self.assertEqual(rows[0]["exam"], "10")
        self.assertEqual(rows[0]["flags"], "-")
        self.assertEqual(rows[1]["count"], "3")
        self.assertEqual(rows[1]["exam"], "3000")
        # 2 of 3 entries had a full scan, 2 of 3 a full join
        self.assertEqual(rows[1]["flags"], "scan:2,join:2")
        self.assertTrue(rows[0]["fingerprint"].startswith("select name from users"))
        self.assertIn("# flags: scan = full scan, join = full join", out)
        assert_fits(self, out, report_json(self.text_log))
        # below the table, each shape's short name by rank (what tells ORM shapes apart)
        names = out.split("\n# names (rank digest: the shape's short name)\n", 1)[1]
        names = names.split("\n\n", 1)[0].splitlines()
        shapes = report_json(self.text_log)
        shapes = shapes["shapes"] if isinstance(shapes, dict) else shapes
        self.assertEqual(len(names), 3, out)
        for line, s in zip(names, shapes):
            self.assertEqual(line.split(None, 2), [str(s["rank"]), s["digest"][:8], s["name"]])
        self.assertTrue(names[0].endswith(" SELECT users WHERE id = ?"), names)

    def test_flags_errors_and_more_columns(self):
        """Full_join, Tmp_table and Filesort from flags lines and from EXPLAIN rows; errors,
        rows affected, lock time and No_index_used; columns only when the log has them."""
        text = ""
        for i in range(4):  # a shape whose flags line says join + tmp + sort
            text += text_entry("2026-11-24T21:%02d:00Z" % i, 0.2, 3, 0,
                               "SELECT c.name, COUNT(*) FROM c JOIN e ON e.x = c.y GROUP BY "
                               "c.name ORDER BY 2 /* %d */" % i,
                               flags_line="Full_scan: No  Full_join: Yes  Tmp_table: Yes  "
                                          "Filesort: Yes")
        # a shape whose flags come only from its EXPLAIN rows: Using temporary; Using filesort
        text += text_entry("2026-11-24T22:00:00Z", 0.3, 1, 0,
                           "SELECT a FROM orders GROUP BY a ORDER BY b", explain_type="index",
                           extra="Using temporary; Using filesort")
        # failing statements, and updates with rows affected and lock time (server logs)
        for i in range(3):
            text += text_entry("2026-11-24T22:01:%02dZ" % i, 0.01, 0, 0,
                               "SELECT * FROM missing WHERE id = %d" % i,
                               error="1146  Table 'shop.missing' doesn't exist",
                               no_index=(i == 0))
        text += text_entry("2026-11-24T22:02:00Z", 0.05, 0, 0, "UPDATE t SET a = 2 WHERE b = 1",
                           rows_affected=7, lock_time=0.004, no_index=True)
        p = os.path.join(self.dir, "flags.log")
        with open(p, "w") as f:
            f.write(text)
        shapes = report_json("--top", "0", p)
        j = by_fp(shapes, "from c join e")
        self.assertEqual((j["count"], j["full_scans"], j["full_joins"], j["tmp_tables"],
                          j["filesorts"]), (4, 0, 4, 4, 4))
        g = by_fp(shapes, "from orders group by")
        # index on orders, then users read with type ALL: a full join; Extra gives tmp + sort
        self.assertEqual((g["full_scans"], g["full_joins"], g["tmp_tables"], g["filesorts"]),
                         (0, 1, 1, 1))
        m = by_fp(shapes, "from missing")
        self.assertEqual((m["count"], m["errors"], m["no_index"]), (3, 3, 1))
        u = by_fp(shapes, "update t set")
        self.assertEqual(u["rows_affected"], 7)
        self.assertAlmostEqual(u["lock_s"], 0.004, places=6)
        self.assertEqual(u["no_index"], 1)

        rc, out, err = report("--top", "0", p)
        self.assertEqual(rc, 0, err)
        head, rows = table_rows(out)
        # no rows examined in this log (slowtap cannot know them): no such column; errors: yes
        self.assertEqual(head, ["rank", "digest", "count", "total_s", "avg_ms", "p95_ms", "rows",
                                "errs", "flags", "fingerprint"])
        by = {r["fingerprint"].split(" from ")[1].split()[0]: r for r in rows
              if " from " in r["fingerprint"]}
        self.assertEqual(by["c"]["flags"], "join,tmp,sort")
        self.assertEqual(by["orders"]["flags"], "join,tmp,sort")
        self.assertEqual(by["missing"]["errs"], "3")
        self.assertEqual(by["missing"]["flags"], "noidx:1")  # no plan: the server's flag
        self.assertEqual(m["plans"], 0)
        self.assertEqual(j["plans"], 4)
        self.assertEqual(by["c"]["errs"], "-")
        upd = [r for r in rows if r["fingerprint"].startswith("update t set")]
        self.assertEqual(upd[0]["flags"], "noidx")
        assert_fits(self, out, shapes)

        # JSON lines: the flags object, or a plan whose rows say it (slowtap's JSON log)
        row = {"id": "1", "select_type": "SIMPLE", "table": "o", "type": "ref", "key": "k",
               "rows": "3", "Extra": "Using temporary"}
        jl = [{"ts": 1795556880.0, "statement": "SELECT * FROM o JOIN u ON u.a = o.b",
               "query_time": 0.5, "error_code": 0, "flags": None,
               "plan": [row, dict(row, table="u", type="ALL", Extra="Using where")]},
              {"ts": 1795556881.0, "statement": "SELECT * FROM o JOIN u ON u.a = o.b",
               "query_time": 0.5, "error_code": 1205, "no_index_used": True, "lock_time": 0.25,
               "rows_affected": 2,
               "flags": {"full_scan": True, "full_join": False, "tmp_table": False,
                         "filesort": True}, "plan": None}]
        pj = os.path.join(self.dir, "flags.jsonl")
        with open(pj, "w") as f:
            f.write("\n".join(json.dumps(o) for o in jl) + "\n")
        (s1,) = report_json(pj)
        self.assertEqual((s1["count"], s1["full_scans"], s1["full_joins"], s1["tmp_tables"],
                          s1["filesorts"], s1["errors"], s1["no_index"], s1["rows_affected"]),
                         (2, 1, 1, 1, 1, 1, 1, 2))
        self.assertAlmostEqual(s1["lock_s"], 0.25, places=6)

    def test_long_fingerprint_wraps_on_words(self):
        cols = ", ".join("column_number_%d" % i for i in range(60))
        stmt = "SELECT %s FROM a_table_with_a_long_name WHERE x = 1" % cols
        p = os.path.join(self.dir, "long.log")
        with open(p, "w") as f:
            f.write(text_entry("2026-11-24T21:00:00Z", 0.5, 1, 0, stmt) +
                    text_entry("2026-11-24T21:00:01Z", 0.1, 1, 0, "SELECT 1"))
        rc, out, err = report(p)
        self.assertEqual(rc, 0, err)
        shapes = report_json(p)
        assert_fits(self, out, shapes)
        _head, rows = table_rows(out)
        self.assertTrue(rows[0]["fingerprint"].endswith(" ..."), rows[0])
        self.assertTrue(rows[0]["fingerprint"].startswith("select column_number_0, "), rows[0])
        # at most 6 lines for one shape: the second shape's row follows soon after
        table = out.split("\n\n", 1)[0]  # (the sections below it begin after a blank line)
        lines = [l for l in table.splitlines() if not l.startswith("#")]
        self.assertLessEqual(len(lines), 1 + 6 + 1, out)
        self.assertEqual(rows[1]["fingerprint"], "select ?")

    def test_top_and_since(self):
        shapes = report_json("--top", "1", self.text_log)
        self.assertEqual(len(shapes), 1)
        self.assertEqual(shapes[0]["count"], 10)
        # SET timestamp wins over # Time: every entry is at 1795556880 = 2026-11-24T21:48:00Z
        self.assertEqual(len(report_json("--since", "2026-11-24T21:47:59Z", self.text_log)), 3)
        self.assertEqual(len(report_json("--since", "2026-11-24T21:48:01Z", self.text_log)), 0)
        self.assertEqual(len(report_json("--since", "1m", self.text_log)), 0)
        self.assertEqual(len(report_json("--since", "100000d", self.text_log)), 3)
        self.assertEqual(len(report_json("--top", "0", self.text_log)), 3)

    def test_json_lines_and_several_files(self):
        shapes = report_json(self.json_log)
        self.assertEqual(len(shapes), 1)
        d = shapes[0]
        self.assertEqual(d["count"], 4)
        self.assertAlmostEqual(d["total_s"], 0.1, places=6)
        self.assertEqual(d["full_scans"], 1)
        self.assertIn("delete from carts where id =", d["fingerprint"])
        self.assertEqual(len(report_json("--since", "2026-11-24T21:48:03Z", self.json_log)), 1)
        self.assertEqual(report_json("--since", "2026-11-24T21:48:03Z", self.json_log)[0]["count"],
                         2)
        both = report_json("--top", "10", self.text_log, self.json_log)
        self.assertEqual(len(both), 4)

    def test_usage_errors(self):
        for args, needle in ((["--frob", self.text_log], "'--frob'"),
                             (["--top", "x", self.text_log], "--top"),
                             (["--since", "yesterday", self.text_log], "--since"),
                             (["--format", "xml", self.text_log], "--format"),
                             (["--top"], "--top"),
                             ([], "no slow-log file"),
                             ([os.path.join(self.dir, "missing.log")], "missing.log")):
            rc, out, err = report(*args)
            self.assertEqual(rc, 2, args)
            self.assertEqual(len(err.splitlines()), 1, err)
            self.assertIn(needle, err)
            self.assertTrue(err.startswith("slowtap"), err)
            self.assertEqual(out, "")
        rc, out, err = report("--help")
        self.assertEqual(rc, 0)
        for opt in ("--top", "--since", "--format", "--help"):
            self.assertIn(opt, out)


class ReportLockWaits(unittest.TestCase):
    """The lock waits the log's `# Lock_wait:`, `# Blocker:` and `# blocker:` lines (JSON:
    lock_wait) tell: per shape the count, total and longest wait, and the longest one with the
    lock, the blocker and what the blocker was doing, in the table and in JSON."""

    UPD = "UPDATE accounts SET balance = balance + %d WHERE id = 7"
    # the blocker's last statement: long (the table wraps it), with a header field name in it
    # (no header field may be read from a statement's text), cut in the log ("...")
    LAST = ("UPDATE accounts SET note = 'Rows_sent: 99 Query_time: 50', balance = balance - 10 "
            + " ".join("WHERE id = %d OR" % i for i in range(12)) + " id = 99")
    ROW = ("Lock_wait: 2.310000  Lock_type: row  Lock_table: `shop`.`accounts`  "
           "Lock_index: PRIMARY  Lock_mode: X  Lock_state: Updating  Blocked_by: 1742")
    ROW_BLOCKER = ["Blocker: 1742  Blocker_user: app@10.0.0.7  In_transaction: 5.004000  "
                   "Idle: 4.870000  Trx_statements: 2",
                   "blocker: +0.000000 0.000300 BEGIN",
                   "blocker: +0.000412 0.000412 " + LAST + "..."]
    MDL = ("Lock_wait: 1.000000  Lock_type: metadata  Lock_table: `shop`.`accounts`  "
           "Blocked_by: 1750 (inferred)")
    MDL_BLOCKER = ["Blocker: 1750  Blocker_user: -@localhost"]
    TABLE = "Lock_wait: 0.400000  Lock_type: table  Lock_candidates: 1801,1802"

    @classmethod
    def entry(cls, n, lock_line=None, blocker=()):
        lines = [lock_line] + list(blocker) if lock_line else []
        e = text_entry("2026-11-24T21:%02d:00.000000Z" % n, 2.5, 0, 0, cls.UPD % n,
                       rows_affected=1, lock_time=0.0)
        if not lines:
            return e
        head, tail = e.split("use shop;", 1)  # the lock lines go last in the header
        return head + "".join("# %s\n" % l for l in lines) + "use shop;" + tail

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="slowtap-report-lock-")
        select = text_entry("2026-11-24T21:30:00.000000Z", 0.5, 1, 1,
                            "SELECT * FROM accounts WHERE id = 7")
        logs = {"all": cls.entry(1, cls.ROW, cls.ROW_BLOCKER) + cls.entry(2, cls.MDL,
                                                                           cls.MDL_BLOCKER)
                + cls.entry(3, cls.TABLE) + cls.entry(4) + select,
                "mdl": cls.entry(2, cls.MDL, cls.MDL_BLOCKER) + cls.entry(3, cls.TABLE),
                "table": cls.entry(3, cls.TABLE), "none": cls.entry(4) + select}
        cls.logs = {}
        for name, text in logs.items():
            cls.logs[name] = os.path.join(cls.dir, name + ".log")
            with open(cls.logs[name], "w") as f:
                f.write(text)
        # the row-lock entry as slowtap's JSON-lines log writes it (proxy/output/slowlog.c)
        jl = {"time": "2026-11-24T21:48:00.000000Z", "ts": 1795556880.0, "thread_id": 7,
              "user": "app", "host": "127.0.0.1", "schema": "shop", "statement": cls.UPD % 1,
              "query_time": 2.5, "lock_time": 2.31, "rows_sent": 0, "rows_examined": 0,
              "rows_affected": 1, "error_code": 0,
              "lock_wait": {"seconds": 2.31, "type": "row", "table": "`shop`.`accounts`",
                            "index": "PRIMARY", "mode": "X", "state": "Updating",
                            "blocked_by": 1742, "blocked_by_inferred": False, "candidates": [],
                            "blocker": {"thread_id": 1742, "user": "app", "host": "10.0.0.7",
                                        "in_transaction": 5.004, "idle": 4.87,
                                        "statements": [
                                            {"start": "2026-11-24T21:47:55.000000Z",
                                             "duration": 0.0003, "statement": "BEGIN",
                                             "truncated": False},
                                            {"start": "2026-11-24T21:47:55.000412Z",
                                             "duration": 0.000412, "statement": cls.LAST,
                                             "truncated": True}]}}}
        cls.json_log = os.path.join(cls.dir, "slow.jsonl")
        with open(cls.json_log, "w") as f:
            f.write(json.dumps(jl) + "\n")

    def test_json(self):
        shapes = report_json(self.logs["all"])
        upd = by_fp(shapes, "update accounts set balance")
        self.assertEqual(upd["count"], 4)
        self.assertEqual(upd["rows_sent"], 0)  # not the 99 in the blocker's statement
        self.assertAlmostEqual(upd["total_s"], 10.0, places=6)
        lw = upd["lock_waits"]
        self.assertEqual(lw["count"], 3)
        self.assertAlmostEqual(lw["total_s"], 3.71, places=6)
        self.assertAlmostEqual(lw["max_s"], 2.31, places=6)
        self.assertEqual(lw["longest"], {
            "time": "2026-11-24T21:48:00.000000Z", "wait_s": 2.31, "type": "row",
            "table": "`shop`.`accounts`", "index": "PRIMARY", "blocked_by": 1742,
            "inferred": False, "candidates": [],
            "blocker": {"thread_id": 1742, "user": "app", "host": "10.0.0.7", "trx_s": 5.004,
                        "idle_s": 4.87, "last_statement": self.LAST,
                        "last_statement_truncated": True}})
        self.assertIsNone(by_fp(shapes, "select * from accounts")["lock_waits"])
        # the JSON-lines log says the same of the same wait
        j = report_json(self.json_log)[0]["lock_waits"]
        self.assertEqual((j["count"], j["longest"]), (1, lw["longest"]))
        # an inferred metadata-lock blocker outside any transaction; candidates only
        mdl = report_json(self.logs["mdl"])[0]["lock_waits"]
        self.assertEqual((mdl["count"], mdl["longest"]["type"], mdl["longest"]["blocked_by"],
                          mdl["longest"]["inferred"], mdl["longest"]["index"]),
                         (2, "metadata", 1750, True, None))
        self.assertEqual(mdl["longest"]["blocker"], {
            "thread_id": 1750, "user": "", "host": "localhost", "trx_s": None, "idle_s": None,
            "last_statement": None, "last_statement_truncated": False})
        tab = report_json(self.logs["table"])[0]["lock_waits"]["longest"]
        self.assertEqual((tab["type"], tab["table"], tab["blocked_by"], tab["candidates"],
                          tab["blocker"]), ("table", None, None, [1801, 1802], None))

    def lock_section(self, path):
        """The table's lock-wait section: {rank line: the wrapped text under it, joined}."""
        rc, out, err = report(path)
        self.assertEqual(rc, 0, err)
        assert_fits(self, out)
        lines = out.split("\n# lock waits (rank digest: waits, time waited; the longest wait "
                          "and who held the lock)\n", 1)[1].splitlines()
        got = {}
        for l in lines:
            if not l:
                break
            if l.startswith(" " * 14):
                got[key] += " " + l.strip()
            else:
                key = l
                got[key] = ""
        return out, {k: v.strip() for k, v in got.items()}

    def test_table(self):
        out, sec = self.lock_section(self.logs["all"])
        _head, rows = table_rows(out.split("\n\n# lock waits")[0])
        upd = [r for r in rows if r["fingerprint"].startswith("update accounts")][0]
        self.assertEqual(list(sec), ["   %s %s 3 waits, 3.710 s in all, longest 2.310 s"
                                     % (upd["rank"], upd["digest"])])
        self.assertEqual(list(sec.values()), [
            "longest: 2.310 s for a row lock on `shop`.`accounts` (index PRIMARY), blocked by "
            "1742; blocker 1742 app@10.0.0.7: idle for 4.870 s in a transaction open for "
            "5.004 s; its last statement: " + self.LAST + "..."])
        _out, sec = self.lock_section(self.logs["mdl"])
        self.assertEqual(list(sec.values()), [
            "longest: 1.000 s for a metadata lock on `shop`.`accounts`, blocked by 1750 "
            "(inferred); blocker 1750 -@localhost: no open transaction seen"])
        _out, sec = self.lock_section(self.logs["table"])
        self.assertEqual(list(sec), ["   1 %s 1 wait, 0.400 s in all, longest 0.400 s"
                                     % report_json(self.logs["table"])[0]["digest"][:8]])
        self.assertEqual(list(sec.values()), ["longest: 0.400 s for a table lock, held by one "
                                              "of 1801,1802"])
        # a log without lock waits has no such section
        rc, out, err = report(self.logs["none"])
        self.assertEqual(rc, 0, err)
        self.assertIn("update accounts set balance", out)
        self.assertNotIn("lock wait", out)


class ReportMariadbLog(unittest.TestCase):
    """A slow log written by MariaDB: a PK lookup 7 times, a full scan 3 times, 2 updates."""

    @classmethod
    def setUpClass(cls):
        import pymysql
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        values = ",".join("(%d,'item%d')" % (i, i) for i in range(1, 201))
        cls.srv.sql("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20));"
                    "INSERT INTO items VALUES " + values + ";"
                    "CREATE TABLE tags (item_name VARCHAR(20), tag VARCHAR(20));"
                    "INSERT INTO tags SELECT name, CONCAT('t', id % 7) FROM items", db=DB)
        cls.dir = tempfile.mkdtemp(prefix="slowtap-report-srv-")
        os.chmod(cls.dir, 0o777)
        cls.log = os.path.join(cls.dir, "server-slow.log")
        names = ("slow_query_log", "slow_query_log_file", "long_query_time",
                 "log_slow_verbosity", "log_output")
        cls.saved = {}
        for n in names:
            rows = cls.srv.sql("SELECT @@GLOBAL.%s" % n)
            cls.saved[n] = rows[0][0] if rows else ""
        try:
            cls.srv.sql("SET GLOBAL slow_query_log_file = '%s'; SET GLOBAL long_query_time = 0;"
                        "SET GLOBAL log_slow_verbosity = 'query_plan,explain';"
                        "SET GLOBAL log_output = 'FILE'; SET GLOBAL slow_query_log = 1"
                        % cls.log)
            c = pymysql.connect(host=cls.srv.host, port=cls.srv.port, user="app",
                                password="apppass", database=DB, autocommit=True)
            cur = c.cursor()
            for i in range(7):
                cur.execute("SELECT name FROM items WHERE id = %d" % (i + 1))
                cur.fetchall()
            for i in range(3):
                cur.execute("SELECT COUNT(*) FROM items WHERE name LIKE '%%x%d%%'" % i)
                cur.fetchall()
            for i in range(2):
                cur.execute("UPDATE items SET name = 'n%d' WHERE id = %d" % (i, i + 1))
            # no index on either join column: the second table read is a full join
            for i in range(2):
                cur.execute("SELECT i.id, t.tag FROM items i JOIN tags t ON t.item_name = i.name "
                            "WHERE t.tag <> 'x%d'" % i)
                cur.fetchall()
            # grouping on an unindexed column, ordered by the count: temporary table + filesort
            cur.execute("SELECT tag, COUNT(*) FROM tags GROUP BY tag ORDER BY COUNT(*) DESC")
            cur.fetchall()
            # to disk: GROUP_CONCAT's temporary table (a blob), and a sort of ~6,000 rows in a
            # 16 KiB sort buffer (merge passes; MariaDB may still say Filesort_on_disk: No)
            cur.execute("SELECT tag, GROUP_CONCAT(item_name), COUNT(*) FROM tags GROUP BY tag "
                        "ORDER BY COUNT(*) DESC")
            cur.fetchall()
            cur.execute("SET SESSION sort_buffer_size = 16384")
            cur.execute("SELECT t1.item_name, t2.item_name FROM tags t1 JOIN tags t2 "
                        "WHERE t2.tag = 't1' ORDER BY CONCAT(t2.item_name, t1.item_name)")
            cur.fetchall()
            c.close()
        finally:
            cls.restore()

    @classmethod
    def restore(cls):
        s = cls.saved
        cls.srv.sql("SET GLOBAL slow_query_log = %s; SET GLOBAL long_query_time = %s;"
                    "SET GLOBAL log_slow_verbosity = '%s'; SET GLOBAL log_output = '%s'"
                    % (s["slow_query_log"], s["long_query_time"], s["log_slow_verbosity"],
                       s["log_output"]))
        if s["slow_query_log_file"] not in ("", "NULL"):
            cls.srv.sql("SET GLOBAL slow_query_log_file = '%s'" % s["slow_query_log_file"])

    @classmethod
    def tearDownClass(cls):
        cls.srv.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def test_server_log(self):
        with open(self.log) as f:
            text = f.read()
        self.assertIn("# Query_time:", text)
        self.assertIn("Full_scan: Yes", text)
        shapes = report_json("--top", "0", self.log)
        pk = by_fp(shapes, "from items where id =")
        scan = by_fp(shapes, "from items where name like")
        upd = by_fp(shapes, "update items set name =")
        self.assertEqual(pk["count"], 7)
        self.assertEqual(pk["full_scans"], 0)
        self.assertEqual(pk["rows_sent"], 7)
        self.assertEqual(scan["count"], 3)
        self.assertEqual(scan["full_scans"], 3)
        self.assertEqual(scan["rows_examined"], 600)
        self.assertEqual(upd["count"], 2)
        self.assertEqual(upd["full_scans"], 0)
        for s in (pk, scan, upd):
            self.assertGreater(s["total_s"], 0)
            self.assertLessEqual(s["p50_ms"], s["p99_ms"])
        self.assertIn("Full_join: Yes", text)
        join = by_fp(shapes, "join tags t on")
        self.assertEqual(join["count"], 2)
        self.assertEqual(join["full_joins"], 2)
        grp = by_fp(shapes, "select tag, count(*) from tags group by")
        self.assertEqual((grp["count"], grp["tmp_tables"], grp["filesorts"]), (1, 1, 1))
        self.assertEqual((pk["full_joins"], pk["tmp_tables"], pk["filesorts"]), (0, 0, 0))
        # what went to disk, from the server's Tmp_table_on_disk, Filesort_on_disk and
        # Merge_passes
        self.assertIn("Tmp_table_on_disk: Yes", text)
        gc = by_fp(shapes, "group_concat(item_name)")
        self.assertEqual((gc["tmp_on_disk"], gc["filesorts_on_disk"]), (1, 0), gc)
        self.assertGreaterEqual(gc["tmp_disk_tables"], 1, gc)
        srt = by_fp(shapes, "order by concat(t2.item_name")
        self.assertEqual((srt["tmp_on_disk"], srt["filesorts_on_disk"]), (0, 1), srt)
        self.assertGreaterEqual(srt["merge_passes"], 1, srt)
        for s in (pk, scan, upd, grp):
            self.assertEqual((s["tmp_on_disk"], s["filesorts_on_disk"], s["merge_passes"]),
                             (0, 0, 0), s)

        rc, out, err = report("--top", "0", self.log)
        self.assertEqual(rc, 0, err)
        head, rows = table_rows(out)
        r = [x for x in rows if x["fingerprint"].startswith("select count(*) from items")]
        self.assertEqual(len(r), 1, out)
        self.assertEqual(r[0]["count"], "3")
        # noise (advice_scan_weight): a scan of a table estimated under 1000 rows by a shape
        # that took under 1 s and under 5 % of the log's time is shown as (scan)
        all_s = sum(x["total_s"] for x in shapes)
        small = (scan["scan_rows"] is not None and scan["scan_rows"] < 1000 and
                 scan["total_s"] < 1 and not (scan["total_s"] >= 0.1 and
                                              scan["total_s"] * 100 >= all_s * 5))
        self.assertEqual(scan["scan_weight"], "small" if small else "notable", scan)
        self.assertIsNotNone(scan["scan_rows"], scan)  # the plan has the table's estimate
        self.assertIn("(scan)" if small else "scan", r[0]["flags"].split(","))
        self.assertEqual(pk["scan_weight"], "none", pk)
        self.assertEqual(r[0]["exam"], "600")  # a server log has rows examined: a column
        r = [x for x in rows if "join tags t on" in x["fingerprint"]]
        wj = by_fp(shapes, "join tags t on")["scan_weight"]
        self.assertEqual(r[0]["flags"], "(scan,join)" if wj == "small" else "scan,join", r)
        r = [x for x in rows if x["fingerprint"].startswith("select tag, count(*) from tags")]
        self.assertIn("tmp", r[0]["flags"].split(","), r)
        self.assertIn("sort", r[0]["flags"].split(","), r)
        # flags wider than the column leaves for the fingerprint wrap after a comma
        d = by_fp(shapes, "order by concat(t2.item_name")["digest"][:8]
        r = [x for x in rows if x["digest"] == d]
        self.assertEqual(set(r[0]["flags"].replace("(", "").replace(")", "").split(",")),
                         {"scan", "join", "tmp", "sort"}, out)
        # below the table: what went to disk, by rank
        disk = out.split("\n# to disk (rank digest: entries whose temporary tables or sorts the "
                         "server wrote to disk)\n", 1)[1].split("\n\n")[0].splitlines()
        rank = {x["digest"]: x["rank"] for x in rows}
        want = {by_fp(shapes, "group_concat(item_name)")["digest"][:8]:
                "temporary table on disk in 1 of 1 (%d table%s)"
                % (gc["tmp_disk_tables"], "" if gc["tmp_disk_tables"] == 1 else "s"),
                by_fp(shapes, "order by concat(t2.item_name")["digest"][:8]:
                "sort merged on disk in 1 of 1 (%d merge pass%s)"
                % (srt["merge_passes"], "" if srt["merge_passes"] == 1 else "es")}
        self.assertEqual(sorted(disk, key=lambda l: int(l.split()[0])),
                         sorted(("%4s %-8s %s" % (rank[d], d, t) for d, t in want.items()),
                                key=lambda l: int(l.split()[0])), out)
        assert_fits(self, out, shapes)

    def test_server_log_with_banner_repeated(self):
        # A FLUSH LOGS / restart repeats the banner mid-file: entries around it still count.
        with open(self.log) as f:
            text = f.read()
        banner = ("/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-log (Debian 12). started with:\n"
                  "Tcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n"
                  "Time\t\t    Id Command\tArgument\n")
        p = os.path.join(self.dir, "twice.log")
        with open(p, "w") as f:
            f.write(banner + text + banner + text)
        shapes = report_json("--top", "0", p)
        self.assertEqual(by_fp(shapes, "from items where id =")["count"], 14)
        self.assertEqual(by_fp(shapes, "from items where name like")["full_scans"], 6)


def tagged_entry(t, qt, stmt, attrs=None, user_host="app[app] @  [127.0.0.1]", schema="shop",
                 exam=None, use=True):
    """An entry as slowtap writes a tagged statement: the tags on one "# Name: value" line.
    exam None: slowtap did not learn rows examined (Rows_examined: 0, and the mark)."""
    lines = ["# Time: %s" % t, "# User@Host: %s" % user_host,
             "# Thread_id: 7  Schema: %s  QC_hit: No" % schema,
             "# Query_time: %.6f  Lock_time: 0.000000  Rows_sent: 1  Rows_examined: %d"
             % (qt, exam or 0),
             "# Rows_affected: 0  Bytes_sent: 10" + ("  Rows_examined_known: No"
                                                     if exam is None else ""),
             "# No_index_used: No  No_good_index_used: No", "# Digest: 0123456789abcdef"]
    if attrs:
        lines.append("# " + "  ".join("%s: %s" % kv for kv in attrs))
    if use and schema:
        lines.append("use %s;" % schema)
    lines += ["SET timestamp=1795556880;", stmt + ";"]
    return "\n".join(lines) + "\n"


class ReportGroupBy(unittest.TestCase):
    """--group-by: /roster has 2 shapes (3 entries, 0.6 s), /my_class 1 shape (1 entry, 1.0 s),
    2 entries have no route (0.05 s); users, hosts and schemas differ per entry."""

    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="slowtap-report-group-")
        text = (tagged_entry("2026-11-24T21:00:00Z", 0.1, "SELECT * FROM classes WHERE id = 1",
                             [("Route", "/roster/<int:class_id>"), ("Controller", "roster")])
                + tagged_entry("2026-11-24T21:00:01Z", 0.2, "SELECT * FROM students WHERE "
                               "class_id = 1", [("Route", "/roster/<int:class_id>"),
                                                ("Controller", "roster")])
                + tagged_entry("2026-11-24T21:00:02Z", 0.3, "SELECT * FROM students WHERE "
                               "class_id = 2", [("Route", "/roster/<int:class_id>"),
                                                ("Controller", "roster")],
                               user_host="web[web] @ apphost [10.0.0.9]")
                + tagged_entry("2026-11-24T21:00:03Z", 1.0, "SELECT * FROM students WHERE "
                               "student_id = 7", [("Route", "/my_class"),
                                                  ("Controller", "my%20class")],
                               schema="school")
                # no route; a tag named like an attribute (Tag_User); no schema at all
                + tagged_entry("2026-11-24T21:00:04Z", 0.02, "SELECT 1",
                               [("Tag_User", "bob")], schema="")
                + tagged_entry("2026-11-24T21:00:05Z", 0.03, "SELECT NOW()",
                               user_host="root[root] @ localhost []  Id: 5", schema=""))
        cls.log = os.path.join(cls.dir, "slow.log")
        with open(cls.log, "w") as f:
            f.write(text)
        # the JSON-lines log of one more /my_class statement and one without tags
        jl = [{"ts": 1795556880.0, "user": "app", "host": "127.0.0.1", "schema": "school",
               "statement": "SELECT * FROM students WHERE student_id = 9", "query_time": 0.5,
               "rows_examined": None, "tags": {"route": "/my_class", "controller": "my class"}},
              {"ts": 1795556881.0, "user": "app", "host": "127.0.0.1", "schema": "",
               "statement": "SELECT 3", "query_time": 0.01, "rows_examined": None,
               "tags": None}]
        cls.jlog = os.path.join(cls.dir, "slow.jsonl")
        with open(cls.jlog, "w") as f:
            f.write("\n".join(json.dumps(o) for o in jl) + "\n")

    def groups(self, attr, *files):
        g = report_json("--group-by", attr, "--top", "0", *(files or (self.log,)))
        for x in g:
            self.assertEqual(x["group_by"], attr)
        return {x["value"]: x for x in g}

    def test_route(self):
        g = self.groups("route")
        self.assertEqual(set(g), {"/roster/<int:class_id>", "/my_class", None})
        ro = g["/roster/<int:class_id>"]
        self.assertEqual((ro["count"], ro["shapes"], ro["rank"]), (3, 2, 2))
        self.assertAlmostEqual(ro["total_s"], 0.6, places=6)
        self.assertEqual([(s["count"], s["fingerprint"]) for s in ro["top_shapes"]],
                         [(2, "select * from students where class_id = ?"),
                          (1, "select * from classes where id = ?")])
        self.assertAlmostEqual(ro["top_shapes"][0]["total_s"], 0.5, places=6)
        self.assertEqual((g["/my_class"]["count"], g["/my_class"]["rank"]), (1, 1))
        self.assertEqual((g[None]["count"], g[None]["shapes"]), (2, 2))
        # the same with pt-query-digest's capitalisation, and across a text and a JSON log
        self.assertEqual(set(self.groups("Route")), set(g))
        both = self.groups("route", self.log, self.jlog)
        self.assertEqual(both["/my_class"]["count"], 2)
        self.assertEqual(both["/my_class"]["shapes"], 1)
        self.assertEqual(both[None]["count"], 3)

    def test_other_attributes(self):
        c = self.groups("controller", self.log, self.jlog)
        self.assertEqual({k: v["count"] for k, v in c.items()},
                         {"roster": 3, "my class": 2, None: 3})  # %20 is a space
        u = self.groups("user")
        self.assertEqual({k: v["count"] for k, v in u.items()},
                         {"app": 4, "web": 1, "root": 1})
        h = self.groups("host")
        self.assertEqual({k: v["count"] for k, v in h.items()},
                         {"127.0.0.1": 4, "apphost": 1, "localhost": 1})
        d = self.groups("db")
        self.assertEqual({k: v["count"] for k, v in d.items()},
                         {"shop": 3, "school": 1, None: 2})
        self.assertEqual(self.groups("schema").keys(), d.keys())
        t = self.groups("Tag_User")
        self.assertEqual({k: v["count"] for k, v in t.items()}, {"bob": 1, None: 5})
        th = self.groups("thread_id")  # any attribute of a header line
        self.assertEqual({k: v["count"] for k, v in th.items()}, {"7": 6})

    def test_table(self):
        rc, out, err = report("--group-by", "route", self.log)
        self.assertEqual(rc, 0, err)
        assert_fits(self, out)
        lines = [l for l in out.splitlines() if not l.startswith("#")]
        self.assertEqual(lines[0].split(), ["rank", "shapes", "count", "total_s", "avg_ms",
                                            "p95_ms", "rows", "flags", "route"])
        rows = [l.split() for l in lines[1:4]]
        self.assertEqual([(r[0], r[1], r[2], r[3], r[-1]) for r in rows],
                         [("1", "1", "1", "1.000", "/my_class"),
                          ("2", "2", "3", "0.600", "/roster/<int:class_id>"),
                          ("3", "2", "2", "0.050", "(none)")])
        self.assertIn("6 entries, 5 shapes, 1.650 s total; 3 groups by route", out)
        sec = out.split("# costliest shapes per route (rank: digest, count, total_s, "
                        "fingerprint)\n", 1)[1].splitlines()
        self.assertEqual(sec[2], "   2 /roster/<int:class_id>")
        self.assertEqual(sec[3].split()[1:], ["2", "0.500", "select", "*", "from", "students",
                                              "where", "class_id", "=", "?"])
        self.assertEqual(sec[4].split()[1:3], ["1", "0.100"])
        # --top counts groups
        self.assertEqual(len(report_json("--group-by", "route", "--top", "1", self.log)), 1)
        # pt-query-digest's default group, fingerprint: the shapes
        self.assertEqual(report_json("--group-by", "fingerprint", self.log),
                         report_json(self.log))
        rc, out, err = report("--group-by", "a b", self.log)
        self.assertEqual((rc, out), (2, ""))
        self.assertIn("--group-by", err)
        self.assertEqual(len(err.splitlines()), 1, err)


class ReportNotASlowLog(unittest.TestCase):
    def test_not_a_slow_log(self):
        d = tempfile.mkdtemp(prefix="slowtap-report-notlog-")
        good = os.path.join(d, "good.log")
        with open(good, "w") as f:
            f.write(tagged_entry("2026-11-24T21:00:00Z", 0.1, "SELECT 1"))
        bad = {"passwd": "root:x:0:0:root:/root:/bin/bash\nbin:x:1:1::/:/usr/sbin/nologin\n",
               "markdown.md": "# A title\n\nSome text; more text.\n# Another: heading\n",
               "doc.json": '{\n  "a": [1, 2],\n  "b": "c"\n}\n' * 3,
               "objects.jsonl": '{"a": 1}\n{"b": 2}\n'}
        for name, text in bad.items():
            p = os.path.join(d, name)
            with open(p, "w") as f:
                f.write(text)
            for args in ([p], [good, p], ["--format", "json", p]):
                rc, out, err = report(*args)
                self.assertEqual(rc, 2, (name, out, err))
                self.assertEqual(out, "", name)
                self.assertEqual(len(err.splitlines()), 1, (name, err))
                self.assertTrue(err.startswith("slowtap report: %s: not a slow log" % p), err)
        # an empty log, a blank one and a server log with only its banner: 0 entries, exit 0
        banner = ("/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-log (Debian 12). started "
                  "with:\nTcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\n"
                  "Time\t\t    Id Command\tArgument\n")
        for name, text in (("empty.log", ""), ("blank.log", "\n\n"), ("banner.log", banner)):
            p = os.path.join(d, name)
            with open(p, "w") as f:
                f.write(text)
            rc, out, err = report(p)
            self.assertEqual((rc, err), (0, ""), name)
            self.assertTrue(out.startswith("# 0 entries, 0 shapes"), out)
            self.assertEqual(report_json(p), [])
        # a JSON-lines log whose first line is cut (a rotation mid-line): a log, one warning
        p = os.path.join(d, "cut.jsonl")
        with open(p, "w") as f:
            f.write('tement": "SELECT 1"}\n' + json.dumps({"ts": 1.0, "statement": "SELECT 2",
                                                         "query_time": 0.5}) + "\n")
        rc, out, err = report(p)
        self.assertEqual(rc, 0, err)
        self.assertEqual(len(err.splitlines()), 1, err)
        self.assertTrue(err.startswith("slowtap report: %s: 1 line skipped before the first "
                                       "entry (line 1: " % p), err)
        self.assertIn("# 1 entries, 1 shapes", out)
        # a log whose entries all come before --since is a slow log
        rc, out, err = report("--since", "1m", good)
        self.assertEqual((rc, err), (0, ""))


class ReportPlansAndRowsExamined(unittest.TestCase):
    """Each shape's last plan and its advice below the table and in JSON; rows examined that
    slowtap could not learn (Rows_examined_known: No, JSON null) are unknown, never 0."""

    ADVICE = "ALTER TABLE `shop`.`orders` ADD INDEX `ix_orders_note` (`note`)"

    def test_plan_and_advice_per_shape(self):
        d = tempfile.mkdtemp(prefix="slowtap-report-plan-")
        old = text_entry("2026-11-24T21:00:00Z", 0.5, 1, 0, "SELECT * FROM orders WHERE note "
                         "= 'a'", explain_type="ALL", extra="Using where")
        new = text_entry("2026-11-24T21:00:01Z", 0.5, 1, 0, "SELECT * FROM orders WHERE note "
                         "= 'b'", explain_type="ref", extra="Using index condition")
        adv = old.replace("use shop;", "# Index_advice: %s\nuse shop;" % self.ADVICE)
        p = os.path.join(d, "plans.log")
        with open(p, "w") as f:
            f.write(adv + new + text_entry("2026-11-24T21:00:02Z", 0.1, 1, 0, "SELECT 1"))
        (s, one) = report_json(p)
        self.assertEqual(s["index_advice"], self.ADVICE)
        self.assertIsNone(one["plan"])
        # the last plan read: ref on orders, then users
        self.assertEqual([(r["table"], r["type"], r["rows"], r["Extra"]) for r in s["plan"]],
                         [("orders", "ref", "1000", "Using index condition"),
                          ("users", "ALL", "10", "")])
        self.assertEqual(s["plan"][0]["possible_keys"], "NULL")
        rc, out, err = report(p)
        self.assertEqual(rc, 0, err)
        assert_fits(self, out)
        plans = out.split("\n# plans (rank digest: the shape's last EXPLAIN, a line per table: "
                          "type, key, rows, Extra)\n", 1)[1].split("\n\n")[0].splitlines()
        self.assertEqual(plans, ["   1 %s orders: ref, key none, 1000 rows, Using index "
                                 "condition" % s["digest"][:8],
                                 " " * 14 + "users: ALL, key none, 10 rows"])
        self.assertIn("\n   1 %s %s\n" % (s["digest"][:8], self.ADVICE), out)
        # from a JSON log's plan
        row = {"id": "1", "select_type": "SIMPLE", "table": "students", "type": "ALL",
               "possible_keys": None, "key": None, "rows": "10000", "Extra": "Using where"}
        pj = os.path.join(d, "plans.jsonl")
        with open(pj, "w") as f:
            f.write(json.dumps({"ts": 1795556880.0, "statement": "SELECT * FROM students "
                                "WHERE student_id = 3", "query_time": 0.004, "plan": [row],
                                "index_advice": "ALTER TABLE x"}) + "\n")
        (j,) = report_json(pj)
        self.assertEqual((j["plan"][0]["table"], j["plan"][0]["type"], j["plan"][0]["key"],
                          j["index_advice"]), ("students", "ALL", "NULL", "ALTER TABLE x"))
        rc, out, err = report(pj)
        self.assertIn(" students: ALL, key none, 10000 rows, Using where\n", out)

    def test_rows_examined_unknown(self):
        d = tempfile.mkdtemp(prefix="slowtap-report-exam-")
        text = (tagged_entry("2026-11-24T21:00:00Z", 0.5, "SELECT * FROM a WHERE x = 1")
                + tagged_entry("2026-11-24T21:00:01Z", 0.4, "SELECT * FROM a WHERE x = 2")
                # performance_schema told slowtap for one of b's two entries
                + tagged_entry("2026-11-24T21:00:02Z", 0.3, "SELECT * FROM b WHERE y = 1",
                               exam=5000)
                + tagged_entry("2026-11-24T21:00:03Z", 0.2, "SELECT * FROM b WHERE y = 2")
                + tagged_entry("2026-11-24T21:00:04Z", 0.1, "SELECT * FROM c", exam=0))
        p = os.path.join(d, "exam.log")
        with open(p, "w") as f:
            f.write(text)
        a, b, c = report_json(p)
        self.assertEqual((a["rows_examined"], a["rows_examined_known"]), (None, 0))
        self.assertEqual((b["rows_examined"], b["rows_examined_known"]), (5000, 1))
        self.assertEqual((c["rows_examined"], c["rows_examined_known"]), (0, 1))
        rc, out, err = report(p)
        self.assertEqual(rc, 0, err)
        head, rows = table_rows(out)
        self.assertIn("exam", head)
        self.assertEqual([r["exam"] for r in rows], ["?", "5000+?", "0"])
        self.assertIn("# exam: rows examined; ? = unknown: the client protocol does not carry "
                      "them", out)
        assert_fits(self, out)
        # none known at all: no column, one line says so
        p2 = os.path.join(d, "none.log")
        with open(p2, "w") as f:
            f.write(text.split("# Time: 2026-11-24T21:00:02Z")[0])
        rc, out, err = report(p2)
        head, rows = table_rows(out)
        self.assertNotIn("exam", head)
        self.assertIn("# rows examined: unknown for 2 of 2 entries (the client protocol does "
                      "not carry them)", out)
        # the JSON log's null
        pj = os.path.join(d, "exam.jsonl")
        with open(pj, "w") as f:
            f.write(json.dumps({"ts": 1.0, "statement": "SELECT 1", "query_time": 0.1,
                                "rows_examined": None}) + "\n")
        self.assertEqual(report_json(pj)[0]["rows_examined"], None)


class ReportSlowtapLog(unittest.TestCase):
    """A log slowtap wrote itself, of sqlcommenter-tagged statements: --group-by route and
    controller read its tag lines, and its rows examined (no performance_schema here) are
    unknown, not 0, in the report, the API and the dashboard (headless Chromium)."""

    def test_group_by_route_on_slowtaps_log(self):
        import pymysql
        import urllib.request
        import test_dashboard
        srv = harness.mariadb()
        srv.fresh_db(DB)
        http_port = harness.free_port()
        base = "http://127.0.0.1:%d" % http_port
        with harness.Slowtap(["--http", "127.0.0.1:%d" % http_port]) as px:
            c = pymysql.connect(host="127.0.0.1", port=px.port, user="app", password="apppass",
                                database=DB, autocommit=True)
            cur = c.cursor()
            for i in range(3):
                cur.execute("SELECT %d /*controller='roster',route='%%2Froster%%2F%d'*/"
                            % (i, i % 2))
            cur.execute("SELECT 42")
            c.close()
            deadline = time.monotonic() + 10
            while px.log_text().count("SELECT 42") < 1 and time.monotonic() < deadline:
                time.sleep(0.05)
            text = px.log_text()
            # the API and the dashboard: no rows examined the server did not measure, and the
            # shape's details say they are unknown (and why), not 0
            d = None
            while d is None and time.monotonic() < deadline + 5:
                with urllib.request.urlopen(base + "/api/digests", timeout=10) as r:
                    d = next((x for x in json.loads(r.read())
                              if x["fingerprint"] == "select ?"), None)
                time.sleep(0.2)
            self.assertIsNotNone(d)
            self.assertIsNone(d["server"], d)
            self.assertNotIn("rows_examined", d)
            out = test_dashboard.run_chromium(["--virtual-time-budget=5000", "--dump-dom",
                                               base + "/#digest=" + d["digest"]])
            self.assertEqual(out.returncode, 0, out.stderr[-2000:])
            self.assertTrue("rows examined: unknown (the client protocol does not carry them;"
                            in out.stdout, "no 'rows examined: unknown' in the shape's details")
            self.assertNotRegex(out.stdout, r"rows examined 0\b")
            by_route = report_json("--group-by", "route", px.log_path)
            by_ctl = report_json("--group-by", "controller", px.log_path)
            shapes = report_json(px.log_path)
        self.assertIn("Rows_examined_known: No", text)
        g = {x["value"]: x for x in by_route}
        self.assertEqual((g["/roster/0"]["count"], g["/roster/1"]["count"]), (2, 1), text)
        self.assertTrue(g["/roster/0"]["top_shapes"][0]["fingerprint"].startswith("select ?"),
                        g)
        self.assertGreaterEqual(g[None]["count"], 1)
        self.assertEqual({x["value"]: x["count"] for x in by_ctl}["roster"], 3)
        for s in shapes:
            self.assertIsNone(s["rows_examined"], s)


if __name__ == "__main__":
    unittest.main()
