/*
 * requests.h - recent requests (units of work, findings.h) with their statements in order, as
 * a debug toolbar lists one request: per route, the slowest K and the latest K.
 *
 * Recording (worker thread, account.c): the session appends each statement of its open unit
 * of work to an in-progress request of its own (struct requests_req, heap; a statement's
 * digest, parameters' hash, times, rows, and its text cut to REQUESTS_TEXT_MAX bytes). Past
 * `stmts_max` statements (--requests-statements) only the count and the time grow; the request
 * says how many were cut. When the unit ends the request goes to the worker's struct
 * requests_local (a list, no lock), which the worker merges into the shared store from its
 * timer once a second under one mutex, as the statistics do (stats.h); a full list
 * (REQUESTS_LOCAL_MAX) merges at once when the mutex is free (trylock), else the request is
 * dropped and counted. Going on the list, a request gets its N+1 and duplicate groups (the rule
 * of findings.h, over the statements kept) and gives the findings table the examples of its
 * N+1 findings (that table's mutex, once per N+1 group).
 *
 * The shared store keeps, per route (untagged requests under REQUESTS_NO_ROUTE), the K slowest
 * (by duration: first statement's start to last response's end) and the K latest requests
 * (--requests-keep K; 0 keeps none and records nothing). Routes: at most REQUESTS_ROUTES_MAX;
 * a new one evicts the route seen least recently. Memory: at most REQUESTS_MEM_MAX bytes of
 * requests; over it the oldest latest-only requests go first (counted as evicted). Readers
 * (the HTTP thread) copy what they show under the mutex.
 */
#ifndef SLOWTAP_REQUESTS_H
#define SLOWTAP_REQUESTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define REQUESTS_TEXT_MAX   512 /* bytes of a statement's text kept */
#define REQUESTS_ROUTE_MAX  128 /* bytes of a route name, NUL included (ROUTES_NAME_MAX) */
#define REQUESTS_SCHEMA_MAX 64  /* ACCT_SCHEMA_MAX */
#define REQUESTS_ROUTES_MAX 256 /* routes the store keeps requests for */
#define REQUESTS_GROUPS_MAX 32  /* N+1 and duplicate groups kept per request */
#define REQUESTS_LOCAL_MAX  64  /* completed requests a worker holds between merges */
#define REQUESTS_MEM_MAX    ((size_t)64 << 20)
#define REQUESTS_SPARE      64 /* finished requests a worker keeps for reuse */
#define REQUESTS_NO_ROUTE   "(no route)"

struct findings_table;

/* One statement of a request. */
struct requests_stmt {
    uint64_t digest;
    uint64_t params;   /* findings_hash of its parameters */
    int64_t offset_us; /* its start, from the request's start */
    uint64_t query_us;
    uint64_t rows_sent, rows_affected;
    uint32_t text_off, text_len; /* in the request's text */
    bool error;
    bool candidate;   /* a data statement (findings.h) */
    bool prepared;    /* an execute: the text is the prepared one, with ? */
    bool text_cut;    /* text is only its first REQUESTS_TEXT_MAX bytes (or was cut on the wire) */
    bool explainable; /* its text can be EXPLAINed as it is on another connection (a whole text
                         data statement, no temporary table of the session, lexed the same
                         under the server's sql_mode: stats_sample.example_explainable) */
};

enum requests_group_kind { REQUESTS_N_PLUS_ONE = 0, REQUESTS_DUPLICATE = 1 };

/* An N+1 run or a duplicated statement inside one request (indexes into its statements). */
struct requests_group {
    enum requests_group_kind kind;
    uint64_t parent, child; /* digests; parent 0 for a duplicate */
    uint32_t parent_idx;    /* N+1: the parent statement; duplicate: the first one */
    uint32_t first_idx;     /* the first child (duplicate: the first repeat) */
    uint32_t count;         /* N+1: child executions in the run; duplicate: executions */
    uint64_t total_us;
};

/* One request. Built by the session (requests_begin/_add), owned by the store once handed
 * over; readers get deep copies (requests_get) or summaries (requests_list). */
struct requests_req {
    uint64_t id; /* given by the store, from 1 */
    char route[REQUESTS_ROUTE_MAX];
    char trace_id[33];
    char schema[REQUESTS_SCHEMA_MAX];
    int64_t start_wall_us;
    int64_t start_us, end_us; /* monotonic */
    uint64_t db_us;           /* its statements' time */
    uint64_t dur_us;          /* requests_duration_us, once finished */
    uint32_t nstmts;          /* statements it ran */
    uint32_t nkept;           /* of them in stmts[] (the first ones) */
    uint32_t ngroups;
    uint32_t groups_cut;           /* groups past REQUESTS_GROUPS_MAX */
    struct requests_group *groups; /* heap, ngroups of them (found at merge), or NULL */
    struct requests_stmt *stmts;
    char *text;
    uint32_t text_len, text_cap, stmts_cap;
    /* store internals */
    unsigned refs;
    struct requests_req *next;
};

/* ---- the session (worker thread) ---- */

struct requests_local;

/* A new in-progress request, one of the worker's spare ones (`l`, may be NULL) when it has one:
 * a finished request the worker dropped or pushed out is kept for reuse with its buffers (at
 * most REQUESTS_SPARE of the small ones, some 200 KB), which spares the allocations when every statement is
 * a request of its own. NULL when out of memory (the unit then goes unrecorded). */
struct requests_req *requests_begin(struct requests_local *l, int64_t start_us,
                                    int64_t start_wall_us, const char *schema,
                                    const char *trace_id);
/* One statement: `text` (len bytes; cut counts as cut on the wire) is copied up to
 * REQUESTS_TEXT_MAX. Past `stmts_max` kept statements, only counted. */
void requests_add(struct requests_req *r, uint32_t stmts_max, const struct requests_stmt *st,
                  const char *text, size_t len, bool cut, int64_t end_us);
/* The request's route (the first one its statements named); "" leaves it unset. */
void requests_set_route(struct requests_req *r, const char *route);
void requests_req_free(struct requests_req *r);
uint64_t requests_duration_us(const struct requests_req *r);
/* Finds r's N+1 runs (>= n_plus_one_min) and duplicates (>= 2) over its kept statements. */
void requests_find_groups(struct requests_req *r, uint32_t n_plus_one_min);

/* ---- the store ---- */

struct requests;

/* keep: K (0: the store keeps nothing). findings: N+1 examples go there; may be NULL. */
struct requests *requests_new(unsigned keep, uint32_t n_plus_one_min,
                              struct findings_table *findings);
void requests_free(struct requests *s);
unsigned requests_keep(const struct requests *s);

struct requests_local *requests_local_new(struct requests *s);
void requests_local_free(struct requests_local *l); /* merges first */
/* A completed request (the local list owns it now; NULL is ignored). */
void requests_local_add(struct requests_local *l, struct requests_req *r);
void requests_local_merge(struct requests_local *l);

/* A request's summary, for lists. */
struct requests_summary {
    uint64_t id;
    char route[REQUESTS_ROUTE_MAX];
    char trace_id[33];
    int64_t start_wall_us;
    uint64_t duration_us, db_us;
    uint32_t nstmts, nkept;
    uint32_t n_plus_one, duplicates; /* groups */
    bool slowest, latest;            /* in which of the route's lists it is */
};

struct requests_route {
    char route[REQUESTS_ROUTE_MAX];
    struct requests_summary *r; /* slowest first */
    size_t n;
};

struct requests_listing {
    struct requests_route *routes; /* by their slowest request, descending */
    size_t n;
    unsigned keep;
    uint64_t recorded, evicted, dropped; /* requests handed to the store, pushed out for
                                           memory, dropped (a worker's list was full) */
};

/* The routes (only `route` when not NULL) with their requests. False when out of memory. */
bool requests_list(struct requests *s, const char *route, struct requests_listing *out);
void requests_listing_free(struct requests_listing *l);
/* A deep copy of request `id` (free with requests_req_free); NULL when unknown or out of
 * memory. */
struct requests_req *requests_get(struct requests *s, uint64_t id);

#endif
