/*
 * explain.h - auto-EXPLAIN: a thread of its own with an event loop and a small pool of side
 * connections to the backend made with libmariadb's non-blocking API. The proxy hands it jobs
 * (struct explain_job: a slow statement's text and context); it attaches a plan (live, after
 * completion, or cached per statement shape), or an explain error, and what the statement
 * waited for and what the server measured, and passes each job back through the `done` hook.
 *
 * explain/ knows nothing of the proxy around it: it sees only struct explain_job, and talks
 * back only through struct explain_hooks (done, blocker, thread_exit). The proxy embeds the
 * job in its own statement record and recovers the record in `done`; the slow log and the
 * explain log are written there, by the proxy.
 *
 * Nothing here ever blocks a worker: submission is a short critical section on a bounded
 * queue (1024 jobs not yet passed back); when the queue is full the job stays the caller's
 * with error "dropped: queue full" and the dropped counter grows. Workers wake the explain
 * thread with event_active(), so evthread_use_pthreads() must have been called (by main)
 * before explain_start().
 *
 * Per statement shape (job->digest) one EXPLAIN per --explain-interval: jobs of a shape
 * explained less than an interval ago get a copy of that plan (EXPLAIN_SRC_CACHED), jobs
 * arriving while their shape is being explained wait for that answer, and a server error for
 * a shape (e.g. a temporary table) is remembered for the interval too. Connection failures are
 * not remembered, but while connecting fails jobs fail at once with "cannot connect: ..." and
 * at most one connect attempt runs per second. One warning line goes to stderr per distinct
 * failure kind.
 *
 * Over all shapes, at most --explain-rate EXPLAINs after completion start per second (with a
 * burst of one second's worth after a quiet spell); a job over it gets no plan, error "not
 * explained: over --explain-rate ...", and the rate_limited counter grows. Live plans (SHOW
 * EXPLAIN FOR, at most one per statement running past the threshold, XQ_MAX_LIVE at once) and
 * cached plans do not count against it.
 */
#ifndef SLOWTAP_EXPLAIN_H
#define SLOWTAP_EXPLAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "conf/conf.h"
#include "explain/lockwait.h"
#include "explain/pfs.h"
#include "explain/plan.h"
#include "net/net_addr.h"
#include "protocol/proto_tmptab.h"

struct explain;

/* Where a job's plan came from. */
enum explain_source {
    EXPLAIN_SRC_NONE = 0, /* no plan: auto-EXPLAIN off, not explainable, or failed */
    EXPLAIN_SRC_LIVE,     /* SHOW EXPLAIN FOR <thread> while the statement ran */
    EXPLAIN_SRC_AFTER,    /* EXPLAIN <statement> after it completed */
    EXPLAIN_SRC_CACHED,   /* plan of the same shape, explained within --explain-interval */
};

/* "live", "after", "cached"; NULL for EXPLAIN_SRC_NONE. */
const char *explain_source_name(enum explain_source s);

/*
 * One statement for auto-EXPLAIN. The submitter fills the input (zero the struct first) and
 * must keep the strings it points to valid and unchanged until the job comes back through
 * `done`; explain only reads them. Explain fills the output; the owner frees it with
 * explain_job_release() (after done, or when the job was never submitted).
 */
struct explain_job {
    /* input */
    const char *sql; /* the statement as run (prepared: parameters substituted), or NULL */
    size_t sql_len;
    bool sql_truncated;       /* sql is only its first part: never EXPLAINed */
    const char *prepared_sql; /* the text it was prepared with (with ?), NULL for a text query */
    const char *schema;       /* current schema, "" when none */
    const char *sql_mode;     /* the mode list the session set ("" = DEFAULT), NULL: never set */
    uint32_t thread_id;       /* backend connection id */
    uint64_t digest;          /* of the fingerprint: the plan cache's key */
    int64_t start_wall_us;    /* CLOCK_REALTIME at the command's first byte */
    uint64_t query_us;        /* its duration */
    bool explainable;         /* a kind auto-EXPLAIN may run (checked again on the text) */
    bool interrupted;         /* its response never ended: no performance_schema read */
    bool log;                 /* it belongs in the slow log: only those get performance_schema
                                 figures (it may be over the explain threshold but under
                                 --long-query-time) */
    bool pfs_only;            /* only the server's figures are wanted: no EXPLAIN */
    bool fresh; /* the shape's cached plan is not the answer: EXPLAIN again (a person asked, or
                   a periodic re-check of the costliest shapes), within --explain-rate */
    uint64_t live_token; /* from explain_live() while it ran, 0 when none */
    /* A temporary table of the client's session that the statement may name ("" when none):
     * an EXPLAIN on another connection would see no such table or the permanent one it hides,
     * so none runs; a live plan (taken of the statement on its own connection) is kept. */
    char tmp_table[PROTO_TMPTAB_NAME_MAX + 1];
    bool tmp_tables_lost; /* the same for any statement: the session created more temporary
                             tables than the proxy follows */

    /* output */
    enum explain_source source;
    struct plan *plan;  /* NULL when none (shared by reference: plan.h) */
    char error[256];    /* "" or why there is no plan */
    char *index_advice; /* heap: advice for the plan's flagged scans (advice.h), NULL when none */
    char *analyze;      /* heap: SHOW ANALYZE of the live capture as lines (pfs.h), NULL */
    bool has_lock_wait; /* what it waited for, seen while it ran (live capture) */
    struct lockwait lock;
    void *blocker; /* what the blocker hook returned for lock.blocked_by, or NULL */
    bool has_pfs;  /* its performance_schema history row was matched */
    struct pfs_stmt pfs;
};

/* Frees the job's output (plan, advice, analyze lines, blocker) and clears those fields; the
 * input is left alone. NULL is fine. */
void explain_job_release(struct explain_job *j);

/*
 * Called on the explain thread for every job submitted, exactly once, with its output filled
 * in (or error set); the job is the caller's again. Also called with job == NULL at the end
 * of each batch of work (at least every 100 ms while running), so the callee can flush what it
 * buffered.
 */
typedef void (*explain_done_fn)(void *arg, struct explain_job *job);

/*
 * Called on the explain thread when a statement waits for a lock held by backend connection
 * `thread_id`: returns a heap block (malloc) describing that session as the proxy knows it,
 * or NULL. Explain never looks inside: it lands in job->blocker, or is free()d when the job
 * never comes.
 */
typedef void *(*explain_blocker_fn)(void *arg, uint32_t thread_id);

/*
 * Called on the explain thread for a MariaDB metadata-lock wait whose blocker the server does
 * not name: `blocker` is what the blocker hook returned for a candidate (NULL: not a session
 * of the proxy). Returns an enum lockwait_touch (lockwait.h): is it inside a transaction, and
 * did one of its statements name table `db`.`table`? explain then picks the blocker.
 */
typedef int (*explain_touch_fn)(void *arg, const void *blocker, const char *db, const char *table);

/* Called once on the explain thread just before it ends (per-thread clean-up of what `done`
 * used). */
typedef void (*explain_thread_exit_fn)(void *arg);

struct explain_hooks {
    explain_done_fn done;               /* required */
    explain_blocker_fn blocker;         /* NULL: blockers are not described */
    explain_touch_fn touch;             /* NULL: metadata-lock candidates are not told apart */
    explain_thread_exit_fn thread_exit; /* may be NULL */
    void *arg;                          /* passed to each */
};

/*
 * Starts the explain thread when c->explain_user is set; returns NULL (auto-EXPLAIN off)
 * otherwise or on failure to start (a warning is printed). `backend` is --backend as main
 * resolved it (copied; never resolved again here): each side connection tries its addresses
 * in order until one accepts (the explain timeout is shared between them), and a failure
 * names every address tried. The hooks are copied.
 */
struct explain *explain_start(const struct conf *c, const struct net_addr *backend,
                              const struct explain_hooks *hooks);

/* Hands over a job (it is explain's until `done`). Thread-safe, never blocks. Returns false
 * when it is refused (queue full, or explain_stop() running): the job stays the caller's,
 * with error set, and the dropped counter grows. */
bool explain_submit(struct explain *e, struct explain_job *job);

/*
 * Asks for the plan of the statement running now on backend connection `thread_id` (MariaDB
 * SHOW EXPLAIN FOR; MySQL 8 EXPLAIN FOR CONNECTION). Returns a token to store in the job's
 * live_token so the job, when submitted, is matched with the plan; 0 when the request was not
 * taken (live plans unsupported, or the queue is full). Thread-safe, never blocks.
 *
 * The same request also asks the server what the statement waits for (explain/lockwait.h):
 * a row, table or metadata lock, and the blocking connection, which the blocker hook then
 * describes. want_plan false: only the lock question is asked (a statement that cannot be
 * explained, such as ALTER TABLE waiting for a metadata lock).
 */
uint64_t explain_live(struct explain *e, uint32_t thread_id, uint64_t digest, bool want_plan);

/* True once a side connection found performance_schema's statement history collected: then
 * every logged statement is worth submitting, one that needs no plan with pfs_only set, for
 * the server's figures (explain/pfs.h). Until then only the jobs submitted anyway get them.
 * Thread-safe, never blocks. */
bool explain_wants_pfs(struct explain *e);

struct explain_counters {
    uint64_t run;          /* EXPLAIN / SHOW EXPLAIN statements that returned a plan */
    uint64_t failed;       /* ... that failed (connection, credentials, server error, timeout) */
    uint64_t dropped;      /* jobs passed back without trying (queue full, in-flight limit) */
    uint64_t cached;       /* jobs that got a cached plan */
    uint64_t live;         /* live plans captured */
    uint64_t rate_limited; /* jobs not explained because --explain-rate had no room */
};

/* Snapshot of the counters (thread-safe). */
void explain_get_counters(struct explain *e, struct explain_counters *out);

/* Stops the thread: pending jobs are passed to `done` with what they have (bounded by the
 * explain timeout; unfinished ones get error "explain stopped"), connections are closed with
 * mysql_close_start/_cont (bounded), thread_exit runs, the thread is joined and `e` freed.
 * Call it after the workers stopped submitting. NULL is fine. */
void explain_stop(struct explain *e);

#endif
