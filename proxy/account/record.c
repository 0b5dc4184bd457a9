/*
 * record.c - allocation and release of statement records (struct rec): a record owns its
 * strings and its plan, so it can outlive the session that filled it and cross threads.
 */
#include "proxy/account/record.h"

#include <stdlib.h>
#include <string.h>

struct rec *
rec_new(void)
{
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
    plan_free(r->plan);
    free(r->index_advice);
    free(r->analyze);
    free(r->blocker);
    free(r->tags);
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

const char *
rec_explain_source_name(enum rec_explain_source s)
{
    switch (s) {
    case REC_EXPLAIN_LIVE:
        return "live";
    case REC_EXPLAIN_AFTER:
        return "after";
    case REC_EXPLAIN_CACHED:
        return "cached";
    default:
        return NULL;
    }
}
