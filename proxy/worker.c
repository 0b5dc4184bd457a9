/*
 * worker.c - worker threads: one event loop each, its own listener, sessions, counters,
 * log buffer and statistics table; a 100 ms tick for the work that is not driven by bytes.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/listener.h>

#include "logfile.h"
#include "session.h"
#include "slowlog.h"
#include "stats.h"
#include "worker.h"

#define TICK_US           100000
#define MERGE_EVERY       10 /* ticks: statistics are merged once a second */
#define STATS_LOCAL_SLOTS 1024

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

    for (struct sess *s = w->sessions, *next; s; s = next) {
        next = sess_next(s);
        sess_tick(s, now);
    }
    logbuf_flush(w->slowbuf);
    if (++w->ticks % MERGE_EVERY == 0 || stats_local_overflowed(w->stats)) {
        stats_local_merge(w->stats);
    }
    if (w->stopping && (w->nsessions == 0 || now >= w->stop_deadline_us)) {
        event_base_loopbreak(w->base);
    }
}

static void
on_ctl(evutil_socket_t fd, short what, void *arg)
{
    struct worker *w = arg;
    (void)fd;
    (void)what;
    if (atomic_load(&w->stop_requested) && !w->stopping) {
        w->stopping = true;
        w->stop_deadline_us = worker_now_us() + w->app->conf->shutdown_timeout_us;
        if (w->listener) {
            evconnlistener_free(w->listener);
            w->listener = NULL;
        }
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
    w->base = event_base_new();
    if (!w->base) {
        fprintf(stderr, "slowtap: cannot create an event loop\n");
        free(w);
        return NULL;
    }
    int fd;
    unsigned flags = LEV_OPT_CLOSE_ON_EXEC;
    if (app->shared_listen_fd >= 0) {
        fd = app->shared_listen_fd;
    } else {
        fd = net_listen(&app->listen_addr, true, err, sizeof err);
        if (fd < 0) {
            fprintf(stderr, "slowtap: --listen %s: %s\n", app->listen_addr.text, err);
            event_base_free(w->base);
            free(w);
            return NULL;
        }
        flags |= LEV_OPT_CLOSE_ON_FREE;
    }
    w->listener = evconnlistener_new(w->base, on_accept, w, flags, -1, fd);
    w->tick = event_new(w->base, -1, EV_PERSIST, on_tick, w);
    w->ctl = event_new(w->base, -1, 0, on_ctl, w);
    w->slowbuf = logbuf_new(app->slow_log);
    w->stats = stats_local_new(app->stats, STATS_LOCAL_SLOTS);
    if (!w->listener || !w->tick || !w->ctl || !w->slowbuf || !w->stats) {
        fprintf(stderr, "slowtap: cannot set up worker %d\n", id);
        worker_join_free(w);
        return NULL;
    }
    evconnlistener_set_error_cb(w->listener, on_accept_error);
    struct timeval tv = {0, TICK_US};
    event_add(w->tick, &tv);
    return w;
}

static void *
worker_main(void *arg)
{
    struct worker *w = arg;
    event_base_dispatch(w->base);
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
    atomic_store(&w->stop_requested, true);
    event_active(w->ctl, EV_READ, 0);
}

void
worker_join_free(struct worker *w)
{
    if (!w) {
        return;
    }
    if (w->thread_started) {
        pthread_join(w->thread, NULL);
    }
    while (w->sessions) {
        sess_close(w->sessions);
    }
    if (w->listener) {
        evconnlistener_free(w->listener);
    }
    if (w->tick) {
        event_free(w->tick);
    }
    if (w->ctl) {
        event_free(w->ctl);
    }
    if (w->slowbuf) {
        logbuf_free(w->slowbuf);
    }
    if (w->stats) {
        stats_local_free(w->stats);
    }
    sess_pool_free(w);
    event_base_free(w->base);
    free(w);
}
