#!/usr/bin/python3
"""test_shape_names.py - readable shapes through a real MariaDB and slowtap: two ORM-style
statements whose fingerprints share their first 100 bytes get distinct short names in
/api/digests, and an N+1 loop sent as SQLAlchemy sends it (one parent query, then 30 child
lookups by id, tagged route '/roster' and framework 'sqlalchemy') gives a finding whose API
data carries its route and a selectinload fix."""

import json
import time
import unittest
import urllib.request

import harness

import pymysql

COLS = ", ".join("students.%s AS students_%s" % (c, c)
                 for c in ("id", "student_id", "name", "email", "year"))
TAG = " /*framework='sqlalchemy%%3A2.0',route='%%2Froster'*/"


class ShapeNamesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = harness.mariadb()
        cls.server.fresh_db("st_names")
        cls.server.sql("CREATE TABLE students (id INT PRIMARY KEY, student_id VARCHAR(16), "
                       "name VARCHAR(32), email VARCHAR(64), year INT)", db="st_names")
        cls.server.sql("INSERT INTO students SELECT seq, CONCAT('S', seq), CONCAT('n', seq), "
                       "CONCAT('e', seq), 2020 FROM seq_1_to_100", db="st_names")

    def get(self, base, path):
        with urllib.request.urlopen(base + path, timeout=10) as r:
            return json.loads(r.read())

    def test_names_and_n_plus_one_fix(self):
        http_port = harness.free_port()
        base = "http://127.0.0.1:%d" % http_port
        with harness.Slowtap(["--http", "127.0.0.1:%d" % http_port], server=self.server,
                             long_query_time="10") as px:
            harness.wait_port(http_port, 10, proc=px.proc)
            conn = pymysql.connect(host="127.0.0.1", port=px.port, user="app",
                                   password="apppass", database="st_names", autocommit=True)
            by_sid = "SELECT %s FROM students WHERE students.student_id = %%s" % COLS
            by_id = "SELECT %s FROM students WHERE students.id = %%s" % COLS
            self.assertEqual(by_sid[:100], by_id[:100])
            with conn.cursor() as cur:
                cur.execute(by_sid, ("S7",))
                cur.fetchall()
                # the N+1: one parent query, then one child lookup per row, in one transaction
                conn.begin()
                cur.execute("SELECT students.id AS students_id FROM students "
                            "WHERE students.year = %s LIMIT 30" + TAG, (2020,))
                ids = [r[0] for r in cur.fetchall()]
                for i in ids:
                    cur.execute(by_id + TAG, (i,))
                    cur.fetchall()
                conn.commit()
            conn.close()

            deadline = time.time() + 15
            shapes, findings = [], []
            while time.time() < deadline:
                shapes = self.get(base, "/api/digests")
                findings = [f for f in self.get(base, "/api/findings")
                            if f["kind"] == "n_plus_one"]
                if findings and sum(s["count"] for s in shapes
                                    if "from students" in s["fingerprint"]) >= 32:
                    break
                time.sleep(0.3)
            names = {s["name"] for s in shapes if "from students" in s["fingerprint"]}
            self.assertIn("SELECT students WHERE student_id = ?", names, shapes)
            self.assertIn("SELECT students WHERE id = ?", names, shapes)
            self.assertIn("SELECT students WHERE year = ?", names, shapes)

            self.assertEqual(len(findings), 1, findings)
            f = findings[0]
            self.assertEqual(f["count"], 30, f)
            self.assertEqual(f["route"], "/roster", f)
            self.assertEqual(f["child"]["name"], "SELECT students WHERE id = ?", f)
            self.assertEqual(f["parent"]["name"], "SELECT students WHERE year = ?", f)
            self.assertEqual(f["orm"], "sqlalchemy", f)
            self.assertIn("selectinload", f["fix"], f)


if __name__ == "__main__":
    unittest.main()
