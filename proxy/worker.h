/*
 * worker.h - the process-wide context (struct app) and the worker threads. Each worker has
 * its own libevent event_base, its own listening socket (SO_REUSEPORT: the kernel spreads new
 * connections across workers; a unix socket is one fd shared by all), its own sessions,
 * counters, slow-log buffer and statistics table, so nothing on the per-statement path takes a
 * lock. A 100 ms tick flushes the log buffer, asks for live plans, enforces handshake
 * timeouts; every 10th tick merges the statistics.
 */
#ifndef SLOWTAP_WORKER_H
#define SLOWTAP_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "../conf/conf.h"
#include "counters.h"
#include "listener.h"
#include "stats.h"

struct event_base;
struct event;
struct evconnlistener;
struct sess;
struct pcmd;

/* Process-wide, set up by main before the workers start; read-only afterwards except the
 * atomics. */
struct app {
    const struct conf *conf;
    struct net_addr listen_addr;
    struct net_addr backend_addr;
    struct logfile *slow_log;
    struct logfile *explain_log; /* NULL without --explain-log */
    struct filter *filter;       /* NULL without filters */
    struct stats *stats;
    struct explain *explain;        /* NULL when auto-EXPLAIN is off */
    struct logbuf *explain_slowbuf; /* the slow-log buffer the explain thread writes through */
    uint64_t explain_threshold_us;
    struct worker **workers;
    int nworkers;
    int shared_listen_fd;    /* unix socket listener shared by workers; -1 for TCP */
    _Atomic int connections; /* open client connections, all workers */
};

struct worker {
    struct app *app;
    int id;
    pthread_t thread;
    bool thread_started;
    struct event_base *base;
    struct evconnlistener *listener;
    struct event *tick;
    struct event *ctl; /* main asks: stop accepting, drain, exit */
    unsigned ticks;
    struct sess *sessions; /* every open session of this worker (doubly linked) */
    int nsessions;
    struct counters counters;
    struct logbuf *slowbuf;
    struct stats_local *stats;
    struct pcmd *pcmd_pool; /* recycled command records, so steady state allocates none */
    int pcmd_pool_n;
    _Atomic bool stop_requested;
    bool stopping;
    int64_t stop_deadline_us; /* monotonic; sessions still busy then are closed */
};

/* Creates worker `id` (event base, listener on app->listen_addr, timers). Prints a one-line
 * error and returns NULL on failure. */
struct worker *worker_new(struct app *app, int id);
/* Runs the worker's loop on a new thread. */
bool worker_start(struct worker *w);
/* Asks a worker (from any thread) to stop accepting, let in-flight statements finish within
 * the shutdown timeout, then leave its loop. */
void worker_request_stop(struct worker *w);
/* Joins the thread and frees the worker (flushes its log buffer and statistics). */
void worker_join_free(struct worker *w);

/* Monotonic and wall clock in microseconds. */
int64_t worker_now_us(void);
int64_t worker_wall_us(void);

#endif
