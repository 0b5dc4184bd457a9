"""matrix_common.py - shared helpers of the client-matrix tests (tests/integration/test_matrix_*.py):
run a client script directly against MariaDB and through slowtap and compare the transcripts,
split a slow log `# Params:` line into its SQL literals, evaluate those literals on the server
(so a test checks what a logged parameter MEANS, whatever type the connector bound), substitute
them into the prepared statement, and check that the proxy is alive and did not complain."""

import decimal
import os
import re
import subprocess
import time

import pymysql

import harness

CLIENTS = os.path.dirname(os.path.abspath(__file__))


def run_client(cmd, timeout=240, env=None, cwd=None):
    """Runs a client command; returns its CompletedProcess (text, stdout and stderr apart)."""
    return subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                          timeout=timeout, env=env, cwd=cwd, errors="replace")


def same_both_ways(tc, make_cmd, srv, px, **kw):
    """Runs make_cmd(port) against MariaDB directly, then through the proxy `px`; asserts both
    exit 0 with identical stdout. Returns that stdout."""
    direct = run_client(make_cmd(srv.port), **kw)
    tc.assertEqual(direct.returncode, 0, "direct run failed:\n%s\n%s"
                   % (direct.stdout[-3000:], direct.stderr[-3000:]))
    via = run_client(make_cmd(px.port), **kw)
    if via.returncode != 0 or via.stdout != direct.stdout:
        tc.fail("through slowtap the client printed something else (exit %d)\n"
                "--- direct:\n%s\n--- via slowtap:\n%s\n--- client stderr:\n%s\n"
                "--- slowtap stderr:\n%s"
                % (via.returncode, direct.stdout[-4000:], via.stdout[-4000:],
                   via.stderr[-3000:], px.stderr()[-3000:]))
    return direct.stdout


ADMIN_RE = re.compile(r"^# administrator command: (.+);$", re.M)


def parse_log(text):
    """One entry per `# Time:` block, parsed with harness.parse_slowlog, plus 'admin': the name
    of an administrator command ("Ping", ...), "Prepare" for a prepare (logged with the text it
    prepared and `# Prepare: Yes`), or None. (parse_slowlog alone reads the
    "# administrator command: X;" line as the start of another entry.)"""
    out = []
    for block in re.split(r"(?m)^(?=# Time: )", text):
        if not block.startswith("# Time: "):
            continue
        e = harness.parse_slowlog(block)[0]
        m = ADMIN_RE.search(block)
        e["admin"] = m.group(1) if m else None
        if m:
            e["statement"] = ""
        elif e["flags"].get("Prepare") == "Yes":
            e["admin"] = "Prepare"
        out.append(e)
    return out


def log_entries(px, settle=0.3, timeout=15.0):
    """The proxy's slow log, parsed by parse_log(), once it holds something and has not grown
    for `settle` seconds (at most `timeout` seconds): the client has finished, but under load
    (ASan on a busy machine) the proxy may write the last entries well after a fixed pause."""
    deadline = time.monotonic() + timeout
    time.sleep(settle)
    text = px.log_text()
    while time.monotonic() < deadline:
        time.sleep(settle)
        again = px.log_text()
        if again and again == text:
            break
        text = again
    return parse_log(text)


def admin(entries, name):
    """The entries of administrator command `name`."""
    return [e for e in entries if e["admin"] == name]


def assert_proxy_healthy(tc, px):
    """The proxy still runs and its stderr has no protocol complaints."""
    tc.assertIsNone(px.proc.poll(), "slowtap exited:\n" + px.stderr()[-3000:])
    err = px.stderr()
    bad = [l for l in err.splitlines() if "protocol" in l.lower()]
    tc.assertEqual(bad, [], "slowtap complained:\n" + err[-3000:])


def split_literals(params):
    """Splits a `# Params:` value ("1, 'a, b', NULL, X'00ff', 2.5") into its literals. A
    literal cut by the proxy keeps its "..." suffix."""
    out = []
    i, n = 0, len(params)
    while i < n:
        while i < n and params[i] == " ":
            i += 1
        start = i
        if params.startswith(("X'", "x'"), i) or params[i] == "'":
            j = i + 2 if params[i] in "Xx" else i + 1
            while j < n and params[j] != "'":
                j += 2 if params[j] == "\\" else 1
            i = j + 1
        while i < n and params[i] != ",":
            i += 1
        out.append(params[start:i].strip())
        i += 1
    return out


def norm(v):
    """A value as bytes (None stays None), so that 3.25, Decimal('3.25') and '3.25' compare."""
    if v is None:
        return None
    if isinstance(v, bytes):
        return v
    if isinstance(v, float):
        return repr(v).encode()
    if isinstance(v, decimal.Decimal):
        return str(v).encode()
    return str(v).encode("utf-8")


def eval_literals(srv, db, literals):
    """Evaluates SQL literals directly on the server (`SELECT lit, lit, ...`); returns the values
    normalised by norm()."""
    conn = pymysql.connect(host="127.0.0.1", port=srv.port, user="app", password="apppass",
                           database=db, binary_prefix=False)
    try:
        with conn.cursor() as c:
            c.execute("SELECT " + ", ".join(literals))
            return [norm(v) for v in c.fetchone()]
    finally:
        conn.close()


def substitute(sql, literals):
    """Replaces each `?` of sql (which must have no `?` inside quotes) by the next literal."""
    parts = sql.split("?")
    assert len(parts) == len(literals) + 1, (sql, literals)
    out = parts[0]
    for lit, rest in zip(literals, parts[1:]):
        out += lit + rest
    return out


def find(entries, text):
    """Entries whose statement contains `text` (prepares aside: they only prepared it)."""
    return [e for e in entries if text in e["statement"] and e["admin"] != "Prepare"]


def check_execute(tc, srv, db, entries, prepared, expected, count=None):
    """Checks the logged executes of `prepared` (its text with ? placeholders): each has a
    # Params line whose literals evaluate on the server to the values of one tuple of
    `expected` (in order; values already normalised or plain Python values), and a statement
    equal to `prepared` with those literals substituted. Returns the matching entries."""
    head = prepared.split("?")[0]
    got = [e for e in entries if e["statement"].startswith(head) and e["params"] is not None]
    log = "\n".join(e["raw"] for e in entries)[-6000:]
    want = [[v if isinstance(v, bytes) or v is None else norm(v) for v in t] for t in expected]
    tc.assertEqual(len(got), count if count is not None else len(expected),
                   "executes of %r in the log:\n%s" % (prepared, log))
    for e, w in zip(got, want):
        lits = split_literals(e["params"])
        tc.assertEqual(len(lits), prepared.count("?"), e["raw"])
        tc.assertEqual(eval_literals(srv, db, lits), w, e["raw"])
        tc.assertEqual(e["statement"], substitute(prepared, lits), e["raw"])
    return got


# The rows the PHP, Perl and node client scripts insert and read back: every type family, a
# string with quotes, backslashes and a newline, NULL, and a binary blob.
STR = "O'Reilly \\ back\\slash \"dq\"\nnew line"
BLOB = b"\x00\x01\xff bin '\\"
ROW1 = (1, -42, 3.25, STR, None, "2024-02-29", "2024-02-29 13:14:15", BLOB)
ROW2 = (2, 9007199254740993, -0.5, "tab\there", "notnull", "1999-12-31", "2000-01-01 00:00:00",
        BLOB)
