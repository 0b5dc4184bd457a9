/*
 * worker.c - worker threads: one event loop each, its own listener, sessions, counters,
 * log buffer and statistics table; a 100 ms tick for the work that is not driven by bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "proxy/account/record.h"
#include "proxy/output/logfile.h"
#include "proxy/account/routes.h"
#include "proxy/relay/session.h"
#include "proxy/output/slowlog.h"
#include "proxy/account/stats.h"
#include "proxy/relay/worker.h"

#define TICK_US           100000
#define MERGE_EVERY       10 /* ticks: statistics are merged once a second */
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

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
    int err = EVUTIL_SOCKET_ERROR();
    (void)l;
    (void)arg;
    /* EMFILE and the like: say so; the listener keeps going. */
    fprintf(stderr, "slowtap: accept: %s\n", strerror(err));
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
    if (++w->ticks % MERGE_EVERY == 0 || stats_local_overflowed(w->stats)) {
        stats_local_merge(w->stats);
        routes_local_merge(w->routes);
    }
    if (w->stopping && (w->nsessions == 0 || now >= w->stop_deadline_us)) {
        event_base_loopbreak(w->base);
    }
}

/* Stops accepting: closes the worker's listening sockets (not a shared unix one). */
static void
worker_close_listeners(struct worker *w)
{
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
    w->tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    w->ctl = event_new(w->base, w->ctl_fd, EV_READ | EV_PERSIST, on_ctl, w);
    w->slowbuf = logbuf_new(app->slow_log);
    w->stats = stats_local_new(app->stats, STATS_LOCAL_SLOTS);
    w->routes = routes_local_new(app->routes, ROUTES_LOCAL_SLOTS);
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
                                .routes = w->routes};
    if (!w->tick || !w->ctl || !w->slowbuf || !w->stats || !w->routes) {
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
    rec_cache_end();
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
    if (w->ctl_fd >= 0) {
        close(w->ctl_fd);
    }
    if (w->slowbuf) {
        logbuf_free(w->slowbuf);
    }
    if (w->stats) {
        stats_local_free(w->stats);
    }
    if (w->routes) {
        routes_local_free(w->routes);
    }
    sess_pool_free(w);
    event_base_free(w->base);
    free(w);
}
