"""test_serial_handshakes.py - stalled half-handshakes cannot fill the server (issue 23, item 4):
with the server's max_connections set 40 above what is connected, 200 clients that connect
through slowtap, read the greeting and send nothing would each hold a backend connection and
fill it, so that a real client gets 1040 Too many connections from the server. With
--max-pending-handshakes 20 the backend's Threads_connected grows by at most 20 and a normal
client logs in and runs a query, through slowtap and directly. And the issue's own case:
2,000 stalled clients with max_connections 300 above what is connected, at the default
--max-pending-handshakes (128).

Serial: it changes the server's max_connections (restored afterwards) and reads
Threads_connected, which other tests' connections would move."""
# slowtap-test: serial

import resource
import unittest

import pymysql

import harness
from test_limits import login_eventually, raw_client, select_one

STALLED = 200
CAP = 20
HEADROOM = 40


def status(adm, name):
    with adm.cursor() as c:
        c.execute("SHOW GLOBAL STATUS LIKE %s", (name,))
        return int(c.fetchall()[0][1])


def direct(server):
    return pymysql.connect(host="127.0.0.1", port=server.port, user="app", password="apppass",
                           autocommit=True, connect_timeout=10, read_timeout=30)


class StalledHandshakesTest(unittest.TestCase):

    def test_stalled_clients_do_not_fill_the_server(self):
        self.stalled_case(STALLED, HEADROOM, ["--max-pending-handshakes", str(CAP)], CAP)

    def test_2000_stalled_clients_at_the_default_cap(self):
        """The issue's case: 2,000 stalled clients, max_connections 300 above what is
        connected, slowtap at its default cap (128): the server keeps room, a client logs in."""
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = 2000 + 1024
        if soft < want:  # the clients' sockets, and slowtap's (it inherits the limit)
            resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, hard), hard))
            self.addCleanup(resource.setrlimit, resource.RLIMIT_NOFILE, (soft, hard))
        self.assertGreaterEqual(resource.getrlimit(resource.RLIMIT_NOFILE)[0], want)
        self.stalled_case(2000, 300, [], 128)

    def stalled_case(self, n_stalled, headroom, args, cap):
        server = harness.mariadb()
        # opened first, so that reading the server's status never needs a free slot
        adm = direct(server)
        with adm.cursor() as c:
            c.execute("SELECT @@global.max_connections")
            old_max = c.fetchall()[0][0]
        base = status(adm, "Threads_connected")
        with adm.cursor() as c:
            c.execute("SET GLOBAL max_connections = %d" % (base + headroom))
        stalled = []
        try:
            with harness.Slowtap(args) as px:
                for _ in range(n_stalled):
                    try:
                        stalled.append(raw_client(px.port)[0])
                    except (EOFError, OSError):
                        pass  # evicted before its greeting came: possible, and fine
                self.assertGreater(len(stalled), cap)
                self.assertLessEqual(status(adm, "Threads_connected"), base + cap)
                rows, errors = login_eventually(px.port, attempts=5)
                self.assertEqual(rows, ((1,),), errors)
                conn = direct(server)
                try:
                    self.assertEqual(select_one(conn), ((1,),))
                finally:
                    conn.close()
        finally:
            for s in stalled:
                s.close()
            with adm.cursor() as c:
                c.execute("SET GLOBAL max_connections = %d" % int(old_max))
            adm.close()


if __name__ == "__main__":
    unittest.main()
