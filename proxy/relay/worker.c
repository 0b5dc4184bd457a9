/*
 * worker.c - worker threads: one event loop each, its own listener, sessions, counters,
 * log buffer and statistics table; a 50 ms tick for the work that is not driven by bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "protocol/proto_packet.h"
#include "proxy/account/record.h"
#include "proxy/output/capture.h"
#include "proxy/output/logfile.h"
#include "proxy/account/requests.h"
#include "proxy/account/routes.h"
#include "proxy/relay/session.h"
#include "proxy/output/slowlog.h"
#include "proxy/account/stats.h"
#include "proxy/relay/worker.h"

#define TICK_US           50000 /* log entries are handed to the writer within this */
#define MERGE_EVERY       20    /* ticks: statistics are merged once a second */
#define STATS_LOCAL_SLOTS 1024

#define ROUTES_LOCAL_SLOTS 128 /* routes per merge interval before "(other routes)" */

/* A unit of work ended (findings.h): a request of its route, when it had one. */
static void
worker_unit_end(void *arg, const char *route, uint32_t stmts)
{
    struct worker *w = arg;
    if (route[0]) {
        routes_local_request(w->routes, route, stmts);
    }
}

int64_t
worker_now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

int64_t
worker_wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa, int salen, void *arg)
{
    (void)l;
    sess_accept(arg, fd, sa, salen);
}

bool
worker_notice_due(_Atomic int64_t *last)
{
    int64_t now = worker_now_us();
    int64_t prev = atomic_load_explicit(last, memory_order_relaxed);
    if (prev && now - prev < WORKER_NOTICE_US) {
        return false;
    }
    /* of two threads at once, one prints */
    return atomic_compare_exchange_strong_explicit(last, &prev, now, memory_order_relaxed,
                                                   memory_order_relaxed);
}

void
worker_refuse(evutil_socket_t fd, const char *msg)
{
    uint8_t pkt[PROTO_HDR_LEN + 256];
    size_t len = proto_err_build(pkt, sizeof pkt, 0, PROTO_ER_CON_COUNT_ERROR,
                                 PROTO_ER_CON_COUNT_ERROR_STATE, msg);
    ssize_t wr = send(fd, pkt, len, MSG_NOSIGNAL | MSG_DONTWAIT);
    (void)wr; /* a client that cannot take 100 bytes gets the close alone */
    close(fd);
}

static void
worker_listeners_enable(struct worker *w, bool on)
{
    for (int i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i]) {
            if (on) {
                evconnlistener_enable(w->listeners[i]);
            } else {
                evconnlistener_disable(w->listeners[i]);
            }
        }
    }
}

static void
worker_spare_open(struct worker *w)
{
    if (w->spare_fd < 0) {
        w->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    }
}

void
worker_accept_pause(struct worker *w, int err)
{
    COUNTER_ADD(&w->counters, accept_errors, 1);
    if (!w->accept_paused && !w->stopping) {
        struct timeval tv = {0, WORKER_ACCEPT_PAUSE_US};
        worker_listeners_enable(w, false);
        evtimer_add(w->accept_resume, &tv);
        w->accept_paused = true;
    }
    if (worker_notice_due(&w->app->notice_fd_us)) {
        struct rlimit rl = {0};
        getrlimit(RLIMIT_NOFILE, &rl);
        fprintf(stderr,
                "slowtap: accept: %s (open-file limit %llu): new clients get ERR 1040 and "
                "accepting pauses %d ms at a time while it lasts; open sessions go on; "
                "further occurrences are counted in slowtap_accept_errors_total and "
                "slowtap_connections_shed_total, not printed for a minute\n",
                strerror(err), (unsigned long long)rl.rlim_cur, WORKER_ACCEPT_PAUSE_US / 1000);
    }
}

/* Out of descriptors with clients waiting: each gets the spare descriptor's place for the
 * time of an ERR 1040 and a close, rather than waiting in the backlog for nothing. At most
 * WORKER_SHED_MAX per failure; another thread may take the freed descriptor first (then the
 * accept fails again and the spare is reopened at the resume timer). */
#define WORKER_SHED_MAX 64
static void
worker_shed(struct worker *w, evutil_socket_t lfd)
{
    for (int i = 0; i < WORKER_SHED_MAX && w->spare_fd >= 0; i++) {
        close(w->spare_fd);
        w->spare_fd = -1;
        int fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd >= 0) {
            worker_refuse(fd, "Too many connections (slowtap: out of file descriptors)");
            COUNTER_ADD(&w->counters, connections_shed, 1);
        }
        worker_spare_open(w);
        if (fd < 0) {
            break; /* EAGAIN: nobody else waits; or still no descriptor */
        }
    }
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
    struct worker *w = arg;
    int err = EVUTIL_SOCKET_ERROR();
    if (err == EMFILE || err == ENFILE) {
        worker_shed(w, evconnlistener_get_fd(l));
    }
    /* EMFILE, ENFILE, ENOBUFS, ENOMEM: the listener stays readable, and accepting again at
     * once would spin; the sessions already open are served meanwhile */
    worker_accept_pause(w, err);
}

static void
on_accept_resume(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    w->accept_paused = false;
    worker_spare_open(w);
    if (!w->stopping) {
        worker_listeners_enable(w, true);
    }
}

/* libevent's log callback (worker_libevent_log_init). */
static _Atomic int64_t worker_evlog_accept_us;
static _Atomic uint64_t worker_evlog_accept_skipped;

static void
worker_evlog(int severity, const char *msg)
{
    static const char prefix[] = "Error from accept() call";
    if (strncmp(msg, prefix, sizeof prefix - 1) == 0) {
        if (!worker_notice_due(&worker_evlog_accept_us)) {
            atomic_fetch_add_explicit(&worker_evlog_accept_skipped, 1, memory_order_relaxed);
            return;
        }
        uint64_t skipped =
            atomic_exchange_explicit(&worker_evlog_accept_skipped, 0, memory_order_relaxed);
        fprintf(stderr, "[warn] %s (%llu more in the last minute; at most one line a minute)\n",
                msg, (unsigned long long)skipped);
        return;
    }
    const char *sev = severity == EVENT_LOG_DEBUG  ? "debug"
                      : severity == EVENT_LOG_MSG  ? "msg"
                      : severity == EVENT_LOG_WARN ? "warn"
                      : severity == EVENT_LOG_ERR  ? "err"
                                                   : "???";
    fprintf(stderr, "[%s] %s\n", sev, msg);
}

void
worker_libevent_log_init(void)
{
    event_set_log_callback(worker_evlog);
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    int64_t now = worker_now_us();
    (void)fd;
    (void)what;

    int64_t oldest_trx = 0;
    for (struct sess *s = w->sessions, *next; s; s = next) {
        next = sess_next(s);
        int64_t t = sess_trx_wall_start(s);
        if (t && (!oldest_trx || t < oldest_trx)) {
            oldest_trx = t;
        }
        sess_tick(s, now);
    }
    /* the age of the oldest open transaction is a gauge people alert on: kept per tick */
    atomic_store_explicit(&w->counters.trx_oldest_wall_us, oldest_trx, memory_order_relaxed);
    logbuf_flush(w->slowbuf);
    capbuf_flush(w->capbuf);
    if (++w->ticks % MERGE_EVERY == 0 || stats_local_overflowed(w->stats)) {
        stats_local_merge(w->stats);
        routes_local_merge(w->routes);
        requests_local_merge(w->requests);
    }
    if (w->stopping && (w->nsessions == 0 || now >= w->stop_deadline_us)) {
        event_base_loopbreak(w->base);
    }
}

/* Stops accepting: closes the worker's listening sockets (not a shared unix one). */
static void
worker_close_listeners(struct worker *w)
{
    if (w->accept_resume) {
        evtimer_del(w->accept_resume);
    }
    for (int i = 0; i < w->nlisteners; i++) {
        if (w->listeners[i]) {
            evconnlistener_free(w->listeners[i]);
            w->listeners[i] = NULL;
        }
    }
}

static void
on_ctl(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    uint64_t n;
    (void)what;
    if (read(fd, &n, sizeof n) < 0) {
        /* EAGAIN: another wake-up read it first; the flag below is what counts */
    }
    if (atomic_load(&w->stop_requested) && !w->stopping) {
        w->stopping = true;
        w->stop_deadline_us = worker_now_us() + w->app->conf->shutdown_timeout_us;
        worker_close_listeners(w);
    }
}

struct worker *
worker_new(struct app *app, int id)
{
    struct worker *w = calloc(1, sizeof *w);
    char err[256];
    if (!w) {
        return NULL;
    }
    w->app = app;
    w->id = id;
    w->ctl_fd = -1;
    w->spare_fd = -1;
    /* this worker's share of --max-pending-handshakes (the remainder to the first ones), at
     * least one */
    int share = app->conf->max_pending_handshakes / app->conf->threads +
                (id < app->conf->max_pending_handshakes % app->conf->threads);
    w->pending_max = share > 0 ? share : 1;
    /* Only this worker's thread touches its loop (main wakes it through ctl_fd), so the loop
     * takes no lock: libevent's base lock cost ~400 instructions per statement. */
    struct event_config *cfg = event_config_new();
    if (cfg) {
        event_config_set_flag(cfg, EVENT_BASE_FLAG_NOLOCK);
        w->base = event_base_new_with_config(cfg);
        event_config_free(cfg);
    }
    w->ctl_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
    if (!w->base || w->ctl_fd < 0) {
        fprintf(stderr, "slowtap: cannot create an event loop\n");
        if (w->base) {
            event_base_free(w->base);
        }
        if (w->ctl_fd >= 0) {
            close(w->ctl_fd);
        }
        free(w);
        return NULL;
    }
    const struct net_addr *la = &app->listen_addr;
    for (int i = 0; i < la->n; i++) {
        int fd;
        unsigned flags = LEV_OPT_CLOSE_ON_EXEC;
        if (la->is_unix) {
            fd = app->listen_fds[i]; /* shared: main closes it */
        } else if (id == 0) {
            fd = app->listen_fds[i]; /* main's NET_LISTEN_FIRST socket: ours now */
            app->listen_fds[i] = -1;
            flags |= LEV_OPT_CLOSE_ON_FREE;
        } else {
            fd = net_listen(&la->a[i], NET_LISTEN_JOIN, app->listen_v6only, err, sizeof err, NULL);
            if (fd < 0) {
                fprintf(stderr, "slowtap: --listen %s: %s\n", la->text, err);
                worker_join_free(w);
                return NULL;
            }
            flags |= LEV_OPT_CLOSE_ON_FREE;
        }
        w->listeners[i] = evconnlistener_new(w->base, on_accept, w, flags, -1, fd);
        if (!w->listeners[i]) {
            if (flags & LEV_OPT_CLOSE_ON_FREE) {
                close(fd);
            }
            fprintf(stderr, "slowtap: cannot set up worker %d\n", id);
            worker_join_free(w);
            return NULL;
        }
        evconnlistener_set_error_cb(w->listeners[i], on_accept_error);
        w->nlisteners = i + 1;
    }
    w->accept_resume = evtimer_new(w->base, on_accept_resume, w);
    worker_spare_open(w);
    w->tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    w->ctl = event_new(w->base, w->ctl_fd, EV_READ | EV_PERSIST, on_ctl, w);
    w->slowbuf = logbuf_new(app->slow_log);
    w->capbuf = app->capture ? capbuf_new(app->capture) : NULL;
    w->stats = stats_local_new(app->stats, STATS_LOCAL_SLOTS);
    w->routes = routes_local_new(app->routes, ROUTES_LOCAL_SLOTS);
    w->requests = requests_local_new(app->requests);
    w->findings = (struct findings_conf){.request_gap_us = app->conf->request_gap_us,
                                         .n_plus_one_min = (uint32_t)app->conf->n_plus_one_min,
                                         .table = app->findings,
                                         .unit_end = worker_unit_end,
                                         .unit_arg = w};
    w->acct = (struct acct_ctx){.conf = app->conf,
                                .filter = app->filter,
                                .explain = app->explain,
                                .explain_threshold_us = app->explain_threshold_us,
                                .counters = &w->counters,
                                .stats = w->stats,
                                .routes = w->routes,
                                .ddl = app->ddl,
                                .requests = requests_keep(app->requests) ? w->requests : NULL,
                                .requests_stmts_max = (uint32_t)app->conf->requests_stmts};
    if (!w->tick || !w->ctl || !w->accept_resume || !w->slowbuf || (app->capture && !w->capbuf) ||
        !w->stats || !w->routes || !w->requests) {
        fprintf(stderr, "slowtap: cannot set up worker %d\n", id);
        worker_join_free(w);
        return NULL;
    }
    struct timeval tv = {0, TICK_US};
    event_add(w->tick, &tv);
    event_add(w->ctl, NULL);
    return w;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    rec_cache_begin();
    event_base_dispatch(w->base);
    /* the last figures into the shared tables before the final state save (http_stop) */
    stats_local_merge(w->stats);
    routes_local_merge(w->routes);
    rec_cache_end();
    acct_thread_end();
    slowlog_thread_cleanup();
    return NULL;
}

bool
worker_start(struct worker *w)
{
    if (pthread_create(&w->thread, NULL, worker_main, w) != 0) {
        return false;
    }
    w->thread_started = true;
    return true;
}

void
worker_request_stop(struct worker *w)
{
    uint64_t one = 1;
    atomic_store(&w->stop_requested, true);
    /* the loop is not thread-safe: wake it through its eventfd, never through libevent */
    if (write(w->ctl_fd, &one, sizeof one) < 0) {
        /* EAGAIN: the counter is full of earlier wake-ups, which will do */
    }
}

void
worker_join(struct worker *w)
{
    if (w && w->thread_started) {
        pthread_join(w->thread, NULL);
        w->thread_started = false;
    }
}

void
worker_join_free(struct worker *w)
{
    if (!w) {
        return;
    }
    worker_join(w);
    while (w->sessions) {
        sess_end(w->sessions, SESS_END_NOW, 0, NULL);
    }
    worker_close_listeners(w);
    if (w->tick) {
        event_free(w->tick);
    }
    if (w->ctl) {
        event_free(w->ctl);
    }
    if (w->accept_resume) {
        event_free(w->accept_resume);
    }
    if (w->spare_fd >= 0) {
        close(w->spare_fd);
    }
    if (w->ctl_fd >= 0) {
        close(w->ctl_fd);
    }
    if (w->slowbuf) {
        logbuf_free(w->slowbuf);
    }
    capbuf_free(w->capbuf);
    if (w->stats) {
        stats_local_free(w->stats);
    }
    if (w->routes) {
        routes_local_free(w->routes);
    }
    if (w->requests) {
        requests_local_free(w->requests);
    }
    sess_pool_free(w);
    event_base_free(w->base);
    free(w);
}
