/*
 * pstmt.c - a client connection's prepared statements (a small chained hash table).
 */
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_fingerprint.h"
#include "proxy/relay/pstmt.h"
#include "proxy/account/routes.h"

#include "protocol/proto_tags.h"

#define FP_MAX 1024

static void
pstmt_free(struct pstmt *st)
{
    if (!st) {
        return;
    }
    pstmt_long_data_reset(st);
    free(st->long_data);
    free(st->types);
    free(st->sql);
    free(st->fingerprint);
    free(st->route);
    free(st->tags);
    free(st->ph_offs);
    free(st);
}

void
pstmt_remove(struct pstmt_table *t, uint32_t id)
{
    if (!t->nbuckets) {
        return;
    }
    struct pstmt **pp = &t->buckets[id % t->nbuckets];
    for (; *pp; pp = &(*pp)->next) {
        if ((*pp)->id == id) {
            struct pstmt *st = *pp;
            *pp = st->next;
            pstmt_free(st);
            t->count--;
            return;
        }
    }
}

struct pstmt *
pstmt_add(struct pstmt_table *t, uint32_t id, const char *sql, size_t len, unsigned sqlmode,
          uint16_t nparams, uint16_t ncols)
{
    if (!t->nbuckets) {
        t->buckets = calloc(64, sizeof *t->buckets);
        if (!t->buckets) {
            return NULL;
        }
        t->nbuckets = 64;
    }
    pstmt_remove(t, id);
    struct pstmt *st = calloc(1, sizeof *st);
    if (!st) {
        return NULL;
    }
    char fp[FP_MAX];
    st->id = id;
    st->sql = malloc(len + 1);
    st->types = calloc(nparams ? nparams : 1, sizeof *st->types);
    st->long_data = calloc(nparams ? nparams : 1, sizeof *st->long_data);
    struct proto_stmt_info info;
    proto_stmt_analyze(sql, len, sqlmode, fp, sizeof fp, NULL, 0, &info); /* one pass */
    st->digest = info.digest;
    st->fingerprint = strdup(fp);
    if (!st->sql || !st->types || !st->long_data || !st->fingerprint) {
        pstmt_free(st);
        return NULL;
    }
    memcpy(st->sql, sql, len);
    st->sql[len] = '\0';
    st->sql_len = len;
    st->explainable = proto_stmt_explainable(info.kind);
    if (memmem(sql, len, "/*", 2)) { /* an execute inherits its PREPARE text's tags */
        struct proto_tags tags;
        char route[ROUTES_NAME_MAX];
        if (proto_tags_parse(sql, len, sqlmode, &tags) > 0) {
            st->tags = malloc(sizeof tags);
            if (st->tags) {
                *st->tags = tags;
            }
            if (routes_name(&tags, route)) {
                st->route = strdup(route);
            }
        }
    }
    /* where the parameters go, so that no execute lexes the text again: as many as the
     * server counted, in one pass (a second only if the lexer finds more) */
    unsigned cap = nparams ? nparams : 1;
    st->ph_offs = malloc(cap * sizeof *st->ph_offs);
    if (st->ph_offs) {
        st->nph = proto_placeholders(sql, len, sqlmode, st->ph_offs, cap);
        if (st->nph > cap) {
            uint32_t *more = realloc(st->ph_offs, st->nph * sizeof *more);
            if (more) {
                st->ph_offs = more;
                proto_placeholders(sql, len, sqlmode, more, st->nph);
            } else {
                st->nph = cap; /* the rest stay `?` in the log, as past the last literal */
            }
        }
    }
    if (!st->ph_offs) {
        pstmt_free(st);
        return NULL;
    }
    st->nparams = nparams;
    st->ncols = ncols;
    size_t b = id % t->nbuckets;
    st->next = t->buckets[b];
    t->buckets[b] = st;
    t->count++;
    t->last_id = id;
    return st;
}

struct pstmt *
pstmt_find(struct pstmt_table *t, uint32_t id)
{
    if (!t->nbuckets) {
        return NULL;
    }
    if (id == 0xFFFFFFFFu) {
        id = t->last_id;
    }
    for (struct pstmt *st = t->buckets[id % t->nbuckets]; st; st = st->next) {
        if (st->id == id) {
            return st;
        }
    }
    return NULL;
}

void
pstmt_clear(struct pstmt_table *t)
{
    for (size_t i = 0; i < t->nbuckets; i++) {
        struct pstmt *st = t->buckets[i];
        while (st) {
            struct pstmt *next = st->next;
            pstmt_free(st);
            st = next;
        }
    }
    free(t->buckets);
    memset(t, 0, sizeof *t);
}

/* The long data buffers are ours (heap); proto_long_data only exposes them as const. */
static void *
ld_data_mut(struct proto_long_data *ld)
{
    union {
        const uint8_t *c;
        void *m;
    } u = {ld->data};
    return u.m;
}

void
pstmt_long_data(struct pstmt *st, uint16_t param, const uint8_t *data, size_t len)
{
    if (param >= st->nparams) {
        return;
    }
    struct proto_long_data *ld = &st->long_data[param];
    if (!ld->present) {
        ld->present = true;
        ld->len = 0;
        ld->total = 0;
        ld->data = NULL;
    }
    size_t keep = ld->len < PSTMT_LONG_DATA_KEEP ? PSTMT_LONG_DATA_KEEP - ld->len : 0;
    if (keep > len) {
        keep = len;
    }
    if (keep) {
        uint8_t *buf = realloc(ld_data_mut(ld), ld->len + keep);
        if (buf) {
            memcpy(buf + ld->len, data, keep);
            ld->data = buf;
            ld->len += keep;
        }
    }
    ld->total += len;
}

void
pstmt_long_data_reset(struct pstmt *st)
{
    for (uint16_t i = 0; i < st->nparams; i++) {
        free(ld_data_mut(&st->long_data[i]));
        memset(&st->long_data[i], 0, sizeof st->long_data[i]);
    }
}

void
pstmt_note_types(struct pstmt *st, const uint8_t *p, size_t len)
{
    /* 0x17, stmt_id(4), flags(1), iterations(4), null bitmap, new_params_bound(1), types. */
    size_t off = 1 + 4 + 1 + 4 + ((size_t)st->nparams + 7) / 8;
    if (st->nparams == 0 || len < off + 1 || p[off] != 1) {
        return;
    }
    off++;
    if (len < off + 2u * st->nparams) {
        return;
    }
    for (uint16_t i = 0; i < st->nparams; i++) {
        st->types[i].type = p[off + 2u * i];
        st->types[i].is_unsigned = (p[off + 2u * i + 1] & 0x80) != 0;
    }
}
