/*
 * session.c - one client connection paired with one backend connection: relays bytes both
 * ways, follows the protocol on the way (proto_*), times every command and turns completed
 * statements into statistics samples and slow-log records.
 *
 * Data path (one worker thread; nothing here blocks or takes a lock):
 *
 *   client                                slowtap                                   backend
 *
 *   bytes -> [cli input] -relay(CLIENT)-> framer -> client_packet()/client_end()
 *                 |                         a new command: struct pcmd (start time, a bounded
 *                 |                         copy of its text) joins the pending queue; clients
 *                 |                         may pipeline, so the queue keeps their order
 *                 '--- evbuffer_remove_buffer(): chains move, bytes are not copied ---> [be output]
 *
 *   bytes <- [cli output] <---------------- evbuffer_remove_buffer() ----------------- [be input]
 *                                           framer -> server_packet()/server_end()
 *                                           proto_resp_feed() for the queue's head; when its
 *                                           response ends, complete_head(): counters, per-shape
 *                                           statistics, and for a slow statement a struct rec
 *                                           -> explain_submit() (auto-EXPLAIN thread) or
 *                                           -> slowlog_write() (buffered; the log thread writes)
 *
 * States (sess_set_state is the only place that changes them):
 *   CONNECTING -> GREETING -> HANDSHAKE -> AUTH -> COMMAND -> CLOSING
 * sess_fail() is the only place a session is torn down with an error: it tells the client with
 * an ERR packet where the protocol allows one, says why on stderr, and closes both sides.
 *
 * Backpressure: when the other side's output holds more than SESS_HIGH_WATER bytes, reading
 * stops until it drains below SESS_LOW_WATER, so a slow reader never makes slowtap buffer a
 * whole result set.
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "../explain/explain.h"
#include "../protocol/proto_fingerprint.h"
#include "../protocol/proto_handshake.h"
#include "../protocol/proto_packet.h"
#include "../protocol/proto_resp.h"
#include "../protocol/proto_stmt.h"
#include "../protocol/proto_wire.h"
#include "filter.h"
#include "pstmt.h"
#include "record.h"
#include "session.h"
#include "slowlog.h"
#include "tls.h"
#include "worker.h"

#define SESS_HIGH_WATER    (1u << 20)   /* pause the other side's reading above this */
#define SESS_LOW_WATER     (256u << 10) /* resume below this */
#define SESS_COPY_MAX      (1u << 20)   /* bytes of a command's payload kept for the log */
#define SESS_COPY_MAX_EXEC (64u << 20)  /* ... of an execute: its parameters are decoded */
#define SESS_HANDSHAKE_MAX (64u << 10)  /* largest handshake response accepted */
#define SESS_SMALL_PEEK    32u          /* payload bytes looked at for most packets */
#define SESS_LIVE_MIN_US   100000       /* live plans only for statements running this long */
#define PCMD_POOL_MAX      256
#define PCMD_KEEP_BUF      (64u << 10) /* recycled records keep buffers up to this size */

enum sess_state {
    SESS_CONNECTING, /* backend connect in progress */
    SESS_GREETING,   /* waiting for the server greeting */
    SESS_HANDSHAKE,  /* greeting relayed; waiting for the client's handshake response */
    SESS_AUTH,       /* authentication exchange, until the server's OK or ERR */
    SESS_COMMAND,    /* command phase */
    SESS_CLOSING,    /* backend gone; flushing the last bytes to the client */
};

static const char *const sess_state_names[] = {"connecting", "greeting", "handshake",
                                               "auth",       "command",  "closing"};

/* A command sent to the server and not yet completed. */
struct pcmd {
    struct pcmd *next;
    uint8_t cmd;
    bool live_asked;
    int64_t t_start;    /* monotonic us at the callback that read its first byte */
    int64_t wall_start; /* realtime us, for the log's # Time */
    char *buf;          /* payload copy (command byte included), at most SESS_COPY_MAX */
    size_t len, cap;
    uint64_t total; /* payload bytes the command really had */
    uint64_t bytes; /* response bytes relayed to the client */
    uint64_t live_token;
};

struct sess {
    struct sess *prev, *next; /* the worker's list */
    struct worker *w;
    enum sess_state state;
    struct bufferevent *cli, *be;
    int64_t created_us;
    int64_t closing_us;   /* when CLOSING began */
    int64_t now;          /* monotonic us at the current callback */
    uint64_t caps;        /* negotiated: client's & server's */
    uint64_t server_caps; /* what the backend offers, less PROTO_CAPS_HIDDEN */
    bool backend_has_ssl; /* the backend offered TLS */
    bool client_tls;      /* the client upgraded to TLS with slowtap */
    bool backend_tls;     /* slowtap upgraded its backend connection to TLS */
    int8_t seq_delta;     /* during authentication: backend seq = client seq + seq_delta
                             (each side's SSL request shifts its count by one) */
    uint32_t thread_id;   /* backend connection id, from the greeting */
    uint8_t last_seq;     /* sequence id of the last packet relayed, either way */
    bool cli_paused, be_paused;
    char user[64];
    char host[64];
    char schema[64];
    struct proto_framer cfr, sfr; /* framing, client->server and server->client */
    struct pcmd *rx;              /* command whose payload is arriving */
    struct pcmd *q_head, *q_tail; /* commands awaiting their responses, in order */
    struct proto_resp resp;       /* the response to q_head */
    bool resp_done;               /* q_head's response ends with the packet being relayed */
    struct pstmt_table stmts;
};

static void sess_free(struct sess *s);
static void complete_head(struct sess *s);

static void
copy_str(char *dst, size_t cap, const char *src, size_t n)
{
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(dst, src, n);
    dst[n] = '\0';
}

/* ---- command records (pooled per worker) ---- */

static struct pcmd *
pcmd_get(struct worker *w)
{
    struct pcmd *pc = w->pcmd_pool;
    if (pc) {
        w->pcmd_pool = pc->next;
        w->pcmd_pool_n--;
    } else {
        pc = calloc(1, sizeof *pc);
        if (!pc) {
            return NULL;
        }
    }
    char *buf = pc->buf;
    size_t cap = pc->cap;
    memset(pc, 0, sizeof *pc);
    pc->buf = buf;
    pc->cap = cap;
    return pc;
}

static void
pcmd_put(struct worker *w, struct pcmd *pc)
{
    if (pc->cap > PCMD_KEEP_BUF) {
        free(pc->buf);
        pc->buf = NULL;
        pc->cap = 0;
    }
    if (w->pcmd_pool_n >= PCMD_POOL_MAX) {
        free(pc->buf);
        free(pc);
        return;
    }
    pc->next = w->pcmd_pool;
    w->pcmd_pool = pc;
    w->pcmd_pool_n++;
}

void
sess_pool_free(struct worker *w)
{
    while (w->pcmd_pool) {
        struct pcmd *pc = w->pcmd_pool;
        w->pcmd_pool = pc->next;
        free(pc->buf);
        free(pc);
    }
    w->pcmd_pool_n = 0;
}

/* Appends payload bytes to the record, up to SESS_COPY_MAX. */
static void
pcmd_copy(struct pcmd *pc, struct evbuffer *in, size_t off, size_t n)
{
    size_t max = pc->cmd == PROTO_COM_STMT_EXECUTE || pc->cmd == PROTO_COM_STMT_BULK_EXECUTE
                     ? SESS_COPY_MAX_EXEC
                     : SESS_COPY_MAX;
    if (pc->len >= max) {
        return;
    }
    if (n > max - pc->len) {
        n = max - pc->len;
    }
    if (pc->len + n + 1 > pc->cap) {
        size_t want = pc->total + 1 < max + 1 ? (size_t)pc->total + 1 : max + 1;
        if (want < pc->len + n + 1) {
            /* past the first physical packet (16 MiB payloads): grow geometrically */
            want = pc->cap * 2 > pc->len + n + 1 ? pc->cap * 2 : pc->len + n + 1;
            if (want > max + 1) {
                want = max + 1;
            }
        }
        char *nb = realloc(pc->buf, want);
        if (!nb) {
            return; /* the log gets a shorter text; traffic is unaffected */
        }
        pc->buf = nb;
        pc->cap = want;
    }
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
    evbuffer_copyout_from(in, &pos, pc->buf + pc->len, n);
    pc->len += n;
    pc->buf[pc->len] = '\0';
}

/* ---- state and teardown ---- */

static void
sess_set_state(struct sess *s, enum sess_state st)
{
    if (st == SESS_CLOSING && s->state != SESS_CLOSING) {
        s->closing_us = worker_now_us();
    }
    s->state = st;
}

static void sess_log(const struct sess *s, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
sess_log(const struct sess *s, const char *fmt, ...)
{
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "slowtap: [thread %u %s@%s, %s] %s\n", s->thread_id, s->user[0] ? s->user : "-",
            s->host[0] ? s->host : "localhost", sess_state_names[s->state], msg);
}

/*
 * Tears the session down with an error: logs `why`, sends the client an ERR packet when
 * `code` is non-zero (sequence id: one after the last packet relayed, or 0 before the
 * greeting), closes the backend and closes the client once the ERR is flushed.
 * The session may be freed before this returns: callers must not touch it afterwards.
 */
static void sess_fail(struct sess *s, uint16_t code, const char *sqlstate, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
sess_fail(struct sess *s, uint16_t code, const char *sqlstate, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sess_log(s, "closing: %s", msg);

    if (s->be) {
        bufferevent_free(s->be);
        s->be = NULL;
    }
    if (!s->cli) {
        sess_free(s);
        return;
    }
    if (code) {
        uint8_t pkt[PROTO_HDR_LEN + 512];
        uint8_t seq = s->state <= SESS_GREETING ? 0 : (uint8_t)(s->last_seq + 1);
        size_t n = proto_err_build(pkt, sizeof pkt, seq, code, sqlstate, msg);
        bufferevent_write(s->cli, pkt, n);
    }
    sess_set_state(s, SESS_CLOSING);
    bufferevent_disable(s->cli, EV_READ);
    if (evbuffer_get_length(bufferevent_get_output(s->cli)) == 0) {
        sess_free(s);
        return;
    }
    bufferevent_setwatermark(s->cli, EV_WRITE, 0, 0);
    bufferevent_enable(s->cli, EV_WRITE);
}

static void
sess_free(struct sess *s)
{
    struct worker *w = s->w;
    if (s->cli) {
        bufferevent_free(s->cli);
    }
    if (s->be) {
        bufferevent_free(s->be);
    }
    if (s->rx) {
        pcmd_put(w, s->rx);
    }
    while (s->q_head) {
        struct pcmd *pc = s->q_head;
        s->q_head = pc->next;
        pcmd_put(w, pc);
    }
    pstmt_clear(&s->stmts);
    if (s->prev) {
        s->prev->next = s->next;
    } else {
        w->sessions = s->next;
    }
    if (s->next) {
        s->next->prev = s->prev;
    }
    w->nsessions--;
    COUNTER_ADD(&w->counters, connections_active, (uint64_t)-1);
    atomic_fetch_sub_explicit(&w->app->connections, 1, memory_order_relaxed);
    free(s);
}

void
sess_close_flushed(struct sess *s)
{
    if (s->be) {
        bufferevent_free(s->be);
        s->be = NULL;
    }
    sess_set_state(s, SESS_CLOSING);
    if (!s->cli || evbuffer_get_length(bufferevent_get_output(s->cli)) == 0) {
        sess_free(s);
        return;
    }
    bufferevent_disable(s->cli, EV_READ);
    bufferevent_setwatermark(s->cli, EV_WRITE, 0, 0);
    bufferevent_enable(s->cli, EV_WRITE);
}

void
sess_close(struct sess *s)
{
    sess_free(s);
}

int
sess_idle(const struct sess *s)
{
    return s->q_head == NULL && s->rx == NULL;
}

struct sess *
sess_next(const struct sess *s)
{
    return s->next;
}

/* ---- recording completed statements ---- */

struct lit_list {
    char **v;
    size_t *n;
    bool *cut;
    unsigned count, cap;
};

static void
lit_add(void *ctx, unsigned idx, const char *lit, size_t len, bool truncated)
{
    struct lit_list *l = ctx;
    (void)idx;
    if (l->count == l->cap) {
        unsigned ncap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, ncap * sizeof *v);
        if (v) {
            l->v = v;
        }
        size_t *n = realloc(l->n, ncap * sizeof *n);
        if (n) {
            l->n = n;
        }
        bool *cut = realloc(l->cut, ncap * sizeof *cut);
        if (cut) {
            l->cut = cut;
        }
        if (!v || !n || !cut) {
            return;
        }
        l->cap = ncap;
    }
    char *copy = malloc(len + 1);
    if (!copy) {
        return;
    }
    memcpy(copy, lit, len);
    copy[len] = '\0';
    l->v[l->count] = copy;
    l->n[l->count] = len;
    l->cut[l->count] = truncated;
    l->count++;
}

static void
lit_free(struct lit_list *l)
{
    for (unsigned i = 0; i < l->count; i++) {
        free(l->v[i]);
    }
    free(l->v);
    free(l->n);
    free(l->cut);
}

/* Fills rec->sql (parameters substituted), rec->params and rec->prepared_sql for an executed
 * prepared statement. Decoding also records the bound types in st. */
static void
rec_fill_execute(struct rec *rec, struct pstmt *st, const struct pcmd *pc)
{
    struct lit_list lits = {0};
    struct proto_param_sink sink = {lit_add, &lits, 1024};
    uint32_t rows = 0;
    if (pc->cmd == PROTO_COM_STMT_BULK_EXECUTE) {
        /* The first row of parameters stands for the batch; the row count is noted. */
        proto_bulk_execute_params((const uint8_t *)pc->buf, pc->len, st->nparams, st->types, &sink,
                                  &rows);
    } else {
        proto_execute_params((const uint8_t *)pc->buf, pc->len, st->nparams, st->types,
                             st->long_data, &sink);
    }

    rec->bulk_rows = rows;
    size_t plen = 0;
    for (unsigned i = 0; i < lits.count; i++) {
        plen += lits.n[i] + 8;
    }
    char *params = lits.count ? malloc(plen + 1) : NULL;
    if (params) {
        size_t o = 0;
        for (unsigned i = 0; i < lits.count; i++) {
            o += (size_t)sprintf(params + o, "%s%s%s", i ? ", " : "", lits.v[i],
                                 lits.cut[i] ? "..." : "");
        }
        params[o] = '\0';
        rec->params = params;
    }
    size_t need = proto_substitute(st->sql, st->sql_len, (const char *const *)lits.v, lits.n,
                                   lits.count, NULL, 0);
    char *sql = malloc(need + 1);
    if (sql) {
        proto_substitute(st->sql, st->sql_len, (const char *const *)lits.v, lits.n, lits.count, sql,
                         need + 1);
        rec->sql = sql;
        rec->sql_len = strlen(sql);
    }
    rec->prepared_sql = strdup(st->sql);
    lit_free(&lits);
}

/* Records a completed command: counters, per-shape statistics, and the slow log. */
static void
record(struct sess *s, struct pcmd *pc, struct pstmt *st)
{
    struct worker *w = s->w;
    struct app *app = w->app;
    const struct proto_resp *r = &s->resp;
    uint64_t dur = s->now > pc->t_start ? (uint64_t)(s->now - pc->t_start) : 0;
    char fp[STATS_FINGERPRINT_MAX];
    const char *sql = NULL;
    size_t sql_len = 0;
    const char *fpp = fp;
    uint64_t digest;
    bool explainable = false;

    COUNTER_ADD(&w->counters, statements, 1);
    COUNTER_ADD(&w->counters, query_us_total, dur);
    hist_add(&w->counters.latency, dur);
    if (r->err_code) {
        COUNTER_ADD(&w->counters, statement_errors, 1);
    }

    if (pc->cmd == PROTO_COM_QUERY && pc->len > 1) {
        sql = pc->buf + 1;
        sql_len = pc->len - 1;
        digest = proto_fingerprint(sql, sql_len, fp, sizeof fp);
        explainable = proto_stmt_explainable(proto_stmt_classify(sql, sql_len));
    } else if ((pc->cmd == PROTO_COM_STMT_EXECUTE || pc->cmd == PROTO_COM_STMT_BULK_EXECUTE) &&
               st) {
        sql = st->sql;
        sql_len = st->sql_len;
        digest = st->digest;
        fpp = st->fingerprint;
        explainable = st->explainable && pc->cmd == PROTO_COM_STMT_EXECUTE;
    } else {
        const char *name = proto_com_name(pc->cmd);
        int n = name ? snprintf(fp, sizeof fp, "administrator command: %s", name)
                     : snprintf(fp, sizeof fp, "administrator command: %u", pc->cmd);
        digest = proto_fingerprint(fp, (size_t)n, NULL, 0);
    }

    struct stats_sample sm = {
        .digest = digest,
        .fingerprint = fpp,
        .fingerprint_len = strlen(fpp),
        .example = sql ? sql : fp,
        .example_len = sql ? sql_len : strlen(fp),
        .query_us = dur,
        .rows_sent = r->rows_sent,
        .rows_affected = r->rows_affected,
        .error = r->err_code != 0,
        .no_index_used =
            (r->status_or & (PROTO_SERVER_QUERY_NO_INDEX | PROTO_SERVER_QUERY_NO_GOOD_INDEX)) != 0,
        .wall_us = pc->wall_start + (int64_t)dur,
    };
    stats_local_record(w->stats, &sm);

    bool slow = (int64_t)dur >= app->conf->long_query_us;
    bool explain = app->explain && explainable && dur >= app->explain_threshold_us;
    if (!slow && !explain) {
        return;
    }
    /* --include/--exclude see the statement, or "administrator command: X" for others. */
    if (!filter_wants(app->filter, sql ? sql : fp, sql ? sql_len : strlen(fp))) {
        return;
    }
    if (slow) {
        COUNTER_ADD(&w->counters, slow_statements, 1);
    }

    struct rec *rec = rec_new();
    if (!rec) {
        return;
    }
    rec->start_wall_us = pc->wall_start;
    rec->thread_id = s->thread_id;
    copy_str(rec->user, sizeof rec->user, s->user, strlen(s->user));
    copy_str(rec->host, sizeof rec->host, s->host, strlen(s->host));
    copy_str(rec->schema, sizeof rec->schema, s->schema, strlen(s->schema));
    rec->cmd = pc->cmd;
    if (pc->cmd == PROTO_COM_QUERY && sql) {
        rec_set_sql(rec, sql, sql_len);
        rec->sql_truncated = pc->total > pc->len;
    } else if (st && sql) {
        rec_fill_execute(rec, st, pc);
        rec->sql_truncated = pc->total > pc->len;
    }
    rec->digest = digest;
    rec->fingerprint = strdup(fpp);
    rec->explainable = explainable;
    rec->query_us = dur;
    rec->rows_sent = r->rows_sent;
    rec->rows_affected = r->rows_affected;
    rec->bytes_sent = pc->bytes;
    rec->status = r->status_or;
    rec->err_code = r->err_code;
    copy_str(rec->err_msg, sizeof rec->err_msg, r->err_msg, strlen(r->err_msg));
    rec->live_token = pc->live_token;

    if (explain && explain_submit(app->explain, rec, slow)) {
        return;
    }
    if (slow) {
        slowlog_write(w->slowbuf, app->conf->log_format, app->filter, rec);
    }
    rec_free(rec);
}

/* What a completed command changes in the session: schema, user, prepared statements. */
static void
track(struct sess *s, struct pcmd *pc, struct pstmt **stp)
{
    const struct proto_resp *r = &s->resp;
    bool ok = r->err_code == 0;
    const char *arg = pc->buf ? pc->buf + 1 : "";
    size_t arg_len = pc->len ? pc->len - 1 : 0;
    uint32_t id;

    switch (pc->cmd) {
    case PROTO_COM_QUERY:
        if (ok && arg_len >= 3) {
            char db[sizeof s->schema];
            if (proto_stmt_use_schema(arg, arg_len, db, sizeof db)) {
                copy_str(s->schema, sizeof s->schema, db, strlen(db));
            }
        }
        break;
    case PROTO_COM_INIT_DB:
        if (ok) {
            copy_str(s->schema, sizeof s->schema, arg, arg_len);
        }
        break;
    case PROTO_COM_STMT_PREPARE:
        if (ok && r->prepared) {
            pstmt_add(&s->stmts, r->stmt_id, arg, arg_len, r->stmt_params, r->stmt_cols);
        } else {
            s->stmts.last_id = 0; /* statement id 0xFFFFFFFF now names no statement */
        }
        break;
    case PROTO_COM_STMT_EXECUTE:
    case PROTO_COM_STMT_BULK_EXECUTE:
        if (proto_stmt_id_parse((const uint8_t *)pc->buf, pc->len, &id) == PROTO_OK) {
            *stp = pstmt_find(&s->stmts, id);
        }
        break;
    case PROTO_COM_CHANGE_USER:
        if (ok) {
            char user[sizeof s->user], db[sizeof s->schema];
            if (proto_change_user_parse((const uint8_t *)pc->buf, pc->len, s->caps, user,
                                        sizeof user, db, sizeof db) == PROTO_OK) {
                copy_str(s->user, sizeof s->user, user, strlen(user));
                copy_str(s->schema, sizeof s->schema, db, strlen(db));
            }
        }
        pstmt_clear(&s->stmts);
        break;
    case PROTO_COM_RESET_CONNECTION:
        if (ok) {
            pstmt_clear(&s->stmts);
        }
        break;
    case PROTO_COM_STMT_RESET:
        if (proto_stmt_id_parse((const uint8_t *)pc->buf, pc->len, &id) == PROTO_OK) {
            struct pstmt *st = pstmt_find(&s->stmts, id);
            if (st) {
                pstmt_long_data_reset(st);
            }
        }
        break;
    default:
        break;
    }
}

/* A command with no response (COM_STMT_CLOSE, COM_STMT_SEND_LONG_DATA, COM_QUIT) takes
 * effect in order with the commands before it. */
static void
apply_no_response(struct sess *s, struct pcmd *pc)
{
    const uint8_t *p = (const uint8_t *)pc->buf;
    uint32_t id;
    uint16_t param;
    const uint8_t *data;
    size_t dlen;

    if (pc->cmd == PROTO_COM_STMT_CLOSE) {
        if (proto_stmt_id_parse(p, pc->len, &id) == PROTO_OK) {
            pstmt_remove(&s->stmts, id);
        }
    } else if (pc->cmd == PROTO_COM_STMT_SEND_LONG_DATA) {
        if (proto_long_data_parse(p, pc->len, &id, &param, &data, &dlen) == PROTO_OK) {
            struct pstmt *st = pstmt_find(&s->stmts, id);
            if (st) {
                pstmt_long_data(st, param, data, dlen);
                /* what the copy missed still counts in the total */
                if (pc->total > pc->len && param < st->nparams) {
                    st->long_data[param].total += pc->total - pc->len;
                }
            }
        }
    }
    COUNTER_ADD(&s->w->counters, statements, 1);
}

/* Starts tracking the response of the new queue head; applies no-response commands. */
static void
start_head(struct sess *s)
{
    while (s->q_head && !proto_com_has_response(s->q_head->cmd)) {
        struct pcmd *pc = s->q_head;
        s->q_head = pc->next;
        if (!s->q_head) {
            s->q_tail = NULL;
        }
        apply_no_response(s, pc);
        pcmd_put(s->w, pc);
    }
    if (s->q_head) {
        proto_resp_begin(&s->resp, s->q_head->cmd, s->caps);
    }
}

static void
complete_head(struct sess *s)
{
    struct pcmd *pc = s->q_head;
    struct pstmt *st = NULL;

    track(s, pc, &st);
    record(s, pc, st);
    if (st && pc->cmd == PROTO_COM_STMT_EXECUTE) {
        pstmt_note_types(st, (const uint8_t *)pc->buf, pc->len);
        pstmt_long_data_reset(st);
    }
    s->q_head = pc->next;
    if (!s->q_head) {
        s->q_tail = NULL;
    }
    pcmd_put(s->w, pc);
    start_head(s);
}

/* ---- packets from the client ---- */

/* A packet header from the client has been read; p holds its first avail payload bytes.
 * Returns -1 when the session was torn down. */
static int
client_packet(struct sess *s, const struct proto_frame_step *st, const uint8_t *p, size_t avail)
{
    if (st->kind == PROTO_FRAME_CONTINUATION || s->state != SESS_COMMAND) {
        return 0; /* continuation of a large packet, or authentication data: relayed as is */
    }
    if (s->q_head && proto_resp_wants_client(&s->resp)) {
        /* LOCAL INFILE data or COM_CHANGE_USER authentication data. */
        proto_resp_client_packet(&s->resp, st->hdr.len);
        return 0;
    }
    if (st->hdr.seq != 0 || st->hdr.len == 0 || avail == 0) {
        COUNTER_ADD(&s->w->counters, protocol_errors, 1);
        sess_fail(s, PROTO_ER_NET_PACKETS_OUT_OF_ORDER, "08S01",
                  "Got packets out of order (slowtap: a %s packet with sequence id %u where a "
                  "command was expected)",
                  st->hdr.len ? "command" : "empty", st->hdr.seq);
        return -1;
    }
    struct pcmd *pc = pcmd_get(s->w);
    if (!pc) {
        sess_fail(s, 1037, "HY001", "Out of memory (slowtap)");
        return -1;
    }
    pc->cmd = p[0];
    pc->t_start = s->now;
    pc->wall_start = worker_wall_us();
    pc->total = st->hdr.len;
    s->rx = pc;
    return 0;
}

/* The client's current logical packet has been relayed completely. */
static int
client_end(struct sess *s)
{
    struct pcmd *pc = s->rx;
    if (!pc) {
        return 0;
    }
    s->rx = NULL;
    if (pc->cmd == PROTO_COM_QUIT) {
        pcmd_put(s->w, pc);
        return 0; /* the server closes; so do we */
    }
    if (!s->q_head && !proto_com_has_response(pc->cmd)) {
        apply_no_response(s, pc);
        pcmd_put(s->w, pc);
        return 0;
    }
    if (s->q_tail) {
        s->q_tail->next = pc;
    } else {
        s->q_head = pc;
    }
    s->q_tail = pc;
    if (s->q_head == pc) {
        start_head(s);
    }
    return 0;
}

/* ---- packets from the server ---- */

static int
server_packet(struct sess *s, const struct proto_frame_step *st, const uint8_t *p, size_t avail)
{
    if (s->q_head) {
        s->q_head->bytes += PROTO_HDR_LEN + st->hdr.len;
    }
    if (st->kind == PROTO_FRAME_CONTINUATION) {
        return 0;
    }
    if (s->state == SESS_AUTH) {
        if (avail && p[0] == PROTO_OK_HDR) {
            sess_set_state(s, SESS_COMMAND);
        }
        return 0; /* ERR: relayed; the server closes the connection */
    }
    if (!s->q_head) {
        if (avail && p[0] == PROTO_ERR_HDR) {
            return 0; /* e.g. the server's notice before it closes an idle connection */
        }
        COUNTER_ADD(&s->w->counters, protocol_errors, 1);
        sess_fail(s, 0, "", "backend sent a packet (0x%02x, %u bytes) when no command was pending",
                  avail ? p[0] : 0, st->hdr.len);
        return -1;
    }
    enum proto_rc rc = proto_resp_feed(&s->resp, p, avail, st->hdr.len);
    if (rc == PROTO_ERROR) {
        COUNTER_ADD(&s->w->counters, protocol_errors, 1);
        sess_fail(s, 0, "",
                  "backend sent a packet (0x%02x, %u bytes) that cannot follow command 0x%02x here",
                  avail ? p[0] : 0, st->hdr.len, s->q_head->cmd);
        return -1;
    }
    if (rc == PROTO_OK) {
        s->resp_done = true;
    }
    return 0;
}

static int
server_end(struct sess *s)
{
    if (s->resp_done) {
        s->resp_done = false;
        complete_head(s);
    }
    return 0;
}

/* ---- the relay ---- */

static void
peek(struct evbuffer *in, size_t off, uint8_t *out, size_t n)
{
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
    evbuffer_copyout_from(in, &pos, out, n);
}

/*
 * Sends what was just added to a plain socket's output at once, with one writev, instead of
 * arming libevent's write event (an epoll_ctl on and off per packet). Only when the kernel does
 * not take everything is the write event armed; the write callback disarms it once the output
 * is empty. TLS bufferevents write by themselves.
 */
static void
push(struct sess *s, struct bufferevent *bev)
{
    bool tls = bev == s->cli ? s->client_tls : s->backend_tls;
    if (tls || s->state == SESS_CONNECTING || (bufferevent_get_enabled(bev) & EV_WRITE)) {
        return;
    }
    struct evbuffer *out = bufferevent_get_output(bev);
    /* A socket bufferevent keeps the start of its output frozen outside its own write
     * callback; do as that callback does. */
    evbuffer_unfreeze(out, 1);
    evbuffer_write(out, bufferevent_getfd(bev));
    evbuffer_freeze(out, 1);
    if (evbuffer_get_length(out) > 0) {
        /* The rest, or the error, is libevent's: it reports failures through the event cb. */
        bufferevent_enable(bev, EV_WRITE);
    }
}

/* Overwrites one byte in place (a sequence id in a header that is about to be relayed). */
static void
poke(struct evbuffer *in, size_t off, uint8_t v)
{
    struct evbuffer_ptr pos;
    struct evbuffer_iovec vec;
    evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
    if (evbuffer_peek(in, 1, &pos, &vec, 1) >= 1 && vec.iov_len >= 1) {
        *(uint8_t *)vec.iov_base = v;
    }
}

/*
 * Moves every whole or partial packet available from one side to the other, looking at each
 * packet's header and first bytes on the way. A header whose first payload bytes have not
 * arrived yet stays in the input until they do. Returns -1 when the session was torn down.
 */
static int
relay(struct sess *s, bool from_client)
{
    struct bufferevent *src = from_client ? s->cli : s->be;
    struct bufferevent *dst = from_client ? s->be : s->cli;
    struct evbuffer *in = bufferevent_get_input(src);
    struct proto_framer *fr = from_client ? &s->cfr : &s->sfr;
    size_t total = evbuffer_get_length(in), off = 0;
    uint8_t hb[PROTO_HDR_LEN + PROTO_RESP_PEEK];

    while (off < total) {
        if (fr->body_left > 0) {
            size_t n = total - off < fr->body_left ? total - off : (size_t)fr->body_left;
            if (from_client && s->rx) {
                pcmd_copy(s->rx, in, off, n);
            }
            fr->body_left -= n;
            off += n;
        } else {
            size_t left = total - off;
            if (left < PROTO_HDR_LEN) {
                break;
            }
            peek(in, off, hb, PROTO_HDR_LEN);
            uint32_t len = proto_le24(hb);
            size_t want = len < SESS_SMALL_PEEK ? len : SESS_SMALL_PEEK;
            if (left - PROTO_HDR_LEN < want) {
                break;
            }
            peek(in, off + PROTO_HDR_LEN, hb + PROTO_HDR_LEN, want);
            if (!from_client && want < len &&
                (hb[PROTO_HDR_LEN] == PROTO_ERR_HDR || hb[PROTO_HDR_LEN] == PROTO_INFILE_HDR)) {
                size_t want2 = len < PROTO_RESP_PEEK ? len : PROTO_RESP_PEEK;
                if (left - PROTO_HDR_LEN < want2) {
                    break;
                }
                peek(in, off + PROTO_HDR_LEN, hb + PROTO_HDR_LEN, want2);
                want = want2;
            }
            struct proto_frame_step st;
            proto_framer_step(fr, hb, PROTO_HDR_LEN, &st);
            s->last_seq = st.hdr.seq;
            if (s->seq_delta && s->state <= SESS_AUTH) {
                uint8_t seq =
                    (uint8_t)(from_client ? st.hdr.seq + s->seq_delta : st.hdr.seq - s->seq_delta);
                poke(in, off + 3, seq);
                if (!from_client) {
                    s->last_seq = seq;
                }
            }
            off += PROTO_HDR_LEN;
            int rc = from_client ? client_packet(s, &st, hb + PROTO_HDR_LEN, want)
                                 : server_packet(s, &st, hb + PROTO_HDR_LEN, want);
            if (rc < 0) {
                return -1;
            }
        }
        if (fr->body_left == 0 && !fr->next_continues) {
            if (from_client) {
                client_end(s);
            } else {
                server_end(s);
            }
        }
    }
    if (off) {
        struct counters *c = &s->w->counters;
        if (from_client) {
            COUNTER_ADD(c, bytes_from_client, off);
        } else {
            COUNTER_ADD(c, bytes_to_client, off);
        }
        evbuffer_remove_buffer(in, bufferevent_get_output(dst), off);
        push(s, dst);
        if (evbuffer_get_length(bufferevent_get_output(dst)) > SESS_HIGH_WATER) {
            bufferevent_disable(src, EV_READ);
            if (from_client) {
                s->cli_paused = true;
            } else {
                s->be_paused = true;
            }
        }
    }
    return 0;
}

/* ---- connection phase ---- */

/* Reads a whole packet of at most `max` payload bytes into a buffer pulled up in `in`.
 * Returns the payload length, -2 when more bytes are needed, -1 when too large. */
static long
whole_packet(struct evbuffer *in, size_t max, uint8_t **payload, uint8_t *seq)
{
    uint8_t hdr[PROTO_HDR_LEN];
    if (evbuffer_copyout(in, hdr, sizeof hdr) < (ev_ssize_t)sizeof hdr) {
        return -2;
    }
    uint32_t len = proto_le24(hdr);
    if (len > max) {
        return -1;
    }
    if (evbuffer_get_length(in) < PROTO_HDR_LEN + len) {
        return -2;
    }
    *payload = evbuffer_pullup(in, PROTO_HDR_LEN + len) + PROTO_HDR_LEN;
    *seq = hdr[3];
    return len;
}

/* The server greeting: remember the thread id and capabilities, hide TLS and compression. */
static int
read_greeting(struct sess *s)
{
    struct evbuffer *in = bufferevent_get_input(s->be);
    uint8_t *p, seq;
    long len = whole_packet(in, SESS_HANDSHAKE_MAX, &p, &seq);
    if (len == -2) {
        return 0;
    }
    struct proto_greeting g;
    if (len < 0 || proto_greeting_parse(p, (size_t)len, &g) != PROTO_OK) {
        if (len > 0 && p[0] == PROTO_ERR_HDR) {
            /* The server refuses us (too many connections, host blocked): relay and close. */
            evbuffer_remove_buffer(in, bufferevent_get_output(s->cli), PROTO_HDR_LEN + (size_t)len);
            sess_fail(s, 0, "", "backend refused the connection");
            return -1;
        }
        COUNTER_ADD(&s->w->counters, protocol_errors, 1);
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR, "HY000",
                  "slowtap: backend %s sent an invalid greeting", s->w->app->backend_addr.text);
        return -1;
    }
    s->thread_id = g.conn_id;
    s->backend_has_ssl = (g.caps & PROTO_CAP_SSL) != 0;
    s->server_caps = g.caps & ~PROTO_CAPS_HIDDEN;
    proto_greeting_set_caps(p, (size_t)len, &g,
                            s->server_caps | (tls_server_enabled() ? PROTO_CAP_SSL : 0));
    s->last_seq = seq;
    evbuffer_remove_buffer(in, bufferevent_get_output(s->cli), PROTO_HDR_LEN + (size_t)len);
    push(s, s->cli);
    sess_set_state(s, SESS_HANDSHAKE);
    s->created_us = s->now; /* the client's handshake timeout starts with the greeting */
    bufferevent_enable(s->cli, EV_READ);
    return 0;
}

static void cli_read(struct bufferevent *bev, void *arg);
static void cli_write(struct bufferevent *bev, void *arg);
static void cli_event(struct bufferevent *bev, short what, void *arg);
static void be_read(struct bufferevent *bev, void *arg);
static void be_write(struct bufferevent *bev, void *arg);
static void be_event(struct bufferevent *bev, short what, void *arg);

static void
bev_tune(struct bufferevent *bev)
{
    bufferevent_setwatermark(bev, EV_WRITE, SESS_LOW_WATER, 0);
    bufferevent_set_max_single_read(bev, 256 << 10);
    bufferevent_set_max_single_write(bev, 256 << 10);
}

/* Puts TLS over one side (the client's when `client`, else the backend's): a
 * bufferevent_openssl filter replaces the socket bufferevent, which it then owns. Takes `ssl`.
 * Returns -1 when the session was torn down. */
static int
upgrade(struct sess *s, bool client, SSL *ssl)
{
    struct bufferevent **side = client ? &s->cli : &s->be;
    struct bufferevent *f =
        ssl ? bufferevent_openssl_filter_new(s->w->base, *side, ssl,
                                             client ? BUFFEREVENT_SSL_ACCEPTING
                                                    : BUFFEREVENT_SSL_CONNECTING,
                                             BEV_OPT_CLOSE_ON_FREE)
            : NULL;
    if (!f) {
        if (ssl) {
            SSL_free(ssl);
        }
        sess_fail(s, 1037, "HY001", "Out of memory (slowtap, TLS)");
        return -1;
    }
    *side = f;
    if (client) {
        s->client_tls = true;
        bufferevent_setcb(f, cli_read, cli_write, cli_event, s);
    } else {
        s->backend_tls = true;
        bufferevent_setcb(f, be_read, be_write, be_event, s);
    }
    bev_tune(f);
    bufferevent_enable(f, EV_READ | EV_WRITE);
    return 0;
}

/* The client sent an SSL request: TLS starts on its connection; the real handshake response
 * follows inside it. */
static int
start_client_tls(struct sess *s, size_t len)
{
    struct evbuffer *in = bufferevent_get_input(s->cli);
    SSL *ssl = tls_server_enabled() ? tls_server_ssl() : NULL;
    if (!ssl) {
        sess_fail(s, PROTO_ER_HANDSHAKE_ERROR, "08S01",
                  "Bad handshake: slowtap does not offer TLS to clients (no --tls-cert)");
        return -1;
    }
    evbuffer_drain(in, PROTO_HDR_LEN + len);
    return upgrade(s, true, ssl);
}

/* Before relaying the handshake response: when --backend-tls asks for it, send the backend
 * our own SSL request (the client's capabilities plus CLIENT_SSL) and upgrade. */
static int
start_backend_tls(struct sess *s, const uint8_t *resp)
{
    enum conf_backend_tls mode = s->w->app->conf->backend_tls;
    if (mode == CONF_BTLS_OFF || (mode == CONF_BTLS_PREFERRED && !s->backend_has_ssl)) {
        return 0;
    }
    if (!s->backend_has_ssl) {
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR, "HY000",
                  "TLS connection error: backend %s does not offer TLS (slowtap --backend-tls)",
                  s->w->app->backend_addr.text);
        return -1;
    }
    uint8_t req[PROTO_HDR_LEN + 32];
    proto_hdr_write(req, 32, 1);
    memcpy(req + PROTO_HDR_LEN, resp, 32);
    proto_put_le32(req + PROTO_HDR_LEN, proto_le32(resp) | (uint32_t)PROTO_CAP_SSL);
    /* Written now, sent first: the filter flushes the socket's output before its handshake. */
    bufferevent_write(s->be, req, sizeof req);
    return upgrade(s, false, tls_backend_ssl());
}

/* The client's handshake response: learn user and schema (never the auth data). */
static int
read_handshake(struct sess *s)
{
    struct evbuffer *in = bufferevent_get_input(s->cli);
    uint8_t *p, seq;
    long len = whole_packet(in, SESS_HANDSHAKE_MAX, &p, &seq);
    if (len == -2) {
        return 0;
    }
    struct proto_hsresp hr;
    if (len < 0 || proto_hsresp_parse(p, (size_t)len, &hr) != PROTO_OK) {
        COUNTER_ADD(&s->w->counters, protocol_errors, 1);
        s->last_seq = seq;
        sess_fail(s, PROTO_ER_HANDSHAKE_ERROR, "08S01", "Bad handshake");
        return -1;
    }
    s->last_seq = seq;
    if (hr.ssl_request) {
        return start_client_tls(s, (size_t)len);
    }
    if (s->w->app->conf->tls_require && !s->client_tls) {
        sess_fail(s, PROTO_ER_SECURE_TRANSPORT_REQUIRED, "08004",
                  "Connections using insecure transport are prohibited while --tls-require is "
                  "on (slowtap)");
        return -1;
    }
    copy_str(s->user, sizeof s->user, hr.user, strlen(hr.user));
    copy_str(s->schema, sizeof s->schema, hr.db, strlen(hr.db));
    /* Extended (MariaDB) bits are set on each side only when that side is MariaDB. */
    s->caps = hr.caps & s->server_caps;
    if (start_backend_tls(s, p) < 0) {
        return -1;
    }
    /* The response goes on with the backend's view of TLS and the backend's sequence. */
    s->seq_delta = (int8_t)((s->backend_tls ? 1 : 0) - (s->client_tls ? 1 : 0));
    uint32_t caps_lo = proto_le32(p);
    caps_lo =
        s->backend_tls ? caps_lo | (uint32_t)PROTO_CAP_SSL : caps_lo & ~(uint32_t)PROTO_CAP_SSL;
    proto_put_le32(p, caps_lo);
    p[-1] = (uint8_t)(seq + s->seq_delta);
    evbuffer_remove_buffer(in, bufferevent_get_output(s->be), PROTO_HDR_LEN + (size_t)len);
    push(s, s->be);
    sess_set_state(s, SESS_AUTH);
    return 0;
}

/* ---- libevent callbacks ---- */

static void
resume(struct sess *s)
{
    if (s->cli_paused && s->be &&
        evbuffer_get_length(bufferevent_get_output(s->be)) <= SESS_LOW_WATER) {
        s->cli_paused = false;
        bufferevent_enable(s->cli, EV_READ);
    }
    if (s->be_paused && s->cli &&
        evbuffer_get_length(bufferevent_get_output(s->cli)) <= SESS_LOW_WATER) {
        s->be_paused = false;
        bufferevent_enable(s->be, EV_READ);
    }
}

static void
cli_read(struct bufferevent *bev, void *arg)
{
    struct sess *s = arg;
    (void)bev;
    s->now = worker_now_us();
    switch (s->state) {
    case SESS_HANDSHAKE:
        if (read_handshake(s) < 0 || s->state != SESS_AUTH) {
            return;
        }
        /* more bytes may follow the handshake response */
        __attribute__((fallthrough));
    case SESS_AUTH:
    case SESS_COMMAND:
        relay(s, true);
        return;
    default:
        return; /* nothing is expected from the client now: leave it buffered */
    }
}

static void
be_read(struct bufferevent *bev, void *arg)
{
    struct sess *s = arg;
    (void)bev;
    s->now = worker_now_us();
    switch (s->state) {
    case SESS_GREETING:
        read_greeting(s);
        return;
    case SESS_HANDSHAKE:
    case SESS_AUTH:
    case SESS_COMMAND:
        relay(s, false);
        return;
    default:
        return;
    }
}

/* libevent wrote some of what push() left: disarm the write event once all is out. */
static void
drained(struct sess *s, struct bufferevent *bev, bool tls)
{
    if (!tls && evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
        bufferevent_disable(bev, EV_WRITE);
    }
    resume(s);
}

static void
cli_write(struct bufferevent *bev, void *arg)
{
    struct sess *s = arg;
    if (s->state == SESS_CLOSING) {
        if (evbuffer_get_length(bufferevent_get_output(bev)) == 0) {
            sess_free(s);
        }
        return;
    }
    drained(s, bev, s->client_tls);
}

static void
be_write(struct bufferevent *bev, void *arg)
{
    struct sess *s = arg;
    drained(s, bev, s->backend_tls);
}

static void
cli_event(struct bufferevent *bev, short what, void *arg)
{
    struct sess *s = arg;
    (void)bev;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        /* The client left: close both sides (the server rolls back what was open). */
        sess_free(s);
    }
}

static void
be_event(struct bufferevent *bev, short what, void *arg)
{
    struct sess *s = arg;
    (void)bev;
    if (what & BEV_EVENT_CONNECTED) {
        if (s->state != SESS_CONNECTING) {
            return; /* the TLS handshake with the backend finished */
        }
        sess_set_state(s, SESS_GREETING);
        bufferevent_disable(s->be, EV_WRITE); /* push() writes; see there */
        if (!net_addr_is_unix(&s->w->app->backend_addr)) {
            int one = 1;
            setsockopt(bufferevent_getfd(s->be), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
        return;
    }
    const char *addr = s->w->app->backend_addr.text;
    int err = EVUTIL_SOCKET_ERROR();
    COUNTER_ADD(&s->w->counters, backend_errors, s->state == SESS_CONNECTING || s->q_head);
    if (s->state == SESS_CONNECTING) {
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR, "HY000",
                  "Can't connect to MySQL server on '%s' (%d \"%s\") (slowtap backend)", addr, err,
                  strerror(err));
    } else if (s->state == SESS_COMMAND && !s->q_head) {
        /* Idle, or after COM_QUIT: close quietly once the client has everything. */
        sess_close_flushed(s);
    } else if (s->backend_tls && s->state <= SESS_AUTH) {
        char msg[256];
        tls_bev_error_text(s->be, msg, sizeof msg);
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR, "HY000",
                  "TLS connection error with backend '%s': %s (slowtap)", addr, msg);
    } else {
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR, "HY000",
                  "Lost connection to MySQL server at '%s' (slowtap backend: %s)", addr,
                  (what & BEV_EVENT_EOF) ? "closed by the server" : strerror(err));
    }
}

/* ---- accept ---- */

void
sess_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
    struct app *app = w->app;
    int n = atomic_fetch_add_explicit(&app->connections, 1, memory_order_relaxed) + 1;
    COUNTER_ADD(&w->counters, connections_total, 1);
    if (n > app->conf->max_connections) {
        uint8_t pkt[128];
        size_t len = proto_err_build(pkt, sizeof pkt, 0, PROTO_ER_CON_COUNT_ERROR, "08004",
                                     "Too many connections");
        ssize_t wr = send(fd, pkt, len, MSG_NOSIGNAL | MSG_DONTWAIT);
        (void)wr;
        close(fd);
        atomic_fetch_sub_explicit(&app->connections, 1, memory_order_relaxed);
        COUNTER_ADD(&w->counters, connections_refused, 1);
        return;
    }

    struct sess *s = calloc(1, sizeof *s);
    int bfd = socket(app->backend_addr.sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (!s || bfd < 0) {
        free(s);
        if (bfd >= 0) {
            close(bfd);
        }
        close(fd);
        atomic_fetch_sub_explicit(&app->connections, 1, memory_order_relaxed);
        return;
    }
    s->w = w;
    s->now = s->created_us = worker_now_us();
    net_peer_text(sa, (socklen_t)salen, s->host, sizeof s->host);
    if (sa->sa_family != AF_UNIX) {
        int one = 1;
        setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    }
    s->next = w->sessions;
    if (w->sessions) {
        w->sessions->prev = s;
    }
    w->sessions = s;
    w->nsessions++;
    COUNTER_ADD(&w->counters, connections_active, 1);

    s->cli = bufferevent_socket_new(w->base, fd, BEV_OPT_CLOSE_ON_FREE);
    s->be = bufferevent_socket_new(w->base, bfd, BEV_OPT_CLOSE_ON_FREE);
    if (!s->cli || !s->be) {
        if (!s->cli) {
            close(fd);
        }
        if (!s->be) {
            close(bfd);
        }
        sess_free(s);
        return;
    }
    bufferevent_setcb(s->cli, cli_read, cli_write, cli_event, s);
    bufferevent_setcb(s->be, be_read, be_write, be_event, s);
    bev_tune(s->cli);
    bev_tune(s->be);
    bufferevent_enable(s->be, EV_READ | EV_WRITE); /* EV_WRITE: to see the connect finish */
    bufferevent_disable(s->cli, EV_WRITE);         /* on by default; push() writes */
    sess_set_state(s, SESS_CONNECTING);
    if (bufferevent_socket_connect(s->be, (const struct sockaddr *)&app->backend_addr.sa,
                                   (int)app->backend_addr.len) != 0) {
        int err = EVUTIL_SOCKET_ERROR();
        COUNTER_ADD(&w->counters, backend_errors, 1);
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR, "HY000",
                  "Can't connect to MySQL server on '%s' (%d \"%s\") (slowtap backend)",
                  app->backend_addr.text, err, strerror(err));
    }
}

/* ---- timers ---- */

void
sess_tick(struct sess *s, int64_t now)
{
    struct worker *w = s->w;
    struct app *app = w->app;

    if (s->state == SESS_CLOSING) {
        /* A client that does not read its last bytes does not keep the session forever. */
        if (now - s->closing_us > app->conf->handshake_timeout_us) {
            sess_free(s);
        }
        return;
    }
    if (s->state < SESS_COMMAND && now - s->created_us > app->conf->handshake_timeout_us) {
        sess_fail(s, PROTO_ER_HANDSHAKE_ERROR, "08S01",
                  "Bad handshake: timeout after %.1f s (slowtap)",
                  (double)app->conf->handshake_timeout_us / 1e6);
        return;
    }
    if (w->stopping && sess_idle(s)) {
        sess_close_flushed(s); /* the last result may still be on its way to the client */
        return;
    }
    /* A live plan for the statement running now, once it crosses the explain threshold. */
    struct pcmd *pc = s->q_head;
    if (!app->explain || !pc || pc->live_asked || s->state != SESS_COMMAND) {
        return;
    }
    int64_t age = now - pc->t_start;
    if (age < SESS_LIVE_MIN_US || (uint64_t)age < app->explain_threshold_us) {
        return;
    }
    pc->live_asked = true;
    uint64_t digest = 0;
    bool explainable = false;
    if (pc->cmd == PROTO_COM_QUERY && pc->len > 1) {
        explainable = proto_stmt_explainable(proto_stmt_classify(pc->buf + 1, pc->len - 1));
        if (explainable) {
            digest = proto_fingerprint(pc->buf + 1, pc->len - 1, NULL, 0);
        }
    } else if (pc->cmd == PROTO_COM_STMT_EXECUTE) {
        uint32_t id;
        struct pstmt *st = NULL;
        if (proto_stmt_id_parse((const uint8_t *)pc->buf, pc->len, &id) == PROTO_OK) {
            st = pstmt_find(&s->stmts, id);
        }
        if (st && st->explainable) {
            explainable = true;
            digest = st->digest;
        }
    }
    if (explainable) {
        pc->live_token = explain_live(app->explain, s->thread_id, digest);
    }
}
