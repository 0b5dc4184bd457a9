/*
 * sessreg.c - the registry of sessions readable across threads (see sessreg.h): a mutex-
 * protected list of entries, each published by its owner under a sequence counter.
 */
#include "proxy/account/sessreg.h"

#include "explain/lockwait.h"
#include "common/strcopy.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sessreg_entry {
    struct sessreg_entry *prev, *next;
    _Atomic uint32_t seq; /* odd while the owner writes */
    struct sessreg_view v;
    unsigned head; /* next slot of v.stmts to write (ring) */
};

static pthread_mutex_t reg_mu = PTHREAD_MUTEX_INITIALIZER;
static struct sessreg_entry *reg_head;

struct sessreg_entry *
sessreg_add(uint32_t thread_id, const char *user, const char *host)
{
    struct sessreg_entry *e = calloc(1, sizeof *e);
    if (!e) {
        return NULL;
    }
    e->v.thread_id = thread_id;
    strcopy_z(e->v.user, sizeof e->v.user, user);
    strcopy_z(e->v.host, sizeof e->v.host, host);
    pthread_mutex_lock(&reg_mu);
    e->next = reg_head;
    if (reg_head) {
        reg_head->prev = e;
    }
    reg_head = e;
    pthread_mutex_unlock(&reg_mu);
    return e;
}

void
sessreg_remove(struct sessreg_entry *e)
{
    if (!e) {
        return;
    }
    pthread_mutex_lock(&reg_mu);
    if (e->prev) {
        e->prev->next = e->next;
    } else {
        reg_head = e->next;
    }
    if (e->next) {
        e->next->prev = e->prev;
    }
    pthread_mutex_unlock(&reg_mu);
    free(e);
}

static void
write_begin(struct sessreg_entry *e)
{
    atomic_fetch_add_explicit(&e->seq, 1, memory_order_relaxed);
    atomic_thread_fence(memory_order_release);
}

static void
write_end(struct sessreg_entry *e)
{
    atomic_thread_fence(memory_order_release);
    atomic_fetch_add_explicit(&e->seq, 1, memory_order_relaxed);
}

void
sessreg_trx_begin(struct sessreg_entry *e, int64_t wall_start)
{
    write_begin(e);
    e->v.trx_wall_start = wall_start;
    e->v.trx_stmts = 0;
    e->v.nstmts = 0;
    e->head = 0;
    write_end(e);
}

void
sessreg_stmt(struct sessreg_entry *e, const char *text, size_t len, int64_t wall_start,
             uint64_t dur_us)
{
    write_begin(e);
    struct sessreg_stmt *st = &e->v.stmts[e->head];
    st->wall_start = wall_start;
    st->dur_us = dur_us;
    st->cut = len > SESSREG_TEXT_MAX;
    st->len = (uint16_t)(st->cut ? SESSREG_TEXT_MAX : len);
    memcpy(st->text, text, st->len);
    e->head = (e->head + 1) % SESSREG_STMTS;
    if (e->v.nstmts < SESSREG_STMTS) {
        e->v.nstmts++;
    }
    e->v.trx_stmts++;
    e->v.last_end_wall = wall_start + (int64_t)dur_us;
    write_end(e);
}

void
sessreg_trx_end(struct sessreg_entry *e, int64_t last_end_wall)
{
    write_begin(e);
    e->v.trx_wall_start = 0;
    e->v.last_end_wall = last_end_wall;
    write_end(e);
}

/* Copies e out consistently (the owner may be writing), statements oldest first. */
static bool
read_entry(const struct sessreg_entry *e, struct sessreg_view *out)
{
    static struct sessreg_stmt ring[SESSREG_STMTS]; /* under reg_mu */
    for (int attempt = 0; attempt < 100; attempt++) {
        uint32_t s1 = atomic_load_explicit(&e->seq, memory_order_acquire);
        if (s1 & 1) {
            continue;
        }
        memcpy(out, &e->v, sizeof *out);
        unsigned head = e->head;
        memcpy(ring, e->v.stmts, sizeof ring);
        atomic_thread_fence(memory_order_acquire);
        if (atomic_load_explicit(&e->seq, memory_order_relaxed) != s1) {
            continue;
        }
        /* the ring's oldest entry is at head once it is full */
        unsigned n = out->nstmts, first = n < SESSREG_STMTS ? 0 : head % SESSREG_STMTS;
        for (unsigned i = 0; i < n; i++) {
            out->stmts[i] = ring[(first + i) % SESSREG_STMTS];
        }
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        out->snapshot_wall = (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
        return true;
    }
    return false;
}

struct sessreg_view *
sessreg_snapshot(void *arg, uint32_t thread_id)
{
    (void)arg;
    struct sessreg_view *v = malloc(sizeof *v);
    if (v && !sessreg_lookup(thread_id, v)) {
        free(v);
        v = NULL;
    }
    return v;
}

int
sessreg_touches(const struct sessreg_view *v, const char *db, const char *table)
{
    if (!v) {
        return LOCKWAIT_TOUCH_UNKNOWN;
    }
    if (!v->trx_wall_start) {
        return LOCKWAIT_TOUCH_NO_TRX;
    }
    bool all = v->trx_stmts <= v->nstmts;
    for (unsigned i = 0; i < v->nstmts; i++) {
        if (lockwait_text_names(v->stmts[i].text, v->stmts[i].len, db, table)) {
            return LOCKWAIT_TOUCH_YES;
        }
        all = all && !v->stmts[i].cut;
    }
    return all ? LOCKWAIT_TOUCH_NO : LOCKWAIT_TOUCH_MAYBE;
}

bool
sessreg_lookup(uint32_t thread_id, struct sessreg_view *out)
{
    bool found = false;
    pthread_mutex_lock(&reg_mu);
    for (struct sessreg_entry *e = reg_head; e; e = e->next) {
        if (e->v.thread_id == thread_id) {
            found = read_entry(e, out);
            break;
        }
    }
    pthread_mutex_unlock(&reg_mu);
    return found;
}
