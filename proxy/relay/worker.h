/*
 * worker.h - the process-wide context (struct app) and the worker threads. Each worker has
 * its own libevent event_base, its own listening sockets (SO_REUSEPORT: the kernel spreads new
 * connections across workers; a unix socket is one fd shared by all), its own sessions,
 * counters, slow-log buffer and statistics table, so nothing on the per-statement path takes a
 * lock. A 50 ms tick flushes the log buffer, asks for live plans, enforces handshake
 * timeouts; every 10th tick merges the statistics.
 *
 * Limits: when accepting fails for lack of descriptors, the worker sheds the waiting clients
 * with ERR 1040 through a spare descriptor and disables its listeners for 100 ms (never a
 * busy accept loop); its sessions not yet authenticated are capped at its share of
 * --max-pending-handshakes (session.c keeps them on pend_head..pend_tail).
 */
#ifndef SLOWTAP_WORKER_H
#define SLOWTAP_WORKER_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "conf/conf.h"
#include "proxy/account/account.h"
#include "proxy/account/counters.h"
#include "proxy/account/findings.h"
#include "net/net_addr.h"
#include "proxy/account/stats.h"

#include <event2/util.h>

struct event_base;
struct event;
struct evconnlistener;
struct sess;
struct pcmd;

/* Process-wide, set up by main before the workers start; read-only afterwards except the
 * atomics. */
struct app {
    const struct conf *conf;
    struct net_addr listen_addr;  /* every address --listen resolved to */
    struct net_addr backend_addr; /* every address --backend resolved to, tried in order */
    struct logfile *slow_log;
    struct logfile *explain_log; /* NULL without --explain-log */
    struct capture *capture;     /* the capture controller (capture.h); NULL: never captures */
    struct filter *filter;       /* NULL without filters */
    struct stats *stats;

    struct routes *routes;           /* per-route statistics (routes.h) */
    struct findings_table *findings; /* N+1 and duplicate findings (findings.h) */

    struct explain *explain;        /* NULL when auto-EXPLAIN is off */
    struct logbuf *explain_slowbuf; /* the slow-log buffer the explain thread writes through */
    struct logbuf *explain_logbuf;  /* its explain-log buffer, NULL without --explain-log */
    uint64_t explain_threshold_us;
    struct worker **workers;
    int nworkers;
    /* Opened by main before the workers (so a taken address is a start-up error, exit 2):
     * one per listen_addr address. A unix socket's fd is shared by every worker (main closes
     * it); TCP ones are worker 0's NET_LISTEN_FIRST sockets, which worker 0 takes over (-1
     * then); the other workers join them with NET_LISTEN_JOIN sockets of their own. */
    int listen_fds[NET_ADDR_MAX];
    /* IPV6_V6ONLY on the IPv6 listeners: --listen resolved to several addresses */
    bool listen_v6only;
    _Atomic int connections; /* open client connections, all workers */
    /* Monotonic us of the last stderr line about each limit (worker_notice_due): at most one
     * a minute; 0 before the first. */
    _Atomic int64_t notice_fd_us;      /* descriptors (or memory) ran out while accepting */
    _Atomic int64_t notice_pending_us; /* --max-pending-handshakes turned a client away */
};

struct worker {
    struct app *app;
    int id;
    pthread_t thread;
    bool thread_started;
    struct event_base *base;
    struct evconnlistener *listeners[NET_ADDR_MAX]; /* one per listen_addr address */
    int nlisteners;
    struct event *tick;
    struct event *ctl; /* main asks: stop accepting, drain, exit (a write to ctl_fd) */
    int ctl_fd;        /* eventfd: the only way another thread wakes this worker's loop */
    unsigned ticks;
    struct sess *sessions; /* every open session of this worker (doubly linked) */
    int nsessions;
    struct counters counters;
    struct logbuf *slowbuf;
    struct capbuf *capbuf; /* capture records (capture.h); NULL when app->capture is */
    uint64_t cap_sessions; /* capture session ids handed out by this worker */
    struct stats_local *stats;

    struct routes_local *routes;   /* this worker's per-route table */
    struct findings_conf findings; /* what its sessions' findings_sess use */
    struct acct_ctx acct;          /* what its sessions' accounting uses (account.h) */

    struct pcmd *pcmd_pool; /* recycled command records, so steady state allocates none */
    int pcmd_pool_n;
    /* Running out of descriptors (worker_accept_pause): a descriptor on /dev/null held in
     * reserve, closed for a moment to accept a waiting client and close it with ERR 1040 (it
     * gets an answer, not a hang); -1 while it could not be reopened. While accept_paused the
     * listeners are disabled until the accept_resume timer (WORKER_ACCEPT_PAUSE_US). */
    int spare_fd;
    bool accept_paused;
    struct event *accept_resume;
    /* Sessions not yet authenticated (CONNECTING..AUTH), oldest first (session.c keeps it):
     * at most pending_max, this worker's share of --max-pending-handshakes. */
    struct sess *pend_head, *pend_tail;
    int npending;
    int pending_max;
    _Atomic bool stop_requested;
    bool stopping;
    int64_t stop_deadline_us; /* monotonic; sessions still busy then are closed */
};

/* Creates worker `id` (event base, a listener on every app->listen_addr address, timers).
 * Prints a one-line error and returns NULL on failure. */
struct worker *worker_new(struct app *app, int id);
/* Runs the worker's loop on a new thread. */
bool worker_start(struct worker *w);
/* Asks a worker (from any thread) to stop accepting, let in-flight statements finish within
 * the shutdown timeout, then leave its loop. */
void worker_request_stop(struct worker *w);
/* Waits for the worker's thread to end (after worker_request_stop); the worker's counters stay
 * readable until worker_join_free. */
void worker_join(struct worker *w);

/* Joins the thread and frees the worker (flushes its log buffer and statistics). */
void worker_join_free(struct worker *w);

/* Accepting failed for lack of descriptors or memory (`err`, an errno): counts it, disables
 * the worker's listeners for WORKER_ACCEPT_PAUSE_US (the sessions already open go on), and
 * says so on stderr at most once a minute for the whole process. Worker thread only. */
void worker_accept_pause(struct worker *w, int err);

/* Closes a client that was accepted but cannot be served, with ERR 1040 (sequence 0, before
 * any greeting) carrying `msg`: a non-blocking send, then close(fd). */
void worker_refuse(evutil_socket_t fd, const char *msg);

/* True when a notice whose last time is kept in `last` may be printed now (at most one per
 * WORKER_NOTICE_US, across threads); records now as its time. */
bool worker_notice_due(_Atomic int64_t *last);

/* Installs libevent's log callback: as libevent's own (to stderr), except that its "Error from
 * accept() call" lines (from a listener without an error callback, e.g. the HTTP server's)
 * are printed at most once a minute, with the count of those left out. Call once, from main,
 * before the threads start. */
void worker_libevent_log_init(void);

#define WORKER_ACCEPT_PAUSE_US 100000     /* listeners off after an accept failure */
#define WORKER_NOTICE_US       60000000LL /* one stderr line per limit and minute at most */

/* Monotonic and wall clock in microseconds. */
int64_t worker_now_us(void);
int64_t worker_wall_us(void);

#endif
