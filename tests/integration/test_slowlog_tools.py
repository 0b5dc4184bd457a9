"""test_slowlog_tools.py - the slow log slowtap writes is read correctly by the standard tools:
pt-query-digest (JSON output) and mariadb-dumpslow see the statement shapes, counts, users
and row counts of a known workload."""

import os
import re
import shutil
import subprocess
import unittest

import pymysql

import harness

DB = "st_tools_%d" % os.getpid()


def workload(port):
    c = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                        database=DB, autocommit=True)
    cur = c.cursor()
    for i in range(12):
        cur.execute("SELECT name FROM items WHERE id = %d" % (i + 1))
    for i in range(5):
        cur.execute("SELECT COUNT(*) FROM items WHERE name LIKE 'item%d%%'" % i)
    for i in range(3):
        cur.execute("UPDATE items SET qty = %d WHERE id = %d" % (i + 1, i + 1))
    c.close()


class SlowlogTools(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        values = ",".join("(%d,'item%d',0)" % (i, i) for i in range(1, 101))
        cls.srv.sql("CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(20), qty INT);"
                    "INSERT INTO items VALUES " + values, db=DB)
        with harness.Slowtap() as px:
            workload(px.port)
            code = px.stop()  # SIGTERM: the proxy flushes its log and exits 0
            if code != 0:
                raise AssertionError("slowtap exited with %s:\n%s" % (code, px.stderr()))
            cls.log = px.log_text()

    def test_log_has_entries(self):
        entries = harness.parse_slowlog(self.log)
        shapes = [e for e in entries if "FROM items WHERE id =" in e["statement"]]
        self.assertEqual(len(shapes), 12, self.log)

    @unittest.skipUnless(shutil.which("pt-query-digest"), "percona-toolkit not installed")
    def test_pt_query_digest(self):
        rc, err, doc = harness.pt_query_digest_json(self.log)
        self.assertEqual(rc, 0, err)
        classes = {c["fingerprint"]: c for c in doc["classes"]}
        expect = {
            "select name from items where id = ?": 12,
            "select count(*) from items where name like ?": 5,
            "update items set qty = ? where id = ?": 3,
        }
        for fp, n in expect.items():
            self.assertIn(fp, classes, "pt-query-digest classes: %s" % sorted(classes))
            c = classes[fp]
            self.assertEqual(int(c["query_count"]), n, fp)
            self.assertEqual(c["metrics"]["user"]["value"], "app")
            self.assertGreater(float(c["metrics"]["Query_time"]["sum"]), 0)
            # Queue_time (issue 24) is an attribute of its own, read from the Rows_affected line
            self.assertIn("Queue_time", c["metrics"], sorted(c["metrics"]))
            self.assertEqual(float(c["metrics"]["Queue_time"]["sum"]), 0.0)  # one by one
        self.assertEqual(int(classes["select name from items where id = ?"]
                             ["metrics"]["Rows_sent"]["sum"]), 12)
        self.assertEqual(int(classes["select count(*) from items where name like ?"]
                             ["metrics"]["Rows_sent"]["sum"]), 5)

    @unittest.skipUnless(shutil.which("mariadb-dumpslow"), "mariadb-dumpslow not installed")
    def test_mariadb_dumpslow(self):
        path = os.path.join(os.environ.get("TMPDIR", "/tmp"), "st-dump-%d.log" % os.getpid())
        with open(path, "w") as f:
            f.write(self.log)
        try:
            r = subprocess.run(["mariadb-dumpslow", "-s", "c", path], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, timeout=120)
        finally:
            os.unlink(path)
        self.assertEqual(r.returncode, 0, r.stderr)
        # blocks: "Count: N  Time=...  Rows_sent=A (B), ..., user[user]@host\n  STATEMENT\n"
        # (the statement is the block's last line: dumpslow may keep a "use `db`;" line)
        blocks = re.findall(r"^Count: (\d+) .*?Rows_sent=[\d.]+ \((\d+)\).*?, (\S+)\n((?:  .*\n)+)",
                            r.stdout, re.M)
        got = {}
        for n, rows, who, stmt in blocks:
            key = stmt.strip().split("\n")[-1].strip()
            old = got.get(key, (0, 0, who))
            got[key] = (old[0] + int(n), old[1] + int(rows), who)
        expect = {
            "SELECT name FROM items WHERE id = N": (12, 12),
            "SELECT COUNT(*) FROM items WHERE name LIKE 'S'": (5, 5),
            "UPDATE items SET qty = N WHERE id = N": (3, 0),
        }
        for stmt, (n, rows) in expect.items():
            self.assertIn(stmt, got, r.stdout)
            self.assertEqual(got[stmt][:2], (n, rows), r.stdout)
            self.assertTrue(got[stmt][2].startswith("app[app]@"), r.stdout)


if __name__ == "__main__":
    unittest.main()
