"""test_stmt_state.py - what slowtap remembers about a client's prepared statements between
commands, checked with raw COM_STMT_* packets against the real MariaDB:

- new_params_bound = 0: an execute that sends no types uses those of the last execute that
  did (proxy/relay/pstmt.c pstmt_note_types, protocol/proto_stmt.c). Its entry shows its own
  values decoded with them, whether the execute that bound the types was logged or not (then
  only pstmt_note_types saw it), and the client gets what MariaDB sends directly.
- new_params_bound = 2: MariaDB refuses it (ER_MALFORMED_PACKET, stmt_execute_packet_sanity_check
  in sql/sql_prepare.cc accepts only 0 and 1) and keeps the types it had; so does slowtap.
- COM_RESET_CONNECTION and COM_CHANGE_USER drop the session's prepared statements: an execute
  of an old id gets ERR 1243 as it would directly, the connection goes on working, and the
  failed execute's entry does not carry the old statement's text.
- 65,535 parameters, the most MariaDB takes: responses as direct, every value logged.
"""

import os
import struct
import sys
import time
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import mywire  # noqa: E402
import stmtwire  # noqa: E402

ER_MALFORMED_PACKET = 1835
ER_UNKNOWN_STMT_HANDLER = 1243


def wait_entries(px, pick, n, timeout=10.0):
    """pick(the slow log's entries) once it has n items, or what it has after `timeout`; then
    0.2 s more and read again, so that an entry written just after is not missed."""
    deadline = time.monotonic() + timeout
    while len(pick(px.entries(settle=0))) < n and time.monotonic() < deadline:
        time.sleep(0.1)
    return pick(px.entries(settle=0.2))


def login(port):
    c = mywire.RawClient(port)
    c.login()
    return c


def err_of(packets):
    p = packets[-1]
    return mywire.parse_err(p)[0] if p[:1] == b"\xff" else None


def change_user(cli, user, password, db=None):
    """COM_CHANGE_USER with mysql_native_password (the scramble of the greeting's salt, as
    libmariadb does; an auth switch is answered); returns the final packet's payload."""
    auth = mywire.native_scramble(password, cli.greeting["salt"])
    body = (b"\x11" + user.encode() + b"\0" + bytes([len(auth)]) + auth +
            (db or "").encode() + b"\0" + struct.pack("<H", 45) + b"mysql_native_password\0")
    cli.send_packet(body, 0)
    while True:
        seq, p = cli.read_packet()
        if p[:1] == b"\xfe" and len(p) > 1:  # auth switch
            name, _, data = p[1:].partition(b"\0")
            assert name == b"mysql_native_password", name
            cli.send_packet(mywire.native_scramble(password, data[:20]), seq + 1)
            continue
        return p


class NewParamsBound(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()

    def run_both(self, px, steps, sql):
        """Runs `steps` ([(params, new_params_bound)]) as executes of `sql` prepared once,
        through the proxy and directly; asserts both give the same responses, byte for byte;
        returns them (one packet list per step)."""
        got = []
        for port in (px.port, self.srv.port):
            c = login(port)
            try:
                sid, n, _ = stmtwire.prepare(c, sql)
                self.assertEqual(n, len(steps[0][0]))
                got.append([stmtwire.execute_packets(c, sid, params, new_params_bound=b)
                            for params, b in steps])
            finally:
                c.close()
        proxied, direct = got
        for i, (a, b) in enumerate(zip(proxied, direct)):
            self.assertEqual(a, b, "execute %d: the proxy's response differs from MariaDB's" % i)
        return proxied

    def entries_of(self, px, marker, n):
        """The entries naming `marker` once there are n of them (or after 10 s); prepares
        (logged with their text, `# Prepare: Yes`) aside."""
        return wait_entries(px, lambda es: [e for e in es if marker in e["statement"]
                                            and e["flags"].get("Prepare") != "Yes"], n)

    def test_bound0_reuses_types_of_logged_execute(self):
        sql = "SELECT ? AS npb_a_n, ? AS npb_a_s"
        steps = [([7, "first"], 1), ([-42, "it's second"], 0), ([None, "third"], 0)]
        with harness.Slowtap(long_query_time="0") as px:
            res = self.run_both(px, steps, sql)
            for r in res:
                self.assertIsNone(err_of(r), r[-1])
            self.assertIn(struct.pack("<q", -42) + b"\x0bit's second", res[1][-2])
            es = self.entries_of(px, "npb_a_n", 3)
        self.assertEqual([e["params"] for e in es],
                         ["7, 'first'", "-42, 'it\\'s second'", "NULL, 'third'"], es)
        self.assertEqual(es[1]["statement"], "SELECT -42 AS npb_a_n, 'it\\'s second' AS npb_a_s")
        self.assertEqual(es[2]["statement"], "SELECT NULL AS npb_a_n, 'third' AS npb_a_s")
        for e in es:
            self.assertIsNone(e["error"], e["raw"])

    def test_bound0_after_unlogged_execute(self):
        """The execute that bound the types was too fast to be logged: only pstmt_note_types
        saw its types, and the slow bound=0 execute after it is decoded with them."""
        sql = "SELECT ? AS npb_b_n, ? AS npb_b_s, SLEEP(?) AS npb_b_z"
        steps = [([7, "fast", "0"], 1), ([8, "slow", "0.6"], 0)]
        with harness.Slowtap(long_query_time="0.3") as px:
            res = self.run_both(px, steps, sql)
            self.assertIsNone(err_of(res[1]), res[1][-1])
            es = self.entries_of(px, "npb_b_n", 1)
        self.assertEqual(len(es), 1, [e["raw"] for e in es])
        self.assertEqual(es[0]["params"], "8, 'slow', '0.6'", es[0]["raw"])
        self.assertEqual(es[0]["statement"],
                         "SELECT 8 AS npb_b_n, 'slow' AS npb_b_s, SLEEP('0.6') AS npb_b_z")

    def check_bound2(self, long_query_time, last_sleep, n):
        """bound=1 execute, then one with new_params_bound=2 and other types (MariaDB refuses
        it and keeps the old types), then a bound=0 one decoded with the first types."""
        mark = "npb_c%s_n" % long_query_time.replace(".", "")
        sql = "SELECT ? AS %s, ? AS npb_c_s, SLEEP(?) AS npb_c_z" % mark
        steps = [([7, "x", "0"], 1), (["y", 9, 0], 2), ([5, "z", last_sleep], 0)]
        with harness.Slowtap(long_query_time=long_query_time) as px:
            res = self.run_both(px, steps, sql)
            self.assertIsNone(err_of(res[0]))
            self.assertEqual(err_of(res[1]), ER_MALFORMED_PACKET, res[1])
            self.assertIsNone(err_of(res[2]), res[2][-1])
            self.assertIn(struct.pack("<q", 5) + b"\x01z", res[2][-2])
            es = self.entries_of(px, mark, n)
        last = es[-1]
        self.assertEqual(last["params"], "5, 'z', '%s'" % last_sleep, last["raw"])
        self.assertEqual(last["statement"],
                         "SELECT 5 AS %s, 'z' AS npb_c_s, SLEEP('%s') AS npb_c_z"
                         % (mark, last_sleep))
        return es

    def test_bound2_is_malformed_and_keeps_types_logged(self):
        es = self.check_bound2("0", "0", 3)
        self.assertEqual(len(es), 3, [e["raw"] for e in es])
        refused = es[1]
        self.assertTrue((refused["error"] or "").startswith("%d " % ER_MALFORMED_PACKET),
                        refused["raw"])
        # the server bound nothing: the entry must not claim values it never used
        self.assertIsNone(refused["params"], refused["raw"])

    def test_bound2_is_malformed_and_keeps_types_unlogged(self):
        es = self.check_bound2("0.3", "0.6", 1)
        self.assertEqual(len(es), 1, [e["raw"] for e in es])


class ManyParameters(unittest.TestCase):
    """65,535 placeholders, the most MariaDB takes (the edge where Vitess broke past 65,528):
    a NULL bitmap of 8,192 bytes, 131,070 type bytes, a 2 MiB prepare response. Through slowtap
    the responses are MariaDB's byte for byte and the execute is logged with its values."""

    N = 65535

    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()

    def run_one(self, port):
        sql = "SELECT COUNT(*) AS many_params FROM (SELECT 1) t WHERE 7 IN (%s)" % ",".join(
            ["?"] * self.N)
        c = mywire.RawClient(port, timeout=60)
        try:
            c.login()
            sid, n, _ = stmtwire.prepare(c, sql)
            self.assertEqual(n, self.N)
            params = list(range(self.N))
            params[3] = None
            return stmtwire.execute_packets(c, sid, params)
        finally:
            c.close()

    def test_65535_parameters(self):
        with harness.Slowtap(long_query_time="0") as px:
            via = self.run_one(px.port)
            direct = self.run_one(self.srv.port)
            self.assertEqual(via, direct)
            self.assertEqual(via[-2], b"\x00\x00" + struct.pack("<q", 1))  # 7 is among them
            es = wait_entries(px, lambda es: [e for e in es
                                              if "many_params" in e["statement"]
                                              and e["flags"].get("Prepare") != "Yes"], 1)
            self.assertIsNone(px.proc.poll())
            self.assertNotIn("protocol", px.stderr().lower(), px.stderr()[-2000:])
        self.assertEqual(len(es), 1, [e["raw"][:300] for e in es])
        e = es[0]
        self.assertEqual(e["rows_sent"], 1, e["raw"][:300])
        self.assertTrue(e["params"].startswith("0, 1, 2, NULL, 4, 5, "), e["params"][:100])
        self.assertTrue(e["params"].endswith(", 65533, 65534"), e["params"][-100:])
        self.assertIn(" IN (0,1,2,NULL,4,5,", e["statement"][:200])
        self.assertTrue(e["statement"].endswith(",65533,65534)"), e["statement"][-100:])
        self.assertIsNone(e["error"], e["raw"][:300])


class StaleStatementId(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()

    def stale_execute(self, port, drop, marker):
        """Prepares and executes a statement, runs `drop` (COM_RESET_CONNECTION or
        COM_CHANGE_USER), executes the old id, then SELECT 1. Returns (old id, drop's answer,
        the stale execute's packets and the sequence id of its last, SELECT 1's packets)."""
        c = login(port)
        try:
            sid, _, _ = stmtwire.prepare(c, "SELECT ? AS %s" % marker)
            ok = stmtwire.execute_packets(c, sid, [1])
            self.assertIsNone(err_of(ok), ok)
            answer = drop(c)
            stale = stmtwire.execute_packets(c, sid, [2])
            seq = c.last_seq
            after = c.query("SELECT 1")
            return sid, answer, stale, seq, after
        finally:
            c.close()

    def check(self, drop, marker):
        with harness.Slowtap(long_query_time="0") as px:
            p_sid, p_ans, p_stale, p_seq, p_after = self.stale_execute(px.port, drop, marker)
            d_sid, d_ans, d_stale, d_seq, d_after = self.stale_execute(self.srv.port, drop,
                                                                        marker)
            # the proxied session's last statement is SELECT 1: wait for its entry
            log = wait_entries(px, lambda es: es if any(
                e["statement"] == "SELECT 1" for e in es) else [], 1)
        self.assertEqual(p_ans[:1], b"\x00", p_ans)
        self.assertEqual(p_ans, d_ans)
        # ERR 1243 as MariaDB sends it directly; the message names the id, which is the
        # server's and differs between the two connections.
        self.assertEqual(len(p_stale), 1, p_stale)
        self.assertEqual(err_of(p_stale), ER_UNKNOWN_STMT_HANDLER, p_stale)
        self.assertEqual(p_stale[0].replace(b"(%d)" % p_sid, b"(ID)"),
                         d_stale[0].replace(b"(%d)" % d_sid, b"(ID)"))
        self.assertEqual(p_seq, d_seq)
        # the connection goes on
        self.assertEqual(p_after, d_after)
        self.assertEqual(p_after[-2], b"\x011")

        self.assertTrue(any(e["statement"] == "SELECT 1 AS %s" % marker for e in log),
                        "the first execute is logged with its text")
        failed = [e for e in log if (e["error"] or "").startswith("%d " % ER_UNKNOWN_STMT_HANDLER)]
        self.assertEqual(len(failed), 1, [e["raw"] for e in log])
        for e in failed:
            self.assertNotIn(marker, e["raw"], e["raw"])
            self.assertIsNone(e["params"], e["raw"])
        self.assertEqual(log[-1]["statement"], "SELECT 1")

    def test_reset_connection(self):
        def reset(c):
            c.send_packet(b"\x1f", 0)
            return c.read_packet()[1]
        self.check(reset, "stale_reset")

    def test_change_user(self):
        def change(c):
            return change_user(c, "app", "apppass")
        self.check(change, "stale_chuser")


if __name__ == "__main__":
    unittest.main(verbosity=2)
