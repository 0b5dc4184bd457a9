/*
 * main.c - slowtap's entry point: reads the configuration, sets up the shared parts (logs,
 * filters, statistics, auto-EXPLAIN, HTTP), starts the worker threads and waits for signals:
 * SIGHUP reopens the logs, SIGUSR1 resets the statistics' "since reset" window (http.h),
 * SIGTERM/SIGINT stop accepting, let in-flight statements finish
 * (up to --shutdown-timeout), flush the logs and exit 0.
 *
 * `slowtap report ...` is the offline report command (report.c).
 */
#include <errno.h>
#include <execinfo.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/thread.h>

#include "conf/conf.h"
#include "explain/explain.h"
#include "proxy/account/autoplan.h"
#include "proxy/account/ddl.h"
#include "proxy/account/filter.h"
#include "proxy/output/capture.h"
#include "proxy/output/chsink.h"
#include "proxy/output/explainlog.h"
#include "proxy/output/http.h"
#include "proxy/output/logfile.h"
#include "proxy/account/record.h"
#include "replay/replay.h"
#include "report/capture_cmd.h"
#include "report/report.h"
#include "proxy/account/requests.h"
#include "proxy/account/routes.h"
#include "proxy/account/sessreg.h"
#include "proxy/output/slowlog.h"
#include "proxy/account/stats.h"
#include "proxy/relay/evmem.h"
#include "proxy/relay/tls.h"
#include "proxy/relay/worker.h"

#define LOG_MAX_PENDING (64u << 20) /* bytes of log entries waiting for the disk, at most */

static struct event_base *main_base;
static struct http *main_http; /* for SIGHUP (http_reload); NULL without HTTP */

/* A slow statement's lock wait into its shape's statistics, with the blocker's last statement
 * redacted as the slow log redacts it (the record's sql_mode, filter_redact_mode). */
static void
add_lock_wait_stats(struct app *app, const struct rec *rec)
{
    const struct sessreg_view *v = rec->explain.blocker;
    const char *last = NULL;
    size_t len = 0;
    bool cut = false;
    char red[2 * SESSREG_TEXT_MAX + 256];
    if (v && v->nstmts > 0) {
        const struct sessreg_stmt *st = &v->stmts[v->nstmts - 1];
        last = st->text;
        len = st->len;
        cut = st->cut;
        if (filter_redacts(app->filter)) {
            len =
                filter_redact_mode(app->filter, st->text, st->len, rec->lex_mode, red, sizeof red);
            last = red;
        }
    }
    stats_add_lockwait(app->stats, rec->digest, &rec->explain.lock, v, last, len, cut);
}

/* Auto-EXPLAIN hands every job back here, on its own thread: the record it belongs to goes to
 * the explain log (a plan taken from the server), the slow log and the statistics. */
static void
on_explained(void *arg, struct explain_job *job)
{
    struct app *app = arg;
    if (!job) { /* once per batch, not per entry */
        logbuf_flush(app->explain_slowbuf);
        if (app->explain_logbuf) {
            logbuf_flush(app->explain_logbuf);
        }
        return;
    }
    struct rec *rec = rec_from_explain_job(job);
    explainlog_write(app->explain_logbuf, app->filter, rec);
    if (job->log) {
        slowlog_write(app->explain_slowbuf, app->conf->log_format, app->filter, rec);
    }
    if (job->plan && job->source != EXPLAIN_SRC_CACHED) {
        stats_set_plan(app->stats, rec->digest, job->plan);
        stats_set_advice(app->stats, rec->digest, job->index_advice);
    }
    if (job->has_pfs) { /* what the server measured, for the API and dashboard */
        stats_add_server(app->stats, rec->digest, &job->pfs);
    }
    if (job->has_lock_wait) { /* ... and what it waited for */
        add_lock_wait_stats(app, rec);
    }
    rec_free(rec);
}

/* Auto-EXPLAIN by impact (autoplan.h): a tick a second on the main loop. */
static int64_t
mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void
on_autoplan_tick(evutil_socket_t fd, short what, void *arg)
{
    (void)fd;
    (void)what;
    autoplan_tick(arg, mono_us());
}

/* A lock wait's blocker, described from slowtap's own sessions (explain_blocker_fn). */
static void *
on_blocker(void *arg, uint32_t thread_id)
{
    (void)arg;
    return sessreg_snapshot(NULL, thread_id);
}

/* ... and whether such a session touched the table a metadata-lock wait is for. */
static int
on_touch(void *arg, const void *blocker, const char *db, const char *table)
{
    (void)arg;
    return sessreg_touches(blocker, db, table);
}

/* The explain thread ends: what on_explained's slow-log formatting kept for the thread. */
static void
on_explain_exit(void *arg)
{
    (void)arg;
    slowlog_thread_cleanup();
}

static void
on_signal(evutil_socket_t sig, short what, void *arg)
{
    struct app *app = arg;
    (void)what;
    if (sig == SIGUSR1) {
        http_request_reset(main_http);
        return;
    }
    if (sig == SIGHUP) {
        tls_reload(app->conf, stderr);
        http_reload(main_http, app->conf);
        logfile_reopen(app->slow_log);
        if (app->explain_log) {
            logfile_reopen(app->explain_log);
        }
        return;
    }
    fprintf(stderr, "slowtap: %s: stopping (in-flight statements get up to %.1f s)\n",
            sig == SIGTERM ? "SIGTERM" : "SIGINT", (double)app->conf->shutdown_timeout_us / 1e6);
    for (int i = 0; i < app->nworkers; i++) {
        worker_request_stop(app->workers[i]);
    }
    event_base_loopbreak(main_base);
}

/*
 * A fatal signal (SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT), on whatever thread it lands: one
 * backtrace on stderr (backtrace_symbols_fd: no malloc, no stdio), then the signal again with
 * its default action, so that the exit status and the core file are what they were without
 * the handler. A second thread that crashes meanwhile waits a second for the first to finish.
 * Log entries need nothing here: the log writer has already written what workers handed over
 * (every 50 ms at most: the worker tick), and what write(2) took outlives the process.
 */
static atomic_int crash_seen;

static const char *
crash_name(int sig)
{
    switch (sig) {
    case SIGSEGV:
        return "SIGSEGV";
    case SIGBUS:
        return "SIGBUS";
    case SIGFPE:
        return "SIGFPE";
    case SIGILL:
        return "SIGILL";
    default:
        return "SIGABRT";
    }
}

static void
crash_write(const char *s)
{
    if (write(STDERR_FILENO, s, strlen(s)) < 0) {
        /* nowhere left to say it */
    }
}

static void
on_crash(int sig)
{
    if (atomic_exchange(&crash_seen, 1)) {
        struct timespec second = {.tv_sec = 1, .tv_nsec = 0};
        nanosleep(&second, NULL);
    } else {
        void *frames[64];
        crash_write("slowtap: fatal signal ");
        crash_write(crash_name(sig));
        crash_write(", backtrace:\n");
        backtrace_symbols_fd(frames, backtrace(frames, 64), STDERR_FILENO);
    }
    signal(sig, SIG_DFL);
    raise(sig); /* SA_NODEFER: delivered at once, with the default action */
}

/* Installs on_crash where nothing else (a sanitizer's runtime) handles the signal already. */
static void
crash_install(void)
{
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGABRT};
    void *frame[1];
    (void)backtrace(frame, 1); /* loads libgcc now: the handler must not load anything */
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        struct sigaction old = {.sa_handler = SIG_DFL};
        struct sigaction sa = {.sa_handler = on_crash, .sa_flags = SA_NODEFER};
        sigemptyset(&sa.sa_mask);
        if (sigaction(sigs[i], NULL, &old) == 0 && !(old.sa_flags & SA_SIGINFO) &&
            old.sa_handler == SIG_DFL) {
            sigaction(sigs[i], &sa, NULL);
        }
    }
}

/* When an address resolved to other addresses than it reads, says which, in order, as a
 * note: a port alone (loopback), or a name's addresses. */
static void
print_resolved(const char *opt, const struct net_addr *a, const char *how)
{
    if (net_addr_is_unix(a) || (a->n == 1 && strcmp(a->a[0].text, a->text) == 0)) {
        return;
    }
    char list[NET_ADDR_MAX * 50];
    net_addr_list_text(a, list, sizeof list);
    if (a->text[0] && a->text[strspn(a->text, "0123456789")] == '\0') {
        fprintf(stderr, "slowtap: note: %s %s is %s (a port alone means loopback)\n", opt, a->text,
                list);
    } else {
        fprintf(stderr, "slowtap: note: %s %s resolves to %s (%s)\n", opt, a->text, list, how);
    }
}

/* A log path that cannot be opened for appending at start is a start-up error: the log writer
 * would only warn and drop every entry. Opens it as logfile_open does (creating it, 0640) and
 * closes it again; "-" (stdout) and NULL (no such log) pass. */
static bool
check_log_path(const char *opt, const char *path)
{
    if (!path || strcmp(path, "-") == 0) {
        return true;
    }
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) {
        fprintf(stderr, "slowtap: %s %s: cannot open: %s\n", opt, path, strerror(errno));
        return false;
    }
    close(fd);
    return true;
}

/* --state-dir must be a directory slowtap can write in (a start-up error, exit 2, as a slow
 * log that cannot be opened); without HTTP, which saves it, a note says nothing is kept. */
static bool
check_state_dir(const struct conf *c)
{
    if (!c->state_dir) {
        return true;
    }
    struct stat st;
    int e = 0;
    if (stat(c->state_dir, &st) != 0) {
        e = errno;
    } else if (!S_ISDIR(st.st_mode)) {
        e = ENOTDIR;
    } else if (access(c->state_dir, W_OK | X_OK) != 0) {
        e = errno;
    }
    if (e) {
        fprintf(stderr, "slowtap: --state-dir %s: %s\n", c->state_dir, strerror(e));
        return false;
    }
    if (!c->http) {
        fprintf(stderr, "slowtap: note: --state-dir %s: nothing is saved with --http off\n",
                c->state_dir);
    }
    return true;
}

/* Raises the open-file limit to the hard limit. Says so only when the limit is really too low
 * for --max-connections: a limit that leaves room for at least 90% of them is not worth a
 * note (--max-connections is a ceiling, not an expected load). */
static void
raise_fd_limit(int max_connections)
{
    struct rlimit rl;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
        return;
    }
    if (rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
        getrlimit(RLIMIT_NOFILE, &rl);
    }
    /* each client connection holds two descriptors: the client's and its backend's */
    unsigned long long room = rl.rlim_cur > 64 ? (unsigned long long)(rl.rlim_cur - 64) / 2 : 0;
    unsigned long long want = max_connections > 0 ? (unsigned long long)max_connections : 0;
    if (room * 10 < want * 9) {
        fprintf(stderr,
                "slowtap: note: the open-file limit %llu leaves room for about %llu client "
                "connections, fewer than --max-connections %llu; raise it (ulimit -n, "
                "LimitNOFILE=) or lower --max-connections\n",
                (unsigned long long)rl.rlim_cur, room, want);
    }
}

int
main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "report") == 0) {
        return report_main(argc - 1, argv + 1, stdout, stderr);
    }
    if (argc > 1 && strcmp(argv[1], "replay") == 0) {
        return replay_main(argc - 1, argv + 1, stdout, stderr);
    }
    if (argc > 1 && strcmp(argv[1], "whatif") == 0) {
        return whatif_main(argc - 1, argv + 1, stdout, stderr);
    }
    if (argc > 1 && strcmp(argv[1], "capture") == 0) {
        return capture_cmd_main(argc - 1, argv + 1, stdout, stderr);
    }
    if (argc > 1 && strcmp(argv[1], "sink-schema") == 0) {
        return chsink_schema_main(argc - 1, argv + 1, stdout, stderr);
    }

    struct conf conf;
    switch (conf_load(&conf, argc, argv, stdout, stderr)) {
    case CONF_EXIT_OK:
        conf_free(&conf);
        return 0;
    case CONF_EXIT_ERR:
        conf_free(&conf);
        return 2;
    case CONF_RUN:
        break;
    }

    /* Signals go to the main thread only: every thread started from here on blocks them. */
    sigset_t sigs, old;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGHUP);
    sigaddset(&sigs, SIGUSR1);
    pthread_sigmask(SIG_BLOCK, &sigs, &old);
    signal(SIGPIPE, SIG_IGN);
    crash_install(); /* before any thread starts */
    evmem_install(); /* before any other libevent call */
    evthread_use_pthreads();
    worker_libevent_log_init(); /* libevent's accept errors: one line a minute at most */

    static struct app app;
    struct chsink *sink = NULL; /* --sink: ClickHouse (chsink.h) */
    char err[256];
    int status = 1;
    app.conf = &conf;
    for (int i = 0; i < NET_ADDR_MAX; i++) {
        app.listen_fds[i] = -1;
    }
    if (!net_addr_resolve(conf.listen, &app.listen_addr, err, sizeof err)) {
        fprintf(stderr, "slowtap: --listen '%s': %s\n", conf.listen, err);
        conf_free(&conf);
        return 2;
    }
    if (!net_addr_resolve(conf.backend, &app.backend_addr, err, sizeof err)) {
        fprintf(stderr, "slowtap: --backend '%s': %s\n", conf.backend, err);
        conf_free(&conf);
        return 2;
    }
    print_resolved("--listen", &app.listen_addr, "each listened on");
    print_resolved("--backend", &app.backend_addr, "tried in this order");
    bool bad = false;
    app.filter = filter_new(&conf, stderr, &bad);
    if (bad) {
        conf_free(&conf);
        return 2;
    }
    if (!check_log_path("--slow-log", conf.slow_log) ||
        !check_log_path("--explain-log", conf.explain_log) || !check_state_dir(&conf)) {
        filter_free(app.filter);
        conf_free(&conf);
        return 2;
    }
    if (!tls_init(&conf, stderr)) {
        filter_free(app.filter);
        conf_free(&conf);
        return 2;
    }
    raise_fd_limit(conf.max_connections);

    bool cap_busy = false;
    app.capture = capture_new();
    if (!app.capture) {
        goto out;
    }
    if (conf.capture && capture_start(app.capture, conf.capture, (uint64_t)conf.capture_max_bytes,
                                      (uint64_t)((conf.capture_us + 999999) / 1000000), &cap_busy,
                                      err, sizeof err) != 0) {
        fprintf(stderr, "slowtap: --capture: %s\n", err);
        status = 2;
        goto out;
    }
    app.slow_log = logfile_open(conf.slow_log, LOG_MAX_PENDING);
    if (conf.explain_log) {
        app.explain_log = logfile_open_named("explain log", conf.explain_log, LOG_MAX_PENDING);
    }
    if (conf.sink && app.slow_log) {
        sink = chsink_start(&conf, stderr); /* before any thread writes the slow log */
        if (!sink) {
            goto out;
        }
    }
    app.stats = stats_new(conf.max_digests);
    app.routes = routes_new(conf.max_routes);
    app.findings = findings_table_new();
    app.ddl = ddl_log_new();
    app.requests =
        requests_new((unsigned)conf.requests_keep, (uint32_t)conf.n_plus_one_min, app.findings);
    if (!app.slow_log || !app.stats || !app.routes || !app.findings || !app.ddl || !app.requests ||
        (conf.explain_log && !app.explain_log)) {
        fprintf(stderr, "slowtap: out of memory at start\n");
        goto out;
    }
    app.explain_threshold_us =
        (uint64_t)(conf.explain_threshold_us >= 0 ? conf.explain_threshold_us : conf.long_query_us);
    if (conf.explain_user) {
        app.explain_slowbuf = logbuf_new(app.slow_log);
        if (app.explain_log) {
            app.explain_logbuf = logbuf_new(app.explain_log);
        }
        if (!app.explain_slowbuf || (app.explain_log && !app.explain_logbuf)) {
            fprintf(stderr, "slowtap: out of memory at start\n");
            goto out;
        }
        struct explain_hooks hooks = {
            .done = on_explained,
            .blocker = on_blocker,
            .touch = on_touch,
            .thread_exit = on_explain_exit,
            .arg = &app,
        };
        app.explain = explain_start(&conf, &app.backend_addr, &hooks);
    }

    /* Worker 0's sockets (or the shared unix one), bound here so that an address another
     * process listens on is a start-up error (net/net_addr.h, NET_LISTEN_FIRST). */
    app.listen_v6only = app.listen_addr.n > 1;
    for (int i = 0; i < app.listen_addr.n; i++) {
        bool in_use = false;
        enum net_listen_mode mode =
            net_addr_is_unix(&app.listen_addr) ? NET_LISTEN_PLAIN : NET_LISTEN_FIRST;
        app.listen_fds[i] =
            net_listen(&app.listen_addr.a[i], mode, app.listen_v6only, err, sizeof err, &in_use);
        int e = errno;
        if (app.listen_fds[i] < 0 && !in_use && app.listen_addr.n > 1 &&
            (e == EADDRNOTAVAIL || e == EAFNOSUPPORT)) {
            /* a name's address this host does not have (::1 with IPv6 off): the others do */
            fprintf(stderr, "slowtap: note: --listen %s: not listening on %s\n", conf.listen, err);
            memmove(&app.listen_addr.a[i], &app.listen_addr.a[i + 1],
                    (size_t)(app.listen_addr.n - i - 1) * sizeof app.listen_addr.a[0]);
            app.listen_addr.n--;
            i--;
            continue;
        }
        if (app.listen_fds[i] < 0) {
            fprintf(stderr, "slowtap: --listen %s: %s%s\n", conf.listen, err,
                    in_use ? " (another slowtap on the same address?)" : "");
            status = 2;
            goto out;
        }
    }
    app.workers = calloc((size_t)conf.threads, sizeof *app.workers);
    if (!app.workers) {
        goto out;
    }
    for (int i = 0; i < conf.threads; i++) {
        app.workers[i] = worker_new(&app, i);
        if (!app.workers[i]) {
            status = 2;
            goto out;
        }
        app.nworkers++;
    }

    struct http *http = NULL;
    struct counters **cs = NULL;
    if (conf.http) {
        struct http_sources src = {
            .stats = app.stats,
            .routes = app.routes,
            .findings = app.findings,
            .requests = app.requests,
            .n_counters = app.nworkers,
            .explain = app.explain,
            .slow_log = app.slow_log,
            .explain_log = app.explain_log,
            .filter = app.filter,
            .ddl = app.ddl,
            .capture = app.capture,
            .capture_max_bytes = (uint64_t)conf.capture_max_bytes,
            .capture_seconds = (uint64_t)((conf.capture_us + 999999) / 1000000),
        };
        cs = calloc((size_t)app.nworkers, sizeof *cs);
        if (!cs) {
            goto out;
        }
        for (int i = 0; i < app.nworkers; i++) {
            cs[i] = &app.workers[i]->counters;
        }
        src.counters = (struct counters *const *)cs;
        http = http_start(&conf, &src);
        main_http = http;
        if (!http) {
            free(cs);
            cs = NULL;
            if (!(errno == EADDRINUSE && !conf.http_given)) {
                status = 2;
                goto out;
            }
            /* the default address is taken (http_start said so): run without HTTP */
            free(conf.http);
            conf.http = NULL;
        }
    }

    for (int i = 0; i < app.nworkers; i++) {
        if (!worker_start(app.workers[i])) {
            fprintf(stderr, "slowtap: cannot start worker thread %d\n", i);
            goto out_http;
        }
    }

    struct event_base *base = event_base_new();
    main_base = base;
    struct event *ev_term = evsignal_new(base, SIGTERM, on_signal, &app);
    struct event *ev_int = evsignal_new(base, SIGINT, on_signal, &app);
    struct event *ev_hup = evsignal_new(base, SIGHUP, on_signal, &app);
    struct event *ev_usr1 = evsignal_new(base, SIGUSR1, on_signal, &app);
    event_add(ev_term, NULL);
    event_add(ev_int, NULL);
    event_add(ev_hup, NULL);
    event_add(ev_usr1, NULL);
    struct autoplan *autoplan = autoplan_new(&conf, app.stats, app.explain, mono_us());
    struct event *ev_autoplan =
        autoplan ? event_new(base, -1, EV_PERSIST, on_autoplan_tick, autoplan) : NULL;
    if (ev_autoplan) {
        struct timeval second = {.tv_sec = 1, .tv_usec = 0};
        event_add(ev_autoplan, &second);
    }
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    fprintf(stderr,
            "slowtap %s: listening on %s, backend %s, %d threads, long-query-time %.6f s, "
            "slow log %s, auto-EXPLAIN %s, HTTP %s, client TLS %s\n",
            SLOWTAP_VERSION, conf.listen, conf.backend, conf.threads,
            (double)conf.long_query_us / 1e6, conf.slow_log, app.explain ? "on" : "off",
            conf.http ? conf.http : "off", tls_client_summary());
    event_base_dispatch(base);
    event_free(ev_term);
    event_free(ev_int);
    event_free(ev_hup);
    event_free(ev_usr1);
    if (ev_autoplan) {
        event_free(ev_autoplan);
    }
    autoplan_free(autoplan);
    event_base_free(base);
    status = 0;

out_http:
    for (int i = 0; i < app.nworkers; i++) {
        worker_request_stop(app.workers[i]);
    }
    for (int i = 0; i < app.nworkers; i++) {
        worker_join(app.workers[i]);
    }
    /* the HTTP thread reads the workers' counters (metrics, history): stop it before they go */
    if (http) {
        main_http = NULL;
        http_stop(http);
    }
    for (int i = 0; i < app.nworkers; i++) {
        worker_join_free(app.workers[i]);
        app.workers[i] = NULL;
    }
    app.nworkers = 0;
    free(cs);
out:
    for (int i = 0; i < app.nworkers; i++) {
        worker_join_free(app.workers[i]);
    }
    free(app.workers);
    capture_free(app.capture); /* every worker's records are handed over */
    explain_stop(app.explain);
    if (app.explain_slowbuf) {
        logbuf_free(app.explain_slowbuf);
    }
    if (app.explain_logbuf) {
        logbuf_free(app.explain_logbuf); /* flushes: before logfile_close */
    }
    for (int i = 0; i < NET_ADDR_MAX; i++) {
        if (app.listen_fds[i] >= 0) {
            close(app.listen_fds[i]);
        }
    }
    chsink_stop(sink, conf.shutdown_timeout_us); /* every writer has ended */
    logfile_close(app.slow_log);
    logfile_close(app.explain_log);
    if (app.stats) {
        stats_free(app.stats);
    }
    routes_free(app.routes);
    requests_free(app.requests); /* before the findings it gives examples to */
    findings_table_free(app.findings);
    ddl_log_free(app.ddl);
    filter_free(app.filter);
    tls_shutdown();
    conf_free(&conf);
    evmem_thread_end();
    return status;
}
