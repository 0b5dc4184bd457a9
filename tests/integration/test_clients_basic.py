"""test_clients_basic.py - real clients through the proxy (issue 2): the mariadb CLI (queries,
multi-statements, LOAD DATA LOCAL INFILE), PyMySQL and mysqlclient give the same results as
directly against MariaDB, and every statement is logged with its text, schema, user,
duration, row counts, thread id and error; the long-query-time threshold; pipelining."""

import os
import struct
import tempfile
import unittest

import MySQLdb
import pymysql

import harness

DB = "st_clients_%d" % os.getpid()
DB2 = DB + "_b"


def connect_pymysql(port, db=DB, **kw):
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=db, autocommit=True, **kw)


def find(entries, text):
    """Entries whose statement contains `text` (case-insensitive)."""
    return [e for e in entries if text.lower() in e["statement"].lower()]


class ClientsBasic(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        for d in (DB, DB2):
            cls.srv.fresh_db(d)
        cls.srv.sql("CREATE TABLE people (id INT PRIMARY KEY, name VARCHAR(40), score DOUBLE,"
                    " born DATE, note TEXT);"
                    "INSERT INTO people VALUES (1,'ann',1.5,'2001-02-03',NULL),"
                    "(2,'bob',2.25,'1999-12-31','x\\ty'),(3,'cid',-3,NULL,'');"
                    "CREATE TABLE loaded (id INT PRIMARY KEY, v VARCHAR(20));"
                    "CREATE TABLE marker (id INT)", db=DB)
        cls.srv.sql("CREATE TABLE other (id INT); INSERT INTO other VALUES (7)", db=DB2)

    def check_common(self, e, schema=DB):
        self.assertEqual(e["user"], "app", e["raw"])
        self.assertEqual(e["schema"], schema, e["raw"])
        self.assertIsNotNone(e["query_time"], e["raw"])
        self.assertGreater(e["query_time"], 0, e["raw"])

    def test_cli_queries_and_thread_id(self):
        with harness.Slowtap() as px:
            q = "SELECT id, name, score, born, note FROM people ORDER BY id"
            via = harness.client_cli(px.port, q + "; SELECT CONNECTION_ID()", db=DB)
            direct = harness.client_cli(self.srv.port, q, db=DB)
            self.assertEqual(via.returncode, 0, via.stderr)
            lines = via.stdout.rstrip("\n").split("\n")
            self.assertEqual("\n".join(lines[:-1]) + "\n", direct.stdout)
            conn_id = int(lines[-1])
            entries = px.entries()
            sel = find(entries, "FROM people ORDER BY id")
            self.assertEqual(len(sel), 1, px.log_text())
            e = sel[0]
            self.check_common(e)
            self.assertEqual(e["statement"], q)
            self.assertEqual(e["rows_sent"], 3)
            self.assertEqual(e["thread_id"], conn_id)
            self.assertEqual(e["host"], "127.0.0.1")

    def test_cli_multi_statement_batch(self):
        with harness.Slowtap() as px:
            r = harness.client_cli(px.port, "SELECT 1; SELECT 2", db=DB, extra=["--batch"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(r.stdout, "1\n2\n")
            entries = px.entries()
            text = " | ".join(e["statement"] for e in entries)
            self.assertTrue(find(entries, "SELECT 1"), text)
            self.assertTrue(find(entries, "SELECT 2"), text)

    def test_multi_statement_one_packet(self):
        with harness.Slowtap() as px:
            c = connect_pymysql(px.port, client_flag=pymysql.constants.CLIENT.MULTI_STATEMENTS)
            cur = c.cursor()
            cur.execute("SELECT 11 AS a; SELECT 22 AS b, 33 AS c")
            first = cur.fetchall()
            self.assertTrue(cur.nextset())
            second = cur.fetchall()
            self.assertIsNone(cur.nextset())
            self.assertEqual(first, ((11,),))
            self.assertEqual(second, ((22, 33),))
            cur.execute("SELECT 44")  # the connection is usable after the chain
            self.assertEqual(cur.fetchall(), ((44,),))
            c.close()
            entries = px.entries()
            self.assertTrue(find(entries, "SELECT 11 AS a"), px.log_text())
            self.assertTrue(find(entries, "SELECT 44"), px.log_text())

    def test_load_data_local_infile(self):
        with harness.Slowtap() as px, tempfile.NamedTemporaryFile("w", suffix=".csv") as f:
            for i in range(1, 501):
                f.write("%d,value%d\n" % (i, i))
            f.flush()
            stmt = ("LOAD DATA LOCAL INFILE '%s' INTO TABLE loaded FIELDS TERMINATED BY ','"
                    % f.name)
            r = harness.client_cli(px.port, "DELETE FROM loaded; " + stmt, db=DB,
                                   extra=["--local-infile=1"])
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertEqual(self.srv.sql("SELECT COUNT(*), MAX(v) FROM loaded", db=DB),
                             [["500", "value99"]])
            # the connection still works after the file transfer
            r = harness.client_cli(px.port, "SELECT COUNT(*) FROM loaded", db=DB)
            self.assertEqual(r.stdout, "500\n")
            e = find(px.entries(), "LOAD DATA LOCAL INFILE")
            self.assertEqual(len(e), 1, px.log_text())
            self.check_common(e[0])
            self.assertEqual(e[0]["rows_affected"], 500, e[0]["raw"])
            self.assertIsNone(e[0]["error"])

    def run_script(self, conn):
        """The same statements over any DB-API connection; returns everything observable."""
        out = []
        cur = conn.cursor()
        cur.execute("SELECT id, name, score, born, note FROM people ORDER BY id")
        out.append([d[0] for d in cur.description])
        out.append(list(cur.fetchall()))
        cur.execute("SELECT name FROM people WHERE id = %s", (2,))
        out.append(list(cur.fetchall()))
        cur.execute("INSERT INTO marker VALUES (1), (2), (3)")
        out.append(cur.rowcount)
        cur.execute("UPDATE marker SET id = id + 10 WHERE id >= 2")
        out.append(cur.rowcount)
        cur.execute("DELETE FROM marker")
        out.append(cur.rowcount)
        cur.execute("SELECT CONNECTION_ID()")
        conn_id = cur.fetchone()[0]
        cur.close()
        return out, conn_id

    def check_script_log(self, entries, conn_id):
        sel = find(entries, "FROM people ORDER BY id")
        self.assertEqual(len(sel), 1)
        self.assertEqual(sel[0]["rows_sent"], 3)
        by_id = find(entries, "WHERE id = 2")
        self.assertEqual(len(by_id), 1)
        self.assertEqual(by_id[0]["rows_sent"], 1)
        for text, n in (("INSERT INTO marker", 3), ("UPDATE marker", 2), ("DELETE FROM marker", 3)):
            es = find(entries, text)
            self.assertEqual(len(es), 1, text)
            self.assertEqual(es[0]["rows_affected"], n, es[0]["raw"])
        for e in sel + by_id:
            self.check_common(e)
            self.assertEqual(e["thread_id"], conn_id, e["raw"])

    def test_pymysql_same_results(self):
        direct = connect_pymysql(self.srv.port)
        expected, _ = self.run_script(direct)
        direct.close()
        with harness.Slowtap() as px:
            c = connect_pymysql(px.port)
            got, conn_id = self.run_script(c)
            c.close()
            self.assertEqual(got, expected)
            self.check_script_log(px.entries(), conn_id)

    def test_mysqldb_same_results(self):
        def conn(port):
            c = MySQLdb.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                                database=DB)
            c.autocommit(True)
            return c

        direct = conn(self.srv.port)
        expected, _ = self.run_script(direct)
        direct.close()
        with harness.Slowtap() as px:
            c = conn(px.port)
            got, conn_id = self.run_script(c)
            c.close()
            self.assertEqual(got, expected)
            self.check_script_log(px.entries(), conn_id)

    def test_use_and_init_db_change_schema(self):
        with harness.Slowtap() as px:
            c = connect_pymysql(px.port, db=None)
            cur = c.cursor()
            cur.execute("SELECT 'noschema'")
            cur.execute("USE `%s`" % DB)
            cur.execute("SELECT COUNT(*) FROM people")
            self.assertEqual(cur.fetchone()[0], 3)
            c.select_db(DB2)  # COM_INIT_DB
            cur.execute("SELECT id FROM other")
            self.assertEqual(cur.fetchone()[0], 7)
            c.close()
            entries = px.entries()
            self.assertIn(find(entries, "SELECT 'noschema'")[0]["schema"], (None, ""))
            self.assertEqual(find(entries, "COUNT(*) FROM people")[0]["schema"], DB)
            self.assertEqual(find(entries, "SELECT id FROM other")[0]["schema"], DB2)

    def test_long_query_time_threshold(self):
        with harness.Slowtap(long_query_time="0.2") as px:
            c = connect_pymysql(px.port)
            cur = c.cursor()
            cur.execute("SELECT SLEEP(0.3)")
            cur.execute("SELECT 1")
            c.close()
            entries = px.entries()
            slow = find(entries, "SLEEP(0.3)")
            self.assertEqual(len(slow), 1, px.log_text())
            self.assertGreaterEqual(slow[0]["query_time"], 0.29)
            self.assertEqual([e for e in entries if e["statement"] == "SELECT 1"], [])

    def test_pipelined_commands_logged_in_order(self):
        with harness.Slowtap() as px:
            c = connect_pymysql(px.port)
            stmts = ["SELECT %d AS pipelined_%d" % (i, i) for i in range(8)]
            data = b""
            for s in stmts:
                payload = b"\x03" + s.encode()
                data += struct.pack("<I", len(payload))[:3] + b"\x00" + payload
            c._write_bytes(data)  # all commands in one write, before any response
            results = []
            for _ in stmts:
                c._next_seq_id = 1
                c._read_query_result()
                results.append(c._result.rows)
            self.assertEqual(results, [((i,),) for i in range(8)])
            cur = c.cursor()
            cur.execute("SELECT 'after'")
            self.assertEqual(cur.fetchone()[0], "after")
            c.close()
            logged = [e["statement"] for e in px.entries() if "pipelined_" in e["statement"]]
            self.assertEqual(logged, stmts)

    def test_error_statement_logged(self):
        with harness.Slowtap() as px:
            c = connect_pymysql(px.port)
            cur = c.cursor()
            with self.assertRaises(pymysql.err.ProgrammingError) as cm:
                cur.execute("SELECT * FROM no_such_table_xyz")
            self.assertEqual(cm.exception.args[0], 1146)
            cur.execute("SELECT 'still fine'")
            self.assertEqual(cur.fetchone()[0], "still fine")
            c.close()
            es = find(px.entries(), "no_such_table_xyz")
            self.assertEqual(len(es), 1, px.log_text())
            self.assertIsNotNone(es[0]["error"], es[0]["raw"])
            self.assertIn("1146", es[0]["error"])
            self.assertIn("no_such_table_xyz", es[0]["error"])


if __name__ == "__main__":
    unittest.main()
