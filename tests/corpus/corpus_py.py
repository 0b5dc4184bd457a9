#!/usr/bin/python3
"""corpus_py.py - the transparency corpus's second client: PyMySQL, which does not ask for
CLIENT_DEPRECATE_EOF, so result sets end with EOF packets (the C client, libmariadb, gets
them ended by OK packets). Text protocol only (PyMySQL has no prepared statements).

usage: corpus_py.py HOST PORT USER PASSWORD DB SCRIPT

Reads a script of tests/corpus/ with the same rules as corpus_client.c and prints, after
every statement, each field's metadata, the rows, affected rows, insert id, warning count and
SHOW WARNINGS, server status and errors, in the same spirit (not the same format) as the C
client. Directives it cannot carry out (change-user, bind, ...) are printed as skipped; the
same way in both runs. Run by tests/integration/test_corpus.py with Debian's /usr/bin/python3.
"""

import hashlib
import sys
import threading
import time

import pymysql
from pymysql.constants import CLIENT

ROWS_SHOWN = 20
# As corpus_client.c: keeps SERVER_QUERY_WAS_SLOW independent of how long a statement took.
INIT_COMMAND = "SET SESSION long_query_time = 3600"
_last_eof = {"status": None}
_EOFWrapper = pymysql.connections.EOFPacketWrapper


class _RecordingEOF(_EOFWrapper):
    """PyMySQL reads the status flags of a result set's final EOF but keeps only has_next;
    this keeps the whole status word so that it can be printed."""

    def __init__(self, from_packet):
        super().__init__(from_packet)
        _last_eof["status"] = self.server_status


pymysql.connections.EOFPacketWrapper = _RecordingEOF
CELL_SHOWN = 256


def value(v):
    if v is None:
        return "NULL"
    if isinstance(v, str):
        v = v.encode("utf-8", "surrogateescape")
    if not isinstance(v, bytes):
        v = str(v).encode()
    if len(v) > CELL_SHOWN:
        return "<%d bytes sha1 %s>" % (len(v), hashlib.sha1(v).hexdigest())
    out = []
    for c in v:
        if c in (0x5C, 0x27):
            out.append("\\" + chr(c))
        elif c < 0x20 or c == 0x7F or c >= 0x80:
            out.append("\\x%02x" % c)
        else:
            out.append(chr(c))
    return "'" + "".join(out) + "'"


def connect(a, local_infile=True):
    return pymysql.connect(host=a["host"], port=a["port"], user=a["user"],
                           password=a["password"], database=a["db"], local_infile=local_infile,
                           client_flag=CLIENT.MULTI_STATEMENTS | CLIENT.MULTI_RESULTS,
                           autocommit=None, init_command=INIT_COMMAND, binary_prefix=False,
                           use_unicode=False, conv={}, read_timeout=60, write_timeout=60)


def status(conn):
    return "  conn status 0x%04x" % conn.server_status


def show_result(conn, res):
    """Prints one result (the last read one)."""
    if getattr(res, "fields", None):
        print("  %d columns" % len(res.fields))
        for i, f in enumerate(res.fields):
            print("  col %d: name=%s org_name=%s table=%s org_table=%s db=%s catalog=%s type=%d "
                  "length=%d flags=0x%x decimals=%d charset=%d" % (
                      i, value(f.name), value(f.org_name), value(f.table_name),
                      value(f.org_table), value(f.db), value(f.catalog), f.type_code,
                      f.length, f.flags, f.scale, f.charsetnr))
        rows = res.rows or ()
        h = hashlib.sha1()
        for n, r in enumerate(rows):
            if n < ROWS_SHOWN:
                print("  row: " + " ".join(value(v) for v in r))
            else:
                h.update(repr(r).encode())
        if len(rows) > ROWS_SHOWN:
            print("  ... %d more rows, sha1 %s" % (len(rows) - ROWS_SHOWN, h.hexdigest()))
        print("  %d rows" % len(rows))
        print("  eof warnings=%d status 0x%04x" % (res.warning_count, _last_eof["status"] or 0))
    else:
        msg = res.message
        print("  affected=%d insert_id=%d warnings=%d%s" % (
            res.affected_rows if res.affected_rows is not None else -1, res.insert_id or 0,
            res.warning_count, " info=" + value(msg) if msg else ""))
        print("  status 0x%04x" % (res.server_status or 0))


def show_warnings(conn):
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW WARNINGS")
            for r in cur.fetchall():
                print("  warning: " + " ".join(value(v) for v in r))
    except pymysql.MySQLError as e:
        print("  show warnings error %r" % (e.args,))


def run_statement(a, st, q):
    st["n"] += 1
    print("== [%d] %s" % (st["n"], q.replace("\n", "\\n").replace("\t", "\\t")))
    conn = st["conn"]
    if conn is None:
        print("  not connected")
        return
    killer = None
    if st["kill_after"] is not None:
        victim = conn.thread_id()
        after = st["kill_after"]
        result = {}

        def kill():
            try:
                k = connect(a)
                time.sleep(after / 1000.0)
                with k.cursor() as cur:
                    cur.execute("KILL QUERY %d" % victim)
                k.close()
                result["ok"] = True
            except pymysql.MySQLError:
                result["ok"] = False
        killer = threading.Thread(target=kill)
        killer.start()
        st["kill_after"] = None
    warnings = 0
    try:
        conn.query(q)
        n = 0
        while True:
            print("  -- result %d" % n)
            res = conn._result
            show_result(conn, res)
            warnings = res.warning_count
            if not res.has_next:
                break
            n += 1
            conn.next_result()
    except pymysql.err.OperationalError as e:
        print("  error %r" % (e.args,))
        if e.args and e.args[0] in (2006, 2013, 2014):
            st["conn"] = None
    except pymysql.MySQLError as e:
        print("  error %r" % (e.args,))
    if st["conn"] is not None:
        print(status(conn))
        if warnings:
            show_warnings(conn)
    if killer is not None:
        killer.join()
        print("  kill query from another connection: %s" % ("ok" if result.get("ok")
                                                              else "failed"))


def directive(a, st, d):
    name, _, args = d.partition(" ")
    print("== @%s %s" % (name, args))
    if name == "kill-query-after":
        st["kill_after"] = int(args)
    elif name == "local-infile":
        st["local_infile"] = args.strip() != "0"
        reconnect(a, st)
    elif name == "ping":
        try:
            st["conn"].ping(reconnect=False)
            print("  ping ok")
        except Exception as e:
            print("  ping failed %r" % (e,))
    elif name == "reconnect":
        reconnect(a, st)
    else:
        print("  skipped: not supported by this client")


def reconnect(a, st):
    if st["conn"] is not None:
        try:
            st["conn"].close()
        except Exception:
            pass
    try:
        st["conn"] = connect(a, st["local_infile"])
        print("connected thread_id=%d server=%s caps=0x%08x" % (
            st["conn"].thread_id(), st["conn"].get_server_info(),
            st["conn"].server_capabilities))
        print(status(st["conn"]))
    except pymysql.MySQLError as e:
        st["conn"] = None
        print("connect error %r" % (e.args,))


def main():
    if len(sys.argv) != 7:
        print(__doc__, file=sys.stderr)
        return 2
    a = {"host": sys.argv[1], "port": int(sys.argv[2]), "user": sys.argv[3],
         "password": sys.argv[4], "db": sys.argv[5]}
    st = {"conn": None, "n": 0, "kill_after": None, "local_infile": True}
    reconnect(a, st)
    delim = ";"
    buf = []
    with open(sys.argv[6], encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\r\n")
            if not buf:
                p = line.lstrip(" \t")
                if p == "":
                    continue
                if p.startswith("-- @"):
                    directive(a, st, p[4:])
                    continue
                if p.startswith("--") or p.startswith("#"):
                    continue
                if p[:10].upper() == "DELIMITER ":
                    delim = p[10:]
                    continue
            buf.append(line)
            text = "\n".join(buf).rstrip(" \t")
            if text.endswith(delim):
                run_statement(a, st, text[:-len(delim)])
                buf = []
    if buf:
        run_statement(a, st, "\n".join(buf))
    if st["conn"] is not None:
        st["conn"].close()
    print("END")
    return 0


if __name__ == "__main__":
    sys.exit(main())
