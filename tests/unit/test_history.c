/*
 * test_history.c - the dashboard's time series (proxy/history.h): points from cumulative
 * feeds, the ring keeping the newest, series slots reused for new keys.
 */
#include "proxy/account/history.h"
#include "check.h"

static void
test_points(void)
{
    struct history *h = history_new(3, 4);
    struct hist cum = {{0}};
    struct history_point p[8];
    CHECK_EQ_U(history_get(h, HISTORY_ALL, "", p, 8), 0);
    history_feed(h, HISTORY_ALL, "", 1000000, 100, 50000, &cum); /* the base only */
    CHECK_EQ_U(history_get(h, HISTORY_ALL, "", p, 8), 0);
    for (int i = 0; i < 20; i++) {
        hist_add(&cum, 1000);
    }
    hist_add(&cum, 200000);
    history_feed(h, HISTORY_ALL, "", 3000000, 121, 50000 + 20 * 1000 + 200000, &cum);
    size_t n = history_get(h, HISTORY_ALL, "", p, 8);
    CHECK_EQ_U(n, 1);
    if (n == 1) {
        CHECK_EQ_U(p[0].wall_us, 3000000);
        CHECK(p[0].per_s > 10.49 && p[0].per_s < 10.51); /* 21 in 2 s */
        CHECK(p[0].db_per_s > 0.109 && p[0].db_per_s < 0.111);
        CHECK(p[0].p99_s > 0.18 && p[0].p99_s < 0.22); /* the interval's own p99 */
    }
    /* an interval without statements: a zero point, p99 0 */
    history_feed(h, HISTORY_ALL, "", 5000000, 121, 270000, &cum);
    n = history_get(h, HISTORY_ALL, "", p, 8);
    CHECK_EQ_U(n, 2);
    if (n == 2) {
        CHECK(p[1].per_s == 0.0 && p[1].p99_s == 0.0 && p[1].db_per_s == 0.0);
    }
    /* the ring keeps the newest 4, oldest first */
    for (int i = 0; i < 6; i++) {
        history_feed(h, HISTORY_ALL, "", 7000000 + i * 2000000, 121 + (uint64_t)i, 270000, NULL);
    }
    n = history_get(h, HISTORY_ALL, "", p, 8);
    CHECK_EQ_U(n, 4);
    if (n == 4) {
        CHECK_EQ_U(p[0].wall_us, 11000000);
        CHECK_EQ_U(p[3].wall_us, 17000000);
    }
    n = history_get(h, HISTORY_ALL, "", p, 2); /* a short buffer gets the newest */
    CHECK_EQ_U(n, 2);
    if (n == 2) {
        CHECK_EQ_U(p[1].wall_us, 17000000);
    }
    history_free(h);
}

static void
test_keys(void)
{
    struct history *h = history_new(2, 8);
    struct history_point p[8];
    history_feed(h, HISTORY_ROUTE, "/a", 1000000, 1, 10, NULL);
    history_feed(h, HISTORY_DIGEST, "/a", 1000000, 1, 10, NULL); /* another kind, another key */
    history_feed(h, HISTORY_ROUTE, "/a", 2000000, 3, 10, NULL);
    CHECK_EQ_U(history_get(h, HISTORY_ROUTE, "/a", p, 8), 1);
    CHECK_EQ_U(history_get(h, HISTORY_DIGEST, "/a", p, 8), 0);
    /* a third key takes the slot fed least recently (the digest's) */
    history_feed(h, HISTORY_ROUTE, "/b", 2000000, 1, 10, NULL);
    history_feed(h, HISTORY_ROUTE, "/b", 3000000, 2, 10, NULL);
    CHECK_EQ_U(history_get(h, HISTORY_ROUTE, "/b", p, 8), 1);
    CHECK_EQ_U(history_get(h, HISTORY_ROUTE, "/a", p, 8), 1);
    CHECK_EQ_U(history_get(h, HISTORY_DIGEST, "/a", p, 8), 0);
    /* a count that went down (the shape was evicted and came back): a new base, no point */
    history_feed(h, HISTORY_ROUTE, "/b", 4000000, 1, 10, NULL);
    CHECK_EQ_U(history_get(h, HISTORY_ROUTE, "/b", p, 8), 1);
    history_free(h);
}

/* A series put back from a state file: its points as saved; the first feed after it only sets
 * the base (no point from the epoch), the next one appends. */
static void
test_put(void)
{
    struct history *h = history_new(2, 4);
    struct history_point saved[5];
    for (int i = 0; i < 5; i++) {
        saved[i] = (struct history_point){.wall_us = 1000000 * (i + 1), .per_s = i};
    }
    history_put(h, HISTORY_DIGEST, "00000000000000aa", saved, 5);
    struct history_point p[8];
    CHECK_EQ_U(history_get(h, HISTORY_DIGEST, "00000000000000aa", p, 8), 4); /* the newest 4 */
    CHECK_EQ_U(p[0].wall_us, 2000000);
    enum history_kind kind = HISTORY_ALL;
    char key[HISTORY_KEY_MAX];
    CHECK(history_series(h, 0, &kind, key, sizeof key));
    CHECK_EQ_U(kind, HISTORY_DIGEST);
    CHECK_STR(key, "00000000000000aa");
    CHECK(!history_series(h, 1, &kind, key, sizeof key));
    history_feed(h, HISTORY_DIGEST, "00000000000000aa", 100000000, 500, 1000, NULL);
    CHECK_EQ_U(history_get(h, HISTORY_DIGEST, "00000000000000aa", p, 8), 4);
    CHECK_EQ_U(p[3].wall_us, 5000000);
    history_feed(h, HISTORY_DIGEST, "00000000000000aa", 102000000, 510, 1000, NULL);
    CHECK_EQ_U(history_get(h, HISTORY_DIGEST, "00000000000000aa", p, 8), 4);
    CHECK_EQ_U(p[3].wall_us, 102000000);
    CHECK(p[3].per_s > 4.99 && p[3].per_s < 5.01);
    history_free(h);
}

int
main(void)
{
    test_put();
    test_points();
    test_keys();
    return check_exit();
}
