/*
 * requests.c - recent requests with their statements: the session's in-progress request, the
 * worker's list of completed ones, and the shared store of the slowest and latest K per route
 * (requests.h).
 */
#include "proxy/account/requests.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proxy/account/findings.h"

struct requests_rlist {
    char route[REQUESTS_ROUTE_MAX];
    uint64_t hash;
    int64_t last_wall_us;
    struct requests_req **latest; /* ring of keep: latest[(head + i) % keep], i < nlatest */
    unsigned head, nlatest;
    struct requests_req **slowest; /* keep of them, unordered */
    unsigned nslowest;
    unsigned slow_min; /* when nslowest == keep: the index of the shortest of them */
};

struct requests {
    pthread_mutex_t mu;
    unsigned keep;
    uint32_t n_plus_one_min;
    struct findings_table *findings;
    struct requests_rlist *routes;
    size_t nroutes;
    size_t last_route; /* where the last request went: the next one often goes there too */
    size_t bytes;
    uint64_t next_id, recorded, evicted, dropped;
};

struct requests_local {
    struct requests *shared;
    struct requests_req *head, *tail;
    unsigned n;
    uint64_t dropped;
    struct requests_req *spare; /* for requests_begin, linked through next */
    unsigned nspare;
};

static void
requests_copy(char *dst, size_t cap, const char *src)
{
    size_t n = src ? strnlen(src, cap - 1) : 0;
    memcpy(dst, src ? src : "", n);
    dst[n] = '\0';
}

static uint64_t
requests_hash(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    while (*s) {
        h = (h ^ (unsigned char)*s++) * 0x100000001b3ULL;
    }
    return h;
}

/* ---- the session's request ---- */

struct requests_req *
requests_begin(struct requests_local *l, int64_t start_us, int64_t start_wall_us,
               const char *schema, const char *trace_id)
{
    struct requests_req *r;
    struct requests_stmt *stmts = NULL;
    char *text = NULL;
    uint32_t stmts_cap = 0, text_cap = 0;
    if (l && l->spare) {
        r = l->spare;
        l->spare = r->next;
        l->nspare--;
        stmts = r->stmts;
        text = r->text;
        stmts_cap = r->stmts_cap;
        text_cap = r->text_cap;
    } else if (!(r = malloc(sizeof *r))) {
        return NULL;
    }
    *r = (struct requests_req){.start_us = start_us,
                               .end_us = start_us,
                               .start_wall_us = start_wall_us,
                               .stmts = stmts,
                               .text = text,
                               .stmts_cap = stmts_cap,
                               .text_cap = text_cap};
    requests_copy(r->schema, sizeof r->schema, schema);
    requests_copy(r->trace_id, sizeof r->trace_id, trace_id);
    return r;
}

void
requests_set_route(struct requests_req *r, const char *route)
{
    if (r && !r->route[0] && route && route[0]) {
        requests_copy(r->route, sizeof r->route, route);
    }
}

void
requests_add(struct requests_req *r, uint32_t stmts_max, const struct requests_stmt *st,
             const char *text, size_t len, bool cut, int64_t end_us)
{
    r->nstmts++;
    r->db_us += st->query_us;
    if (end_us > r->end_us) {
        r->end_us = end_us;
    }
    if (r->nkept >= stmts_max) {
        return;
    }
    if (r->nkept == r->stmts_cap) {
        uint32_t nc = r->stmts_cap ? r->stmts_cap * 2 : 8;
        if (nc > stmts_max) {
            nc = stmts_max;
        }
        struct requests_stmt *ns = realloc(r->stmts, nc * sizeof *ns);
        if (!ns) {
            return; /* counted, not kept */
        }
        r->stmts = ns;
        r->stmts_cap = nc;
    }
    if (len > REQUESTS_TEXT_MAX) {
        len = REQUESTS_TEXT_MAX;
        cut = true;
    }
    if (!text) {
        len = 0;
    }
    if (r->text_cap - r->text_len < len) {
        uint32_t nc = r->text_cap ? r->text_cap : 1024;
        while (nc - r->text_len < len) {
            nc *= 2;
        }
        char *nt = realloc(r->text, nc);
        if (!nt) {
            len = 0;
            cut = true;
        } else {
            r->text = nt;
            r->text_cap = nc;
        }
    }
    struct requests_stmt *s = &r->stmts[r->nkept++];
    *s = *st;
    s->text_off = r->text_len;
    s->text_len = (uint32_t)len;
    s->text_cut = cut;
    if (len) {
        memcpy(r->text + r->text_len, text, len);
        r->text_len += (uint32_t)len;
    }
}

void
requests_req_free(struct requests_req *r)
{
    if (r) {
        free(r->groups);
        free(r->stmts);
        free(r->text);
        free(r);
    }
}

/* A finished request back to the worker's spares (its small buffers kept), else freed. */
static void
requests_recycle(struct requests_local *l, struct requests_req *r)
{
    if (l && l->nspare < REQUESTS_SPARE && r->stmts_cap <= 64 && r->text_cap <= 16384) {
        free(r->groups);
        r->groups = NULL;
        r->next = l->spare;
        l->spare = r;
        l->nspare++;
        return;
    }
    requests_req_free(r);
}

uint64_t
requests_duration_us(const struct requests_req *r)
{
    return r->end_us > r->start_us ? (uint64_t)(r->end_us - r->start_us) : 0;
}

static size_t
requests_bytes(const struct requests_req *r)
{
    return sizeof *r + (size_t)r->stmts_cap * sizeof *r->stmts + r->text_cap +
           (r->groups ? REQUESTS_GROUPS_MAX * sizeof *r->groups : 0);
}

static void
requests_group_add(struct requests_req *r, const struct requests_group *g)
{
    if (!r->groups && !(r->groups = malloc(REQUESTS_GROUPS_MAX * sizeof *r->groups))) {
        r->groups_cut++;
        return;
    }
    if (r->ngroups < REQUESTS_GROUPS_MAX) {
        r->groups[r->ngroups++] = *g;
    } else {
        r->groups_cut++;
    }
}

/* a data statement's (shape, parameters), for finding duplicates */
struct requests_key {
    uint64_t digest, params;
    uint32_t idx;
};

static int
requests_key_cmp(const void *a, const void *b)
{
    const struct requests_key *x = a, *y = b;
    if (x->digest != y->digest) {
        return x->digest < y->digest ? -1 : 1;
    }
    if (x->params != y->params) {
        return x->params < y->params ? -1 : 1;
    }
    return x->idx < y->idx ? -1 : x->idx > y->idx;
}

void
requests_find_groups(struct requests_req *r, uint32_t n_plus_one_min)
{
    r->ngroups = 0;
    r->groups_cut = 0;
    free(r->groups);
    r->groups = NULL;
    /* N+1 runs: as findings.c, over the data statements that succeeded */
    uint64_t prev = 0, run_digest = 0, run_parent = 0, run_params = 0, run_total = 0;
    uint32_t run_count = 0, run_first = 0, prev_idx = 0, run_parent_idx = 0;
    for (uint32_t i = 0; i <= r->nkept; i++) {
        const struct requests_stmt *s = i < r->nkept ? &r->stmts[i] : NULL;
        if (s && (!s->candidate || s->error)) {
            continue;
        }
        if (s && s->digest == run_digest && run_count) {
            if (s->params != run_params) {
                run_count++;
                run_total += s->query_us;
                run_params = s->params;
            }
        } else {
            if (run_count >= n_plus_one_min && run_parent) {
                requests_group_add(r, &(struct requests_group){.kind = REQUESTS_N_PLUS_ONE,
                                                               .parent = run_parent,
                                                               .child = run_digest,
                                                               .parent_idx = run_parent_idx,
                                                               .first_idx = run_first,
                                                               .count = run_count,
                                                               .total_us = run_total});
            }
            if (!s) {
                break;
            }
            run_digest = s->digest;
            run_parent = prev;
            run_parent_idx = prev_idx;
            run_params = s->params;
            run_count = 1;
            run_total = s->query_us;
            run_first = i;
        }
        prev = s->digest;
        prev_idx = i;
    }
    /* duplicates: one shape with the same parameters twice or more */
    if (r->nkept < 2) {
        return;
    }
    struct requests_key small[64];
    struct requests_key *k = r->nkept <= 64 ? small : malloc(r->nkept * sizeof *k);
    if (!k) {
        return;
    }
    uint32_t n = 0;
    for (uint32_t i = 0; i < r->nkept; i++) {
        if (r->stmts[i].candidate && !r->stmts[i].error) {
            k[n++] = (struct requests_key){r->stmts[i].digest, r->stmts[i].params, i};
        }
    }
    if (n) {
        qsort(k, n, sizeof *k, requests_key_cmp);
    }
    for (uint32_t i = 0; i < n;) {
        uint32_t j = i + 1;
        uint64_t total = r->stmts[k[i].idx].query_us;
        while (j < n && k[j].digest == k[i].digest && k[j].params == k[i].params) {
            total += r->stmts[k[j].idx].query_us;
            j++;
        }
        if (j - i >= 2) {
            requests_group_add(r, &(struct requests_group){.kind = REQUESTS_DUPLICATE,
                                                           .child = k[i].digest,
                                                           .parent_idx = k[i].idx,
                                                           .first_idx = k[i + 1].idx,
                                                           .count = j - i,
                                                           .total_us = total});
        }
        i = j;
    }
    if (k != small) {
        free(k);
    }
}

/* ---- the store ---- */

struct requests *
requests_new(unsigned keep, uint32_t n_plus_one_min, struct findings_table *findings)
{
    struct requests *s = calloc(1, sizeof *s);
    if (!s) {
        return NULL;
    }
    s->keep = keep;
    s->n_plus_one_min = n_plus_one_min ? n_plus_one_min : 2;
    s->findings = findings;
    s->routes = calloc(REQUESTS_ROUTES_MAX, sizeof *s->routes);
    if (!s->routes || pthread_mutex_init(&s->mu, NULL) != 0) {
        free(s->routes);
        free(s);
        return NULL;
    }
    return s;
}

/* Drops one list's reference; frees the request with the last. Mutex held. */
static void
requests_unref(struct requests *s, struct requests_req *r, struct requests_local *l)
{
    if (r && --r->refs == 0) {
        s->bytes -= requests_bytes(r);
        requests_recycle(l, r);
    }
}

static void
requests_route_clear(struct requests *s, struct requests_rlist *rl)
{
    for (unsigned i = 0; i < rl->nlatest; i++) {
        requests_unref(s, rl->latest[(rl->head + i) % s->keep], NULL);
    }
    for (unsigned i = 0; i < rl->nslowest; i++) {
        requests_unref(s, rl->slowest[i], NULL);
    }
    free(rl->latest);
    free(rl->slowest);
    memset(rl, 0, sizeof *rl);
}

void
requests_free(struct requests *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->nroutes; i++) {
        requests_route_clear(s, &s->routes[i]);
    }
    free(s->routes);
    pthread_mutex_destroy(&s->mu);
    free(s);
}

unsigned
requests_keep(const struct requests *s)
{
    return s ? s->keep : 0;
}

/* The route's lists, made when new (evicting the route seen least recently when full); NULL
 * when out of memory. Mutex held. */
static struct requests_rlist *
requests_route_of(struct requests *s, const char *route, int64_t wall)
{
    uint64_t h = requests_hash(route);
    if (s->last_route < s->nroutes && s->routes[s->last_route].hash == h &&
        strcmp(s->routes[s->last_route].route, route) == 0) {
        return &s->routes[s->last_route];
    }
    for (size_t i = 0; i < s->nroutes; i++) {
        if (s->routes[i].hash == h && strcmp(s->routes[i].route, route) == 0) {
            s->last_route = i;
            return &s->routes[i];
        }
    }
    struct requests_rlist *rl;
    if (s->nroutes < REQUESTS_ROUTES_MAX) {
        rl = &s->routes[s->nroutes];
    } else {
        rl = &s->routes[0];
        for (size_t i = 1; i < s->nroutes; i++) {
            if (s->routes[i].last_wall_us < rl->last_wall_us) {
                rl = &s->routes[i];
            }
        }
        s->evicted += rl->nlatest; /* (a request in both lists is in latest too) */
        requests_route_clear(s, rl);
    }
    rl->latest = calloc(s->keep, sizeof *rl->latest);
    rl->slowest = calloc(s->keep, sizeof *rl->slowest);
    if (!rl->latest || !rl->slowest) {
        free(rl->latest);
        free(rl->slowest);
        memset(rl, 0, sizeof *rl); /* an evicted slot stays nameless and empty */
        return NULL;
    }
    requests_copy(rl->route, sizeof rl->route, route);
    rl->hash = h;
    rl->last_wall_us = wall;
    if (rl == &s->routes[s->nroutes]) {
        s->nroutes++;
    }
    return rl;
}

/* Pushes out the oldest request of the latest lists that is not among its route's slowest,
 * else the oldest of any; false when nothing is left. Mutex held. */
static bool
requests_evict_oldest(struct requests *s)
{
    struct requests_rlist *best = NULL;
    for (int pass = 0; pass < 2 && !best; pass++) {
        int64_t oldest = 0;
        for (size_t i = 0; i < s->nroutes; i++) {
            struct requests_rlist *rl = &s->routes[i];
            if (!rl->nlatest) {
                continue;
            }
            struct requests_req *r = rl->latest[rl->head];
            if (pass == 0 && r->refs > 1) {
                continue;
            }
            if (!best || r->start_wall_us < oldest) {
                best = rl;
                oldest = r->start_wall_us;
            }
        }
    }
    if (!best) {
        return false;
    }
    struct requests_req *r = best->latest[best->head];
    best->head = (best->head + 1) % s->keep;
    best->nlatest--;
    for (unsigned i = 0; i < best->nslowest; i++) {
        if (best->slowest[i] == r) {
            best->slowest[i] = best->slowest[--best->nslowest];
            requests_unref(s, r, NULL);
            break;
        }
    }
    requests_unref(s, r, NULL);
    s->evicted++;
    return true;
}

/* The shortest of a full slowest list. */
static void
requests_slow_min(struct requests_rlist *rl)
{
    unsigned min = 0;
    for (unsigned i = 1; i < rl->nslowest; i++) {
        if (rl->slowest[i]->dur_us < rl->slowest[min]->dur_us) {
            min = i;
        }
    }
    rl->slow_min = min;
}

/* Takes r into its route's lists. Mutex held; r's groups already found. */
static void
requests_insert(struct requests *s, struct requests_req *r, struct requests_local *l)
{
    const char *route = r->route[0] ? r->route : REQUESTS_NO_ROUTE;
    struct requests_rlist *rl = requests_route_of(s, route, r->start_wall_us);
    if (!rl) {
        s->dropped++;
        requests_recycle(l, r);
        return;
    }
    r->id = ++s->next_id;
    r->refs = 1;
    r->next = NULL;
    s->recorded++;
    s->bytes += requests_bytes(r);
    if (r->start_wall_us > rl->last_wall_us) {
        rl->last_wall_us = r->start_wall_us;
    }
    /* latest: a ring; the oldest leaves when it is full */
    if (rl->nlatest == s->keep) {
        struct requests_req *old = rl->latest[rl->head];
        rl->head = (rl->head + 1) % s->keep;
        rl->nlatest--;
        requests_unref(s, old, l);
    }
    rl->latest[(rl->head + rl->nlatest) % s->keep] = r;
    rl->nlatest++;
    /* slowest: the K longest (the shortest of them known while the list is full) */
    if (rl->nslowest < s->keep) {
        rl->slowest[rl->nslowest++] = r;
        r->refs++;
        if (rl->nslowest == s->keep) {
            requests_slow_min(rl);
        }
    } else if (r->dur_us > rl->slowest[rl->slow_min]->dur_us) {
        requests_unref(s, rl->slowest[rl->slow_min], l);
        rl->slowest[rl->slow_min] = r;
        r->refs++;
        requests_slow_min(rl);
    }
    while (s->bytes > REQUESTS_MEM_MAX && requests_evict_oldest(s)) {
    }
}

struct requests_local *
requests_local_new(struct requests *s)
{
    struct requests_local *l = calloc(1, sizeof *l);
    if (l) {
        l->shared = s;
    }
    return l;
}

/* The N+1 groups' statements as the findings' examples (findings.h). */
static void
requests_give_examples(struct requests *s, const struct requests_req *r)
{
    if (!s->findings) {
        return;
    }
    for (uint32_t g = 0; g < r->ngroups; g++) {
        const struct requests_group *gr = &r->groups[g];
        if (gr->kind != REQUESTS_N_PLUS_ONE) {
            continue;
        }
        const struct requests_stmt *p = &r->stmts[gr->parent_idx];
        const struct requests_stmt *c = &r->stmts[gr->first_idx];
        findings_table_examples(s->findings, gr->parent, gr->child, r->text + p->text_off,
                                p->text_len, r->text + c->text_off, c->text_len, r->route);
    }
}

/* The worker's requests into the store. Mutex held. */
static void
requests_local_merge_locked(struct requests_local *l)
{
    struct requests *s = l->shared;
    for (struct requests_req *r = l->head, *next; r; r = next) {
        next = r->next;
        requests_insert(s, r, l);
    }
    s->dropped += l->dropped;
    l->head = l->tail = NULL;
    l->n = 0;
    l->dropped = 0;
}

void
requests_local_merge(struct requests_local *l)
{
    if (!l->head && !l->dropped) {
        return;
    }
    pthread_mutex_lock(&l->shared->mu);
    requests_local_merge_locked(l);
    pthread_mutex_unlock(&l->shared->mu);
}

void
requests_local_free(struct requests_local *l)
{
    if (l) {
        requests_local_merge(l);
        while (l->spare) {
            struct requests_req *r = l->spare;
            l->spare = r->next;
            requests_req_free(r);
        }
        free(l);
    }
}

void
requests_local_add(struct requests_local *l, struct requests_req *r)
{
    if (!r) {
        return;
    }
    struct requests *s = l->shared;
    if (s->keep && l->n >= REQUESTS_LOCAL_MAX && pthread_mutex_trylock(&s->mu) == 0) {
        requests_local_merge_locked(l); /* full: merged now when the mutex is free */
        pthread_mutex_unlock(&s->mu);
    }
    if (!s->keep || l->n >= REQUESTS_LOCAL_MAX) {
        l->dropped += s->keep != 0;
        requests_recycle(l, r);
        return;
    }
    /* its groups, and the N+1 findings' examples, now: the merge only links it in */
    r->dur_us = requests_duration_us(r);
    requests_find_groups(r, s->n_plus_one_min);
    requests_give_examples(s, r);
    r->next = NULL;
    if (l->tail) {
        l->tail->next = r;
    } else {
        l->head = r;
    }
    l->tail = r;
    l->n++;
}

/* ---- readers ---- */

static void
requests_summarise(const struct requests_req *r, struct requests_summary *o)
{
    *o = (struct requests_summary){.id = r->id,
                                   .start_wall_us = r->start_wall_us,
                                   .duration_us = requests_duration_us(r),
                                   .db_us = r->db_us,
                                   .nstmts = r->nstmts,
                                   .nkept = r->nkept};
    requests_copy(o->route, sizeof o->route, r->route[0] ? r->route : REQUESTS_NO_ROUTE);
    requests_copy(o->trace_id, sizeof o->trace_id, r->trace_id);
    for (uint32_t g = 0; g < r->ngroups; g++) {
        if (r->groups[g].kind == REQUESTS_N_PLUS_ONE) {
            o->n_plus_one++;
        } else {
            o->duplicates++;
        }
    }
}

static int
requests_summary_cmp(const void *a, const void *b)
{
    const struct requests_summary *x = a, *y = b;
    if (x->duration_us != y->duration_us) {
        return x->duration_us < y->duration_us ? 1 : -1;
    }
    return x->id < y->id ? 1 : -1;
}

static int
requests_route_cmp(const void *a, const void *b)
{
    const struct requests_route *x = a, *y = b;
    uint64_t dx = x->n ? x->r[0].duration_us : 0, dy = y->n ? y->r[0].duration_us : 0;
    if (dx != dy) {
        return dx < dy ? 1 : -1;
    }
    return strcmp(x->route, y->route);
}

/* Copies a route's requests (each once) into out->r. Mutex held. False when out of memory. */
static bool
requests_route_copy(const struct requests *s, const struct requests_rlist *rl,
                    struct requests_route *out)
{
    out->r = calloc((size_t)rl->nlatest + rl->nslowest + 1, sizeof *out->r);
    if (!out->r) {
        return false;
    }
    requests_copy(out->route, sizeof out->route, rl->route);
    for (unsigned i = 0; i < rl->nlatest; i++) {
        const struct requests_req *r = rl->latest[(rl->head + i) % s->keep];
        requests_summarise(r, &out->r[out->n]);
        out->r[out->n++].latest = true;
    }
    for (unsigned i = 0; i < rl->nslowest; i++) {
        const struct requests_req *r = rl->slowest[i];
        size_t k = 0;
        while (k < out->n && out->r[k].id != r->id) {
            k++;
        }
        if (k == out->n) {
            requests_summarise(r, &out->r[out->n++]);
        }
        out->r[k].slowest = true;
    }
    qsort(out->r, out->n, sizeof *out->r, requests_summary_cmp);
    return true;
}

bool
requests_list(struct requests *s, const char *route, struct requests_listing *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    out->keep = s->keep;
    out->recorded = s->recorded;
    out->evicted = s->evicted;
    out->dropped = s->dropped;
    out->routes = calloc(s->nroutes + 1, sizeof *out->routes);
    bool ok = out->routes != NULL;
    for (size_t i = 0; ok && i < s->nroutes; i++) {
        const struct requests_rlist *rl = &s->routes[i];
        if (!rl->route[0] || (route && strcmp(route, rl->route) != 0)) {
            continue;
        }
        ok = requests_route_copy(s, rl, &out->routes[out->n]);
        if (ok) {
            out->n++;
        }
    }
    pthread_mutex_unlock(&s->mu);
    if (!ok) {
        requests_listing_free(out);
        return false;
    }
    if (out->n) {
        qsort(out->routes, out->n, sizeof *out->routes, requests_route_cmp);
    }
    return true;
}

void
requests_listing_free(struct requests_listing *l)
{
    for (size_t i = 0; l->routes && i < l->n; i++) {
        free(l->routes[i].r);
    }
    free(l->routes);
    memset(l, 0, sizeof *l);
}

static struct requests_req *
requests_clone(const struct requests_req *r)
{
    struct requests_req *c = malloc(sizeof *c);
    if (!c) {
        return NULL;
    }
    *c = *r;
    c->next = NULL;
    c->stmts = r->nkept ? malloc(r->nkept * sizeof *c->stmts) : NULL;
    c->text = r->text_len ? malloc(r->text_len) : NULL;
    c->groups = r->ngroups ? malloc(r->ngroups * sizeof *c->groups) : NULL;
    if ((r->nkept && !c->stmts) || (r->text_len && !c->text) || (r->ngroups && !c->groups)) {
        requests_req_free(c);
        return NULL;
    }
    if (r->nkept) {
        memcpy(c->stmts, r->stmts, r->nkept * sizeof *c->stmts);
    }
    if (r->text_len) {
        memcpy(c->text, r->text, r->text_len);
    }
    if (r->ngroups) {
        memcpy(c->groups, r->groups, r->ngroups * sizeof *c->groups);
    }
    c->stmts_cap = r->nkept;
    c->text_cap = r->text_len;
    return c;
}

struct requests_req *
requests_get(struct requests *s, uint64_t id)
{
    struct requests_req *found = NULL;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->nroutes && !found; i++) {
        const struct requests_rlist *rl = &s->routes[i];
        for (unsigned k = 0; k < rl->nlatest && !found; k++) {
            if (rl->latest[(rl->head + k) % s->keep]->id == id) {
                found = rl->latest[(rl->head + k) % s->keep];
            }
        }
        for (unsigned k = 0; k < rl->nslowest && !found; k++) {
            if (rl->slowest[k]->id == id) {
                found = rl->slowest[k];
            }
        }
    }
    struct requests_req *c = found ? requests_clone(found) : NULL;
    pthread_mutex_unlock(&s->mu);
    return c;
}
