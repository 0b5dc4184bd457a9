"""test_crash_backtrace.py - a fatal signal leaves a backtrace and the log (issue 23, item 5).

slowtap gets SIGSEGV (then, in a second run, SIGABRT) from outside with kill(2): there is no
hidden way to make it crash. It must write one backtrace on stderr ("slowtap: fatal signal
SIGSEGV, backtrace:" and frames in backtrace_symbols_fd's "binary(symbol+offset)[address]"
form), die of that very signal (the exit status and core file are as without the handler), and
the statements it relayed 200 ms before the signal must be in the slow log: workers hand their
entries to the log writer every 100 ms and the writer writes them at once, so nothing finished
that long ago waits in memory. Core files are turned off for the proxy (RLIMIT_CORE 0)."""

import json
import os
import re
import resource
import signal
import time
import unittest

import pymysql

import harness

DB = "st_crash_%d" % os.getpid()


def sanitized():
    """Whether the proxy is built with AddressSanitizer (libasan among its dependencies, or the
    runtime linked in)."""
    with open(harness.slowtap_bin(), "rb") as f:
        data = f.read()
    return b"libasan" in data or b"AddressSanitizer" in data


FRAME = re.compile(r"^\S+\([^)]*\)\[0x[0-9a-f]+\]$")


class CrashBacktrace(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # inherited by the proxy
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)

    def crash(self, sig, name):
        with harness.Slowtap(args=["--log-format", "json"]) as px:
            c = pymysql.connect(host="127.0.0.1", port=px.port, user="app",
                                password="apppass", database=DB, autocommit=True)
            cur = c.cursor()
            sent = ["SELECT '%s_%d'" % (name, i) for i in range(20)]
            for s in sent:
                cur.execute(s)
                cur.fetchall()
            time.sleep(0.2)
            os.kill(px.proc.pid, sig)
            px.proc.wait(timeout=10)
            px._stopped = True  # it is meant to die: no SIGTERM at the end of the block
            err = px.stderr().splitlines()
            if sig == signal.SIGSEGV and sanitized():
                # A sanitizer's runtime handles SIGSEGV itself (slowtap leaves it alone): its
                # report is the backtrace, and with abort_on_error it ends in SIGABRT.
                self.assertTrue(any("AddressSanitizer" in ln for ln in err), "\n".join(err))
                self.assertNotEqual(px.proc.returncode, 0)
            else:
                self.assertEqual(px.proc.returncode, -sig, px.stderr())
                head = "slowtap: fatal signal %s, backtrace:" % name
                self.assertEqual(err.count(head), 1, "\n".join(err))
                frames = [ln for ln in err[err.index(head) + 1:] if FRAME.match(ln)]
                self.assertGreaterEqual(len(frames), 2, "\n".join(err))
                self.assertTrue(any("slowtap" in f for f in frames), frames)
            logged = [json.loads(ln)["statement"] for ln in harness.read_log(px.log_path)
                      .splitlines()]
            for s in sent:
                self.assertIn(s, logged, "entry not in the log 200 ms later")
            try:
                c.close()
            except pymysql.err.Error:
                pass

    def test_sigsegv(self):
        self.crash(signal.SIGSEGV, "SIGSEGV")

    def test_sigabrt(self):
        self.crash(signal.SIGABRT, "SIGABRT")


if __name__ == "__main__":
    unittest.main()
