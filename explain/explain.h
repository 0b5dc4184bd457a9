/*
 * explain.h - auto-EXPLAIN: a thread of its own with an event loop and a small pool of side
 * connections to the backend made with libmariadb's non-blocking API. Workers hand it the
 * records of slow statements; it attaches a plan (live, after completion, or cached per
 * statement shape), or an explain error, and passes each record on to the `done` callback.
 *
 * Nothing here ever blocks a worker: submission is a short critical section on a bounded
 * queue (1024 records not yet passed on); when the queue is full the record goes straight to
 * `done` with explain_error "dropped: queue full" and the dropped counter grows. Workers wake
 * the explain thread with event_active(), so evthread_use_pthreads() must have been called
 * (by main) before explain_start().
 *
 * Per statement shape (rec->digest) one EXPLAIN per --explain-interval: records of a shape
 * explained less than an interval ago get a copy of that plan (REC_EXPLAIN_CACHED), records
 * arriving while their shape is being explained wait for that answer, and a server error for
 * a shape (e.g. a temporary table) is remembered for the interval too. Connection failures are
 * not remembered, but while connecting fails records fail at once with "cannot connect: ..."
 * and at most one connect attempt runs per second. One warning line goes to stderr per
 * distinct failure kind. The explain log gets one JSON line per plan taken from the server
 * (sources live and after; cached copies are not repeated).
 */
#ifndef SLOWTAP_EXPLAIN_H
#define SLOWTAP_EXPLAIN_H

#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "net/net_addr.h"
#include "proxy/account/record.h"

struct explain;
struct sessreg_view;
struct logfile;
struct filter;

struct explain_counters {
    uint64_t run;     /* EXPLAIN / SHOW EXPLAIN statements that returned a plan */
    uint64_t failed;  /* ... that failed (connection, credentials, server error, timeout) */
    uint64_t dropped; /* records passed on without trying (queue full, in-flight limit) */
    uint64_t cached;  /* records that got a cached plan */
    uint64_t live;    /* live plans captured */
};

/*
 * Called on the explain thread for every record submitted, exactly once, with the record's
 * plan fields filled in (or explain_error set). The callee takes ownership of `rec`. `log`
 * says whether the record belongs in the slow log (it may be over the explain threshold but
 * under --long-query-time). Also called with rec == NULL at the end of each batch of work, so
 * the callee can flush what it buffered.
 */
typedef void (*explain_done_fn)(void *arg, struct rec *rec, bool log);

/*
 * Starts the explain thread when c->explain_user is set; returns NULL (auto-EXPLAIN off)
 * otherwise or on failure to start (a warning is printed). `explain_log` may be NULL (no
 * --explain-log); otherwise one JSON object per plan taken is written to it. `backend` is
 * --backend as main resolved it (copied; never resolved again here): each side connection
 * tries its addresses in order until one accepts (the explain timeout is shared between
 * them), and a failure names every address tried.
 */
struct explain *explain_start(const struct conf *c, const struct net_addr *backend,
                              explain_done_fn done, void *done_arg, struct logfile *explain_log,
                              const struct filter *filter);

/* Hands over a completed record (ownership passes). Thread-safe, never blocks. Returns false
 * when it is refused (queue full, or explain_stop() running): the record stays the caller's,
 * with explain_error set, and the dropped counter grows. */
bool explain_submit(struct explain *e, struct rec *rec, bool log);

/*
 * Asks for the plan of the statement running now on backend connection `thread_id` (MariaDB
 * SHOW EXPLAIN FOR; MySQL 8 EXPLAIN FOR CONNECTION). Returns a token to store in
 * rec->live_token so the record, when submitted, is matched with the plan; 0 when the request
 * was not taken (live plans unsupported, or the queue is full). Thread-safe, never blocks.
 */
uint64_t explain_live(struct explain *e, uint32_t thread_id, uint64_t digest, bool want_plan);

/*
 * The same request also asks the server what the statement waits for (explain/lockwait.h):
 * a row, table or metadata lock, and the blocking connection. When a blocker is found, `fn`
 * (set once, before traffic) is called on the explain thread with its connection id and may
 * return a heap copy of what the proxy knows of that session (NULL: nothing); it ends up in
 * rec->blocker. want_plan false: only the lock question is asked (a statement that cannot be
 * explained, such as ALTER TABLE waiting for a metadata lock).
 */
typedef struct sessreg_view *(*explain_blocker_fn)(void *arg, uint32_t thread_id);
void explain_set_blocker_fn(struct explain *e, explain_blocker_fn fn, void *arg);

/* True once a side connection found performance_schema's statement history collected: then
 * every logged statement is worth submitting, one that needs no plan with rec->pfs_only set,
 * for the server's figures (explain/pfs.h). Until then only the records submitted anyway get
 * them. Thread-safe, never blocks. */
bool explain_wants_pfs(struct explain *e);

/* Snapshot of the counters (thread-safe). */
void explain_get_counters(struct explain *e, struct explain_counters *out);

/* Stops the thread: pending records are passed to `done` with what they have (bounded by the
 * explain timeout; unfinished ones get explain_error "explain stopped"), connections are
 * closed with mysql_close_start/_cont (bounded), the explain log buffer is flushed, the thread
 * is joined and `e` freed. Call it after the workers stopped submitting. NULL is fine. */
void explain_stop(struct explain *e);

#endif
