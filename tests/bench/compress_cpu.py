#!/usr/bin/python3
"""compress_cpu.py - what the compressed protocol costs slowtap in CPU (issue 11, item 4).

For each configuration a fresh slowtap (--threads 1, nothing logged) runs one fixed workload
from one mysqlclient connection: N point selects by primary key, then one result of about
100 MB (100000 rows of 1000 bytes). slowtap's CPU time is utime+stime from /proc/PID/stat,
taken after connecting and after each part. Configurations:

  plain        client uncompressed, backend uncompressed
  pass         client zlib, backend zlib: frames relayed as they are, a decoded copy is read
  reframe-cli  client zlib, --backend-compress off: slowtap decodes requests, compresses results
  reframe-be   client uncompressed, --backend-compress on: slowtap compresses requests, decodes
               results

Usage: tests/bench/compress_cpu.py [--selects N]   (SLOWTAP_BIN, SLOWTAP_TEST_MYSQL_PORT and
SLOWTAP_TEST_MYSQL_SOCKET as for the integration tests; takes about a minute).
"""

import argparse
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import MySQLdb  # noqa: E402

import harness  # noqa: E402

DB = "st_compress_bench"
CONFIGS = [
    ("plain", [], False),
    ("pass", [], True),
    ("reframe-cli", ["--backend-compress", "off"], True),
    ("reframe-be", ["--backend-compress", "on"], False),
]
BIG = "SELECT seq, REPEAT(CHAR(65 + seq % 26), 1000) FROM seq_1_to_100000"


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    # fields[0] is the state (field 3); utime and stime are fields 14 and 15
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def run(port, pid, compress, selects):
    # mysqlclient turns compression on whenever `compress` is passed, even as False
    kw = {"compress": True} if compress else {}
    conn = MySQLdb.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                           database=DB, **kw)
    cur = conn.cursor()
    cur.execute("SHOW STATUS LIKE 'Compression'")
    backend = cur.fetchall()[0][1]
    c0, t0 = cpu_seconds(pid), time.monotonic()
    for i in range(selects):
        cur.execute("SELECT id, k, c FROM pts WHERE id = %d" % (i % 1000 + 1))
        cur.fetchall()
    c1, t1 = cpu_seconds(pid), time.monotonic()
    cur.execute(BIG)
    n = 0
    while True:
        rows = cur.fetchmany(10000)
        if not rows:
            break
        n += len(rows)
    c2, t2 = cpu_seconds(pid), time.monotonic()
    conn.close()
    assert n == 100000, n
    return backend, c1 - c0, t1 - t0, c2 - c1, t2 - t1


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--selects", type=int, default=20000)
    a = ap.parse_args()
    srv = harness.mariadb()
    srv.fresh_db(DB)
    srv.sql("CREATE TABLE pts (id INT PRIMARY KEY, k INT, c CHAR(120));"
            "INSERT INTO pts SELECT seq, seq * 7 % 1000, REPEAT(CHAR(97 + seq % 26), 120) "
            "FROM seq_1_to_1000", db=DB)
    print("%-12s %-8s %-8s %14s %10s %14s %10s" % ("config", "client", "backend",
                                                  "selects cpu s", "wall s", "100MB cpu s",
                                                  "wall s"))
    for name, args, compress in CONFIGS:
        with harness.Slowtap(["--threads", "1"] + args, long_query_time="100") as px:
            backend, sc, sw, bc, bw = run(px.port, px.proc.pid, compress, a.selects)
        print("%-12s %-8s %-8s %14.2f %10.2f %14.2f %10.2f" % (
            name, "zlib" if compress else "plain", "zlib" if backend == "ON" else "plain",
            sc, sw, bc, bw))
    srv.sql("DROP DATABASE %s" % DB)


if __name__ == "__main__":
    main()
