#!/usr/bin/python3
"""tests/bench/profile.py - profiles slowtap under sysbench, with the benchmark's set-up
(tests/bench/run): a throwaway MariaDB, sysbench tables, one slowtap, one sysbench run.

Usage: tests/bench/profile.py perf|callgrind [nolog|logged|explain] [TEST] [THREADS]
  perf       perf record --call-graph dwarf on the running proxy for BENCH_SECONDS (10);
             prints `perf report` (self time, slowtap's binary first, then everything)
  callgrind  runs the proxy under valgrind --tool=callgrind for BENCH_SECONDS (5); prints
             callgrind_annotate's top functions (inclusive and self)
  defaults: logged oltp_point_select 8 (prepared statements, --db-ps-mode=auto)
Output files stay in BENCH_PROFILE_DIR (default: a new /tmp/slowtap-profile-* directory).
"""

import importlib.machinery
import importlib.util
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
_loader = importlib.machinery.SourceFileLoader("bench_run", os.path.join(HERE, "run"))
_spec = importlib.util.spec_from_loader("bench_run", _loader)
bench = importlib.util.module_from_spec(_spec)
_loader.exec_module(bench)
harness = bench.harness


def main(argv):
    if len(argv) < 2 or argv[1] not in ("perf", "callgrind"):
        print(__doc__, file=sys.stderr)
        return 2
    tool = argv[1]
    config = argv[2] if len(argv) > 2 else "logged"
    test = argv[3] if len(argv) > 3 else "oltp_point_select"
    threads = int(argv[4]) if len(argv) > 4 else 8
    seconds = bench.env_int("BENCH_SECONDS", 10 if tool == "perf" else 5)
    outdir = os.environ.get("BENCH_PROFILE_DIR") or tempfile.mkdtemp(prefix="slowtap-profile-")
    os.makedirs(outdir, exist_ok=True)

    nofile = bench.raise_nofile()
    binary = bench.ensure_slowtap()
    srv = bench.start_mariadb(nofile)
    srv.fresh_db(bench.DB)
    subprocess.run(bench.sysbench_base("oltp_read_only", srv.port, 4, 10000) +
                   ["--threads=4", "prepare"], check=True, stdout=subprocess.DEVNULL)
    lqt, args = bench.slowtap_args("slowtap-" + config)

    if tool == "callgrind":
        cg_out = os.path.join(outdir, "callgrind.out")
        wrapper = os.path.join(outdir, "slowtap-under-callgrind")
        with open(wrapper, "w") as f:
            f.write("#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file=%s "
                    "--separate-threads=no %s \"$@\"\n" % (cg_out, binary))
        os.chmod(wrapper, 0o755)
        os.environ["SLOWTAP_BIN"] = wrapper

    with harness.Slowtap(args=args, server=srv, long_query_time=lqt,
                         start_timeout=60) as st:
        # warm up: the prepared statements, the first EXPLAIN, the statistics table
        bench.run_sysbench(test, st.port, threads, 1, "auto", 4, 10000)
        perf = None
        if tool == "perf":
            data = os.path.join(outdir, "perf.data")
            perf = subprocess.Popen(["perf", "record", "-F", "999", "--call-graph", "dwarf",
                                     "-o", data, "-p", str(st.proc.pid), "--",
                                     "sleep", str(seconds)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        r = bench.run_sysbench(test, st.port, threads, seconds, "auto", 4, 10000)
        if perf:
            perf.wait()
        print("%s through slowtap-%s, %d threads: %.0f qps, avg %.3f ms" % (
            test, config, threads, r["qps"], r["avg_ms"]))
        st.stop()

    if tool == "perf":
        for extra in (["--dsos", os.path.basename(binary)], []):
            rep = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                                  "-g", "none", "--percent-limit", "0.5",
                                  "--sort", "dso,symbol"] + extra,
                                 stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
            print(rep.stdout)
    else:
        for incl in ("yes", "no"):
            rep = subprocess.run(["callgrind_annotate", "--inclusive=" + incl, cg_out],
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            print("\n".join(rep.stdout.splitlines()[:60]))
    print("profile data in " + outdir)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
