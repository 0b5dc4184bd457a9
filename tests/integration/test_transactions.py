"""test_transactions.py - transactions as a unit (issue 13, item 3): slowtap follows
SERVER_STATUS_IN_TRANS in every OK/EOF; the statement that ends a transaction longer than
--long-transaction-time is logged even when fast, with the transaction's duration, statement
count, idle time and start; the metrics show open transactions and the oldest one's age while
it is open, and duration/idle histograms once it ended."""

import time
import unittest
import urllib.request

import pymysql

import harness


def connect(port, **kw):
    kw.setdefault("autocommit", True)
    return pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           connect_timeout=10, read_timeout=30, **kw)


def metrics(port):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    out = {}
    for line in text.splitlines():
        if line and not line.startswith("#"):
            name, _, value = line.rpartition(" ")
            out[name] = float(value)
    return out


class Timed:
    """Runs statements on a cursor and keeps the client-side idle time between them: from the
    end of one response to the start of the next command."""

    def __init__(self, cur):
        self.cur = cur
        self.idle = 0.0
        self.last_end = None
        self.count = 0

    def run(self, sql):
        t0 = time.monotonic()
        if self.last_end is not None:
            self.idle += t0 - self.last_end
        self.cur.execute(sql)
        self.cur.fetchall()
        self.last_end = time.monotonic()
        self.count += 1


class Transactions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db("trx")
        cls.srv.sql("CREATE TABLE trx.acc (id INT PRIMARY KEY, bal INT)")
        cls.srv.sql("INSERT INTO trx.acc VALUES (1, 100), (2, 100)")

    def test_long_transaction_logged_on_commit(self):
        http = harness.free_port()
        args = ["--long-transaction-time", "2", "--http", "127.0.0.1:%d" % http]
        with harness.Slowtap(args, long_query_time="10") as px:
            c = connect(px.port)
            t = Timed(c.cursor())
            t.run("BEGIN")
            t.run("UPDATE trx.acc SET bal = bal - 10 WHERE id = 1")
            time.sleep(1.2)
            t.run("SELECT bal FROM trx.acc WHERE id = 1")
            # open: the gauges say so
            m = metrics(http)
            self.assertEqual(m.get("slowtap_transactions_open"), 1.0)
            self.assertGreaterEqual(m.get("slowtap_transaction_oldest_open_seconds", 0), 1.1)
            time.sleep(1.2)
            t.run("UPDATE trx.acc SET bal = bal + 10 WHERE id = 2")
            t.run("COMMIT")
            entries = px.entries(settle=0.3)
            self.assertEqual(len(entries), 1, px.log_text())
            e = entries[0]
            self.assertEqual(e["statement"], "COMMIT")
            f = e["flags"]
            self.assertEqual(int(f["Statements"]), 5, e["raw"])
            self.assertGreaterEqual(float(f["Transaction"]), 2.4, e["raw"])
            # the proxy sees each gap from its side: the client's gap plus the two transits
            # over loopback (a few hundred us each, more on a loaded machine)
            self.assertGreaterEqual(float(f["Idle"]), t.idle - 0.002, e["raw"])
            self.assertLessEqual(float(f["Idle"]), t.idle + 0.025, e["raw"])
            self.assertRegex(f["Started"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$")
            m = metrics(http)
            self.assertEqual(m.get("slowtap_transactions_open"), 0.0)
            self.assertEqual(m.get("slowtap_transaction_oldest_open_seconds"), 0.0)
            self.assertEqual(m.get("slowtap_transaction_duration_seconds_count"), 1.0)
            self.assertGreaterEqual(m.get("slowtap_transaction_duration_seconds_sum"), 2.4)
            self.assertAlmostEqual(m.get("slowtap_transaction_idle_seconds_sum"),
                                   float(f["Idle"]), delta=0.000002)
            self.assertEqual(m.get('slowtap_transaction_duration_seconds_bucket{le="1.048576"}'),
                             0.0)
            c.close()

    def test_short_transactions_and_autocommit_off(self):
        http = harness.free_port()
        args = ["--long-transaction-time", "0.5", "--http", "127.0.0.1:%d" % http]
        with harness.Slowtap(args, long_query_time="10") as px:
            c = connect(px.port, autocommit=False)  # every statement opens one implicitly
            cur = c.cursor()
            cur.execute("SELECT bal FROM trx.acc WHERE id = 1")
            cur.execute("UPDATE trx.acc SET bal = bal WHERE id = 1")
            c.commit()  # short: not logged
            cur.execute("SELECT bal FROM trx.acc WHERE id = 2")
            time.sleep(0.7)
            c.rollback()  # long: logged, with 2 statements
            entries = px.entries(settle=0.3)
            self.assertEqual([e["statement"] for e in entries], ["ROLLBACK"], px.log_text())
            self.assertEqual(int(entries[0]["flags"]["Statements"]), 2)
            m = metrics(http)
            self.assertEqual(m.get("slowtap_transaction_duration_seconds_count"), 2.0)
            # a session that closes inside a transaction ends it too (the server rolls back)
            cur.execute("SELECT 1 FROM trx.acc WHERE id = 2 FOR UPDATE")
            self.assertEqual(metrics(http).get("slowtap_transactions_open"), 1.0)
            c.close()
            deadline = time.monotonic() + 5
            while metrics(http).get("slowtap_transactions_open") != 0.0:
                self.assertLess(time.monotonic(), deadline)
                time.sleep(0.05)
            self.assertEqual(metrics(http).get("slowtap_transaction_duration_seconds_count"), 3.0)

    def test_json_log(self):
        import json
        with harness.Slowtap(["--long-transaction-time", "0.2", "--log-format", "json"],
                             long_query_time="10") as px:
            c = connect(px.port)
            cur = c.cursor()
            cur.execute("START TRANSACTION")
            time.sleep(0.3)
            cur.execute("COMMIT")
            c.close()
            time.sleep(0.3)
            lines = [json.loads(x) for x in px.log_text().splitlines() if x.strip()]
            self.assertEqual(len(lines), 1, px.log_text())
            t = lines[0]["transaction"]
            self.assertEqual(t["statements"], 2)
            self.assertGreaterEqual(t["duration"], 0.3)
            self.assertGreaterEqual(t["idle"], 0.29)
            self.assertIn("T", t["started"])


if __name__ == "__main__":
    unittest.main()
