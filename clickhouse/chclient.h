/*
 * chclient.h - the ClickHouse side of slowtap: the sink's address
 * (clickhouse://[user[:password]@]host[:port][/database]) and one HTTP connection to ClickHouse's
 * HTTP interface (libcurl, kept alive between requests). Used by the sink thread
 * (proxy/output/chsink.c) and by `slowtap report clickhouse://...` (report/report_ch.c).
 * Blocking calls, each bounded by a timeout: never call them from an event loop.
 */
#ifndef SLOWTAP_CHCLIENT_H
#define SLOWTAP_CHCLIENT_H

#include <stdbool.h>
#include <stddef.h>

#include "common/churl.h"

/* Initialises libcurl once; call from the main thread before any other thread starts one
 * (chclient_new calls it too). False when libcurl cannot start. */
bool chclient_init(void);

/* One HTTP client. */
struct chclient;

/* A client for `u` (copied), with `password` (NULL: the address's own, or none). NULL when out
 * of memory or libcurl cannot start. */
struct chclient *chclient_new(const struct churl *u, const char *password);
void chclient_free(struct chclient *c);

/* What one request got. */
struct chclient_result {
    bool ok;       /* HTTP 200 */
    bool unknown;  /* no answer (any transport error, a cut answer, a timeout): the statement
                      may or may not have run (libcurl resends a request on a fresh
                      connection when a kept-alive one died, so even a refused connection
                      can follow a request the server ran) */
    long status;   /* HTTP status, 0 when no answer (connection refused, timeout) */
    int ch_code;   /* ClickHouse's "Code: N" from an error answer, 0 when none */
    char err[256]; /* one line: curl's error or the first line of ClickHouse's answer */
    char *body;    /* the answer (NUL-terminated, heap), NULL when none; caller frees */
    size_t body_len;
};

/*
 * POSTs `body` (n bytes; may be NULL/0) to "/?query=<query>" with the settings that slowtap's
 * rows need (date_time_input_format=best_effort, input_format_skip_unknown_fields=1,
 * output_format_json_quote_64bit_integers=0), waiting at most timeout_ms for the whole request.
 * Fills *res (res->body only when want_body). Returns res->ok.
 */
bool chclient_post(struct chclient *c, const char *query, const char *body, size_t n,
                   long timeout_ms, bool want_body, struct chclient_result *res);

/* Frees res->body. */
void chclient_result_free(struct chclient_result *res);

/* ---- the schema (statements table, per-minute aggregate, its materialized view) ---- */

#define CHSCHEMA_TABLE    "statements"
#define CHSCHEMA_AGG      "statements_1m"
#define CHSCHEMA_AGG_VIEW "statements_1m_mv"
#define CHSCHEMA_NSTMTS   4

/*
 * The CREATE statements, in order (database, table, aggregate, view), for `database`, each IF
 * NOT EXISTS, as ClickHouse 18.16 accepts them. Returns heap strings in out[]; false when out
 * of memory (nothing to free then).
 */
bool chschema_sql(const char *database, char *out[CHSCHEMA_NSTMTS]);
void chschema_free(char *out[CHSCHEMA_NSTMTS]);

#endif
