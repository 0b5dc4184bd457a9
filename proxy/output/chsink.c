/*
 * chsink.c - the ClickHouse sink (chsink.h): per-thread row buffers, a bounded queue of
 * batches, and the thread that posts them to ClickHouse with retries and backoff.
 */
#include "proxy/output/chsink.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clickhouse/chclient.h"
#include "common/jsonw.h"
#include "proxy/account/routes.h"

#define CHSINK_CHUNK_MAX   (256u << 10) /* a thread's buffer goes to the queue at this size */
#define CHSINK_CHUNK_MIN   4096u
#define CHSINK_POST_MAX    (4u << 20) /* bytes per INSERT, at most (one batch may be bigger) */
#define CHSINK_BACKOFF_MIN 250000     /* us */
#define CHSINK_BACKOFF_MAX 5000000    /* us */
#define CHSINK_TIMEOUT_US  10000000   /* one request, at most */
#define CHSINK_DROP_REPORT 60000000   /* us between two "dropped" lines */

/* Rows, whole: "{...}\n" each. */
struct chsink_batch {
    struct chsink_batch *next;
    char *data;
    size_t len;
    uint64_t rows;
};

/* One writing thread's rows (its mutex is taken by the thread for each row and by the sink
 * thread to take the rows). */
struct chsink_local {
    pthread_mutex_t mu;
    char *buf;
    size_t len, cap;
    uint64_t rows;
    struct chsink_local *next; /* in chsink.locals */
};

struct chsink {
    struct churl url;
    char display[300]; /* the address without credentials, for messages */
    char *password;
    char instance_json[300]; /* ,"instance":"..." (JSON-escaped once) */
    size_t instance_json_len;
    size_t limit, chunk;
    int64_t interval_us;
    bool create;
    int ttl_days;
    char insert_sql[300];
    char instance_sql[600]; /* the instance as a quoted SQL string */

    pthread_mutex_t reg_mu; /* locals */
    struct chsink_local *locals;

    pthread_mutex_t mu; /* the queue and the flags below */
    pthread_cond_t cond;
    struct chsink_batch *head, *tail;
    size_t queued_bytes;
    uint64_t queued_rows;
    bool kick; /* a chunk is ready: send before the interval ends */
    bool stopping;
    int64_t deadline_us; /* when stopping: CLOCK_MONOTONIC us */

    _Atomic uint64_t sent, dropped, errors, inflight_rows;

    pthread_t thread;
};

static _Atomic(struct chsink *) chsink_active;
static _Thread_local struct chsink_local *chsink_tl;
static _Thread_local struct jsonw_mem chsink_extra; /* the added members, reused */

static int64_t
chsink_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

bool
chsink_on(void)
{
    return atomic_load_explicit(&chsink_active, memory_order_acquire) != NULL;
}

/* ---- the queue (callers hold s->mu unless said otherwise) ---- */

static void
chsink_batch_free(struct chsink_batch *b)
{
    if (b) {
        free(b->data);
        free(b);
    }
}

/* Appends a batch, dropping the oldest ones while the queue holds more than the limit (the
 * new batch itself always stays). Takes s->mu. Frees what it dropped outside the lock. */
static void
chsink_enqueue(struct chsink *s, struct chsink_batch *b)
{
    struct chsink_batch *gone = NULL;
    uint64_t gone_rows = 0;
    pthread_mutex_lock(&s->mu);
    b->next = NULL;
    if (s->tail) {
        s->tail->next = b;
    } else {
        s->head = b;
    }
    s->tail = b;
    s->queued_bytes += b->len;
    s->queued_rows += b->rows;
    while (s->queued_bytes > s->limit && s->head != b) {
        struct chsink_batch *old = s->head;
        s->head = old->next;
        s->queued_bytes -= old->len;
        s->queued_rows -= old->rows;
        gone_rows += old->rows;
        old->next = gone;
        gone = old;
    }
    if (b->len >= s->chunk) {
        s->kick = true;
        pthread_cond_signal(&s->cond);
    }
    pthread_mutex_unlock(&s->mu);
    if (gone_rows) {
        atomic_fetch_add_explicit(&s->dropped, gone_rows, memory_order_relaxed);
    }
    while (gone) {
        struct chsink_batch *n = gone->next;
        chsink_batch_free(gone);
        gone = n;
    }
}

/* A thread's rows as a batch (l->mu held); NULL when it has none or out of memory (the rows
 * are then dropped and counted). */
static struct chsink_batch *
chsink_take_local(struct chsink *s, struct chsink_local *l)
{
    if (!l->len) {
        return NULL;
    }
    struct chsink_batch *b = malloc(sizeof *b);
    if (!b) {
        atomic_fetch_add_explicit(&s->dropped, l->rows, memory_order_relaxed);
        l->len = 0;
        l->rows = 0;
        return NULL;
    }
    if (l->len < l->cap) { /* the room a chunk was given back (in place: no copy) */
        char *fit = realloc(l->buf, l->len);
        if (fit) {
            l->buf = fit;
        }
    }
    *b = (struct chsink_batch){.data = l->buf, .len = l->len, .rows = l->rows};
    l->buf = NULL;
    l->len = l->cap = 0;
    l->rows = 0;
    return b;
}

/* ---- the writers' side ---- */

static void
chsink_jstr_tag(struct jsonw *w, const char *k, const char *v, const struct filter *f, bool redact)
{
    size_t n = strlen(v);
    if (redact && n && filter_hides_value(f, v, n)) {
        v = "?";
        n = 1;
    }
    jsonw_kstrn(w, k, v, n);
}

/* Appends key (already JSON, with its ',' and ':') and true or false at out + o; the new
 * length. out has room for the four flags. */
static size_t
chsink_flag(char *out, size_t o, const char *key, bool v)
{
    size_t k = strlen(key);
    memcpy(out + o, key, k);
    o += k;
    memcpy(out + o, v ? "true" : "false", v ? 4 : 5);
    return o + (v ? 4 : 5);
}

/* The members the sink adds, as an object "{...}" into chsink_extra. */
static bool
chsink_extra_members(const struct filter *f, bool redact, const struct rec *r)
{
    struct jsonw w;
    chsink_extra.len = 0;
    chsink_extra.failed = false;
    jsonw_init(&w, jsonw_mem_sink, &chsink_extra, 0);
    jsonw_object_begin(&w);
    char route[ROUTES_NAME_MAX] = "";
    const char *controller = "";
    if (r->tags) {
        routes_name(r->tags, route);
        for (unsigned i = 0; i < r->tags->n; i++) {
            if (strcmp(r->tags->tag[i].key, "controller") == 0) {
                controller = r->tags->tag[i].value;
            }
        }
    }
    chsink_jstr_tag(&w, "route", route, f, redact);
    chsink_jstr_tag(&w, "controller", controller, f, redact);
    const struct plan *p = r->explain.plan;
    unsigned fl = p ? p->flags : 0;
    /* the four flags as one raw run of members after the first key: four jsonw_kbool calls
     * were about 900 instructions a row */
    char flags[96];
    size_t fn = chsink_flag(flags, 0, "", fl & PLAN_FULL_SCAN);
    fn = chsink_flag(flags, fn, ",\"full_join\":", fl & PLAN_FULL_JOIN);
    fn = chsink_flag(flags, fn, ",\"tmp_table\":", fl & PLAN_TMP_TABLE);
    fn = chsink_flag(flags, fn, ",\"filesort\":", fl & PLAN_FILESORT);
    jsonw_key(&w, "full_scan");
    jsonw_raw(&w, flags, fn);
    jsonw_key(&w, "plan_summary");
    if (p) { /* "table:type:key" per row, as one string */
        char sum[512];
        size_t o = 0;
        for (size_t i = 0; i < p->nrows && o + 1 < sizeof sum; i++) {
            const char *t = p->rows[i].col[PLAN_TABLE], *ty = p->rows[i].col[PLAN_TYPE];
            const char *k = p->rows[i].col[PLAN_KEY];
            int m = snprintf(sum + o, sizeof sum - o, "%s%s:%s:%s", i ? " " : "", t ? t : "NULL",
                             ty ? ty : "NULL", k ? k : "NULL");
            if (m < 0) {
                break;
            }
            o += (size_t)m;
        }
        if (o >= sizeof sum) {
            o = sizeof sum - 1;
        }
        jsonw_stringn(&w, sum, o);
    } else {
        jsonw_stringn(&w, "", 0);
    }
    if (r->trx_ended) {
        jsonw_ksecs(&w, "transaction_duration", (int64_t)r->trx_us);
        jsonw_kuint(&w, "transaction_statements", r->trx_stmts);
    } else {
        static const char nulls[] = "null,\"transaction_statements\":null";
        jsonw_key(&w, "transaction_duration");
        jsonw_raw(&w, nulls, sizeof nulls - 1);
    }
    jsonw_object_end(&w);
    jsonw_flush(&w);
    return !chsink_extra.failed && chsink_extra.len >= 2;
}

static struct chsink_local *
chsink_local_get(struct chsink *s)
{
    if (chsink_tl) {
        return chsink_tl;
    }
    struct chsink_local *l = calloc(1, sizeof *l);
    if (!l) {
        return NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_lock(&s->reg_mu);
    l->next = s->locals;
    s->locals = l;
    pthread_mutex_unlock(&s->reg_mu);
    chsink_tl = l;
    return l;
}

void
chsink_write(const char *obj, size_t n, const struct filter *f, bool redact, const struct rec *r)
{
    struct chsink *s = atomic_load_explicit(&chsink_active, memory_order_acquire);
    if (!s) {
        return;
    }
    struct chsink_local *l = chsink_local_get(s);
    if (!l || !chsink_extra_members(f, redact, r)) {
        atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
        return;
    }
    /* obj (without '}') + ',' + instance + the extra members without their '{' + "\n" */
    size_t need = n + s->instance_json_len + chsink_extra.len + 1;
    struct chsink_batch *full = NULL;
    pthread_mutex_lock(&l->mu);
    if (l->len + need > l->cap) {
        /* a chunk's room at once (and some for the row that crosses it), rather than
         * doubling up to it: each doubling copied what the buffer held */
        size_t cap = l->cap ? l->cap : s->chunk + need + 16384;
        while (cap < l->len + need) {
            cap *= 2;
        }
        char *nb = realloc(l->buf, cap);
        if (!nb) {
            pthread_mutex_unlock(&l->mu);
            atomic_fetch_add_explicit(&s->dropped, 1, memory_order_relaxed);
            return;
        }
        l->buf = nb;
        l->cap = cap;
    }
    char *p = l->buf + l->len;
    memcpy(p, obj, n);
    p += n;
    memcpy(p, s->instance_json, s->instance_json_len);
    p += s->instance_json_len;
    *p++ = ',';
    memcpy(p, chsink_extra.data + 1, chsink_extra.len - 1);
    p += chsink_extra.len - 1;
    *p++ = '\n';
    l->len = (size_t)(p - l->buf);
    l->rows++;
    if (l->len >= s->chunk) {
        full = chsink_take_local(s, l);
    }
    pthread_mutex_unlock(&l->mu);
    if (full) {
        chsink_enqueue(s, full);
    }
}

void
chsink_thread_end(void)
{
    struct chsink_local *l = chsink_tl;
    struct chsink *s = atomic_load_explicit(&chsink_active, memory_order_acquire);
    jsonw_mem_free(&chsink_extra);
    if (!l) {
        return;
    }
    chsink_tl = NULL;
    struct chsink_batch *b = NULL;
    if (s) {
        pthread_mutex_lock(&s->reg_mu);
        for (struct chsink_local **pp = &s->locals; *pp; pp = &(*pp)->next) {
            if (*pp == l) {
                *pp = l->next;
                break;
            }
        }
        pthread_mutex_unlock(&s->reg_mu);
        pthread_mutex_lock(&l->mu);
        b = chsink_take_local(s, l);
        pthread_mutex_unlock(&l->mu);
        if (b) {
            chsink_enqueue(s, b);
        }
    }
    pthread_mutex_destroy(&l->mu);
    free(l->buf);
    free(l);
}

/* ---- the sink thread ---- */

/* Every thread's rows into the queue. */
static void
chsink_collect(struct chsink *s)
{
    struct chsink_batch *got = NULL, **tail = &got;
    pthread_mutex_lock(&s->reg_mu);
    for (struct chsink_local *l = s->locals; l; l = l->next) {
        pthread_mutex_lock(&l->mu);
        struct chsink_batch *b = chsink_take_local(s, l);
        pthread_mutex_unlock(&l->mu);
        if (b) {
            *tail = b;
            tail = &b->next;
        }
    }
    pthread_mutex_unlock(&s->reg_mu);
    while (got) {
        struct chsink_batch *n = got->next;
        chsink_enqueue(s, got);
        got = n;
    }
}

/* Takes batches from the head, up to CHSINK_POST_MAX bytes (at least one), as one batch;
 * NULL when the queue is empty. */
static struct chsink_batch *
chsink_pop(struct chsink *s)
{
    pthread_mutex_lock(&s->mu);
    struct chsink_batch *first = s->head;
    if (!first) {
        pthread_mutex_unlock(&s->mu);
        return NULL;
    }
    size_t len = 0;
    uint64_t rows = 0;
    struct chsink_batch *end = first;
    int nb = 0;
    for (struct chsink_batch *b = first; b && (nb == 0 || len + b->len <= CHSINK_POST_MAX);
         b = b->next) {
        len += b->len;
        rows += b->rows;
        end = b->next;
        nb++;
    }
    char *data = NULL;
    struct chsink_batch *m = NULL;
    if (nb > 1) {
        data = malloc(len);
        m = data ? malloc(sizeof *m) : NULL;
        if (!m) { /* out of memory: the first batch alone */
            free(data);
            data = NULL;
            nb = 1;
            end = first->next;
            len = first->len;
            rows = first->rows;
        }
    }
    s->head = end;
    if (!end) {
        s->tail = NULL;
    }
    s->queued_bytes -= len;
    s->queued_rows -= rows;
    atomic_store_explicit(&s->inflight_rows, rows, memory_order_relaxed);
    pthread_mutex_unlock(&s->mu);
    if (nb == 1) {
        first->next = NULL;
        return first;
    }
    *m = (struct chsink_batch){.data = data, .len = 0, .rows = rows};
    for (struct chsink_batch *b = first; b != end;) {
        struct chsink_batch *n = b->next;
        memcpy(data + m->len, b->data, b->len);
        m->len += b->len;
        chsink_batch_free(b);
        b = n;
    }
    return m;
}

/* A batch that failed goes back to the head (it stays the oldest). */
static void
chsink_push_front(struct chsink *s, struct chsink_batch *b)
{
    pthread_mutex_lock(&s->mu);
    b->next = s->head;
    s->head = b;
    if (!s->tail) {
        s->tail = b;
    }
    s->queued_bytes += b->len;
    s->queued_rows += b->rows;
    atomic_store_explicit(&s->inflight_rows, 0, memory_order_relaxed);
    pthread_mutex_unlock(&s->mu); /* it is the oldest: the first to go when new rows overflow */
}

/* ClickHouse's codes for input it cannot parse: the batch will never pass. */
static bool
chsink_bad_data(int code)
{
    static const int codes[] = {6, 26, 27, 32, 38, 41, 53, 69, 70, 72, 73, 117, 130, 131};
    for (size_t i = 0; i < sizeof codes / sizeof codes[0]; i++) {
        if (code == codes[i]) {
            return true;
        }
    }
    return false;
}

struct chsink_run {
    struct chclient *cl;
    bool failing;       /* an error episode was reported */
    bool schema_ok;     /* --sink-create done */
    int64_t backoff_us; /* current backoff, 0 when none */
    int64_t next_try;   /* monotonic us */
    uint64_t dropped_said;
    int64_t dropped_said_at;
    bool bad_data_said;
    /* A batch whose INSERT failed with an unknown outcome (chclient_result.unknown): kept out
     * of the queue (never dropped as the oldest, which would count stored rows as dropped)
     * until a query says whether ClickHouse stored it. */
    struct chsink_batch *unknown;
    int64_t ttl_next; /* --sink-ttl-days: when to look for old days next */
};

static void
chsink_fail(struct chsink *s, struct chsink_run *run, const struct chclient_result *res)
{

    atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
    if (!run->failing) {
        fprintf(stderr, "slowtap: sink %s: %s; keeping rows (up to %zu bytes) and retrying\n",
                s->display, res->err[0] ? res->err : "error", s->limit);
        run->failing = true;
    }
    run->backoff_us = run->backoff_us ? run->backoff_us * 2 : CHSINK_BACKOFF_MIN;
    if (run->backoff_us > CHSINK_BACKOFF_MAX) {
        run->backoff_us = CHSINK_BACKOFF_MAX;
    }
    run->next_try = chsink_now() + run->backoff_us;
}

static void
chsink_ok(struct chsink *s, struct chsink_run *run)
{
    if (run->failing) {
        fprintf(stderr, "slowtap: sink %s: recovered\n", s->display);
        run->failing = false;
    }
    run->backoff_us = 0;
    run->next_try = 0;
}

static long
chsink_timeout_ms(struct chsink *s, int64_t now)
{
    int64_t t = CHSINK_TIMEOUT_US;
    pthread_mutex_lock(&s->mu);
    if (s->stopping && s->deadline_us - now < t) {
        t = s->deadline_us - now;
    }
    pthread_mutex_unlock(&s->mu);
    return t > 1000 ? (long)(t / 1000) : 1;
}

/* --sink-create: the database, table, aggregate and view, each IF NOT EXISTS. */
static bool
chsink_create(struct chsink *s, struct chsink_run *run)
{
    char *sql[CHSCHEMA_NSTMTS];
    if (!chschema_sql(s->url.database, sql)) {
        return false;
    }
    bool ok = true;
    for (int i = 0; i < CHSCHEMA_NSTMTS && ok; i++) {
        struct chclient_result res;
        ok = chclient_post(run->cl, sql[i], NULL, 0, chsink_timeout_ms(s, chsink_now()), false,
                           &res);
        if (!ok) {
            chsink_fail(s, run, &res);
        }
    }
    chschema_free(sql);
    return ok;
}

/* The value of "key": at the start of a row (up to the next ',' or '"'), into out. */
static bool
chsink_row_field(const char *row, size_t len, const char *key, char *out, size_t cap)
{
    const char *p = memmem(row, len, key, strlen(key));
    if (!p) {
        return false;
    }
    p += strlen(key);
    size_t n = 0;
    while (p + n < row + len && p[n] != ',' && p[n] != '"' && p[n] != '}' && n + 1 < cap) {
        char c = p[n];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || c == '.' || c == 'e' ||
              c == 'E' || c == '-' || c == '+')) {
            return false;
        }
        out[n] = c;
        n++;
    }
    out[n] = '\0';
    return n > 0;
}

/*
 * Whether ClickHouse stored a batch whose INSERT ended without an answer: an INSERT of one
 * block is atomic per partition, so its first row tells (looked up by instance, digest, time,
 * thread and ts). 1 stored, 0 not, -1 unknown still (the query failed).
 */
static int
chsink_stored(struct chsink *s, struct chsink_run *run, const struct chsink_batch *b)
{
    const char *nl = memchr(b->data, '\n', b->len);
    size_t len = nl ? (size_t)(nl - b->data) : b->len;
    char ts[40], tid[24], digest[24];
    /* the object's first members are time, ts, thread_id; digest is a key only at the top */
    if (!chsink_row_field(b->data, len, ",\"ts\":", ts, sizeof ts) ||
        !chsink_row_field(b->data, len, ",\"thread_id\":", tid, sizeof tid) ||
        !chsink_row_field(b->data, len, ",\"digest\":\"", digest, sizeof digest)) {
        return 0; /* cannot tell: send it (at worst a duplicate) */
    }
    char q[1200];
    snprintf(q, sizeof q,
             "SELECT count() FROM %s." CHSCHEMA_TABLE " WHERE digest = '%s' AND time = "
             "toDateTime(toUInt32(floor(%s))) AND instance = %s AND thread_id = %s AND abs(ts - "
             "%s) < 0.0000005",
             s->url.database, digest, ts, s->instance_sql, tid, ts);
    struct chclient_result res;
    if (!chclient_post(run->cl, q, NULL, 0, chsink_timeout_ms(s, chsink_now()), true, &res)) {
        chsink_fail(s, run, &res);
        chclient_result_free(&res);
        return res.status ? 0 : -1; /* an error answer (no such table): not stored */
    }
    int n = res.body ? atoi(res.body) : 0;
    chclient_result_free(&res);
    return n > 0;
}

/* Sends one batch. False when the sink should wait (backoff) before the next. */
static bool
chsink_send(struct chsink *s, struct chsink_run *run)
{
    if (s->create && !run->schema_ok) {
        if (!chsink_create(s, run)) {
            return false;
        }
        run->schema_ok = true;
    }
    struct chsink_batch *b = run->unknown;
    run->unknown = NULL;
    if (b) {
        int stored = chsink_stored(s, run, b);
        if (stored < 0) {
            run->unknown = b; /* ask again after the backoff */
            return false;
        }
        if (stored > 0) {
            atomic_fetch_add_explicit(&s->sent, b->rows, memory_order_relaxed);
            atomic_store_explicit(&s->inflight_rows, 0, memory_order_relaxed);
            chsink_batch_free(b);
            chsink_ok(s, run);
            return true;
        }
    } else {
        b = chsink_pop(s);
    }
    if (!b) {
        return false;
    }
    struct chclient_result res;
    if (chclient_post(run->cl, s->insert_sql, b->data, b->len, chsink_timeout_ms(s, chsink_now()),
                      false, &res)) {
        atomic_fetch_add_explicit(&s->sent, b->rows, memory_order_relaxed);
        atomic_store_explicit(&s->inflight_rows, 0, memory_order_relaxed);
        chsink_batch_free(b);
        chsink_ok(s, run);
        return true;
    }
    if (res.status && chsink_bad_data(res.ch_code)) {
        atomic_fetch_add_explicit(&s->errors, 1, memory_order_relaxed);
        atomic_fetch_add_explicit(&s->dropped, b->rows, memory_order_relaxed);
        atomic_store_explicit(&s->inflight_rows, 0, memory_order_relaxed);
        if (!run->bad_data_said) {
            fprintf(stderr,
                    "slowtap: sink %s: ClickHouse refused a batch of %llu rows (%s); "
                    "dropped\n",
                    s->display, (unsigned long long)b->rows, res.err);
            run->bad_data_said = true;
        }
        chsink_batch_free(b);
        return true;
    }
    if (res.unknown) {
        run->unknown = b; /* in flight still: inflight_rows keeps counting it */
    } else {
        chsink_push_front(s, b);
    }
    chsink_fail(s, run, &res);
    if (res.status == 404 || res.ch_code == 60 || res.ch_code == 81) {
        run->schema_ok = false; /* the table or database went away: create again */
    }
    return false;
}

#define CHSINK_TTL_EVERY 3600000000LL /* us between two looks for old days */

/* --sink-ttl-days (ClickHouse 18.16 has no TTL clause): drops the day partitions of the
 * table and the aggregate older than N days. Quietly retried at the next look on failure. */
static void
chsink_expire(struct chsink *s, struct chsink_run *run)
{
    int64_t now = chsink_now();
    if (s->ttl_days <= 0 || now < run->ttl_next || run->failing) {
        return;
    }
    run->ttl_next = now + CHSINK_TTL_EVERY;
    char q[512];
    snprintf(q, sizeof q,
             "SELECT DISTINCT table, partition FROM system.parts WHERE database = '%s' AND "
             "table IN ('" CHSCHEMA_TABLE "', '" CHSCHEMA_AGG "') AND active AND "
             "toDate(partition) < today() - %d FORMAT TabSeparated",
             s->url.database, s->ttl_days);
    struct chclient_result res;
    if (!chclient_post(run->cl, q, NULL, 0, chsink_timeout_ms(s, now), true, &res)) {
        chclient_result_free(&res);
        run->ttl_next = now + 60000000; /* try again in a minute */
        return;
    }
    for (char *line = res.body; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl) {
            *nl = '\0';
        }
        char *tab = strchr(line, '\t');
        bool ok = tab && strlen(tab + 1) == 10 &&
                  (strncmp(line, CHSCHEMA_TABLE "\t", sizeof CHSCHEMA_TABLE) == 0 ||
                   strncmp(line, CHSCHEMA_AGG "\t", sizeof CHSCHEMA_AGG) == 0);
        for (const char *c = tab ? tab + 1 : ""; ok && *c; c++) {
            ok = (*c >= '0' && *c <= '9') || *c == '-';
        }
        if (ok) {
            *tab = '\0';
            char alter[256];
            struct chclient_result r2;
            snprintf(alter, sizeof alter, "ALTER TABLE %s.%s DROP PARTITION '%s'", s->url.database,
                     line, tab + 1);
            chclient_post(run->cl, alter, NULL, 0, chsink_timeout_ms(s, chsink_now()), false, &r2);
        }
        line = nl ? nl + 1 : NULL;
    }
    chclient_result_free(&res);
}

static void
chsink_say_dropped(struct chsink *s, struct chsink_run *run, bool now)
{
    uint64_t d = atomic_load_explicit(&s->dropped, memory_order_relaxed);
    int64_t t = chsink_now();
    if (d > run->dropped_said &&
        (now || !run->dropped_said_at || t - run->dropped_said_at >= CHSINK_DROP_REPORT)) {
        fprintf(stderr,
                "slowtap: sink %s: dropped %llu rows (--sink-buffer %zu bytes full while "
                "ClickHouse was away, or refused); %llu since start\n",
                s->display, (unsigned long long)(d - run->dropped_said), s->limit,
                (unsigned long long)d);
        run->dropped_said = d;
        run->dropped_said_at = t;
    }
}

static void *
chsink_main(void *arg)
{
    struct chsink *s = arg;
    struct chsink_run run = {.cl = chclient_new(&s->url, s->password)};
    if (!run.cl) {
        fprintf(stderr, "slowtap: sink %s: cannot start the HTTP client; rows are dropped\n",
                s->display);
    }
    bool queue_only = false; /* after a send with batches left: send those, collect nothing */
    for (;;) {
        pthread_mutex_lock(&s->mu);
        bool stop_seen = s->stopping;
        pthread_mutex_unlock(&s->mu);
        /* the threads' rows are taken at the interval, at a kick and when stopping, not
         * after every POST: otherwise each POST would carry only the rows written while the
         * previous one was in flight, back to back (a POST and a ClickHouse part per few
         * rows) */
        if (!queue_only || stop_seen) {
            chsink_collect(s);
        }
        queue_only = false;
        int64_t now = chsink_now();
        pthread_mutex_lock(&s->mu);
        bool stopping = s->stopping;
        int64_t deadline = s->deadline_us;
        bool empty = s->head == NULL && !run.unknown;
        pthread_mutex_unlock(&s->mu);
        if (stopping && (empty || now >= deadline || !run.cl)) {
            break;
        }
        bool more = false;
        if (!empty && run.cl && now >= run.next_try) {
            more = chsink_send(s, &run);
        }
        chsink_say_dropped(s, &run, false);
        if (!stopping && run.cl) {
            chsink_expire(s, &run);
        }
        if (more) {
            pthread_mutex_lock(&s->mu);
            bool left = s->head != NULL;
            pthread_mutex_unlock(&s->mu);
            if (left) {
                queue_only = true;
                continue; /* the queue holds more: send on */
            }
        }
        /* wait: the interval, a kick (a chunk is ready), stop, or the end of a backoff */
        int64_t wake = chsink_now() + s->interval_us;
        if (run.next_try && run.next_try < wake) {
            wake = run.next_try;
        }
        pthread_mutex_lock(&s->mu);
        if (s->stopping && s->deadline_us < wake) {
            wake = s->deadline_us;
        }
        bool backoff = run.next_try > chsink_now();
        while (!(s->kick && !backoff) && !(s->stopping && !stopping) && chsink_now() < wake) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            int64_t left = wake - chsink_now();
            if (left <= 0) {
                break;
            }
            ts.tv_sec += left / 1000000;
            ts.tv_nsec += (long)(left % 1000000) * 1000;
            if (ts.tv_nsec >= 1000000000) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000;
            }
            pthread_cond_timedwait(&s->cond, &s->mu, &ts);
        }
        if (!backoff) {
            s->kick = false;
        }
        pthread_mutex_unlock(&s->mu);
    }
    /* what is left when stopping: counted and said once */
    chsink_collect(s);
    uint64_t left = 0;
    if (run.unknown) {
        left += run.unknown->rows;
        chsink_batch_free(run.unknown);
        run.unknown = NULL;
        atomic_store_explicit(&s->inflight_rows, 0, memory_order_relaxed);
    }
    pthread_mutex_lock(&s->mu);
    while (s->head) {
        struct chsink_batch *b = s->head;
        s->head = b->next;
        left += b->rows;
        chsink_batch_free(b);
    }
    s->tail = NULL;
    s->queued_bytes = 0;
    s->queued_rows = 0;
    pthread_mutex_unlock(&s->mu);
    if (left) {
        atomic_fetch_add_explicit(&s->dropped, left, memory_order_relaxed);
        run.dropped_said += left;
        fprintf(stderr, "slowtap: sink %s: %llu rows not sent at stop (--shutdown-timeout)\n",
                s->display, (unsigned long long)left);
    }
    chsink_say_dropped(s, &run, true);
    chclient_free(run.cl);
    return NULL;
}

/* ---- start and stop ---- */

struct chsink *
chsink_start(const struct conf *c, FILE *err)
{
    struct chsink *s = calloc(1, sizeof *s);
    const char *why;
    if (!s) {
        fprintf(err, "slowtap: --sink: out of memory\n");
        return NULL;
    }
    if (!churl_parse(c->sink, &s->url, &why)) {
        fprintf(err, "slowtap: --sink: %s\n", why);
        free(s);
        return NULL;
    }
    churl_display(&s->url, s->display, sizeof s->display);
    if (c->sink_password) {
        s->password = strdup(c->sink_password);
    }
    struct jsonw_mem m = {0};
    struct jsonw w;
    jsonw_init(&w, jsonw_mem_sink, &m, 0);
    jsonw_object_begin(&w);
    jsonw_kstr(&w, "instance", c->instance ? c->instance : "");
    jsonw_object_end(&w);
    jsonw_flush(&w);
    if (m.failed || !m.data || m.len - 1 >= sizeof s->instance_json ||
        (c->sink_password && !s->password)) {
        fprintf(err, "slowtap: --instance: too long (or out of memory)\n");
        jsonw_mem_free(&m);
        free(s->password);
        free(s);
        return NULL;
    }
    /* {"instance":"x"} -> ,"instance":"x" */
    s->instance_json[0] = ',';
    memcpy(s->instance_json + 1, m.data + 1, m.len - 2);
    s->instance_json_len = m.len - 1;
    jsonw_mem_free(&m);
    {
        const char *in = c->instance ? c->instance : "";
        size_t o = 0;
        s->instance_sql[o++] = '\'';
        for (; *in && o + 4 < sizeof s->instance_sql; in++) {
            if (*in == '\'' || *in == '\\') {
                s->instance_sql[o++] = '\\';
            }
            s->instance_sql[o++] = *in;
        }
        s->instance_sql[o++] = '\'';
        s->instance_sql[o] = '\0';
    }
    s->limit = (size_t)c->sink_buffer;
    s->chunk = s->limit / 8;
    if (s->chunk > CHSINK_CHUNK_MAX) {
        s->chunk = CHSINK_CHUNK_MAX;
    }
    if (s->chunk < CHSINK_CHUNK_MIN) {
        s->chunk = CHSINK_CHUNK_MIN;
    }
    s->interval_us = c->sink_interval_us > 0 ? c->sink_interval_us : 1000000;
    s->create = c->sink_create;
    s->ttl_days = c->sink_ttl_days;
    snprintf(s->insert_sql, sizeof s->insert_sql,
             "INSERT INTO %s." CHSCHEMA_TABLE " FORMAT JSONEachRow", s->url.database);
    pthread_mutex_init(&s->reg_mu, NULL);
    pthread_mutex_init(&s->mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&s->cond, &ca);
    pthread_condattr_destroy(&ca);
    chclient_init(); /* here, before the sink thread: curl_global_init is not for threads */
    atomic_store(&chsink_active, s);
    if (pthread_create(&s->thread, NULL, chsink_main, s) != 0) {
        atomic_store(&chsink_active, NULL);
        fprintf(err, "slowtap: --sink: cannot start its thread\n");
        free(s->password);
        free(s);
        return NULL;
    }
    return s;
}

void
chsink_stop(struct chsink *s, int64_t timeout_us)
{
    if (!s) {
        return;
    }
    chsink_thread_end(); /* the calling thread's own rows, if it wrote any */
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    s->deadline_us = chsink_now() + (timeout_us > 0 ? timeout_us : 0);
    pthread_cond_signal(&s->cond);
    pthread_mutex_unlock(&s->mu);
    pthread_join(s->thread, NULL);
    atomic_store(&chsink_active, NULL);
    /* threads that never ended (none should remain) */
    while (s->locals) {
        struct chsink_local *l = s->locals;
        s->locals = l->next;
        free(l->buf);
        pthread_mutex_destroy(&l->mu);
        free(l);
    }
    pthread_mutex_destroy(&s->reg_mu);
    pthread_mutex_destroy(&s->mu);
    pthread_cond_destroy(&s->cond);
    if (s->password) {
        memset(s->password, 0, strlen(s->password));
        free(s->password);
    }
    free(s);
}

bool
chsink_get_stats(struct chsink_stats *out)
{
    *out = (struct chsink_stats){0};
    struct chsink *s = atomic_load_explicit(&chsink_active, memory_order_acquire);
    if (!s) {
        return false;
    }
    out->sent = atomic_load_explicit(&s->sent, memory_order_relaxed);
    out->dropped = atomic_load_explicit(&s->dropped, memory_order_relaxed);
    out->errors = atomic_load_explicit(&s->errors, memory_order_relaxed);
    pthread_mutex_lock(&s->mu);
    out->queued = s->queued_rows;
    pthread_mutex_unlock(&s->mu);
    out->queued += atomic_load_explicit(&s->inflight_rows, memory_order_relaxed);
    return true;
}

/* ---- slowtap sink-schema ---- */

int
chsink_schema_main(int argc, char **argv, FILE *out, FILE *err)
{
    const char *db = "slowtap";
    bool ch = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "clickhouse") == 0) {
            ch = true;
        } else if (strcmp(argv[i], "--database") == 0 && i + 1 < argc) {
            db = argv[++i];
        } else if (strncmp(argv[i], "--database=", 11) == 0) {
            db = argv[i] + 11;
        } else if (strcmp(argv[i], "--help") == 0) {
            fprintf(out, "Usage: slowtap sink-schema clickhouse [--database NAME]\n"
                         "Prints the CREATE statements of the --sink tables (database NAME,\n"
                         "default slowtap): the statements table, its per-minute aggregate and\n"
                         "the materialized view that fills it. --sink-create runs them.\n");
            return 0;
        } else {
            fprintf(err, "slowtap: sink-schema: unknown argument '%s'\n", argv[i]);
            return 2;
        }
    }
    if (!ch) {
        fprintf(err, "slowtap: sink-schema: expected 'clickhouse'\n");
        return 2;
    }
    struct churl u;
    const char *why;
    char url[CHCLIENT_NAME_MAX + 32];
    snprintf(url, sizeof url, "clickhouse://h/%s", db);
    if (!db[0] || strlen(db) >= CHCLIENT_NAME_MAX || !churl_parse(url, &u, &why)) {
        fprintf(err, "slowtap: sink-schema: --database: only letters, digits and _\n");
        return 2;
    }
    char *sql[CHSCHEMA_NSTMTS];
    if (!chschema_sql(db, sql)) {
        fprintf(err, "slowtap: sink-schema: out of memory\n");
        return 1;
    }
    for (int i = 0; i < CHSCHEMA_NSTMTS; i++) {
        fprintf(out, "%s;\n\n", sql[i]);
    }
    chschema_free(sql);
    return 0;
}
