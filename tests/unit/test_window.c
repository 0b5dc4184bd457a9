/*
 * test_window.c - windowed statistics (proxy/account/window.h): minute differences summed
 * over 5 minutes and an hour, the partial minute, a reset's baseline, a key that went down.
 */
#include "proxy/account/window.h"
#include "check.h"

#include <jansson.h>
#include <stdlib.h>

#define MIN_US 60000000LL

static void
fig(struct window_fig *f, uint64_t key, uint64_t count, uint64_t us_each)
{
    *f = (struct window_fig){.key = key};
    f->v[WINDOW_COUNT] = count;
    f->v[WINDOW_TOTAL_US] = count * us_each;
    for (uint64_t i = 0; i < count; i++) {
        hist_add(&f->hist, us_each);
    }
}

/* Adds `count` statements of `us_each` to a cumulative figure. */
static void
grow(struct window_fig *f, uint64_t count, uint64_t us_each)
{
    f->v[WINDOW_COUNT] += count;
    f->v[WINDOW_TOTAL_US] += count * us_each;
    for (uint64_t i = 0; i < count; i++) {
        hist_add(&f->hist, us_each);
    }
}

int
main(void)
{
    struct window *w = window_new();
    CHECK(w != NULL);
    int64_t t0 = 1000 * MIN_US; /* the start of a minute */
    struct window_fig cum[2], out[2];
    fig(&cum[0], 1, 0, 0);
    fig(&cum[1], 7, 0, 0);
    CHECK(window_feed(w, t0 + 1000000, cum, 2)); /* the first feed: the base */
    /* minute 0..69: key 1 runs 10 a minute at 1 ms; key 7 runs once, in minute 2, at 100 ms */
    for (int m = 0; m < 70; m++) {
        grow(&cum[0], 10, 1000);
        if (m == 2) {
            grow(&cum[1], 1, 100000);
        }
        CHECK(window_feed(w, t0 + (m + 1) * MIN_US + 1000000, cum, 2));
    }
    int64_t now = t0 + 70 * MIN_US + 30000000; /* minute 70, half gone */
    grow(&cum[0], 3, 50000);                   /* since the last feed: 3 slow ones */
    window_sum(w, now, 5, cum, 2, out);
    /* minutes 65..69 (5 whole ones) and the 3 since the last feed */
    CHECK_EQ_U(out[0].key, 1);
    CHECK_EQ_U(out[0].v[WINDOW_COUNT], 5 * 10 + 3);
    CHECK_EQ_U(out[0].v[WINDOW_TOTAL_US], 5 * 10 * 1000 + 3 * 50000);
    CHECK_EQ_U(hist_count(&out[0].hist), 53);
    CHECK(hist_quantile(&out[0].hist, 0.99) > 45000); /* the slow ones are in this window */
    CHECK_EQ_U(out[1].v[WINDOW_COUNT], 0);            /* key 7 ran in minute 2 only */
    window_sum(w, now, 60, cum, 2, out);
    CHECK_EQ_U(out[0].v[WINDOW_COUNT], 60 * 10 + 3);
    CHECK_EQ_U(out[1].v[WINDOW_COUNT], 0);
    window_sum(w, now, 0, cum, 2, out); /* never reset: since start */
    CHECK_EQ_U(out[0].v[WINDOW_COUNT], 70 * 10 + 3);
    CHECK_EQ_U(out[1].v[WINDOW_COUNT], 1);
    CHECK_EQ_U(window_reset_at(w), 0);

    /* a reset: "since reset" starts at 0, the 5-minute window keeps what ran before it */
    CHECK(window_reset(w, now, cum, 2));
    CHECK_EQ_U(window_reset_at(w), (uint64_t)now);
    grow(&cum[0], 2, 1000);
    grow(&cum[1], 4, 2000);
    window_sum(w, now + 1000000, 0, cum, 2, out);
    CHECK_EQ_U(out[0].v[WINDOW_COUNT], 2);
    CHECK_EQ_U(out[1].v[WINDOW_COUNT], 4);
    CHECK_EQ_U(out[1].v[WINDOW_TOTAL_US], 8000);
    CHECK_EQ_U(hist_count(&out[1].hist), 4);
    CHECK(hist_quantile(&out[1].hist, 0.99) < 3000); /* the 100 ms one is before the reset */
    window_sum(w, now + 1000000, 5, cum, 2, out);
    CHECK_EQ_U(out[0].v[WINDOW_COUNT], 5 * 10 + 3 + 2); /* the reset's feed merged in minute 70 */
    CHECK_EQ_U(out[1].v[WINDOW_COUNT], 4);
    /* the next regular feed in the same minute, then a later read */
    CHECK(window_feed(w, now + 20000000, cum, 2));
    window_sum(w, now + 25000000, 5, cum, 2, out);
    CHECK_EQ_U(out[0].v[WINDOW_COUNT], 5 * 10 + 3 + 2);
    /* a key whose count went down (evicted and back): counts from 0 */
    struct window_fig back[2];
    fig(&back[0], 1, 1, 1000);
    back[1] = cum[1];
    window_sum(w, now + 25000000, 0, back, 2, out);
    CHECK_EQ_U(out[0].v[WINDOW_COUNT], 1);
    /* six hours later with no feed in between: nothing in the windows but the partial */
    window_sum(w, now + 360 * MIN_US, 60, cum, 2, out);
    CHECK_EQ_U(out[0].v[WINDOW_COUNT], 0);
    /* the state file's round trip: the same windows after a load */
    json_t *saved = window_save(w);
    CHECK(saved != NULL);
    char *text = json_dumps(saved, JSON_COMPACT);
    json_decref(saved);
    json_t *back_o = text ? json_loads(text, 0, NULL) : NULL;
    free(text);
    struct window *wl = window_new();
    CHECK(window_load(wl, back_o, now + 25000000));
    struct window_fig o1[2], o2[2];
    for (unsigned m = 0; m <= 60; m += 5) {
        window_sum(w, now + 25000000, m, cum, 2, o1);
        window_sum(wl, now + 25000000, m, cum, 2, o2);
        CHECK(memcmp(o1, o2, sizeof o1) == 0);
    }
    CHECK_EQ_U(window_reset_at(wl), (uint64_t)now);
    json_decref(back_o);
    window_free(wl);
    wl = window_new();
    json_t *bad = json_loads("{\"fed_us\": 1, \"reset_us\": 0, \"prev\": [[\"zz\", [], []]], "
                             "\"base\": [], \"minutes\": []}",
                             0, NULL);
    CHECK(bad != NULL);
    CHECK(!window_load(wl, bad, now));
    CHECK(!window_load(wl, NULL, now));
    json_decref(bad);
    window_free(wl);

    /* keys and sorting */
    CHECK(window_key("/roster") != window_key("/my_class"));
    struct window_fig s[3];
    fig(&s[0], 9, 0, 0);
    fig(&s[1], 2, 0, 0);
    fig(&s[2], 5, 0, 0);
    window_sort(s, 3);
    CHECK(s[0].key == 2 && s[1].key == 5 && s[2].key == 9);
    window_free(w);

    /* the first feed counts everything since start; after window_base nothing before it */
    struct window *w2 = window_new(), *w3 = window_new();
    struct window_fig c, o;
    fig(&c, 3, 4, 1000);
    CHECK(window_feed(w2, t0, &c, 1));
    window_sum(w2, t0 + 1000000, 5, &c, 1, &o);
    CHECK_EQ_U(o.v[WINDOW_COUNT], 4);
    window_base(w3, t0, &c, 1);
    window_sum(w3, t0 + 1000000, 5, &c, 1, &o);
    CHECK_EQ_U(o.v[WINDOW_COUNT], 0);
    window_sum(w3, t0 + 1000000, 0, &c, 1, &o); /* since start: all of it */
    CHECK_EQ_U(o.v[WINDOW_COUNT], 4);
    window_free(w2);
    window_free(w3);
    return check_exit();
}
