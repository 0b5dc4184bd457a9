/*
 * account.h - what a completed command becomes: the worker's counters, its per-shape
 * statistics sample, its route's figures, the N+1/duplicate findings of its unit of work, the
 * session's transaction (followed through the server status) and, for a statement worth
 * logging or explaining, a struct rec.
 *
 * Contract: the relay (proxy/relay/session.c) fills a struct acct_cmd on its stack when the
 * response to a command ends, or when the session gives up on it, and calls acct_command()
 * on the worker's thread. Nothing here does I/O, blocks or takes a lock; nothing is allocated
 * unless a record is made. The record is not sent anywhere from here: acct_command() returns
 * it in struct acct_out with what it is for, and the caller hands it on (auto-EXPLAIN, the
 * slow log) and owns it from then on. Layering: this library sits below proxy/output and
 * proxy/relay and never calls them (meson's layercheck_account).
 */
#ifndef SLOWTAP_ACCOUNT_H
#define SLOWTAP_ACCOUNT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "protocol/proto_resp.h"
#include "protocol/proto_sqlmode.h"
#include "protocol/proto_stmt.h"
#include "proxy/account/counters.h"
#include "proxy/account/findings.h"
#include "proxy/account/record.h"

struct ddl_log;
#include "proxy/account/stats.h"

struct explain;
struct filter;
struct requests_local;
struct requests_req;
struct routes_local;
struct sessreg_entry;
struct stats_local;

/* One worker's accounting: set up with the worker, read on its thread only. */
struct acct_ctx {
    const struct conf *conf;
    const struct filter *filter;     /* NULL without --include/--exclude */
    struct explain *explain;         /* NULL when auto-EXPLAIN is off */
    uint64_t explain_threshold_us;   /* statements explained from this duration */
    struct counters *counters;       /* the worker's */
    struct stats_local *stats;       /* the worker's per-shape table */
    struct routes_local *routes;     /* the worker's per-route table */
    struct ddl_log *ddl;             /* DDL markers (ddl.h); may be NULL */
    struct requests_local *requests; /* the worker's completed requests (requests.h); NULL:
                                        none recorded */
    uint32_t requests_stmts_max;     /* --requests-statements */
};

/*
 * The session's transaction, followed through SERVER_STATUS_IN_TRANS: it begins with the
 * first command whose response says "in transaction" and ends with the first whose response
 * no longer does (COMMIT, ROLLBACK, an implicit commit, or the server rolling back after a
 * deadlock), or with the session.
 */
struct acct_trx {
    bool open;
    int64_t start;      /* monotonic us: the first byte of the command that began it */
    int64_t wall_start; /* realtime us, for the log */
    int64_t last_end;   /* monotonic us: when the response to its last command ended */
    uint32_t stmts;     /* commands inside it, the one that began it and the one that ended it
                           included */
    int64_t idle_us;    /* between the end of one of its commands and the start of the next */
};

/* One session's accounting state (embedded in the session; acct_sess_init/_end). */
struct acct_fpcache;
struct acct_sess {
    struct acct_trx trx;       /* the transaction open now, if any */
    struct findings_sess fnd;  /* the unit of work, for N+1 and duplicates (findings.h) */
    struct sessreg_entry *reg; /* published for other threads once a transaction opened */
    struct acct_fpcache *fpc;  /* the last text statement's analysis (heap, on first use) */
    struct acct_tmptabs *tmp;  /* its temporary tables (heap, on the first one created) */
    struct requests_req *req;  /* its unit of work's statements so far (requests.h), or NULL */
    uint32_t req_unit;         /* fnd.unit that req records */
};

/* A prepared statement as the relay's table knows it (pstmt.h), for an execute. */
struct acct_stmt {
    const char *sql; /* as prepared, with ? placeholders */
    size_t sql_len;
    uint64_t digest;               /* of its fingerprint */
    const char *fingerprint;       /* never NULL */
    const char *route;             /* its PREPARE text's route, NULL when none */
    const struct proto_tags *tags; /* its PREPARE text's tags, NULL when none */
    const uint32_t *ph_offs;       /* its `?` placeholders (proto_placeholders), nph of them */
    unsigned nph;
    bool explainable;
    uint16_t nparams;
    struct proto_param_type *types; /* the types bound last; decoding records new ones */
    const struct proto_long_data *long_data;
};

/* A completed command, as the relay saw it. Pointers are borrowed for the call only. */
struct acct_cmd {
    uint8_t cmd;             /* command byte (PROTO_COM_*) */
    const char *buf;         /* copy of its payload, command byte included; NULL when none */
    size_t len;              /* bytes in buf */
    uint64_t total;          /* payload bytes it really had (more than len: the copy was cut) */
    int64_t t_start;         /* monotonic us when the server could start it: its last byte
                                had arrived and the answer to the connection's command before
                                it had ended (pipelining); Query_time runs from here */
    uint64_t queue_us;       /* from its last byte to t_start: waiting behind earlier commands */
    int64_t wall_start;      /* realtime us at t_start */
    int64_t t_end;           /* monotonic us at the end of its response, or when given up */
    uint64_t bytes;          /* response bytes relayed to the client */
    uint64_t live_token;     /* explain_live()'s token, 0 when no live capture was asked */
    bool ended;              /* its response ended; false: the session gave up on it (then no
                             transaction is followed and a USE does not count) */
    const char *interrupted; /* why it did not end, or "client_gone" (rec.h); or NULL */
    const char *untracked;   /* the session lost track here (fail open): why, a token; or NULL */
    const struct proto_resp *resp; /* its response: rows, status flags, error */
    const struct acct_stmt *stmt;  /* an execute's prepared statement; NULL when none */
    /* the session it ran in */
    uint32_t thread_id;
    const char *user, *host;
    char *schema;      /* the session's current schema (ACCT_SCHEMA_MAX bytes); a USE that
                     succeeded changes it here */
    unsigned sql_mode; /* PROTO_SQLMODE_* in force */
    const struct proto_sqlmode *set_mode; /* what its SET sql_mode statements said */
};

#define ACCT_SCHEMA_MAX 64

/* What acct_command() made of the command. */
struct acct_out {
    struct rec *rec; /* NULL, or a record for the caller to hand on and then own */
    bool slow;       /* the record belongs in the slow log */
    bool explain;    /* submit it to auto-EXPLAIN for a plan; rec->explain.pfs_only: submit
                        it only for the server's figures (pfs.h), no plan */
    /* Where a statement's fingerprint and tags are made; the record may point here and at
     * the command's text (rec->lent), so the caller keeps this and the struct acct_cmd's
     * strings until it has written the record, or calls rec_own before handing it on. */
    char fp[STATS_FINGERPRINT_MAX];
    struct proto_tags tags;
};

void acct_sess_init(struct acct_sess *as, const struct findings_conf *fc);

/* The session ends: an open transaction ends with it (the server rolls it back) and is
 * counted, the session leaves the registry, its unit of work ends at `wall_us`. */
void acct_sess_end(struct acct_sess *as, const struct acct_ctx *ctx, int64_t now_us,
                   int64_t wall_us);

/* The worker's tick (monotonic `now_us`), for a session with no command running: a unit of work
 * idle for --request-gap outside a transaction (ACCT_TRACED_IDLE_US when it has a trace id)
 * ends now rather than at the session's next command, so its request is listed without waiting
 * for the next one (requests.h). Cheap when there is nothing to end. */
#define ACCT_TRACED_IDLE_US (5 * 1000000LL)
void acct_idle(struct acct_sess *as, const struct acct_ctx *ctx, int64_t now_us);

/* Realtime us at which the session's open transaction began; 0 when none is open. */
int64_t acct_trx_wall_start(const struct acct_sess *as);

/*
 * Accounts for a completed command: follows the transaction (when c->ended), counts it,
 * adds its statistics sample, route and findings, and makes a record when it is slow, ended
 * a long transaction, did not finish, or is to be explained (and passes --include/--exclude).
 */
void acct_command(struct acct_sess *as, const struct acct_ctx *ctx, const struct acct_cmd *c,
                  struct acct_out *out);

/* Counts a command that has no response (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA). */
void acct_no_response(const struct acct_ctx *ctx);
/* Frees the worker thread's cache of statement shapes (the analyses of text statements by
 * skeleton, shared by the thread's sessions); call it before a worker thread exits. */
void acct_thread_end(void);

#endif
