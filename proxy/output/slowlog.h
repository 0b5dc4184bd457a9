/*
 * slowlog.h - formats statement records as slow-log entries: MariaDB's slow-log text format
 * (readable by pt-query-digest and mariadb-dumpslow), or one JSON object per line
 * (--log-format json), into a per-thread log buffer.
 *
 * Text entry:
 *   # Time: 261124 21:48:00.123456
 *   # User@Host: app[app] @  [127.0.0.1]
 *   # Thread_id: 42  Schema: perf  QC_hit: No
 *   # Query_time: 0.002179  Lock_time: 0.000000  Rows_sent: 2  Rows_examined: 0
 *   # Rows_affected: 0  Bytes_sent: 181  Rows_examined_known: No
 *   # No_index_used: Yes  No_good_index_used: No
 *   # Digest: 5d1c0e3f2a9b8c7d
 *   # Params: 42, 'abc'                       (prepared statements)
 *   # Error: 1146  Table 'x.y' doesn't exist  (failed statements)
 *   # Full_scan: Yes  Full_join: No  Tmp_table: No  Filesort: No   (with a plan)
 *   # Explain: live|after|cached                                   (with a plan)
 *   # explain: id	select_type	table	type	possible_keys	key	key_len	ref	rows	Extra
 *   # explain: 1	SIMPLE	students	ALL	NULL	NULL	NULL	NULL	1000	Using where
 *   # Explain_error: <message>                                     (when EXPLAIN failed)
 *   use perf;
 *   SET timestamp=1795556880;
 *   SELECT ... ;
 *
 * Fields: Time is UTC from start_wall_us; User@Host is "user[user] @  [host]", or
 * "user[user] @ localhost []" when host is "" (unix socket), as MariaDB writes it; Lock_time
 * and Rows_examined are 0 unless performance_schema told them (the protocol does not carry
 * them): then "Rows_examined_known: No" ends the Rows_affected line (the 0 stays, as the tools
 * need a number there; slowtap report reads the mark as unknown); No_index_used /
 * No_good_index_used come from the status flags 0x20 / 0x10; Digest is always written; the
 * Full_scan line (plan_flags_format), "# Explain:" (omitted for EXPLAIN_SRC_NONE) and the
 * "# explain:" header and rows come only with a plan. Inside "# ..." lines a value never ends
 * the line: '\n' and '\r' appear as the two characters "\n" / "\r", other control characters
 * as '?', and in explain cells a tab as "\t". "use <schema>;" only when the schema is not "".
 * A command other than COM_QUERY without SQL is written like MariaDB does, as
 * "# administrator command: Ping;" (names: Quit, Init DB, Field List, Statistics, Process
 * kill, Ping, Change user, Prepare, Execute, Long data, Close stmt, Reset stmt, Set option,
 * Fetch, Reset connection, Bulk execute; any other command by its decimal number).
 *
 * Framing safety (what a reader sees): the statement's trailing whitespace is removed; every
 * line of the statement that begins with '#' -- its first line, and any line right after a
 * '\n' -- is written with one space before the '#' (so "a\n# Time: x" is logged as
 * "a\n # Time: x"); nothing else in the statement changes; then ";\n" ends the entry, the ';'
 * left out when the statement already ends with one. Hence the statement never contains
 * ";\n#" (the record separator of pt-query-digest and mariadb-dumpslow) nor a line starting
 * with '#', and each entry is read as exactly one entry.
 *
 * JSON (one compact object per line): time (ISO 8601, 2026-11-24T21:48:00.123456Z), ts
 * (seconds, float), thread_id, user, host, schema, command ("Query", "Execute", ... or the
 * number as a string), statement (null for an administrator command), truncated (bool),
 * params (string or null),
 * prepared_statement (string or null), query_time, lock_time (seconds, float), rows_sent,
 * rows_examined (null when performance_schema did not tell it), rows_affected, bytes_sent,
 * tmp_tables, tmp_disk_tables, tmp_table_on_disk,
 * filesort_on_disk, merge_passes (the "# Tmp_tables:" line: numbers and bools, all null when
 * the server measured nothing), error_code (0 when none), error (string or null),
 * digest (16 hex digits), fingerprint (string or null), no_index_used, no_good_index_used
 * (bool), flags ({full_scan, full_join, tmp_table, filesort} bools, or null without a plan),
 * explain_source ("live"/"after"/"cached" or null), explain_error (string or null), plan (array
 * of objects keyed by the column names of plan_col_names, or null). Written by common/jsonw.h,
 * with its escaping rule: each byte that is not valid UTF-8 as \u00XX (the byte read as
 * Latin-1), never replaced or dropped.
 *
 * Redaction (when filter_redacts(f)): the statement, the "# Params:" text (as one string: it
 * is a list of SQL literals, so each literal a --redact pattern matches becomes ?, and with
 * --redact-all the list becomes its fingerprint, e.g. "?, ?"), the fingerprint and the
 * prepared statement pass through filter_redact before they are written. Error messages and
 * explain cells are written as they are.
 */
#ifndef SLOWTAP_SLOWLOG_H
#define SLOWTAP_SLOWLOG_H

#include "conf/conf.h"
#include "proxy/account/filter.h"
#include "proxy/output/logfile.h"
#include "proxy/account/record.h"

/* Formats `r` (text or JSON per `format`) into `b` as one entry. `f` may be NULL; when given,
 * its redaction rules are applied to the statement, parameters, fingerprint and prepared
 * statement (see above). The text format allocates nothing per entry beyond reused buffers. */
void slowlog_write(struct logbuf *b, enum conf_log_format format, const struct filter *f,
                   const struct rec *r);

/* Frees the calling thread's redaction scratch buffers (call when a worker thread ends). */
void slowlog_thread_cleanup(void);

#endif
