#!/usr/bin/python3
"""tests/bench/instructions.py - instructions per statement of slowtap and of haproxy, counted
with valgrind --tool=callgrind (issue 16). Instruction counts do not depend on how busy the
machine is, so unlike tests/bench/run's CPU times they compare on a shared host.

Each configuration is one proxy process under callgrind with instrumentation off at start; one
client (pymysql, one connection, text protocol) runs a warm-up of BENCH_INSTR_WARMUP point
selects, then instrumentation is switched on (callgrind_control -i on), BENCH_INSTR_N point
selects run (SELECT c FROM t WHERE id=<n>, a different id each), and the counts are dumped
(callgrind_control -d). Instructions per statement = the dump's total / N (every thread of the
process, the event loop and timers included). Configurations:
  slowtap-logged   --long-query-time 0 (every statement logged to a text slow log), --http on
  slowtap-capture  as slowtap-logged, plus --capture (every command recorded): capturing on
                   top of logging every statement
  slowtap-capture-only  --capture with nothing logged (--long-query-time 10): a capture in
                   place of logging every statement; its ratio to slowtap-logged is what
                   capturing costs against logging every statement
  slowtap-nolog    --long-query-time 10 (nothing logged), --http on
  slowtap-nolog-trx  the same, every measured statement inside one open transaction (BEGIN
                   before the warm-up, COMMIT after the dump): what following transactions
                   costs the fast path (issue 13: the per-transaction accounting and the
                   session registry's statement ring, published only inside a transaction;
                   neither has a switch, so outside vs inside is the comparison)
  slowtap-json     as slowtap-logged with --log-format json (every statement a JSON line)
  slowtap-sink     as slowtap-logged, plus --sink to a throwaway clickhouse-server on loopback
                   (tests/integration/clickhouse_server.py; --sink-create, the default
                   --sink-interval of 1 s): every logged statement also shipped to
                   ClickHouse. Before counting starts the warm-up's rows are in ClickHouse;
                   after the measured statements the script waits (bounded) until ClickHouse
                   holds them and the sink has sent every logged entry
                   (slowtap_sink_sent_total = slowtap_log_entries_written_total, nothing
                   queued; that /metrics read is not counted) before the dump, so the row's
                   formatting and the sink thread's posting are inside the count; after the
                   stop ClickHouse must hold exactly a row per slow-log entry. The sink
                   thread's cost per POST (libcurl) is spread over the rows of a batch, so
                   the figure depends on the statement rate under callgrind. Its difference to
                   slowtap-logged is what the sink costs on top of logging. Not in the
                   default list (it needs Debian's clickhouse-server); skipped with a line
                   when clickhouse-server is missing or does not start.
  haproxy          haproxy mode tcp, nbthread 1
slowtap runs with --threads 1. Prints instructions/statement per configuration, the ratios to
haproxy (and of slowtap-nolog-trx to slowtap-nolog), and the top functions (self cost) per
statement of each.

With BENCH_INSTR_WORKLOAD=large each statement is instead one SELECT of 10,000 rows of 1 KiB
(issue 16's large results; N defaults to 20) and instructions per result byte are printed too.
With BENCH_INSTR_WORKLOAD=prepared the client is sysbench oltp_point_select with server-side
prepared statements (--db-ps-mode=auto, one thread, --events N after a warm-up of --events
BENCH_INSTR_WARMUP), as in tests/bench/run: each statement is a COM_STMT_EXECUTE, so this
counts the binary-protocol path (parameters decoded and substituted for the log). The
configuration -trx does not apply there.
With BENCH_INSTR_WORKLOAD=shapes the point selects take four shapes in turn (other columns,
COUNT(*)): a statement's shape is never its predecessor's, so this counts the analysis a
session's one-shape cache cannot reuse.
With BENCH_INSTR_WORKLOAD=pipelined the client sends PIPELINE (16) point selects in one write
before reading their 16 results (pymysql's connection, its packets written by hand), so a read
or a write of the proxy carries several statements; N is rounded up to a multiple of 16.

Usage: tests/bench/instructions.py [CONFIG...]       (default: all but slowtap-sink)
Environment: SLOWTAP_BIN [build-bench/slowtap, else build/slowtap]; BENCH_INSTR_WORKLOAD
  [point], prepared, pipelined, shapes or large; BENCH_INSTR_N [20000, large: 20]; BENCH_INSTR_WARMUP [500, large: 2]; BENCH_INSTR_TOP [15]; BENCH_INSTR_DIR [a new /tmp directory]: the
  callgrind files stay there; BENCH_INSTR_JSON: also write the numbers as JSON there;
  BENCH_INSTR_SLOWTAP_ARGS: more slowtap options (split on blanks), e.g. --requests-keep 0.
MariaDB: the test suite's (SLOWTAP_TEST_MYSQL_PORT/_SOCKET, see tests/integration/harness.py)
or a throwaway one. Not part of the test suite.
"""

import glob
import json
import os
import re
import signal
import struct
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
import harness  # noqa: E402
import pymysql  # noqa: E402

CONFIGS = ["slowtap-logged", "slowtap-json", "slowtap-nolog", "slowtap-nolog-trx", "haproxy",
           "slowtap-capture", "slowtap-capture-only"]
# configurations run only when named: they need more than MariaDB
EXTRA_CONFIGS = ["slowtap-sink"]
SINK = {"ch": None, "db": "slowtap_bench_instr"}  # slowtap-sink: the ClickHouse main() started
SINK_DRAIN_TIMEOUT = 300  # s: the sink sends everything, under callgrind, within this
DB = "slowtap_bench_instr"
ROWS = 1000
LARGE_ROWS, LARGE_PAD = 10000, 1024
WORKLOAD = os.environ.get("BENCH_INSTR_WORKLOAD") or "point"
PIPELINE = 16


SHAPES = ["SELECT c FROM t WHERE id=%d", "SELECT id FROM t WHERE id=%d",
          "SELECT c, id FROM t WHERE id=%d", "SELECT COUNT(*) FROM t WHERE id=%d"]


def statement(i):
    """The i-th statement of the workload and the rows it must return."""
    if WORKLOAD == "large":
        return "SELECT id, pad FROM t_large", LARGE_ROWS
    if WORKLOAD == "shapes":
        return SHAPES[i % len(SHAPES)] % ((i * 7919) % ROWS + 1), 1
    return "SELECT c FROM t WHERE id=%d" % ((i * 7919) % ROWS + 1), 1


def env_int(name, default):
    v = os.environ.get(name)
    return int(v) if v not in (None, "") else default


def slowtap_binary():
    b = os.environ.get("SLOWTAP_BIN")
    if b:
        return b
    for d in ("build-bench", "build"):
        p = os.path.join(REPO, d, "slowtap")
        if os.access(p, os.X_OK):
            return p
    sys.exit("no slowtap binary: build one (meson setup build-bench --buildtype=debugoptimized)"
             " or set SLOWTAP_BIN")


def sysbench_events(port, events):
    """Runs sysbench oltp_point_select (prepared statements, one thread) for `events` events
    through port; returns the statements it completed."""
    r = subprocess.run(["sysbench", "oltp_point_select", "--mysql-host=127.0.0.1",
                        "--mysql-port=%d" % port, "--mysql-user=app", "--mysql-password=apppass",
                        "--mysql-db=" + DB, "--tables=1", "--table-size=%d" % ROWS,
                        "--db-ps-mode=auto", "--threads=1", "--time=0",
                        "--events=%d" % events, "run"],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=600)
    m = re.search(r"queries:\s+(\d+)", r.stdout)
    if r.returncode != 0 or not m:
        raise RuntimeError("sysbench failed: " + r.stdout[-2000:])
    return int(m.group(1))


def proxy_command(config, srv, port, outdir, http):
    if config == "haproxy":
        exe = harness._find(["haproxy"])
        if not exe:
            sys.exit("haproxy is not installed")
        cfg = os.path.join(outdir, "haproxy.cfg")
        with open(cfg, "w") as f:
            f.write("global\n    nbthread 1\n    maxconn 100\ndefaults\n    mode tcp\n"
                    "    timeout connect 5s\n    timeout client 1h\n    timeout server 1h\n"
                    "listen mariadb\n    bind 127.0.0.1:%d\n    server db 127.0.0.1:%d\n" % (
                        port, srv.port))
        return [exe, "-db", "-f", cfg]
    lqt = {"slowtap-logged": "0", "slowtap-json": "0", "slowtap-nolog": "10",
           "slowtap-nolog-trx": "10", "slowtap-capture": "0", "slowtap-capture-only": "10",
           "slowtap-sink": "0"}[config]
    fmt = ["--log-format", "json"] if config == "slowtap-json" else []
    capture = []
    if config in ("slowtap-capture", "slowtap-capture-only"):
        capture = ["--capture", os.path.join(outdir, config + ".cap"),
                   "--capture-max-bytes", "0"]
    if config == "slowtap-sink":
        capture = ["--sink", SINK["ch"].url(SINK["db"], user="default"), "--sink-create",
                   "--instance", "bench"]
    return [slowtap_binary(), "--listen", "127.0.0.1:%d" % port,
            "--backend", "127.0.0.1:%d" % srv.port, "--long-query-time", lqt,
            "--slow-log", os.path.join(outdir, config + "-slow.log")] + fmt + [
            "--http", "127.0.0.1:%d" % http, "--threads", "1"] + capture + \
        os.environ.get("BENCH_INSTR_SLOWTAP_ARGS", "").split()


def run_pipelined(con, first, count):
    """Runs statements first..first+count-1 on pymysql connection con, PIPELINE at a time:
    the batch's COM_QUERY packets in one write, then their results read in order."""
    for b in range(first, first + count, PIPELINE):
        batch = [statement(i) for i in range(b, b + PIPELINE)]
        out = b"".join(struct.pack("<iB", len(sql) + 1, 3) + sql.encode() for sql, _ in batch)
        con._write_bytes(out)
        for i, (sql, rows) in enumerate(batch):
            con._next_seq_id = 1
            con._read_query_result()
            got = len(con._result.rows or ())
            if got != rows:
                raise RuntimeError("pipelined statement %d returned %d rows, not %d" % (
                    b + i, got, rows))


def callgrind_control(args, pid):
    r = subprocess.run(["callgrind_control"] + args + [str(pid)], stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, text=True, timeout=300)
    if r.returncode != 0:
        raise RuntimeError("callgrind_control %s %d failed: %s" % (" ".join(args), pid,
                                                                    r.stdout))
    return r.stdout


def dump_total(path):
    """The dump's "totals:" (its "summary:" when there is none; callgrind writes a summary of
    0 when instrumentation is off at the dump, as slowtap-sink's is)."""
    summary = None
    with open(path) as f:
        for line in f:
            if line.startswith("totals:"):
                return int(line.split()[1])
            if line.startswith("summary:") and summary is None:
                summary = int(line.split()[1])
    if summary is None:
        raise RuntimeError("no totals in " + path)
    return summary


def top_functions(path, n, top):
    """[(instructions per statement, function)] of the `top` costliest functions (self cost)."""
    r = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300)
    out = []
    started = False
    for line in r.stdout.splitlines():
        s = line.strip()
        if s.startswith("Ir") and "file:function" in s:
            started = True
            continue
        if not started or not s or s.startswith("-"):
            continue
        parts = s.split(None, 1)
        try:
            ir = int(parts[0].replace(",", ""))
        except ValueError:
            continue
        func = parts[1] if len(parts) > 1 else "?"
        # drop the "(NN.NN%)" column when callgrind_annotate prints one
        if func.startswith("("):
            func = func.split(")", 1)[1].strip()
        out.append((ir / float(n), func))
        if len(out) >= top:
            break
    return out


def function_costs(path):
    """{function: self instructions} of a dump (every function callgrind_annotate lists)."""
    r = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=no", "--threshold=100",
                        path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=300)
    out = {}
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.*?)(\s+\[.*)?$", line)
        if m and m.group(2) != "PROGRAM TOTALS":
            out[m.group(2)] = out.get(m.group(2), 0) + int(m.group(1).replace(",", ""))
    return out


def inclusive_costs(path, names):
    """{name: inclusive instructions} of the functions named (by their bare names)."""
    r = subprocess.run(["callgrind_annotate", "--auto=no", "--inclusive=yes", "--threshold=100",
                        path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                       timeout=300)
    out = dict.fromkeys(names, 0)
    for line in r.stdout.splitlines():
        m = re.match(r"\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+\S*:(\w+)(\s+\[.*)?$", line)
        if m and m.group(2) in out:
            out[m.group(2)] = max(out[m.group(2)], int(m.group(1).replace(",", "")))
    return out


def print_deltas(a, b, n, top):
    """The functions whose self cost per statement differs most between dumps a and b: what
    a difference is made of (slowtap's own code, or the I/O path: reads split differently)."""
    ca, cb = function_costs(a), function_costs(b)
    d = sorted(((cb.get(k, 0) - ca.get(k, 0)) / float(n), k) for k in set(ca) | set(cb))
    d = [x for x in d if abs(x[0]) >= 1]
    d.sort(key=lambda x: -abs(x[0]))
    for v, k in d[:top]:
        print("  %+9.0f  %s" % (v, k))


def measure(config, srv, n, warmup, top, outdir):
    port, http = harness.free_port(), harness.free_port()
    cg = os.path.join(outdir, config + ".callgrind")
    for old in glob.glob(cg + "*"):
        os.unlink(old)
    cmd = ["valgrind", "--tool=callgrind", "--instr-atstart=no", "--callgrind-out-file=" + cg,
           "--separate-threads=no"] + proxy_command(config, srv, port, outdir, http)
    errpath = os.path.join(outdir, config + ".stderr")
    with open(errpath, "wb") as err:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=err, stderr=err,
                                preexec_fn=harness._die_with_parent)
    try:
        harness.wait_port(port, 120, proc=proc)
        if WORKLOAD == "prepared":
            sysbench_events(port, warmup)
            sink_wait(config, http, warmup)  # the warm-up shipped before counting starts
            callgrind_control(["-i", "on"], proc.pid)
            t0 = time.monotonic()
            done = sysbench_events(port, n)
            seconds = time.monotonic() - t0
            sink_wait(config, http, n + warmup, proc.pid)
            callgrind_control(["-d"], proc.pid)
            callgrind_control(["-i", "off"], proc.pid)
            if done != n:
                raise RuntimeError("%s: sysbench ran %d statements, not %d" % (config, done, n))
            return finish(config, proc, cg, errpath, outdir, n, top, seconds)
        con = pymysql.connect(host="127.0.0.1", port=port, user="app", password="apppass",
                              database=DB, autocommit=True)
        cur = con.cursor()
        if WORKLOAD == "pipelined":
            run_pipelined(con, 0, warmup)
            sink_wait(config, http, warmup)  # the warm-up shipped before counting starts
            callgrind_control(["-i", "on"], proc.pid)
            t0 = time.monotonic()
            run_pipelined(con, 0, n)
            seconds = time.monotonic() - t0
            sink_wait(config, http, n + warmup, proc.pid)
            callgrind_control(["-d"], proc.pid)
            callgrind_control(["-i", "off"], proc.pid)
            con.close()
            return finish(config, proc, cg, errpath, outdir, n, top, seconds)
        in_trx = config.endswith("-trx")
        if in_trx:  # the session's registry slot is allocated here, once, not measured
            cur.execute("BEGIN")
        for i in range(warmup):
            cur.execute(statement(i)[0])
            cur.fetchall()
        sink_wait(config, http, warmup)  # the warm-up shipped before counting starts
        callgrind_control(["-i", "on"], proc.pid)
        t0 = time.monotonic()
        for i in range(n):
            sql, rows = statement(i)
            cur.execute(sql)
            got = len(cur.fetchall())
            if got != rows:
                raise RuntimeError("%s: statement %d returned %d rows, not %d" % (
                    config, i, got, rows))
        seconds = time.monotonic() - t0
        sink_wait(config, http, n + warmup, proc.pid)
        callgrind_control(["-d"], proc.pid)
        callgrind_control(["-i", "off"], proc.pid)
        if in_trx:
            if not con.server_status & 1:  # SERVER_STATUS_IN_TRANS after the last statement
                raise RuntimeError("%s: the transaction was not open to the end" % config)
            cur.execute("COMMIT")
        con.close()
    except BaseException:
        stop(proc)
        raise
    return finish(config, proc, cg, errpath, outdir, n, top, seconds)


def sink_metrics(http):
    """{name: value} of the proxy's /metrics lines without labels."""
    out = {}
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % http, timeout=60) as r:
        for line in r.read().decode().splitlines():
            parts = line.split()
            if len(parts) == 2 and not line.startswith("#") and "{" not in parts[0]:
                out[parts[0]] = float(parts[1])
    return out


def sink_rows():
    """The rows of the sink's table (0 while the sink has not created it)."""
    try:
        return int(SINK["ch"].query("SELECT count() FROM %s.statements" % SINK["db"]).strip())
    except urllib.error.HTTPError:
        return 0


def sink_wait(config, http, at_least, pid=None):
    """slowtap-sink, before the dump: waits until ClickHouse holds at least `at_least` rows
    (asked of ClickHouse, which costs the proxy nothing), then until the proxy's sink has sent
    every entry written to the log and holds nothing (one /metrics read, usually; with pid,
    callgrind's instrumentation is off during each read, so the page is not counted, and it
    stays off once the sink is drained): the sink thread's work for the measured statements
    is inside the count. Bounded by SINK_DRAIN_TIMEOUT."""
    if config != "slowtap-sink":
        return
    deadline = time.monotonic() + SINK_DRAIN_TIMEOUT
    while sink_rows() < at_least:
        if time.monotonic() > deadline:
            raise RuntimeError("%s: ClickHouse holds %d rows after %d s, not %d" % (
                config, sink_rows(), SINK_DRAIN_TIMEOUT, at_least))
        time.sleep(0.2)
    while True:
        if pid:
            callgrind_control(["-i", "off"], pid)
        m = sink_metrics(http)
        written = m.get("slowtap_log_entries_written_total", -1)
        sent = m.get("slowtap_sink_sent_total", 0)
        dropped = m.get("slowtap_sink_dropped_total", 0)
        if dropped:
            raise RuntimeError("%s: the sink dropped %d rows" % (config, dropped))
        if sent == written and m.get("slowtap_sink_queued_rows", 1) == 0:
            return
        if time.monotonic() > deadline:
            raise RuntimeError("%s: the sink sent %d of %d entries in %d s" % (
                config, sent, written, SINK_DRAIN_TIMEOUT))
        if pid:
            callgrind_control(["-i", "on"], pid)
        time.sleep(1)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def finish(config, proc, cg, errpath, outdir, n, top, seconds):
    """Stops the proxy and reads its dump: the measurement's result."""
    stop(proc)
    dumps = sorted(p for p in glob.glob(cg + ".*") if p.rsplit(".", 1)[1].isdigit())
    if not dumps:
        raise RuntimeError("%s: callgrind wrote no dump (stderr in %s)" % (config, errpath))
    total = dump_total(dumps[0])
    if config in ("slowtap-logged", "slowtap-json", "slowtap-capture", "slowtap-sink"):
        with open(os.path.join(outdir, config + "-slow.log"), "rb") as f:
            log = f.read()
        entries = log.count(b"# Query_time: ") if config != "slowtap-json" else sum(
            1 for line in log.splitlines() if line.startswith(b"{"))
        if entries < n:
            raise RuntimeError("%s: %d statements but only %d slow-log entries" % (
                config, n, entries))
        if config == "slowtap-sink":  # one row per entry of the log, not one lost or twice
            rows = sink_rows()
            if rows != entries:
                raise RuntimeError("%s: %d slow-log entries but %d rows in ClickHouse" % (
                    config, entries, rows))
    return {"config": config, "statements": n, "instructions": total,
            "per_statement": total / float(n), "seconds_under_callgrind": seconds,
            "dump": dumps[0], "top": top_functions(dumps[0], n, top)}


def main(argv):
    configs = argv[1:] or CONFIGS
    for c in configs:
        if c not in CONFIGS + EXTRA_CONFIGS:
            print(__doc__, file=sys.stderr)
            return 2
    if WORKLOAD not in ("point", "large", "prepared", "pipelined", "shapes") or (
            WORKLOAD in ("prepared", "pipelined") and "slowtap-nolog-trx" in argv[1:]):
        print(__doc__, file=sys.stderr)
        return 2
    if WORKLOAD in ("prepared", "pipelined"):
        configs = [c for c in configs if c != "slowtap-nolog-trx"]
    large = WORKLOAD == "large"
    n = env_int("BENCH_INSTR_N", 20 if large else 20000)
    warmup = env_int("BENCH_INSTR_WARMUP", 2 if large else 500)
    if WORKLOAD == "pipelined":
        n = -(-n // PIPELINE) * PIPELINE
        warmup = -(-warmup // PIPELINE) * PIPELINE
    top = env_int("BENCH_INSTR_TOP", 15)
    outdir = os.environ.get("BENCH_INSTR_DIR") or tempfile.mkdtemp(prefix="slowtap-instr-")
    os.makedirs(outdir, exist_ok=True)
    if "slowtap-sink" in configs:
        configs = [c for c in configs if c != "slowtap-sink"]
        import clickhouse_server  # tests/integration: a throwaway clickhouse-server
        if not os.access(clickhouse_server.CH_SERVER, os.X_OK):
            print("slowtap-sink skipped: clickhouse-server is not installed (tests/deps.sh)",
                  flush=True)
        else:
            ch = clickhouse_server.ClickHouse()
            if ch.start():
                SINK["ch"] = ch
                configs.append("slowtap-sink")
                print("slowtap-sink: ClickHouse %s on port %d" % (
                    ch.query("SELECT version()").strip(), ch.http), flush=True)
            else:
                print("slowtap-sink skipped: " + ch.why, flush=True)
    srv = harness.mariadb()
    srv.fresh_db(DB)
    srv.sql("CREATE TABLE t (id INT PRIMARY KEY, c CHAR(120) NOT NULL); "
            "INSERT INTO t SELECT seq, RPAD(seq, 120, 'c') FROM seq_1_to_%d" % ROWS, db=DB)
    if WORKLOAD == "prepared":  # sysbench's own table, sbtest1 with ROWS rows
        r = subprocess.run(["sysbench", "oltp_point_select", "--mysql-host=127.0.0.1",
                            "--mysql-port=%d" % srv.port, "--mysql-user=app",
                            "--mysql-password=apppass", "--mysql-db=" + DB, "--tables=1",
                            "--table-size=%d" % ROWS, "prepare"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True, timeout=600)
        if r.returncode != 0:
            raise RuntimeError("sysbench prepare failed: " + r.stdout[-2000:])
    if large:
        srv.sql("CREATE TABLE t_large (id INT PRIMARY KEY, pad VARCHAR(%d) NOT NULL); "
                "INSERT INTO t_large SELECT seq, RPAD(seq, %d, 'x') FROM seq_1_to_%d" % (
                    LARGE_PAD, LARGE_PAD, LARGE_ROWS), db=DB)
    results = {}
    for c in configs:
        print("%s: %d %s under callgrind ..." % (
            c, n, "SELECTs of 10,000 rows" if large else "point selects"), flush=True)
        results[c] = measure(c, srv, n, warmup, top, outdir)
        print("  %.0f instructions/statement (%.0f total, %.1f s)" % (
            results[c]["per_statement"], results[c]["instructions"],
            results[c]["seconds_under_callgrind"]), flush=True)
    srv.sql("DROP DATABASE IF EXISTS " + DB)
    print("")
    print("instructions per statement (%d %s, one connection, %s):" % (
        n, "SELECTs of 10,000 rows of 1 KiB" if large else "point selects",
        {"prepared": "prepared statements (sysbench)",
         "shapes": "text protocol, %d shapes in turn" % len(SHAPES),
         "pipelined": "text protocol, %d statements per write" % PIPELINE}.get(
             WORKLOAD, "text protocol")))
    base = results.get("haproxy")
    for c in configs:
        r = results[c]
        ratio = ""
        if base and c != "haproxy":
            r["vs_haproxy"] = r["per_statement"] / base["per_statement"]
            ratio = "  %.2fx haproxy" % r["vs_haproxy"]
        per_byte = ""
        if large:  # each row: its packet header, the id and the 1 KiB pad with lengths
            r["per_result_byte"] = r["per_statement"] / float(LARGE_ROWS * (LARGE_PAD + 12))
            per_byte = "  (%.3f per result byte)" % r["per_result_byte"]
        print("  %-16s %10.0f%s%s" % (c, r["per_statement"], ratio, per_byte))
    if "slowtap-nolog-trx" in results and "slowtap-nolog" in results:
        a = results["slowtap-nolog"]["per_statement"]
        b = results["slowtap-nolog-trx"]["per_statement"]
        results["slowtap-nolog-trx"]["vs_nolog"] = b / a
        print("  inside a transaction / outside: %.4f (%+.2f%%, %+.0f instructions/statement)"
              % (b / a, (b / a - 1) * 100, b - a))
        print("  made of (self instructions per statement, inside minus outside):")
        print_deltas(results["slowtap-nolog"]["dump"], results["slowtap-nolog-trx"]["dump"], n,
                     top)
    if "slowtap-capture" in results and "slowtap-logged" in results:
        a = results["slowtap-logged"]["per_statement"]
        b = results["slowtap-capture"]["per_statement"]
        results["slowtap-capture"]["vs_logged"] = b / a
        print("  capturing / logging every statement: %.4f (%+.2f%%, %+.0f instructions/statement)"
              % (b / a, (b / a - 1) * 100, b - a))
        print("  made of (self instructions per statement, capture minus logged):")
        print_deltas(results["slowtap-logged"]["dump"], results["slowtap-capture"]["dump"], n, top)
    if "slowtap-capture-only" in results and "slowtap-logged" in results:
        a = results["slowtap-logged"]["per_statement"]
        b = results["slowtap-capture-only"]["per_statement"]
        results["slowtap-capture-only"]["vs_logged"] = b / a
        print("  capturing (nothing logged) / logging every statement: %.4f (%+.2f%%)"
              % (b / a, (b / a - 1) * 100))
    if "slowtap-sink" in results and "slowtap-logged" in results:
        a = results["slowtap-logged"]["per_statement"]
        b = results["slowtap-sink"]["per_statement"]
        results["slowtap-sink"]["vs_logged"] = b / a
        print("  the sink / logging every statement: %.4f: the sink costs %.0f instructions/"
              "statement on top of logging (%+.2f%%)" % (b / a, b - a, (b / a - 1) * 100))
        parts = inclusive_costs(results["slowtap-sink"]["dump"],
                                ["slowlog_json_members", "chsink_write", "chsink_main"])
        results["slowtap-sink"]["parts"] = {k: v / float(n) for k, v in parts.items()}
        print("  of which (inclusive, per statement): the JSON row %.0f (slowlog_json_members;"
              " a JSON log builds it anyway), the sink's members and copy %.0f (chsink_write),"
              " the sink thread %.0f (chsink_main: batches, libcurl POSTs)" % tuple(
                  parts[k] / float(n) for k in ("slowlog_json_members", "chsink_write",
                                                "chsink_main")))
        print("  made of (self instructions per statement, sink minus logged):")
        print_deltas(results["slowtap-logged"]["dump"], results["slowtap-sink"]["dump"], n, top)
    if "slowtap-logged" in results and "slowtap-nolog" in results:
        print("  logging every statement costs %.0f instructions/statement" % (
            results["slowtap-logged"]["per_statement"] -
            results["slowtap-nolog"]["per_statement"]))
    for c in configs:
        print("")
        print("top functions of %s (self instructions per statement):" % c)
        for ir, func in results[c]["top"]:
            print("  %9.0f  %s" % (ir, func))
    print("")
    print("callgrind files in " + outdir)
    js = os.environ.get("BENCH_INSTR_JSON")
    if js:
        with open(js, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True)
            f.write("\n")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    finally:
        harness._run_cleanups()
