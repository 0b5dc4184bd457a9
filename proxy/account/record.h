/*
 * record.h - the record of one completed statement: everything the slow log, the statistics
 * and auto-EXPLAIN need to know about it, independent of the session that ran it.
 *
 * A record handed to explain is self-contained (its strings are its own), so it can outlive
 * the session and cross threads. One that goes straight to the slow log may instead point at
 * the session's strings (`lent`): the statement text, the prepared text, the fingerprint and
 * the tags, valid only until the command's accounting returns to the relay; rec_own() makes
 * them its own before the record is handed over. Records are allocated only for statements
 * that are logged (over the threshold); statistics take the fields they need by value.
 *
 * Auto-EXPLAIN sees only the record's `explain` member (struct explain_job, explain/explain.h):
 * rec_explain_job() points its input at the record's own strings and hands it over;
 * explain fills its output (plan, source, error, advice, lock wait, blocker, server figures)
 * and gives the job back to main's done hook, which gets the record back with
 * rec_from_explain_job() and writes the slow log and the explain log from it.
 */
#ifndef SLOWTAP_RECORD_H
#define SLOWTAP_RECORD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "explain/explain.h"
#include "protocol/proto_tags.h"
#include "proxy/account/findings.h"

struct rec {
    /* identity */
    int64_t start_wall_us; /* CLOCK_REALTIME at the command's first byte, microseconds */
    uint32_t thread_id;    /* backend connection id (server greeting) */
    char user[64];
    char host[64];      /* client address, "" for a unix socket */
    char schema[64];    /* current schema when the command ran, "" when none */
    unsigned lex_mode;  /* PROTO_SQLMODE_* the statement was lexed under (for redaction) */
    bool sql_mode_set;  /* the session assigned its sql_mode (else the server's default) */
    char sql_mode[256]; /* then: the mode list it set, "" for DEFAULT */
    uint8_t cmd;        /* command byte (COM_QUERY, COM_STMT_EXECUTE, ...); a
                           COM_STMT_PREPARE's sql is the statement it prepared */
    bool unknown_stmt;  /* an execute of a statement id no prepare of the session returned */
    uint32_t stmt_id;   /* then: that id (0xFFFFFFFF: "the one just prepared") */

    /* the statement: verbatim SQL (for prepared statements, with parameters substituted) */
    const char *sql; /* heap or lent, NUL-terminated */
    size_t sql_len;
    bool sql_truncated;       /* longer than the proxy keeps; sql is its first part */
    char *params;             /* heap "# Params:" content ('a', 42, NULL), NULL when none */
    const char *prepared_sql; /* the statement as prepared (with ?), NULL for COM_QUERY */
    uint32_t bulk_rows;       /* COM_STMT_BULK_EXECUTE: rows of parameters (params: the first) */
    uint64_t digest;          /* of the fingerprint */
    const char *fingerprint;  /* NULL when not computed */
    bool explainable;         /* a kind auto-EXPLAIN may run */

    /* what it cost and returned */
    uint64_t query_us; /* from when the server could start it (its last byte arrived, the
                          answer before it ended) to the last byte of its response */
    uint64_t queue_us; /* before that: waiting behind the connection's earlier commands */
    uint64_t rows_sent;
    uint64_t rows_affected;
    uint64_t bytes_sent; /* response bytes sent to the client, headers included */
    uint16_t status;     /* server status flags seen (OR of OK/EOF flags) */
    uint16_t err_code;   /* 0 or the server's error */
    char err_msg[256];
    /* A statement whose response never ended: why (a static string without spaces,
     * "client_gone", "backend_lost", "shutdown", "proxy_error"), NULL when it ended normally.
     * query_us then runs to the moment slowtap gave up on it. */
    const char *interrupted;
    /* With interrupted "untracked": why slowtap lost track of the session at this command (a
     * static token such as "unplaceable_response"; session.c lists them). */
    const char *untracked;
    /* The transaction this command ended, when it ended one (trx_ended). */
    bool trx_ended;
    uint32_t trx_stmts;     /* commands in it, this one included */
    uint64_t trx_us;        /* from the first byte of its first command to now */
    uint64_t trx_idle_us;   /* time between its commands: the application's, not the server's */
    int64_t trx_wall_start; /* realtime us when it began */

    /* tags from the statement's comments (sqlcommenter, marginalia; for an execute, those of
     * its PREPARE text): heap, NULL when it had none */
    const struct proto_tags *tags;
    /* it repeats a shape in an N+1 run (findings.h): the run so far, for `# N_plus_one:` */
    struct findings_mark n_plus_one;

    /* Which of sql, prepared_sql, fingerprint, tags and params are lent (REC_LENT_*): not the
     * record's to free; rec_own copies them. */
    unsigned lent;

    /* auto-EXPLAIN (explain/explain.h): the session sets live_token, pfs_only and log;
     * rec_explain_job() the rest of the input. The output: plan, source, error, index_advice,
     * analyze, has_lock_wait/lock, blocker (a struct sessreg_view from sessreg_snapshot, heap),
     * has_pfs/pfs. Freed by rec_free. */
    struct explain_job explain;
};

#define REC_LENT_SQL         1u
#define REC_LENT_PREPARED    2u
#define REC_LENT_FINGERPRINT 4u
#define REC_LENT_TAGS        8u
#define REC_LENT_PARAMS      16u

/* Allocates a zeroed record. Returns NULL when out of memory. */
struct rec *rec_new(void);
/* As rec_new, but the strings user, host, schema, sql_mode, err_msg, explain.tmp_table and
 * explain.error are empty with undefined bytes after their NUL (a reused record is not zeroed
 * there): for a caller that writes them (strcopy) or leaves them empty, and a reader that
 * stops at the NUL. */
struct rec *rec_new_fill(void);
/* Frees a record and everything it owns, explain's output too (NULL is fine). */
void rec_free(struct rec *r);

/* A thread that makes a record per logged statement (a worker) keeps the last one it released
 * for its next rec_new between these two calls: struct rec is too large for malloc's per-thread
 * cache, and its allocation and release cost ~400 instructions per statement. rec_cache_end
 * frees the kept one; call it before the thread exits. Other threads free as usual. */
void rec_cache_begin(void);
void rec_cache_end(void);
/* Between those calls: the thread's scratch of at least n bytes for strings a record lends
 * (an execute's substituted statement and parameters): valid until the next call on the
 * thread, so a record using it must be written or rec_own'd first, as with every lent string.
 * NULL on other threads or when out of memory (then the caller allocates). Freed by
 * rec_cache_end. */
char *rec_scratch(size_t n);
/* Makes the record's lent strings its own (copies them): before it goes to another thread.
 * False when out of memory (what could not be copied stays lent). */
bool rec_own(struct rec *r);
/* Replaces r->sql with a copy of s[0..n). False when out of memory. */
bool rec_set_sql(struct rec *r, const char *s, size_t n);

/* Points r->explain's input at the record (statement, prepared text, schema, the sql_mode the
 * session set, thread id, digest, times, explainable, interrupted) and returns it for
 * explain_submit. The record must not change until explain hands the job back. */
struct explain_job *rec_explain_job(struct rec *r);
/* The record whose `explain` member j is (a job main's done hook got back). */
struct rec *rec_from_explain_job(struct explain_job *j);

#endif
