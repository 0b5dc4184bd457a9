/*
 * test_stats.c - per-shape statistics: exact figures of known workloads, percentiles within
 * the histogram's error, eviction of the smallest total at --max-digests (checked against a
 * brute-force model), early merges of full worker tables, plans, sorting, and two workers
 * recording and merging while a reader takes snapshots (run once under -fsanitize=thread).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "explain/plan.h"
#include "protocol/proto_fingerprint.h"
#include "proxy/account/stats.h"

static struct stats_sample
sample(uint64_t digest, const char *sql, uint64_t us, int64_t wall)
{
    struct stats_sample sm = {0};
    sm.digest = digest;
    sm.fingerprint = sql;
    sm.fingerprint_len = strlen(sql);
    sm.example = sql;
    sm.example_len = strlen(sql);
    sm.query_us = us;
    sm.wall_us = wall;
    return sm;
}

static bool
within(uint64_t got, uint64_t want)
{
    double d = (double)got - (double)want;
    return (d < 0 ? -d : d) <= (double)want * 0.0625;
}

static void
test_known_workload(void)
{
    struct stats *s = stats_new(100);
    struct stats_local *l = stats_local_new(s, 16);
    CHECK(s && l);

    /* shape A: 1000 executions of 1..1000 us; every 10th an error; rows = i % 7 */
    for (uint64_t i = 1; i <= 1000; i++) {
        struct stats_sample sm = sample(0xA, "select ? from a", i, 1000000 + (int64_t)i);
        char ex[64];
        snprintf(ex, sizeof ex, "select %llu from a", (unsigned long long)i);
        sm.example = ex;
        sm.example_len = strlen(ex);
        sm.rows_sent = i % 7;
        sm.error = i % 10 == 0;
        sm.no_index_used = i <= 3;
        stats_local_record(l, &sm);
        if (i == 500) {
            stats_local_merge(l); /* two batches */
        }
    }
    /* shape B: 10 executions of 60 ms, 2 rows affected each */
    for (int i = 0; i < 10; i++) {
        struct stats_sample sm = sample(0xB, "update b set x = ?", 60000, 5000000 + i);
        sm.rows_affected = 2;
        stats_local_record(l, &sm);
    }
    stats_local_merge(l);

    struct stats_digest d;
    CHECK(stats_get(s, 0xA, &d));
    CHECK_EQ_U(d.count, 1000);
    CHECK_EQ_U(d.errors, 100);
    CHECK_EQ_U(d.no_index, 3);
    CHECK_EQ_U(d.total_us, 500500);
    CHECK_EQ_U(d.min_us, 1);
    CHECK_EQ_U(d.max_us, 1000);
    uint64_t rows = 0;
    for (uint64_t i = 1; i <= 1000; i++) {
        rows += i % 7;
    }
    CHECK_EQ_U(d.rows_sent, rows);
    CHECK_EQ_U(d.rows_affected, 0);
    CHECK_EQ_U(d.first_seen_us, 1000001);
    CHECK_EQ_U(d.last_seen_us, 1001000);
    CHECK_STR(d.fingerprint, "select ? from a");
    CHECK_STR(d.example, "select 1000 from a"); /* the slowest execution */
    CHECK_EQ_U(hist_count(&d.hist), 1000);
    CHECK(within(hist_quantile(&d.hist, 0.5), 500));
    CHECK(within(hist_quantile(&d.hist, 0.95), 950));
    CHECK(within(hist_quantile(&d.hist, 0.99), 990));
    CHECK(!d.has_plan && d.plan == NULL);
    stats_digest_free(&d);

    CHECK(stats_get(s, 0xB, &d));
    CHECK_EQ_U(d.count, 10);
    CHECK_EQ_U(d.total_us, 600000);
    CHECK_EQ_U(d.rows_affected, 20);
    CHECK_EQ_U(d.errors, 0);
    CHECK(within(hist_quantile(&d.hist, 0.99), 60000));
    stats_digest_free(&d);
    CHECK(!stats_get(s, 0xC, &d));

    /* sorting: total -> B (600 ms) first; count -> A first; p99 -> B first */
    struct stats_snapshot snap;
    CHECK(stats_snapshot(s, STATS_SORT_TOTAL, 0, &snap));
    CHECK_EQ_U(snap.n, 2);
    CHECK_EQ_U(snap.d[0].digest, 0xB);
    CHECK_EQ_U(snap.d[1].digest, 0xA);
    CHECK_EQ_U(snap.evicted, 0);
    stats_snapshot_free(&snap);
    CHECK(stats_snapshot(s, STATS_SORT_COUNT, 0, &snap));
    CHECK_EQ_U(snap.d[0].digest, 0xA);
    stats_snapshot_free(&snap);
    CHECK(stats_snapshot(s, STATS_SORT_P99, 1, &snap));
    CHECK_EQ_U(snap.n, 1);
    CHECK_EQ_U(snap.d[0].digest, 0xB);
    stats_snapshot_free(&snap);

    /* a long example is cut without splitting a UTF-8 sequence */
    char big[STATS_EXAMPLE_MAX + 10];
    memset(big, 'x', sizeof big);
    memcpy(big + STATS_EXAMPLE_MAX - 2, "\xc3\xa9", 2); /* é straddles the cut */
    struct stats_sample sm = sample(0xD, "select ?", 7, 1);
    sm.example = big;
    sm.example_len = sizeof big;
    stats_local_record(l, &sm);
    stats_local_merge(l);
    CHECK(stats_get(s, 0xD, &d));
    CHECK_EQ_U(strlen(d.example), STATS_EXAMPLE_MAX - 2);
    stats_digest_free(&d);

    stats_local_free(l);
    stats_free(s);
}

static void
test_fingerprint_from_example(void)
{
    struct stats *s = stats_new(10);
    struct stats_local *l = stats_local_new(s, 4);
    const char *sql = "SELECT * FROM t WHERE id = 42";
    char fp[128];
    uint64_t dg = proto_fingerprint(sql, strlen(sql), fp, sizeof fp);
    struct stats_sample sm = sample(dg, sql, 10, 1);
    sm.fingerprint = NULL;
    sm.fingerprint_len = 0;
    stats_local_record(l, &sm);
    stats_local_merge(l);
    struct stats_digest d;
    CHECK(stats_get(s, dg, &d));
    CHECK_STR(d.fingerprint, fp);
    CHECK_STR(d.example, sql);
    stats_digest_free(&d);
    stats_local_free(l);
    stats_free(s);
}

static void
test_plan(void)
{
    struct stats *s = stats_new(10);
    struct stats_local *l = stats_local_new(s, 4);
    struct plan *p = plan_new();
    const char *names[] = {"id", "select_type", "table", "type", "rows"};
    const char *vals[] = {"1", "SIMPLE", "t", "ALL", "1000"};
    CHECK(plan_add_row(p, names, vals, 5));
    plan_analyze(p);
    CHECK(p->flags & PLAN_FULL_SCAN);

    /* the plan arrives before the worker merged its first sample of the shape */
    stats_set_plan(s, 0xE, p);
    struct stats_digest d;
    CHECK(!stats_get(s, 0xE, &d)); /* invisible until merged */
    struct stats_snapshot snap;
    CHECK(stats_snapshot(s, STATS_SORT_TOTAL, 0, &snap));
    CHECK_EQ_U(snap.n, 0);
    stats_snapshot_free(&snap);

    struct stats_sample sm = sample(0xE, "select * from t where x = ?", 2000, 1);
    stats_local_record(l, &sm);
    stats_local_merge(l);
    CHECK(stats_get(s, 0xE, &d));
    CHECK(d.has_plan);
    CHECK(d.plan_flags & PLAN_FULL_SCAN);
    CHECK(d.plan && d.plan->nrows == 1 && d.plan == p /* shared by reference */);
    if (d.plan && d.plan->nrows == 1) {
        CHECK_STR(d.plan->rows[0].col[PLAN_TYPE], "ALL");
        CHECK_STR(d.plan->rows[0].col[PLAN_ROWS], "1000");
    }
    CHECK_STR(d.fingerprint, "select * from t where x = ?");
    stats_digest_free(&d);

    /* replacing and clearing */
    stats_set_plan(s, 0xE, NULL);
    CHECK(stats_get(s, 0xE, &d));
    CHECK(!d.has_plan && !d.plan);
    stats_digest_free(&d);
    plan_free(p);
    stats_local_free(l);
    stats_free(s);
}

/* What the server measured, summed per shape; it may come before the shape's first merge. */
static void
test_server_figures(void)
{
    struct stats *s = stats_new(10);
    struct stats_local *l = stats_local_new(s, 4);
    struct pfs_stmt a = {.rows_examined = 10000, .tmp_tables = 1, .tmp_disk_tables = 1};
    struct pfs_stmt b = {.rows_examined = 5, .tmp_tables = 2, .merge_passes = 3};
    stats_add_server(s, 0xF, &a); /* before the merge */
    struct stats_sample sm = sample(0xF, "select * from t group by x", 2000, 1);
    stats_local_record(l, &sm);
    stats_local_merge(l);
    stats_add_server(s, 0xF, &b);
    struct stats_digest d;
    CHECK(stats_get(s, 0xF, &d));
    CHECK_EQ_U(d.count, 1);
    CHECK_EQ_U(d.server.measured, 2);
    CHECK_EQ_U(d.server.rows_examined, 10005);
    CHECK_EQ_U(d.server.tmp_tables, 3);
    CHECK_EQ_U(d.server.tmp_disk_tables, 1);
    CHECK_EQ_U(d.server.merge_passes, 3);
    CHECK_EQ_U(d.server.tmp_table_on_disk, 1);
    CHECK_EQ_U(d.server.filesort_on_disk, 1);
    stats_digest_free(&d);
    sm = sample(0x10, "select 1", 10, 2); /* a shape never measured */
    stats_local_record(l, &sm);
    stats_local_merge(l);
    CHECK(stats_get(s, 0x10, &d));
    CHECK_EQ_U(d.server.measured, 0);
    stats_digest_free(&d);
    stats_local_free(l);
    stats_free(s);
}

/* Lock waits per shape: count and sums over all, the last one's details and blocker. */
static void
test_lockwait(void)
{
    struct stats *s = stats_new(1);
    struct stats_local *l = stats_local_new(s, 4);
    /* an inferred, ambiguous metadata-lock wait before the shape's first merge, no blocker */
    struct lockwait a = {.kind = LOCKWAIT_METADATA,
                         .wait_us = 1500000,
                         .inferred = true,
                         .ncands = 2,
                         .cands = {41, 42},
                         .table = "`db`.`m`",
                         .asked_wall_us = 1000};
    stats_add_lockwait(s, 0xA, &a, NULL, NULL, 0, false);
    struct stats_sample sm = sample(0xA, "update acc set bal = 1 where id = 7", 2000000, 1);
    stats_local_record(l, &sm);
    stats_local_merge(l);
    struct stats_digest d;
    CHECK(stats_get(s, 0xA, &d));
    CHECK_EQ_U(d.count, 1);
    CHECK_EQ_U(d.lock.count, 1);
    CHECK_EQ_U(d.lock.kind, LOCKWAIT_METADATA);
    CHECK_EQ_U(d.lock.blocked_by, 0);
    CHECK(d.lock.inferred);
    CHECK_EQ_U(d.lock.ncands, 2);
    CHECK_EQ_U(d.lock.cands[1], 42);
    CHECK(!d.lock.has_blocker);
    CHECK_EQ_U(d.lock.trx_us, -1);
    stats_digest_free(&d);

    /* a row-lock wait whose blocker is a session of slowtap: its last statement is kept cut */
    struct lockwait b = {.kind = LOCKWAIT_ROW,
                         .wait_us = 2300000,
                         .blocked_by = 1742,
                         .table = "`shop`.`accounts`",
                         .asked_wall_us = 9000000};
    struct sessreg_view v = {.thread_id = 1742,
                             .user = "app",
                             .host = "10.0.0.7",
                             .trx_wall_start = 1000000,
                             .last_end_wall = 1130000,
                             .snapshot_wall = 6004000};
    char longsql[STATS_LOCK_TEXT_MAX + 40];
    memset(longsql, 'x', sizeof longsql);
    memcpy(longsql, "UPDATE accounts SET note = '", 28);
    stats_add_lockwait(s, 0xA, &b, &v, longsql, sizeof longsql, false);
    CHECK(stats_get(s, 0xA, &d));
    CHECK_EQ_U(d.lock.count, 2);
    CHECK_EQ_U(d.lock.total_us, 3800000);
    CHECK_EQ_U(d.lock.max_us, 2300000);
    CHECK_EQ_U(d.lock.wait_us, 2300000);
    CHECK_EQ_U(d.lock.last_wall_us, 9000000);
    CHECK_EQ_U(d.lock.kind, LOCKWAIT_ROW);
    CHECK_STR(d.lock.table, "`shop`.`accounts`");
    CHECK_EQ_U(d.lock.blocked_by, 1742);
    CHECK(!d.lock.inferred);
    CHECK_EQ_U(d.lock.ncands, 0);
    CHECK(d.lock.has_blocker);
    CHECK_STR(d.lock.user, "app");
    CHECK_STR(d.lock.host, "10.0.0.7");
    CHECK_EQ_U(d.lock.trx_us, 5004000);
    CHECK_EQ_U(d.lock.idle_us, 4874000);
    CHECK_EQ_U(strlen(d.lock.last_statement), STATS_LOCK_TEXT_MAX - 1);
    CHECK(strncmp(d.lock.last_statement, "UPDATE accounts SET note = 'xx", 30) == 0);
    CHECK(d.lock.last_cut);
    stats_digest_free(&d);

    /* a shorter wait: the sums grow, the max stays, the last is replaced (nothing left over) */
    b.wait_us = 200000;
    v.trx_wall_start = 0; /* its transaction ended meanwhile */
    stats_add_lockwait(s, 0xA, &b, &v, "COMMIT", 6, false);
    CHECK(stats_get(s, 0xA, &d));
    CHECK_EQ_U(d.lock.count, 3);
    CHECK_EQ_U(d.lock.total_us, 4000000);
    CHECK_EQ_U(d.lock.max_us, 2300000);
    CHECK_EQ_U(d.lock.wait_us, 200000);
    CHECK_EQ_U(d.lock.trx_us, -1);
    CHECK_STR(d.lock.last_statement, "COMMIT");
    CHECK(!d.lock.last_cut);
    stats_digest_free(&d);

    /* a shape that evicts it starts with no lock waits */
    sm = sample(0xB, "select 2", 3000000, 2);
    stats_local_record(l, &sm);
    stats_local_merge(l);
    CHECK(!stats_get(s, 0xA, &d));
    CHECK(stats_get(s, 0xB, &d));
    CHECK_EQ_U(d.lock.count, 0);
    CHECK(!d.lock.has_blocker);
    stats_digest_free(&d);
    stats_local_free(l);
    stats_free(s);
}

static void
test_eviction_simple(void)
{
    struct stats *s = stats_new(4);
    struct stats_local *l = stats_local_new(s, 8);
    for (uint64_t k = 1; k <= 4; k++) {
        struct stats_sample sm = sample(k, "q", k * 10, 1);
        stats_local_record(l, &sm);
    }
    stats_local_merge(l);
    CHECK_EQ_U(stats_evicted(s), 0);
    struct stats_sample sm = sample(5, "q5", 50, 1);
    stats_local_record(l, &sm);
    stats_local_merge(l);
    CHECK_EQ_U(stats_evicted(s), 1);
    struct stats_digest d;
    CHECK(!stats_get(s, 1, &d)); /* smallest total (10 us) went */
    for (uint64_t k = 2; k <= 5; k++) {
        CHECK(stats_get(s, k, &d));
        stats_digest_free(&d);
    }
    /* shape 2 grows to 100 us: the next newcomer evicts shape 3 (30 us) */
    sm = sample(2, "q", 80, 2);
    stats_local_record(l, &sm);
    stats_local_merge(l);
    sm = sample(6, "q6", 1, 3);
    stats_local_record(l, &sm);
    stats_local_merge(l);
    CHECK(!stats_get(s, 3, &d));
    CHECK(stats_get(s, 2, &d));
    CHECK_EQ_U(d.total_us, 100);
    stats_digest_free(&d);
    /* a newcomer evicts even when smaller: the just-inserted 1 us shape 6 goes next */
    sm = sample(7, "q7", 1000, 4);
    stats_local_record(l, &sm);
    stats_local_merge(l);
    CHECK(!stats_get(s, 6, &d));
    CHECK(stats_get(s, 7, &d));
    stats_digest_free(&d);
    struct stats_snapshot snap;
    CHECK(stats_snapshot(s, STATS_SORT_TOTAL, 0, &snap));
    CHECK_EQ_U(snap.n, 4);
    CHECK_EQ_U(snap.evicted, 3);
    stats_snapshot_free(&snap);
    stats_local_free(l);
    stats_free(s);
}

static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t
xorshift(void)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return rng;
}

/* Random workload against a brute-force model of "evict the smallest total when full". */
static void
test_eviction_model(void)
{
    enum { MAX = 37, SHAPES = 400, BATCHES = 300, PER = 20 };
    struct stats *s = stats_new(MAX);
    struct stats_local *l = stats_local_new(s, 64);
    static uint64_t mtotal[SHAPES + 1], mcount[SHAPES + 1];
    static bool present[SHAPES + 1];
    size_t npresent = 0;
    uint64_t evicted = 0;

    for (int b = 0; b < BATCHES; b++) {
        uint64_t bd[PER], bt[PER], bc[PER];
        size_t nb = 0;
        for (int i = 0; i < PER; i++) {
            uint64_t k = 1 + xorshift() % (b < BATCHES / 2 ? SHAPES : 60); /* later: a hot set */
            uint64_t us = 1 + xorshift() % 1000000000ull;
            struct stats_sample sm = sample(k, "q", us, b);
            stats_local_record(l, &sm);
            size_t j = 0;
            while (j < nb && bd[j] != k) {
                j++;
            }
            if (j == nb) {
                bd[nb] = k;
                bt[nb] = 0;
                bc[nb] = 0;
                nb++;
            }
            bt[j] += us;
            bc[j]++;
        }
        stats_local_merge(l);
        /* model: the batch's shapes in first-seen order */
        for (size_t j = 0; j < nb; j++) {
            uint64_t k = bd[j];
            if (!present[k]) {
                if (npresent == MAX) {
                    uint64_t victim = 0;
                    for (uint64_t v = 1; v <= SHAPES; v++) {
                        if (present[v] && (!victim || mtotal[v] < mtotal[victim])) {
                            victim = v;
                        }
                    }
                    present[victim] = false;
                    npresent--;
                    evicted++;
                }
                present[k] = true;
                npresent++;
                mtotal[k] = mcount[k] = 0;
            }
            mtotal[k] += bt[j];
            mcount[k] += bc[j];
        }
    }
    CHECK_EQ_U(stats_evicted(s), evicted);
    CHECK(evicted > 100);
    int mismatches = 0;
    for (uint64_t k = 1; k <= SHAPES; k++) {
        struct stats_digest d;
        bool got = stats_get(s, k, &d);
        if (got != present[k] || (got && (d.total_us != mtotal[k] || d.count != mcount[k]))) {
            mismatches++;
        }
        if (got) {
            stats_digest_free(&d);
        }
    }
    CHECK_EQ_U(mismatches, 0);
    struct stats_snapshot snap;
    CHECK(stats_snapshot(s, STATS_SORT_TOTAL, 0, &snap));
    CHECK_EQ_U(snap.n, MAX);
    for (size_t i = 1; i < snap.n; i++) {
        CHECK(snap.d[i - 1].total_us >= snap.d[i].total_us);
    }
    stats_snapshot_free(&snap);
    stats_local_free(l);
    stats_free(s);
}

/* A full worker table merges early: nothing is lost, however few slots. */
static void
test_full_local(void)
{
    struct stats *s = stats_new(1000);
    struct stats_local *l = stats_local_new(s, 2);
    for (uint64_t k = 1; k <= 100; k++) {
        struct stats_sample sm = sample(k, "q", k, (int64_t)k);
        stats_local_record(l, &sm);
        stats_local_record(l, &sm);
    }
    CHECK(!stats_local_overflowed(l)); /* the mutex was free: merged at once */
    stats_local_merge(l);
    struct stats_snapshot snap;
    CHECK(stats_snapshot(s, STATS_SORT_COUNT, 0, &snap));
    CHECK_EQ_U(snap.n, 100);
    uint64_t n = 0;
    for (size_t i = 0; i < snap.n; i++) {
        n += snap.d[i].count;
        CHECK_EQ_U(snap.d[i].count, 2);
        CHECK_EQ_U(snap.d[i].total_us, 2 * snap.d[i].digest);
    }
    CHECK_EQ_U(n, 200);
    stats_snapshot_free(&snap);
    stats_local_free(l);
    stats_free(s);
}

/* ---- concurrency --------------------------------------------------------------------------- */

enum { MT_SAMPLES = 200000, MT_SHAPES = 50 };

struct mt_worker {
    struct stats *s;
    int id;
    uint64_t total_us;
};

static void *
mt_worker_run(void *arg)
{
    struct mt_worker *w = arg;
    struct stats_local *l = stats_local_new(w->s, 8); /* small: forces early merges/overflow */
    uint64_t x = 12345 + (uint64_t)w->id;
    for (int i = 0; i < MT_SAMPLES; i++) {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        uint64_t us = 1 + x % 5000;
        struct stats_sample sm = sample(1 + x % MT_SHAPES, "select ? from mt", us, i);
        sm.error = (i % 3) == 0;
        stats_local_record(l, &sm);
        w->total_us += us;
        if (i % 1000 == 0 || stats_local_overflowed(l)) {
            stats_local_merge(l);
        }
    }
    stats_local_free(l);
    return NULL;
}

static _Atomic int mt_done;

static void *
mt_reader_run(void *arg)
{
    struct stats *s = arg;
    struct plan *p = plan_new();
    const char *names[] = {"id", "table", "type"};
    const char *vals[] = {"1", "mt", "ALL"};
    plan_add_row(p, names, vals, 3);
    plan_analyze(p);
    unsigned iter = 0;
    while (!mt_done) {
        struct stats_snapshot snap;
        if (stats_snapshot(s, (enum stats_sort)(iter % 3), 10, &snap)) {
            stats_snapshot_free(&snap);
        }
        struct stats_digest d;
        if (stats_get(s, 1 + iter % MT_SHAPES, &d)) {
            stats_digest_free(&d);
        }
        stats_set_plan(s, 1 + iter % MT_SHAPES, iter % 2 ? p : NULL);
        iter++;
    }
    plan_free(p);
    return NULL;
}

static void
test_threads(void)
{
    struct stats *s = stats_new(1000);
    struct mt_worker w[2] = {{s, 1, 0}, {s, 2, 0}};
    pthread_t t[2], r;
    pthread_create(&r, NULL, mt_reader_run, s);
    for (int i = 0; i < 2; i++) {
        pthread_create(&t[i], NULL, mt_worker_run, &w[i]);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], NULL);
    }
    mt_done = 1;
    pthread_join(r, NULL);

    struct stats_snapshot snap;
    CHECK(stats_snapshot(s, STATS_SORT_TOTAL, 0, &snap));
    uint64_t n = 0, tot = 0, overflow = 0;
    for (size_t i = 0; i < snap.n; i++) {
        n += snap.d[i].count;
        tot += snap.d[i].total_us;
        if (snap.d[i].digest == 0) {
            overflow = snap.d[i].count;
        }
    }
    CHECK_EQ_U(n, 2 * MT_SAMPLES);
    CHECK_EQ_U(tot, w[0].total_us + w[1].total_us);
    CHECK(snap.n >= MT_SHAPES && snap.n <= MT_SHAPES + 1);
    printf("threads: %zu shapes, %llu samples via the overflow shape\n", snap.n,
           (unsigned long long)overflow);
    stats_snapshot_free(&snap);
    stats_free(s);
}

/* Shapes for auto-EXPLAIN by impact (autoplan.h): a new no-index shape is queued once, with
 * its explainable example and schema; one whose example cannot be explained is not; the top
 * shapes by total time come most first, explainable ones only. */
static void
test_explainable(void)
{
    struct stats *s = stats_new(100);
    struct stats_local *l = stats_local_new(s, 16);
    CHECK(s && l);
    struct stats_explainable out[8];
    /* shape 1: no index, explainable; shape 2: no index, not explainable; shape 3: indexed */
    for (int i = 0; i < 5; i++) {
        struct stats_sample a = sample(1, "select * from t where c = 1", 100, 1000 + i);
        a.no_index_used = true;
        a.example_explainable = true;
        a.schema = "db1";
        stats_local_record(l, &a);
        struct stats_sample b = sample(2, "select * from tmp", 5000, 1000 + i);
        b.no_index_used = true;
        stats_local_record(l, &b);
        struct stats_sample c = sample(3, "select * from u where id = 1", 300, 1000 + i);
        c.example_explainable = true;
        c.schema = "db2";
        stats_local_record(l, &c);
    }
    CHECK(stats_take_noindex(s, out, 8) == 0); /* nothing merged yet */
    stats_local_merge(l);
    size_t n = stats_take_noindex(s, out, 8);
    CHECK(n == 1);
    CHECK(out[0].digest == 1);
    CHECK_STR(out[0].example, "select * from t where c = 1");
    CHECK_STR(out[0].schema, "db1");
    CHECK_EQ_U(out[0].query_us, 100);
    CHECK_STR(out[0].fingerprint, "select * from t where c = 1");
    /* queued once: more no-index statements of it queue nothing */
    struct stats_sample a = sample(1, "select * from t where c = 2", 100, 2000);
    a.no_index_used = true;
    a.example_explainable = true;
    stats_local_record(l, &a);
    stats_local_merge(l);
    CHECK(stats_take_noindex(s, out, 8) == 0);
    /* top: shape 2 leads by total time but cannot be explained; then 3 (1500 us), 1 (600) */
    n = stats_top_explainable(s, out, 8);
    CHECK(n == 2);
    CHECK(out[0].digest == 3 && out[1].digest == 1);
    n = stats_top_explainable(s, out, 1);
    CHECK(n == 1 && out[0].digest == 3);
    /* an example cut to STATS_EXAMPLE_MAX is no statement to explain */
    char big[STATS_EXAMPLE_MAX + 100];
    memset(big, 'x', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    memcpy(big, "select ", 7);
    struct stats_sample d = sample(4, big, 1000000, 3000);
    d.no_index_used = true;
    d.example_explainable = true;
    stats_local_record(l, &d);
    stats_local_merge(l);
    CHECK(stats_take_noindex(s, out, 8) == 0);
    n = stats_top_explainable(s, out, 8);
    CHECK(n == 2 && out[0].digest == 3);
    stats_local_free(l);
    stats_free(s);
}

int
main(void)
{
    test_known_workload();
    test_fingerprint_from_example();
    test_plan();
    test_server_figures();
    test_lockwait();
    test_eviction_simple();
    test_eviction_model();
    test_full_local();
    test_threads();
    test_explainable();
    return check_exit();
}
