-- tests/bench/large_result.lua - the benchmark's large-result workload (tests/bench/run,
-- issue 16): each event is one text-protocol SELECT of 10,000 rows of 1 KiB (about 10 MB)
-- from the table bench_large, which tests/bench/run creates (prepare here does the same).

sysbench.cmdline.options = {
   tables = {"unused (accepted for the benchmark's common options)", 1},
   table_size = {"unused (accepted for the benchmark's common options)", 10000},
   large_rows = {"rows in bench_large", 10000},
}

function prepare()
   local con = sysbench.sql.driver():connect()
   con:query("DROP TABLE IF EXISTS bench_large")
   con:query("CREATE TABLE bench_large (id INT PRIMARY KEY, pad VARCHAR(1024) NOT NULL)")
   con:query(string.format("INSERT INTO bench_large SELECT seq, RPAD(seq, 1024, 'x') " ..
                           "FROM seq_1_to_%d", sysbench.opt.large_rows))
   con:disconnect()
end

function thread_init()
   con = sysbench.sql.driver():connect()
end

function thread_done()
   con:disconnect()
end

function event()
   con:query("SELECT id, pad FROM bench_large")
end
