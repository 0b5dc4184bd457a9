/*
 * explainlog.c - the JSON explain log: one line per plan taken from the server, with --redact
 * applied to the statement, parameters, fingerprint and prepared statement, written with the
 * one JSON writer (common/jsonw.h, ASCII mode).
 */
#include "proxy/output/explainlog.h"

#include <stdlib.h>
#include <string.h>

#include "common/hexfmt.h"
#include "common/jsonw.h"
#include "common/timefmt.h"

static void
explainlog_sink(void *ctx, const char *s, size_t n)
{
    logbuf_add(ctx, s, n);
}

/* A statement, parameter list or fingerprint member (null for NULL), with --redact applied. */
static void
redacted(struct jsonw *w, const char *k, const struct filter *f, const char *s)
{
    if (!s || !filter_redacts(f)) {
        jsonw_kstr(w, k, s);
        return;
    }
    size_t len = strlen(s), cap = len + 64;
    char *buf = malloc(cap);
    if (!buf) {
        jsonw_knull(w, k);
        return;
    }
    size_t n = filter_redact(f, s, len, buf, cap);
    jsonw_kstrn(w, k, buf, n);
    free(buf);
}

void
explainlog_write(struct logbuf *b, const struct filter *f, const struct rec *r)
{
    const struct explain_job *x = &r->explain;
    if (!b || !x->plan || (x->source != EXPLAIN_SRC_LIVE && x->source != EXPLAIN_SRC_AFTER)) {
        return;
    }
    char tbuf[TIMEFMT_ISO_LEN + 1], digest[HEXFMT_U64_LEN + 1];
    timefmt_iso_utc(r->start_wall_us, tbuf);
    hexfmt_u64(r->digest, digest);

    struct jsonw w;
    logbuf_begin(b);
    jsonw_init(&w, explainlog_sink, b, JSONW_ASCII);
    jsonw_object_begin(&w);
    jsonw_kstr(&w, "time", tbuf);
    jsonw_kstr(&w, "digest", digest);
    redacted(&w, "fingerprint", f, r->fingerprint);
    redacted(&w, "statement", f, r->sql);
    redacted(&w, "params", f, r->params);
    redacted(&w, "prepared_statement", f, r->prepared_sql);
    jsonw_kstrn(&w, "schema", r->schema, strnlen(r->schema, sizeof r->schema));
    jsonw_ksecs(&w, "query_time", (int64_t)r->query_us);
    jsonw_kstr(&w, "source", explain_source_name(x->source));
    jsonw_key(&w, "flags");
    jsonw_object_begin(&w);
    jsonw_kbool(&w, "full_scan", x->plan->flags & PLAN_FULL_SCAN);
    jsonw_kbool(&w, "full_join", x->plan->flags & PLAN_FULL_JOIN);
    jsonw_kbool(&w, "tmp_table", x->plan->flags & PLAN_TMP_TABLE);
    jsonw_kbool(&w, "filesort", x->plan->flags & PLAN_FILESORT);
    jsonw_object_end(&w);
    jsonw_key(&w, "plan");
    jsonw_array_begin(&w);
    for (size_t i = 0; i < x->plan->nrows; i++) {
        jsonw_object_begin(&w);
        for (int c = 0; c < PLAN_NCOLS; c++) {
            jsonw_kstr(&w, plan_col_names[c], x->plan->rows[i].col[c]);
        }
        jsonw_object_end(&w);
    }
    jsonw_array_end(&w);
    if (x->index_advice) {
        jsonw_kstr(&w, "index_advice", x->index_advice);
    }
    jsonw_object_end(&w);
    jsonw_flush(&w);
    logbuf_add(b, "\n", 1);
    logbuf_end(b);
}
