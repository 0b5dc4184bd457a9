"""test_explain_tmptab.py - auto-EXPLAIN and the client's temporary tables. A temporary table
exists only in the connection that created it: EXPLAIN on slowtap's own connection would see no
such table ("doesn't exist"), or worse, the permanent table of the same name that it hides, and
log that table's plan for a statement that ran on another. A statement that names one of its
session's temporary tables gets `Explain_error: not explained: ...` instead; a live plan (SHOW
EXPLAIN FOR the session's own thread) is still taken; DROP TABLE and COM_RESET_CONNECTION end
the exception; the plan cache never serves a temporary table's statement the permanent table's
plan; a table a stored procedure created gets an error that says what it may be. Text and JSON
logs."""

import json
import os
import sys
import time
import unittest

import pymysql

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import mywire  # noqa: E402

DB = "st_tmptab_%d" % os.getpid()
EXPLAIN_ARGS = ["--explain-user", "explain", "--explain-password", "explainpass"]
NOT_EXPLAINED = ("not explained: `%s` is a temporary table of this session, which the EXPLAIN "
                 "connection cannot see")


def connect(port):
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=DB, autocommit=True, connect_timeout=10, read_timeout=30)


def run(conn, sql):
    with conn.cursor() as c:
        c.execute(sql)
        return c.fetchall()


def entries(px, fmt):
    """(statement, explain_error, plan rows or None, explain source) of each logged entry."""
    out = []
    if fmt == "json":
        for line in px.log_text().splitlines():
            e = json.loads(line)
            out.append((e.get("statement") or "", e.get("explain_error"),
                        [json.dumps(r) for r in e["plan"]] if e.get("plan") else None,
                        e.get("explain_source")))
        return out
    for e in harness.parse_slowlog(px.log_text()):
        out.append((e["statement"], e["explain_error"], e["explain"][1:] or None,
                    e["explain_source"]))
    return out


def wait_for(px, fmt, pred, n, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        got = [e for e in entries(px, fmt) if pred(e[0])]
        if len(got) >= n or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


class TmpTables(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.srv.sql("CREATE TABLE orders (id INT PRIMARY KEY, cust INT, KEY (cust));"
                    "INSERT INTO orders SELECT seq, seq % 50 FROM seq_1_to_500", db=DB)

    @classmethod
    def tearDownClass(cls):
        cls.srv.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def check_shadowing(self, fmt):
        # --explain-interval: the second statement of the shape would get the cached plan
        with harness.Slowtap(args=EXPLAIN_ARGS + ["--log-format", fmt,
                                                  "--explain-interval", "600"]) as px:
            conn = connect(px.port)
            other = connect(px.port)
            try:
                run(conn, "SELECT id FROM orders WHERE cust = 7")
                run(conn, "CREATE TEMPORARY TABLE orders (id INT, cust INT)")
                run(conn, "INSERT INTO orders VALUES (1, 7), (2, 8)")
                self.assertEqual(run(conn, "SELECT id FROM orders WHERE cust = 8"), ((2,),))
                run(conn, "CREATE TEMPORARY TABLE IF NOT EXISTS `scratch``pad` (v INT)")
                run(conn, "SELECT v FROM `scratch``pad` WHERE v > 0")
                # another session has no temporary table: its statement of the shape is the
                # permanent table's, and explained
                self.assertEqual(len(run(other, "SELECT id FROM orders WHERE cust = 9")), 10)
                run(conn, "DROP TEMPORARY TABLE orders")
                self.assertEqual(len(run(conn, "SELECT id FROM orders WHERE cust = 10")), 10)
            finally:
                conn.close()
                other.close()
            got = wait_for(px, fmt, lambda s: s.startswith("SELECT "), 5)
        by = {e[0]: e for e in got}
        self.assertEqual(len(by), 5, got)
        for cust in (7, 9, 10):
            stmt, err, plan, _src = by["SELECT id FROM orders WHERE cust = %d" % cust]
            self.assertIsNone(err, stmt)
            self.assertTrue(plan, stmt)
        hidden = by["SELECT id FROM orders WHERE cust = 8"]
        self.assertEqual(hidden[1], NOT_EXPLAINED % "orders", hidden)
        self.assertIsNone(hidden[2], hidden)
        pad = by["SELECT v FROM `scratch``pad` WHERE v > 0"]
        self.assertEqual(pad[1], NOT_EXPLAINED % "scratch`pad", pad)
        self.assertIsNone(pad[2], pad)

    def test_shadowing_temporary_table_text(self):
        self.check_shadowing("text")

    def test_shadowing_temporary_table_json(self):
        self.check_shadowing("json")

    def test_temporary_table_of_a_stored_procedure(self):
        # created where slowtap does not see it: EXPLAIN fails, and the error says why
        self.srv.sql("CREATE OR REPLACE PROCEDURE make_tmp() "
                     "CREATE TEMPORARY TABLE proc_tmp (v INT)", db=DB)
        with harness.Slowtap(args=EXPLAIN_ARGS) as px:
            conn = connect(px.port)
            try:
                run(conn, "CALL make_tmp()")
                self.assertEqual(run(conn, "SELECT v FROM proc_tmp WHERE v > 1"), ())
            finally:
                conn.close()
            got = wait_for(px, "text", lambda s: "proc_tmp" in s, 1)
        self.assertEqual(len(got), 1, got)
        self.assertEqual(got[0][1], "Table '%s.proc_tmp' doesn't exist (if the statement found "
                         "it, it is a temporary table of its session, which the EXPLAIN "
                         "connection cannot see)" % DB, got[0])

    def test_reset_connection_drops_them(self):
        with harness.Slowtap(args=EXPLAIN_ARGS) as px:
            c = mywire.RawClient(px.port, db=DB)
            try:
                c.login()
                for q in ("CREATE TEMPORARY TABLE orders (id INT, cust INT)",
                          "SELECT id FROM orders WHERE cust = 11"):
                    self.assertEqual(c.query(q)[-1][:1], b"\x00" if q.startswith("C") else b"\xfe")
                c.send_packet(b"\x1f", 0)  # COM_RESET_CONNECTION
                self.assertEqual(c.read_packet()[1][:1], b"\x00")
                self.assertEqual(c.query("SELECT id FROM orders WHERE cust = 12")[-1][:1],
                                 b"\xfe")
            finally:
                c.close()
            got = wait_for(px, "text", lambda s: "FROM orders WHERE cust" in s, 2)
        by = {e[0]: e for e in got}
        self.assertEqual(by["SELECT id FROM orders WHERE cust = 11"][1], NOT_EXPLAINED % "orders")
        after = by["SELECT id FROM orders WHERE cust = 12"]
        self.assertIsNone(after[1], after)
        self.assertTrue(after[2], after)

    def test_live_plan_of_a_temporary_table_is_kept(self):
        args = EXPLAIN_ARGS + ["--explain-threshold", "0.5"]
        with harness.Slowtap(args=args) as px:
            conn = connect(px.port)
            try:
                run(conn, "CREATE TEMPORARY TABLE live_tmp (id INT, cust INT)")
                run(conn, "INSERT INTO live_tmp VALUES (1, 3), (2, 4)")
                rows = run(conn, "SELECT SLEEP(2) FROM live_tmp WHERE cust = 3 LIMIT 1")
                self.assertEqual(rows, ((0,),))
            finally:
                conn.close()
            got = wait_for(px, "text", lambda s: "SLEEP(2)" in s, 1)
        self.assertEqual(len(got), 1, got)
        stmt, err, plan, src = got[0]
        self.assertIsNone(err, got[0])
        self.assertEqual(src, "live", got[0])
        self.assertTrue(any("live_tmp" in row for row in plan), plan)


if __name__ == "__main__":
    unittest.main()
