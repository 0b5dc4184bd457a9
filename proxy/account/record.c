/*
 * record.c - allocation and release of statement records (struct rec): a record owns its
 * strings and its plan, so it can outlive the session that filled it and cross threads.
 */
#include "proxy/account/record.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

/* The record a caching thread released last, kept for its next rec_new. */
static _Thread_local struct rec *rec_spare;
static _Thread_local bool rec_caching;

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

void
rec_free(struct rec *r)
{
    if (!r) {
        return;
    }
    free(r->sql);
    free(r->params);
    free(r->prepared_sql);
    free(r->fingerprint);
    explain_job_release(&r->explain);
    free(r->tags);
    if (rec_caching && !rec_spare) {
        rec_spare = r;
        return;
    }
    free(r);
}

bool
rec_set_sql(struct rec *r, const char *s, size_t n)
{
    char *copy = malloc(n + 1);
    if (!copy) {
        return false;
    }
    if (n) {
        memcpy(copy, s, n);
    }
    copy[n] = '\0';
    free(r->sql);
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
