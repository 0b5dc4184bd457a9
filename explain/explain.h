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

#include "../conf/conf.h"
#include "../proxy/record.h"

struct explain;
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
 * --explain-log); otherwise one JSON object per plan taken is written to it.
 */
struct explain *explain_start(const struct conf *c, explain_done_fn done, void *done_arg,
                              struct logfile *explain_log, const struct filter *filter);

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
uint64_t explain_live(struct explain *e, uint32_t thread_id, uint64_t digest);

/* Snapshot of the counters (thread-safe). */
void explain_get_counters(struct explain *e, struct explain_counters *out);

/* Stops the thread: pending records are passed to `done` with what they have (bounded by the
 * explain timeout; unfinished ones get explain_error "explain stopped"), connections are
 * closed with mysql_close_start/_cont (bounded), the explain log buffer is flushed, the thread
 * is joined and `e` freed. Call it after the workers stopped submitting. NULL is fine. */
void explain_stop(struct explain *e);

#endif
