/*
 * history.c - fixed-size rings of per-interval points, one per series (history.h).
 */
#include "proxy/account/history.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

struct history_series {
    bool used;
    enum history_kind kind;
    char key[HISTORY_KEY_MAX];
    uint64_t fed; /* feed round it was last fed in */
    bool based;   /* base_* hold a feed (not so for a series put back from a state file) */
    int64_t base_wall;
    uint64_t base_count, base_total;
    struct hist base_hist;
    size_t head, n; /* ring: the oldest is (head + points - n) % points */
    struct history_point *p;
};

struct history {
    struct history_series *s;
    size_t keys, points;
    uint64_t feeds;
    struct history_point *all_points;
};

struct history *
history_new(size_t keys, size_t points)
{
    struct history *h = calloc(1, sizeof *h);
    if (!h) {
        return NULL;
    }
    h->keys = keys ? keys : 1;
    h->points = points ? points : 1;
    h->s = calloc(h->keys, sizeof *h->s);
    h->all_points = calloc(h->keys * h->points, sizeof *h->all_points);
    if (!h->s || !h->all_points) {
        history_free(h);
        return NULL;
    }
    for (size_t i = 0; i < h->keys; i++) {
        h->s[i].p = h->all_points + i * h->points;
    }
    return h;
}

void
history_free(struct history *h)
{
    if (h) {
        free(h->s);
        free(h->all_points);
        free(h);
    }
}

static struct history_series *
history_find(const struct history *h, enum history_kind kind, const char *key)
{
    for (size_t i = 0; i < h->keys; i++) {
        struct history_series *s = &h->s[i];
        if (s->used && s->kind == kind && strncmp(s->key, key, HISTORY_KEY_MAX - 1) == 0) {
            return s;
        }
    }
    return NULL;
}

void
history_feed(struct history *h, enum history_kind kind, const char *key, int64_t wall_us,
             uint64_t count, uint64_t total_us, const struct hist *cum)
{
    h->feeds++;
    struct history_series *s = history_find(h, kind, key);
    if (!s) {
        s = &h->s[0];
        for (size_t i = 0; i < h->keys && s->used; i++) {
            if (!h->s[i].used || h->s[i].fed < s->fed) {
                s = &h->s[i];
            }
        }
        struct history_point *p = s->p;
        memset(s, 0, sizeof *s);
        s->p = p;
        s->used = true;
        s->kind = kind;
        size_t n = strlen(key);
        if (n >= HISTORY_KEY_MAX) {
            n = HISTORY_KEY_MAX - 1;
        }
        memcpy(s->key, key, n);
        s->key[n] = '\0';
    } else if (s->based && wall_us > s->base_wall && count >= s->base_count) {
        double secs = (double)(wall_us - s->base_wall) / 1e6;
        struct history_point pt = {.wall_us = wall_us,
                                   .per_s = (double)(count - s->base_count) / secs,
                                   .db_per_s = (double)(total_us - s->base_total) / 1e6 / secs};
        if (cum) {
            struct hist d;
            for (unsigned i = 0; i < HIST_BUCKETS; i++) {
                d.b[i] = cum->b[i] >= s->base_hist.b[i] ? cum->b[i] - s->base_hist.b[i] : 0;
            }
            pt.p99_s = (double)hist_quantile(&d, 0.99) / 1e6;
        }
        s->p[s->head] = pt;
        s->head = (s->head + 1) % h->points;
        if (s->n < h->points) {
            s->n++;
        }
    }
    s->fed = h->feeds;
    s->based = true;
    s->base_wall = wall_us;
    s->base_count = count;
    s->base_total = total_us;
    if (cum) {
        s->base_hist = *cum;
    }
}

bool
history_series(const struct history *h, size_t i, enum history_kind *kind, char *key, size_t cap)
{
    if (i >= h->keys || !h->s[i].used || cap == 0) {
        return false;
    }
    *kind = h->s[i].kind;
    size_t n = strnlen(h->s[i].key, HISTORY_KEY_MAX);
    n = n < cap ? n : cap - 1;
    memcpy(key, h->s[i].key, n);
    key[n] = '\0';
    return true;
}

void
history_put(struct history *h, enum history_kind kind, const char *key,
            const struct history_point *p, size_t n)
{
    if (history_find(h, kind, key)) {
        return;
    }
    struct history_series *s = NULL;
    for (size_t i = 0; i < h->keys && !s; i++) {
        s = h->s[i].used ? NULL : &h->s[i];
    }
    if (!s) {
        return;
    }
    struct history_point *pts = s->p;
    memset(s, 0, sizeof *s);
    s->p = pts;
    s->used = true;
    s->kind = kind;
    size_t kl = strnlen(key, HISTORY_KEY_MAX - 1);
    memcpy(s->key, key, kl);
    s->key[kl] = '\0';
    size_t first = n > h->points ? n - h->points : 0;
    for (size_t i = first; i < n; i++) {
        s->p[s->head] = p[i];
        s->head = (s->head + 1) % h->points;
        s->n++;
    }
}

size_t
history_get(const struct history *h, enum history_kind kind, const char *key,
            struct history_point *out, size_t cap)
{
    const struct history_series *s = history_find(h, kind, key);
    if (!s) {
        return 0;
    }
    size_t n = s->n < cap ? s->n : cap;
    size_t start = (s->head + h->points - s->n) % h->points;
    start = (start + (s->n - n)) % h->points; /* the newest n when cap is short */
    for (size_t i = 0; i < n; i++) {
        out[i] = s->p[(start + i) % h->points];
    }
    return n;
}
