/*
 * window.c - windowed statistics from cumulative figures (window.h): sparse per-minute
 * differences in a ring, the previous feed and the reset baseline, each a set of records
 * sorted by key with their non-empty histogram buckets.
 */
#include "proxy/account/window.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "common/hexfmt.h"

#define WINDOW_SLOTS (WINDOW_MINUTES + 2)

struct window_bucket {
    uint16_t i;
    uint32_t c;
};

struct window_rec {
    uint64_t key;
    uint64_t v[WINDOW_NVAL];
    size_t b0, nb; /* its buckets: set->b[b0 .. b0 + nb) */
};

/* Records sorted by key. */
struct window_set {
    size_t n;
    struct window_rec *r;
    struct window_bucket *b;
};

struct window_slot {
    int64_t minute; /* realtime minutes since the epoch; 0: empty */
    struct window_set set;
};

struct window {
    int64_t fed_us; /* realtime us of the last feed; 0 before the first */
    int64_t reset_us;
    struct window_set prev; /* the figures of the last feed */
    struct window_set base; /* the figures at the last reset */
    struct window_slot slot[WINDOW_SLOTS];
};

static void
set_free(struct window_set *s)
{
    free(s->r);
    free(s->b);
    *s = (struct window_set){.n = 0};
}

static bool
fig_empty(const struct window_fig *f)
{
    for (unsigned k = 0; k < WINDOW_NVAL; k++) {
        if (f->v[k]) {
            return false;
        }
    }
    return true;
}

/* A set of figs[0..n) (sorted), without the all-zero ones. */
static bool
set_of(const struct window_fig *figs, size_t n, struct window_set *out)
{
    *out = (struct window_set){.n = 0};
    size_t nb = 0, nr = 0;
    for (size_t i = 0; i < n; i++) {
        if (fig_empty(&figs[i])) {
            continue;
        }
        nr++;
        for (unsigned k = 0; k < HIST_BUCKETS; k++) {
            nb += figs[i].hist.b[k] != 0;
        }
    }
    out->r = malloc((nr ? nr : 1) * sizeof *out->r);
    out->b = malloc((nb ? nb : 1) * sizeof *out->b);
    if (!out->r || !out->b) {
        set_free(out);
        return false;
    }
    nb = 0;
    for (size_t i = 0; i < n; i++) {
        const struct window_fig *f = &figs[i];
        if (fig_empty(f)) {
            continue;
        }
        struct window_rec *r = &out->r[out->n++];
        r->key = f->key;
        memcpy(r->v, f->v, sizeof r->v);
        r->b0 = nb;
        for (unsigned k = 0; k < HIST_BUCKETS; k++) {
            if (f->hist.b[k]) {
                out->b[nb++] = (struct window_bucket){.i = (uint16_t)k, .c = f->hist.b[k]};
            }
        }
        r->nb = nb - r->b0;
    }
    return true;
}

static const struct window_rec *
set_find(const struct window_set *s, uint64_t key)
{
    size_t lo = 0, hi = s->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (s->r[mid].key < key) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo < s->n && s->r[lo].key == key ? &s->r[lo] : NULL;
}

/* f += r (sign 1) or f -= r clamped at 0 (sign -1). */
static void
fig_apply(struct window_fig *f, const struct window_set *s, const struct window_rec *r, int sign)
{
    for (unsigned k = 0; k < WINDOW_NVAL; k++) {
        if (sign > 0) {
            f->v[k] += r->v[k];
        } else {
            f->v[k] = f->v[k] > r->v[k] ? f->v[k] - r->v[k] : 0;
        }
    }
    for (size_t j = 0; j < r->nb; j++) {
        const struct window_bucket *b = &s->b[r->b0 + j];
        uint32_t *dst = &f->hist.b[b->i];
        if (sign > 0) {
            *dst += b->c;
        } else {
            *dst = *dst > b->c ? *dst - b->c : 0;
        }
    }
}

/* cum minus the record of its key in s; cum itself when s has none or the key's count went
 * down (evicted and back). */
static void
fig_since(struct window_fig *out, const struct window_fig *cum, const struct window_set *s)
{
    *out = *cum;
    const struct window_rec *r = set_find(s, cum->key);
    if (r && r->v[WINDOW_COUNT] <= cum->v[WINDOW_COUNT]) {
        fig_apply(out, s, r, -1);
    }
}

static int64_t
minute_of(int64_t wall_us)
{
    return wall_us / 60000000;
}

struct window *
window_new(void)
{
    struct window *w = calloc(1, sizeof *w);
    return w;
}

void
window_free(struct window *w)
{
    if (!w) {
        return;
    }
    set_free(&w->prev);
    set_free(&w->base);
    for (size_t i = 0; i < WINDOW_SLOTS; i++) {
        set_free(&w->slot[i].set);
    }
    free(w);
}

/* Adds the set d into the slot of `minute`. */
static bool
slot_add(struct window *w, int64_t minute, struct window_set *d)
{
    struct window_slot *sl = &w->slot[(size_t)(minute % WINDOW_SLOTS)];
    if (sl->minute != minute) {
        set_free(&sl->set);
        sl->minute = minute;
    }
    if (sl->set.n == 0) {
        set_free(&sl->set);
        sl->set = *d;
        *d = (struct window_set){.n = 0};
        return true;
    }
    /* a second feed in the same minute (a reset): merge the two by key */
    size_t cap = sl->set.n + d->n;
    struct window_fig *m = calloc(cap, sizeof *m);
    if (!m) {
        return false;
    }
    size_t i = 0, j = 0, n = 0;
    while (i < sl->set.n || j < d->n) {
        bool take_a = i < sl->set.n && (j >= d->n || sl->set.r[i].key <= d->r[j].key);
        bool take_b = j < d->n && (i >= sl->set.n || d->r[j].key <= sl->set.r[i].key);
        struct window_fig *f = &m[n++];
        f->key = take_a ? sl->set.r[i].key : d->r[j].key;
        if (take_a) {
            fig_apply(f, &sl->set, &sl->set.r[i++], 1);
        }
        if (take_b) {
            fig_apply(f, d, &d->r[j++], 1);
        }
    }
    struct window_set merged;
    bool ok = set_of(m, n, &merged);
    free(m);
    if (ok) {
        set_free(&sl->set);
        sl->set = merged;
    }
    return ok;
}

bool
window_feed(struct window *w, int64_t wall_us, const struct window_fig *cum, size_t n)
{
    struct window_set now;
    if (!set_of(cum, n, &now)) {
        return false;
    }
    bool ok = true;
    struct window_fig *d = malloc((n ? n : 1) * sizeof *d);
    struct window_set ds;
    if (!d) {
        set_free(&now);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        fig_since(&d[i], &cum[i], &w->prev); /* the first feed: all of it (prev is empty) */
    }
    ok = set_of(d, n, &ds);
    free(d);
    if (ok) {
        ok = slot_add(w, minute_of(w->fed_us ? w->fed_us : wall_us), &ds);
        set_free(&ds);
    }
    set_free(&w->prev);
    w->prev = now;
    w->fed_us = wall_us;
    return ok;
}

void
window_base(struct window *w, int64_t wall_us, const struct window_fig *cum, size_t n)
{
    struct window_set now;
    if (set_of(cum, n, &now)) {
        set_free(&w->prev);
        w->prev = now;
        w->fed_us = wall_us;
    }
}

bool
window_reset(struct window *w, int64_t wall_us, const struct window_fig *cum, size_t n)
{
    bool ok = window_feed(w, wall_us, cum, n);
    struct window_set base;
    if (!set_of(cum, n, &base)) {
        return false;
    }
    set_free(&w->base);
    w->base = base;
    w->reset_us = wall_us;
    return ok;
}

int64_t
window_reset_at(const struct window *w)
{
    return w->reset_us;
}

void
window_sum(const struct window *w, int64_t wall_us, unsigned minutes, const struct window_fig *cum,
           size_t n, struct window_fig *out)
{
    if (minutes == 0) {
        for (size_t i = 0; i < n; i++) {
            fig_since(&out[i], &cum[i], &w->base);
        }
        return;
    }
    if (minutes > WINDOW_MINUTES) {
        minutes = WINDOW_MINUTES;
    }
    int64_t cur = minute_of(wall_us);
    for (size_t i = 0; i < n; i++) {
        if (w->fed_us) {
            fig_since(&out[i], &cum[i], &w->prev);
        } else {
            out[i] = cum[i];
        }
    }
    for (size_t s = 0; s < WINDOW_SLOTS; s++) {
        const struct window_slot *sl = &w->slot[s];
        if (sl->minute == 0 || sl->minute < cur - (int64_t)minutes || sl->minute > cur) {
            continue;
        }
        for (size_t i = 0; i < n; i++) {
            const struct window_rec *r = set_find(&sl->set, cum[i].key);
            if (r) {
                fig_apply(&out[i], &sl->set, r, 1);
            }
        }
    }
}

/* ---- state file ---- */

static json_t *
set_save(const struct window_set *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->n; i++) {
        const struct window_rec *r = &s->r[i];
        char hex[HEXFMT_U64_LEN + 1];
        hexfmt_u64(r->key, hex);
        json_t *v = json_array(), *b = json_array();
        for (unsigned k = 0; v && k < WINDOW_NVAL; k++) {
            json_array_append_new(v, json_integer((json_int_t)r->v[k]));
        }
        for (size_t j = 0; b && j < r->nb; j++) {
            json_array_append_new(
                b, json_pack("[iI]", (int)s->b[r->b0 + j].i, (json_int_t)s->b[r->b0 + j].c));
        }
        json_array_append_new(a, json_pack("[soo]", hex, v, b));
    }
    return a;
}

static bool
set_load(const json_t *a, struct window_set *out)
{
    *out = (struct window_set){.n = 0};
    if (!json_is_array(a)) {
        return false;
    }
    size_t n = json_array_size(a);
    struct window_fig *f = calloc(n ? n : 1, sizeof *f);
    if (!f) {
        return false;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < n; i++) {
        const json_t *r = json_array_get(a, i);
        const json_t *v = json_array_get(r, 1), *b = json_array_get(r, 2);
        const char *hex = json_string_value(json_array_get(r, 0));
        ok = hex && hexfmt_parse_u64(hex, &f[i].key) && json_is_array(v) &&
             json_array_size(v) == WINDOW_NVAL && json_is_array(b) &&
             (i == 0 || f[i].key > f[i - 1].key);
        for (unsigned k = 0; ok && k < WINDOW_NVAL; k++) {
            json_int_t x = json_integer_value(json_array_get(v, k));
            ok = x >= 0;
            f[i].v[k] = (uint64_t)x;
        }
        for (size_t j = 0; ok && j < json_array_size(b); j++) {
            json_int_t bi = json_integer_value(json_array_get(json_array_get(b, j), 0));
            json_int_t bc = json_integer_value(json_array_get(json_array_get(b, j), 1));
            ok = bi >= 0 && bi < (json_int_t)HIST_BUCKETS && bc >= 0 && bc <= UINT32_MAX;
            if (ok) {
                f[i].hist.b[bi] = (uint32_t)bc;
            }
        }
    }
    ok = ok && set_of(f, n, out);
    free(f);
    return ok;
}

json_t *
window_save(const struct window *w)
{
    json_t *mins = json_array();
    for (size_t i = 0; mins && i < WINDOW_SLOTS; i++) {
        if (w->slot[i].minute && w->slot[i].set.n) {
            json_array_append_new(mins, json_pack("{sIso}", "minute", (json_int_t)w->slot[i].minute,
                                                  "set", set_save(&w->slot[i].set)));
        }
    }
    return json_pack("{sIsIsososo}", "fed_us", (json_int_t)w->fed_us, "reset_us",
                     (json_int_t)w->reset_us, "prev", set_save(&w->prev), "base",
                     set_save(&w->base), "minutes", mins);
}

bool
window_load(struct window *w, const json_t *o, int64_t now_us)
{
    const json_t *mins = json_object_get(o, "minutes");
    json_int_t fed = json_integer_value(json_object_get(o, "fed_us"));
    json_int_t reset = json_integer_value(json_object_get(o, "reset_us"));
    if (!json_is_object(o) || !json_is_array(mins) || fed < 0 || reset < 0 ||
        !set_load(json_object_get(o, "prev"), &w->prev) ||
        !set_load(json_object_get(o, "base"), &w->base)) {
        set_free(&w->prev);
        set_free(&w->base);
        return false;
    }
    w->fed_us = fed > now_us ? fed : now_us;
    w->reset_us = reset;
    for (size_t i = 0; i < json_array_size(mins); i++) {
        const json_t *m = json_array_get(mins, i);
        json_int_t minute = json_integer_value(json_object_get(m, "minute"));
        struct window_set set;
        if (minute <= 0 || !set_load(json_object_get(m, "set"), &set)) {
            continue;
        }
        struct window_slot *sl = &w->slot[(size_t)(minute % WINDOW_SLOTS)];
        set_free(&sl->set);
        sl->minute = minute;
        sl->set = set;
    }
    return true;
}

static int
window_fig_cmp(const void *a, const void *b)
{
    const struct window_fig *x = a, *y = b;
    return x->key < y->key ? -1 : x->key > y->key;
}

void
window_sort(struct window_fig *figs, size_t n)
{
    qsort(figs, n, sizeof *figs, window_fig_cmp);
}

uint64_t
window_key(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}
