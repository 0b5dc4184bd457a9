"""test_replay_fidelity.py - issue 27 item 5: a capture replayed against a fresh copy of the
same data gives the same answers, or the replay says which command it could not replay or
compare, and why.

The suite's server (A) is the captured one; a throwaway server (B) is the copy, loaded before
each replay from A's pre-workload state with mariadb-dump. Two workloads:

- the transparency corpus (tests/corpus/sql, the scripts of test_corpus.py) run by the corpus
  C client in text and prepared mode through `slowtap --capture`, one capture per script
  (each script starts from empty schemas), replayed with `--writes --speed 2 --in-order`:
  every command of every script answers as captured (checksum of its rows for a read,
  affected rows for a write, rows for a CALL), or is listed under "not replayable" or "not
  comparable" with its reason (the known ones: the statement over the 1 MiB the capture
  keeps, CURRENT_USER() after a change of user); no error other than the captured one; no
  command ran out of the captured order.
- the seed-style app (seed_app.py: the unindexed students lookup, the N+1 roster) and writes
  to students, through `slowtap --capture`, replayed with `--writes`: every read the same
  checksum, every write the same affected rows, the same shapes with the same counts.
"""
# slowtap-test: serial
# (serial: it replays at the captured pace with --speed; --in-order keeps the captured order
# of the sessions' commands however loaded the machine is, but alone it stays well under
# its time budget: 12-22 s measured.)

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import unittest

import harness
import seed_app
import test_corpus

CORPUS_SQL = test_corpus.SQL_DIR
DB, OTHER_DB = test_corpus.DB, test_corpus.OTHER_DB
# Scripts left out, with why: big_results moves 100,000 rows and 16 MiB rows (seconds of the
# CI budget for nothing the others do not cover); kill_query kills a statement from another
# connection by its captured thread id: covered by test_replay's KILL mapping.
SKIP_SCRIPTS = {"big_results", "kill_query"}
SEED_DB = "st_fidelity_seed_%d" % os.getpid()


def slowtap(*args, timeout=120):
    r = subprocess.run([harness.slowtap_bin()] + list(args), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True, timeout=timeout)
    return r.returncode, r.stdout, r.stderr


def uri(srv, db):
    return "mysql://app:apppass@127.0.0.1:%d/%s" % (srv.port, db)


def dump(srv, dbs):
    return subprocess.run(["mariadb-dump", "--no-defaults", "--protocol=socket", "-S",
                           srv.socket, "-u", srv.root_user, "--routines", "--triggers",
                           "--databases"] + dbs,
                          stdout=subprocess.PIPE, check=True, timeout=120).stdout


class FidelityTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.a = harness.mariadb()
        cls.a.ensure_user(*test_corpus.OTHER_USER)
        cls.b = harness.start_throwaway()
        cls.b.ensure_user(*test_corpus.OTHER_USER)
        for srv in (cls.a, cls.b):
            if int(srv.sql("SELECT @@global.max_allowed_packet")[0][0]) < 64 << 20:
                srv.sql("SET GLOBAL max_allowed_packet = %d" % (64 << 20))
        cls.tmp = tempfile.mkdtemp(prefix="st-fidelity-")
        test_corpus.write_data_files(cls.tmp)

    @classmethod
    def tearDownClass(cls):
        cls.b.stop()
        shutil.rmtree(cls.tmp, ignore_errors=True)
        for db in (DB, OTHER_DB, SEED_DB):
            try:
                cls.a.sql("DROP DATABASE IF EXISTS `%s`" % db)
            except RuntimeError:
                pass

    def fresh(self, srv):
        for row in srv.sql("XA RECOVER"):
            fmt, glen, blen, data = int(row[0]), int(row[1]), int(row[2]), row[3]
            if data.startswith(test_corpus.XA_PREFIX):
                raw = data.encode()
                srv.sql("XA ROLLBACK X'%s', X'%s', %d" % (
                    raw[:glen].hex(), raw[glen:glen + blen].hex(), fmt))
        srv.sql("DROP DATABASE IF EXISTS `%s`; CREATE DATABASE `%s`; "
                "DROP DATABASE IF EXISTS `%s`; CREATE DATABASE `%s`"
                % (DB, DB, OTHER_DB, OTHER_DB))

    def capture_script(self, name):
        """Runs script `name` through slowtap --capture (text, then prepared); the capture."""
        script = os.path.join(self.tmp, name + ".sql")
        with open(os.path.join(CORPUS_SQL, name + ".sql"), encoding="utf-8") as f:
            text = test_corpus.localise(f.read())
        with open(script, "w", encoding="utf-8") as f:
            f.write(text)
        modes = [m for m in test_corpus.script_modes(os.path.join(CORPUS_SQL, name + ".sql"))
                 if m in ("c-text", "c-ps")]
        self.fresh(self.a)
        copy = dump(self.a, [DB, OTHER_DB])  # the pre-workload state
        cap = os.path.join(self.tmp, name + ".cap")
        client = test_corpus.client_binary()
        with harness.Slowtap(args=["--capture", cap]) as px:
            for mode in modes:
                subprocess.run([client, "--mode", mode[2:], "127.0.0.1", str(px.port), "app",
                                "apppass", DB, script], cwd=self.tmp, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=120)
            px.stop()
        return cap, copy, modes

    def replay(self, cap, copy, db, dbs):
        # a fresh copy: the dump of the pre-workload state
        self.b.sql("".join("DROP DATABASE IF EXISTS `%s`; " % d for d in dbs))
        subprocess.run(self.b._cli_base(), input=copy, check=True, timeout=120)
        rc, out, err = slowtap("replay", cap, "--target", uri(self.b, db), "--writes",
                               "--captured-from", uri(self.a, db), "--speed", "2", "--in-order",
                               "--format", "json")
        self.assertEqual(rc, 0, err)
        return json.loads(out)

    def test_corpus(self):
        names = sorted(f[:-4] for f in os.listdir(CORPUS_SQL) if f.endswith(".sql"))
        totals = {"commands": 0, "same": 0, "different": 0, "behind": 0, "not_comparable": 0,
                  "not_replayable": 0, "errors": 0}
        unexplained = []
        errors = []
        reasons = {}
        for name in names:
            if name in SKIP_SCRIPTS:
                continue
            cap, copy, modes = self.capture_script(name)
            j = self.replay(cap, copy, DB, [DB, OTHER_DB])
            totals["commands"] += j["commands"]
            for s in j["shapes"]:
                totals["same"] += s["fidelity_same"]
                totals["different"] += s["fidelity_different"]
                totals["behind"] += s["fidelity_different_out_of_order"]
                totals["not_comparable"] += s["fidelity_not_comparable"]
                totals["errors"] += s["errors_not_as_captured"]
                if s["fidelity_different"] > s["fidelity_different_out_of_order"]:
                    unexplained.append((name, s["fingerprint"][:100],
                                        s.get("fidelity_first_difference", "")[:160]))
                if s["errors_not_as_captured"]:
                    errors.append((name, s["fingerprint"][:100]))
            for g in ("not_replayable", "not_comparable"):
                for r in j[g]:
                    if g == "not_replayable":
                        totals["not_replayable"] += r["count"]
                    reasons.setdefault((g, r["reason"]), [0, name, r["first"][:120]])
                    reasons[(g, r["reason"])][0] += r["count"]
        print("\ncorpus replay (--writes --speed 2 --in-order): %s" % totals, file=sys.stderr)
        for (g, why), (n, name, first) in sorted(reasons.items()):
            print("  %s: %d x %s (first in %s: %s)" % (g, n, why, name, first), file=sys.stderr)
        for u in unexplained:
            print("  DIFFERENT %s: %s; first: %s" % u, file=sys.stderr)
        for e in errors:
            print("  ERROR %s: %s" % e, file=sys.stderr)
        self.assertGreater(totals["same"], 0)
        # --in-order: no difference from a command that ran out of the captured order (without
        # it, at --speed 2 on a loaded machine, a script's prepared-mode session overtook its
        # text-mode one and CALLs saw the other's rows: counted apart, as "out of order")
        self.assertEqual(totals["behind"], 0)
        # every difference is explained: none left
        self.assertEqual(unexplained, [])
        # no error other than the captured one (COM_RESET_CONNECTION is replayed: the
        # EXECUTE of a statement it dropped fails as captured)
        self.assertEqual(errors, [])
        # what could not be replayed or compared, each with its reason: the statement over
        # the 1 MiB the capture keeps (packets.sql), shown with where it was cut; the
        # CURRENT_USER() after a change of user (the replay stays the target URI's user)
        self.assertEqual(sorted(g for g, _ in reasons), ["not_comparable", "not_replayable"],
                         reasons)
        nr = [(why, v) for (g, why), v in reasons.items() if g == "not_replayable"]
        self.assertEqual([v[1] for _, v in nr], ["packets"], nr)
        self.assertIn("captured text was cut", nr[0][0])
        self.assertIn("(cut at 1048575 bytes)", nr[0][1][2])
        nc = [(why, v) for (g, why), v in reasons.items() if g == "not_comparable"]
        self.assertIn("session's identity", nc[0][0])
        self.assertIn("CURRENT_USER()", nc[0][1][2])

    def test_reasons(self):
        """Commands the replay cannot replay or compare are listed with their reason, never
        run as a wrong statement: a text the capture flagged cut, a bulk execute, an execute of
        a statement prepared before the capture began; a differing NOW() is not comparable, a
        differing plain SELECT is a difference."""
        import capwriter
        self.fresh(self.b)
        path = os.path.join(self.tmp, "reasons.cap")
        cap = capwriter.Capture(path)
        t = int(time.time() * 1e6)
        cap.session(1, t, schema=DB)
        # cut: the replay must not send the part (it would create the table)
        cap.command(1, 1, t + 10, t + 20, capwriter.COM_QUERY, "CREATE TABLE cut_t (a INT)",
                    flags=2)
        cap.command(1, 2, t + 30, t + 40, 0xFA, stmt_id=7)  # COM_STMT_BULK_EXECUTE
        cap.command(1, 3, t + 50, t + 60, capwriter.COM_STMT_EXECUTE, stmt_id=9)
        cap.command(1, 4, t + 70, t + 80, capwriter.COM_QUERY, "SELECT NOW(), 'NOW()'", rows=1,
                    checksum=12345)
        cap.command(1, 5, t + 90, t + 100, capwriter.COM_QUERY, "SELECT 'rand()' AS x", rows=1,
                    checksum=12345)
        # an execute whose long-data parameter the capture cut (its prepare is captured)
        cap.command(1, 6, t + 110, t + 120, capwriter.COM_STMT_PREPARE, "SELECT ? AS v",
                    prepare_id=3)
        cap.command(1, 7, t + 130, t + 140, capwriter.COM_STMT_EXECUTE, stmt_id=3,
                    params=[(capwriter.T_LONG, b"\x01\x00\x00\x00")], rows=1, checksum=1,
                    flags=2)
        cap.end(1, t + 200)
        cap.write()
        rc, out, err = slowtap("replay", path, "--target", uri(self.b, DB), "--writes",
                               "--force", "--no-wait", "--format", "json")
        self.assertEqual(rc, 0, err)
        j = json.loads(out)
        nr = {r["reason"]: r for r in j["not_replayable"]}
        self.assertEqual(len(nr), 4, nr)
        self.assertTrue(any("parameter was cut" in w for w in nr), nr)
        cut = [r for w, r in nr.items() if "text was cut" in w]
        self.assertEqual(cut[0]["first"], "(cut at 26 bytes) CREATE TABLE cut_t (a INT)")
        self.assertTrue(any("bulk execute" in w for w in nr), nr)
        self.assertTrue(any("prepared before the capture began" in w for w in nr), nr)
        self.assertEqual(self.b.sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE "
                                    "TABLE_SCHEMA = '%s' AND TABLE_NAME = 'cut_t'" % DB),
                         [["0"]])
        self.assertEqual([(r["count"], r["first"]) for r in j["not_comparable"]],
                         [(1, "SELECT NOW(), ?")])
        self.assertIn("clock", j["not_comparable"][0]["reason"])
        # 'rand()' is a string: no call, a real difference
        self.assertEqual(sum(s["fidelity_different"] for s in j["shapes"]), 1)
        self.assertEqual(j["targets"][0]["not_replayable"], 4)
        page = os.path.join(self.tmp, "reasons.html")
        rc, out, err = slowtap("replay", path, "--target", uri(self.b, DB), "--writes",
                               "--force", "--no-wait", "--html", page)
        self.assertEqual(rc, 0, err)
        with open(page) as f:
            html = f.read()
        self.assertIn("<b>Not replayable: 4</b>", html)
        self.assertIn("bulk execute parameters are not captured", html)
        self.assertIn("not replayable: 4\n", out)
        self.assertIn("  1 x the captured text was cut", out)
        self.assertIn("not comparable (the result differs by its nature): 1\n", out)

    def test_seed_app(self):
        """The seed-style app's routes (the unindexed lookup, the N+1 roster) and writes to
        students, captured through slowtap and replayed with --writes on a dump of the
        pre-workload data: every read has the captured checksum, every write the captured
        affected rows, and the shapes the same counts as the app ran them."""
        import pymysql
        seed_app.create_schema(self.a, SEED_DB, students=2000, classes=5, per_class=20)
        copy = dump(self.a, [SEED_DB])
        cap = os.path.join(self.tmp, "seed.cap")
        writes = 0
        with harness.Slowtap(args=["--capture", cap]) as px:
            app, db = seed_app.make_app(px.port, SEED_DB)
            with app.app_context():
                counter = seed_app.RouteCounter(db.engine)
            client = app.test_client()
            for i in range(12):
                sid = seed_app.STUDENT_ID_BASE + 1 + (i * 37) % 100
                self.assertEqual(client.get("/my_class/%d" % sid).status_code, 200)
            for k in (1, 2):
                self.assertEqual(client.get("/roster/%d" % k).status_code, 200)
            conn = pymysql.connect(host="127.0.0.1", port=px.port, user="app",
                                   password="apppass", database=SEED_DB, autocommit=True)
            cur = conn.cursor()
            for i in range(6):
                writes += 1
                cur.execute("UPDATE students SET name = CONCAT('renamed', id) WHERE id %% 500 "
                            "= %s", (i,))
            cur.execute("INSERT INTO students VALUES (5001, 999999, 'new'), "
                        "(5002, 999998, 'newer')")
            cur.execute("DELETE FROM students WHERE id > 5000")
            writes += 2
            conn.close()
            with app.app_context():
                db.engine.dispose()
            px.stop()
        j = self.replay(cap, copy, SEED_DB, [SEED_DB])
        self.assertEqual(j["targets"][0]["errors"], 0, j["targets"])
        self.assertEqual(j["not_replayable"], [])
        app_stmts = sum(n for rule, n in counter.counts.items() if rule is not None)
        self.assertGreater(app_stmts, 12 + 2 * 20)  # the lookups, the rosters' N+1
        tables = ("students", "classes", "student_classes")
        seen_reads = seen_writes = 0
        for s in j["shapes"]:
            self.assertEqual(s["fidelity_different"], 0, s)
            self.assertEqual(s["fidelity_not_comparable"], 0, s)
            self.assertEqual(s["errors_not_as_captured"], 0, s)
            fp = s["fingerprint"]
            if fp.startswith("select") and any(" %s" % t in fp for t in tables):
                # every execution of the app's reads: the captured rows
                self.assertEqual(s["fidelity_same"], s["A"]["count"], s)
                seen_reads += s["A"]["count"]
            elif s["write"] and "students" in fp:
                self.assertEqual(s["fidelity_same"], s["A"]["count"], s)
                seen_writes += s["A"]["count"]
        # the same shapes with the same counts: every statement the app ran in its routes
        # (RouteCounter) was captured and replayed once, and every write
        self.assertEqual(seen_reads, app_stmts)
        self.assertEqual(seen_writes, writes)
        # the copy now holds what A holds: the writes replayed as captured
        q = "SELECT COUNT(*), SUM(CRC32(name)) FROM students"
        self.assertEqual(self.b.sql(q, db=SEED_DB), self.a.sql(q, db=SEED_DB))


if __name__ == "__main__":
    unittest.main()
