/*
 * slowlog.h - formats statement records as slow-log entries: MariaDB's slow-log text format
 * (readable by pt-query-digest and mariadb-dumpslow), or one JSON object per line
 * (--log-format json), into a per-thread log buffer.
 *
 * Text entry:
 *   # Time: 2026-11-24T21:48:00.123456Z
 *   # User@Host: app[app] @  [127.0.0.1]
 *   # Thread_id: 42  Schema: perf  QC_hit: No
 *   # Query_time: 0.002179  Lock_time: 0.000000  Rows_sent: 2  Rows_examined: 0
 *   # Rows_affected: 0  Bytes_sent: 181
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
 * Framing safety: the statement is written so that no line of it can start with "# " or be
 * read as a new entry: every newline in the statement is followed by a space when the next
 * line would begin with '#', and a statement ending in ";" followed by text never leaves a
 * line that starts with "# Time:" (see slowlog.c for the exact rule).
 */
#ifndef SLOWTAP_SLOWLOG_H
#define SLOWTAP_SLOWLOG_H

#include "../conf/conf.h"
#include "filter.h"
#include "logfile.h"
#include "record.h"

/* Formats `r` (text or JSON per `format`) into `b` as one entry. `f` may be NULL; when given,
 * its redaction rules are applied to the statement, parameters and example texts. */
void slowlog_write(struct logbuf *b, enum conf_log_format format, const struct filter *f,
                   const struct rec *r);

#endif
