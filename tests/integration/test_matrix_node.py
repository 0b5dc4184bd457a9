"""test_matrix_node.py - client matrix, Node.js (issue 4): the `mariadb` connector with
pipelining on (queries and prepare+execute pipelined, statement id -1, batch() as
COM_STMT_BULK_EXECUTE) and `mysql2` (execute() prepared statements), installed from the npm
registry into tests/integration/node by `npm ci`; the script (clients/matrix_node.js) prints the
same through slowtap as directly, and the slow log holds each execute with parameters that
evaluate to the bound values, substituted into the statement, with its row counts. The lock
file's packages all admit Debian 12's own Node.js 18 (their engines, read as tests/connectors/run
reads them), and tests/integration/node/.npmrc keeps npm ci engine-strict."""

import json
import os
import subprocess
import sys
import unittest

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "clients"))
import matrix_common as mc  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
NODE_DIR = os.path.join(HERE, "node")
DB = "st_matrix_node_%d" % os.getpid()
SCRIPT = os.path.join(mc.CLIENTS, "matrix_node.js")
# The rows every client script inserts and reads back (matrix_common.ROW1/ROW2).
STR, BLOB, ROW1, ROW2 = mc.STR, mc.BLOB, mc.ROW1, mc.ROW2


def npm_install():
    """npm ci (the lock file pins mariadb and mysql2); raises when it fails: no skipping."""
    npm = ["npm", "ci"] if os.path.exists(os.path.join(NODE_DIR, "package-lock.json")) else [
        "npm", "install"]
    r = subprocess.run(npm + ["--no-audit", "--no-fund", "--loglevel=error"], cwd=NODE_DIR,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=240)
    if r.returncode != 0:
        raise RuntimeError("%s failed in %s:\n%s" % (" ".join(npm), NODE_DIR, r.stdout[-3000:]))


# Debian 12's own Node.js (nodejs 18.19.0 at release, 18.20.4 now): every pinned package must
# admit it, although the development machines run a newer one.
DEBIAN_NODE = "18.19.0"


def node_range_ok(version, spec):
    """tests/connectors/run's reading of an npm engines range (None: not understood)."""
    import importlib.machinery
    import importlib.util
    run = os.path.join(os.path.dirname(HERE), "connectors", "run")
    loader = importlib.machinery.SourceFileLoader("slowtap_connectors_run", run)
    mod = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(mod)
    return mod.node_range_ok(version, spec)


class NodePins(unittest.TestCase):
    def test_lock_admits_debians_node(self):
        with open(os.path.join(NODE_DIR, "package-lock.json")) as f:
            lock = json.load(f)
        checked = 0
        for name, pkg in lock["packages"].items():
            spec = (pkg.get("engines") or {}).get("node")
            if spec:
                self.assertIs(node_range_ok(DEBIAN_NODE, spec), True,
                              "%s %s wants node %s" % (name or "(root)", pkg.get("version"),
                                                       spec))
                checked += 1
        self.assertGreaterEqual(checked, 5)
        # the reading itself: the pins this replaced are refused
        self.assertIs(node_range_ok(DEBIAN_NODE, ">= 20.0.0"), False)
        self.assertIs(node_range_ok(DEBIAN_NODE, "20 || >=22"), False)
        with open(os.path.join(NODE_DIR, ".npmrc")) as f:
            self.assertIn("engine-strict=true", f.read().split())


class MatrixNode(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        npm_install()
        cls.srv = harness.mariadb()
        cls.srv.fresh_db(DB)

    @classmethod
    def tearDownClass(cls):
        cls.srv.sql("DROP DATABASE IF EXISTS `%s`" % DB)

    def run_node(self, mode, table):
        with harness.Slowtap() as px:
            out = mc.same_both_ways(
                self, lambda port: ["/usr/bin/node", SCRIPT, mode, "127.0.0.1", str(port), "app",
                                    "apppass", DB], self.srv, px)
            self.assertTrue(out.endswith("END\n"), out)
            self.assertIn('"hb":"0001FF2062696E20275C"', out)
            self.assertIn("error: 1146\n", out)
            entries = mc.log_entries(px)
            mc.assert_proxy_healthy(self, px)
            ins = mc.check_execute(
                self, self.srv, DB, entries,
                "INSERT INTO %s (id, i, f, s, n, d, dt, b) VALUES (?, ?, ?, ?, ?, ?, ?, ?)"
                % table, [ROW1, ROW2])
            self.assertEqual([e["rows_affected"] for e in ins], [1, 1])
            for e in entries:
                self.assertEqual(e["user"], "app", e["raw"])
                self.assertEqual(e["schema"], DB, e["raw"])
            return out, entries

    def test_mariadb_pipelining(self):
        out, entries = self.run_node("mariadb", "m_node_mariadb")
        self.assertIn('pipelined: [[{"one":1}],[{"two":"two","p":"client-side"}],1,1,'
                      '[{"three":3}]]', out)
        self.assertIn("batch affected: 3\n", out)
        sel = mc.check_execute(
            self, self.srv, DB, entries,
            "SELECT id, i, f, s, n, d, dt, HEX(b) AS hb FROM m_node_mariadb WHERE id = ? OR "
            "s = ? ORDER BY id", [(1, "tab\there"), (2, "none"), (99, STR)])
        self.assertEqual([e["rows_sent"] for e in sel], [2, 1, 1])
        for q, n in (("SELECT 1 AS one", 1), ("SELECT 'two' AS two, 'client-side' AS p", 1),
                     ("SELECT 3 AS three", 1)):
            self.assertEqual([e["rows_sent"] for e in entries if e["statement"] == q], [n], q)
        # an execute with id -1 after a failed prepare fails; it must not be attributed to
        # the statement prepared before
        failed = [e for e in entries if (e["error"] or "").startswith("1243")]
        for e in failed:
            self.assertFalse(e["statement"].startswith("INSERT"), e["raw"])
        # batch(): one COM_STMT_BULK_EXECUTE of three rows, logged with the first row
        bulk = mc.check_execute(
            self, self.srv, DB, [e for e in entries if not e["error"]],
            "INSERT INTO m_node_mariadb (id, s, n) VALUES (?, ?, ?)", [(10, "b1", None)])
        self.assertEqual(bulk[0]["rows_affected"], 3)

    def test_mysql2_execute(self):
        out, entries = self.run_node("mysql2", "m_node_mysql2")
        sel = mc.check_execute(
            self, self.srv, DB, entries,
            "SELECT id, i, f, s, n, d, dt, HEX(b) AS hb FROM m_node_mysql2 WHERE id = ? OR s = ? "
            "ORDER BY id", [(1, "tab\there"), (2, "none")])
        self.assertEqual([e["rows_sent"] for e in sel], [2, 1])
        txt = mc.find(entries, "SELECT id, s, HEX(b) AS hb FROM m_node_mysql2 ORDER BY id")
        self.assertEqual([e["rows_sent"] for e in txt], [2])


if __name__ == "__main__":
    unittest.main(verbosity=2)
