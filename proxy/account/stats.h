/*
 * stats.h - per-statement-shape statistics for every statement, keyed by digest: count,
 * errors, total/min/max time, a latency histogram, rows sent and affected, first/last seen,
 * the last plan flags and plan, one example statement; from auto-EXPLAIN, what the server measured
 * and the lock waits of its slow statements.
 *
 * Workers record into a table of their own (struct stats_local: no lock, no allocation on the
 * per-statement path: its slots are allocated up front) and merge it into the shared table
 * (struct stats, one mutex) from a timer, about once a second, and before exit. The shared
 * table holds at most --max-digests shapes; when full, the least costly (smallest total time)
 * is evicted and counted (a min-heap by total time: O(log n) per merged shape).
 *
 * The example kept is the statement of the slowest execution seen (the caller redacts it).
 * Memory: the shared table and each local table allocate all their slots up front (about
 * 3.4 KB per local slot, 4.1 KB per shared one with its lock-wait figures; calloc'ed, so
 * untouched slots cost no resident memory).
 */
#ifndef SLOWTAP_STATS_H
#define SLOWTAP_STATS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "explain/lockwait.h"
#include "explain/pfs.h"
#include "explain/plan.h"
#include "proxy/account/histogram.h"
#include "proxy/account/sessreg.h"
#include "proxy/account/window.h"
#include "protocol/proto_shapename.h"

#define STATS_EXAMPLE_MAX     1024 /* bytes of the example statement kept */
#define STATS_FINGERPRINT_MAX 1024 /* bytes of the fingerprint kept */
#define STATS_SCHEMA_MAX      64   /* bytes of the example's schema kept (ACCT_SCHEMA_MAX) */
#define STATS_NOINDEX_QUEUE   64   /* new no-index shapes queued for stats_take_noindex */

struct stats;
struct stats_local;
struct stats_digest;

/* What a worker records per completed statement. The strings are only read during the call. */
struct stats_sample {
    uint64_t digest;
    const char *fingerprint; /* may be NULL: then computed from example when first seen */
    size_t fingerprint_len;
    const char *example; /* the statement (already redacted when redaction is on) */
    size_t example_len;
    uint64_t query_us; /* from when the server could start it (account.h) */
    uint64_t queue_us; /* before that: waiting behind the connection's earlier commands */
    uint64_t rows_sent;
    uint64_t rows_affected;
    bool error;
    bool no_index_used;       /* SERVER_QUERY_NO_INDEX_USED / NO_GOOD_INDEX_USED seen */
    const char *schema;       /* the session's schema, "" or NULL when none */
    bool example_explainable; /* the example can be EXPLAINed as it is, in `schema`, on another
                                 connection: an explainable text statement, no session
                                 temporary table or sql_mode of its own in the way */
    int64_t wall_us;          /* completion time, CLOCK_REALTIME microseconds */
};

struct stats *stats_new(int max_digests);
void stats_free(struct stats *s);

/* A worker's own table; `slots` shapes per merge interval. When a new shape finds it full,
 * stats_local_record merges at once if the shared mutex is free (pthread_mutex_trylock: a
 * worker never waits), else the sample is counted into an overflow pseudo-shape (digest 0,
 * fingerprint "(other shapes: ...)") and stats_local_overflowed() turns true until the next
 * merge: the worker should then merge early (next loop turn) instead of waiting for its timer.
 * Never allocates. */
struct stats_local *stats_local_new(struct stats *s, size_t slots);
void stats_local_free(struct stats_local *l); /* merges first */
void stats_local_record(struct stats_local *l, const struct stats_sample *sm);
bool stats_local_overflowed(const struct stats_local *l);
/* Merges the worker's table into the shared one and empties it. Cheap when empty. */
void stats_local_merge(struct stats_local *l);

/* Sets the plan and flags of a shape (explain thread). Keeps a reference (plan_ref); NULL clears
 * it. A shape not merged yet gets a count-0 entry holding the plan (invisible to readers until its
 * first merge; dropped when the table is full). */
void stats_set_plan(struct stats *s, uint64_t digest, struct plan *p);
/* Sets the index advice of a shape that has an entry (explain thread, after stats_set_plan);
 * NULL clears it. The string is copied. */
void stats_set_advice(struct stats *s, uint64_t digest, const char *advice);

/* What the server measured for a shape's statements (performance_schema history rows matched
 * to its slow statements, explain/pfs.h): sums over the `measured` statements. */
struct stats_server {
    uint64_t measured;
    uint64_t rows_examined;
    uint64_t tmp_tables, tmp_disk_tables, merge_passes;
    uint64_t tmp_table_on_disk; /* statements that wrote a temporary table to disk */
    uint64_t filesort_on_disk;  /* statements whose filesort had merge passes */
};

/* Adds one statement's figures to a shape that has an entry (explain thread). */
void stats_add_server(struct stats *s, uint64_t digest, const struct pfs_stmt *st);

/* The lock waits of a shape's slow statements (auto-EXPLAIN's live capture, explain/lockwait.h):
 * count and wait sums, and the last wait with what slowtap knew of its blocker (sessreg.h).
 * Fixed size: the strings are cut (at a UTF-8 boundary) to fit. */
#define STATS_LOCK_TEXT_MAX 256 /* bytes of the blocker's last statement kept */

struct stats_lockwait {
    uint64_t count; /* slow statements of the shape that waited for a lock */
    uint64_t total_us, max_us;
    /* the last wait */
    int64_t last_wall_us;    /* when it was recorded (realtime us) */
    enum lockwait_kind kind; /* LOCKWAIT_ROW, ... */
    char table[192];         /* `db`.`table`, "" when unknown */
    uint64_t wait_us;
    uint32_t blocked_by; /* 0 when unknown */
    bool inferred;       /* lockwait.h: blocked_by (or cands) inferred */
    unsigned ncands;
    uint32_t cands[LOCKWAIT_CANDS];
    /* the blocker, when it is a session of this slowtap (has_blocker) */
    bool has_blocker;
    char user[64], host[64]; /* host "" for a unix socket */
    int64_t trx_us;          /* age of its open transaction when asked, -1 when none */
    int64_t idle_us;         /* time since its last statement ended, -1 when unknown */
    char last_statement[STATS_LOCK_TEXT_MAX]; /* "" when none kept */
    bool last_cut;                            /* kept cut (by the registry or here) */
};

/* Adds one slow statement's lock wait (lw->kind != LOCKWAIT_NONE) to a shape that has an entry,
 * or a count-0 one as stats_set_plan does (explain thread). `blocker` is what the session
 * registry knew of lw->blocked_by (NULL: not a session of this slowtap); `last`/`last_len`
 * its last statement as it may be shown (the caller redacts it like the slow log), NULL when
 * it has none; `last_cut`: that text is already cut. Copies everything; allocates nothing. */
void stats_add_lockwait(struct stats *s, uint64_t digest, const struct lockwait *lw,
                        const struct sessreg_view *blocker, const char *last, size_t last_len,
                        bool last_cut);

/*
 * Shapes to explain whatever one statement cost (proxy/account/autoplan.h): the example (the
 * slowest execution's text) and its schema, when example_explainable.
 *
 * stats_take_noindex: the shapes whose statements the server flagged as using no index or no
 * good index (stats_sample.no_index_used), each queued once, at the merge that first saw the
 * flag with an explainable example and no plan yet; takes up to `max` of them off the queue.
 * stats_top_explainable: the `max` shapes with an explainable example that lead by total
 * time, most first. Both copy into `out` (room for `max`) and return how many.
 */
struct stats_explainable {
    uint64_t digest;
    uint64_t query_us; /* the example's: the shape's slowest */
    char fingerprint[STATS_FINGERPRINT_MAX];
    char example[STATS_EXAMPLE_MAX];
    char schema[STATS_SCHEMA_MAX];
    bool fresh; /* explain it again rather than take the shape's cached plan (explain_job) */
};
size_t stats_take_noindex(struct stats *s, struct stats_explainable *out, size_t max);
size_t stats_top_explainable(struct stats *s, struct stats_explainable *out, size_t max);
/* One shape's example, as above (an EXPLAIN asked for on the dashboard): false when the shape
 * is unknown or its example is not explainable as it is. */
bool stats_get_explainable(struct stats *s, uint64_t digest, struct stats_explainable *out);

/* The cumulative figures of every shape that ran (count > 0), sorted by digest (the key), for
 * window.h: a malloc'ed array in *out (free it), how many returned. 0 with *out NULL when none
 * or out of memory. Holds the mutex while copying (about 1.2 KB a shape). */
size_t stats_figures(struct stats *s, struct window_fig **out);

/* Puts back a shape's figures saved in a state file (proxy/output/state.h): fingerprint, name,
 * example, schema, example_explainable, counts, times, rows, first/last seen and histogram of
 * d (its plan, advice, server and lock figures are not taken: plans are captured again). Added
 * to the shape's figures when it has some. False when d->count is 0. */
bool stats_put(struct stats *s, const struct stats_digest *d);

/* Shapes evicted since start. */
uint64_t stats_evicted(struct stats *s);

/* A copy of one shape, for readers (HTTP, tests). */
struct stats_digest {
    uint64_t digest;
    char fingerprint[STATS_FINGERPRINT_MAX];
    char name[PROTO_SHAPE_NAME_MAX]; /* proto_shape_name of the shape's statement text */
    char example[STATS_EXAMPLE_MAX];
    char schema[STATS_SCHEMA_MAX]; /* the example's */
    bool example_explainable;
    uint64_t count, errors, no_index;
    uint64_t total_us, min_us, max_us;
    uint64_t queue_us; /* sum of the statements' Queue_time (not part of total_us) */
    uint64_t rows_sent, rows_affected;
    int64_t first_seen_us, last_seen_us;
    unsigned plan_flags;
    bool has_plan;
    struct plan *plan; /* deep copy or NULL; freed by stats_snapshot_free */
    struct hist hist;
    char *index_advice; /* heap copy or NULL; freed with the plan */
    struct stats_server server;
    struct stats_lockwait lock; /* lock.count 0: no lock wait seen */
};

enum stats_sort { STATS_SORT_TOTAL = 0, STATS_SORT_P99, STATS_SORT_COUNT };

struct stats_snapshot {
    struct stats_digest *d; /* sorted, descending */
    size_t n;
    uint64_t evicted; /* shapes evicted since start */
};

/* Copies the shared table (at most `limit` shapes, 0 = all) sorted by `sort` (descending; p99
 * is the histogram's, ties broken by digest). Holds the mutex while sorting and copying. False
 * when out of memory (then *out is empty). */
bool stats_snapshot(struct stats *s, enum stats_sort sort, size_t limit,
                    struct stats_snapshot *out);
/* Copies one shape; false when unknown. */
bool stats_get(struct stats *s, uint64_t digest, struct stats_digest *out);
void stats_snapshot_free(struct stats_snapshot *snap);
void stats_digest_free(struct stats_digest *d); /* frees d->plan and d->index_advice only */

#endif
