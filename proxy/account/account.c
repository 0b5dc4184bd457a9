/*
 * account.c - turns a completed command (struct acct_cmd, filled by the relay) into counters,
 * a statistics sample, route and findings figures, the session's transaction, and for a
 * statement worth logging or explaining a struct rec that the caller hands on (account.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "explain/explain.h"
#include "protocol/proto.h"
#include "protocol/proto_ddl.h"
#include "protocol/proto_fingerprint.h"
#include "protocol/proto_tags.h"
#include "protocol/proto_tmptab.h"
#include "proxy/account/account.h"
#include "proxy/account/ddl.h"
#include "proxy/account/filter.h"
#include "proxy/account/requests.h"
#include "proxy/account/routes.h"
#include "proxy/account/sessreg.h"
#include "proxy/account/stats.h"
#include "common/strcopy.h"

/* What the command being recorded did to the transaction. */
struct acct_trx_end {
    bool ended;
    uint64_t dur_us, idle_us;
    uint32_t stmts;
    int64_t wall_start;
};

static bool
is_execute(uint8_t cmd)
{
    return cmd == PROTO_COM_STMT_EXECUTE || cmd == PROTO_COM_STMT_BULK_EXECUTE;
}

/* ---- the session's transaction ---- */

void
acct_sess_init(struct acct_sess *as, const struct findings_conf *fc)
{
    memset(as, 0, sizeof *as);
    findings_sess_init(&as->fnd, fc);
}

void
acct_idle(struct acct_sess *as, const struct acct_ctx *ctx, int64_t now_us)
{
    const struct findings_sess *fs = &as->fnd;
    if (!as->req || !fs->open || as->trx.open || !ctx->requests) {
        return;
    }
    int64_t limit = fs->trace_id[0] ? ACCT_TRACED_IDLE_US : fs->conf->request_gap_us;
    if (now_us - fs->last_end < limit) {
        return;
    }
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    findings_sess_end(&as->fnd, (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000);
    requests_local_add(ctx->requests, as->req);
    as->req = NULL;
}

int64_t
acct_trx_wall_start(const struct acct_sess *as)
{
    return as->trx.open ? as->trx.wall_start : 0;
}

/* Ends the open transaction at `now` into *te and counts it. */
static void
trx_close(struct acct_sess *as, const struct acct_ctx *ctx, int64_t now, struct acct_trx_end *te)
{
    struct acct_trx *t = &as->trx;
    *te = (struct acct_trx_end){
        .ended = true,
        .dur_us = now > t->start ? (uint64_t)(now - t->start) : 0,
        .idle_us = (uint64_t)t->idle_us,
        .stmts = t->stmts,
        .wall_start = t->wall_start,
    };
    t->open = false;
    struct counters *c = ctx->counters;
    COUNTER_ADD(c, transactions, 1);
    COUNTER_ADD(c, trx_us_total, te->dur_us);
    COUNTER_ADD(c, trx_idle_us_total, te->idle_us);
    COUNTER_ADD(c, trx_open, (uint64_t)-1);
    hist_add(&c->trx_duration, te->dur_us);
    hist_add(&c->trx_idle, te->idle_us);
}

void
acct_sess_end(struct acct_sess *as, const struct acct_ctx *ctx, int64_t now_us, int64_t wall_us)
{
    if (as->trx.open) {
        struct acct_trx_end te;
        trx_close(as, ctx, now_us, &te); /* the server rolls it back */
    }
    sessreg_remove(as->reg);
    as->reg = NULL;
    findings_sess_end(&as->fnd, wall_us);
    if (as->req) {
        if (ctx->requests) {
            requests_local_add(ctx->requests, as->req);
        } else {
            requests_req_free(as->req);
        }
        as->req = NULL;
    }
    free(as->fpc);
    as->fpc = NULL;
    free(as->tmp);
    as->tmp = NULL;
}

/*
 * Follows the transaction through the completed command: the status of its last OK/EOF says
 * whether the session is inside a transaction now (a response without one, an ERR, leaves the
 * state as it was).
 */
static void
trx_follow(struct acct_sess *as, const struct acct_ctx *ctx, const struct acct_cmd *c,
           struct acct_trx_end *te)
{
    const struct proto_resp *r = c->resp;
    struct acct_trx *t = &as->trx;
    bool was_open = t->open;
    if (t->open) {
        t->stmts++;
        if (c->t_start > t->last_end) {
            t->idle_us += c->t_start - t->last_end;
        }
        t->last_end = c->t_end;
    }
    if (r->status_seen) { /* else (an ERR, a prepare): nothing said about the transaction */
        bool in = (r->status & PROTO_SERVER_STATUS_IN_TRANS) != 0;
        if (in && !t->open) {
            *t = (struct acct_trx){.open = true,
                                   .start = c->t_start,
                                   .wall_start = c->wall_start,
                                   .last_end = c->t_end,
                                   .stmts = 1};
            COUNTER_ADD(ctx->counters, trx_open, 1);
            if (!as->reg) {
                as->reg = sessreg_add(c->thread_id, c->user, c->host);
            }
            if (as->reg) {
                sessreg_trx_begin(as->reg, c->wall_start);
            }
        } else if (!in && t->open) {
            trx_close(as, ctx, c->t_end, te);
        }
    }
    if (as->reg && (t->open || was_open)) {
        /* what a session blocked by this one will read of it (sessreg.h) */
        uint64_t dur = c->t_end > c->t_start ? (uint64_t)(c->t_end - c->t_start) : 0;
        const char *text = c->buf ? c->buf + 1 : "";
        size_t len = c->len ? c->len - 1 : 0;
        if (c->stmt && is_execute(c->cmd)) {
            text = c->stmt->sql;
            len = c->stmt->sql_len;
        } else if (c->cmd != PROTO_COM_QUERY && c->cmd != PROTO_COM_STMT_PREPARE) {
            text = proto_com_name(c->cmd) ? proto_com_name(c->cmd) : "?";
            len = strlen(text);
        }
        sessreg_stmt(as->reg, text, len, c->wall_start, dur);
        if (!t->open) {
            sessreg_trx_end(as->reg, c->wall_start + (int64_t)dur);
        }
    }
}

/* ---- an execute's parameters ---- */

/*
 * The literals an execute's parameters decode to, in one byte buffer with one entry each. The
 * first LIT_BYTES bytes and LIT_SLOTS entries live inside the list (on the stack): a typical
 * execute allocates nothing here; more grows on the heap.
 */
#define LIT_BYTES 1024
#define LIT_SLOTS 32

struct lit_list {
    char *bytes; /* the literals, each NUL-terminated, one after the other */
    size_t used, bytes_cap;
    size_t *off;    /* entry i: at bytes + off[i] */
    size_t *n;      /* its length */
    bool *cut;      /* its value was cut */
    const char **p; /* bytes + off[i], set by lit_done once bytes no longer move */
    unsigned count, cap;
    bool lost; /* out of memory: a literal is missing, its placeholder stays ? */
    char bytes0[LIT_BYTES];
    size_t off0[LIT_SLOTS], n0[LIT_SLOTS];
    bool cut0[LIT_SLOTS];
    const char *p0[LIT_SLOTS];
};

static void
lit_init(struct lit_list *l)
{
    l->bytes = l->bytes0;
    l->used = 0;
    l->bytes_cap = sizeof l->bytes0;
    l->off = l->off0;
    l->n = l->n0;
    l->cut = l->cut0;
    l->p = l->p0;
    l->count = 0;
    l->cap = LIT_SLOTS;
    l->lost = false;
}

/* Grows *arr (elem bytes each, `used` of them kept) to ncap entries, off `inline_arr` when it
 * is still there. False when out of memory (then *arr is unchanged). */
static bool
lit_grow(void **arr, void *inline_arr, size_t elem, size_t used, size_t ncap)
{
    void *nv = *arr == inline_arr ? malloc(ncap * elem) : realloc(*arr, ncap * elem);
    if (!nv) {
        return false;
    }
    if (*arr == inline_arr) {
        memcpy(nv, inline_arr, used * elem);
    }
    *arr = nv;
    return true;
}

static void
lit_add(void *ctx, unsigned idx, const char *lit, size_t len, bool truncated)
{
    struct lit_list *l = ctx;
    (void)idx;
    if (l->lost) {
        return; /* keep the literals in placeholder order: none after a missing one */
    }
    if (l->count == l->cap) {
        size_t nc = (size_t)l->cap * 2;
        if (!lit_grow((void **)&l->off, l->off0, sizeof *l->off, l->count, nc) ||
            !lit_grow((void **)&l->n, l->n0, sizeof *l->n, l->count, nc) ||
            !lit_grow((void **)&l->cut, l->cut0, sizeof *l->cut, l->count, nc) ||
            !lit_grow((void **)&l->p, l->p0, sizeof *l->p, 0, nc)) {
            l->lost = true;
            return;
        }
        l->cap = (unsigned)nc;
    }
    if (l->bytes_cap - l->used < len + 1) {
        size_t nc = l->bytes_cap * 2;
        while (nc - l->used < len + 1) {
            nc *= 2;
        }
        if (!lit_grow((void **)&l->bytes, l->bytes0, 1, l->used, nc)) {
            l->lost = true;
            return;
        }
        l->bytes_cap = nc;
    }
    memcpy(l->bytes + l->used, lit, len);
    l->bytes[l->used + len] = '\0';
    l->off[l->count] = l->used;
    l->n[l->count] = len;
    l->cut[l->count] = truncated;
    l->used += len + 1;
    l->count++;
}

/* The bytes stop moving: entries get their pointers. */
static void
lit_done(struct lit_list *l)
{
    for (unsigned i = 0; i < l->count; i++) {
        l->p[i] = l->bytes + l->off[i];
    }
}

static void
lit_free(struct lit_list *l)
{
    if (l->bytes != l->bytes0) {
        free(l->bytes);
    }
    if (l->off != l->off0) {
        free(l->off);
    }
    if (l->n != l->n0) {
        free(l->n);
    }
    if (l->cut != l->cut0) {
        free(l->cut);
    }
    if (l->p != l->p0) {
        free(l->p);
    }
}

/* The length of lit_join's text. */
static size_t
lit_join_len(const struct lit_list *l)
{
    size_t len = 0;
    for (unsigned i = 0; i < l->count; i++) {
        len += (i ? 2 : 0) + l->n[i] + (l->cut[i] ? 3 : 0);
    }
    return len;
}

/* "# Params:" content: the literals joined by ", ", a cut one followed by "...", into out
 * (lit_join_len + 1 bytes), or a new heap string when out is NULL (NULL when out of memory). */
static char *
lit_join(const struct lit_list *l, char *out)
{
    if (!out) {
        out = malloc(lit_join_len(l) + 1);
    }
    if (!out) {
        return NULL;
    }
    char *o = out;
    for (unsigned i = 0; i < l->count; i++) {
        if (i) {
            memcpy(o, ", ", 2);
            o += 2;
        }
        memcpy(o, l->p[i], l->n[i]);
        o += l->n[i];
        if (l->cut[i]) {
            memcpy(o, "...", 3);
            o += 3;
        }
    }
    *o = '\0';
    return out;
}

/* Fills rec->sql (parameters substituted where PREPARE found the placeholders), rec->params
 * and rec->prepared_sql for an executed prepared statement. Decoding also records the bound
 * types in st. */
static void
rec_fill_execute(struct rec *rec, const struct acct_stmt *st, const struct acct_cmd *c)
{
    struct lit_list lits;
    lit_init(&lits);
    struct proto_param_sink sink = {lit_add, &lits, 1024, c->sql_mode};
    uint32_t rows = 0;
    if (c->cmd == PROTO_COM_STMT_BULK_EXECUTE) {
        /* The first row of parameters stands for the batch; the row count is noted. */
        proto_bulk_execute_params((const uint8_t *)c->buf, c->len, st->nparams, st->types, &sink,
                                  &rows);
    } else {
        proto_execute_params((const uint8_t *)c->buf, c->len, st->nparams, st->types, st->long_data,
                             &sink);
    }
    lit_done(&lits);

    rec->bulk_rows = rows;
    size_t need = proto_substitute_at(st->sql, st->sql_len, st->ph_offs, st->nph, lits.p, lits.n,
                                      lits.count, NULL, 0);
    size_t plen = lits.count ? lit_join_len(&lits) + 1 : 0;
    /* the statement and the parameters in the worker's scratch, lent (record.h), else each
     * on the heap */
    char *scratch = rec_scratch(need + 1 + plen);
    if (lits.count) {
        rec->params = lit_join(&lits, scratch ? scratch + need + 1 : NULL);
        rec->lent |= scratch ? REC_LENT_PARAMS : 0;
    }
    char *sql = scratch ? scratch : malloc(need + 1);
    if (sql) {
        proto_substitute_at(st->sql, st->sql_len, st->ph_offs, st->nph, lits.p, lits.n, lits.count,
                            sql, need + 1);
        rec->sql = sql;
        rec->sql_len = need;
        rec->lent |= scratch ? REC_LENT_SQL : 0;
    }
    rec->prepared_sql = st->sql; /* lent: the prepared statement's (record.h) */
    rec->lent |= REC_LENT_PREPARED;
    for (unsigned i = 0; i < lits.count; i++) {
        rec->sql_truncated = rec->sql_truncated || lits.cut[i]; /* a value was cut */
    }
    lit_free(&lits);
}

/* ---- recording ---- */

/*
 * The session's request (requests.h): the unit of work findings_sess_stmt just counted the
 * command in. A request whose unit ended goes to the worker's list; the command is appended
 * to the open one (its text: the query, an execute's prepared text, or "administrator
 * command: X").
 */
static void
requests_follow(struct acct_sess *as, const struct acct_ctx *ctx, const struct acct_cmd *c,
                const struct findings_stmt *fst, const char *sql, size_t sql_len, const char *fp)
{
    if (!ctx->requests) {
        return;
    }
    const struct findings_sess *fs = &as->fnd;
    if (as->req && (!fs->open || as->req_unit != fs->unit)) {
        requests_local_add(ctx->requests, as->req);
        as->req = NULL;
    }
    if (!fs->open) {
        return; /* a pool marker: in no unit */
    }
    if (!as->req) {
        as->req = requests_begin(ctx->requests, c->t_start, c->wall_start, c->schema, fs->trace_id);
        as->req_unit = fs->unit;
        if (!as->req) {
            return;
        }
    }
    requests_set_route(as->req, fs->route);
    bool exec = c->stmt && is_execute(c->cmd);
    const char *text = sql ? sql : fp;
    size_t len = sql ? sql_len : strlen(fp);
    if (c->cmd == PROTO_COM_STMT_PREPARE) {
        text = fp; /* its shape: "administrator command: Prepare" */
        len = strlen(fp);
    }
    struct requests_stmt rs = {
        .digest = fst->digest,
        .params = fst->params,
        .offset_us = c->t_start - as->req->start_us,
        .query_us = fst->query_us,
        .rows_sent = c->resp->rows_sent,
        .rows_affected = c->resp->rows_affected,
        .error = c->resp->err_code != 0,
        .candidate = fst->candidate,
        .prepared = exec,
        .explainable =
            fst->candidate && c->cmd == PROTO_COM_QUERY && !as->tmp && c->total <= c->len &&
            (!(c->set_mode && c->set_mode->changed) ||
             (c->sql_mode & (PROTO_SQLMODE_ANSI_QUOTES | PROTO_SQLMODE_NO_BACKSLASH_ESCAPES)) == 0),
    };
    requests_add(as->req, ctx->requests_stmts_max, &rs, text, len,
                 c->cmd == PROTO_COM_QUERY && c->total > c->len, c->t_end);
}

/*
 * Where in the application a completed command belongs: its tags (parsed only when the text
 * has a comment; an execute takes its PREPARE text's route), its route's statistics, and the
 * N+1/duplicate detection of its unit of work (findings.h). Returns the tags (in *buf), NULL
 * when it had none.
 */
static struct proto_tags *
record_where(struct acct_sess *as, const struct acct_ctx *ctx, const struct acct_cmd *c,
             const struct acct_trx_end *te, const char *sql, size_t sql_len, const char *fp,
             uint64_t digest, bool candidate, uint64_t dur, struct proto_tags *buf,
             struct findings_mark *mark)
{
    const struct acct_stmt *st = c->stmt;
    struct proto_tags *tags = NULL;
    char route_buf[ROUTES_NAME_MAX];
    const char *route = NULL;
    bool comment = false;
    if (c->cmd == PROTO_COM_QUERY && sql && findings_has_comment(sql, sql_len)) {
        comment = true;
        if (proto_tags_parse(sql, sql_len, c->sql_mode, buf) > 0) {
            tags = buf;
            route = routes_name(tags, route_buf) ? route_buf : NULL;
        }
    } else if (st && st->route) {
        route = st->route;
    }
    int64_t wall = c->wall_start + (int64_t)dur;
    if (route) {
        routes_local_record(ctx->routes, route, digest, dur, c->resp->err_code != 0, wall);
    }
    uint64_t params = 0;
    if (c->cmd == PROTO_COM_QUERY && sql) {
        params = findings_hash(sql, sql_len, comment);
    } else if (st && c->len > 10) { /* after command, statement id, flags, iteration count */
        params = findings_hash(c->buf + 10, c->len - 10, false);
    }
    /* trx_follow ran: the transaction is open now, or this command ended one */
    bool trx_before = te->ended || (as->trx.open && as->trx.start != c->t_start);
    bool marker = c->cmd == PROTO_COM_PING || c->cmd == PROTO_COM_RESET_CONNECTION ||
                  (c->cmd == PROTO_COM_QUERY && !trx_before &&
                   (((fp[0] | 0x20) == 'r' && strcasecmp(fp, "rollback") == 0) ||
                    ((fp[0] | 0x20) == 'c' && strcasecmp(fp, "commit") == 0)));
    struct findings_stmt fst = {
        .digest = digest,
        .params = params,
        .query_us = dur,
        .start_us = c->t_start,
        .end_us = c->t_end,
        .wall_us = wall,
        .trace_id = tags ? tags->trace_id : NULL,
        .route = route,
        .candidate = candidate && c->resp->err_code == 0,
        .trx_before = trx_before,
        .trx_after = as->trx.open,
        .pool_marker = marker,
    };
    findings_sess_stmt(&as->fnd, &fst, mark);
    requests_follow(as, ctx, c, &fst, sql, sql_len, fp);
    return tags;
}

/*
 * The last text statement's analysis, reused while the statements that follow differ from it
 * only in numbers (equal proto_fp_skeleton): an application's loop sends one shape with other
 * ids, and the skeleton costs about ten instructions a byte where the fingerprint costs over a
 * hundred. Behind it, per worker thread, the analyses of the last ACCT_FPW shapes any of its
 * sessions sent (direct-mapped by the skeleton's hash): a new session, or one alternating
 * between shapes, finds them there.
 * Statements whose skeleton or fingerprint does not fit, and USE, are analysed every time.
 */
#define ACCT_FPC_SKEL 256
#define ACCT_FPC_FP   256
#define ACCT_FPW      128 /* a power of two */
struct acct_fpcache {
    bool used;
    unsigned sql_mode;
    size_t skel_len, fp_len;
    uint64_t digest;
    enum proto_stmt_kind kind;
    char skel[ACCT_FPC_SKEL];
    char fp[ACCT_FPC_FP]; /* NUL-terminated */
};

/* The worker thread's shapes (heap on first use; acct_thread_end frees them). */
static _Thread_local struct acct_fpcache *acct_fpw;

void
acct_thread_end(void)
{
    free(acct_fpw);
    acct_fpw = NULL;
}

/* Entry fc holds the analysis of skeleton skel[0..sk) under sql_mode. */
static bool
fpc_is(const struct acct_fpcache *fc, const char *skel, size_t sk, unsigned sql_mode)
{
    return fc && fc->used && fc->sql_mode == sql_mode && fc->skel_len == sk &&
           memcmp(fc->skel, skel, sk) == 0;
}

/* The worker's slot for skeleton skel[0..sk) (FNV-1a over eight bytes at a time), NULL when
 * its table cannot be had. */
static struct acct_fpcache *
fpw_slot(const char *skel, size_t sk, unsigned sql_mode)
{
    if (!acct_fpw && !(acct_fpw = calloc(ACCT_FPW, sizeof *acct_fpw))) {
        return NULL;
    }
    uint64_t h = 14695981039346656037ull ^ sql_mode;
    size_t i = 0;
    for (; sk - i >= 8; i += 8) {
        uint64_t x;
        memcpy(&x, skel + i, 8);
        h = (h ^ x) * 1099511628211ull;
    }
    for (; i < sk; i++) {
        h = (h ^ (unsigned char)skel[i]) * 1099511628211ull;
    }
    return &acct_fpw[(h ^ h >> 29) & (ACCT_FPW - 1)];
}

/* proto_stmt_analyze of sql[0..len) into fp (capacity cap), or the cached analysis of an
 * earlier statement with the same skeleton (the session's last, else the worker's). */
static void
analyze_text(struct acct_sess *as, const char *sql, size_t len, unsigned sql_mode, char *fp,
             size_t cap, char *db, size_t db_cap, struct proto_stmt_info *info)
{
    char skel[ACCT_FPC_SKEL];
    size_t sk = proto_fp_skeleton(sql, len, sql_mode, skel, sizeof skel);
    struct acct_fpcache *fc = as->fpc;
    struct acct_fpcache *fw = NULL;
    if (sk != PROTO_FP_SKELETON_NONE && cap > 0) {
        if (!fpc_is(fc, skel, sk, sql_mode)) {
            fw = fpw_slot(skel, sk, sql_mode);
            if (fpc_is(fw, skel, sk, sql_mode) && (fc || (fc = as->fpc = malloc(sizeof *fc)))) {
                *fc = *fw; /* the session's last from now on */
            } else {
                fc = NULL;
            }
        }
        if (fc) {
            strcopy(fp, cap, fc->fp, fc->fp_len);
            info->digest = fc->digest;
            info->kind = fc->kind;
            info->schema_changed = false;
            return;
        }
    }
    proto_stmt_analyze(sql, len, sql_mode, fp, cap, db, db_cap, info);
    size_t fl = strnlen(fp, cap);
    if (sk == PROTO_FP_SKELETON_NONE || info->schema_changed || fl >= ACCT_FPC_FP ||
        fl + 1 >= cap) {
        return; /* (a fingerprint cut at cap is not kept: a longer buffer would differ) */
    }
    fc = as->fpc;
    if (!fc && !(fc = as->fpc = malloc(sizeof *fc))) {
        return;
    }
    fc->used = true;
    fc->sql_mode = sql_mode;
    fc->skel_len = sk;
    memcpy(fc->skel, skel, sk);
    memcpy(fc->fp, fp, fl + 1);
    fc->fp_len = fl;
    fc->digest = info->digest;
    fc->kind = info->kind;
    if (fw) {
        *fw = *fc; /* the worker's too, in place of what had its slot */
    }
}

/* ---- the session's temporary tables ---- */

/*
 * The names its CREATE TEMPORARY TABLE statements created and no DROP TABLE dropped
 * (proto_tmptab.h). An EXPLAIN on the explain thread's connection would see no such table, or
 * the permanent one it hides, so a statement that names one is not explained after it ran.
 */
#define ACCT_TMPTAB_MAX 16
struct acct_tmptabs {
    unsigned n;
    bool lost; /* more were created than names[] keeps: any statement may name one */
    char names[ACCT_TMPTAB_MAX][PROTO_TMPTAB_NAME_MAX + 1];
};

/* Follows a statement that succeeded and is not explainable (a CREATE or DROP is neither). */
static void
tmptab_follow(struct acct_sess *as, const char *sql, size_t len, unsigned sql_mode)
{
    struct proto_tmptab_stmt st;
    proto_tmptab_parse(sql, len, sql_mode, &st);
    if (st.op == PROTO_TMPTAB_NONE) {
        return;
    }
    struct acct_tmptabs *t = as->tmp;
    if (st.op == PROTO_TMPTAB_DROP) {
        for (unsigned i = 0; t && i < st.n; i++) {
            for (unsigned k = 0; k < t->n; k++) {
                if (strcasecmp(st.names[i], t->names[k]) == 0) {
                    memmove(t->names[k], t->names[--t->n], sizeof t->names[0]);
                    break;
                }
            }
        }
        return;
    }
    if (!t && !(t = as->tmp = calloc(1, sizeof *t))) {
        return;
    }
    for (unsigned i = 0; i < t->n; i++) {
        if (strcasecmp(t->names[i], st.names[0]) == 0) {
            return; /* CREATE OR REPLACE, or IF NOT EXISTS */
        }
    }
    if (t->n == ACCT_TMPTAB_MAX) {
        t->lost = true;
        return;
    }
    memcpy(t->names[t->n++], st.names[0], sizeof t->names[0]);
}

/* Tells the explain job when the statement may name one of the session's temporary tables. */
static void
tmptab_mark(const struct acct_sess *as, const char *sql, size_t len, unsigned sql_mode,
            struct explain_job *j)
{
    const struct acct_tmptabs *t = as->tmp;
    if (!t || !sql) {
        return;
    }
    unsigned k = proto_tmptab_named(sql, len, sql_mode, t->names, t->n);
    if (k) {
        memcpy(j->tmp_table, t->names[k - 1], sizeof j->tmp_table);
    } else {
        j->tmp_tables_lost = t->lost;
    }
}

/* A DDL statement that succeeded: a marker on the series of the shapes of its tables (ddl.h).
 * Only statements that are not explainable come here; most are not DDL, and the parser gives up
 * at their first word. */
static void
ddl_follow(const struct acct_ctx *ctx, const char *sql, size_t len, unsigned sql_mode,
           const char *fp, int64_t wall_us)
{
    struct proto_ddl d;
    if (ctx->ddl && proto_ddl_parse(sql, len, sql_mode, &d)) {
        ddl_log_add(ctx->ddl, wall_us, &d, fp, strlen(fp));
    }
}

/* Counters, per-shape statistics, and the record of a slow (or explained) statement. */
static void
record(struct acct_sess *as, const struct acct_ctx *ctx, const struct acct_cmd *c,
       const struct acct_trx_end *te, struct acct_out *out)
{
    const struct conf *conf = ctx->conf;
    const struct proto_resp *r = c->resp;
    const struct acct_stmt *st = c->stmt;
    uint64_t dur = c->t_end > c->t_start ? (uint64_t)(c->t_end - c->t_start) : 0;
    char *fp = out->fp; /* the record may point at it (account.h) */
    const size_t fp_size = sizeof out->fp;
    const char *sql = NULL;
    size_t sql_len = 0;
    const char *fpp = fp;
    uint64_t digest;
    bool explainable = false;

    COUNTER_ADD(ctx->counters, statements, 1);
    COUNTER_ADD(ctx->counters, query_us_total, dur);
    hist_add(&ctx->counters->latency, dur);
    if (r->err_code) {
        COUNTER_ADD(ctx->counters, statement_errors, 1);
    }

    if (c->cmd == PROTO_COM_QUERY && c->len > 1) {
        sql = c->buf + 1;
        sql_len = c->len - 1;
        /* One lexer pass: digest, fingerprint, kind, and the schema a USE switches to. */
        struct proto_stmt_info info;
        char db[ACCT_SCHEMA_MAX];
        analyze_text(as, sql, sql_len, c->sql_mode, fp, fp_size, db, sizeof db, &info);
        digest = info.digest;
        explainable = proto_stmt_explainable(info.kind);
        if (info.schema_changed && r->err_code == 0 && c->ended) {
            strcopy(c->schema, ACCT_SCHEMA_MAX, db, strlen(db));
        }
        if (!explainable && r->err_code == 0 && c->ended) {
            tmptab_follow(as, sql, sql_len, c->sql_mode);
            ddl_follow(ctx, sql, sql_len, c->sql_mode, fp, c->wall_start + (int64_t)dur);
        }
    } else if (is_execute(c->cmd) && st) {
        sql = st->sql;
        sql_len = st->sql_len;
        digest = st->digest;
        fpp = st->fingerprint;
        explainable = st->explainable && c->cmd == PROTO_COM_STMT_EXECUTE;
        if (!st->explainable && r->err_code == 0 && c->ended) {
            tmptab_follow(as, sql, sql_len, c->sql_mode);
        }
    } else {
        const char *name = proto_com_name(c->cmd);
        int n = name ? snprintf(fp, fp_size, "administrator command: %s", name)
                     : snprintf(fp, fp_size, "administrator command: %u", c->cmd);
        digest = proto_fingerprint(fp, (size_t)n, NULL, 0);
        if (c->cmd == PROTO_COM_STMT_PREPARE && c->len > 1) {
            /* Its entry holds the statement it prepared; its shape stays "administrator
             * command: Prepare" (statistics, digest, slowtap report): a prepare is no
             * execution of the statement. */
            sql = c->buf + 1;
            sql_len = c->len - 1;
        }
    }

    struct stats_sample sm = {
        .digest = digest,
        .fingerprint = fpp,
        .fingerprint_len = strlen(fpp),
        .example = sql && c->cmd != PROTO_COM_STMT_PREPARE ? sql : fp,
        .example_len = sql && c->cmd != PROTO_COM_STMT_PREPARE ? sql_len : strlen(fp),
        .query_us = dur,
        .queue_us = c->queue_us,
        .rows_sent = r->rows_sent,
        .rows_affected = r->rows_affected,
        .error = r->err_code != 0,
        .no_index_used =
            (r->status_or & (PROTO_SERVER_QUERY_NO_INDEX | PROTO_SERVER_QUERY_NO_GOOD_INDEX)) != 0,
        .wall_us = c->wall_start + (int64_t)dur,
        .schema = c->schema,
        /* as the autoplan runs it later (autoplan.h): a whole text statement, in its schema,
         * lexed the same under the server's sql_mode, naming none of the session's temporary
         * tables */
        .example_explainable =
            explainable && c->cmd == PROTO_COM_QUERY && !as->tmp && c->total <= c->len &&
            (!(c->set_mode && c->set_mode->changed) ||
             (c->sql_mode & (PROTO_SQLMODE_ANSI_QUOTES | PROTO_SQLMODE_NO_BACKSLASH_ESCAPES)) == 0),
    };
    stats_local_record(ctx->stats, &sm);
    struct findings_mark mark;
    const struct proto_tags *tags = record_where(as, ctx, c, te, sql, sql_len, fpp, digest,
                                                 explainable, dur, &out->tags, &mark);

    /* A statement that never finished is logged whatever it cost: the developer looks for it. */
    const char *interrupted = c->interrupted;
    bool long_trx = te->ended && (int64_t)te->dur_us >= conf->long_transaction_us;
    bool slow = (int64_t)dur >= conf->long_query_us || interrupted || long_trx;
    /* a live capture (plan, lock wait) joins the record on the explain thread */
    bool explain =
        ctx->explain && ((explainable && dur >= ctx->explain_threshold_us) || c->live_token);
    /* no plan to take, but a logged statement still gets the server's figures (pfs.h) */
    bool pfs_only = !explain && slow && ctx->explain && explain_wants_pfs(ctx->explain);
    if (!slow && !explain) {
        return;
    }
    /* --include/--exclude see the statement, or "administrator command: X" for others. */
    if (!filter_wants(ctx->filter, sql ? sql : fp, sql ? sql_len : strlen(fp))) {
        return;
    }
    if (slow) {
        COUNTER_ADD(ctx->counters, slow_statements, 1);
    }

    struct rec *rec = rec_new_fill(); /* user to err_msg are written below */
    if (!rec) {
        return;
    }
    rec->start_wall_us = c->wall_start;
    rec->thread_id = c->thread_id;
    strcopy(rec->user, sizeof rec->user, c->user, strlen(c->user));
    strcopy(rec->host, sizeof rec->host, c->host, strlen(c->host));
    strcopy(rec->schema, sizeof rec->schema, c->schema, strlen(c->schema));
    rec->cmd = c->cmd;
    if ((c->cmd == PROTO_COM_QUERY || c->cmd == PROTO_COM_STMT_PREPARE) && sql) {
        rec->sql = sql; /* lent: the command's copy, NUL-terminated (record.h) */
        rec->sql_len = sql_len;
        rec->lent |= REC_LENT_SQL;
        rec->sql_truncated = c->total > c->len;
    } else if (st && sql) {
        rec_fill_execute(rec, st, c); /* marks it truncated if a value was cut */
        rec->sql_truncated = rec->sql_truncated || c->total > c->len;
    } else if (is_execute(c->cmd)) {
        uint32_t id;
        /* no statement of the session has its id: the entry says so */
        rec->unknown_stmt = proto_stmt_id_parse((const uint8_t *)c->buf, c->len, &id) == PROTO_OK;
        rec->stmt_id = rec->unknown_stmt ? id : 0;
    }
    rec->digest = digest;
    rec->fingerprint = fpp; /* lent: out->fp or the prepared statement's */
    rec->lent |= REC_LENT_FINGERPRINT;
    rec->explainable = explainable;
    rec->query_us = dur;
    rec->queue_us = c->queue_us;
    rec->rows_sent = r->rows_sent;
    rec->rows_affected = r->rows_affected;
    rec->bytes_sent = c->bytes;
    rec->status = r->status_or;
    rec->err_code = r->err_code;
    if (r->err_code && filter_redacts(ctx->filter)) {
        /* the server's words can echo a literal of the statement (a duplicate key, a
         * SIGNAL's text): redacted like the statement, before anything keeps them */
        filter_redact_message(ctx->filter, r->err_msg, strlen(r->err_msg), rec->err_msg,
                              sizeof rec->err_msg);
    } else {
        strcopy(rec->err_msg, sizeof rec->err_msg, r->err_msg, strlen(r->err_msg));
    }
    rec->explain.live_token = c->live_token;
    rec->interrupted = interrupted;
    rec->untracked = c->untracked;
    rec->lex_mode = c->sql_mode;
    rec->n_plus_one = mark;
    if (sql) {
        /* tags: parsed above for a query; an execute's were parsed at its PREPARE */
        if (!tags && is_execute(c->cmd) && st && st->tags) {
            tags = st->tags;
        }
        if (tags) {
            rec->tags = tags; /* lent: out->tags or the statement's */
            rec->lent |= REC_LENT_TAGS;
        }
    }
    if (te->ended) {
        rec->trx_ended = true;
        rec->trx_stmts = te->stmts;
        rec->trx_us = te->dur_us;
        rec->trx_idle_us = te->idle_us;
        rec->trx_wall_start = te->wall_start;
    }
    const struct proto_sqlmode *sm_set = c->set_mode;
    if (sm_set && sm_set->changed && sm_set->text_known) {
        rec->sql_mode_set = true; /* the auto-EXPLAIN connection runs under the same mode */
        strcopy(rec->sql_mode, sizeof rec->sql_mode, sm_set->text, strlen(sm_set->text));
    }
    rec->explain.pfs_only = pfs_only;
    rec->explain.log = slow;
    if (explain) {
        tmptab_mark(as, sql, sql_len, c->sql_mode, &rec->explain);
    }
    out->rec = rec;
    out->slow = slow;
    out->explain = explain;
}

void
acct_command(struct acct_sess *as, const struct acct_ctx *ctx, const struct acct_cmd *c,
             struct acct_out *out)
{
    struct acct_trx_end te = {0};
    out->rec = NULL; /* not the buffers: record() writes them before any use */
    out->slow = false;
    out->explain = false;
    if (c->ended) {
        trx_follow(as, ctx, c, &te);
    }
    if (as->tmp && c->ended && c->resp->err_code == 0 &&
        (c->cmd == PROTO_COM_RESET_CONNECTION || c->cmd == PROTO_COM_CHANGE_USER)) {
        as->tmp->n = 0; /* the server dropped the session's temporary tables */
        as->tmp->lost = false;
    }
    record(as, ctx, c, &te, out);
}

void
acct_no_response(const struct acct_ctx *ctx)
{
    COUNTER_ADD(ctx->counters, statements, 1);
}
