"""test_logfile_full_disk.py - the slow log on a disk that fills up and then grows again holds
only whole entries, and its counters say exactly what is in it (issue 23, item 5).

The log goes to a 512 KiB tmpfs mounted in a mount namespace of this test's own (the test
process unshares its mount namespace, so the proxy it starts sees the mount and nothing outside
does). Statements of varying length fill it; the write that crosses the end is short and then
every write fails with ENOSPC; the tmpfs is then grown to 4 MiB and more statements run. For the
JSON log and then for the text log:
  - every line of the JSON log is valid JSON / every text entry starts with `# Time:`, and every
    statement in the file is exactly one that was sent (a fragment with the next entry glued on
    is neither);
  - slowtap_log_entries_written_total equals the number of entries in the file, written plus
    dropped equals the commands completed (slowtap_statements_total), and some were dropped (the
    disk really was full);
  - every statement run after the disk grew is in the file.
Skipped (exit 77) only when a mount namespace or a tmpfs mount is impossible here (not root,
no CAP_SYS_ADMIN)."""

import ctypes
import json
import os
import re
import sys
import tempfile
import time
import unittest
import urllib.request

import pymysql

import harness

DB = "st_logfull_%d" % os.getpid()
CLONE_NEWNS = 0x00020000
MS_REMOUNT = 32
MS_REC = 16384
MS_PRIVATE = 1 << 18
N_FILL = 500  # statements of 800..2000 bytes: far more than 512 KiB of entries
N_AFTER = 150  # after the disk grew to 4 MiB: all of them fit
_libc = ctypes.CDLL(None, use_errno=True)


def _mount(src, target, fstype, flags, data):
    enc = lambda s: s.encode() if s is not None else None  # noqa: E731
    if _libc.mount(enc(src), enc(target), enc(fstype), ctypes.c_ulong(flags), enc(data)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, "mount %s on %s (%s): %s" % (src, target, data, os.strerror(e)))


def private_tmpfs():
    """Enters a mount namespace of our own and mounts a 512 KiB tmpfs there; returns its path,
    or exits 77 saying why that is impossible."""
    if _libc.unshare(CLONE_NEWNS) != 0:
        harness._skip("cannot unshare the mount namespace (%s): a tmpfs of our own needs root "
                      "with CAP_SYS_ADMIN" % os.strerror(ctypes.get_errno()))
    try:
        # Mounts made here must not propagate back to the parent namespace.
        _mount("none", "/", None, MS_REC | MS_PRIVATE, None)
        d = tempfile.mkdtemp(prefix="slowtap-fulldisk-")
        _mount("tmpfs", d, "tmpfs", 0, "size=512k,mode=0755")
    except OSError as e:
        harness._skip("cannot mount a tmpfs: %s" % e)
    return d


def metric(port, name):
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    # the slow log's series: slowtap_log_entries_dropped_total has one per log
    m = re.search(r'^%s(?:\{log="slow"\})? (\d+)$' % re.escape(name), text, re.M)
    if not m:
        raise AssertionError("no %s in /metrics:\n%s" % (name, text[:3000]))
    return int(m.group(1))


def statement(tag, i):
    pad = 800 + (i * 397) % 1200  # lengths that end entries anywhere in a page
    return "SELECT '%s-%d-%s' AS p" % (tag, i, "x" * pad)


class FullDisk(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = private_tmpfs()
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)

    def setUp(self):
        for f in os.listdir(self.dir):
            os.unlink(os.path.join(self.dir, f))
        _mount("tmpfs", self.dir, None, MS_REMOUNT, "size=512k")

    def run_fill(self, fmt, read_entries):
        path = os.path.join(self.dir, "slow." + fmt)
        hp = harness.free_port()
        args = ["--slow-log", path, "--log-format", fmt, "--http", "127.0.0.1:%d" % hp]
        sent = set()
        with harness.Slowtap(args=args) as px:
            c = pymysql.connect(host="127.0.0.1", port=px.port, user="app", password="apppass",
                                database=DB, autocommit=True, connect_timeout=10,
                                read_timeout=30)
            cur = c.cursor()
            for i in range(N_FILL):
                s = statement("fill", i)
                sent.add(s)
                cur.execute(s)
                self.assertEqual(len(cur.fetchall()[0][0]), len(s) - len("SELECT '' AS p"))
            deadline = time.monotonic() + 5
            while "No space left" not in px.stderr() and time.monotonic() < deadline:
                time.sleep(0.05)
            self.assertIn("No space left", px.stderr())
            _mount("tmpfs", self.dir, None, MS_REMOUNT, "size=4m")
            after = []
            for i in range(N_AFTER):
                s = statement("after", i)
                sent.add(s)
                after.append(s)
                cur.execute(s)
                cur.fetchall()
            c.close()
            # Every completed command is either written or dropped, once the writer is done.
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                total = metric(hp, "slowtap_statements_total")
                written = metric(hp, "slowtap_log_entries_written_total")
                dropped = metric(hp, "slowtap_log_entries_dropped_total")
                if written + dropped >= total:
                    break
                time.sleep(0.05)
            self.assertEqual(written + dropped, total, "written + dropped != commands")
            print("%s log: %d commands, %d entries written, %d dropped"
                  % (fmt, total, written, dropped), file=sys.stderr)
            self.assertGreater(dropped, 0, "the disk never filled: the test proves nothing")
            with open(path, "r", errors="replace") as f:
                text = f.read()
            got = read_entries(text)
            self.assertEqual(len(got), written,
                             "slowtap_log_entries_written_total disagrees with the file")
            stmts = [s for s in got if "-" in s and s.startswith("SELECT '")]
            for s in stmts:
                self.assertIn(s, sent, "a statement in the log that was never sent "
                              "(a fragment glued to another entry?): %r" % s[:300])
            for s in after:
                self.assertIn(s, stmts, "a statement run after the disk grew is missing")
            self.assertIn("recovered", px.stderr())
            self.assertEqual(px.stop(), 0, px.stderr())

    def test_json_log_whole(self):
        def entries(text):
            self.assertTrue(text.endswith("\n"), "the log ends inside a line: %r" % text[-200:])
            out = []
            for n, line in enumerate(text.split("\n")[:-1]):
                try:
                    e = json.loads(line)
                except ValueError:
                    self.fail("line %d is not JSON: %r" % (n + 1, line[:400]))
                out.append(e.get("statement") or "")
            return out
        self.run_fill("json", entries)

    def test_text_log_whole(self):
        def entries(text):
            self.assertTrue(text.endswith(";\n"), "the log ends inside an entry: %r"
                            % text[-200:])
            # "# Time:" only ever at the start of a line: nothing glued before an entry
            self.assertEqual(text.count("# Time: "), len(re.findall(r"^# Time: ", text, re.M)))
            es = harness.parse_slowlog(text)
            for e in es:
                self.assertTrue(e["raw"].startswith("# Time: ") or
                                e["raw"].startswith("# User@Host: "), e["raw"][:400])
                self.assertIsNotNone(e["query_time"], e["raw"][:400])
            self.assertEqual(len(es), text.count("\n# Time: ") + text.startswith("# Time: "))
            return [e["statement"] for e in es]
        self.run_fill("text", entries)


if __name__ == "__main__":
    unittest.main()
