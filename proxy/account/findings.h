/*
 * findings.h - N+1 and duplicate statements found on the wire, per unit of work.
 *
 * The unit of work (what N+1 detection and "statements per request" count in) of one
 * connection is, in order of precedence:
 *   1. the statements sharing a trace id (traceparent tag): a new trace id starts a new unit;
 *   2. else the statements of one transaction (from the command that opened it to the one that
 *      ended it);
 *   3. else the statements between two idle gaps of at least --request-gap (the time from the
 *      end of one response to the start of the next command); with requests recorded
 *      (requests.h), the worker's tick ends such a unit once the gap has passed (acct_idle), and
 *      a traced unit idle for 5 s;
 *   4. pool markers end a unit and belong to none: a ROLLBACK or COMMIT outside a transaction
 *      (SQLAlchemy's pool on check-in), COM_RESET_CONNECTION, COM_PING.
 *
 * In one unit, >= n_plus_one_min sequential executions of one shape with parameters that
 * differ from the previous execution's, right after a statement of another shape (the parent),
 * are an N+1 finding (parent, child, count, total time). One shape executed with the same
 * parameters twice or more is a duplicate finding. Only data statements (candidates: SELECT,
 * INSERT, REPLACE, UPDATE, DELETE) take part; other statements neither break a run nor become
 * parents.
 *
 * Memory: per session a fixed struct findings_sess (no allocation); the shared table of
 * findings holds at most FINDINGS_MAX pairs (the least costly is evicted) under one mutex,
 * taken once per finding (at the end of a run or unit), never per statement.
 */
#ifndef SLOWTAP_FINDINGS_H
#define SLOWTAP_FINDINGS_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FINDINGS_DUP_SLOTS   32  /* (shape, parameters) pairs remembered per unit */
#define FINDINGS_ROUTE_MAX   128 /* bytes of a route kept, NUL included */
#define FINDINGS_MAX         512 /* (kind, parent, child) pairs in the shared table */
#define FINDINGS_EXAMPLE_MAX 512 /* bytes of an N+1 finding's own example statements kept */

enum findings_kind { FINDINGS_N_PLUS_ONE = 0, FINDINGS_DUPLICATE = 1 };

struct findings_table;

/* Called when a unit of work that had at least one statement ends. */
typedef void (*findings_unit_cb)(void *arg, const char *route, uint32_t stmts);

struct findings_conf {
    int64_t request_gap_us;
    uint32_t n_plus_one_min;
    struct findings_table *table; /* where findings go; may be NULL (then only marks) */
    findings_unit_cb unit_end;    /* may be NULL */
    void *unit_arg;
};

/* One completed command, as the session saw it. Strings are read during the call only. */
struct findings_stmt {
    uint64_t digest;
    uint64_t params; /* findings_hash of the parameter values */
    uint64_t query_us;
    int64_t start_us;     /* monotonic: first byte of the command */
    int64_t end_us;       /* monotonic: end of its response */
    int64_t wall_us;      /* realtime at its end */
    const char *trace_id; /* NULL or "" when untagged */
    const char *route;    /* NULL when untagged */
    bool candidate;       /* a data statement (takes part in findings) */
    bool trx_before;      /* a transaction was open before it */
    bool trx_after;       /* one is open after it */
    bool pool_marker;     /* see above */
};

/* What the statement's slow-log entry says: it is the count-th repeat of an N+1 run. */
struct findings_mark {
    bool n_plus_one;
    uint64_t child, parent;
    uint32_t count;
    uint64_t total_us;
};

struct findings_dup {
    uint64_t digest, params, total_us;
    uint32_t n, unit;
};

/* Per-session state; zero it, then findings_sess_init. */
struct findings_sess {
    const struct findings_conf *conf;
    bool open;      /* a unit is open */
    bool end_after; /* the last statement ended its unit */
    uint32_t unit;  /* generation of the open unit (dup slots of older ones are stale) */
    uint32_t stmts;
    int64_t last_end;
    char trace_id[33];
    char route[FINDINGS_ROUTE_MAX];
    uint64_t prev_digest; /* the last candidate statement's shape in the unit, 0 when none */
    uint64_t run_digest, run_parent, run_params, run_total;
    uint32_t run_count;
    char run_route[FINDINGS_ROUTE_MAX];
    struct findings_dup dup[FINDINGS_DUP_SLOTS];
};

void findings_sess_init(struct findings_sess *fs, const struct findings_conf *conf);
/* Feeds one completed command; fills *mark (zeroed first). */
void findings_sess_stmt(struct findings_sess *fs, const struct findings_stmt *st,
                        struct findings_mark *mark);
/* Ends the open unit (the session closes, or the connection was reset). */
void findings_sess_end(struct findings_sess *fs, int64_t wall_us);

/* True when s[0..n) contains a C-style comment start (a vectorised memchr for the slash:
 * glibc's memmem costs about 8 instructions a byte here). */
bool findings_has_comment(const char *s, size_t n);

/* A hash of parameter text or bytes for findings_stmt.params. skip_comments: C-style comments
 * are left out (tags in them change per request, the parameters do not). */
uint64_t findings_hash(const void *p, size_t n, bool skip_comments);

/* ---- the shared table ---- */

struct findings_entry {
    enum findings_kind kind;
    uint64_t parent; /* 0 for a duplicate */
    uint64_t child;
    char route[FINDINGS_ROUTE_MAX]; /* of the last occurrence, "" when untagged */
    uint64_t occurrences;           /* units in which it was found */
    uint64_t executions;            /* child executions in them */
    uint32_t max_count;             /* most executions in one unit */
    uint32_t last_count;
    uint64_t total_us; /* their time */
    int64_t first_seen_us, last_seen_us;
    /* N+1: its own parent and child statements, from the last request that had it and was
     * kept (requests.h), and that request's route; "" when none came yet */
    char parent_example[FINDINGS_EXAMPLE_MAX];
    char child_example[FINDINGS_EXAMPLE_MAX];
    char example_route[FINDINGS_ROUTE_MAX];
};

struct findings_table *findings_table_new(void);
void findings_table_free(struct findings_table *t);
/* Counts one finding (takes the mutex). */
void findings_table_add(struct findings_table *t, enum findings_kind kind, uint64_t parent,
                        uint64_t child, uint32_t count, uint64_t total_us, const char *route,
                        int64_t wall_us);
/* The N+1 finding (parent, child), when the table has it: its parent and child statements
 * (text and length, not NUL-terminated; cut to FINDINGS_EXAMPLE_MAX - 1) and their route
 * (takes the mutex; nothing when unknown). */
void findings_table_examples(struct findings_table *t, uint64_t parent, uint64_t child,
                             const char *ptext, size_t plen, const char *ctext, size_t clen,
                             const char *route);
/* Puts back a finding saved in a state file (a table that has room; else dropped). */
void findings_table_put(struct findings_table *t, const struct findings_entry *e);
/* Copies the findings sorted by total time, descending (at most `limit`, 0 = all) into a
 * malloc'ed array (*out, free() it). Returns the number, or 0 (with *out NULL) when none or
 * out of memory. *total_found gets the findings counted since start, per kind. */
size_t findings_table_snapshot(struct findings_table *t, size_t limit, struct findings_entry **out,
                               uint64_t total_found[2]);

#endif
