/*
 * explain.c - auto-EXPLAIN on a thread of its own: a bounded submission queue fed by the
 * workers, a small pool of side connections driven by libmariadb's non-blocking API on a
 * private libevent loop, a per-digest plan cache (rate limit) and live plans by token. It sees
 * only struct explain_job and answers through the hooks (explain.h); the explain log and the
 * slow log are written by the proxy's done hook.
 *
 * Flow of a job (all on the explain thread after explain_submit):
 *
 *   ring --drain--> handle_stmt -not explainable / truncated-------------------> done
 *                       |------ live plan ready (token) ------------------------> done
 *                       |------ live plan in flight -> park on the live entry
 *                       |------ cached plan (< explain_interval) --------------> done
 *                       |------ same digest being explained -> park on the cache entry
 *                       `------ task -> pending FIFO -> connection:
 *                                 [connect] -> [select_db] -> [sql_mode] -> EXPLAIN -> store
 *                                 -> [meta: information_schema COLUMNS/STATISTICS of the
 *                                    scanned tables, for index advice] -> done
 *
 * Only EXPLAIN <stmt>, SHOW EXPLAIN FOR n / EXPLAIN FOR CONNECTION n, the schema switch and
 * `SET SESSION sql_mode` (to the mode the client's session set, so the text means the same)
 * and, for index advice, SELECTs of information_schema.COLUMNS and STATISTICS are ever sent. A connection whose task times out is shut down (the pending libmariadb call then
 * fails at once) and closed with mysql_close_start/_cont.
 *
 * What the server measured (pfs.h): while performance_schema's statement history may be
 * collected, a logged job passes through one more task before done (job_finish ->
 * pfs_wanted): [SELECT @@performance_schema, once per connection] -> its history rows ->
 * job->pfs. A live capture on MariaDB >= 10.9 that got a plan also takes SHOW ANALYZE FOR n.
 */
#include "explain/explain.h"
#include "explain/lockwait.h"
#include "explain/pfs.h"

#include <arpa/inet.h>
#include <errno.h>
#include <errmsg.h>
#include <mysql.h>
#include <mysqld_error.h>
#include <netdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include <event2/event.h>

#include "protocol/proto_fingerprint.h"
#include "protocol/proto_sqlmode.h"
#include "explain/advice.h"

#define XQ_MAX_RECS   1024 /* jobs accepted and not yet passed to done */
#define XQ_MAX_LIVE   256  /* live requests kept (in flight or waiting for their job) */
#define XQ_RING       (XQ_MAX_RECS + XQ_MAX_LIVE)
#define XC_MAX_CONNS  64
#define XCACHE_MAX    4096
#define XCACHE_BUCKET 8192
#define XLIVE_KEEP_US (600LL * 1000000) /* a live plan waits this long for its job */
#define XBACKOFF_US   1000000LL         /* at most one connect attempt per second while failing */
#define XCLOSE_US     1000000LL         /* bound on a graceful close */
#define XQ_WAKE_BATCH 32                /* jobs queued before the thread is woken (else its tick) */
#define XTICK_MS      100 /* housekeeping, and done(NULL) so the proxy flushes its logs */
#define XWARN_KINDS   64

/* A submission from a worker: a completed statement's job or a live-plan request. */
struct xjob {
    struct explain_job *job; /* NULL for a live request */
    uint64_t token;
    uint32_t thread_id;
    uint64_t digest;
    bool want_plan; /* live request: the statement is explainable */
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
    bool want_plan;       /* SHOW EXPLAIN too (else only the lock-wait query) */
    int phase;            /* 0: what the statement waits for, 1: its plan (2, 3 below) */
    struct lockwait lock; /* phase 0's answer (phase 3: MariaDB's metadata-lock blocker) */
    void *blocker;        /* the blocker hook's answer for lock.blocked_by, or NULL */
    char *analyze;        /* phase 2 (MariaDB >= 10.9): SHOW ANALYZE as lines, or NULL */
    int64_t created;
    struct xtask *waiter; /* the job with this token, when it came before the answer */
};

/* Work for a connection: an EXPLAIN for a job or a live request. */
struct xtask {
    struct xtask *next;
    struct explain_job *job; /* NULL for a live task */
    struct xlive *live;      /* live task: the entry it answers */
    struct xcache *ent;      /* job task: the digest's cache entry it explains for */
    int64_t deadline;        /* monotonic; waiting longer for a connection drops it */
    bool retried;            /* already retried once on a new connection */
    bool pfs;                /* job task: read its performance_schema row (then done) */
    struct plan *live_plan;  /* job task: a live plan that only needs its index advice */
    bool live_src;           /* job task: its plan is a live one (EXPLAIN_SRC_LIVE) */
};

/* Per-digest plan cache entry; LRU-ordered, bounded. */
struct xcache {
    uint64_t digest;
    struct xcache *hnext;
    struct xcache *lprev, *lnext;
    struct plan *plan; /* last plan, NULL when none */
    char *advice;      /* index advice of that plan (heap), NULL when none */
    char error[256];   /* last server error (negative cache) when no plan */
    int64_t at;        /* monotonic time of the last answer, 0 = never */
    bool inflight;     /* an EXPLAIN for this digest is queued or running */
    struct xtask *waiters;
};

enum xc_state {
    XC_DOWN = 0,
    XC_CONNECTING,
    XC_IDLE,
    XC_SELECTDB,
    XC_SQLMODE, /* SET SESSION sql_mode to the client session's */
    XC_QUERY,
    XC_STORE,
    XC_META,       /* index advice: information_schema COLUMNS + STATISTICS of the tables */
    XC_META_STORE, /* ... and its result */
    XC_PFS,        /* performance_schema: detection, or the job's history rows */
    XC_PFS_STORE,  /* ... and its result */
    XC_CLOSING
};

struct xconn {
    struct explain *e;
    MYSQL *my;
    enum xc_state state;
    struct event *ev;    /* the current wait on the socket / libmariadb timeout */
    struct event *timer; /* task deadline, or close bound */
    int wait;            /* last non-zero status of a _start/_cont, 0 when none */
    bool timed_out;
    bool lib_timeout; /* libmariadb's own read/write/connect timeout ended the last wait */
    bool broken;      /* must be closed after the current operation */
    bool is_mariadb;
    bool fresh; /* connected for the current task (not reused) */
    char db[65];
    bool mode_set;    /* the connection's sql_mode was set (else the server's default) */
    char mode[256];   /* then: to this list ("" = DEFAULT) */
    char *mode_query; /* SET SESSION sql_mode = '...' while XC_SQLMODE runs */
    struct xtask *task;
    MYSQL *ret_my;
    int ret_int;
    MYSQL_RES *ret_res;
    char query[64 + 1];     /* short queries (SHOW EXPLAIN ...) */
    char *qbuf;             /* EXPLAIN <statement> */
    int addr_i;             /* XC_CONNECTING: the index in e->hosts being tried */
    char connect_errs[400]; /* XC_CONNECTING: "ADDR: error; ..." of the addresses tried */
    /* index advice (XC_META*): the plan waiting for it, the tables being read */
    struct plan *adv_plan;
    struct advice_tname adv_need[ADVICE_MAX_TABLES];
    size_t adv_nneed;
    /* performance_schema (XC_PFS*): 0 not yet asked on this connection, 1 the statement
     * history is collected, -1 not; when the history query was sent (realtime us) */
    int pfs_on;
    int64_t pfs_asked_wall;
    struct plan *live_plan; /* live phase 2: the plan of phase 1, waiting for SHOW ANALYZE */
};

/* information_schema's description of a table, kept for --explain-interval. */
struct xmeta {
    struct xmeta *next;
    struct advice_table *t;
    int64_t at; /* monotonic time it was read */
};

struct explain {
    /* set up before the thread starts, read-only afterwards */
    char *user, *password;
    /* --backend's addresses as main resolved them (net/net_addr.h): each connect tries them in
     * order until one accepts; a unix path is one address */
    char hosts[NET_ADDR_MAX][INET6_ADDRSTRLEN + 1]; /* numeric, for mysql_real_connect */
    char addr_text[NET_ADDR_MAX][112];              /* "[::1]:3306", for messages */
    int naddrs;
    unsigned port;
    char *unix_path;
    char backend_text[300]; /* --backend as written */
    /* backend TLS of the side connections (--backend-tls, --backend-tls-ca) */
    enum conf_backend_tls tls;
    char *tls_ca;
    char tls_name[256]; /* --backend's host when it is a name (verify-identity), else "" */
    int64_t timeout_us, interval_us;
    int rate; /* --explain-rate: EXPLAINs started per second (0: no limit) */
    int nconns;
    struct explain_hooks hooks; /* done, blocker, thread_exit (explain.h) */

    struct event_base *base;
    struct event *wake, *tick;
    pthread_t thread;

    /* shared with the workers, under mu */
    pthread_mutex_t mu;
    struct xjob ring[XQ_RING];
    size_t rhead, rcount;
    size_t out_recs, out_live;
    bool stopping;

    _Atomic uint64_t c_run, c_failed, c_dropped, c_cached, c_live, c_rate_limited;
    _Atomic uint64_t next_token;

    /* explain thread only */
    struct xconn conns[XC_MAX_CONNS];
    struct xtask *pend_head, *pend_tail;
    struct xcache *buckets[XCACHE_BUCKET];
    struct xcache *lru_head, *lru_tail;
    size_t ncache;
    struct xlive *lives;
    struct xmeta *metas; /* index advice: tables described, most recent first */
    size_t nmetas;
    int64_t rate_tat;          /* --explain-rate's clock (rate_take), monotonic us */
    int64_t last_connect_fail; /* monotonic, 0 when the last connect worked */
    char last_connect_err[200];
    int warned[XWARN_KINDS];
    int nwarned;
    bool stop_seen;
    int64_t stop_deadline;
    bool exiting;
    /* 0 not known yet, 1 a side connection found the statement history collected, -1 one
     * found it off or unreadable (then it is not asked again) */
    _Atomic int pfs_state;
};

static void xc_start_task(struct xconn *c);
static void schedule(struct explain *e);
static void handle_stmt(struct explain *e, struct xtask *t, bool after_live);

static int64_t
now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
wall_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- jobs ---- */

const char *
explain_source_name(enum explain_source s)
{
    switch (s) {
    case EXPLAIN_SRC_LIVE:
        return "live";
    case EXPLAIN_SRC_AFTER:
        return "after";
    case EXPLAIN_SRC_CACHED:
        return "cached";
    default:
        return NULL;
    }
}

void
explain_job_release(struct explain_job *j)
{
    if (!j) {
        return;
    }
    plan_free(j->plan);
    j->plan = NULL;
    free(j->index_advice);
    j->index_advice = NULL;
    free(j->analyze);
    j->analyze = NULL;
    free(j->blocker);
    j->blocker = NULL;
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

/* ---- job completion ---- */

static void pend_push(struct explain *e, struct xtask *t, bool front);

/* Does a finished job first get its performance_schema row? Only logged statements, while
 * the history may be collected, and not when the side connections are known to be stuck. */
static bool
pfs_wanted(const struct explain *e, const struct xtask *t)
{
    const char *err = t->job->error;
    return !t->pfs && t->job->log && e->pfs_state >= 0 && !e->exiting && t->job->thread_id &&
           t->job->sql && t->job->sql_len && !t->job->interrupted &&
           strncmp(err, "dropped", 7) != 0 && strncmp(err, "cannot connect", 14) != 0 &&
           strncmp(err, "explain stopped", 15) != 0;
}

static void
job_finish(struct explain *e, struct xtask *t)
{
    if (pfs_wanted(e, t)) { /* read what the server measured first (bounded: explain timeout) */
        t->pfs = true;
        t->ent = NULL;
        t->live = NULL;
        t->retried = false;
        t->deadline = now_us() + e->timeout_us;
        pend_push(e, t, false);
        return;
    }
    struct explain_job *job = t->job;
    free(t);
    e->hooks.done(e->hooks.arg, job);
    pthread_mutex_lock(&e->mu);
    e->out_recs--;
    pthread_mutex_unlock(&e->mu);
}

static void
job_fail(struct explain *e, struct xtask *t, const char *msg)
{
    snprintf(t->job->error, sizeof(t->job->error), "%s", msg);
    job_finish(e, t);
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
    free(c->advice);
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

/* Gives a job the cached answer of `c` (a plan copy, or its server error). */
static void
job_from_cache(struct explain *e, struct xtask *t, struct xcache *c)
{
    if (c->plan) {
        t->job->plan = plan_ref(c->plan); /* shared: plans are read-only once built */
        if (c->advice && !t->job->index_advice) {
            t->job->index_advice = strdup(c->advice); /* NULL (no advice) when out of memory */
        }
        if (t->job->plan) {
            t->job->source = EXPLAIN_SRC_CACHED;
            atomic_fetch_add(&e->c_cached, 1);
        } else {
            snprintf(t->job->error, sizeof(t->job->error), "out of memory");
        }
    } else {
        snprintf(t->job->error, sizeof(t->job->error), "%s", c->error);
    }
    job_finish(e, t);
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
    free(l->blocker);
    free(l->analyze);
    free(l);
    pthread_mutex_lock(&e->mu);
    e->out_live--;
    pthread_mutex_unlock(&e->mu);
}

/* ---- task outcomes ---- */

/* A job task's EXPLAIN ended: plan (ownership passes) or error. */
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
        t->job->plan = p;
        t->job->source = t->live_src ? EXPLAIN_SRC_LIVE : EXPLAIN_SRC_AFTER;
        if (c) {
            plan_free(c->plan);
            c->plan = plan_ref(p);
            free(c->advice);
            c->advice = t->job->index_advice ? strdup(t->job->index_advice) : NULL;
            c->error[0] = '\0';
            c->at = c->plan ? now_us() : 0;
        }
        job_finish(e, t);
    } else {
        atomic_fetch_add(&e->c_failed, 1);
        if (c && server_err) { /* the statement cannot be explained: remember for a while */
            plan_free(c->plan);
            c->plan = NULL;
            snprintf(c->error, sizeof(c->error), "%s", err);
            c->at = now_us();
        }
        job_fail(e, t, err);
    }
    /* jobs of the same shape that waited for this answer */
    while (w) {
        struct xtask *next = w->next;
        if (p && c && c->plan) {
            job_from_cache(e, w, c);
        } else {
            job_fail(e, w, err ? err : "out of memory");
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
    if (p || l->lock.kind) {
        if (p) {
            atomic_fetch_add(&e->c_run, 1);
            atomic_fetch_add(&e->c_live, 1);
        }
        l->state = XL_OK;
        l->plan = p;
    } else {
        atomic_fetch_add(&e->c_failed, 1);
        l->state = XL_FAILED;
        (void)err; /* the statement usually ended first; the job falls back */
    }
    if (l->waiter) {
        struct xtask *w = l->waiter;
        l->waiter = NULL;
        w->deadline = now_us() + e->timeout_us;
        handle_stmt(e, w, true);
    }
}

static void
task_result(struct explain *e, struct xtask *t, struct plan *p, const char *err, bool server_err)
{
    if (t->pfs) { /* the row was read, or not: the job goes on with what it has */
        plan_free(p);
        job_finish(e, t);
        return;
    }
    if (t->job) {
        if (!p && t->live_plan) { /* the advice step failed: the live plan stands */
            p = t->live_plan;
            t->live_plan = NULL;
            err = NULL;
        }
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
    /* libmariadb's timeouts equal the task's: whichever of the two fires first, the
     * statement's error says "timeout" (not libmariadb's "Lost connection ..., 11") */
    c->lib_timeout = (what & EV_TIMEOUT) && (c->wait & MYSQL_WAIT_TIMEOUT);
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
static bool xc_connect_next(struct xconn *c);

/* verify-identity against a host name: libmariadb is given the name (it checks the
 * certificate against it, and resolves and tries the name's addresses itself). */
static bool
xc_connect_by_name(const struct explain *e)
{
    return e->tls == CONF_BTLS_VERIFY_IDENTITY && e->tls_name[0] && !e->unix_path;
}

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
    case XC_SQLMODE:
    case XC_QUERY:
        st = mysql_real_query_cont(&c->ret_int, c->my, ev);
        break;
    case XC_STORE:
    case XC_META_STORE:
        st = mysql_store_result_cont(&c->ret_res, c->my, ev);
        break;
    case XC_META:
    case XC_PFS:
        st = mysql_real_query_cont(&c->ret_int, c->my, ev);
        break;
    case XC_PFS_STORE:
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
    free(c->mode_query);
    c->mode_query = NULL;
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

static void xc_start_query(struct xconn *c);
static bool adv_start(struct xconn *c, struct plan *p);

/* After the lock question: SHOW EXPLAIN for an explainable statement that waits for no lock
 * (one that waits would answer SHOW EXPLAIN only once the lock is granted, holding this
 * connection: it gets its plan by EXPLAIN after it completed), else the live task ends. */
static void
live_plan_next(struct xconn *c)
{
    struct xlive *l = c->task->live;
    if (l->want_plan && l->lock.kind == LOCKWAIT_NONE) {
        l->phase = 1;
        xc_start_query(c);
        return;
    }
    xc_task_end(c, NULL, l->lock.kind ? NULL : "no plan returned", true);
}

/* The column names of a result, at most cap of them (the readers in lockwait.c, pfs.c and
 * plan.c find their columns by name); returns how many were taken. */
static unsigned
res_names(MYSQL_RES *res, const char **names, unsigned cap)
{
    unsigned n = mysql_num_fields(res);
    MYSQL_FIELD *f = mysql_fetch_fields(res);
    n = n > cap ? cap : n;
    for (unsigned i = 0; i < n; i++) {
        names[i] = f[i].name;
    }
    return n;
}

/* The lock-wait query answered: keep what the statement waits for and who blocks it. */
static void
live_locks_done(struct xconn *c)
{
    struct xlive *l = c->task->live;
    free(c->qbuf);
    c->qbuf = NULL;
    if (c->ret_res) {
        const char *names[16];
        unsigned n = res_names(c->ret_res, names, 16);
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(c->ret_res)) != NULL) {
            lockwait_add_row(&l->lock, names, (const char *const *)row, n);
        }
        mysql_free_result(c->ret_res);
        c->ret_res = NULL;
    }
    l->lock.asked_wall_us = wall_now_us();
    if (c->is_mariadb && lockwait_mdl_wanted(&l->lock)) {
        l->phase = 3; /* who holds the metadata lock: one more read (lockwait.h) */
        xc_start_query(c);
        return;
    }
    if (l->lock.blocked_by && c->e->hooks.blocker) {
        l->blocker = c->e->hooks.blocker(c->e->hooks.arg, l->lock.blocked_by);
    }
    live_plan_next(c);
}

/* Phase 3 answered (MariaDB metadata-lock wait): the candidates, told apart by what the proxy
 * knows of each (the touch hook), and the blocker chosen by lockwait_mdl_choose. */
static void
live_mdl_done(struct xconn *c)
{
    struct xlive *l = c->task->live;
    struct explain_hooks *h = &c->e->hooks;
    struct lockwait_mdl m = {0};
    free(c->qbuf);
    c->qbuf = NULL;
    if (c->ret_res) {
        const char *names[16];
        unsigned n = res_names(c->ret_res, names, 16);
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(c->ret_res)) != NULL) {
            lockwait_mdl_add_row(&m, names, (const char *const *)row, n);
        }
        mysql_free_result(c->ret_res);
        c->ret_res = NULL;
    }
    if (c->timed_out) {
        c->broken = true;
    }
    void *views[LOCKWAIT_MDL_MAX] = {0};
    for (unsigned i = 0; i < m.n && h->blocker; i++) {
        views[i] = h->blocker(h->arg, m.c[i].id);
        m.c[i].touch = h->touch ? h->touch(h->arg, views[i], m.db, m.table) : 0;
    }
    lockwait_mdl_choose(&l->lock, &m);
    for (unsigned i = 0; i < m.n; i++) {
        if (views[i] && !l->blocker && l->lock.blocked_by == m.c[i].id) {
            l->blocker = views[i];
        } else {
            free(views[i]);
        }
    }
    live_plan_next(c);
}

/* ---- live phase 2: SHOW ANALYZE (MariaDB >= 10.9) ---- */

/* After SHOW EXPLAIN returned plan p for a statement that waits for no lock: on MariaDB 10.9
 * or later, also the actual rows and times so far. True when that query was started (p waits
 * on the connection); false: the task ends with p now. */
static bool
live_analyze_start(struct xconn *c, struct plan *p)
{
    struct xlive *l = c->task->live;
    if (!l || l->phase != 1 || !c->is_mariadb || mysql_get_server_version(c->my) < 100900) {
        return false;
    }
    c->live_plan = p;
    l->phase = 2;
    xc_start_query(c);
    return true;
}

/* Phase 2 ended (rows or not): the live task ends with phase 1's plan. A client-side error
 * or a timeout closes the connection after. */
static void
live_analyze_end(struct xconn *c, bool ok)
{
    struct xlive *l = c->task->live;
    if (c->ret_res) {
        MYSQL_ROW row = mysql_fetch_row(c->ret_res);
        unsigned long *len = row ? mysql_fetch_lengths(c->ret_res) : NULL;
        if (row && len && row[0] && !l->analyze) {
            l->analyze = pfs_analyze_lines(row[0], len[0]);
        }
        mysql_free_result(c->ret_res);
        c->ret_res = NULL;
    }
    if (!ok || c->timed_out) {
        c->broken = true;
    }
    struct plan *p = c->live_plan;
    c->live_plan = NULL;
    xc_task_end(c, p, NULL, true);
}

/* The text of the last call's error on `c`: "timeout" when libmariadb's own timeout ended it. */
static const char *
xc_error(struct xconn *c)
{
    return c->lib_timeout ? "timeout" : mysql_error(c->my);
}

/* The error of the last call on `c`, for a job. Client-side errors break the connection. */
static void
xc_fail(struct xconn *c)
{
    char msg[256];
    unsigned no = mysql_errno(c->my);
    bool connecting = c->state == XC_CONNECTING;
    bool server_err = no > 0 && (no < 2000 || no >= 3000) && !c->timed_out && !connecting;
    const char *prefix = connecting ? "cannot connect: " : "";
    if (c->task && c->task->live && c->task->live->phase == 2) {
        live_analyze_end(c, server_err); /* the plan of phase 1 stands */
        return;
    }
    if (c->task && c->task->live && c->task->live->phase == 3) {
        c->broken = c->broken || !server_err;
        live_plan_next(c); /* phase 0's answer stands */
        return;
    }
    if (server_err && c->task && c->task->live && c->task->live->phase == 0) {
        live_plan_next(c); /* the lock tables cannot be read (privileges, server kind) */
        return;
    }
    if (!server_err) {
        c->broken = true; /* a failed connect, a timeout or a client-side error: close it */
    }
    if (!connecting && !c->timed_out && !c->lib_timeout && !c->fresh && c->task &&
        !c->task->retried && (no == CR_SERVER_GONE_ERROR || no == CR_SERVER_LOST)) {
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
        snprintf(what, sizeof(what), "cannot connect to %.200s as %s", e->backend_text, e->user);
    } else {
        snprintf(what, sizeof(what), "EXPLAIN failed");
    }
    if (c->timed_out) {
        snprintf(msg, sizeof(msg), "%stimeout", prefix);
        warn_once(c->e, connecting ? -2 : -1, what, "timeout");
    } else {
        const char *err = connecting && c->connect_errs[0] ? c->connect_errs
                          : no                             ? xc_error(c)
                                                           : "unknown error";
        if (no == ER_NO_SUCH_TABLE && c->task && c->task->job) {
            /* the statement ran on the client's connection, which may hold the table */
            snprintf(msg, sizeof(msg),
                     "%.140s (if the statement found it, it is a temporary table of its "
                     "session, which the EXPLAIN connection cannot see)",
                     err);
        } else {
            snprintf(msg, sizeof(msg), "%s%.230s", prefix, err);
        }
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
    if (t->job && t->live_plan) {
        /* a live plan with a flagged scan: only the tables' columns and indexes are read */
        struct plan *p = t->live_plan;
        t->live_plan = NULL;
        if (!adv_start(c, p)) {
            xc_task_end(c, p, NULL, true);
        }
        return;
    }
    if (t->job) {
        size_t n = t->job->sql_len;
        c->qbuf = malloc(n + 9);
        if (!c->qbuf) {
            xc_task_end(c, NULL, "out of memory", false);
            return;
        }
        memcpy(c->qbuf, "EXPLAIN ", 8);
        memcpy(c->qbuf + 8, t->job->sql, n);
        c->qbuf[n + 8] = '\0';
        q = c->qbuf;
        qlen = n + 8;
    } else if (t->live->phase == 0) {
        size_t cap = 4096;
        c->qbuf = malloc(cap);
        qlen = c->qbuf ? lockwait_query(c->is_mariadb, t->live->thread_id, c->qbuf, cap) : 0;
        if (!qlen) {
            xc_task_end(c, NULL, "out of memory", false);
            return;
        }
        q = c->qbuf;
    } else if (t->live->phase == 3) { /* lockwait.h: who holds the metadata lock */
        size_t cap = 8192;
        c->qbuf = malloc(cap);
        qlen = c->qbuf ? lockwait_mdl_query(atomic_load(&c->e->pfs_state) > 0, t->live->thread_id,
                                            c->qbuf, cap)
                       : 0;
        if (!qlen) {
            xc_task_end(c, NULL, "out of memory", false);
            return;
        }
        q = c->qbuf;
    } else if (t->live->phase == 2) { /* pfs.h: actual rows so far (MariaDB >= 10.9) */
        int n = snprintf(c->query, sizeof(c->query), "SHOW ANALYZE FORMAT=JSON FOR %u",
                         t->live->thread_id);
        q = c->query;
        qlen = (size_t)n;
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

/* Does the connection run under another sql_mode than the job's session did? */
static bool
xc_mode_differs(const struct xconn *c, const struct explain_job *j)
{
    if (!j->sql_mode) {
        return c->mode_set && c->mode[0] != '\0';
    }
    return !c->mode_set || strcmp(c->mode, j->sql_mode) != 0;
}

/* Mode lists hold letters, digits, '_' and ','; anything else is not sent. */
static bool
mode_list_ok(const char *m)
{
    for (; *m; m++) {
        if (!((*m >= 'A' && *m <= 'Z') || (*m >= 'a' && *m <= 'z') || (*m >= '0' && *m <= '9') ||
              *m == '_' || *m == ',' || *m == ' ')) {
            return false;
        }
    }
    return true;
}

/* ---- what the server measured (explain/pfs.h) ---- */

/* A pfs task: on a connection not asked yet, whether the statement history is collected;
 * then the history rows of the job's backend thread. Reads only. */
static void
pfs_start(struct xconn *c)
{
    struct xtask *t = c->task;
    const char *q = pfs_detect_query;
    size_t qlen = strlen(pfs_detect_query);
    if (c->pfs_on < 0) {
        xc_task_end(c, NULL, NULL, true);
        return;
    }
    free(c->qbuf);
    c->qbuf = NULL;
    if (c->pfs_on > 0) {
        size_t cap = 2048;
        c->qbuf = malloc(cap);
        qlen = c->qbuf ? pfs_query(t->job->thread_id, c->qbuf, cap) : 0;
        if (!qlen) {
            xc_task_end(c, NULL, NULL, true);
            return;
        }
        q = c->qbuf;
        c->pfs_asked_wall = wall_now_us();
    }
    c->state = XC_PFS;
    xc_after(c, mysql_real_query_start(&c->ret_int, c->my, q, (unsigned long)qlen));
}

/* A performance_schema read failed: a server error (privileges, a server without it) turns the
 * reads off; a client-side error or a timeout closes the connection. The job goes on. */
static void
pfs_fail(struct xconn *c)
{
    unsigned no = mysql_errno(c->my);
    if (c->timed_out || no == 0 || (no >= 2000 && no < 3000)) {
        c->broken = true;
    } else {
        if (c->pfs_on > 0) {
            warn_once(c->e, -20, "cannot read performance_schema", mysql_error(c->my));
        }
        c->pfs_on = -1;
        c->e->pfs_state = -1;
    }
    xc_task_end(c, NULL, NULL, true);
}

/* Picks the job's row among the history rows (the matching rule is in pfs.h). */
static void
pfs_store_rows(struct xconn *c, struct explain_job *r, MYSQL_RES *res)
{
    const char *names[24];
    unsigned n = res_names(res, names, 24);
    MYSQL_ROW row;
    struct pfs_target tg = {r->sql, r->sql_len, r->prepared_sql,
                            c->pfs_asked_wall - (r->start_wall_us + (int64_t)r->query_us)};
    struct pfs_pick pick = {0};
    while ((row = mysql_fetch_row(res)) != NULL) {
        pfs_add_row(&pick, &tg, names, (const char *const *)row, n);
    }
    if (pick.found) {
        r->has_pfs = true;
        r->pfs = pick.st;
    }
}

/* XC_PFS and XC_PFS_STORE completed. */
static void
pfs_op_done(struct xconn *c)
{
    if (c->state == XC_PFS) {
        if (c->ret_int != 0 || c->timed_out) {
            pfs_fail(c);
            return;
        }
        c->state = XC_PFS_STORE;
        xc_after(c, mysql_store_result_start(&c->ret_res, c->my));
        return;
    }
    MYSQL_RES *res = c->ret_res;
    c->ret_res = NULL;
    if (!res || c->timed_out) {
        mysql_free_result(res);
        pfs_fail(c);
        return;
    }
    if (c->pfs_on == 0) {
        MYSQL_ROW row = mysql_fetch_row(res);
        bool on = row && pfs_detect_row((const char *const *)row, mysql_num_fields(res));
        mysql_free_result(res);
        c->pfs_on = on ? 1 : -1;
        c->e->pfs_state = on ? 1 : -1;
        if (on) {
            pfs_start(c);
        } else {
            xc_task_end(c, NULL, NULL, true);
        }
        return;
    }
    pfs_store_rows(c, c->task->job, res);
    mysql_free_result(res);
    xc_task_end(c, NULL, NULL, true);
}

/* Runs the task assigned to an up connection: schema, sql_mode, then the query. A plan
 * depends on the mode (ANSI_QUOTES, NO_BACKSLASH_ESCAPES change what the text means). */
static void
xc_start_task(struct xconn *c)
{
    struct xtask *t = c->task;
    if (t->pfs) {
        pfs_start(c); /* no schema or mode needed: performance_schema is read by name */
        return;
    }
    if (t->job && t->job->schema[0] && strcmp(t->job->schema, c->db) != 0) {
        c->state = XC_SELECTDB;
        xc_after(c, mysql_select_db_start(&c->ret_int, c->my, t->job->schema));
        return;
    }
    if (t->job && xc_mode_differs(c, t->job) &&
        mode_list_ok(t->job->sql_mode ? t->job->sql_mode : "")) {
        const char *m = t->job->sql_mode ? t->job->sql_mode : "";
        size_t n = strlen(m) + 40;
        free(c->mode_query);
        c->mode_query = malloc(n);
        if (c->mode_query) {
            int len = m[0] ? snprintf(c->mode_query, n, "SET SESSION sql_mode = '%s'", m)
                           : snprintf(c->mode_query, n, "SET SESSION sql_mode = DEFAULT");
            c->state = XC_SQLMODE;
            xc_after(c,
                     mysql_real_query_start(&c->ret_int, c->my, c->mode_query, (unsigned long)len));
            return;
        }
    }
    xc_start_query(c);
}

static struct plan *
plan_from_result(MYSQL_RES *res)
{
    const char *names[64];
    if (mysql_num_fields(res) > 64 || res_names(res, names, 64) == 0) {
        return NULL;
    }
    unsigned n = mysql_num_fields(res);
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

/* ---- index advice: the scanned tables' columns and indexes, then the analyser ---- */

#define XMETA_MAX 512 /* table descriptions kept */

/* The lexical modes of the job's session, so the analyser reads the text as the server. */
static unsigned
job_lex_mode(const struct explain_job *j)
{
    unsigned m = 0;
    if (j->sql_mode) {
        if (proto_sqlmode_list_has_ansi_quotes(j->sql_mode, strlen(j->sql_mode))) {
            m |= PROTO_SQLMODE_ANSI_QUOTES;
        }
        if (strcasestr(j->sql_mode, "NO_BACKSLASH_ESCAPES")) {
            m |= PROTO_SQLMODE_NO_BACKSLASH_ESCAPES;
        }
    }
    return m;
}

/* A description of db.name read less than an interval ago, or NULL. */
static const struct advice_table *
meta_find(struct explain *e, const struct advice_tname *n)
{
    int64_t now = now_us();
    for (struct xmeta *m = e->metas; m; m = m->next) {
        if (strcmp(m->t->t.db, n->db) == 0 && strcmp(m->t->t.name, n->name) == 0) {
            return now - m->at < e->interval_us ? m->t : NULL;
        }
    }
    return NULL;
}

/* Keeps t (ownership passes), replacing an older description; bounded. */
static void
meta_store(struct explain *e, struct advice_table *t)
{
    struct xmeta **pp = &e->metas;
    while (*pp) {
        struct xmeta *m = *pp;
        if (strcmp(m->t->t.db, t->t.db) == 0 && strcmp(m->t->t.name, t->t.name) == 0) {
            *pp = m->next;
            advice_table_free(m->t);
            free(m);
            e->nmetas--;
            break;
        }
        pp = &m->next;
    }
    struct xmeta *m = calloc(1, sizeof(*m));
    if (!m) {
        advice_table_free(t);
        return;
    }
    m->t = t;
    m->at = now_us();
    m->next = e->metas;
    e->metas = m;
    if (++e->nmetas > XMETA_MAX) { /* drop the oldest */
        struct xmeta **last = &e->metas;
        while ((*last)->next) {
            last = &(*last)->next;
        }
        advice_table_free((*last)->t);
        free(*last);
        *last = NULL;
        e->nmetas--;
    }
}

/* Runs the analyser over the job's statement and plan with what is known of its tables. */
static void
adv_compute(struct xconn *c, struct explain_job *r, const struct plan *p)
{
    const struct advice_table *meta[ADVICE_MAX_TABLES];
    size_t n = 0;
    for (size_t i = 0; i < c->adv_nneed; i++) {
        const struct advice_table *t = meta_find(c->e, &c->adv_need[i]);
        if (t) {
            meta[n++] = t;
        }
    }
    free(r->index_advice);
    r->index_advice = advice_compute(r->sql, r->sql_len, job_lex_mode(r), r->schema, p, meta, n);
}

/* One SELECT of the metadata query for table n of kind 'C' (COLUMNS) or 'S' (STATISTICS). */
static size_t
adv_query_part(struct xconn *c, char *out, size_t cap, const struct advice_tname *n, char kind)
{
    char db[2 * ADVICE_NAME_MAX + 1], name[2 * ADVICE_NAME_MAX + 1];
    mysql_real_escape_string(c->my, db, n->db, (unsigned long)strlen(n->db));
    mysql_real_escape_string(c->my, name, n->name, (unsigned long)strlen(n->name));
    int k = kind == 'C'
                ? snprintf(out, cap,
                           "SELECT 'C', TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, DATA_TYPE, "
                           "COLLATION_NAME, ORDINAL_POSITION FROM information_schema.COLUMNS "
                           "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s'",
                           db, name)
                : snprintf(out, cap,
                           "SELECT 'S', TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, INDEX_NAME, NULL, "
                           "SEQ_IN_INDEX FROM information_schema.STATISTICS "
                           "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s'",
                           db, name);
    return k > 0 && (size_t)k < cap ? (size_t)k : 0;
}

/*
 * After a plan was read for a job: when it has a scan worth advice, reads the columns and
 * indexes of the statement's tables not described within the interval (one UNION ALL of
 * information_schema reads; nothing else is ever sent for advice). Returns true when that
 * query was started (the task then ends in adv_op_done), false when the task ends now (the
 * advice, if any, is already on the job).
 */
static bool
adv_start(struct xconn *c, struct plan *p)
{
    struct explain_job *r = c->task ? c->task->job : NULL;
    if (!r || !r->sql || !advice_wanted(p)) {
        return false;
    }
    c->adv_nneed = advice_tables(r->sql, r->sql_len, job_lex_mode(r), r->schema, c->adv_need,
                                 ADVICE_MAX_TABLES);
    size_t cap = 64 + c->adv_nneed * 1200, len = 0;
    char *q = malloc(cap);
    if (!q) {
        return false;
    }
    for (size_t i = 0; i < c->adv_nneed; i++) {
        if (meta_find(c->e, &c->adv_need[i])) {
            continue;
        }
        for (int k = 0; k < 2; k++) {
            if (len) {
                memcpy(q + len, " UNION ALL ", 11);
                len += 11;
            }
            len += adv_query_part(c, q + len, cap - len, &c->adv_need[i], k ? 'S' : 'C');
        }
    }
    if (len == 0) {
        free(q);
        adv_compute(c, r, p);
        return false;
    }
    free(c->qbuf);
    c->qbuf = q;
    c->adv_plan = p;
    c->state = XC_META;
    xc_after(c, mysql_real_query_start(&c->ret_int, c->my, q, (unsigned long)len));
    return true;
}

/* Ends the task with the plan that waited and the advice on its job. */
static void
adv_end(struct xconn *c)
{
    struct plan *p = c->adv_plan;
    c->adv_plan = NULL;
    xc_task_end(c, p, NULL, true);
}

/* The metadata read failed: the plan goes on, the advice says why there is none. */
static void
adv_fail(struct xconn *c)
{
    unsigned no = mysql_errno(c->my);
    if (c->timed_out || no == 0 || (no >= 2000 && no < 3000)) {
        c->broken = true; /* a client-side error or a timeout: close the connection after */
    }
    struct explain_job *r = c->task->job;
    char msg[300];
    snprintf(msg, sizeof(msg), "none (cannot read information_schema: %s)",
             c->timed_out ? "timeout" : (no ? xc_error(c) : "unknown error"));
    free(r->index_advice);
    r->index_advice = strdup(msg);
    adv_end(c);
}

/* Fills descriptions of the tables read from the rows of the metadata query. */
static void
adv_store_rows(struct xconn *c, MYSQL_RES *res)
{
    struct advice_table *t[ADVICE_MAX_TABLES] = {0};
    for (size_t i = 0; i < c->adv_nneed; i++) {
        if (!meta_find(c->e, &c->adv_need[i])) {
            t[i] = advice_table_new(c->adv_need[i].db, c->adv_need[i].name);
        }
    }
    MYSQL_ROW row;
    while (mysql_num_fields(res) == 7 && (row = mysql_fetch_row(res)) != NULL) {
        if (!row[0] || !row[1] || !row[2] || !row[3] || !row[4]) {
            continue;
        }
        for (size_t i = 0; i < c->adv_nneed; i++) {
            if (!t[i] || strcasecmp(row[1], t[i]->t.db) != 0 ||
                strcasecmp(row[2], t[i]->t.name) != 0) {
                continue;
            }
            if (row[0][0] == 'C') {
                advice_table_add_column(t[i], row[3], row[4], row[5]);
            } else {
                unsigned seq = row[6] ? (unsigned)strtoul(row[6], NULL, 10) : 0;
                advice_table_add_index_column(t[i], row[4], seq, row[3]);
            }
            break;
        }
    }
    for (size_t i = 0; i < c->adv_nneed; i++) {
        if (t[i]) {
            meta_store(c->e, t[i]);
        }
    }
}

/* XC_META and XC_META_STORE completed. */
static void
adv_op_done(struct xconn *c)
{
    if (c->state == XC_META) {
        if (c->ret_int != 0 || c->timed_out) {
            adv_fail(c);
            return;
        }
        c->state = XC_META_STORE;
        xc_after(c, mysql_store_result_start(&c->ret_res, c->my));
        return;
    }
    if (!c->ret_res || c->timed_out) {
        if (c->ret_res) {
            mysql_free_result(c->ret_res);
            c->ret_res = NULL;
        }
        adv_fail(c);
        return;
    }
    adv_store_rows(c, c->ret_res);
    mysql_free_result(c->ret_res);
    c->ret_res = NULL;
    adv_compute(c, c->task->job, c->adv_plan);
    adv_end(c);
}

static void
xc_op_done(struct xconn *c)
{
    struct explain *e = c->e;
    switch (c->state) {
    case XC_CONNECTING:
        if (!c->ret_my && !c->timed_out && xc_connect_next(c)) {
            return; /* the next address of --backend is being tried */
        }
        if (!c->ret_my || c->timed_out) {
            e->last_connect_fail = now_us();
            if (c->timed_out) {
                snprintf(e->last_connect_err, sizeof(e->last_connect_err), "timeout");
            } else {
                snprintf(e->last_connect_err, sizeof(e->last_connect_err), "%.199s",
                         c->connect_errs[0] ? c->connect_errs : xc_error(c));
            }
            xc_fail(c);
            return;
        }
        const char *tls_err = xc_tls_check(c);
        if (tls_err) {
            char what[300];
            e->last_connect_fail = now_us();
            snprintf(e->last_connect_err, sizeof(e->last_connect_err), "%s", tls_err);
            snprintf(what, sizeof(what), "cannot connect to %.200s as %s", e->backend_text,
                     e->user);
            warn_once(e, -3, what, tls_err);
            snprintf(what, sizeof(what), "cannot connect: %s", tls_err);
            c->broken = true;
            xc_task_end(c, NULL, what, false);
            return;
        }
        e->last_connect_fail = 0;
        c->fresh = true;
        c->is_mariadb = strstr(mysql_get_server_info(c->my), "MariaDB") != NULL;
        c->pfs_on = 0; /* asked again on this connection */
        c->db[0] = '\0';
        c->mode_set = false;
        xc_start_task(c);
        return;
    case XC_SELECTDB:
        if (c->ret_int != 0 || c->timed_out) {
            c->db[0] = '\0';
            xc_fail(c);
            return;
        }
        snprintf(c->db, sizeof(c->db), "%s", c->task->job->schema);
        xc_start_task(c);
        return;
    case XC_SQLMODE:
        free(c->mode_query);
        c->mode_query = NULL;
        if (c->ret_int != 0 || c->timed_out) {
            c->mode_set = false;
            xc_fail(c);
            return;
        }
        c->mode_set = c->task->job->sql_mode != NULL;
        snprintf(c->mode, sizeof(c->mode), "%s", c->mode_set ? c->task->job->sql_mode : "");
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
        if (c->task->live && c->task->live->phase == 0 && !c->timed_out) {
            live_locks_done(c);
            return;
        }
        if (c->task->live && c->task->live->phase == 2) {
            live_analyze_end(c, c->ret_res != NULL || mysql_errno(c->my) == 0);
            return;
        }
        if (c->task->live && c->task->live->phase == 3) {
            live_mdl_done(c);
            return;
        }
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
        if (p && adv_start(c, p)) {
            return; /* reading the scanned tables' columns and indexes first */
        }
        if (p && c->task->live && live_analyze_start(c, p)) {
            return; /* SHOW ANALYZE first */
        }
        xc_task_end(c, p, p ? NULL : "no plan returned", true);
        return;
    }
    case XC_META:
    case XC_META_STORE:
        adv_op_done(c);
        return;
    case XC_PFS:
    case XC_PFS_STORE:
        pfs_op_done(c);
        return;
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

/* Starts a connect to --backend's address c->addr_i. */
static bool
xc_connect_addr(struct xconn *c)
{
    struct explain *e = c->e;
    c->my = mysql_init(NULL);
    if (!c->my) {
        return false;
    }
    /* the explain timeout, shared by the addresses a connect may have to try */
    int64_t per = e->timeout_us / (e->naddrs > 0 ? e->naddrs : 1);
    unsigned secs = (unsigned)((per + 999999) / 1000000);
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
    const char *host = e->unix_path ? NULL : e->hosts[c->addr_i];
    if (host && xc_connect_by_name(e)) {
        host = e->tls_name;
    }
    c->state = XC_CONNECTING;
    c->timed_out = false;
    c->lib_timeout = false;
    c->broken = false;
    xc_after(c, mysql_real_connect_start(&c->ret_my, c->my, host, e->user, e->password, NULL,
                                         e->port, e->unix_path, 0));
    return true;
}

/* Starts a connect: --backend's addresses in order, beginning with the first. */
static bool
xc_connect(struct xconn *c)
{
    c->addr_i = 0;
    c->connect_errs[0] = '\0';
    return xc_connect_addr(c);
}

/* The connect to address c->addr_i failed: notes why, and tries the next address when there
 * is one (true). After the last one, connect_errs names every address tried (when there were
 * several) and false comes back with c->my still holding the last failure. */
static bool
xc_connect_next(struct xconn *c)
{
    struct explain *e = c->e;
    int n = (xc_connect_by_name(e) || e->unix_path) ? 1 : e->naddrs;
    if (n > 1) {
        size_t used = strlen(c->connect_errs);
        snprintf(c->connect_errs + used, sizeof(c->connect_errs) - used, "%s%s: %s",
                 used ? "; " : "", e->addr_text[c->addr_i], xc_error(c));
    }
    if (c->addr_i + 1 >= n || e->exiting) {
        return false;
    }
    /* a handle whose connect failed has no connection left: closing it does not block */
    mysql_close(c->my);
    c->my = NULL;
    c->addr_i++;
    if (!xc_connect_addr(c)) {
        c->broken = true; /* no handle: xc_task_end's close only marks it down */
        xc_task_end(c, NULL, "out of memory", false);
    }
    return true;
}

/* ---- scheduling ---- */

static bool
any_conn_up(struct explain *e)
{
    for (int i = 0; i < e->nconns; i++) {
        enum xc_state s = e->conns[i].state;
        if (s == XC_IDLE || s == XC_SELECTDB || s == XC_SQLMODE || s == XC_QUERY || s == XC_STORE ||
            s == XC_META || s == XC_META_STORE || s == XC_PFS || s == XC_PFS_STORE) {
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

/* ---- jobs and live requests ---- */

/*
 * --explain-rate, one clock for all shapes (a token bucket kept as the time its tokens run out
 * at, "generic cell rate"): each EXPLAIN started moves rate_tat on by 1/rate s, and one may
 * start while rate_tat is less than XRATE_BURST_US ahead of now. So at most `rate` at once
 * after a quiet second, and rate per second after that. Explain thread only.
 */
#define XRATE_BURST_US 1000000LL
static bool
rate_take(struct explain *e)
{
    if (e->rate <= 0) {
        return true;
    }
    int64_t now = now_us();
    int64_t tat = e->rate_tat > now ? e->rate_tat : now;
    if (tat - now >= XRATE_BURST_US) {
        return false;
    }
    e->rate_tat = tat + 1000000LL / e->rate;
    return true;
}

static void
handle_stmt(struct explain *e, struct xtask *t, bool after_live)
{
    struct explain_job *r = t->job;
    if (r->pfs_only) {
        job_finish(e, t); /* no plan wanted: only the server's figures (pfs_wanted) */
        return;
    }
    struct xlive *l = r->live_token ? live_find(e, r->live_token) : NULL;
    if (l && l->state == XL_INFLIGHT && !after_live) {
        if (l->waiter) { /* a second job with the same token: do not wait */
            job_fail(e, t, "duplicate live token");
            return;
        }
        l->waiter = t; /* handle_stmt runs again when the live answer comes */
        return;
    }
    if (l && l->state == XL_OK && l->lock.kind) {
        /* what it waited for, seen while it ran */
        r->has_lock_wait = true;
        r->lock = l->lock;
        r->lock.wait_us = lockwait_total_us(&l->lock, r->start_wall_us, r->query_us);
        r->blocker = l->blocker;
        l->blocker = NULL;
    }
    if (!r->explainable || (l && l->state == XL_OK && !l->plan && !l->want_plan)) {
        if (l) {
            live_free(e, l);
        }
        if (!r->explainable) {
            job_finish(e, t);
            return;
        }
        l = NULL;
    }
    if (!r->sql || !proto_stmt_explainable(proto_stmt_classify(r->sql, r->sql_len))) {
        if (l) {
            live_free(e, l);
        }
        job_fail(e, t, "not explainable"); /* checked again here: never EXPLAIN anything else */
        return;
    }
    bool hidden = r->tmp_table[0] || r->tmp_tables_lost; /* see explain_job */
    if (l && l->state == XL_OK && l->plan && advice_wanted(l->plan) && !r->sql_truncated &&
        !hidden) {
        /* the live plan flags a scan: its advice needs the tables, read on a connection */
        t->live_plan = l->plan;
        t->live_src = true;
        l->plan = NULL;
        r->analyze = l->analyze;
        l->analyze = NULL;
        live_free(e, l);
        struct xcache *c = cache_get(e, r->digest);
        if (c && !c->inflight) {
            t->ent = c;
            c->inflight = true;
        }
        pend_push(e, t, false);
        return;
    }
    if (l && l->state == XL_OK && l->plan) {
        r->plan = l->plan;
        l->plan = NULL;
        r->analyze = l->analyze; /* SHOW ANALYZE's lines, when taken */
        l->analyze = NULL;
        r->source = EXPLAIN_SRC_LIVE;
        if (!hidden) { /* a plan of the session's own table serves no other statement */
            cache_store(e, r->digest, r->plan);
        }
        live_free(e, l);
        job_finish(e, t);
        return;
    }
    if (l) {
        live_free(e, l); /* failed: fall back to EXPLAIN after completion */
    }
    if (hidden) {
        char msg[sizeof r->error];
        if (r->tmp_table[0]) {
            snprintf(msg, sizeof msg,
                     "not explained: `%s` is a temporary table of this session, which the "
                     "EXPLAIN connection cannot see",
                     r->tmp_table);
        } else {
            snprintf(msg, sizeof msg,
                     "not explained: this session has more temporary tables than slowtap "
                     "follows, which the EXPLAIN connection cannot see");
        }
        job_fail(e, t, msg);
        return;
    }
    struct xcache *c = cache_get(e, r->digest);
    if (c && c->inflight) {
        t->next = c->waiters;
        c->waiters = t;
        return;
    }
    if (c && c->at && !r->fresh && now_us() - c->at < e->interval_us) {
        job_from_cache(e, t, c);
        return;
    }
    if (r->sql_truncated) {
        job_fail(e, t, "statement truncated");
        return;
    }
    if (!rate_take(e)) {
        /* not remembered for the shape: its next statement may find the rate has room */
        atomic_fetch_add(&e->c_rate_limited, 1);
        char msg[sizeof r->error];
        snprintf(msg, sizeof msg, "not explained: over --explain-rate %d per second", e->rate);
        job_fail(e, t, msg);
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
    if (j->job) {
        if (!t) {
            snprintf(j->job->error, sizeof(j->job->error), "out of memory");
            e->hooks.done(e->hooks.arg, j->job);
            pthread_mutex_lock(&e->mu);
            e->out_recs--;
            pthread_mutex_unlock(&e->mu);
            return;
        }
        t->job = j->job;
        t->deadline = now_us() + e->timeout_us;
        handle_stmt(e, t, false);
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
    l->want_plan = j->want_plan;
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
    e->hooks.done(e->hooks.arg, NULL); /* end of a batch: the callee may flush */
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
            job_fail(e, w, "explain stopped");
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

    /* jobs waiting too long for a connection are passed on */
    struct xtask *keep = NULL, **kt = &keep, *t;
    while ((t = pend_pop(e)) != NULL) {
        if (now >= t->deadline) {
            if (t->job && !t->pfs) {
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
    /* answered live plans whose job never came */
    for (struct xlive *l = e->lives, *next; l; l = next) {
        next = l->next;
        if (l->state != XL_INFLIGHT && !l->waiter && now - l->created > XLIVE_KEEP_US) {
            live_free(e, l);
        }
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
    event_base_loop(e->base, EVLOOP_NO_EXIT_ON_EMPTY);
    /* everything has been passed to done; free what is left */
    while (e->lives) {
        live_free(e, e->lives);
    }
    for (struct xcache *c = e->lru_head, *next; c; c = next) {
        next = c->lnext;
        plan_free(c->plan);
        free(c->advice);
        free(c);
    }
    while (e->metas) {
        struct xmeta *m = e->metas;
        e->metas = m->next;
        advice_table_free(m->t);
        free(m);
    }
    e->lru_head = e->lru_tail = NULL;
    memset(e->buckets, 0, sizeof(e->buckets));
    e->ncache = 0;
    if (e->hooks.thread_exit) {
        e->hooks.thread_exit(e->hooks.arg); /* the proxy's per-thread clean-up of done's work */
    }
    return NULL;
}

/* ---- setup ---- */

/* Takes --backend's addresses from main's resolution (no DNS here, none on the loop). */
static bool
copy_backend(struct explain *e, const struct net_addr *b)
{
    if (!b || b->n == 0) {
        return false;
    }
    snprintf(e->backend_text, sizeof(e->backend_text), "%s", b->text);
    if (b->is_unix) {
        e->unix_path = strdup(b->text);
        e->naddrs = 1;
        return e->unix_path != NULL;
    }
    e->port = b->port;
    struct in6_addr ip;
    if (inet_pton(AF_INET, b->host, &ip) != 1 && inet_pton(AF_INET6, b->host, &ip) != 1) {
        snprintf(e->tls_name, sizeof(e->tls_name), "%s", b->host);
    }
    for (int i = 0; i < b->n && i < NET_ADDR_MAX; i++) {
        if (getnameinfo((const struct sockaddr *)&b->a[i].sa, b->a[i].len, e->hosts[i],
                        sizeof(e->hosts[i]), NULL, 0, NI_NUMERICHOST) != 0) {
            return false;
        }
        snprintf(e->addr_text[i], sizeof(e->addr_text[i]), "%s", b->a[i].text);
        e->naddrs = i + 1;
    }
    return true;
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
explain_start(const struct conf *c, const struct net_addr *backend,
              const struct explain_hooks *hooks)
{
    if (!c->explain_user || !c->explain_user[0] || !hooks || !hooks->done) {
        return NULL;
    }
    struct explain *e = calloc(1, sizeof(*e));
    if (!e) {
        fprintf(stderr, "slowtap: explain: out of memory; auto-EXPLAIN is off\n");
        return NULL;
    }
    pthread_mutex_init(&e->mu, NULL);
    atomic_init(&e->next_token, 1);
    e->hooks = *hooks;
    e->timeout_us = c->explain_timeout_us > 0 ? c->explain_timeout_us : 2000000;
    e->interval_us = c->explain_interval_us >= 0 ? c->explain_interval_us : 60000000;
    e->rate = c->explain_rate;
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
    if (!copy_backend(e, backend)) {
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
explain_submit(struct explain *e, struct explain_job *job)
{
    pthread_mutex_lock(&e->mu);
    bool ok = !e->stopping && e->out_recs < XQ_MAX_RECS && e->rcount < XQ_RING;
    /* Completed statements are not urgent (they only wait for a log line): wake the thread once
     * per XQ_WAKE_BATCH of them, and let its tick take the rest, instead of a cross-thread
     * wake-up (and context switch) per statement. */
    bool wake = e->rcount + 1 == XQ_WAKE_BATCH;
    if (ok) {
        struct xjob *j = &e->ring[(e->rhead + e->rcount) % XQ_RING];
        memset(j, 0, sizeof(*j));
        j->job = job;
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
    snprintf(job->error, sizeof(job->error), "dropped: queue full");
    return false;
}

uint64_t
explain_live(struct explain *e, uint32_t thread_id, uint64_t digest, bool want_plan)
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
        j->want_plan = want_plan;
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

bool
explain_wants_pfs(struct explain *e)
{
    return e && atomic_load(&e->pfs_state) > 0;
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
    out->rate_limited = atomic_load(&e->c_rate_limited);
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
