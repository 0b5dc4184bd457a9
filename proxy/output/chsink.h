/*
 * chsink.h - the ClickHouse sink (--sink clickhouse://...): every entry the slow log gets (its
 * selection: --long-query-time, filters, redaction) also goes, as one JSON row, to the table
 * <database>.statements of a ClickHouse server, sent from a thread of its own with
 * `INSERT ... FORMAT JSONEachRow` over one kept-alive HTTP connection (clickhouse/chclient.h).
 *
 * A row is the JSON slow log's object (slowlog.c serializes it once; the JSON log and the sink
 * share the bytes) with these members added at its end: instance (--instance), route (the
 * statement's route tag, as routes_name() reads it, "" when none), controller (its controller
 * tag, "" when none), full_scan, full_join, tmp_table, filesort (the plan's flags, false
 * without a plan), plan_summary ("table:type:key" per plan row, space-separated, "" without a
 * plan), transaction_duration and transaction_statements (null unless the statement ended a
 * transaction). Tag values a --redact pattern hides are "?", as in the log.
 *
 * Never blocks traffic. The threads that write the slow log append rows to a buffer of their
 * own (one uncontended mutex per row, held for a memcpy); the sink thread takes these buffers
 * every --sink-interval (or as soon as one holds a chunk of rows) into a bounded queue of
 * batches, and posts them. When ClickHouse is away or answers an error, batches wait and are
 * retried with backoff (0.25 s doubling to 5 s); over --sink-buffer bytes the oldest batches
 * are dropped and their rows counted (chsink_get_stats). Messages on stderr, never one per
 * batch and never a password: the first failure of an episode ("slowtap: sink <url>: <why>;
 * keeping rows and retrying"), its end ("...: recovered"), drops at most once a minute, and
 * what was left unsent at stop. Exactly once across outages: an INSERT that got no answer
 * (a transport error: ClickHouse may have stored it before it went away) is held apart from
 * the queue, never dropped as the oldest, and before it is sent again a query looks up its
 * first row (an INSERT of one block is atomic) to tell whether it was stored. Only an INSERT
 * that timed out while ClickHouse was still working on it can be stored twice. A batch
 * ClickHouse refuses as bad data (a parse error) is
 * dropped and counted, not retried.
 *
 * With --sink-ttl-days N the sink thread also drops the day partitions of the table and the
 * aggregate older than N days, at start and hourly (ClickHouse 18.16 has no TTL clause).
 *
 * There is at most one sink per process (chsink_start sets it, chsink_stop clears it): the
 * slow-log formatter reaches it without a handle.
 */
#ifndef SLOWTAP_CHSINK_H
#define SLOWTAP_CHSINK_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "conf/conf.h"
#include "proxy/account/filter.h"
#include "proxy/account/record.h"

struct chsink;

/* Starts the sink for c->sink (conf_load validated it) with c->sink_password, c->instance,
 * c->sink_buffer, c->sink_interval_us, c->sink_create and c->sink_ttl_days. Prints one line on `err` and returns
 * NULL when out of memory or the thread cannot start. ClickHouse need not be reachable. */
struct chsink *chsink_start(const struct conf *c, FILE *err);

/* Sends what is queued, for at most timeout_us (rows still queued then are counted as dropped
 * and said once), stops the thread and frees. Call after every thread that writes the slow log
 * has ended (chsink_thread_end). NULL is fine. */
void chsink_stop(struct chsink *s, int64_t timeout_us);

/* True while a sink runs: the formatter then serializes JSON for it. Any thread. */
bool chsink_on(void);

/* One row: `obj` is the JSON log object of `r` without its closing '}' (n bytes, at least one
 * member); the sink adds its members (redacting tag values like the log when `redact`) and
 * buffers the row. Any thread that writes the slow log; never waits for the sink thread. */
void chsink_write(const char *obj, size_t n, const struct filter *f, bool redact,
                  const struct rec *r);

/* Hands the calling thread's buffered rows to the sink and frees its buffer (a thread that
 * called chsink_write ends). Cheap when it wrote none. */
void chsink_thread_end(void);

struct chsink_stats {
    uint64_t sent; /* rows ClickHouse accepted */
    uint64_t
        dropped;     /* rows dropped: buffer full, refused as bad data, unsent at stop, no memory */
    uint64_t errors; /* requests that failed (no answer or an error answer) */
    uint64_t queued; /* rows waiting now (queued or in flight) */
};

/* The running sink's counters; false (and zeros) when there is none. Any thread. */
bool chsink_get_stats(struct chsink_stats *out);

/* `slowtap sink-schema clickhouse [--database NAME]`: prints the CREATE statements. Returns
 * the exit status (2 with one line on `err` for bad arguments). */
int chsink_schema_main(int argc, char **argv, FILE *out, FILE *err);

#endif
