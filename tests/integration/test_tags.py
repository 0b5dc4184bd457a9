"""test_tags.py - statements attributed to their route through comment tags (issue 14, items 1
and 2): sqlcommenter comments (appended by a SQLAlchemy before_cursor_execute listener, as the
seed app would), marginalia and Datadog forms, tags of a PREPARE text inherited by its
executes; each entry carries `# Route: ...` attributes and `# Trace_id:`, the JSON log a `tags`
object; the fingerprint is the same with and without the comment; pt-query-digest groups by
Route and mariadb-dumpslow still reads the log; a tag named like the entry's own attributes
(query_time, rows_sent) is written as Tag_<name> and a value with a space as one word, and
pt-query-digest and mariadb-dumpslow read the statement's real figures; hostile comments change
nothing; --redact hides a matching tag value."""

import json
import os
import re
import subprocess
import sys
import time
import unittest
import urllib.parse

import pymysql

import harness

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tools"))
import mywire  # noqa: E402
import stmtwire  # noqa: E402

TRACE = "0af7651916cd43dd8448eb211c80319c"


def comment(route, span):
    pairs = {"controller": route.strip("/") or "index", "framework": "flask:2.2",
             "route": route, "traceparent": "00-%s-%s-01" % (TRACE, span)}
    return "/*" + ",".join("%s='%s'" % (k, urllib.parse.quote(v, safe=""))
                           for k, v in sorted(pairs.items())) + "*/"


class Tags(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = harness.mariadb()
        cls.srv.fresh_db("tagdb")
        cls.srv.sql("CREATE TABLE tagdb.students (id INT PRIMARY KEY, name TEXT, cls INT)")
        cls.srv.sql("INSERT INTO tagdb.students VALUES (1, 'ada', 1), (2, 'bob', 2)")

    def test_sqlalchemy_listener(self):
        import sqlalchemy
        from sqlalchemy import event, text
        with harness.Slowtap() as px:
            eng = sqlalchemy.create_engine(
                "mysql+pymysql://app:apppass@127.0.0.1:%d/tagdb" % px.port)
            state = {"route": "/", "span": 1}

            @event.listens_for(eng, "before_cursor_execute", retval=True)
            def add_comment(conn, cursor, statement, parameters, context, executemany):
                tag = comment(state["route"], "%016x" % state["span"])
                if parameters:  # the DB-API's pyformat: a literal % is written %%
                    tag = tag.replace("%", "%%")
                return statement + " " + tag, parameters

            with eng.connect() as c:
                for route, n in (("/roster", 3), ("/classes", 2)):
                    state["route"] = route
                    for i in range(n):
                        state["span"] += 1
                        c.execute(text("SELECT name FROM students WHERE id = :id"), {"id": i + 1})
            eng.dispose()
            # the same statement without a comment, for the fingerprint
            c = pymysql.connect(host="127.0.0.1", port=px.port, user="app", password="apppass",
                                database="tagdb")
            c.cursor().execute("SELECT name FROM students WHERE id = 9")
            c.close()
            es = [e for e in px.entries(settle=0.4) if "FROM students" in (e["statement"] or "")]
            tagged = [e for e in es if e["flags"].get("Route")]
            self.assertEqual(len(tagged), 5, px.log_text())
            routes = [e["flags"]["Route"] for e in tagged]
            self.assertEqual(routes, ["/roster"] * 3 + ["/classes"] * 2)
            self.assertEqual(tagged[0]["flags"]["Controller"], "roster")
            self.assertEqual(tagged[0]["flags"]["Framework"], "flask:2.2")
            self.assertEqual(tagged[0]["flags"]["Trace_id"], TRACE)
            self.assertRegex(tagged[0]["flags"]["Span_id"], r"^[0-9a-f]{16}$")
            plain = [e for e in es if not e["flags"].get("Route")]
            self.assertEqual(len(plain), 1)
            self.assertEqual({e["digest"] for e in es}, {plain[0]["digest"]})

            r = subprocess.run(["pt-query-digest", "--no-version-check", "--group-by", "Route",
                                "--limit", "100%", px.log_path],
                               capture_output=True, text=True, timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("Report grouped by Route", r.stdout)
            m = re.search(r"# Profile\n(.*?)\n\n", r.stdout + "\n\n", re.S)
            self.assertIsNotNone(m, r.stdout)
            prof = m.group(1)
            # one profile line per route, with its number of calls
            self.assertRegex(prof, r"#\s+[12] .*%\s+3\s.*/roster(\n|$)")
            self.assertRegex(prof, r"#\s+[12] .*%\s+2\s.*/classes(\n|$)")
            r = subprocess.run(["mariadb-dumpslow", px.log_path], capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(r.returncode, 0, r.stderr)
            self.assertIn("FROM students", r.stdout)

    def test_tag_names_of_the_log_and_values_with_spaces(self):
        # a tag named like one of the entry's own attributes must not change what the tools
        # read as that attribute; a value with a space must stay one word
        tag = ("/*query_time='99',rows_sent='7',controller='two%20words',route='%2Fa'*/")
        with harness.Slowtap() as px:
            c = pymysql.connect(host="127.0.0.1", port=px.port, user="app", password="apppass",
                                database="tagdb")
            try:
                with c.cursor() as cur:
                    cur.execute("SELECT SLEEP(0.2), id FROM students WHERE id = 1 " + tag)
                    self.assertEqual(len(cur.fetchall()), 1)
            finally:
                c.close()
            es = [e for e in px.entries(settle=0.4) if "SLEEP(0.2)" in (e["statement"] or "")]
            self.assertEqual(len(es), 1, px.log_text())
            e = es[0]
            self.assertIn("# Tag_Query_time: 99  Tag_Rows_sent: 7  Controller: two%20words  "
                          "Route: /a\n", e["raw"] + "\n")
            self.assertGreaterEqual(e["query_time"], 0.2)
            self.assertLess(e["query_time"], 5)
            self.assertEqual(e["rows_sent"], 1)
            log = px.log_text()

        code, err, doc = harness.pt_query_digest_json(log)
        self.assertEqual(code, 0, err)
        q = [c for c in doc["classes"] if "SLEEP(0.2)" in c["example"]["query"]]
        self.assertEqual(len(q), 1, doc)
        qt = q[0]["metrics"]["Query_time"]
        self.assertGreaterEqual(float(qt["max"]), 0.2)
        self.assertLess(float(qt["max"]), 5, qt)  # not the tag's 99
        self.assertEqual(q[0]["metrics"]["Rows_sent"]["max"], "1")
        r = subprocess.run(["pt-query-digest", "--no-version-check", "--group-by", "Controller",
                            "--limit", "100%", "-"], input=log, capture_output=True, text=True,
                           timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stdout, r"#\s+1 .*\s1\s.*two%20words(\n|$)")
        r = subprocess.run(["mariadb-dumpslow", "-s", "t", "-"], input=log, capture_output=True,
                           text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        block = [b for b in r.stdout.split("\n\n") if "SLEEP" in b]
        self.assertEqual(len(block), 1, r.stdout)
        m = re.match(r"Count: 1\s+Time=([\d.]+)s ", block[0].strip())
        self.assertIsNotNone(m, r.stdout)
        self.assertGreaterEqual(float(m.group(1)), 0.2, r.stdout)
        self.assertLess(float(m.group(1)), 5, r.stdout)

    def test_prepared_and_other_forms(self):
        with harness.Slowtap(["--log-format", "json", "--redact", "s3cret"]) as px:
            cli = mywire.RawClient(px.port)
            cli.login()
            sid, _, _ = stmtwire.prepare(
                cli, "SELECT name FROM tagdb.students WHERE id = ? /*route='%2Fprep',"
                     "controller='p'*/")
            for i in (1, 2):
                self.assertEqual(stmtwire.execute(cli, sid, [i])[0], "rows")
            cli.query("/*application:Shop,controller:posts,action:index*/ SELECT 1")
            cli.query("/*dddbs='shop-db',dde='prod',traceparent='00-%s-b7ad6b7169203331-01'*/ "
                      "SELECT 2" % TRACE)
            cli.query("SELECT 3 /*route='s3cret-admin'*/")
            for hostile in ("SELECT 4 /*route='" + "x" * 5000 + "'*/",
                            "SELECT 5 /*a='1',b*/ /* /* */",
                            "SELECT 6 /*" + ",".join("k%d='v'" % i for i in range(40)) + "*/"):
                cli.query(hostile)
            cli.close()
            time.sleep(0.4)
            lines = [json.loads(x) for x in px.log_text().splitlines() if x.strip()]
            prep = [x for x in lines if x["command"] == "Execute"]
            self.assertEqual(len(prep), 2, lines)
            for x in prep:
                self.assertEqual(x["tags"], {"route": "/prep", "controller": "p"})
            mg = [x for x in lines if (x["statement"] or "").endswith("SELECT 1")][0]
            self.assertEqual(mg["tags"], {"application": "Shop", "controller": "posts",
                                          "action": "index"})
            dd = [x for x in lines if (x["statement"] or "").endswith("SELECT 2")][0]
            self.assertEqual(dd["tags"]["dde"], "prod")
            self.assertEqual(dd["trace_id"], TRACE)
            self.assertEqual(dd["span_id"], "b7ad6b7169203331")
            for n in ("4", "5", "6"):
                h = [x for x in lines if (x["statement"] or "").startswith("SELECT " + n)][0]
                self.assertIsNone(h["tags"], h)
            sec = [x for x in lines if (x["statement"] or "").startswith("SELECT 3")][0]
            self.assertEqual(sec["tags"], {"route": "?"})  # --redact hides a matching value
            self.assertIsNone(px.proc.poll())


if __name__ == "__main__":
    unittest.main()
