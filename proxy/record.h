/*
 * record.h - the record of one completed statement: everything the slow log, the statistics
 * and auto-EXPLAIN need to know about it, independent of the session that ran it.
 *
 * A record handed to slowlog or explain is self-contained (its strings are its own), so it can
 * outlive the session and cross threads. Records are allocated only for statements that are
 * logged (over the threshold); statistics take the fields they need by value.
 */
#ifndef SLOWTAP_RECORD_H
#define SLOWTAP_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../explain/plan.h"

enum rec_explain_source {
    REC_EXPLAIN_NONE = 0, /* no plan: auto-EXPLAIN off, not explainable, or failed */
    REC_EXPLAIN_LIVE,     /* SHOW EXPLAIN FOR <thread> while the statement ran */
    REC_EXPLAIN_AFTER,    /* EXPLAIN <statement> after it completed */
    REC_EXPLAIN_CACHED,   /* plan of the same shape, explained within --explain-interval */
};

struct rec {
    /* identity */
    int64_t start_wall_us; /* CLOCK_REALTIME at the command's first byte, microseconds */
    uint32_t thread_id;    /* backend connection id (server greeting) */
    char user[64];
    char host[64];   /* client address, "" for a unix socket */
    char schema[64]; /* current schema when the command ran, "" when none */
    uint8_t cmd;     /* command byte (COM_QUERY, COM_STMT_EXECUTE, ...) */

    /* the statement: verbatim SQL (for prepared statements, with parameters substituted) */
    char *sql; /* heap, NUL-terminated */
    size_t sql_len;
    bool sql_truncated; /* longer than the proxy keeps; sql is its first part */
    char *params;       /* heap "# Params:" content ('a', 42, NULL), NULL when none */
    char *prepared_sql; /* heap: the statement as prepared (with ?), NULL for COM_QUERY */
    uint32_t bulk_rows; /* COM_STMT_BULK_EXECUTE: rows of parameters (params: the first) */
    uint64_t digest;    /* of the fingerprint */
    char *fingerprint;  /* heap, NULL when not computed */
    bool explainable;   /* a kind auto-EXPLAIN may run */

    /* what it cost and returned */
    uint64_t query_us; /* first byte of the command to last byte of the response */
    uint64_t rows_sent;
    uint64_t rows_affected;
    uint64_t bytes_sent; /* response bytes sent to the client, headers included */
    uint16_t status;     /* server status flags seen (OR of OK/EOF flags) */
    uint16_t err_code;   /* 0 or the server's error */
    char err_msg[256];

    /* auto-EXPLAIN */
    enum rec_explain_source explain_source;
    struct plan *plan;       /* heap, NULL when none */
    char explain_error[256]; /* "" or why there is no plan */

    /* internal: live-explain correlation, set by the session */
    uint64_t live_token; /* 0 when no live explain was requested */
};

/* "live", "after", "cached"; NULL for REC_EXPLAIN_NONE. */
const char *rec_explain_source_name(enum rec_explain_source s);

/* Allocates a zeroed record. Returns NULL when out of memory. */
struct rec *rec_new(void);
/* Frees a record and everything it owns (NULL is fine). */
void rec_free(struct rec *r);
/* Replaces r->sql with a copy of s[0..n). False when out of memory. */
bool rec_set_sql(struct rec *r, const char *s, size_t n);

#endif
