/*
 * stats.c - per-statement-shape statistics: lock-free per-worker tables merged into one shared
 * table under a mutex.
 *
 * Both tables are open-addressing hash indexes (linear probing, keyed by digest) over entry
 * arrays allocated up front, so neither recording nor merging allocates. The shared table
 * keeps a min-heap of its entries by total time: the eviction victim (smallest total_us) is
 * the root, and since totals only grow, a merge into an entry is a sift-down (O(log n)).
 */
#include "proxy/account/stats.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_fingerprint.h"
#include "protocol/proto_shapename.h"
#include "common/strcopy.h"

struct stats_entry {
    uint64_t digest;
    uint64_t count, errors, no_index;
    uint64_t total_us, min_us, max_us;
    uint64_t queue_us;
    uint64_t rows_sent, rows_affected;
    int64_t first_seen_us, last_seen_us;
    char fingerprint[STATS_FINGERPRINT_MAX];
    char name[PROTO_SHAPE_NAME_MAX]; /* its short name (proto_shapename.h) */
    char example[STATS_EXAMPLE_MAX]; /* of the slowest execution seen */
    char schema[STATS_SCHEMA_MAX];   /* the schema it ran in */
    bool example_explainable;        /* it may be explained as it is (stats_sample) */
    struct hist hist;
};

struct stats_shared_entry {
    struct stats_entry e;
    struct plan *plan;
    unsigned plan_flags;
    bool has_plan;
    bool noindex_queued; /* queued once for stats_take_noindex */
    uint32_t heap_pos;
    char *advice; /* index advice of the plan (heap), NULL when none */
    struct stats_server server;
    struct stats_lockwait lock;
};

/* An open-addressing index: slot holds entry index + 1, 0 = empty. */
struct stats_index {
    uint32_t *slot;
    size_t mask;
};

struct stats {
    pthread_mutex_t mu;
    size_t max, n;
    struct stats_shared_entry *e;
    struct stats_index ix;
    uint32_t *heap; /* entry indices, min-heap by e.total_us */
    uint64_t evicted;
    uint64_t overflow_samples;             /* samples merged as the overflow pseudo-shape */
    uint64_t noindex[STATS_NOINDEX_QUEUE]; /* digests queued for stats_take_noindex */
    size_t nnoindex;
};

struct stats_local {
    struct stats *s;
    size_t cap, n;
    struct stats_entry *e;
    struct stats_index ix;
    struct stats_entry overflow; /* samples of new shapes that found the table full */
    bool has_overflow;
};

#define STATS_OVERFLOW_FP "(other shapes: a worker's statistics table was full)"

/* ---- helpers ---------------------------------------------------------------------------- */

static size_t
stats_home(uint64_t digest, size_t mask)
{
    uint64_t h = digest ^ (digest >> 33);
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    return (size_t)h & mask;
}

static bool
stats_index_init(struct stats_index *ix, size_t entries)
{
    size_t cap = 16;
    while (cap < entries * 2) {
        cap <<= 1;
    }
    ix->slot = calloc(cap, sizeof *ix->slot);
    ix->mask = cap - 1;
    return ix->slot != NULL;
}

/* Adds src's figures into dst (dst already initialised, maybe with count 0). */
static void
stats_entry_add(struct stats_entry *dst, const struct stats_entry *src)
{
    if (src->count == 0) {
        return;
    }
    if (dst->count == 0 || src->min_us < dst->min_us) {
        dst->min_us = src->min_us;
    }
    if (dst->count == 0 || src->first_seen_us < dst->first_seen_us) {
        dst->first_seen_us = src->first_seen_us;
    }
    if (dst->count == 0 || src->max_us > dst->max_us) {
        memcpy(dst->example, src->example, sizeof dst->example);
        memcpy(dst->schema, src->schema, sizeof dst->schema);
        dst->example_explainable = src->example_explainable;
    }
    if (src->max_us > dst->max_us) {
        dst->max_us = src->max_us;
    }
    if (src->last_seen_us > dst->last_seen_us) {
        dst->last_seen_us = src->last_seen_us;
    }
    if (dst->fingerprint[0] == '\0') {
        memcpy(dst->fingerprint, src->fingerprint, sizeof dst->fingerprint);
    }
    if (dst->name[0] == '\0') {
        memcpy(dst->name, src->name, sizeof dst->name);
    }
    dst->count += src->count;
    dst->errors += src->errors;
    dst->no_index += src->no_index;
    dst->total_us += src->total_us;
    dst->queue_us += src->queue_us;
    dst->rows_sent += src->rows_sent;
    dst->rows_affected += src->rows_affected;
    hist_merge(&dst->hist, &src->hist);
}

static void
stats_entry_reset(struct stats_entry *e, uint64_t digest)
{
    e->digest = digest;
    e->count = e->errors = e->no_index = 0;
    e->total_us = e->min_us = e->max_us = 0;
    e->queue_us = 0;
    e->rows_sent = e->rows_affected = 0;
    e->first_seen_us = e->last_seen_us = 0;
    e->fingerprint[0] = '\0';
    e->name[0] = '\0';
    e->example[0] = '\0';
    e->schema[0] = '\0';
    e->example_explainable = false;
    memset(&e->hist, 0, sizeof e->hist);
}

/* Adds one sample to e (whose fingerprint is already set). */
static void
stats_entry_sample(struct stats_entry *e, const struct stats_sample *sm, bool copy_example)
{
    if (e->count == 0 || sm->query_us < e->min_us) {
        e->min_us = sm->query_us;
    }
    if (e->count == 0 || sm->wall_us < e->first_seen_us) {
        e->first_seen_us = sm->wall_us;
    }
    if (copy_example && (e->count == 0 || sm->query_us > e->max_us)) {
        strcopy(e->example, sizeof e->example, sm->example, sm->example_len);
        const char *db = sm->schema ? sm->schema : "";
        strcopy(e->schema, sizeof e->schema, db, strlen(db));
        /* a cut example or a schema name that does not fit is no statement to explain */
        e->example_explainable = sm->example_explainable && sm->example_len < sizeof e->example &&
                                 strlen(db) < sizeof e->schema;
    }
    if (e->count == 0 || sm->query_us > e->max_us) {
        e->max_us = sm->query_us;
    }
    if (sm->wall_us > e->last_seen_us) {
        e->last_seen_us = sm->wall_us;
    }
    e->count++;
    e->errors += sm->error;
    e->no_index += sm->no_index_used;
    e->total_us += sm->query_us;
    e->queue_us += sm->queue_us;
    e->rows_sent += sm->rows_sent;
    e->rows_affected += sm->rows_affected;
    hist_add(&e->hist, sm->query_us);
}

/* ---- the shared table (callers hold s->mu) ----------------------------------------------- */

static uint32_t *
stats_shared_slot(struct stats *s, uint64_t digest)
{
    size_t i = stats_home(digest, s->ix.mask);
    while (s->ix.slot[i] && s->e[s->ix.slot[i] - 1].e.digest != digest) {
        i = (i + 1) & s->ix.mask;
    }
    return &s->ix.slot[i]; /* the entry's slot, or the empty slot where it would go */
}

static void
stats_heap_swap(struct stats *s, uint32_t a, uint32_t b)
{
    uint32_t x = s->heap[a], y = s->heap[b];
    s->heap[a] = y;
    s->heap[b] = x;
    s->e[y].heap_pos = a;
    s->e[x].heap_pos = b;
}

static void
stats_heap_down(struct stats *s, uint32_t pos)
{
    for (;;) {
        uint32_t l = 2 * pos + 1, r = l + 1, m = pos;
        if (l < s->n && s->e[s->heap[l]].e.total_us < s->e[s->heap[m]].e.total_us) {
            m = l;
        }
        if (r < s->n && s->e[s->heap[r]].e.total_us < s->e[s->heap[m]].e.total_us) {
            m = r;
        }
        if (m == pos) {
            return;
        }
        stats_heap_swap(s, pos, m);
        pos = m;
    }
}

static void
stats_heap_up(struct stats *s, uint32_t pos)
{
    while (pos > 0) {
        uint32_t parent = (pos - 1) / 2;
        if (s->e[s->heap[parent]].e.total_us <= s->e[s->heap[pos]].e.total_us) {
            return;
        }
        stats_heap_swap(s, pos, parent);
        pos = parent;
    }
}

/* Removes `digest` from the index (backward-shift deletion: no tombstones). */
static void
stats_shared_unindex(struct stats *s, uint64_t digest)
{
    size_t mask = s->ix.mask;
    uint32_t *slot = stats_shared_slot(s, digest);
    if (!*slot) {
        return;
    }
    size_t i = (size_t)(slot - s->ix.slot), j = i;
    for (;;) {
        j = (j + 1) & mask;
        if (!s->ix.slot[j]) {
            break;
        }
        size_t k = stats_home(s->e[s->ix.slot[j] - 1].e.digest, mask);
        /* the entry at j may move to i unless its home lies cyclically in (i, j] */
        bool in_range = (i <= j) ? (i < k && k <= j) : (i < k || k <= j);
        if (!in_range) {
            s->ix.slot[i] = s->ix.slot[j];
            i = j;
        }
    }
    s->ix.slot[i] = 0;
}

/*
 * The entry for digest, created (count 0) when missing; when the table is full, the entry with
 * the smallest total time is evicted to make room (and its plan freed).
 */
static struct stats_shared_entry *
stats_shared_get(struct stats *s, uint64_t digest)
{
    uint32_t *slot = stats_shared_slot(s, digest);
    if (*slot) {
        return &s->e[*slot - 1];
    }
    uint32_t idx;
    if (s->n < s->max) {
        idx = (uint32_t)s->n;
        s->heap[s->n] = idx;
        s->e[idx].heap_pos = (uint32_t)s->n;
        s->n++;
    } else {
        idx = s->heap[0];
        struct stats_shared_entry *v = &s->e[idx];
        stats_shared_unindex(s, v->e.digest);
        plan_free(v->plan);
        free(v->advice);
        s->evicted++;
        slot = stats_shared_slot(s, digest); /* the index changed */
    }
    struct stats_shared_entry *ne = &s->e[idx];
    stats_entry_reset(&ne->e, digest);
    ne->plan = NULL;
    ne->advice = NULL;
    memset(&ne->server, 0, sizeof ne->server);
    memset(&ne->lock, 0, sizeof ne->lock);
    ne->plan_flags = 0;
    ne->has_plan = false;
    ne->noindex_queued = false;
    *slot = idx + 1;
    stats_heap_up(s, ne->heap_pos); /* total 0: moves to the root */
    return ne;
}

static void
stats_shared_add(struct stats *s, const struct stats_entry *src)
{
    struct stats_shared_entry *e = stats_shared_get(s, src->digest);
    stats_entry_add(&e->e, src);
    stats_heap_down(s, e->heap_pos);
    /* a shape the server said used no (good) index: its plan is wanted once, whatever each
     * statement cost (when the queue is full, a later merge queues it) */
    if (!e->noindex_queued && e->e.no_index > 0 && e->e.example_explainable && !e->has_plan &&
        s->nnoindex < STATS_NOINDEX_QUEUE) {
        s->noindex[s->nnoindex++] = e->e.digest;
        e->noindex_queued = true;
    }
}

/* ---- public ----------------------------------------------------------------------------- */

struct stats *
stats_new(int max_digests)
{
    struct stats *s = calloc(1, sizeof *s);
    if (!s) {
        return NULL;
    }
    s->max = max_digests > 0 ? (size_t)max_digests : 1;
    s->e = calloc(s->max, sizeof *s->e);
    s->heap = calloc(s->max, sizeof *s->heap);
    if (!s->e || !s->heap || !stats_index_init(&s->ix, s->max)) {
        free(s->e);
        free(s->heap);
        free(s->ix.slot);
        free(s);
        return NULL;
    }
    pthread_mutex_init(&s->mu, NULL);
    return s;
}

void
stats_free(struct stats *s)
{
    if (!s) {
        return;
    }
    for (size_t i = 0; i < s->n; i++) {
        plan_free(s->e[i].plan);
        free(s->e[i].advice);
    }
    pthread_mutex_destroy(&s->mu);
    free(s->e);
    free(s->heap);
    free(s->ix.slot);
    free(s);
}

struct stats_local *
stats_local_new(struct stats *s, size_t slots)
{
    struct stats_local *l = calloc(1, sizeof *l);
    if (!l) {
        return NULL;
    }
    l->s = s;
    l->cap = slots > 0 ? slots : 1;
    l->e = calloc(l->cap, sizeof *l->e);
    if (!l->e || !stats_index_init(&l->ix, l->cap)) {
        free(l->e);
        free(l->ix.slot);
        free(l);
        return NULL;
    }
    return l;
}

void
stats_local_free(struct stats_local *l)
{
    if (!l) {
        return;
    }
    stats_local_merge(l);
    free(l->e);
    free(l->ix.slot);
    free(l);
}

/* Merges and empties the local table; the caller holds s->mu. */
static void
stats_local_merge_locked(struct stats_local *l)
{
    struct stats *s = l->s;
    for (size_t i = 0; i < l->n; i++) {
        stats_shared_add(s, &l->e[i]);
    }
    if (l->has_overflow) {
        s->overflow_samples += l->overflow.count;
        stats_shared_add(s, &l->overflow);
        l->has_overflow = false;
    }
    if (l->n) {
        memset(l->ix.slot, 0, (l->ix.mask + 1) * sizeof *l->ix.slot);
        l->n = 0;
    }
}

void
stats_local_merge(struct stats_local *l)
{
    if (l->n == 0 && !l->has_overflow) {
        return;
    }
    pthread_mutex_lock(&l->s->mu);
    stats_local_merge_locked(l);
    pthread_mutex_unlock(&l->s->mu);
}

bool
stats_local_overflowed(const struct stats_local *l)
{
    return l->has_overflow;
}

void
stats_local_record(struct stats_local *l, const struct stats_sample *sm)
{
    size_t i = stats_home(sm->digest, l->ix.mask);
    while (l->ix.slot[i] && l->e[l->ix.slot[i] - 1].digest != sm->digest) {
        i = (i + 1) & l->ix.mask;
    }
    struct stats_entry *e;
    if (l->ix.slot[i]) {
        e = &l->e[l->ix.slot[i] - 1];
    } else {
        if (l->n == l->cap) {
            /* Full: merge now if the shared table is free, else count into the overflow. */
            if (pthread_mutex_trylock(&l->s->mu) != 0) {
                if (!l->has_overflow) {
                    stats_entry_reset(&l->overflow, 0);
                    strcopy(l->overflow.fingerprint, sizeof l->overflow.fingerprint,
                            STATS_OVERFLOW_FP, strlen(STATS_OVERFLOW_FP));
                    strcopy(l->overflow.name, sizeof l->overflow.name, STATS_OVERFLOW_FP,
                            strlen(STATS_OVERFLOW_FP));
                    strcopy(l->overflow.example, sizeof l->overflow.example, STATS_OVERFLOW_FP,
                            strlen(STATS_OVERFLOW_FP));
                    l->has_overflow = true;
                }
                stats_entry_sample(&l->overflow, sm, false);
                return;
            }
            stats_local_merge_locked(l);
            pthread_mutex_unlock(&l->s->mu);
            i = stats_home(sm->digest, l->ix.mask);
        }
        e = &l->e[l->n];
        l->ix.slot[i] = (uint32_t)(l->n + 1);
        l->n++;
        stats_entry_reset(e, sm->digest);
        if (sm->fingerprint) {
            strcopy(e->fingerprint, sizeof e->fingerprint, sm->fingerprint, sm->fingerprint_len);
        } else if (sm->example) {
            proto_fingerprint(sm->example, sm->example_len, e->fingerprint, sizeof e->fingerprint);
        }
        /* Named from the whole statement (a fingerprint is cut at 1 KB, an ORM's WHERE comes
         * after its long column list); once per shape and merge interval, not per statement. */
        if (sm->example) {
            proto_shape_name(sm->example, sm->example_len, 0, e->name, sizeof e->name);
        } else {
            proto_shape_name(e->fingerprint, strlen(e->fingerprint), 0, e->name, sizeof e->name);
        }
    }
    stats_entry_sample(e, sm, true);
}

/* The shared entry that figures found after a statement (a plan, the server's figures, a
 * lock wait) attach to, with s->mu held: the digest's entry, or when the worker has not merged
 * the shape yet a count-0 entry that holds them until it does; NULL when the table is full. */
static struct stats_shared_entry *
stats_attach(struct stats *s, uint64_t digest)
{
    uint32_t *slot = stats_shared_slot(s, digest);
    if (*slot) {
        return &s->e[*slot - 1];
    }
    return s->n < s->max ? stats_shared_get(s, digest) : NULL;
}

void
stats_set_plan(struct stats *s, uint64_t digest, struct plan *p)
{
    struct plan *copy = plan_ref(p);
    if (p && !copy) {
        return; /* out of memory: keep what we have */
    }
    struct plan *old = NULL;
    pthread_mutex_lock(&s->mu);
    struct stats_shared_entry *e = stats_attach(s, digest);
    if (e) {
        old = e->plan;
        e->plan = copy;
        e->plan_flags = p ? p->flags : 0;
        e->has_plan = p != NULL;
        copy = NULL;
    }
    pthread_mutex_unlock(&s->mu);
    plan_free(copy);
    plan_free(old);
}

void
stats_set_advice(struct stats *s, uint64_t digest, const char *advice)
{
    char *copy = advice ? strdup(advice) : NULL, *old = copy;
    pthread_mutex_lock(&s->mu);
    uint32_t *slot = stats_shared_slot(s, digest);
    if (*slot) {
        struct stats_shared_entry *e = &s->e[*slot - 1];
        old = e->advice;
        e->advice = copy;
    }
    pthread_mutex_unlock(&s->mu);
    free(old);
}

void
stats_add_server(struct stats *s, uint64_t digest, const struct pfs_stmt *st)
{
    pthread_mutex_lock(&s->mu);
    struct stats_shared_entry *e = stats_attach(s, digest);
    if (e) {
        struct stats_server *v = &e->server;
        v->measured++;
        v->rows_examined += st->rows_examined;
        v->tmp_tables += st->tmp_tables;
        v->tmp_disk_tables += st->tmp_disk_tables;
        v->merge_passes += st->merge_passes;
        v->tmp_table_on_disk += st->tmp_disk_tables > 0;
        v->filesort_on_disk += st->merge_passes > 0;
    }
    pthread_mutex_unlock(&s->mu);
}

void
stats_add_lockwait(struct stats *s, uint64_t digest, const struct lockwait *lw,
                   const struct sessreg_view *blocker, const char *last, size_t last_len,
                   bool last_cut)
{
    pthread_mutex_lock(&s->mu);
    struct stats_shared_entry *e = stats_attach(s, digest);
    if (e) {
        struct stats_lockwait *v = &e->lock;
        v->count++;
        v->total_us += lw->wait_us;
        if (lw->wait_us > v->max_us) {
            v->max_us = lw->wait_us;
        }
        v->last_wall_us = lw->asked_wall_us;
        v->kind = lw->kind;
        strcopy(v->table, sizeof v->table, lw->table, strnlen(lw->table, sizeof lw->table));
        v->wait_us = lw->wait_us;
        v->blocked_by = lw->blocked_by;
        v->inferred = lw->inferred;
        v->ncands = lw->ncands < LOCKWAIT_CANDS ? lw->ncands : LOCKWAIT_CANDS;
        memcpy(v->cands, lw->cands, sizeof v->cands);
        v->has_blocker = blocker != NULL;
        v->user[0] = v->host[0] = v->last_statement[0] = '\0';
        v->trx_us = v->idle_us = -1;
        v->last_cut = false;
        if (blocker) {
            int64_t now = blocker->snapshot_wall;
            strcopy(v->user, sizeof v->user, blocker->user,
                    strnlen(blocker->user, sizeof blocker->user));
            strcopy(v->host, sizeof v->host, blocker->host,
                    strnlen(blocker->host, sizeof blocker->host));
            if (blocker->trx_wall_start && now > blocker->trx_wall_start) {
                v->trx_us = now - blocker->trx_wall_start;
            }
            if (blocker->last_end_wall && now > blocker->last_end_wall) {
                v->idle_us = now - blocker->last_end_wall;
            }
            if (last) {
                strcopy(v->last_statement, sizeof v->last_statement, last, last_len);
                v->last_cut = last_cut || last_len > sizeof v->last_statement - 1;
            }
        }
    }
    pthread_mutex_unlock(&s->mu);
}

/* Copies entry e into out (plan deep-copied); caller holds s->mu. */
static void
stats_copy_out(const struct stats_shared_entry *e, struct stats_digest *out)
{
    out->digest = e->e.digest;
    memcpy(out->fingerprint, e->e.fingerprint, sizeof out->fingerprint);
    memcpy(out->name, e->e.name, sizeof out->name);
    memcpy(out->example, e->e.example, sizeof out->example);
    memcpy(out->schema, e->e.schema, sizeof out->schema);
    out->example_explainable = e->e.example_explainable;
    out->count = e->e.count;
    out->errors = e->e.errors;
    out->no_index = e->e.no_index;
    out->total_us = e->e.total_us;
    out->queue_us = e->e.queue_us;
    out->min_us = e->e.min_us;
    out->max_us = e->e.max_us;
    out->rows_sent = e->e.rows_sent;
    out->rows_affected = e->e.rows_affected;
    out->first_seen_us = e->e.first_seen_us;
    out->last_seen_us = e->e.last_seen_us;
    out->plan_flags = e->plan_flags;
    out->has_plan = e->has_plan;
    out->plan = plan_ref(e->plan);
    out->hist = e->e.hist;
    out->index_advice = e->advice ? strdup(e->advice) : NULL;
    out->server = e->server;
    out->lock = e->lock;
}

struct stats_key {
    uint64_t key, digest;
    uint32_t idx;
};

static int
stats_key_cmp(const void *a, const void *b)
{
    const struct stats_key *x = a, *y = b;
    if (x->key != y->key) {
        return x->key < y->key ? 1 : -1; /* descending */
    }
    return x->digest < y->digest ? -1 : x->digest > y->digest;
}

bool
stats_snapshot(struct stats *s, enum stats_sort sort, size_t limit, struct stats_snapshot *out)
{
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&s->mu);
    struct stats_key *keys = malloc((s->n ? s->n : 1) * sizeof *keys);
    if (!keys) {
        pthread_mutex_unlock(&s->mu);
        return false;
    }
    size_t n = 0;
    for (size_t i = 0; i < s->n; i++) {
        const struct stats_entry *e = &s->e[i].e;
        if (e->count == 0) {
            continue; /* a plan waiting for its first merge */
        }
        uint64_t key = sort == STATS_SORT_COUNT ? e->count
                       : sort == STATS_SORT_P99 ? hist_quantile(&e->hist, 0.99)
                                                : e->total_us;
        keys[n++] = (struct stats_key){key, e->digest, (uint32_t)i};
    }
    qsort(keys, n, sizeof *keys, stats_key_cmp);
    if (limit && n > limit) {
        n = limit;
    }
    out->evicted = s->evicted;
    out->d = calloc(n ? n : 1, sizeof *out->d);
    if (!out->d) {
        pthread_mutex_unlock(&s->mu);
        free(keys);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        stats_copy_out(&s->e[keys[i].idx], &out->d[i]);
    }
    out->n = n;
    pthread_mutex_unlock(&s->mu);
    free(keys);
    return true;
}

bool
stats_get(struct stats *s, uint64_t digest, struct stats_digest *out)
{
    bool found = false;
    pthread_mutex_lock(&s->mu);
    uint32_t *slot = stats_shared_slot(s, digest);
    if (*slot && s->e[*slot - 1].e.count > 0) {
        stats_copy_out(&s->e[*slot - 1], out);
        found = true;
    }
    pthread_mutex_unlock(&s->mu);
    return found;
}

bool
stats_put(struct stats *s, const struct stats_digest *d)
{
    if (d->count == 0) {
        return false;
    }
    struct stats_entry *e = malloc(sizeof *e);
    if (!e) {
        return false;
    }
    stats_entry_reset(e, d->digest);
    memcpy(e->fingerprint, d->fingerprint, sizeof e->fingerprint);
    memcpy(e->name, d->name, sizeof e->name);
    memcpy(e->example, d->example, sizeof e->example);
    memcpy(e->schema, d->schema, sizeof e->schema);
    e->fingerprint[sizeof e->fingerprint - 1] = '\0';
    e->name[sizeof e->name - 1] = '\0';
    e->example[sizeof e->example - 1] = '\0';
    e->schema[sizeof e->schema - 1] = '\0';
    e->example_explainable = d->example_explainable;
    e->count = d->count;
    e->errors = d->errors;
    e->no_index = d->no_index;
    e->total_us = d->total_us;
    e->min_us = d->min_us;
    e->max_us = d->max_us;
    e->queue_us = d->queue_us;
    e->rows_sent = d->rows_sent;
    e->rows_affected = d->rows_affected;
    e->first_seen_us = d->first_seen_us;
    e->last_seen_us = d->last_seen_us;
    e->hist = d->hist;
    pthread_mutex_lock(&s->mu);
    stats_shared_add(s, e);
    pthread_mutex_unlock(&s->mu);
    free(e);
    return true;
}

size_t
stats_figures(struct stats *s, struct window_fig **out)
{
    *out = NULL;
    pthread_mutex_lock(&s->mu);
    struct window_fig *f = s->n ? malloc(s->n * sizeof *f) : NULL;
    size_t n = 0;
    for (size_t i = 0; f && i < s->n; i++) {
        const struct stats_entry *e = &s->e[i].e;
        if (e->count == 0) {
            continue;
        }
        struct window_fig *w = &f[n++];
        *w = (struct window_fig){.key = e->digest, .hist = e->hist};
        w->v[WINDOW_COUNT] = e->count;
        w->v[WINDOW_ERRORS] = e->errors;
        w->v[WINDOW_NO_INDEX] = e->no_index;
        w->v[WINDOW_TOTAL_US] = e->total_us;
        w->v[WINDOW_QUEUE_US] = e->queue_us;
        w->v[WINDOW_ROWS_SENT] = e->rows_sent;
        w->v[WINDOW_ROWS_AFFECTED] = e->rows_affected;
    }
    pthread_mutex_unlock(&s->mu);
    if (!f || n == 0) {
        free(f);
        return 0;
    }
    window_sort(f, n);
    *out = f;
    return n;
}

uint64_t
stats_evicted(struct stats *s)
{
    pthread_mutex_lock(&s->mu);
    uint64_t n = s->evicted;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void
stats_snapshot_free(struct stats_snapshot *snap)
{
    if (!snap || !snap->d) {
        return;
    }
    for (size_t i = 0; i < snap->n; i++) {
        stats_digest_free(&snap->d[i]);
    }
    free(snap->d);
    snap->d = NULL;
    snap->n = 0;
}

void
stats_digest_free(struct stats_digest *d)
{
    if (d) {
        plan_free(d->plan);
        d->plan = NULL;
        free(d->index_advice);
        d->index_advice = NULL;
    }
}

/* ---- shapes to explain whatever one statement cost (autoplan.h) -------------------------- */

static void
stats_explainable_copy(struct stats_explainable *out, const struct stats_entry *e)
{
    out->digest = e->digest;
    out->query_us = e->max_us;
    memcpy(out->fingerprint, e->fingerprint, sizeof out->fingerprint);
    memcpy(out->example, e->example, sizeof out->example);
    memcpy(out->schema, e->schema, sizeof out->schema);
    out->fresh = false;
}

size_t
stats_take_noindex(struct stats *s, struct stats_explainable *out, size_t max)
{
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    size_t taken = 0;
    for (; taken < s->nnoindex && n < max; taken++) {
        uint32_t *slot = stats_shared_slot(s, s->noindex[taken]);
        if (*slot) { /* else evicted meanwhile */
            stats_explainable_copy(&out[n++], &s->e[*slot - 1].e);
        }
    }
    memmove(s->noindex, s->noindex + taken, (s->nnoindex - taken) * sizeof s->noindex[0]);
    s->nnoindex -= taken;
    pthread_mutex_unlock(&s->mu);
    return n;
}

size_t
stats_top_explainable(struct stats *s, struct stats_explainable *out, size_t max)
{
    if (max == 0) {
        return 0;
    }
    uint32_t *top = malloc(max * sizeof *top); /* entry indices, most total time first */
    if (!top) {
        return 0;
    }
    size_t n = 0;
    pthread_mutex_lock(&s->mu);
    for (size_t i = 0; i < s->n; i++) {
        const struct stats_entry *e = &s->e[i].e;
        if (!e->example_explainable || e->count == 0) {
            continue;
        }
        if (n == max && e->total_us <= s->e[top[n - 1]].e.total_us) {
            continue;
        }
        size_t k = n < max ? n++ : max - 1; /* insertion: the last one drops out when full */
        while (k > 0 && s->e[top[k - 1]].e.total_us < e->total_us) {
            top[k] = top[k - 1];
            k--;
        }
        top[k] = (uint32_t)i;
    }
    for (size_t k = 0; k < n; k++) {
        stats_explainable_copy(&out[k], &s->e[top[k]].e);
    }
    pthread_mutex_unlock(&s->mu);
    free(top);
    return n;
}

bool
stats_get_explainable(struct stats *s, uint64_t digest, struct stats_explainable *out)
{
    bool ok = false;
    pthread_mutex_lock(&s->mu);
    uint32_t *slot = stats_shared_slot(s, digest);
    if (*slot && s->e[*slot - 1].e.count > 0 && s->e[*slot - 1].e.example_explainable) {
        stats_explainable_copy(out, &s->e[*slot - 1].e);
        ok = true;
    }
    pthread_mutex_unlock(&s->mu);
    return ok;
}
