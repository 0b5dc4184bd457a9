/*
 * test_chsink.c - the ClickHouse sink's pure parts and its hand-off: the address parser's
 * table of good and bad addresses; with a sink running (pointed at a closed port), the JSON
 * log's bytes are the same as without one (one serialization shared), every entry reaches the
 * sink as a row (the log's object plus the sink's members), and at stop what could not be sent
 * is counted as dropped.
 */
#include <jansson.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/churl.h"
#include "proxy/account/record.h"
#include "proxy/output/chsink.h"
#include "proxy/output/logfile.h"
#include "proxy/output/slowlog.h"
#include "check.h"

struct url_case {
    const char *in;
    bool ok;
    const char *user, *password, *host;
    int port;
    const char *db;
};

static const struct url_case url_cases[] = {
    {"clickhouse://127.0.0.1:8123/fleet", true, "", "", "127.0.0.1", 8123, "fleet"},
    {"clickhouse://ch.example.com", true, "", "", "ch.example.com", 8123, "slowtap"},
    {"clickhouse://u@h:9/db/", true, "u", "", "h", 9, "db"},
    {"clickhouse://u:p%40ss@h:1/d", true, "u", "p@ss", "h", 1, "d"},
    {"clickhouse://u:a:b@c@h:1/d", true, "u", "a:b@c", "h", 1, "d"},
    {"clickhouse://[::1]:8123/x", true, "", "", "::1", 8123, "x"},
    {"http://h:8123/x", false, NULL, NULL, NULL, 0, NULL},
    {"clickhouse://", false, NULL, NULL, NULL, 0, NULL},
    {"clickhouse://h:0/x", false, NULL, NULL, NULL, 0, NULL},
    {"clickhouse://h:65536/x", false, NULL, NULL, NULL, 0, NULL},
    {"clickhouse://h:80a/x", false, NULL, NULL, NULL, 0, NULL},
    {"clickhouse://h:8123/bad-name", false, NULL, NULL, NULL, 0, NULL},
    {"clickhouse://h:8123/a;drop", false, NULL, NULL, NULL, 0, NULL},
    {"clickhouse://u:%zz@h/x", false, NULL, NULL, NULL, 0, NULL},
    {"clickhouse://@h/x", false, NULL, NULL, NULL, 0, NULL},
};

static void
test_urls(void)
{
    for (size_t i = 0; i < sizeof url_cases / sizeof url_cases[0]; i++) {
        const struct url_case *c = &url_cases[i];
        struct churl u;
        const char *why = NULL;
        bool ok = churl_parse(c->in, &u, &why);
        CHECK(ok == c->ok);
        if (ok && c->ok) {
            CHECK_STR(u.user, c->user);
            CHECK_STR(u.password, c->password);
            CHECK_STR(u.host, c->host);
            CHECK_EQ_U(u.port, c->port);
            CHECK_STR(u.database, c->db);
        } else if (!ok) {
            CHECK(why != NULL && strstr(why, "zz") == NULL); /* never the password */
        }
    }
    struct churl u;
    const char *why;
    char out[300];
    CHECK(churl_parse("clickhouse://u:secret@[::1]:9/d", &u, &why));
    churl_display(&u, out, sizeof out);
    CHECK_STR(out, "clickhouse://[::1]:9/d");
}

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    static char buf[1 << 16];
    size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
    if (f) {
        fclose(f);
    }
    buf[n] = '\0';
    return strdup(buf);
}

static struct rec *
make_rec(int i)
{
    struct rec *r = rec_new();
    char sql[64];
    r->start_wall_us = 1795556880123456LL + i;
    r->thread_id = 42;
    strcpy(r->user, "app");
    strcpy(r->host, "127.0.0.1");
    strcpy(r->schema, "perf");
    r->cmd = 0x03;
    snprintf(sql, sizeof sql, "SELECT %d FROM t WHERE name = 'x'", i);
    rec_set_sql(r, sql, strlen(sql));
    r->digest = 0x5d1c0e3f2a9b8c7dULL;
    r->query_us = 2179 + (uint64_t)i;
    r->rows_sent = 2;
    return r;
}

/* Formats n records as JSON into path, with or without a sink; returns the file's text. */
static char *
write_log(const char *path, int n)
{
    struct logfile *lf = logfile_open(path, 0);
    struct logbuf *b = logbuf_new(lf);
    for (int i = 0; i < n; i++) {
        struct rec *r = make_rec(i);
        slowlog_write(b, CONF_LOG_JSON, NULL, r);
        rec_free(r);
    }
    logbuf_free(b);
    logfile_close(lf);
    return slurp(path);
}

static void
test_shared_serialization(void)
{
    char dir[] = "/tmp/test_chsink.XXXXXX", p1[64], p2[64];
    CHECK(mkdtemp(dir) != NULL);
    snprintf(p1, sizeof p1, "%s/plain.log", dir);
    snprintf(p2, sizeof p2, "%s/sink.log", dir);
    char *plain = write_log(p1, 5);

    struct conf c = {.sink = "clickhouse://127.0.0.1:1/x",
                     .instance = "unit-\"1\"",
                     .sink_buffer = 1 << 20,
                     .sink_interval_us = 3600000000LL};
    struct chsink *s = chsink_start(&c, stderr);
    CHECK(s != NULL);
    CHECK(chsink_on());
    char *with = write_log(p2, 5);
    CHECK_STR(with, plain); /* the JSON log is byte for byte the same with a sink */
    struct chsink_stats st;
    CHECK(chsink_get_stats(&st));
    CHECK_EQ_U(st.sent, 0);
    chsink_stop(s, 0); /* nothing can be sent (port 1): all 5 rows are counted */
    CHECK(!chsink_on());
    CHECK(!chsink_get_stats(&st));
    unlink(p1);
    unlink(p2);
    rmdir(dir);
    free(plain);
    free(with);
}

/* The row a sink buffers: with a sink on a closed port and a long interval, rows stay queued;
 * chsink_thread_end hands them over and the counters show them. */
static void
test_rows_counted(void)
{
    struct conf c = {.sink = "clickhouse://127.0.0.1:1/x",
                     .instance = "i",
                     .sink_buffer = 1 << 20,
                     .sink_interval_us = 3600000000LL};
    struct chsink *s = chsink_start(&c, stderr);
    CHECK(s != NULL);
    for (int i = 0; i < 7; i++) {
        struct rec *r = make_rec(i);
        const char obj[] = "{\"time\":\"x\"";
        chsink_write(obj, sizeof obj - 1, NULL, false, r);
        rec_free(r);
    }
    chsink_thread_end();
    struct chsink_stats st;
    CHECK(chsink_get_stats(&st));
    CHECK_EQ_U(st.queued + st.dropped, 7);
    chsink_stop(s, 0);
}

int
main(void)
{
    test_urls();
    test_shared_serialization();
    test_rows_counted();
    return check_exit();
}
