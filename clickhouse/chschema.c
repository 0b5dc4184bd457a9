/*
 * chschema.c - the ClickHouse schema of the sink (chclient.h): the statements table (one row
 * per logged statement, columns named as the JSON slow log's keys, plus what the sink adds),
 * the per-minute per-shape aggregate and the materialized view that fills it. Written for
 * ClickHouse 18.16 (Debian 12): no TTL clause, no SimpleAggregateFunction, no LowCardinality.
 */
#include "clickhouse/chclient.h"

#include <stdlib.h>
#include <string.h>

/* The statements table. The JSON log's keys; its nested objects (lock_wait, transaction, tags,
 * n_plus_one, flags, plan) are not columns: ClickHouse skips them, and the sink adds their
 * flat parts (instance, route, controller, full_scan..filesort, plan_summary,
 * transaction_duration, transaction_statements) to each row. */
static const char chschema_table[] = "CREATE TABLE IF NOT EXISTS {db}." CHSCHEMA_TABLE " (\n"
                                     "    time DateTime,\n"
                                     "    ts Float64,\n"
                                     "    instance String,\n"
                                     "    thread_id UInt32,\n"
                                     "    user String,\n"
                                     "    host String,\n"
                                     "    schema String,\n"
                                     "    command String,\n"
                                     "    statement Nullable(String),\n"
                                     "    truncated UInt8,\n"
                                     "    bulk_rows Nullable(UInt32),\n"
                                     "    params Nullable(String),\n"
                                     "    prepared_statement Nullable(String),\n"
                                     "    query_time Float64,\n"
                                     "    lock_time Float64,\n"
                                     "    queue_time Float64,\n"
                                     "    prepare UInt8,\n"
                                     "    rows_sent UInt64,\n"
                                     "    rows_examined Nullable(UInt64),\n"
                                     "    rows_affected UInt64,\n"
                                     "    bytes_sent UInt64,\n"
                                     "    tmp_tables Nullable(UInt64),\n"
                                     "    tmp_disk_tables Nullable(UInt64),\n"
                                     "    merge_passes Nullable(UInt64),\n"
                                     "    trace_id Nullable(String),\n"
                                     "    span_id Nullable(String),\n"
                                     "    client_gone UInt8,\n"
                                     "    interrupted Nullable(String),\n"
                                     "    untracked Nullable(String),\n"
                                     "    error_code UInt16,\n"
                                     "    error Nullable(String),\n"
                                     "    digest String,\n"
                                     "    fingerprint Nullable(String),\n"
                                     "    no_index_used UInt8,\n"
                                     "    no_good_index_used UInt8,\n"
                                     "    explain_source Nullable(String),\n"
                                     "    explain_error Nullable(String),\n"
                                     "    index_advice Nullable(String),\n"
                                     "    route String,\n"
                                     "    controller String,\n"
                                     "    full_scan UInt8,\n"
                                     "    full_join UInt8,\n"
                                     "    tmp_table UInt8,\n"
                                     "    filesort UInt8,\n"
                                     "    plan_summary String,\n"
                                     "    transaction_duration Nullable(Float64),\n"
                                     "    transaction_statements Nullable(UInt32)\n"
                                     ") ENGINE = MergeTree()\n"
                                     "PARTITION BY toDate(time)\n"
                                     "ORDER BY (digest, time)";

/* One row per minute, instance, shape, route, user and schema. query_time and queue_time are
 * kept in whole microseconds, so sums are exact (and equal the proxy's own totals);
 * rows_examined_sum sums the statements whose figure is known (rows_examined_known counts
 * them: slowtap learns it only from performance_schema; an alias named as the column would
 * shadow it in the view). */
static const char chschema_agg[] =
    "CREATE TABLE IF NOT EXISTS {db}." CHSCHEMA_AGG " (\n"
    "    minute DateTime,\n"
    "    instance String,\n"
    "    digest String,\n"
    "    route String,\n"
    "    user String,\n"
    "    schema String,\n"
    "    fingerprint AggregateFunction(any, String),\n"
    "    count AggregateFunction(count),\n"
    "    total_us AggregateFunction(sum, UInt64),\n"
    "    max_us AggregateFunction(max, UInt64),\n"
    "    min_us AggregateFunction(min, UInt64),\n"
    "    quantiles_us AggregateFunction(quantilesTiming(0.5, 0.95, 0.99), UInt64),\n"
    "    queue_us AggregateFunction(sum, UInt64),\n"
    "    rows_sent AggregateFunction(sum, UInt64),\n"
    "    rows_examined_sum AggregateFunction(sum, UInt64),\n"
    "    rows_examined_known AggregateFunction(sum, UInt64),\n"
    "    rows_affected AggregateFunction(sum, UInt64),\n"
    "    bytes_sent AggregateFunction(sum, UInt64),\n"
    "    errors AggregateFunction(sum, UInt64),\n"
    "    no_index_used AggregateFunction(sum, UInt64),\n"
    "    full_scan AggregateFunction(sum, UInt64),\n"
    "    full_join AggregateFunction(sum, UInt64),\n"
    "    tmp_table AggregateFunction(sum, UInt64),\n"
    "    filesort AggregateFunction(sum, UInt64),\n"
    "    plan_summary AggregateFunction(anyLast, String),\n"
    "    index_advice AggregateFunction(anyLast, String),\n"
    "    first_seen AggregateFunction(min, DateTime),\n"
    "    last_seen AggregateFunction(max, DateTime)\n"
    ") ENGINE = AggregatingMergeTree()\n"
    "PARTITION BY toDate(minute)\n"
    "ORDER BY (digest, minute, instance, route, user, schema)";

static const char chschema_view[] =
    "CREATE MATERIALIZED VIEW IF NOT EXISTS {db}." CHSCHEMA_AGG_VIEW " TO {db}." CHSCHEMA_AGG
    " AS\n"
    "SELECT\n"
    "    toStartOfMinute(time) AS minute, instance, digest, route, user, schema,\n"
    "    anyState(ifNull(fingerprint, '')) AS fingerprint,\n"
    "    countState() AS count,\n"
    "    sumState(toUInt64(round(query_time * 1000000))) AS total_us,\n"
    "    maxState(toUInt64(round(query_time * 1000000))) AS max_us,\n"
    "    minState(toUInt64(round(query_time * 1000000))) AS min_us,\n"
    "    quantilesTimingState(0.5, 0.95, 0.99)(toUInt64(round(query_time * 1000000)))"
    " AS quantiles_us,\n"
    "    sumState(toUInt64(round(queue_time * 1000000))) AS queue_us,\n"
    "    sumState(rows_sent) AS rows_sent,\n"
    "    sumState(ifNull(rows_examined, 0)) AS rows_examined_sum,\n"
    "    sumState(toUInt64(isNotNull(rows_examined))) AS rows_examined_known,\n"
    "    sumState(rows_affected) AS rows_affected,\n"
    "    sumState(bytes_sent) AS bytes_sent,\n"
    "    sumState(toUInt64(error_code != 0)) AS errors,\n"
    "    sumState(toUInt64(no_index_used)) AS no_index_used,\n"
    "    sumState(toUInt64(full_scan)) AS full_scan,\n"
    "    sumState(toUInt64(full_join)) AS full_join,\n"
    "    sumState(toUInt64(tmp_table)) AS tmp_table,\n"
    "    sumState(toUInt64(filesort)) AS filesort,\n"
    "    anyLastState(plan_summary) AS plan_summary,\n"
    "    anyLastState(ifNull(index_advice, '')) AS index_advice,\n"
    "    minState(time) AS first_seen,\n"
    "    maxState(time) AS last_seen\n"
    "FROM {db}." CHSCHEMA_TABLE "\n"
    "GROUP BY minute, instance, digest, route, user, schema";

/* The template with each "{db}" replaced by db. */
static char *
chschema_fmt(const char *tpl, const char *db)
{
    static const char tok[] = "{db}";
    size_t n = strlen(tpl) + 1, dl = strlen(db);
    for (const char *p = strstr(tpl, tok); p; p = strstr(p + 1, tok)) {
        n += dl;
    }
    char *s = malloc(n), *o = s;
    if (!s) {
        return NULL;
    }
    for (const char *p = tpl; *p;) {
        if (strncmp(p, tok, sizeof tok - 1) == 0) {
            memcpy(o, db, dl);
            o += dl;
            p += sizeof tok - 1;
        } else {
            *o++ = *p++;
        }
    }
    *o = '\0';
    return s;
}

bool
chschema_sql(const char *database, char *out[CHSCHEMA_NSTMTS])
{
    out[0] = chschema_fmt("CREATE DATABASE IF NOT EXISTS {db}", database);
    out[1] = chschema_fmt(chschema_table, database);
    out[2] = chschema_fmt(chschema_agg, database);
    out[3] = chschema_fmt(chschema_view, database);
    for (int i = 0; i < CHSCHEMA_NSTMTS; i++) {
        if (!out[i]) {
            chschema_free(out);
            return false;
        }
    }
    return true;
}

void
chschema_free(char *out[CHSCHEMA_NSTMTS])
{
    for (int i = 0; i < CHSCHEMA_NSTMTS; i++) {
        free(out[i]);
        out[i] = NULL;
    }
}
