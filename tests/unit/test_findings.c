/*
 * test_findings.c - N+1 and duplicate detection and the unit-of-work rule (proxy/findings.h).
 */
#include "proxy/account/findings.h"
#include "check.h"

#include <stdlib.h>

#define PARENT 0x1111
#define CHILD  0x2222
#define OTHER  0x3333

static struct findings_table *table;
static struct findings_conf conf;
static char last_route[FINDINGS_ROUTE_MAX];
static uint32_t units, last_stmts;
static int64_t now;

static void
on_unit(void *arg, const char *route, uint32_t stmts)
{
    (void)arg;
    units++;
    last_stmts = stmts;
    snprintf(last_route, sizeof last_route, "%s", route);
}

static void
setup(void)
{
    if (table) {
        findings_table_free(table);
    }
    table = findings_table_new();
    conf = (struct findings_conf){
        .request_gap_us = 50000, .n_plus_one_min = 5, .table = table, .unit_end = on_unit};
    units = last_stmts = 0;
    last_route[0] = '\0';
    now = 1000000;
}

/* One statement that starts `gap` us after the previous one ended and takes 100 us. */
static struct findings_mark
feed(struct findings_sess *fs, uint64_t digest, uint64_t params, int64_t gap, bool in_trx,
     const char *trace, const char *route)
{
    struct findings_stmt st = {.digest = digest,
                               .params = params,
                               .query_us = 100,
                               .start_us = now + gap,
                               .end_us = now + gap + 100,
                               .wall_us = now + gap + 100,
                               .trace_id = trace,
                               .route = route,
                               .candidate = true,
                               .trx_before = in_trx,
                               .trx_after = in_trx};
    now += gap + 100;
    struct findings_mark m;
    findings_sess_stmt(fs, &st, &m);
    return m;
}

static void
marker(struct findings_sess *fs, int64_t gap)
{
    struct findings_stmt st = {.digest = OTHER + 99,
                               .start_us = now + gap,
                               .end_us = now + gap + 10,
                               .wall_us = now + gap + 10,
                               .pool_marker = true};
    now += gap + 10;
    struct findings_mark m;
    findings_sess_stmt(fs, &st, &m);
    CHECK(!m.n_plus_one);
}

static size_t
snap(struct findings_entry **e)
{
    uint64_t found[2];
    return findings_table_snapshot(table, 0, e, found);
}

static void
test_n_plus_one_classic(void)
{
    setup();
    struct findings_sess fs;
    findings_sess_init(&fs, &conf);
    feed(&fs, PARENT, 1, 0, false, NULL, NULL);
    struct findings_mark m = {0};
    for (int i = 0; i < 7; i++) {
        m = feed(&fs, CHILD, 100 + (uint64_t)i, 10, false, NULL, NULL);
        CHECK(m.n_plus_one == (i >= 4)); /* the 5th repeat on */
    }
    CHECK_EQ_U(m.count, 7);
    CHECK_EQ_U(m.child, CHILD);
    CHECK_EQ_U(m.parent, PARENT);
    CHECK_EQ_U(m.total_us, 700);
    struct findings_entry *e;
    CHECK_EQ_U(snap(&e), 0); /* counted when the run ends */
    free(e);
    marker(&fs, 5); /* SQLAlchemy's ROLLBACK on check-in ends the unit */
    size_t n = snap(&e);
    CHECK_EQ_U(n, 1);
    if (n == 1) {
        CHECK(e[0].kind == FINDINGS_N_PLUS_ONE);
        CHECK_EQ_U(e[0].parent, PARENT);
        CHECK_EQ_U(e[0].child, CHILD);
        CHECK_EQ_U(e[0].last_count, 7);
        CHECK_EQ_U(e[0].occurrences, 1);
        CHECK_EQ_U(e[0].total_us, 700);
    }
    free(e);
    CHECK_EQ_U(units, 1);
    CHECK_EQ_U(last_stmts, 8);
    /* the same request again: the pair is counted twice */
    feed(&fs, PARENT, 1, 100000, false, NULL, NULL);
    for (int i = 0; i < 5; i++) {
        feed(&fs, CHILD, 200 + (uint64_t)i, 10, false, NULL, NULL);
    }
    findings_sess_end(&fs, now);
    n = snap(&e);
    CHECK_EQ_U(n, 1);
    if (n == 1) {
        CHECK_EQ_U(e[0].occurrences, 2);
        CHECK_EQ_U(e[0].executions, 12);
        CHECK_EQ_U(e[0].max_count, 7);
    }
    free(e);
}

static void
test_below_threshold_and_no_parent(void)
{
    setup();
    struct findings_sess fs;
    findings_sess_init(&fs, &conf);
    feed(&fs, PARENT, 1, 0, false, NULL, NULL);
    for (int i = 0; i < 4; i++) { /* 4 < 5 */
        feed(&fs, CHILD, 100 + (uint64_t)i, 10, false, NULL, NULL);
    }
    findings_sess_end(&fs, now);
    /* a run at the start of a unit has no parent: not an N+1 */
    for (int i = 0; i < 9; i++) {
        feed(&fs, CHILD, 300 + (uint64_t)i, i ? 10 : 100000, false, NULL, NULL);
    }
    findings_sess_end(&fs, now);
    struct findings_entry *e;
    CHECK_EQ_U(snap(&e), 0);
    free(e);
}

static void
test_gap_splits_units(void)
{
    setup();
    struct findings_sess fs;
    findings_sess_init(&fs, &conf);
    feed(&fs, PARENT, 1, 0, false, NULL, NULL);
    for (int i = 0; i < 6; i++) { /* each after an idle gap: six units of one statement */
        feed(&fs, CHILD, 100 + (uint64_t)i, 60000, false, NULL, NULL);
    }
    findings_sess_end(&fs, now);
    struct findings_entry *e;
    CHECK_EQ_U(snap(&e), 0);
    free(e);
    CHECK_EQ_U(units, 7);
    /* inside a transaction the gap does not split */
    setup();
    findings_sess_init(&fs, &conf);
    feed(&fs, PARENT, 1, 0, true, NULL, NULL);
    for (int i = 0; i < 6; i++) {
        feed(&fs, CHILD, 100 + (uint64_t)i, 60000, true, NULL, NULL);
    }
    findings_sess_end(&fs, now);
    CHECK_EQ_U(snap(&e), 1);
    free(e);
    CHECK_EQ_U(units, 1);
}

static void
test_same_params_is_duplicate(void)
{
    setup();
    struct findings_sess fs;
    findings_sess_init(&fs, &conf);
    feed(&fs, PARENT, 1, 0, false, NULL, NULL);
    for (int i = 0; i < 6; i++) { /* same parameters: not an N+1, a duplicate */
        struct findings_mark m = feed(&fs, CHILD, 42, 10, false, NULL, NULL);
        CHECK(!m.n_plus_one);
    }
    feed(&fs, OTHER, 7, 10, false, NULL, NULL);
    feed(&fs, OTHER, 7, 10, false, NULL, NULL); /* twice */
    feed(&fs, OTHER, 8, 10, false, NULL, NULL); /* once with other parameters */
    findings_sess_end(&fs, now);
    struct findings_entry *e;
    size_t n = snap(&e);
    CHECK_EQ_U(n, 2);
    for (size_t i = 0; i < n; i++) {
        CHECK(e[i].kind == FINDINGS_DUPLICATE);
        CHECK_EQ_U(e[i].parent, 0);
        if (e[i].child == CHILD) {
            CHECK_EQ_U(e[i].last_count, 6);
            CHECK_EQ_U(e[i].total_us, 600);
        } else {
            CHECK_EQ_U(e[i].child, OTHER);
            CHECK_EQ_U(e[i].last_count, 2);
        }
    }
    free(e);
}

static void
test_trace_ids(void)
{
    setup();
    struct findings_sess fs;
    findings_sess_init(&fs, &conf);
    const char *t1 = "0af7651916cd43dd8448eb211c80319c";
    const char *t2 = "1af7651916cd43dd8448eb211c80319c";
    /* one trace: idle gaps do not split it */
    feed(&fs, PARENT, 1, 0, false, t1, "/roster");
    for (int i = 0; i < 5; i++) {
        feed(&fs, CHILD, 100 + (uint64_t)i, 70000, false, t1, "/roster");
    }
    /* a new trace id right away: a new unit */
    feed(&fs, PARENT, 1, 1, false, t2, "/other");
    CHECK_EQ_U(units, 1);
    CHECK_STR(last_route, "/roster");
    CHECK_EQ_U(last_stmts, 6);
    findings_sess_end(&fs, now);
    CHECK_EQ_U(units, 2);
    CHECK_STR(last_route, "/other");
    struct findings_entry *e;
    size_t n = snap(&e);
    CHECK_EQ_U(n, 1);
    if (n) {
        CHECK_STR(e[0].route, "/roster");
        CHECK_EQ_U(e[0].last_count, 5);
    }
    free(e);
}

static void
test_trx_end_and_other_shapes(void)
{
    setup();
    struct findings_sess fs;
    findings_sess_init(&fs, &conf);
    /* a transaction's commit ends the unit; the next statement, without a gap, starts one */
    feed(&fs, PARENT, 1, 0, true, NULL, NULL);
    struct findings_stmt commit = {.digest = OTHER + 1,
                                   .start_us = now + 1,
                                   .end_us = now + 2,
                                   .trx_before = true,
                                   .trx_after = false};
    struct findings_mark m;
    findings_sess_stmt(&fs, &commit, &m);
    now += 2;
    for (int i = 0; i < 6; i++) {
        feed(&fs, CHILD, 100 + (uint64_t)i, 1, false, NULL, NULL);
    }
    findings_sess_end(&fs, now);
    struct findings_entry *e;
    CHECK_EQ_U(snap(&e), 0); /* the parent was in the other unit */
    free(e);
    CHECK_EQ_U(units, 2);
    /* a different shape in between breaks the run */
    setup();
    findings_sess_init(&fs, &conf);
    feed(&fs, PARENT, 1, 0, false, NULL, NULL);
    for (int i = 0; i < 8; i++) {
        feed(&fs, (i == 3) ? OTHER : CHILD, 100 + (uint64_t)i, 1, false, NULL, NULL);
    }
    findings_sess_end(&fs, now);
    size_t n = snap(&e);
    CHECK_EQ_U(n, 0); /* 3, then 4 after OTHER: neither reaches 5 */
    free(e);
}

static void
test_hash(void)
{
    const char *a = "SELECT * FROM s WHERE c = 1 /*route='%2Fa',traceparent='00-1'*/";
    const char *b = "SELECT * FROM s WHERE c = 1 /*route='%2Fa',traceparent='00-2'*/";
    const char *c = "SELECT * FROM s WHERE c = 2 /*route='%2Fa',traceparent='00-1'*/";
    CHECK(findings_hash(a, strlen(a), true) == findings_hash(b, strlen(b), true));
    CHECK(findings_hash(a, strlen(a), true) != findings_hash(c, strlen(c), true));
    CHECK(findings_hash(a, strlen(a), false) != findings_hash(b, strlen(b), false));
    const char *u = "SELECT 1 /* unterminated";
    (void)findings_hash(u, strlen(u), true);
    CHECK(findings_hash("abcdefghij", 10, false) != findings_hash("abcdefghik", 10, false));
    CHECK(findings_has_comment("a / b /* c */", 13));
    CHECK(findings_has_comment("/*", 2));
    CHECK(!findings_has_comment("a / b / c", 9));
    CHECK(!findings_has_comment("a /", 3));
    CHECK(!findings_has_comment("a /*", 3)); /* the star is past n */
    CHECK(!findings_has_comment("", 0));
}

static void
test_table_bounded(void)
{
    setup();
    for (uint64_t i = 1; i <= FINDINGS_MAX + 50; i++) {
        findings_table_add(table, FINDINGS_DUPLICATE, 0, i, 2, i * 10, "", 1);
    }
    struct findings_entry *e;
    uint64_t found[2];
    size_t n = findings_table_snapshot(table, 0, &e, found);
    CHECK_EQ_U(n, FINDINGS_MAX);
    CHECK_EQ_U(found[FINDINGS_DUPLICATE], FINDINGS_MAX + 50);
    if (n) {
        CHECK_EQ_U(e[0].child, FINDINGS_MAX + 50); /* the costliest kept, sorted first */
        CHECK(e[n - 1].child > 50);                /* the cheapest evicted */
    }
    free(e);
    n = findings_table_snapshot(table, 3, &e, found);
    CHECK_EQ_U(n, 3);
    free(e);
}

int
main(void)
{
    test_n_plus_one_classic();
    test_below_threshold_and_no_parent();
    test_gap_splits_units();
    test_same_params_is_duplicate();
    test_trace_ids();
    test_trx_end_and_other_shapes();
    test_hash();
    test_table_bounded();
    findings_table_free(table);
    return check_exit();
}
