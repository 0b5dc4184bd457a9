/*
 * routes.c - per-route statistics: per-worker tables merged into one shared, bounded table
 * (routes.h).
 */
#include "proxy/account/routes.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_tags.h"

struct routes_slot {
    uint64_t hash;
    bool used;
    int next; /* shared table: hash chain, -1 ends it */
    struct routes_entry e;
};

struct routes {
    pthread_mutex_t mu;
    struct routes_slot *s;
    size_t n, max;
    int *buckets;
    size_t nbuckets;
    uint64_t evicted;
};

struct routes_local {
    struct routes *shared;
    struct routes_slot *s;
    size_t size, used, limit;
    struct routes_slot other; /* "(other routes)" when the table is full */
};

static uint64_t
routes_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    while (*s) {
        h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
    }
    return h;
}

static void
routes_copy(char *dst, const char *src)
{
    size_t n = strlen(src);
    if (n >= ROUTES_NAME_MAX) {
        n = ROUTES_NAME_MAX - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

bool
routes_name(const struct proto_tags *t, char *out)
{
    out[0] = '\0';
    if (!t) {
        return false;
    }
    const char *r = proto_tags_get(t, "route");
    if (r && r[0]) {
        routes_copy(out, r);
        return true;
    }
    const char *c = proto_tags_get(t, "controller");
    if (c && c[0]) {
        const char *a = proto_tags_get(t, "action");
        size_t n = strlen(c);
        if (n >= ROUTES_NAME_MAX) {
            n = ROUTES_NAME_MAX - 1;
        }
        memcpy(out, c, n);
        out[n] = '\0';
        if (a && a[0] && n + 1 < ROUTES_NAME_MAX - 1) {
            out[n] = '#';
            size_t m = strlen(a);
            if (n + 1 + m >= ROUTES_NAME_MAX) {
                m = ROUTES_NAME_MAX - 2 - n;
            }
            memcpy(out + n + 1, a, m);
            out[n + 1 + m] = '\0';
        }
        return true;
    }
    return false;
}

/* Adds a shape's count and time to an entry's top shapes: a new one replaces the cheapest
 * when all are taken and it cost more (so the costliest stay, approximately). */
static void
routes_add_shape(struct routes_entry *e, uint64_t digest, uint64_t count, uint64_t total_us)
{
    unsigned min = 0;
    for (unsigned i = 0; i < e->ntop; i++) {
        if (e->top[i].digest == digest) {
            e->top[i].count += count;
            e->top[i].total_us += total_us;
            return;
        }
        if (e->top[i].total_us < e->top[min].total_us) {
            min = i;
        }
    }
    if (e->ntop < ROUTES_TOP_SHAPES) {
        e->top[e->ntop++] = (struct routes_shape){digest, count, total_us};
    } else if (total_us > e->top[min].total_us) {
        e->top[min] = (struct routes_shape){digest, count, total_us};
    }
}

static void
routes_merge_entry(struct routes_entry *dst, const struct routes_entry *src)
{
    dst->count += src->count;
    dst->errors += src->errors;
    dst->total_us += src->total_us;
    dst->requests += src->requests;
    dst->request_stmts += src->request_stmts;
    if (src->last_seen_us > dst->last_seen_us) {
        dst->last_seen_us = src->last_seen_us;
    }
    hist_merge(&dst->hist, &src->hist);
    for (unsigned i = 0; i < src->ntop; i++) {
        routes_add_shape(dst, src->top[i].digest, src->top[i].count, src->top[i].total_us);
    }
}

struct routes *
routes_new(int max_routes)
{
    struct routes *r = calloc(1, sizeof *r);
    if (!r) {
        return NULL;
    }
    r->max = max_routes > 0 ? (size_t)max_routes : 1;
    r->nbuckets = 16;
    while (r->nbuckets < r->max * 2) {
        r->nbuckets *= 2;
    }
    r->s = calloc(r->max, sizeof *r->s);
    r->buckets = malloc(r->nbuckets * sizeof *r->buckets);
    if (!r->s || !r->buckets || pthread_mutex_init(&r->mu, NULL) != 0) {
        free(r->s);
        free(r->buckets);
        free(r);
        return NULL;
    }
    for (size_t i = 0; i < r->nbuckets; i++) {
        r->buckets[i] = -1;
    }
    return r;
}

void
routes_free(struct routes *r)
{
    if (!r) {
        return;
    }
    pthread_mutex_destroy(&r->mu);
    free(r->s);
    free(r->buckets);
    free(r);
}

uint64_t
routes_evicted(struct routes *r)
{
    pthread_mutex_lock(&r->mu);
    uint64_t n = r->evicted;
    pthread_mutex_unlock(&r->mu);
    return n;
}

static void
routes_unlink(struct routes *r, size_t idx)
{
    int *p = &r->buckets[r->s[idx].hash & (r->nbuckets - 1)];
    while (*p >= 0) {
        if ((size_t)*p == idx) {
            *p = r->s[idx].next;
            return;
        }
        p = &r->s[*p].next;
    }
}

/* The shared slot of a route, created when new: when the table is full, the least costly route
 * is evicted for it (as the per-shape table does: a route that just appeared gets its chance;
 * one whose statements are split over two merges is not dropped half-counted). Mutex held.
 * Never NULL. */
static struct routes_slot *
routes_shared_slot(struct routes *r, uint64_t hash, const char *name)
{
    size_t b = hash & (r->nbuckets - 1);
    for (int i = r->buckets[b]; i >= 0; i = r->s[i].next) {
        if (r->s[i].hash == hash && strcmp(r->s[i].e.route, name) == 0) {
            return &r->s[i];
        }
    }
    size_t idx;
    if (r->n < r->max) {
        idx = r->n++;
    } else {
        idx = 0;
        for (size_t i = 1; i < r->n; i++) {
            if (r->s[i].e.total_us < r->s[idx].e.total_us) {
                idx = i;
            }
        }
        r->evicted++;
        routes_unlink(r, idx);
    }
    struct routes_slot *s = &r->s[idx];
    memset(s, 0, sizeof *s);
    s->hash = hash;
    s->used = true;
    routes_copy(s->e.route, name);
    s->next = r->buckets[b];
    r->buckets[b] = (int)idx;
    return s;
}

void
routes_put(struct routes *r, const struct routes_entry *e)
{
    struct routes_entry *in = malloc(sizeof *in);
    if (!in) {
        return;
    }
    *in = *e;
    in->route[ROUTES_NAME_MAX - 1] = '\0';
    if (in->ntop > ROUTES_TOP_SHAPES) {
        in->ntop = ROUTES_TOP_SHAPES;
    }
    pthread_mutex_lock(&r->mu);
    routes_merge_entry(&routes_shared_slot(r, routes_hash(in->route), in->route)->e, in);
    pthread_mutex_unlock(&r->mu);
    free(in);
}

struct routes_local *
routes_local_new(struct routes *r, size_t slots)
{
    struct routes_local *l = calloc(1, sizeof *l);
    if (!l) {
        return NULL;
    }
    l->shared = r;
    l->size = 8;
    while (l->size < slots * 4 / 3 + 1) {
        l->size *= 2;
    }
    l->limit = slots ? slots : 1;
    l->s = calloc(l->size, sizeof *l->s);
    if (!l->s) {
        free(l);
        return NULL;
    }
    routes_copy(l->other.e.route, ROUTES_OTHER);
    l->other.hash = routes_hash(ROUTES_OTHER);
    return l;
}

void
routes_local_free(struct routes_local *l)
{
    if (!l) {
        return;
    }
    routes_local_merge(l);
    free(l->s);
    free(l);
}

static void
routes_local_merge_locked(struct routes_local *l)
{
    struct routes *r = l->shared;
    for (size_t i = 0; i < l->size && l->used; i++) {
        struct routes_slot *s = &l->s[i];
        if (!s->used) {
            continue;
        }
        routes_merge_entry(&routes_shared_slot(r, s->hash, s->e.route)->e, &s->e);
        memset(s, 0, sizeof *s);
        l->used--;
    }
    if (l->other.used) {
        routes_merge_entry(&routes_shared_slot(r, l->other.hash, ROUTES_OTHER)->e, &l->other.e);
        l->other.used = false;
        memset(&l->other.e, 0, sizeof l->other.e);
        routes_copy(l->other.e.route, ROUTES_OTHER);
    }
}

void
routes_local_merge(struct routes_local *l)
{
    if (!l->used && !l->other.used) {
        return;
    }
    pthread_mutex_lock(&l->shared->mu);
    routes_local_merge_locked(l);
    pthread_mutex_unlock(&l->shared->mu);
}

/* The local slot of a route, or the overflow slot. */
static struct routes_entry *
routes_local_entry(struct routes_local *l, const char *route)
{
    uint64_t h = routes_hash(route);
    for (int pass = 0; pass < 2; pass++) {
        size_t i = h & (l->size - 1);
        while (l->s[i].used) {
            if (l->s[i].hash == h && strncmp(l->s[i].e.route, route, ROUTES_NAME_MAX - 1) == 0) {
                return &l->s[i].e;
            }
            i = (i + 1) & (l->size - 1);
        }
        if (l->used < l->limit) {
            l->s[i].used = true;
            l->s[i].hash = h;
            routes_copy(l->s[i].e.route, route);
            l->used++;
            return &l->s[i].e;
        }
        if (pass == 0 && pthread_mutex_trylock(&l->shared->mu) == 0) {
            routes_local_merge_locked(l);
            pthread_mutex_unlock(&l->shared->mu);
            continue;
        }
        break;
    }
    l->other.used = true;
    return &l->other.e;
}

void
routes_local_record(struct routes_local *l, const char *route, uint64_t digest, uint64_t query_us,
                    bool error, int64_t wall_us)
{
    struct routes_entry *e = routes_local_entry(l, route);
    e->count++;
    e->errors += error;
    e->total_us += query_us;
    if (wall_us > e->last_seen_us) {
        e->last_seen_us = wall_us;
    }
    hist_add(&e->hist, query_us);
    routes_add_shape(e, digest, 1, query_us);
}

void
routes_local_request(struct routes_local *l, const char *route, uint32_t stmts)
{
    struct routes_entry *e = routes_local_entry(l, route);
    e->requests++;
    e->request_stmts += stmts;
}

static int
routes_shape_cmp(const void *a, const void *b)
{
    const struct routes_shape *x = a, *y = b;
    if (x->total_us != y->total_us) {
        return x->total_us < y->total_us ? 1 : -1;
    }
    return x->digest < y->digest ? -1 : x->digest > y->digest;
}

static int
routes_entry_cmp(const void *a, const void *b)
{
    const struct routes_entry *x = a, *y = b;
    if (x->total_us != y->total_us) {
        return x->total_us < y->total_us ? 1 : -1;
    }
    return strcmp(x->route, y->route);
}

bool
routes_snapshot(struct routes *r, size_t limit, struct routes_snapshot *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&r->mu);
    size_t n = r->n;
    out->evicted = r->evicted;
    struct routes_entry *e = n ? malloc(n * sizeof *e) : NULL;
    if (n && !e) {
        pthread_mutex_unlock(&r->mu);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        e[i] = r->s[i].e;
    }
    pthread_mutex_unlock(&r->mu);
    if (n) { /* qsort wants a non-NULL base even for no elements */
        qsort(e, n, sizeof *e, routes_entry_cmp);
    }
    for (size_t i = 0; i < n; i++) {
        if (e[i].ntop) {
            qsort(e[i].top, e[i].ntop, sizeof e[i].top[0], routes_shape_cmp);
        }
    }
    out->r = e;
    out->n = limit && n > limit ? limit : n;
    return true;
}

void
routes_snapshot_free(struct routes_snapshot *s)
{
    free(s->r);
    s->r = NULL;
    s->n = 0;
}
