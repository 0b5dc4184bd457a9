/*
 * conn_bench.c - the benchmark's libmariadb client for connection tests (compiled by
 * tests/bench/run into a temp dir; not part of the meson build).
 *
 *   conn_bench rate HOST PORT USER PASS SECONDS
 *       connects, authenticates, runs "SELECT 1", reads the result and quits, in a loop for
 *       SECONDS; prints one JSON object: {"connections": N, "errors": E, "seconds": S,
 *       "rate": N/S, "first_error": "..."}.
 *   conn_bench idle HOST PORT USER PASS COUNT
 *       opens COUNT connections (each runs "SELECT 1" once), prints
 *       {"opened": N, "errors": E, "seconds": S, "first_error": "..."} and then reads commands
 *       from stdin, one per line: "ping" pings every open connection and prints
 *       {"pinged": N, "errors": E, "first_error": "..."}; "quit" or EOF closes them all and
 *       exits 0.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <mysql.h>

#include "common/jsonw.h"

static double
cb_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
cb_json_sink(void *ctx, const char *s, size_t n)
{
    fwrite(s, 1, n, ctx);
}

/* Writes s as a JSON string, escaped as all of slowtap's JSON is (common/jsonw.h). */
static void
cb_json_str(const char *s)
{
    struct jsonw w;
    jsonw_init(&w, cb_json_sink, stdout, 0);
    jsonw_string(&w, s);
    jsonw_flush(&w);
}

/* Connects and runs SELECT 1; returns the handle, or NULL with the error copied to err. */
static MYSQL *
cb_connect(const char *host, unsigned port, const char *user, const char *pass, char *err,
           size_t errlen)
{
    MYSQL *m = mysql_init(NULL);
    if (m == NULL) {
        snprintf(err, errlen, "mysql_init: out of memory");
        return NULL;
    }
    unsigned timeout = 10;
    mysql_options(m, MYSQL_OPT_CONNECT_TIMEOUT, &timeout);
    if (mysql_real_connect(m, host, user, pass, NULL, port, NULL, 0) == NULL ||
        mysql_query(m, "SELECT 1") != 0) {
        snprintf(err, errlen, "%u %s", mysql_errno(m), mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    MYSQL_RES *res = mysql_store_result(m);
    if (res == NULL) {
        snprintf(err, errlen, "%u %s", mysql_errno(m), mysql_error(m));
        mysql_close(m);
        return NULL;
    }
    mysql_free_result(res);
    return m;
}

static int
cb_rate(const char *host, unsigned port, const char *user, const char *pass, double seconds)
{
    char err[512], first[512] = "";
    long n = 0, errors = 0;
    double start = cb_now(), end = start + seconds, t;
    while ((t = cb_now()) < end) {
        MYSQL *m = cb_connect(host, port, user, pass, err, sizeof err);
        if (m == NULL) {
            if (errors++ == 0) {
                snprintf(first, sizeof first, "%s", err);
            }
            continue;
        }
        mysql_close(m); /* sends COM_QUIT */
        n++;
    }
    double el = cb_now() - start;
    printf("{\"connections\": %ld, \"errors\": %ld, \"seconds\": %.3f, \"rate\": %.1f, "
           "\"first_error\": ",
           n, errors, el, (double)n / el);
    cb_json_str(first);
    printf("}\n");
    return 0;
}

static int
cb_idle(const char *host, unsigned port, const char *user, const char *pass, long count)
{
    MYSQL **conns = calloc((size_t)count, sizeof *conns);
    if (conns == NULL) {
        fprintf(stderr, "conn_bench: out of memory\n");
        return 1;
    }
    char err[512], first[512] = "";
    long opened = 0, errors = 0;
    double start = cb_now();
    for (long i = 0; i < count; i++) {
        conns[i] = cb_connect(host, port, user, pass, err, sizeof err);
        if (conns[i] == NULL) {
            if (errors++ == 0) {
                snprintf(first, sizeof first, "%s", err);
            }
        } else {
            opened++;
        }
    }
    printf("{\"opened\": %ld, \"errors\": %ld, \"seconds\": %.3f, \"first_error\": ", opened,
           errors, cb_now() - start);
    cb_json_str(first);
    printf("}\n");
    fflush(stdout);

    char line[64];
    while (fgets(line, sizeof line, stdin) != NULL) {
        if (strncmp(line, "ping", 4) == 0) {
            long ok = 0, perr = 0;
            first[0] = '\0';
            for (long i = 0; i < count; i++) {
                if (conns[i] == NULL) {
                    continue;
                }
                if (mysql_ping(conns[i]) == 0) {
                    ok++;
                } else if (perr++ == 0) {
                    snprintf(first, sizeof first, "%u %s", mysql_errno(conns[i]),
                             mysql_error(conns[i]));
                }
            }
            printf("{\"pinged\": %ld, \"errors\": %ld, \"first_error\": ", ok, perr);
            cb_json_str(first);
            printf("}\n");
            fflush(stdout);
        } else if (strncmp(line, "quit", 4) == 0) {
            break;
        }
    }
    for (long i = 0; i < count; i++) {
        if (conns[i] != NULL) {
            mysql_close(conns[i]);
        }
    }
    free(conns);
    return 0;
}

int
main(int argc, char **argv)
{
    if (argc != 7 || (strcmp(argv[1], "rate") != 0 && strcmp(argv[1], "idle") != 0)) {
        fprintf(stderr, "usage: conn_bench rate|idle HOST PORT USER PASS SECONDS|COUNT\n");
        return 2;
    }
    unsigned port = (unsigned)strtoul(argv[3], NULL, 10);
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "conn_bench: mysql_library_init failed\n");
        return 1;
    }
    int rc;
    if (strcmp(argv[1], "rate") == 0) {
        rc = cb_rate(argv[2], port, argv[4], argv[5], strtod(argv[6], NULL));
    } else {
        rc = cb_idle(argv[2], port, argv[4], argv[5], strtol(argv[6], NULL, 10));
    }
    mysql_library_end();
    return rc;
}
