"""faultutil.py - shared helpers of the fault tests: a process's open descriptors and resident
memory from /proc, whether a binary runs under a sanitizer, polling with a deadline, the
server's processlist, and a bystander client that runs checked statements in a loop so a test
can prove that faults on other connections lose or corrupt none of its results."""

import os
import threading
import time


def fd_count(pid):
    return len(os.listdir("/proc/%d/fd" % pid))


def rss_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS for pid %d" % pid)


def sanitized(pid):
    """True when the process runs with AddressSanitizer (its RSS is not meaningful: freed
    memory sits in a quarantine of up to 256 MiB)."""
    try:
        with open("/proc/%d/maps" % pid) as f:
            if "libasan" in f.read():
                return True
    except OSError:
        pass
    return "asan" in os.environ.get("SLOWTAP_BIN", "")


def wait_until(fn, timeout, interval=0.05):
    """Calls fn() until it returns a true value (returned) or `timeout` seconds pass (the
    last value is returned)."""
    deadline = time.monotonic() + timeout
    while True:
        v = fn()
        if v or time.monotonic() >= deadline:
            return v
        time.sleep(interval)


def in_processlist(srv, conn_id):
    rows = srv.sql("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID=%d"
                   % int(conn_id))
    return rows[0][0] != "0"


def connect(port, **kw):
    import pymysql
    args = dict(host="127.0.0.1", port=port, user="app", password="apppass", autocommit=True,
                connect_timeout=10, read_timeout=30, write_timeout=30)
    args.update(kw)
    return pymysql.connect(**args)


class Bystander(threading.Thread):
    """Runs `SELECT n, REPEAT(CHAR(65 + n % 26 USING ascii), 2000 + n)` in a loop on one connection and
    checks each result; errors and wrong results are collected in .failures. With
    reconnect=True a failed statement is counted in .errors and the client reconnects."""

    def __init__(self, port, reconnect=False, pause=0.0):
        super().__init__(daemon=True)
        self.port = port
        self.reconnect = reconnect
        self.pause = pause
        self.stop_flag = threading.Event()
        self.ok = 0
        self.errors = []  # (monotonic time, exception) of failed statements
        self.failures = []  # wrong results, or errors when reconnect is False

    def run(self):
        import pymysql
        n = 0
        conn = None
        while not self.stop_flag.is_set():
            try:
                if conn is None:
                    conn = connect(self.port)
                cur = conn.cursor()
                n += 1
                cur.execute("SELECT %d, REPEAT(CHAR(65 + %d %% 26 USING ascii), 2000 + %d)"
                            % (n, n, n))
                row = cur.fetchone()
                want = (n, chr(65 + n % 26) * (2000 + n))
                if tuple(row) != want:
                    self.failures.append("statement %d: wrong result %r" % (n, row[:1]))
                else:
                    self.ok += 1
            except pymysql.err.MySQLError as e:
                if not self.reconnect:
                    self.failures.append("statement %d: %r" % (n, e))
                    return
                self.errors.append((time.monotonic(), e))
                try:
                    if conn is not None:
                        conn.close()
                except Exception:
                    pass
                conn = None
                time.sleep(0.05)
            if self.pause:
                time.sleep(self.pause)
        if conn is not None:
            try:
                conn.close()
            except Exception:
                pass

    def finish(self, timeout=30):
        self.stop_flag.set()
        self.join(timeout)
        return not self.is_alive()
