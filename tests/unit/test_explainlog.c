/*
 * test_explainlog.c - the explain log's JSON line (byte for byte, redaction, which plans get a
 * line) and the record <-> explain job glue (rec_explain_job, rec_from_explain_job,
 * explain_source_name, explain_job_release through rec_free).
 */
#include <stdlib.h>
#include <unistd.h>

#include "explain/explain.h"
#include "proxy/account/filter.h"
#include "proxy/account/record.h"
#include "proxy/output/explainlog.h"
#include "proxy/output/logfile.h"
#include "check.h"

static char tmpdir[256];

static char *
slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        return NULL;
    }
    size_t cap = 1 << 16, n;
    char *buf = malloc(cap);
    n = buf ? fread(buf, 1, cap - 1, f) : 0;
    fclose(f);
    if (buf) {
        buf[n] = '\0';
    }
    return buf;
}

static struct plan *
make_plan(void)
{
    struct plan *p = plan_new();
    const char *names[] = {"id",  "select_type", "table", "type", "possible_keys",
                           "key", "key_len",     "ref",   "rows", "Extra"};
    const char *vals[] = {"1",  "SIMPLE", "students", "ALL",  NULL,
                          NULL, NULL,     NULL,       "1000", "Using where"};
    plan_add_row(p, names, vals, 10);
    p->flags = PLAN_FULL_SCAN;
    return p;
}

static struct rec *
make_rec(const char *sql, enum explain_source src)
{
    struct rec *r = rec_new();
    r->start_wall_us = 1795556880123456LL; /* 2026-11-24T21:48:00.123456Z */
    r->thread_id = 42;
    strcpy(r->schema, "perf");
    rec_set_sql(r, sql, strlen(sql));
    r->fingerprint = strdup("select * from students where email = ?");
    r->digest = 0x5d1c0e3f2a9b8c7dULL;
    r->query_us = 2500000;
    r->explain.plan = make_plan();
    r->explain.source = src;
    return r;
}

/* Writes the records' lines into a fresh file and returns its text. */
static char *
write_to_file(const char *name, const struct filter *f, struct rec **recs, size_t n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
    unlink(path);
    struct logfile *lf = logfile_open_named("explain log", path, 0);
    struct logbuf *b = logbuf_new(lf);
    for (size_t i = 0; i < n; i++) {
        explainlog_write(b, f, recs[i]);
    }
    logbuf_free(b);
    logfile_close(lf);
    return slurp(path);
}

static void
test_line_exact(void)
{
    struct rec *r = make_rec("SELECT * FROM students WHERE email = 'a@b'", EXPLAIN_SRC_AFTER);
    r->explain.index_advice = strdup("ALTER TABLE `perf`.`students` ADD INDEX ix (email);");
    char *text = write_to_file("exact.log", NULL, &r, 1);
    CHECK_STR(text,
              "{\"time\":\"2026-11-24T21:48:00.123456Z\",\"digest\":\"5d1c0e3f2a9b8c7d\","
              "\"fingerprint\":\"select * from students where email = ?\","
              "\"statement\":\"SELECT * FROM students WHERE email = 'a@b'\","
              "\"params\":null,\"prepared_statement\":null,\"schema\":\"perf\","
              "\"query_time\":2.5,\"source\":\"after\",\"flags\":{\"full_scan\":true,"
              "\"full_join\":false,\"tmp_table\":false,\"filesort\":false},"
              "\"plan\":[{\"id\":\"1\",\"select_type\":\"SIMPLE\",\"table\":\"students\","
              "\"type\":\"ALL\",\"possible_keys\":\"NULL\",\"key\":\"NULL\","
              "\"key_len\":\"NULL\",\"ref\":\"NULL\",\"rows\":\"1000\",\"Extra\":\"Using where\"}],"
              "\"index_advice\":\"ALTER TABLE `perf`.`students` ADD INDEX ix (email);\"}\n");
    free(text);
    rec_free(r);
}

/* Only plans taken from the server get a line: live and after, not cached copies, not none. */
static void
test_which(void)
{
    struct rec *recs[4] = {
        make_rec("SELECT 1 FROM t", EXPLAIN_SRC_LIVE),
        make_rec("SELECT 2 FROM t", EXPLAIN_SRC_CACHED),
        make_rec("SELECT 3 FROM t", EXPLAIN_SRC_AFTER),
        make_rec("SELECT 4 FROM t", EXPLAIN_SRC_NONE),
    };
    plan_free(recs[3]->explain.plan);
    recs[3]->explain.plan = NULL;
    char *text = write_to_file("which.log", NULL, recs, 4);
    CHECK(text && strstr(text, "\"statement\":\"SELECT 1 FROM t\",") &&
          strstr(text, "\"source\":\"live\""));
    CHECK(text && strstr(text, "\"statement\":\"SELECT 3 FROM t\","));
    CHECK(text && !strstr(text, "SELECT 2") && !strstr(text, "SELECT 4"));
    CHECK(text && !strstr(text, "index_advice")); /* only when there is some */
    size_t lines = 0;
    for (const char *p = text; p && *p; p++) {
        lines += *p == '\n';
    }
    CHECK_EQ_U(lines, 2);
    free(text);
    for (int i = 0; i < 4; i++) {
        rec_free(recs[i]);
    }
}

static void
test_redaction(void)
{
    struct conf c;
    memset(&c, 0, sizeof(c));
    char pat[] = "secret";
    c.redact[0] = pat;
    c.n_redact = 1;
    bool bad = false;
    struct filter *f = filter_new(&c, stderr, &bad);
    CHECK(f != NULL && !bad);
    if (!f) {
        return;
    }
    struct rec *r =
        make_rec("SELECT * FROM users WHERE pw = 'secret' AND id = 7", EXPLAIN_SRC_LIVE);
    r->params = strdup("'secret', 7");
    r->prepared_sql = strdup("SELECT * FROM users WHERE pw = 'secret' AND id = ?");
    char *text = write_to_file("redact.log", f, &r, 1);
    CHECK(text && !strstr(text, "secret"));
    CHECK(text && strstr(text, "\"statement\":\"SELECT * FROM users WHERE pw = ? AND id = 7\""));
    CHECK(text && strstr(text, "\"params\":\"?, 7\""));
    free(text);
    text = write_to_file("redact.none", NULL, &r, 1);
    CHECK(text && strstr(text, "pw = 'secret'"));
    free(text);
    rec_free(r);
    filter_free(f);
}

static void
test_job_glue(void)
{
    CHECK_STR(explain_source_name(EXPLAIN_SRC_LIVE), "live");
    CHECK_STR(explain_source_name(EXPLAIN_SRC_AFTER), "after");
    CHECK_STR(explain_source_name(EXPLAIN_SRC_CACHED), "cached");
    CHECK(explain_source_name(EXPLAIN_SRC_NONE) == NULL);

    struct rec *r = make_rec("SELECT * FROM t", EXPLAIN_SRC_NONE);
    r->sql_truncated = true;
    r->interrupted = "client_gone";
    r->explainable = true;
    struct explain_job *j = rec_explain_job(r);
    CHECK(j == &r->explain);
    CHECK(rec_from_explain_job(j) == r);
    CHECK(j->sql == r->sql && j->sql_len == strlen("SELECT * FROM t") && j->sql_truncated);
    CHECK(j->schema == r->schema && j->prepared_sql == NULL);
    CHECK(j->sql_mode == NULL); /* the session never set one */
    CHECK(j->thread_id == 42 && j->digest == 0x5d1c0e3f2a9b8c7dULL);
    CHECK(j->start_wall_us == r->start_wall_us && j->query_us == 2500000);
    CHECK(j->explainable && j->interrupted);
    r->sql_mode_set = true;
    strcpy(r->sql_mode, "ANSI_QUOTES");
    CHECK(rec_explain_job(r)->sql_mode == r->sql_mode);
    /* the output explain attaches is the record's to free (ASan/valgrind see a leak if not) */
    r->explain.analyze = strdup("# analyze: x");
    r->explain.blocker = malloc(16);
    r->explain.index_advice = strdup("none");
    explain_job_release(&r->explain);
    CHECK(!r->explain.plan && !r->explain.analyze && !r->explain.blocker &&
          !r->explain.index_advice);
    CHECK(r->explain.sql == r->sql); /* the input is left alone */
    r->explain.blocker = malloc(16);
    rec_free(r);
}

int
main(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_explainlog.XXXXXX");
    if (!mkdtemp(tmpdir)) {
        perror("mkdtemp");
        return 1;
    }
    test_line_exact();
    test_which();
    test_redaction();
    test_job_glue();
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        fprintf(stderr, "could not remove %s\n", tmpdir);
    }
    return check_exit();
}
