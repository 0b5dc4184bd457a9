/*
 * explainlog.h - the explain log (--explain-log): one JSON object per line for every plan
 * auto-EXPLAIN took from the server (sources "live" and "after"; cached copies are not
 * repeated), written by main's explain done hook on the explain thread.
 *
 * A line holds: time (the statement's start, ISO 8601 UTC with microseconds), digest (16 hex
 * digits), fingerprint, statement, params, prepared_statement (strings or null; with --redact
 * applied through filter_redact), schema, query_time (seconds), source, flags (full_scan,
 * full_join, tmp_table, filesort), plan (an array of objects keyed by plan_col_names) and
 * index_advice when there is some. Keys in that order, compact, ASCII-only (common/jsonw.h's
 * JSONW_ASCII: a byte that is not UTF-8 as \u00XX, nothing dropped).
 */
#ifndef SLOWTAP_EXPLAINLOG_H
#define SLOWTAP_EXPLAINLOG_H

#include "proxy/account/filter.h"
#include "proxy/account/record.h"
#include "proxy/output/logfile.h"

/* Appends r's line to b when r has a plan taken from the server; nothing otherwise. `f` may
 * be NULL (no redaction). Allocates only to redact (plans taken: a few per minute). */
void explainlog_write(struct logbuf *b, const struct filter *f, const struct rec *r);

#endif
