/*
 * explain.c - auto-EXPLAIN on a thread of its own: a bounded submission queue fed by the
 * workers, a small pool of side connections driven by libmariadb's non-blocking API on a
 * private libevent loop, a per-digest plan cache (rate limit), live plans by token, and the
 * optional JSON explain log.
 *
 * Flow of a record (all on the explain thread after explain_submit):
 *
 *   ring --drain--> handle_rec --not explainable / truncated-------------------> done
 *                       |------ live plan ready (token) ------------------------> done
 *                       |------ live plan in flight -> park on the live entry
 *                       |------ cached plan (< explain_interval) --------------> done
 *                       |------ same digest being explained -> park on the cache entry
 *                       `------ task -> pending FIFO -> connection:
 *                                 [connect] -> [select_db] -> EXPLAIN -> store -> done
 *
 * Only EXPLAIN <stmt>, SHOW EXPLAIN FOR n / EXPLAIN FOR CONNECTION n and the schema switch are
 * ever sent. A connection whose task times out is shut down (the pending libmariadb call then
 * fails at once) and closed with mysql_close_start/_cont.
 */
#include "explain.h"

#include <arpa/inet.h>
#include <errno.h>
#include <jansson.h>
#include <errmsg.h>
#include <mysql.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "../protocol/proto_fingerprint.h"
#include "../proxy/filter.h"
#include "../proxy/logfile.h"
#include "../proxy/slowlog.h"

#define XQ_MAX_RECS   1024 /* records accepted and not yet passed to done */
#define XQ_MAX_LIVE   256  /* live requests kept (in flight or waiting for their record) */
#define XQ_RING       (XQ_MAX_RECS + XQ_MAX_LIVE)
#define XC_MAX_CONNS  64
#define XCACHE_MAX    4096
#define XCACHE_BUCKET 8192
#define XLIVE_KEEP_US (600LL * 1000000) /* a live plan waits this long for its record */
#define XBACKOFF_US   1000000LL         /* at most one connect attempt per second while failing */
#define XCLOSE_US     1000000LL         /* bound on a graceful close */
#define XQ_WAKE_BATCH 32  /* records queued before the thread is woken (else its tick) */
#define XTICK_MS      100 /* explain-log flush and housekeeping */
#define XWARN_KINDS   64

/* A submission from a worker: a completed record or a live-plan request. */
struct xjob {
    struct rec *rec; /* NULL for a live request */
    bool log;
    uint64_t token;
    uint32_t thread_id;
    uint64_t digest;
};

struct xcache;

/* A live-plan request and, once answered, its plan or failure. */
enum xlive_state { XL_INFLIGHT = 0, XL_OK, XL_FAILED };
struct xlive {
    struct xlive *next;
    uint64_t token;
    uint32_t thread_id;
    uint64_t digest;
    enum xlive_state state;
    struct plan *plan;
    int64_t created;
    struct xtask *waiter; /* the record with this token, when it came before the answer */
};

/* Work for a connection: an EXPLAIN for a record or a live request. */
struct xtask {
    struct xtask *next;
    struct rec *rec; /* NULL for a live task */
    bool log;
    struct xlive *live; /* live task: the entry it answers */
    struct xcache *ent; /* record task: the digest's cache entry it explains for */
    int64_t deadline;   /* monotonic; waiting longer for a connection drops it */
    bool retried;       /* already retried once on a new connection */
};

/* Per-digest plan cache entry; LRU-ordered, bounded. */
struct xcache {
    uint64_t digest;
    struct xcache *hnext;
    struct xcache *lprev, *lnext;
    struct plan *plan; /* last plan, NULL when none */
    char error[256];   /* last server error (negative cache) when no plan */
    int64_t at;        /* monotonic time of the last answer, 0 = never */
    bool inflight;     /* an EXPLAIN for this digest is queued or running */
    struct xtask *waiters;
};

enum xc_state { XC_DOWN = 0, XC_CONNECTING, XC_IDLE, XC_SELECTDB, XC_QUERY, XC_STORE, XC_CLOSING };

struct xconn {
    struct explain *e;
    MYSQL *my;
    enum xc_state state;
    struct event *ev;    /* the current wait on the socket / libmariadb timeout */
    struct event *timer; /* task deadline, or close bound */
    int wait;            /* last non-zero status of a _start/_cont, 0 when none */
    bool timed_out;
    bool broken; /* must be closed after the current operation */
    bool is_mariadb;
    bool fresh; /* connected for the current task (not reused) */
    char db[65];
    struct xtask *task;
    MYSQL *ret_my;
    int ret_int;
    MYSQL_RES *ret_res;
    char query[64 + 1]; /* short queries (SHOW EXPLAIN ...) */
    char *qbuf;         /* EXPLAIN <statement> */
};

struct explain {
    /* set up before the thread starts, read-only afterwards */
    const struct filter *filter; /* --redact: applied to what the explain log shows */
    char *user, *password;
    char host[INET6_ADDRSTRLEN + 1];
    unsigned port;
    char *unix_path;
    /* backend TLS of the side connections (--backend-tls, --backend-tls-ca) */
    enum conf_backend_tls tls;
    char *tls_ca;
    char tls_name[256]; /* --backend's host when it is a name (verify-identity), else "" */
    int64_t timeout_us, interval_us;
    int nconns;
    explain_done_fn done;
    void *done_arg;
    struct logfile *logfile;

    struct event_base *base;
    struct event *wake, *tick;
    pthread_t thread;

    /* shared with the workers, under mu */
    pthread_mutex_t mu;
    struct xjob ring[XQ_RING];
    size_t rhead, rcount;
    size_t out_recs, out_live;
    bool stopping;

    _Atomic uint64_t c_run, c_failed, c_dropped, c_cached, c_live;
    _Atomic uint64_t next_token;

    /* explain thread only */
    struct xconn conns[XC_MAX_CONNS];
    struct xtask *pend_head, *pend_tail;
    struct xcache *buckets[XCACHE_BUCKET];
    struct xcache *lru_head, *lru_tail;
    size_t ncache;
    struct xlive *lives;
    int64_t last_connect_fail; /* monotonic, 0 when the last connect worked */
    char last_connect_err[200];
    int warned[XWARN_KINDS];
    int nwarned;
    struct logbuf *logbuf;
    bool stop_seen;
    int64_t stop_deadline;
    bool exiting;
};

static void xc_start_task(struct xconn *c);
static void schedule(struct explain *e);
static void handle_rec(struct explain *e, struct xtask *t, bool after_live);

static int64_t
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- warnings: one line per distinct failure kind ---- */

static void
warn_once(struct explain *e, int kind, const char *what, const char *msg)
{
    for (int i = 0; i < e->nwarned; i++) {
        if (e->warned[i] == kind) {
            return;
        }
    }
    if (e->nwarned < XWARN_KINDS) {
        e->warned[e->nwarned++] = kind;
    }
    fprintf(stderr, "slowtap: explain: %s: %s (further failures of this kind are not shown)\n",
            what, msg);
}

/* ---- record completion ---- */

static void
rec_finish(struct explain *e, struct xtask *t)
{
    struct rec *rec = t->rec;
    bool log = t->log;
    free(t);
    e->done(e->done_arg, rec, log);
    pthread_mutex_lock(&e->mu);
    e->out_recs--;
    pthread_mutex_unlock(&e->mu);
}

static void
rec_fail(struct explain *e, struct xtask *t, const char *msg)
{
    snprintf(t->rec->explain_error, sizeof(t->rec->explain_error), "%s", msg);
    rec_finish(e, t);
}

/* ---- the JSON explain log ---- */

static json_t *
str_or_null(const char *s)
{
    return s ? json_string(s) : json_null();
}

/* A statement, parameter list or fingerprint for the explain log, with --redact applied. */
static json_t *
redacted(const struct explain *e, const char *s)
{
    if (!s || !filter_redacts(e->filter)) {
        return str_or_null(s);
    }
    size_t len = strlen(s), cap = len + 64;
    char *buf = malloc(cap);
    if (!buf) {
        return json_null();
    }
    size_t n = filter_redact(e->filter, s, len, buf, cap);
    json_t *j = json_stringn(buf, n);
    free(buf);
    return j ? j : json_null();
}

static void
log_plan(struct explain *e, const struct rec *r)
{
    if (!e->logbuf || !r->plan) {
        return;
    }
    char tbuf[64], digest[17];
    time_t secs = (time_t)(r->start_wall_us / 1000000);
    struct tm tm;
    gmtime_r(&secs, &tm);
    size_t n = strftime(tbuf, sizeof(tbuf), "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(tbuf + n, sizeof(tbuf) - n, ".%06dZ", (int)(r->start_wall_us % 1000000));
    proto_digest_hex(r->digest, digest);

    json_t *o = json_object();
    json_t *flags = json_object();
    json_t *rows = json_array();
    if (!o || !flags || !rows) {
        json_decref(o);
        json_decref(flags);
        json_decref(rows);
        return;
    }
    json_object_set_new(o, "time", json_string(tbuf));
    json_object_set_new(o, "digest", json_string(digest));
    json_object_set_new(o, "fingerprint", redacted(e, r->fingerprint));
    json_object_set_new(o, "statement", redacted(e, r->sql));
    json_object_set_new(o, "params", redacted(e, r->params));
    json_object_set_new(o, "prepared_statement", redacted(e, r->prepared_sql));
    json_object_set_new(o, "schema", json_string(r->schema));
    json_object_set_new(o, "query_time", json_real((double)r->query_us / 1e6));
    json_object_set_new(o, "source", json_string(rec_explain_source_name(r->explain_source)));
    json_object_set_new(flags, "full_scan", json_boolean(r->plan->flags & PLAN_FULL_SCAN));
    json_object_set_new(flags, "full_join", json_boolean(r->plan->flags & PLAN_FULL_JOIN));
    json_object_set_new(flags, "tmp_table", json_boolean(r->plan->flags & PLAN_TMP_TABLE));
    json_object_set_new(flags, "filesort", json_boolean(r->plan->flags & PLAN_FILESORT));
    json_object_set_new(o, "flags", flags);
    for (size_t i = 0; i < r->plan->nrows; i++) {
        json_t *row = json_object();
        for (int c = 0; row && c < PLAN_NCOLS; c++) {
            json_object_set_new(row, plan_col_names[c], json_string(r->plan->rows[i].col[c]));
        }
        json_array_append_new(rows, row);
    }
    json_object_set_new(o, "plan", rows);
    char *s = json_dumps(o, JSON_COMPACT | JSON_ENSURE_ASCII);
    json_decref(o);
    if (s) {
        size_t len = strlen(s);
        s[len] = '\n'; /* json_dumps leaves room: replace the NUL, length passed explicitly */
        logbuf_append(e->logbuf, s, len + 1);
        free(s);
    }
}

/* ---- the digest cache ---- */

static struct xcache *
cache_find(struct explain *e, uint64_t digest)
{
    for (struct xcache *c = e->buckets[digest % XCACHE_BUCKET]; c; c = c->hnext) {
        if (c->digest == digest) {
            return c;
        }
    }
    return NULL;
}

static void
lru_unlink(struct explain *e, struct xcache *c)
{
    if (c->lprev) {
        c->lprev->lnext = c->lnext;
    } else {
        e->lru_head = c->lnext;
    }
    if (c->lnext) {
        c->lnext->lprev = c->lprev;
    } else {
        e->lru_tail = c->lprev;
    }
    c->lprev = c->lnext = NULL;
}

static void
lru_push_front(struct explain *e, struct xcache *c)
{
    c->lprev = NULL;
    c->lnext = e->lru_head;
    if (e->lru_head) {
        e->lru_head->lprev = c;
    }
    e->lru_head = c;
    if (!e->lru_tail) {
        e->lru_tail = c;
    }
}

static void
cache_remove(struct explain *e, struct xcache *c)
{
    struct xcache **pp = &e->buckets[c->digest % XCACHE_BUCKET];
    while (*pp != c) {
        pp = &(*pp)->hnext;
    }
    *pp = c->hnext;
    lru_unlink(e, c);
    plan_free(c->plan);
    free(c);
    e->ncache--;
}

/* Finds or creates the entry (NULL when out of memory) and marks it most recently used. */
static struct xcache *
cache_get(struct explain *e, uint64_t digest)
{
    struct xcache *c = cache_find(e, digest);
    if (c) {
        lru_unlink(e, c);
        lru_push_front(e, c);
        return c;
    }
    if (e->ncache >= XCACHE_MAX) {
        for (struct xcache *v = e->lru_tail; v; v = v->lprev) {
            if (!v->inflight) {
                cache_remove(e, v);
                break;
            }
        }
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        return NULL;
    }
    c->digest = digest;
    c->hnext = e->buckets[digest % XCACHE_BUCKET];
    e->buckets[digest % XCACHE_BUCKET] = c;
    lru_push_front(e, c);
    e->ncache++;
    return c;
}

static void
cache_store(struct explain *e, uint64_t digest, struct plan *p)
{
    struct xcache *c = cache_get(e, digest);
    struct plan *d = c ? plan_ref(p) : NULL;
    if (!d) {
        return;
    }
    plan_free(c->plan);
    c->plan = d;
    c->error[0] = '\0';
    c->at = now_us();
}

/* Gives a record the cached answer of `c` (a plan copy, or its server error). */
static void
rec_from_cache(struct explain *e, struct xtask *t, struct xcache *c)
{
    if (c->plan) {
        t->rec->plan = plan_ref(c->plan); /* shared: plans are read-only once built */
        if (t->rec->plan) {
            t->rec->explain_source = REC_EXPLAIN_CACHED;
            atomic_fetch_add(&e->c_cached, 1);
        } else {
            snprintf(t->rec->explain_error, sizeof(t->rec->explain_error), "out of memory");
        }
    } else {
        snprintf(t->rec->explain_error, sizeof(t->rec->explain_error), "%s", c->error);
    }
    rec_finish(e, t);
}

/* ---- the pending FIFO ---- */

static void
pend_push(struct explain *e, struct xtask *t, bool front)
{
    t->next = NULL;
    if (!e->pend_head) {
        e->pend_head = e->pend_tail = t;
    } else if (front) {
        t->next = e->pend_head;
        e->pend_head = t;
    } else {
        e->pend_tail->next = t;
        e->pend_tail = t;
    }
}

static struct xtask *
pend_pop(struct explain *e)
{
    struct xtask *t = e->pend_head;
    if (t) {
        e->pend_head = t->next;
        if (!e->pend_head) {
            e->pend_tail = NULL;
        }
        t->next = NULL;
    }
    return t;
}

/* ---- live entries ---- */

static struct xlive *
live_find(struct explain *e, uint64_t token)
{
    for (struct xlive *l = e->lives; l; l = l->next) {
        if (l->token == token) {
            return l;
        }
    }
    return NULL;
}

static void
live_free(struct explain *e, struct xlive *l)
{
    struct xlive **pp = &e->lives;
    while (*pp && *pp != l) {
        pp = &(*pp)->next;
    }
    if (*pp) {
        *pp = l->next;
    }
    plan_free(l->plan);
    free(l);
    pthread_mutex_lock(&e->mu);
    e->out_live--;
    pthread_mutex_unlock(&e->mu);
}

/* ---- task outcomes ---- */

/* A record task's EXPLAIN ended: plan (ownership passes) or error. */
static void
task_rec_result(struct explain *e, struct xtask *t, struct plan *p, const char *err,
                bool server_err)
{
    struct xcache *c = t->ent;
    struct xtask *w = c ? c->waiters : NULL;
    if (c) {
        c->inflight = false;
        c->waiters = NULL;
    }
    if (p) {
        atomic_fetch_add(&e->c_run, 1);
        t->rec->plan = p;
        t->rec->explain_source = REC_EXPLAIN_AFTER;
        if (c) {
            plan_free(c->plan);
            c->plan = plan_ref(p);
            c->error[0] = '\0';
            c->at = c->plan ? now_us() : 0;
        }
        log_plan(e, t->rec);
        rec_finish(e, t);
    } else {
        atomic_fetch_add(&e->c_failed, 1);
        if (c && server_err) { /* the statement cannot be explained: remember for a while */
            plan_free(c->plan);
            c->plan = NULL;
            snprintf(c->error, sizeof(c->error), "%s", err);
            c->at = now_us();
        }
        rec_fail(e, t, err);
    }
    /* records of the same shape that waited for this answer */
    while (w) {
        struct xtask *next = w->next;
        if (p && c && c->plan) {
            rec_from_cache(e, w, c);
        } else {
            rec_fail(e, w, err ? err : "out of memory");
        }
        w = next;
    }
}

/* A live task ended: plan (ownership passes) or error. */
static void
task_live_result(struct explain *e, struct xtask *t, struct plan *p, const char *err)
{
    struct xlive *l = t->live;
    free(t);
    if (p) {
        atomic_fetch_add(&e->c_run, 1);
        atomic_fetch_add(&e->c_live, 1);
        l->state = XL_OK;
        l->plan = p;
    } else {
        atomic_fetch_add(&e->c_failed, 1);
        l->state = XL_FAILED;
        (void)err; /* the statement usually ended first; the record falls back */
    }
    if (l->waiter) {
        struct xtask *w = l->waiter;
        l->waiter = NULL;
        w->deadline = now_us() + e->timeout_us;
        handle_rec(e, w, true);
    }
}

static void
task_result(struct explain *e, struct xtask *t, struct plan *p, const char *err, bool server_err)
{
    if (t->rec) {
        task_rec_result(e, t, p, err, server_err);
    } else {
        task_live_result(e, t, p, err);
    }
}

/* ---- connections ---- */

static void xc_cont(struct xconn *c, int ev);

static void
xc_io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xconn *c = arg;
    int ev = 0;
    if (what & EV_READ) {
        ev |= MYSQL_WAIT_READ;
    }
    if (what & EV_WRITE) {
        ev |= MYSQL_WAIT_WRITE;
    }
    if (what & EV_TIMEOUT) {
        ev |= MYSQL_WAIT_TIMEOUT;
    }
    xc_cont(c, ev);
}

/* Waits for what libmariadb asked for: re-reads the socket, replaces the event. */
static void
xc_wait(struct xconn *c, int status)
{
    if (c->ev) {
        event_free(c->ev);
        c->ev = NULL;
    }
    c->wait = status;
    short flags = 0;
    if (status & MYSQL_WAIT_READ) {
        flags |= EV_READ;
    }
    if (status & MYSQL_WAIT_WRITE) {
        flags |= EV_WRITE;
    }
    if ((status & MYSQL_WAIT_EXCEPT) && !flags) {
        flags |= EV_READ;
    }
    evutil_socket_t fd = flags ? (evutil_socket_t)mysql_get_socket(c->my) : -1;
    if (fd < 0) {
        flags = 0;
    }
    struct timeval tv, *tvp = NULL;
    if ((status & MYSQL_WAIT_TIMEOUT) || !flags) {
        unsigned ms = (status & MYSQL_WAIT_TIMEOUT) ? mysql_get_timeout_value_ms(c->my) : 0;
        tv.tv_sec = ms / 1000;
        tv.tv_usec = (ms % 1000) * 1000;
        tvp = &tv;
    }
    c->ev = event_new(c->e->base, fd, flags, xc_io_cb, c);
    if (!c->ev || event_add(c->ev, tvp) != 0) {
        /* cannot wait: report the condition as if it happened; the call will fail or go on */
        event_free(c->ev);
        c->ev = NULL;
        c->ev = event_new(c->e->base, -1, 0, xc_io_cb, c);
        struct timeval soon = {0, 10000};
        if (c->ev) {
            event_add(c->ev, &soon);
        }
    }
}

static void xc_op_done(struct xconn *c);

/* After a _start or _cont: wait again, or the operation is complete. */
static void
xc_after(struct xconn *c, int status)
{
    if (status) {
        xc_wait(c, status);
        return;
    }
    c->wait = 0;
    if (c->ev) {
        event_free(c->ev);
        c->ev = NULL;
    }
    xc_op_done(c);
}

static void
xc_cont(struct xconn *c, int ev)
{
    int st = 0;
    switch (c->state) {
    case XC_CONNECTING:
        st = mysql_real_connect_cont(&c->ret_my, c->my, ev);
        break;
    case XC_SELECTDB:
        st = mysql_select_db_cont(&c->ret_int, c->my, ev);
        break;
    case XC_QUERY:
        st = mysql_real_query_cont(&c->ret_int, c->my, ev);
        break;
    case XC_STORE:
        st = mysql_store_result_cont(&c->ret_res, c->my, ev);
        break;
    case XC_CLOSING:
        st = mysql_close_cont(c->my, ev);
        break;
    default:
        return;
    }
    xc_after(c, st);
}

static void
xc_timer_disarm(struct xconn *c)
{
    if (c->timer) {
        evtimer_del(c->timer);
    }
}

static void
xc_timer_arm(struct xconn *c, int64_t us)
{
    struct timeval tv = {(time_t)(us / 1000000), (suseconds_t)(us % 1000000)};
    evtimer_del(c->timer);
    evtimer_add(c->timer, &tv);
}

/* Makes the pending libmariadb call fail now: shut the socket down and continue it. */
static void
xc_abort(struct xconn *c)
{
    int fd = (int)mysql_get_socket(c->my);
    if (fd >= 0) {
        shutdown(fd, SHUT_RDWR);
    }
    if (c->wait) {
        if (c->ev) {
            event_free(c->ev);
            c->ev = NULL;
        }
        xc_cont(c, c->wait);
    }
}

static void
xc_close(struct xconn *c)
{
    free(c->qbuf);
    c->qbuf = NULL;
    if (!c->my) {
        c->state = XC_DOWN;
        return;
    }
    c->state = XC_CLOSING;
    c->timed_out = false;
    xc_timer_arm(c, XCLOSE_US);
    xc_after(c, mysql_close_start(c->my));
}

static void
xc_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct xconn *c = arg;
    if (c->state == XC_DOWN || c->state == XC_IDLE) {
        return;
    }
    c->timed_out = true; /* a task took longer than explain_timeout, or a close its bound */
    xc_abort(c);
}

/* The task on `c` ended; the connection goes idle or is closed. */
static void
xc_task_end(struct xconn *c, struct plan *p, const char *err, bool server_err)
{
    struct explain *e = c->e;
    struct xtask *t = c->task;
    c->task = NULL;
    c->fresh = false;
    xc_timer_disarm(c);
    free(c->qbuf);
    c->qbuf = NULL;
    if (c->broken || c->timed_out || e->exiting) {
        c->broken = false;
        xc_close(c);
    } else {
        c->state = XC_IDLE;
    }
    if (t) {
        task_result(e, t, p, err, server_err);
    }
    schedule(e);
}

/* The error of the last call on `c`, for a record. Client-side errors break the connection. */
static void
xc_fail(struct xconn *c)
{
    char msg[256];
    unsigned no = mysql_errno(c->my);
    bool connecting = c->state == XC_CONNECTING;
    bool server_err = no > 0 && (no < 2000 || no >= 3000) && !c->timed_out && !connecting;
    const char *prefix = connecting ? "cannot connect: " : "";
    if (!server_err) {
        c->broken = true; /* a failed connect, a timeout or a client-side error: close it */
    }
    if (!connecting && !c->timed_out && !c->fresh && c->task && !c->task->retried &&
        (no == CR_SERVER_GONE_ERROR || no == CR_SERVER_LOST)) {
        /* a reused connection the server closed meanwhile (wait_timeout): once more, anew */
        struct xtask *t = c->task;
        t->retried = true;
        c->task = NULL;
        xc_timer_disarm(c);
        c->broken = false;
        xc_close(c);
        pend_push(c->e, t, true);
        schedule(c->e);
        return;
    }
    char what[300];
    if (connecting) {
        struct explain *e = c->e;
        if (e->unix_path) {
            snprintf(what, sizeof(what), "cannot connect to %s as %s", e->unix_path, e->user);
        } else {
            snprintf(what, sizeof(what), "cannot connect to %s port %u as %s", e->host, e->port,
                     e->user);
        }
    } else {
        snprintf(what, sizeof(what), "EXPLAIN failed");
    }
    if (c->timed_out) {
        snprintf(msg, sizeof(msg), "%stimeout", prefix);
        warn_once(c->e, connecting ? -2 : -1, what, "timeout");
    } else {
        const char *err = no ? mysql_error(c->my) : "unknown error";
        snprintf(msg, sizeof(msg), "%s%s", prefix, err);
        warn_once(c->e, (int)no, what, err);
    }
    xc_task_end(c, NULL, msg, server_err);
}

static void
xc_start_query(struct xconn *c)
{
    struct xtask *t = c->task;
    const char *q;
    size_t qlen;
    if (t->rec) {
        size_t n = t->rec->sql_len;
        c->qbuf = malloc(n + 9);
        if (!c->qbuf) {
            xc_task_end(c, NULL, "out of memory", false);
            return;
        }
        memcpy(c->qbuf, "EXPLAIN ", 8);
        memcpy(c->qbuf + 8, t->rec->sql, n);
        c->qbuf[n + 8] = '\0';
        q = c->qbuf;
        qlen = n + 8;
    } else {
        int n = snprintf(c->query, sizeof(c->query),
                         c->is_mariadb ? "SHOW EXPLAIN FOR %u" : "EXPLAIN FOR CONNECTION %u",
                         t->live->thread_id);
        q = c->query;
        qlen = (size_t)n;
    }
    c->state = XC_QUERY;
    xc_after(c, mysql_real_query_start(&c->ret_int, c->my, q, (unsigned long)qlen));
}

/* Runs the task assigned to an up connection: schema, then the query. */
static void
xc_start_task(struct xconn *c)
{
    struct xtask *t = c->task;
    if (t->rec && t->rec->schema[0] && strcmp(t->rec->schema, c->db) != 0) {
        c->state = XC_SELECTDB;
        xc_after(c, mysql_select_db_start(&c->ret_int, c->my, t->rec->schema));
        return;
    }
    xc_start_query(c);
}

static struct plan *
plan_from_result(MYSQL_RES *res)
{
    unsigned n = mysql_num_fields(res);
    MYSQL_FIELD *f = mysql_fetch_fields(res);
    const char *names[64];
    if (n == 0 || n > 64) {
        return NULL;
    }
    for (unsigned i = 0; i < n; i++) {
        names[i] = f[i].name;
    }
    struct plan *p = plan_new();
    MYSQL_ROW row;
    while (p && (row = mysql_fetch_row(res)) != NULL) {
        if (!plan_add_row(p, names, (const char *const *)row, n)) {
            plan_free(p);
            p = NULL;
        }
    }
    if (p && p->nrows == 0) {
        plan_free(p);
        return NULL;
    }
    if (p) {
        plan_analyze(p);
    }
    return p;
}

/* After a connect: with --backend-tls required or stricter, a connection without TLS is
 * refused. Returns NULL when the connection may be used, else the reason. */
static const char *
xc_tls_check(struct xconn *c)
{
    if (c->e->tls < CONF_BTLS_REQUIRED || mysql_get_ssl_cipher(c->my) != NULL) {
        return NULL;
    }
    return "TLS connection error: the backend does not offer TLS (slowtap --backend-tls)";
}

static void
xc_op_done(struct xconn *c)
{
    struct explain *e = c->e;
    switch (c->state) {
    case XC_CONNECTING:
        if (!c->ret_my || c->timed_out) {
            e->last_connect_fail = now_us();
            if (c->timed_out) {
                snprintf(e->last_connect_err, sizeof(e->last_connect_err), "timeout");
            } else {
                snprintf(e->last_connect_err, sizeof(e->last_connect_err), "%s",
                         mysql_error(c->my));
            }
            xc_fail(c);
            return;
        }
        const char *tls_err = xc_tls_check(c);
        if (tls_err) {
            char what[300];
            e->last_connect_fail = now_us();
            snprintf(e->last_connect_err, sizeof(e->last_connect_err), "%s", tls_err);
            snprintf(what, sizeof(what), "cannot connect to %s port %u as %s",
                     e->unix_path ? e->unix_path : e->host, e->port, e->user);
            warn_once(e, -3, what, tls_err);
            snprintf(what, sizeof(what), "cannot connect: %s", tls_err);
            c->broken = true;
            xc_task_end(c, NULL, what, false);
            return;
        }
        e->last_connect_fail = 0;
        c->fresh = true;
        c->is_mariadb = strstr(mysql_get_server_info(c->my), "MariaDB") != NULL;
        c->db[0] = '\0';
        xc_start_task(c);
        return;
    case XC_SELECTDB:
        if (c->ret_int != 0 || c->timed_out) {
            c->db[0] = '\0';
            xc_fail(c);
            return;
        }
        snprintf(c->db, sizeof(c->db), "%s", c->task->rec->schema);
        xc_start_query(c);
        return;
    case XC_QUERY:
        if (c->ret_int != 0 || c->timed_out) {
            xc_fail(c);
            return;
        }
        c->state = XC_STORE;
        xc_after(c, mysql_store_result_start(&c->ret_res, c->my));
        return;
    case XC_STORE: {
        if (!c->ret_res || c->timed_out) {
            if (c->ret_res) {
                mysql_free_result(c->ret_res);
                c->ret_res = NULL;
            }
            if (mysql_errno(c->my) || c->timed_out) {
                xc_fail(c);
            } else {
                xc_task_end(c, NULL, "no plan returned", true);
            }
            return;
        }
        struct plan *p = plan_from_result(c->ret_res);
        mysql_free_result(c->ret_res);
        c->ret_res = NULL;
        xc_task_end(c, p, p ? NULL : "no plan returned", true);
        return;
    }
    case XC_CLOSING:
        xc_timer_disarm(c);
        c->my = NULL; /* mysql_close freed it */
        c->state = XC_DOWN;
        c->timed_out = false;
        c->broken = false;
        schedule(e);
        return;
    default:
        return;
    }
}

/*
 * Applies --backend-tls to a new handle (libmariadb 3.3 semantics, checked in its OpenSSL
 * code):
 *   off             no TLS options: plaintext.
 *   preferred       MYSQL_OPT_SSL_ENFORCE=1, no verification: libmariadb asks for TLS when
 *                   the server offers it and silently stays in plaintext when it does not.
 *   required        as preferred; xc_tls_check() then refuses a connection without TLS
 *                   (libmariadb itself only fails on a plaintext server when verifying).
 *   verify-ca       MYSQL_OPT_SSL_CA: the chain is verified (SSL_VERIFY_PEER and the verify
 *                   result are checked whenever a CA is set); VERIFY_SERVER_CERT=0, so the
 *                   host name is not compared.
 *   verify-identity CA + VERIFY_SERVER_CERT=1: the chain and the host name (X509_check_host,
 *                   or X509_check_ip_asc for an address) are checked against the host given
 *                   to mysql_real_connect; xc_connect passes --backend's name for that.
 * TLS over a unix socket (--backend /path) follows the same rules.
 */
static void
xc_apply_tls(struct xconn *c)
{
    struct explain *e = c->e;
    if (e->tls == CONF_BTLS_OFF) {
        return;
    }
    my_bool on = 1, verify = e->tls == CONF_BTLS_VERIFY_IDENTITY ? 1 : 0;
    mysql_options(c->my, MYSQL_OPT_SSL_ENFORCE, &on);
    mysql_options(c->my, MYSQL_OPT_SSL_VERIFY_SERVER_CERT, &verify);
    if (e->tls >= CONF_BTLS_VERIFY_CA && e->tls_ca) {
        mysql_options(c->my, MYSQL_OPT_SSL_CA, e->tls_ca);
    }
}

static bool
xc_connect(struct xconn *c)
{
    struct explain *e = c->e;
    c->my = mysql_init(NULL);
    if (!c->my) {
        return false;
    }
    unsigned secs = (unsigned)((e->timeout_us + 999999) / 1000000);
    if (secs == 0) {
        secs = 1;
    }
    unsigned proto = e->unix_path ? MYSQL_PROTOCOL_SOCKET : MYSQL_PROTOCOL_TCP;
    mysql_options(c->my, MYSQL_OPT_NONBLOCK, 0);
    mysql_options(c->my, MYSQL_OPT_CONNECT_TIMEOUT, &secs);
    mysql_options(c->my, MYSQL_OPT_READ_TIMEOUT, &secs);
    mysql_options(c->my, MYSQL_OPT_WRITE_TIMEOUT, &secs);
    mysql_options(c->my, MYSQL_OPT_PROTOCOL, &proto);
    mysql_options(c->my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    xc_apply_tls(c);
    /* The resolved address, so that connect does not resolve on this loop; only
     * verify-identity against a host name passes the name (libmariadb checks the certificate
     * against it; resolving it may then delay this thread, never the workers). */
    const char *host = e->unix_path ? NULL : e->host;
    if (host && e->tls == CONF_BTLS_VERIFY_IDENTITY && e->tls_name[0]) {
        host = e->tls_name;
    }
    c->state = XC_CONNECTING;
    c->timed_out = false;
    c->broken = false;
    xc_after(c, mysql_real_connect_start(&c->ret_my, c->my, host, e->user, e->password, NULL,
                                         e->port, e->unix_path, 0));
    return true;
}

/* ---- scheduling ---- */

static bool
any_conn_up(struct explain *e)
{
    for (int i = 0; i < e->nconns; i++) {
        enum xc_state s = e->conns[i].state;
        if (s == XC_IDLE || s == XC_SELECTDB || s == XC_QUERY || s == XC_STORE) {
            return true;
        }
    }
    return false;
}

static void
schedule(struct explain *e)
{
    while (e->pend_head) {
        struct xconn *idle = NULL, *down = NULL;
        for (int i = 0; i < e->nconns; i++) {
            if (e->conns[i].state == XC_IDLE && !idle) {
                idle = &e->conns[i];
            } else if (e->conns[i].state == XC_DOWN && !down) {
                down = &e->conns[i];
            }
        }
        if (!idle && !down) {
            return; /* all busy: wait for one */
        }
        if (!idle && e->last_connect_fail && now_us() - e->last_connect_fail < XBACKOFF_US) {
            if (any_conn_up(e)) {
                return; /* a working connection will take it */
            }
            char msg[256];
            snprintf(msg, sizeof(msg), "cannot connect: %s", e->last_connect_err);
            struct xtask *t = pend_pop(e);
            task_result(e, t, NULL, msg, false);
            continue;
        }
        if (!idle && e->last_connect_fail) {
            bool connecting = false;
            for (int i = 0; i < e->nconns; i++) {
                connecting |= e->conns[i].state == XC_CONNECTING;
            }
            if (connecting) {
                return; /* while failing, one connect attempt at a time */
            }
        }
        struct xtask *t = pend_pop(e);
        if (e->exiting) {
            task_result(e, t, NULL, "explain stopped", false);
            continue;
        }
        struct xconn *c = idle ? idle : down;
        c->task = t;
        xc_timer_arm(c, e->timeout_us);
        if (idle) {
            xc_start_task(c);
        } else if (!xc_connect(c)) {
            c->task = NULL;
            xc_timer_disarm(c);
            task_result(e, t, NULL, "out of memory", false);
        }
    }
}

/* ---- records and live requests ---- */

static void
handle_rec(struct explain *e, struct xtask *t, bool after_live)
{
    struct rec *r = t->rec;
    if (!r->explainable) {
        rec_finish(e, t);
        return;
    }
    if (!r->sql || !proto_stmt_explainable(proto_stmt_classify(r->sql, r->sql_len))) {
        rec_fail(e, t, "not explainable"); /* checked again here: never EXPLAIN anything else */
        return;
    }
    struct xlive *l = r->live_token ? live_find(e, r->live_token) : NULL;
    if (l && l->state == XL_INFLIGHT && !after_live) {
        if (l->waiter) { /* a second record with the same token: do not wait */
            rec_fail(e, t, "duplicate live token");
            return;
        }
        l->waiter = t; /* handle_rec runs again when the live answer comes */
        return;
    }
    if (l && l->state == XL_OK) {
        r->plan = l->plan;
        l->plan = NULL;
        r->explain_source = REC_EXPLAIN_LIVE;
        cache_store(e, r->digest, r->plan);
        live_free(e, l);
        log_plan(e, r);
        rec_finish(e, t);
        return;
    }
    if (l) {
        live_free(e, l); /* failed: fall back to EXPLAIN after completion */
    }
    struct xcache *c = cache_get(e, r->digest);
    if (c && c->inflight) {
        t->next = c->waiters;
        c->waiters = t;
        return;
    }
    if (c && c->at && now_us() - c->at < e->interval_us) {
        rec_from_cache(e, t, c);
        return;
    }
    if (r->sql_truncated) {
        rec_fail(e, t, "statement truncated");
        return;
    }
    t->ent = c;
    if (c) {
        c->inflight = true;
    }
    pend_push(e, t, false);
}

static void
handle_job(struct explain *e, struct xjob *j)
{
    struct xtask *t = calloc(1, sizeof(*t));
    if (j->rec) {
        if (!t) {
            snprintf(j->rec->explain_error, sizeof(j->rec->explain_error), "out of memory");
            e->done(e->done_arg, j->rec, j->log);
            pthread_mutex_lock(&e->mu);
            e->out_recs--;
            pthread_mutex_unlock(&e->mu);
            return;
        }
        t->rec = j->rec;
        t->log = j->log;
        t->deadline = now_us() + e->timeout_us;
        handle_rec(e, t, false);
        return;
    }
    struct xlive *l = calloc(1, sizeof(*l));
    if (!t || !l) {
        free(t);
        free(l);
        pthread_mutex_lock(&e->mu);
        e->out_live--;
        pthread_mutex_unlock(&e->mu);
        return;
    }
    l->token = j->token;
    l->thread_id = j->thread_id;
    l->digest = j->digest;
    l->created = now_us();
    l->next = e->lives;
    e->lives = l;
    t->live = l;
    t->deadline = now_us() + e->timeout_us;
    pend_push(e, t, true); /* live plans go first: the statement is running now */
}

static void
drain(struct explain *e)
{
    struct xjob batch[64];
    for (;;) {
        size_t n = 0;
        pthread_mutex_lock(&e->mu);
        while (n < 64 && e->rcount > 0) {
            batch[n++] = e->ring[e->rhead];
            e->rhead = (e->rhead + 1) % XQ_RING;
            e->rcount--;
        }
        if (e->stopping && !e->stop_seen) {
            e->stop_seen = true;
            e->stop_deadline = now_us() + e->timeout_us;
        }
        pthread_mutex_unlock(&e->mu);
        if (n == 0) {
            break;
        }
        for (size_t i = 0; i < n; i++) {
            handle_job(e, &batch[i]);
        }
    }
    schedule(e);
    e->done(e->done_arg, NULL, false); /* end of a batch: the callee may flush */
}

static void
wake_cb(evutil_socket_t fd, short what, void *arg)
{
    drain(arg);
}

/* Fails everything still waiting; used when the stop deadline passes. */
static void
fail_all(struct explain *e)
{
    e->exiting = true;
    struct xtask *t;
    while ((t = pend_pop(e)) != NULL) {
        task_result(e, t, NULL, "explain stopped", false);
    }
    for (struct xlive *l = e->lives; l; l = l->next) {
        if (l->waiter) {
            struct xtask *w = l->waiter;
            l->waiter = NULL;
            rec_fail(e, w, "explain stopped");
        }
    }
    for (int i = 0; i < e->nconns; i++) {
        struct xconn *c = &e->conns[i];
        if (c->state != XC_DOWN && c->state != XC_IDLE && c->state != XC_CLOSING) {
            c->timed_out = true;
            xc_abort(c);
        }
    }
}

static void
tick_cb(evutil_socket_t fd, short what, void *arg)
{
    struct explain *e = arg;
    int64_t now = now_us();
    drain(e);

    /* records waiting too long for a connection are passed on */
    struct xtask *keep = NULL, **kt = &keep, *t;
    while ((t = pend_pop(e)) != NULL) {
        if (now >= t->deadline) {
            if (t->rec) {
                atomic_fetch_add(&e->c_dropped, 1);
            }
            task_result(e, t, NULL, "dropped: explain connections busy", false);
        } else {
            *kt = t;
            kt = &t->next;
        }
    }
    for (t = keep; t;) {
        struct xtask *next = t->next;
        pend_push(e, t, false);
        t = next;
    }
    /* answered live plans whose record never came */
    for (struct xlive *l = e->lives, *next; l; l = next) {
        next = l->next;
        if (l->state != XL_INFLIGHT && !l->waiter && now - l->created > XLIVE_KEEP_US) {
            live_free(e, l);
        }
    }
    if (e->logbuf) {
        logbuf_flush(e->logbuf);
    }

    if (!e->stop_seen) {
        return;
    }
    if (!e->exiting && now >= e->stop_deadline) {
        fail_all(e);
    }
    pthread_mutex_lock(&e->mu);
    bool idle = e->out_recs == 0 && e->rcount == 0;
    pthread_mutex_unlock(&e->mu);
    if (!idle && !e->exiting) {
        return;
    }
    e->exiting = true;
    bool all_down = true;
    for (int i = 0; i < e->nconns; i++) {
        struct xconn *c = &e->conns[i];
        if (c->state == XC_IDLE) {
            xc_close(c);
        }
        if (c->state != XC_DOWN) {
            all_down = false;
        }
    }
    pthread_mutex_lock(&e->mu);
    idle = e->out_recs == 0 && e->rcount == 0;
    pthread_mutex_unlock(&e->mu);
    if (all_down && idle) {
        event_base_loopexit(e->base, NULL);
    }
}

static void *
explain_main(void *arg)
{
    struct explain *e = arg;
    if (e->logfile) {
        e->logbuf = logbuf_new(e->logfile);
    }
    event_base_loop(e->base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* everything has been passed to done; free what is left */
    while (e->lives) {
        live_free(e, e->lives);
    }
    for (struct xcache *c = e->lru_head, *next; c; c = next) {
        next = c->lnext;
        plan_free(c->plan);
        free(c);
    }
    e->lru_head = e->lru_tail = NULL;
    memset(e->buckets, 0, sizeof(e->buckets));
    e->ncache = 0;
    if (e->logbuf) {
        logbuf_free(e->logbuf);
        e->logbuf = NULL;
    }
    slowlog_thread_cleanup(); /* done() formats slow-log entries on this thread */
    return NULL;
}

/* ---- setup ---- */

/* Resolves conf->backend once, before the thread starts (no DNS on the loop). */
static bool
resolve_backend(struct explain *e, const char *addr)
{
    if (!addr || !*addr) {
        addr = "127.0.0.1:3306";
    }
    if (addr[0] == '/') {
        e->unix_path = strdup(addr);
        return e->unix_path != NULL;
    }
    char host[256];
    const char *port = NULL;
    if (addr[0] == '[') {
        const char *end = strchr(addr, ']');
        if (!end || (size_t)(end - addr - 1) >= sizeof(host)) {
            return false;
        }
        memcpy(host, addr + 1, (size_t)(end - addr - 1));
        host[end - addr - 1] = '\0';
        if (end[1] == ':') {
            port = end + 2;
        } else if (end[1] != '\0') {
            return false;
        }
    } else {
        const char *colon = strrchr(addr, ':');
        size_t hl = colon ? (size_t)(colon - addr) : strlen(addr);
        if (hl >= sizeof(host)) {
            return false;
        }
        memcpy(host, addr, hl);
        host[hl] = '\0';
        port = colon ? colon + 1 : NULL;
    }
    long p = 3306;
    if (port) {
        char *endp;
        p = strtol(port, &endp, 10);
        if (*port == '\0' || *endp != '\0' || p <= 0 || p > 65535) {
            return false;
        }
    }
    e->port = (unsigned)p;
    struct in6_addr ip;
    if (host[0] && inet_pton(AF_INET, host, &ip) != 1 && inet_pton(AF_INET6, host, &ip) != 1) {
        snprintf(e->tls_name, sizeof(e->tls_name), "%s", host);
    }
    struct addrinfo hints, *res = NULL;
    memset(&hints, 0, sizeof(hints));
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host[0] ? host : "127.0.0.1", NULL, &hints, &res);
    if (rc != 0 || !res) {
        fprintf(stderr, "slowtap: explain: cannot resolve %s: %s\n", host, gai_strerror(rc));
        return false;
    }
    rc = getnameinfo(res->ai_addr, res->ai_addrlen, e->host, sizeof(e->host), NULL, 0,
                     NI_NUMERICHOST);
    freeaddrinfo(res);
    return rc == 0;
}

static void
explain_free(struct explain *e)
{
    for (int i = 0; i < XC_MAX_CONNS; i++) {
        if (e->conns[i].ev) {
            event_free(e->conns[i].ev);
        }
        if (e->conns[i].timer) {
            event_free(e->conns[i].timer);
        }
    }
    if (e->wake) {
        event_free(e->wake);
    }
    if (e->tick) {
        event_free(e->tick);
    }
    if (e->base) {
        event_base_free(e->base);
    }
    pthread_mutex_destroy(&e->mu);
    free(e->user);
    free(e->password);
    free(e->unix_path);
    free(e->tls_ca);
    free(e);
}

struct explain *
explain_start(const struct conf *c, explain_done_fn done, void *done_arg,
              struct logfile *explain_log, const struct filter *filter)
{
    if (!c->explain_user || !c->explain_user[0] || !done) {
        return NULL;
    }
    struct explain *e = calloc(1, sizeof(*e));
    if (!e) {
        fprintf(stderr, "slowtap: explain: out of memory; auto-EXPLAIN is off\n");
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    e->filter = filter;
    atomic_init(&e->next_token, 1);
    e->done = done;
    e->done_arg = done_arg;
    e->logfile = explain_log;
    e->timeout_us = c->explain_timeout_us > 0 ? c->explain_timeout_us : 2000000;
    e->interval_us = c->explain_interval_us >= 0 ? c->explain_interval_us : 60000000;
    e->nconns = c->explain_max_inflight < 1 ? 1 : c->explain_max_inflight;
    if (e->nconns > XC_MAX_CONNS) {
        e->nconns = XC_MAX_CONNS;
    }
    e->user = strdup(c->explain_user);
    e->password = strdup(c->explain_password ? c->explain_password : "");
    e->tls = c->backend_tls;
    e->tls_ca = c->backend_tls_ca ? strdup(c->backend_tls_ca) : NULL;
    if (!e->user || !e->password || (c->backend_tls_ca && !e->tls_ca)) {
        fprintf(stderr, "slowtap: explain: out of memory; auto-EXPLAIN is off\n");
        explain_free(e);
        return NULL;
    }
    if (!resolve_backend(e, c->backend)) {
        fprintf(stderr, "slowtap: explain: bad backend address %s; auto-EXPLAIN is off\n",
                c->backend ? c->backend : "(none)");
        explain_free(e);
        return NULL;
    }
    e->base = event_base_new();
    if (e->base) {
        e->wake = event_new(e->base, -1, 0, wake_cb, e);
        e->tick = event_new(e->base, -1, EV_PERSIST, tick_cb, e);
    }
    bool ok = e->base && e->wake && e->tick;
    for (int i = 0; ok && i < e->nconns; i++) {
        e->conns[i].e = e;
        e->conns[i].timer = evtimer_new(e->base, xc_timer_cb, &e->conns[i]);
        ok = e->conns[i].timer != NULL;
    }
    struct timeval tv = {0, XTICK_MS * 1000};
    if (ok) {
        ok = event_add(e->tick, &tv) == 0;
    }
    if (!ok || pthread_create(&e->thread, NULL, explain_main, e) != 0) {
        fprintf(stderr, "slowtap: explain: cannot start the explain thread; auto-EXPLAIN is "
                        "off\n");
        explain_free(e);
        return NULL;
    }
    return e;
}

bool
explain_submit(struct explain *e, struct rec *rec, bool log)
{
    pthread_mutex_lock(&e->mu);
    bool ok = !e->stopping && e->out_recs < XQ_MAX_RECS && e->rcount < XQ_RING;
    /* Completed records are not urgent (they only wait for a log line): wake the thread once
     * per XQ_WAKE_BATCH of them, and let its tick take the rest, instead of a cross-thread
     * wake-up (and context switch) per statement. */
    bool wake = e->rcount + 1 == XQ_WAKE_BATCH;
    if (ok) {
        struct xjob *j = &e->ring[(e->rhead + e->rcount) % XQ_RING];
        memset(j, 0, sizeof(*j));
        j->rec = rec;
        j->log = log;
        e->rcount++;
        e->out_recs++;
    }
    pthread_mutex_unlock(&e->mu);
    if (ok) {
        if (wake) {
            event_active(e->wake, EV_READ, 0);
        }
        return true;
    }
    atomic_fetch_add(&e->c_dropped, 1);
    snprintf(rec->explain_error, sizeof(rec->explain_error), "dropped: queue full");
    return false;
}

uint64_t
explain_live(struct explain *e, uint32_t thread_id, uint64_t digest)
{
    if (!e) {
        return 0;
    }
    uint64_t token = atomic_fetch_add(&e->next_token, 1);
    pthread_mutex_lock(&e->mu);
    bool ok = !e->stopping && e->out_live < XQ_MAX_LIVE && e->rcount < XQ_RING;
    if (ok) {
        struct xjob *j = &e->ring[(e->rhead + e->rcount) % XQ_RING];
        memset(j, 0, sizeof(*j));
        j->token = token;
        j->thread_id = thread_id;
        j->digest = digest;
        e->rcount++;
        e->out_live++;
    }
    pthread_mutex_unlock(&e->mu);
    if (!ok) {
        return 0;
    }
    event_active(e->wake, EV_READ, 0);
    return token;
}

void
explain_get_counters(struct explain *e, struct explain_counters *out)
{
    memset(out, 0, sizeof(*out));
    if (!e) {
        return;
    }
    out->run = atomic_load(&e->c_run);
    out->failed = atomic_load(&e->c_failed);
    out->dropped = atomic_load(&e->c_dropped);
    out->cached = atomic_load(&e->c_cached);
    out->live = atomic_load(&e->c_live);
}

void
explain_stop(struct explain *e)
{
    if (!e) {
        return;
    }
    pthread_mutex_lock(&e->mu);
    e->stopping = true;
    pthread_mutex_unlock(&e->mu);
    event_active(e->wake, EV_READ, 0);
    pthread_join(e->thread, NULL);
    explain_free(e);
}
