"""test_pipeline.py - time as the server spent it, and a pipelined goodbye (issue 24, items 3
and 5), with a raw wire client that writes many commands before reading any answer:

- 500 INSERTs pipelined (all COM_QUERY packets in one write) are logged with Query_times whose
  sum is within 2x of the same 500 INSERTs sent one by one; every entry carries Queue_time (the
  wait behind the commands before it), and commands sent one by one never queue (0);
- the per-shape API sums the Queue_time apart from the total;
- a query and COM_QUIT sent together, then the client's write side shut (as MariaDB
  Connector/Node.js ends a connection): the client still gets the answer, and the entry has no
  Client_gone and no Interrupted; a client that closes without COM_QUIT stays Client_gone.
"""

import json
import os
import socket
import sys
import time
import unittest
import urllib.request

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import mywire  # noqa: E402
import stmtwire  # noqa: E402

DB = "pipe_%d" % os.getpid()
N = 500


def read_oks(cli, n):
    """Reads n OK/ERR answers; returns how many were OK."""
    ok = 0
    for _ in range(n):
        _, p = cli.read_packet()
        ok += p[:1] == b"\x00"
    return ok


def entries_with(px, text, want, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        got = [e for e in px.entries(settle=0.1) if text in (e["statement"] or "")]
        if len(got) >= want or time.monotonic() > deadline:
            return got
        time.sleep(0.1)


class Pipeline(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)
        cls.srv.sql("CREATE TABLE t_pipe (id INT PRIMARY KEY, v VARCHAR(20));"
                    "CREATE TABLE t_seq (id INT PRIMARY KEY, v VARCHAR(20));"
                    "CREATE TABLE t_pexec (id INT PRIMARY KEY, v VARCHAR(20));"
                    "CREATE TABLE t_sexec (id INT PRIMARY KEY, v VARCHAR(20))", db=DB)

    def test_pipelined_inserts_timed_as_the_server_ran_them(self):
        http = harness.free_port()
        with harness.Slowtap(args=["--http", "127.0.0.1:%d" % http]) as px:
            seq = mywire.RawClient(px.port, db=DB, timeout=30)
            seq.login()
            for i in range(N):
                r = seq.query("INSERT INTO t_seq VALUES (%d, 'v%d')" % (i, i))
                self.assertEqual(r[-1][:1], b"\x00", r)
            seq.send_packet(b"\x01")
            seq.close()

            pipe = mywire.RawClient(px.port, db=DB, timeout=30)
            pipe.login()
            blob = b"".join(mywire.packet(("\x03INSERT INTO t_pipe VALUES (%d, 'v%d')"
                                           % (i, i)).encode(), 0) for i in range(N))
            t0 = time.monotonic()
            pipe.send_raw(blob)  # every command before the first answer
            self.assertEqual(read_oks(pipe, N), N)
            elapsed = time.monotonic() - t0
            pipe.send_packet(b"\x01")
            pipe.close()

            es = entries_with(px, "INSERT INTO t_seq", N)
            ep = entries_with(px, "INSERT INTO t_pipe", N)
            self.assertEqual(len(es), N)
            self.assertEqual(len(ep), N)
            for e in es + ep:
                self.assertIn("Queue_time", e["flags"], e["raw"])
            seq_sum = sum(e["query_time"] for e in es)
            pipe_sum = sum(e["query_time"] for e in ep)
            queue_sum = sum(float(e["flags"]["Queue_time"]) for e in ep)
            print("one by one: Query_time sum %.6f s; pipelined: Query_time sum %.6f s, "
                  "Queue_time sum %.6f s" % (seq_sum, pipe_sum, queue_sum), file=sys.stderr)
            # sent one by one, a command never waits behind another
            self.assertEqual([e["flags"]["Queue_time"] for e in es], ["0.000000"] * N)
            # pipelined, the wait is the Queue_time, not the statement's own time
            self.assertGreater(queue_sum, 0.0)
            self.assertLessEqual(pipe_sum, 2 * seq_sum)
            # the server ran them one after the other: their times cannot add up to more than
            # the client waited for all of them, and they start in the order sent
            self.assertLessEqual(pipe_sum, elapsed)
            ep.sort(key=lambda e: int(e["statement"].split("(")[1].split(",")[0]))
            starts = [e["time"] for e in ep]
            self.assertEqual(starts, sorted(starts))

            # the per-shape sums: the pipelined shape's queue total is what the log says
            deadline = time.monotonic() + 10  # workers merge their figures about once a second
            while True:
                with urllib.request.urlopen("http://127.0.0.1:%d/api/digests?limit=100" % http,
                                            timeout=10) as resp:
                    shapes = json.loads(resp.read())
                pipe_shape = [d for d in shapes if "t_pipe" in d["fingerprint"]]
                seq_shape = [d for d in shapes if "t_seq" in d["fingerprint"]]
                done = pipe_shape and seq_shape and pipe_shape[0]["count"] == N
                if done or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.assertEqual(len(pipe_shape), 1, shapes)
            self.assertAlmostEqual(pipe_shape[0]["queue_total"], queue_sum, delta=0.001 * N)
            self.assertGreater(pipe_shape[0]["queue_total"], 0)
            self.assertEqual(seq_shape[0]["queue_total"], 0)

    def test_pipelined_executes(self):
        """The same for prepared statements: 200 COM_STMT_EXECUTEs written at once."""
        n = 200
        with harness.Slowtap() as px:
            cli = mywire.RawClient(px.port, db=DB, timeout=30)
            cli.login()
            sid, _, _ = stmtwire.prepare(cli, "INSERT INTO t_sexec VALUES (?, ?)")
            for i in range(n):
                self.assertEqual(stmtwire.execute(cli, sid, [i, "s%d" % i])[0], "ok")
            pid, _, _ = stmtwire.prepare(cli, "INSERT INTO t_pexec VALUES (?, ?)")
            cli.send_raw(b"".join(mywire.packet(stmtwire.execute_body(pid, [i, "p%d" % i]), 0)
                                  for i in range(n)))
            self.assertEqual(read_oks(cli, n), n)
            cli.close()
            es = [e for e in entries_with(px, "INSERT INTO t_sexec", n + 1)
                  if e["flags"].get("Prepare") != "Yes"]
            ep = [e for e in entries_with(px, "INSERT INTO t_pexec", n + 1)
                  if e["flags"].get("Prepare") != "Yes"]
            self.assertEqual((len(es), len(ep)), (n, n))
            self.assertEqual({e["flags"]["Queue_time"] for e in es}, {"0.000000"})
            queue = sum(float(e["flags"]["Queue_time"]) for e in ep)
            seq_sum = sum(e["query_time"] for e in es)
            pipe_sum = sum(e["query_time"] for e in ep)
            print("executes one by one: Query_time sum %.6f s; pipelined: %.6f s, Queue_time "
                  "sum %.6f s" % (seq_sum, pipe_sum, queue), file=sys.stderr)
            self.assertGreater(queue, 0.0)
            self.assertLessEqual(pipe_sum, 2 * seq_sum)

    def test_json_log_has_queue_time(self):
        with harness.Slowtap(args=["--log-format", "json"]) as px:
            cli = mywire.RawClient(px.port, db=DB)
            cli.login()
            blob = b"".join(mywire.packet(b"\x03SELECT %d AS pipe_json" % i, 0)
                            for i in range(5))
            cli.send_raw(blob)
            for _ in range(5):
                eofs = 0  # column count, column, EOF, the row, EOF
                while eofs < 2:
                    _, p = cli.read_packet()
                    eofs += p[:1] == b"\xfe" and len(p) < 9
            cli.close()
            deadline = time.monotonic() + 10
            rows = []
            while len(rows) < 5 and time.monotonic() < deadline:
                time.sleep(0.1)
                rows = [json.loads(line) for line in px.log_text().splitlines()
                        if "pipe_json" in line]
            self.assertEqual(len(rows), 5)
            for r in rows:
                self.assertIsInstance(r["queue_time"], float)
                self.assertGreaterEqual(r["queue_time"], 0.0)
                self.assertEqual(r["rows_sent"], 1, r)  # each answer followed to its end
            self.assertEqual(rows[0]["queue_time"], 0.0)  # the first waits for nothing

    def test_pipelined_quit_is_a_normal_end(self):
        with harness.Slowtap() as px:
            cli = mywire.RawClient(px.port, db=DB)
            cli.login()
            # the query, COM_QUIT and the end of the client's writing, all at once
            cli.send_raw(mywire.packet(b"\x03SELECT SLEEP(0.3) AS pipe_quit", 0) +
                         mywire.packet(b"\x01", 0))
            cli.sock.shutdown(socket.SHUT_WR)
            data = cli.read_until_close(10)
            self.assertIsNotNone(data, "slowtap did not close after the server did")
            pk = mywire.split_packets(data)
            # column count, column definition, EOF, the row, EOF: the answer arrived whole
            self.assertGreaterEqual(len(pk), 5, data)
            self.assertEqual(pk[-1][1][:1], b"\xfe", data)
            self.assertIn(b"0", pk[-2][1])
            e = entries_with(px, "pipe_quit", 1)
            self.assertEqual(len(e), 1)
            self.assertNotIn("Client_gone", e[0]["raw"])
            self.assertNotIn("Interrupted", e[0]["raw"])

    def test_close_without_quit_is_still_client_gone(self):
        with harness.Slowtap() as px:
            cli = mywire.RawClient(px.port, db=DB)
            cli.login()
            cli.send_packet(b"\x03SELECT SLEEP(0.3) AS pipe_gone", 0)
            cli.sock.shutdown(socket.SHUT_WR)
            cli.read_until_close(10)
            e = entries_with(px, "pipe_gone", 1)
            self.assertEqual(len(e), 1)
            self.assertIn("# Client_gone: Yes", e[0]["raw"])


if __name__ == "__main__":
    unittest.main()
