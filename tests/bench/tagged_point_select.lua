-- tests/bench/tagged_point_select.lua - oltp_point_select with sqlcommenter tags, for the
-- benchmark's slowtap-tags target (tests/bench/run, issue 16): every statement carries a
-- comment of the form Django, SQLAlchemy hooks and OpenTelemetry write, so slowtap parses
-- tags (and a traceparent) for each one. --tag-mode=prepared (the default, like
-- oltp_point_select with --db-ps-mode=auto) prepares the tagged text once per table and
-- executes it; --tag-mode=text sends each statement as text with its own traceparent.

sysbench.cmdline.options = {
   tables = {"Number of tables", 1},
   table_size = {"Number of rows per table", 10000},
   tag_mode = {"prepared: tagged PREPARE, plain EXECUTE; text: a tagged text query each", "prepared"},
}

local TAG = "/*controller='bench',action='point_select',framework='sysbench%%3A1.0'," ..
   "route='%%2Fbench%%2Fpoint',traceparent='00-%s-%s-01'*/"

function thread_init()
   drv = sysbench.sql.driver()
   con = drv:connect()
   stmts, params = {}, {}
   if sysbench.opt.tag_mode == "prepared" then
      for t = 1, sysbench.opt.tables do
         local tag = string.format(TAG, "0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
         stmts[t] = con:prepare(string.format("SELECT c FROM sbtest%d WHERE id=? %s", t, tag))
         params[t] = stmts[t]:bind_create(sysbench.sql.type.INT)
         stmts[t]:bind_param(params[t])
      end
   end
end

function thread_done()
   for t = 1, #stmts do
      stmts[t]:close()
   end
   con:disconnect()
end

function event()
   local t = sysbench.rand.uniform(1, sysbench.opt.tables)
   local id = sysbench.rand.default(1, sysbench.opt.table_size)
   if sysbench.opt.tag_mode == "prepared" then
      params[t]:set(id)
      stmts[t]:execute()
   else
      local tag = string.format(TAG, string.format("%032x", sysbench.rand.uniform(1, 2^30)),
                                string.format("%016x", id))
      con:query(string.format("SELECT c FROM sbtest%d WHERE id=%d %s", t, id, tag))
   end
end
