/*
 * record.c - allocation and release of statement records (struct rec): a record owns its
 * strings and its plan, so it can outlive the session that filled it and cross threads.
 */
#include "proxy/account/record.h"

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Frees a string the record owns (its fields are const: nothing changes them once filled). */
static void
rec_free_own(const void *p)
{
    free((void *)(uintptr_t)p);
}

/* The record a caching thread released last, kept for its next rec_new. */
static _Thread_local struct rec *rec_spare;
static _Thread_local bool rec_caching;
static _Thread_local char *rec_scratch_buf;
static _Thread_local size_t rec_scratch_cap;

char *
rec_scratch(size_t n)
{
    if (!rec_caching) {
        return NULL;
    }
    if (n > rec_scratch_cap) {
        size_t cap = n < 4096 ? 4096 : n;
        char *b = realloc(rec_scratch_buf, cap);
        if (!b) {
            return NULL;
        }
        rec_scratch_buf = b;
        rec_scratch_cap = cap;
    }
    return rec_scratch_buf;
}

void
rec_cache_begin(void)
{
    rec_caching = true;
}

void
rec_cache_end(void)
{
    rec_caching = false;
    free(rec_spare);
    rec_spare = NULL;
    free(rec_scratch_buf);
    rec_scratch_buf = NULL;
    rec_scratch_cap = 0;
}

struct rec *
rec_new(void)
{
    struct rec *r = rec_spare;
    if (r) {
        rec_spare = NULL;
        memset(r, 0, sizeof *r);
        return r;
    }
    return calloc(1, sizeof(struct rec));
}

/* Zeroes r's bytes [from, to). */
static void
rec_zero(struct rec *r, size_t from, size_t to)
{
    memset((char *)r + from, 0, to - from);
}

#define REC_END(m) (offsetof(struct rec, m) + sizeof(((struct rec *)0)->m))

/* user, host and schema are one run of bytes: rec_new_fill skips it whole */
_Static_assert(offsetof(struct rec, host) == REC_END(user) &&
                   offsetof(struct rec, schema) == REC_END(host),
               "user, host and schema are adjacent");
_Static_assert(offsetof(struct rec, user) < offsetof(struct rec, sql_mode) &&
                   offsetof(struct rec, sql_mode) < offsetof(struct rec, err_msg) &&
                   offsetof(struct rec, err_msg) < offsetof(struct rec, explain.tmp_table) &&
                   offsetof(struct rec, explain.tmp_table) < offsetof(struct rec, explain.error),
               "rec_new_fill's skipped strings are in this order");

struct rec *
rec_new_fill(void)
{
    struct rec *r = rec_spare;
    if (!r) {
        return calloc(1, sizeof(struct rec));
    }
    rec_spare = NULL;
    /* ~1,000 of the record's ~1,950 bytes are these strings: only their first byte */
    rec_zero(r, 0, offsetof(struct rec, user));
    r->user[0] = r->host[0] = r->schema[0] = '\0';
    rec_zero(r, REC_END(schema), offsetof(struct rec, sql_mode));
    r->sql_mode[0] = '\0';
    rec_zero(r, REC_END(sql_mode), offsetof(struct rec, err_msg));
    r->err_msg[0] = '\0';
    rec_zero(r, REC_END(err_msg), offsetof(struct rec, explain.tmp_table));
    r->explain.tmp_table[0] = '\0';
    rec_zero(r, REC_END(explain.tmp_table), offsetof(struct rec, explain.error));
    r->explain.error[0] = '\0';
    rec_zero(r, REC_END(explain.error), sizeof(struct rec));
    return r;
}

void
rec_free(struct rec *r)
{
    if (!r) {
        return;
    }
    if (!(r->lent & REC_LENT_SQL)) {
        rec_free_own(r->sql);
    }
    if (!(r->lent & REC_LENT_PARAMS)) {
        free(r->params);
    }
    if (!(r->lent & REC_LENT_PREPARED)) {
        rec_free_own(r->prepared_sql);
    }
    if (!(r->lent & REC_LENT_FINGERPRINT)) {
        rec_free_own(r->fingerprint);
    }
    explain_job_release(&r->explain);
    if (!(r->lent & REC_LENT_TAGS)) {
        rec_free_own(r->tags);
    }
    if (rec_caching && !rec_spare) {
        rec_spare = r;
        return;
    }
    free(r);
}

/* A copy of n bytes at s and a NUL; NULL when out of memory. */
static char *
rec_dup(const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (copy) {
        if (n) {
            memcpy(copy, s, n);
        }
        copy[n] = '\0';
    }
    return copy;
}

bool
rec_own(struct rec *r)
{
    if ((r->lent & REC_LENT_SQL) && r->sql) {
        char *c = rec_dup(r->sql, r->sql_len);
        if (!c) {
            return false;
        }
        r->sql = c;
    }
    r->lent &= ~REC_LENT_SQL;
    if ((r->lent & REC_LENT_PREPARED) && r->prepared_sql) {
        char *c = rec_dup(r->prepared_sql, strlen(r->prepared_sql));
        if (!c) {
            return false;
        }
        r->prepared_sql = c;
    }
    r->lent &= ~REC_LENT_PREPARED;
    if ((r->lent & REC_LENT_FINGERPRINT) && r->fingerprint) {
        char *c = rec_dup(r->fingerprint, strlen(r->fingerprint));
        if (!c) {
            return false;
        }
        r->fingerprint = c;
    }
    r->lent &= ~REC_LENT_FINGERPRINT;
    if ((r->lent & REC_LENT_TAGS) && r->tags) {
        struct proto_tags *t = malloc(sizeof *t);
        if (!t) {
            return false;
        }
        *t = *r->tags;
        r->tags = t;
    }
    r->lent &= ~REC_LENT_TAGS;
    if ((r->lent & REC_LENT_PARAMS) && r->params) {
        char *c = rec_dup(r->params, strlen(r->params));
        if (!c) {
            return false;
        }
        r->params = c;
    }
    r->lent &= ~REC_LENT_PARAMS;
    return true;
}

bool
rec_set_sql(struct rec *r, const char *s, size_t n)
{
    char *copy = rec_dup(s, n);
    if (!copy) {
        return false;
    }
    if (!(r->lent & REC_LENT_SQL)) {
        rec_free_own(r->sql);
    }
    r->lent &= ~REC_LENT_SQL;
    r->sql = copy;
    r->sql_len = n;
    return true;
}

struct explain_job *
rec_explain_job(struct rec *r)
{
    struct explain_job *j = &r->explain;
    j->sql = r->sql;
    j->sql_len = r->sql_len;
    j->sql_truncated = r->sql_truncated;
    j->prepared_sql = r->prepared_sql;
    j->schema = r->schema;
    j->sql_mode = r->sql_mode_set ? r->sql_mode : NULL;
    j->thread_id = r->thread_id;
    j->digest = r->digest;
    j->start_wall_us = r->start_wall_us;
    j->query_us = r->query_us;
    j->explainable = r->explainable;
    j->interrupted = r->interrupted != NULL;
    return j;
}

struct rec *
rec_from_explain_job(struct explain_job *j)
{
    return (struct rec *)(void *)((char *)j - offsetof(struct rec, explain));
}
