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
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>

#include "explain/explain.h"
#include "protocol/proto_fingerprint.h"
#include "protocol/proto_compress.h"
#include "protocol/proto_handshake.h"
#include "protocol/proto_packet.h"
#include "protocol/proto_resp.h"
#include "protocol/proto_sqlmode.h"
#include "protocol/proto_tags.h"
#include "protocol/proto_stmt.h"
#include "protocol/proto_wire.h"
#include "proxy/account/filter.h"
#include "proxy/relay/pstmt.h"
#include "proxy/account/routes.h"
#include "proxy/account/sessreg.h"
#include "proxy/account/record.h"
#include "proxy/relay/session.h"
#include "proxy/output/slowlog.h"
#include "proxy/relay/tls.h"
#include "proxy/relay/worker.h"

#define SESS_HIGH_WATER    (1u << 20)   /* pause the other side's reading above this */
#define SESS_LOW_WATER     (256u << 10) /* resume below this */
#define SESS_COPY_MAX      (1u << 20)   /* bytes of a command's payload kept for the log */
#define SESS_COPY_MAX_EXEC (64u << 20)  /* ... of an execute: its parameters are decoded */
#define SESS_HANDSHAKE_MAX (64u << 10)  /* largest handshake response accepted */
#define SESS_SMALL_PEEK    32u          /* payload bytes looked at for most packets */
#define SESS_ZCHUNK        (1u << 20)   /* plain bytes per compressed frame slowtap builds */
#define SESS_ZVEC          16           /* evbuffer pieces handed to zlib/zstd at once */
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

/*
 * The session's transaction, followed through SERVER_STATUS_IN_TRANS: it begins with the
 * first command whose response says "in transaction" and ends with the first whose response
 * no longer does (COMMIT, ROLLBACK, an implicit commit, or the server rolling back after a
 * deadlock), or with the session.
 */
struct sess_trx {
    bool open;
    int64_t start;      /* monotonic us: the first byte of the command that began it */
    int64_t wall_start; /* realtime us, for the log */
    int64_t last_end;   /* monotonic us: when the response to its last command ended */
    uint32_t stmts;     /* commands inside it, the one that began it and the one that ended it
                           included */
    int64_t idle_us;    /* between the end of one of its commands and the start of the next */
};

/* What the command being recorded did to the transaction (set before record()). */
struct trx_end {
    bool ended;
    uint64_t dur_us, idle_us;
    uint32_t stmts;
    int64_t wall_start;
};

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
    uint8_t be_try;                 /* SESS_CONNECTING: the backend_addr address being tried */
    uint16_t be_errs[NET_ADDR_MAX]; /* SESS_CONNECTING: errno of each address tried */
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
    bool auth_failed; /* the server refused the login: its ERR is relayed, then it closes */
    char user[64];
    char host[64];
    char schema[64];
    unsigned sql_mode;             /* PROTO_SQLMODE_* in force, for lexing and rendering literals */
    struct proto_sqlmode set_mode; /* what the session's SET sql_mode statements said */
    struct sess_trx trx;           /* the transaction open now, if any */
    struct findings_sess fnd;      /* the unit of work, for N+1 and duplicates (findings.h) */
    struct trx_end trx_end;        /* set for the command being recorded */
    struct sessreg_entry *reg;     /* published for other threads once a transaction opened */
    struct proto_framer cfr, sfr;  /* framing, client->server and server->client */
    /* The compressed protocol (proto_compress.h): each leg's algorithm, from the handshake
     * response and --backend-compress; in force (zon) from the server's OK that ends
     * authentication. Equal algorithms: frames are relayed unchanged and a decoded copy is
     * framed; otherwise frames are decoded from one leg and built for the other. */
    uint64_t backend_zcaps;       /* CLIENT_COMPRESS / ZSTD bits the backend offered */
    uint8_t zcli, zbe;            /* enum proto_zalg of the client's and the backend's leg */
    bool zon;                     /* compression in force */
    uint8_t zseq_cli, zseq_be;    /* next compressed sequence id on each leg */
    uint8_t zseq_cmd, zseq_resp;  /* packet sequence ids of the client's last command packet
                                     and of the last packet of the exchange after it */
    bool zin_cmd;                 /* the client's current packet is a command */
    int zlevel;                   /* zstd level of frames slowtap builds */
    struct evbuffer *zplain[2];   /* decoded bytes not yet relayed: from the client, the backend */
    struct pcmd *rx;              /* command whose payload is arriving */
    struct pcmd *q_head, *q_tail; /* commands awaiting their responses, in order */
    struct proto_resp resp;       /* the response to q_head */
    bool resp_done;               /* q_head's response ends with the packet being relayed */
    bool client_gone;             /* the client left while a statement ran; the backend's
                                     write side is shut and its answers are read and dropped */
    const char *interrupted;      /* while the head is recorded unfinished: why (rec.h) */
    bool reset_client;            /* the backend reset its connection: so is the client's */
    struct pstmt_table stmts;
};

static void sess_free(struct sess *s);
static void complete_head(struct sess *s);
static void cli_write_packet(struct sess *s, const uint8_t *pkt, size_t n);

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

/* zlib/zstd state, one per worker (--threads is at most 256): every frame is compressed on its
 * own, so sessions share it, one frame at a time. */
static struct proto_zctx sess_zctx[256];

static struct proto_zctx *
zctx(const struct sess *s)
{
    return &sess_zctx[(unsigned)s->w->id % 256u];
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
    proto_zctx_free(&sess_zctx[(unsigned)w->id % 256u]);
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
        cli_write_packet(s, pkt, n);
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

static void record_unfinished(struct sess *s);
static int relay(struct sess *s, bool from_client);
static void trx_close(struct sess *s, int64_t now);

static void
sess_free(struct sess *s)
{
    struct worker *w = s->w;
    if (s->q_head) {
        record_unfinished(s); /* the server may have run it: it is logged */
    }
    if (s->trx.open) {
        trx_close(s, worker_now_us()); /* the server rolls it back */
    }
    sessreg_remove(s->reg);
    if (s->cli && s->reset_client) {
        struct linger lg = {1, 0}; /* close with a TCP reset */
        setsockopt(bufferevent_getfd(s->cli), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    }
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
    findings_sess_end(&s->fnd, worker_wall_us());
    for (int i = 0; i < 2; i++) {
        if (s->zplain[i]) {
            evbuffer_free(s->zplain[i]);
        }
    }
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

int64_t
sess_trx_wall_start(const struct sess *s)
{
    return s->trx.open ? s->trx.wall_start : 0;
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

/* COM_CHANGE_USER and COM_RESET_CONNECTION give the session the server's defaults again. */
static void
sess_reset_vars(struct sess *s)
{
    memset(&s->set_mode, 0, sizeof s->set_mode);
    s->sql_mode &= ~PROTO_SQLMODE_ANSI_QUOTES;
}

/* Every OK/EOF status says whether NO_BACKSLASH_ESCAPES is on. */
static void
note_sql_mode_status(struct sess *s, uint16_t status)
{
    if (status & PROTO_SERVER_NO_BACKSLASH_ESCAPES) {
        s->sql_mode |= PROTO_SQLMODE_NO_BACKSLASH_ESCAPES;
    } else {
        s->sql_mode &= ~PROTO_SQLMODE_NO_BACKSLASH_ESCAPES;
    }
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
rec_fill_execute(struct rec *rec, struct pstmt *st, const struct pcmd *pc, unsigned sql_mode)
{
    struct lit_list lits = {0};
    struct proto_param_sink sink = {lit_add, &lits, 1024, sql_mode};
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
    size_t need = proto_substitute(st->sql, st->sql_len, sql_mode, (const char *const *)lits.v,
                                   lits.n, lits.count, NULL, 0);
    char *sql = malloc(need + 1);
    if (sql) {
        proto_substitute(st->sql, st->sql_len, sql_mode, (const char *const *)lits.v, lits.n,
                         lits.count, sql, need + 1);
        rec->sql = sql;
        rec->sql_len = strlen(sql);
    }
    rec->prepared_sql = strdup(st->sql);
    for (unsigned i = 0; i < lits.count; i++) {
        rec->sql_truncated = rec->sql_truncated || lits.cut[i]; /* a value was cut */
    }
    lit_free(&lits);
}

/*
 * Where in the application a completed command belongs: its tags (parsed only when the text
 * has a comment; an execute takes its PREPARE text's route), its route's statistics, and the
 * N+1/duplicate detection of its unit of work (findings.h). Returns the tags (in *buf), NULL
 * when it had none.
 */
static struct proto_tags *
record_where(struct sess *s, const struct pcmd *pc, const struct pstmt *st, const char *sql,
             size_t sql_len, const char *fp, uint64_t digest, bool candidate, uint64_t dur,
             struct proto_tags *buf, struct findings_mark *mark)
{
    struct worker *w = s->w;
    struct proto_tags *tags = NULL;
    char route_buf[ROUTES_NAME_MAX];
    const char *route = NULL;
    bool comment = false;
    if (pc->cmd == PROTO_COM_QUERY && sql && findings_has_comment(sql, sql_len)) {
        comment = true;
        if (proto_tags_parse(sql, sql_len, s->sql_mode, buf) > 0) {
            tags = buf;
            route = routes_name(tags, route_buf) ? route_buf : NULL;
        }
    } else if (st && st->route) {
        route = st->route;
    }
    int64_t wall = pc->wall_start + (int64_t)dur;
    if (route) {
        routes_local_record(w->routes, route, digest, dur, s->resp.err_code != 0, wall);
    }
    uint64_t params = 0;
    if (pc->cmd == PROTO_COM_QUERY && sql) {
        params = findings_hash(sql, sql_len, comment);
    } else if (st && pc->len > 10) { /* after command, statement id, flags, iteration count */
        params = findings_hash(pc->buf + 10, pc->len - 10, false);
    }
    /* trx_follow ran: the transaction is open now, or this command ended one */
    bool trx_before = s->trx_end.ended || (s->trx.open && s->trx.start != pc->t_start);
    bool marker = pc->cmd == PROTO_COM_PING || pc->cmd == PROTO_COM_RESET_CONNECTION ||
                  (pc->cmd == PROTO_COM_QUERY && !trx_before &&
                   (strcasecmp(fp, "rollback") == 0 || strcasecmp(fp, "commit") == 0));
    struct findings_stmt fst = {
        .digest = digest,
        .params = params,
        .query_us = dur,
        .start_us = pc->t_start,
        .end_us = s->now,
        .wall_us = wall,
        .trace_id = tags ? tags->trace_id : NULL,
        .route = route,
        .candidate = candidate && s->resp.err_code == 0,
        .trx_before = trx_before,
        .trx_after = s->trx.open,
        .pool_marker = marker,
    };
    findings_sess_stmt(&s->fnd, &fst, mark);
    return tags;
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
        /* One lexer pass: digest, fingerprint, kind, and the schema a USE switches to. */
        struct proto_stmt_info info;
        char db[sizeof s->schema];
        proto_stmt_analyze(sql, sql_len, s->sql_mode, fp, sizeof fp, db, sizeof db, &info);
        digest = info.digest;
        explainable = proto_stmt_explainable(info.kind);
        if (info.schema_changed && r->err_code == 0 && !s->interrupted) {
            copy_str(s->schema, sizeof s->schema, db, strlen(db));
        }
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
    struct proto_tags tags_buf;
    struct findings_mark mark;
    struct proto_tags *tags =
        record_where(s, pc, st, sql, sql_len, fpp, digest, explainable, dur, &tags_buf, &mark);

    /* A statement that never finished is logged whatever it cost: the developer looks for it. */
    const char *interrupted = s->interrupted   ? s->interrupted
                              : s->client_gone ? "client_gone"
                                               : NULL;
    bool long_trx =
        s->trx_end.ended && (int64_t)s->trx_end.dur_us >= app->conf->long_transaction_us;
    bool slow = (int64_t)dur >= app->conf->long_query_us || interrupted || long_trx;
    /* a live capture (plan, lock wait) joins the record on the explain thread */
    bool explain =
        app->explain && ((explainable && dur >= app->explain_threshold_us) || pc->live_token);
    /* no plan to take, but a logged statement still gets the server's figures (pfs.h) */
    bool pfs_only = !explain && slow && app->explain && explain_wants_pfs(app->explain);
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
        rec_fill_execute(rec, st, pc, s->sql_mode); /* marks it truncated if a value was cut */
        rec->sql_truncated = rec->sql_truncated || pc->total > pc->len;
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
    rec->interrupted = interrupted;
    rec->lex_mode = s->sql_mode;
    rec->n_plus_one = mark;
    if (sql) {
        /* tags: parsed above for a query; an execute's come from its PREPARE text */
        if (!tags && pc->cmd != PROTO_COM_QUERY &&
            proto_tags_parse(sql, sql_len, s->sql_mode, &tags_buf) > 0) {
            tags = &tags_buf;
        }
        if (tags) {
            rec->tags = malloc(sizeof *tags);
            if (rec->tags) {
                *rec->tags = *tags;
            }
        }
    }
    if (s->trx_end.ended) {
        rec->trx_ended = true;
        rec->trx_stmts = s->trx_end.stmts;
        rec->trx_us = s->trx_end.dur_us;
        rec->trx_idle_us = s->trx_end.idle_us;
        rec->trx_wall_start = s->trx_end.wall_start;
    }
    if (s->set_mode.changed && s->set_mode.text_known) {
        rec->sql_mode_set = true; /* the auto-EXPLAIN connection runs under the same mode */
        copy_str(rec->sql_mode, sizeof rec->sql_mode, s->set_mode.text, strlen(s->set_mode.text));
    }

    rec->pfs_only = pfs_only;
    if ((explain || pfs_only) && explain_submit(app->explain, rec, slow)) {
        return;
    }
    if (pfs_only) {
        rec->explain_error[0] = '\0'; /* no plan was asked for: a refusal is no explain error */
    }
    if (slow) {
        slowlog_write(w->slowbuf, app->conf->log_format, app->filter, rec);
    }
    rec_free(rec);
}

/* What a completed command changes in the session: schema, user, sql_mode, prepared
 * statements. */
static void
track(struct sess *s, struct pcmd *pc, struct pstmt **stp)
{
    const struct proto_resp *r = &s->resp;
    bool ok = r->err_code == 0;
    const char *arg = pc->buf ? pc->buf + 1 : "";
    size_t arg_len = pc->len ? pc->len - 1 : 0;
    uint32_t id;

    if (r->status_seen) {
        note_sql_mode_status(s, r->status);
    }
    if (ok && pc->cmd == PROTO_COM_QUERY) {
        s->set_mode.flags = s->sql_mode;
        if (proto_sqlmode_from_set(arg, arg_len, &s->set_mode)) {
            s->sql_mode = s->set_mode.flags; /* ANSI_QUOTES */
        }
    }

    switch (pc->cmd) {
    case PROTO_COM_QUERY:
        /* USE db: record() applies it from its one lexer pass (proto_stmt_analyze). */
        break;
    case PROTO_COM_INIT_DB:
        if (ok) {
            copy_str(s->schema, sizeof s->schema, arg, arg_len);
        }
        break;
    case PROTO_COM_STMT_PREPARE:
        if (ok && r->prepared) {
            pstmt_add(&s->stmts, r->stmt_id, arg, arg_len, s->sql_mode, r->stmt_params,
                      r->stmt_cols);
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
            sess_reset_vars(s);
        } else {
            char user[sizeof s->user], db[sizeof s->schema];
            if (proto_change_user_parse((const uint8_t *)pc->buf, pc->len, s->caps, user,
                                        sizeof user, db, sizeof db) != PROTO_OK) {
                user[0] = '\0';
            }
            sess_log(s, "auth failed for user '%s' (server error %u, COM_CHANGE_USER)", user,
                     r->err_code);
        }
        pstmt_clear(&s->stmts);
        break;
    case PROTO_COM_RESET_CONNECTION:
        if (ok) {
            pstmt_clear(&s->stmts);
            sess_reset_vars(s);
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
    struct pcmd *pc = s->q_head;
    if (pc) {
        proto_resp_begin(&s->resp, pc->cmd, s->caps);
        if (proto_execute_asks_cursor((const uint8_t *)pc->buf, pc->len)) {
            proto_resp_cursor_requested(&s->resp);
        }
    }
}

/* Counts a transaction that ended (its end is in s->trx_end). */
static void
trx_count_end(struct sess *s)
{
    struct counters *c = &s->w->counters;
    COUNTER_ADD(c, transactions, 1);
    COUNTER_ADD(c, trx_us_total, s->trx_end.dur_us);
    COUNTER_ADD(c, trx_idle_us_total, s->trx_end.idle_us);
    COUNTER_ADD(c, trx_open, (uint64_t)-1);
    hist_add(&c->trx_duration, s->trx_end.dur_us);
    hist_add(&c->trx_idle, s->trx_end.idle_us);
}

/* Ends the open transaction at `now` into s->trx_end. */
static void
trx_close(struct sess *s, int64_t now)
{
    struct sess_trx *t = &s->trx;
    s->trx_end = (struct trx_end){
        .ended = true,
        .dur_us = now > t->start ? (uint64_t)(now - t->start) : 0,
        .idle_us = (uint64_t)t->idle_us,
        .stmts = t->stmts,
        .wall_start = t->wall_start,
    };
    t->open = false;
    trx_count_end(s);
}

/*
 * Follows the transaction through the completed head command: the status of its last OK/EOF
 * says whether the session is inside a transaction now (a response without one, an ERR,
 * leaves the state as it was).
 */
static void
trx_follow(struct sess *s, const struct pcmd *pc, const struct pstmt *st)
{
    const struct proto_resp *r = &s->resp;
    struct sess_trx *t = &s->trx;
    bool was_open = t->open;
    if (t->open) {
        t->stmts++;
        if (pc->t_start > t->last_end) {
            t->idle_us += pc->t_start - t->last_end;
        }
        t->last_end = s->now;
    }
    if (r->status_seen) { /* else (an ERR, a prepare): nothing said about the transaction */
        bool in = (r->status & PROTO_SERVER_STATUS_IN_TRANS) != 0;
        if (in && !t->open) {
            *t = (struct sess_trx){.open = true,
                                   .start = pc->t_start,
                                   .wall_start = pc->wall_start,
                                   .last_end = s->now,
                                   .stmts = 1};
            COUNTER_ADD(&s->w->counters, trx_open, 1);
            if (!s->reg) {
                s->reg = sessreg_add(s->thread_id, s->user, s->host);
            }
            if (s->reg) {
                sessreg_trx_begin(s->reg, pc->wall_start);
            }
        } else if (!in && t->open) {
            trx_close(s, s->now);
        }
    }
    if (s->reg && (t->open || was_open)) {
        /* what a session blocked by this one will read of it (sessreg.h) */
        uint64_t dur = s->now > pc->t_start ? (uint64_t)(s->now - pc->t_start) : 0;
        const char *text = pc->buf ? pc->buf + 1 : "";
        size_t len = pc->len ? pc->len - 1 : 0;
        if (st && (pc->cmd == PROTO_COM_STMT_EXECUTE || pc->cmd == PROTO_COM_STMT_BULK_EXECUTE)) {
            text = st->sql;
            len = st->sql_len;
        } else if (pc->cmd != PROTO_COM_QUERY) {
            text = proto_com_name(pc->cmd) ? proto_com_name(pc->cmd) : "?";
            len = strlen(text);
        }
        sessreg_stmt(s->reg, text, len, pc->wall_start, dur);
        if (!t->open) {
            sessreg_trx_end(s->reg, pc->wall_start + (int64_t)dur);
        }
    }
}

static void
complete_head(struct sess *s)
{
    struct pcmd *pc = s->q_head;
    struct pstmt *st = NULL;

    track(s, pc, &st);
    trx_follow(s, pc, st);
    record(s, pc, st);
    s->trx_end.ended = false;
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

/*
 * The session ends while the head command awaits its response (the client left, the backend
 * died, shutdown, a protocol error): the head is recorded with what its response said so far,
 * its duration up to now and why it did not finish. Commands queued behind it had not started.
 */
static void
record_unfinished(struct sess *s)
{
    struct pcmd *pc = s->q_head;
    struct pstmt *st = NULL;
    uint32_t id;
    if (!s->interrupted) {
        s->interrupted = s->client_gone   ? "client_gone"
                         : s->w->stopping ? "shutdown"
                                          : "connection_closed";
    }
    if ((pc->cmd == PROTO_COM_STMT_EXECUTE || pc->cmd == PROTO_COM_STMT_BULK_EXECUTE) &&
        proto_stmt_id_parse((const uint8_t *)pc->buf, pc->len, &id) == PROTO_OK) {
        st = pstmt_find(&s->stmts, id);
    }
    s->now = worker_now_us();
    record(s, pc, st);
}

/*
 * The client closed its connection while statements were in flight. Directly, the server would
 * see the close only after it finished the statement; so does it here: slowtap shuts the
 * backend connection's write side (the server reads end-of-file once it looks for the next
 * command), keeps reading, drops what the server answers and records each statement when its
 * response ends. The session is freed when nothing is pending or the server closes. A command
 * whose bytes had not all been relayed cannot complete: then the backend is closed at once.
 */
static void
client_left(struct sess *s)
{
    s->client_gone = true;
    bufferevent_free(s->cli);
    s->cli = NULL;
    s->client_tls = false;
    if (s->rx || proto_resp_wants_client(&s->resp) ||
        evbuffer_get_length(bufferevent_get_output(s->be)) > 0) {
        sess_free(s);
        return;
    }
    shutdown(bufferevent_getfd(s->be), SHUT_WR);
    s->be_paused = false;
    bufferevent_enable(s->be, EV_READ);
    /* what backpressure held back may already hold the whole answer: no read event follows */
    if (evbuffer_get_length(bufferevent_get_input(s->be)) > 0 && relay(s, false) == 0 &&
        !s->q_head) {
        sess_free(s);
    }
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
        struct proto_err e;
        struct proto_ok ok;
        if (avail && p[0] == PROTO_OK_HDR) {
            sess_set_state(s, SESS_COMMAND);
            /* both sides compress what follows this OK */
            s->zon = s->zcli != PROTO_ZALG_NONE || s->zbe != PROTO_ZALG_NONE;
            if (proto_ok_parse(p, avail, &ok) == PROTO_OK) {
                note_sql_mode_status(s, ok.status);
            }
        } else if (avail && p[0] == PROTO_ERR_HDR && !s->auth_failed) {
            /* Relayed; the server closes the connection, which be_event then takes quietly. */
            s->auth_failed = true;
            sess_log(s, "auth failed for user '%s' (server error %u)", s->user[0] ? s->user : "",
                     proto_err_parse(p, avail, &e) == PROTO_OK ? e.code : 0u);
        }
        return 0;
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
        s->interrupted = "proxy_error";
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

/* ---- the compressed protocol ---- */

/* Writes a packet slowtap makes (an ERR) to the client, as a stored frame when the client's
 * leg is compressed. */
static void
cli_write_packet(struct sess *s, const uint8_t *pkt, size_t n)
{
    if (s->zon && s->zcli != PROTO_ZALG_NONE) {
        uint8_t zh[PROTO_ZHDR_LEN];
        proto_zhdr_write(zh, (uint32_t)n, s->zseq_cli++, 0);
        bufferevent_write(s->cli, zh, sizeof zh);
    }
    bufferevent_write(s->cli, pkt, n);
}

/* Up to SESS_ZVEC pieces of the first `n` bytes at `off` in `buf`; returns the count and sets
 * *got to the bytes they cover (less than n when more pieces would be needed). */
static int
z_pieces(struct evbuffer *buf, size_t off, size_t n, struct proto_zbuf *zb, size_t *got)
{
    struct evbuffer_iovec v[SESS_ZVEC];
    struct evbuffer_ptr pos;
    evbuffer_ptr_set(buf, &pos, off, EVBUFFER_PTR_SET);
    int nv = n ? evbuffer_peek(buf, (ev_ssize_t)n, &pos, v, SESS_ZVEC) : 0;
    if (nv > SESS_ZVEC) {
        nv = SESS_ZVEC;
    }
    size_t have = 0;
    for (int i = 0; i < nv; i++) {
        size_t take = v[i].iov_len < n - have ? v[i].iov_len : n - have;
        zb[i].p = v[i].iov_base;
        zb[i].n = take;
        have += take;
    }
    *got = have;
    return nv;
}

/*
 * Decodes every whole frame in the input from one leg into s->zplain (client: [0], backend:
 * [1]); with `pass`, the frame itself goes on to the other leg unchanged (or is dropped when
 * the client is gone). A frame is decoded once all of it has arrived: at most 16 MiB wait in
 * the input. Returns -1 when the session was torn down.
 */
static int
z_inflow(struct sess *s, bool from_client, bool pass)
{
    struct evbuffer *raw = bufferevent_get_input(from_client ? s->cli : s->be);
    struct bufferevent *dst = from_client ? s->be : s->cli;
    struct evbuffer *plain = s->zplain[from_client ? 0 : 1];
    enum proto_zalg alg = from_client ? s->zcli : s->zbe;
    for (;;) {
        uint8_t hb[PROTO_ZHDR_LEN];
        struct proto_zhdr h;
        if (evbuffer_copyout(raw, hb, sizeof hb) < (ev_ssize_t)sizeof hb) {
            return 0;
        }
        enum proto_rc rc = proto_zhdr_parse(hb, sizeof hb, PROTO_ZMAX_LEN, &h);
        size_t flen = PROTO_ZHDR_LEN + (size_t)h.clen;
        if (rc == PROTO_OK && evbuffer_get_length(raw) < flen) {
            return 0;
        }
        uint32_t n = rc == PROTO_OK ? proto_zhdr_plain_len(&h) : 0;
        if (rc == PROTO_OK && n > 0) {
            struct proto_zbuf zb[SESS_ZVEC];
            size_t got;
            int nz = z_pieces(raw, PROTO_ZHDR_LEN, h.clen, zb, &got);
            if (got < h.clen) {
                /* spread over many chains: make it one */
                if (!evbuffer_pullup(raw, (ev_ssize_t)flen)) {
                    sess_fail(s, 1037, "HY001", "Out of memory (slowtap, compression)");
                    return -1;
                }
                nz = z_pieces(raw, PROTO_ZHDR_LEN, h.clen, zb, &got);
            }
            struct evbuffer_iovec out;
            if (evbuffer_reserve_space(plain, n, &out, 1) < 1) {
                sess_fail(s, 1037, "HY001", "Out of memory (slowtap, compression)");
                return -1;
            }
            rc = proto_zdecode(zctx(s), alg, &h, zb, nz, out.iov_base);
            if (rc == PROTO_OK) {
                out.iov_len = n;
                evbuffer_commit_space(plain, &out, 1);
            }
        }
        if (rc != PROTO_OK) {
            COUNTER_ADD(&s->w->counters, protocol_errors, 1);
            if (from_client) {
                sess_fail(s, PROTO_ER_NET_PACKETS_OUT_OF_ORDER, "08S01",
                          "Bad compressed packet (slowtap: the client sent a frame that does "
                          "not decode: %u bytes for %u)",
                          h.clen, h.ulen);
            } else {
                sess_fail(s, 0, "",
                          "backend sent a compressed frame that does not decode (%u bytes for %u)",
                          h.clen, h.ulen);
            }
            return -1;
        }
        uint8_t next = (uint8_t)(h.seq + 1);
        if (from_client || pass) {
            s->zseq_cli = next;
        }
        if (!from_client || pass) {
            s->zseq_be = next;
        }
        if (pass && dst) {
            evbuffer_remove_buffer(raw, bufferevent_get_output(dst), flen);
        } else {
            evbuffer_drain(raw, flen);
        }
    }
}

/* Frames the first `n` plain bytes of `in` for the other leg (compressed above the threshold,
 * stored below it, at most SESS_ZCHUNK bytes a frame) and drains them. Returns -1 when the
 * session was torn down. */
static int
z_outflow(struct sess *s, bool from_client, struct evbuffer *in, size_t n)
{
    struct evbuffer *out = bufferevent_get_output(from_client ? s->be : s->cli);
    enum proto_zalg alg = from_client ? s->zbe : s->zcli;
    uint8_t *seq = from_client ? &s->zseq_be : &s->zseq_cli;
    while (n > 0) {
        struct proto_zbuf zb[SESS_ZVEC];
        size_t chunk;
        int nz = z_pieces(in, 0, n < SESS_ZCHUNK ? n : SESS_ZCHUNK, zb, &chunk);
        size_t cap = proto_zencode_bound(alg, chunk);
        struct evbuffer_iovec o;
        size_t fl = 0;
        if (evbuffer_reserve_space(out, (ev_ssize_t)cap, &o, 1) >= 1) {
            fl = proto_zencode(zctx(s), alg, s->zlevel, *seq, zb, nz, chunk, o.iov_base, cap);
        }
        if (!fl) {
            sess_fail(s, 1037, "HY001", "Out of memory (slowtap, compression)");
            return -1;
        }
        (*seq)++;
        o.iov_len = fl;
        evbuffer_commit_space(out, &o, 1);
        evbuffer_drain(in, chunk);
        n -= chunk;
    }
    return 0;
}

/*
 * Chooses each leg's compression from the client's handshake response `p` (zlib wins when a
 * client names both, as in the server) and --backend-compress, and rewrites the response's
 * capability bits for the backend's leg. Returns the bytes to cut from the end of the response
 * (its zstd level byte when the backend is not asked for zstd), or -1 when torn down.
 */
static int
z_negotiate(struct sess *s, uint8_t *p, size_t len)
{
    const uint32_t zlib_bit = (uint32_t)PROTO_CAP_COMPRESS;
    const uint32_t zstd_bit = (uint32_t)PROTO_CAP_ZSTD_COMPRESSION;
    uint32_t lo = proto_le32(p);
    enum proto_zalg cli = (lo & zlib_bit)   ? PROTO_ZALG_ZLIB
                          : (lo & zstd_bit) ? PROTO_ZALG_ZSTD
                                            : PROTO_ZALG_NONE;
    enum conf_backend_compress mode = s->w->app->conf->backend_compress;
    enum proto_zalg be = mode == CONF_BCOMP_OFF   ? PROTO_ZALG_NONE
                         : cli != PROTO_ZALG_NONE ? cli
                         : mode == CONF_BCOMP_ON  ? PROTO_ZALG_ZLIB
                                                  : PROTO_ZALG_NONE;
    if (be == PROTO_ZALG_ZSTD && !(s->backend_zcaps & PROTO_CAP_ZSTD_COMPRESSION)) {
        be = PROTO_ZALG_ZLIB;
    }
    if (be == PROTO_ZALG_ZLIB && !(s->backend_zcaps & PROTO_CAP_COMPRESS)) {
        be = PROTO_ZALG_NONE;
    }
    s->zcli = (uint8_t)cli;
    s->zbe = (uint8_t)be;
    s->zlevel = cli == PROTO_ZALG_ZSTD ? proto_zstd_level(p, len) : PROTO_ZSTD_LEVEL_DEF;
    if (cli != PROTO_ZALG_NONE || be != PROTO_ZALG_NONE) {
        for (int i = 0; i < 2; i++) {
            if (!s->zplain[i] && !(s->zplain[i] = evbuffer_new())) {
                sess_fail(s, 1037, "HY001", "Out of memory (slowtap, compression)");
                return -1;
            }
        }
    }
    if (be == cli) {
        return 0; /* the response goes on as the client wrote it */
    }
    lo &= ~(zlib_bit | zstd_bit);
    lo |= be == PROTO_ZALG_ZLIB ? zlib_bit : be == PROTO_ZALG_ZSTD ? zstd_bit : 0;
    bool had_zstd = (proto_le32(p) & zstd_bit) != 0;
    proto_put_le32(p, lo);
    return had_zstd && be != PROTO_ZALG_ZSTD && len > 32 ? 1 : 0;
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
    /* Compressed legs: the framer reads the decoded bytes (z_inflow); `zpass`: the frames
     * themselves went on already. `zlater`: compression starts inside this input. */
    bool zsrc = s->zon && (from_client ? s->zcli : s->zbe) != PROTO_ZALG_NONE;
    bool zdst = s->zon && (from_client ? s->zbe : s->zcli) != PROTO_ZALG_NONE;
    bool zpass = zsrc && zdst && s->zcli == s->zbe;
    bool zlater = false;
    if (zsrc) {
        if (z_inflow(s, from_client, zpass) < 0) {
            return -1;
        }
        in = s->zplain[from_client ? 0 : 1];
    }
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
            if (s->zon) {
                /* Inside frames the packets' own sequence ids are not checked, and libmariadb
                 * leaves a 16 MiB packet's continuation at 0: toward an uncompressed leg they
                 * become the count that leg checks. A command counts from 0; its response from
                 * one after the command's last packet (a pipelined command in between does
                 * not count), then one more per packet either way (LOCAL INFILE data). */
                if (from_client && st.kind == PROTO_FRAME_START) {
                    s->zin_cmd = !(s->q_head && proto_resp_wants_client(&s->resp));
                }
                bool cmd = from_client && s->zin_cmd;
                uint8_t seq;
                if (zsrc && !zdst) {
                    if (cmd) {
                        seq = st.kind == PROTO_FRAME_START ? 0 : (uint8_t)(s->zseq_cmd + 1);
                    } else if (!from_client && st.kind == PROTO_FRAME_START && s->q_head &&
                               s->q_head->bytes == 0) {
                        /* the first packet of the head's response (bytes counts them) */
                        seq = (uint8_t)(s->q_head->total / PROTO_MAX_PAYLOAD + 1);
                    } else {
                        seq = (uint8_t)(s->zseq_resp + 1);
                    }
                    if (seq != st.hdr.seq) {
                        poke(in, off + 3, seq);
                        st.hdr.seq = seq;
                    }
                    s->last_seq = seq;
                } else {
                    seq = st.hdr.seq; /* from an uncompressed leg, or to a compressed one */
                }
                if (cmd) {
                    s->zseq_cmd = seq;
                } else {
                    s->zseq_resp = seq;
                }
            }
            off += PROTO_HDR_LEN;
            const struct pcmd *rx0 = s->rx;
            int rc = from_client ? client_packet(s, &st, hb + PROTO_HDR_LEN, want)
                                 : server_packet(s, &st, hb + PROTO_HDR_LEN, want);
            if (rc < 0) {
                return -1;
            }
            if (from_client && zdst && !zpass && s->rx && s->rx != rx0) {
                /* A new command: the backend's compressed sequence restarts at 0, after what
                 * came before it has gone out. */
                size_t pre = off - PROTO_HDR_LEN;
                if (pre) {
                    COUNTER_ADD(&s->w->counters, bytes_from_client, pre);
                    if (z_outflow(s, true, in, pre) < 0) {
                        return -1;
                    }
                    off -= pre;
                    total -= pre;
                }
                s->zseq_be = 0;
            }
        }
        if (fr->body_left == 0 && !fr->next_continues) {
            if (from_client) {
                client_end(s);
            } else {
                server_end(s);
            }
            if (!zsrc && !zdst && s->zon) {
                zlater = true; /* the OK that ends authentication: frames follow */
                break;
            }
        }
    }
    if (off || zpass) {
        struct counters *c = &s->w->counters;
        if (from_client) {
            COUNTER_ADD(c, bytes_from_client, off);
        } else {
            COUNTER_ADD(c, bytes_to_client, off);
        }
        if (!dst) {
            evbuffer_drain(in, off); /* the client is gone: see client_left() */
            return 0;
        }
        if (zpass) {
            evbuffer_drain(in, off); /* its frames were relayed as they came */
        } else if (zdst) {
            if (z_outflow(s, from_client, in, off) < 0) {
                return -1;
            }
        } else {
            evbuffer_remove_buffer(in, bufferevent_get_output(dst), off);
        }
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
    if (zlater && evbuffer_get_length(bufferevent_get_input(src)) > 0) {
        return relay(s, from_client);
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

/* The server greeting: remember the thread id and capabilities, hide what slowtap cannot
 * follow; offer zlib compression (slowtap can compress the client's leg itself) and zstd when
 * the backend offers it. */
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
    s->backend_zcaps = g.caps & (PROTO_CAP_COMPRESS | PROTO_CAP_ZSTD_COMPRESSION);
    proto_greeting_set_caps(p, (size_t)len, &g,
                            s->server_caps | (tls_server_enabled() ? PROTO_CAP_SSL : 0) |
                                PROTO_CAP_COMPRESS | (g.caps & PROTO_CAP_ZSTD_COMPRESSION));
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
                  "Bad handshake: slowtap does not offer TLS to clients (--tls off)");
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
    int zcut = z_negotiate(s, p, (size_t)len);
    if (zcut < 0) {
        return -1;
    }
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
    if (zcut) {
        proto_put_le24(p - PROTO_HDR_LEN, (uint32_t)((size_t)len - (size_t)zcut));
    }
    evbuffer_remove_buffer(in, bufferevent_get_output(s->be),
                           PROTO_HDR_LEN + (size_t)len - (size_t)zcut);
    evbuffer_drain(in, (size_t)zcut);
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
        if (relay(s, false) == 0 && s->client_gone && !s->q_head) {
            sess_free(s); /* every statement the gone client sent has been answered */
        }
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
        if (s->state == SESS_COMMAND && s->q_head && s->be) {
            client_left(s); /* statements in flight are seen to their end */
            return;
        }
        /* The client left: close both sides (the server rolls back what was open). */
        sess_free(s);
    }
}

/*
 * Connects the backend leg: --backend's addresses in order from s->be_try, non-blocking,
 * until one accepts (be_event then sees BEV_EVENT_CONNECTED, or the failure and calls this
 * again with the next address). Each attempt is bounded by an equal share of what is left of
 * the handshake timeout. With no address left the session fails with one ERR 1105 naming
 * every address tried and its errno text. Returns -1 when the session was torn down.
 */
static int
be_connect(struct sess *s)
{
    struct worker *w = s->w;
    const struct net_addr *ba = &w->app->backend_addr;
    for (; s->be_try < ba->n; s->be_try++) {
        int err = 0;
        int bfd = net_connect_start(&ba->a[s->be_try], &err);
        if (bfd < 0) {
            s->be_errs[s->be_try] = (uint16_t)err;
            continue;
        }
        s->be = bufferevent_socket_new(w->base, bfd, BEV_OPT_CLOSE_ON_FREE);
        if (!s->be) {
            close(bfd);
            sess_fail(s, 1037, "HY001", "Out of memory (slowtap, backend connect)");
            return -1;
        }
        bufferevent_setcb(s->be, be_read, be_write, be_event, s);
        bev_tune(s->be);
        int64_t left = s->created_us + w->app->conf->handshake_timeout_us - worker_now_us();
        int64_t share = left / (ba->n - s->be_try);
        if (share < 100000) {
            share = 100000;
        }
        struct timeval tv = {(time_t)(share / 1000000), (suseconds_t)(share % 1000000)};
        bufferevent_set_timeouts(s->be, NULL, &tv);    /* bounds the connect (its write wait) */
        bufferevent_enable(s->be, EV_READ | EV_WRITE); /* EV_WRITE: to see the connect finish */
        if (bufferevent_socket_connect(s->be, NULL, 0) == 0) {
            return 0; /* in progress: be_event */
        }
        s->be_errs[s->be_try] = (uint16_t)EVUTIL_SOCKET_ERROR();
        bufferevent_free(s->be);
        s->be = NULL;
    }
    COUNTER_ADD(&w->counters, backend_errors, 1);
    if (ba->n == 1) {
        int e = s->be_errs[0];
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR, "HY000",
                  "Can't connect to MySQL server on '%s' (%d \"%s\") (slowtap backend)", ba->text,
                  e, strerror(e));
        return -1;
    }
    char list[360];
    size_t used = 0;
    list[0] = '\0';
    for (int i = 0; i < ba->n && used < sizeof list; i++) {
        int e = s->be_errs[i];
        int k = snprintf(list + used, sizeof list - used, "%s%s: %d \"%s\"", i ? "; " : "",
                         ba->a[i].text, e, strerror(e));
        if (k < 0) {
            break;
        }
        used += (size_t)k;
    }
    sess_fail(s, PROTO_ER_UNKNOWN_ERROR, "HY000",
              "Can't connect to MySQL server on '%s' (%s) (slowtap backend)", ba->text, list);
    return -1;
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
        bufferevent_set_timeouts(s->be, NULL, NULL); /* be_connect's per-address bound */
        bufferevent_disable(s->be, EV_WRITE);        /* push() writes; see there */
        if (!net_addr_is_unix(&s->w->app->backend_addr)) {
            int one = 1;
            setsockopt(bufferevent_getfd(s->be), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        }
        return;
    }
    if (s->state == SESS_CONNECTING &&
        (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
        /* This address refused or timed out: the next one, or the ERR naming them all. */
        int err = (what & BEV_EVENT_TIMEOUT) ? ETIMEDOUT : EVUTIL_SOCKET_ERROR();
        s->be_errs[s->be_try] = (uint16_t)(err ? err : ECONNREFUSED);
        bufferevent_free(s->be);
        s->be = NULL;
        s->be_try++;
        be_connect(s);
        return;
    }
    if (!(what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))) {
        return;
    }
    const char *addr = s->w->app->backend_addr.text;
    int err = EVUTIL_SOCKET_ERROR();
    COUNTER_ADD(&s->w->counters, backend_errors, s->q_head != NULL);
    /* A backend that reset the connection (e.g. MariaDB dropping an idle one after
     * wait_timeout) resets the client's too, once it has what was relayed: as directly. */
    s->reset_client = (what & BEV_EVENT_ERROR) && err == ECONNRESET;
    if ((s->state == SESS_COMMAND && !s->q_head) || s->auth_failed) {
        /* Idle, after COM_QUIT, or after a refused login (already logged): close quietly once
         * the client has everything. */
        sess_close_flushed(s);
    } else if (s->client_gone) {
        sess_free(s); /* the server closed after the client did: nothing to tell anyone */
    } else if (s->backend_tls && s->state <= SESS_AUTH) {
        char msg[256];
        tls_bev_error_text(s->be, msg, sizeof msg);
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR, "HY000",
                  "TLS connection error with backend '%s': %s (slowtap)", addr, msg);
    } else {
        s->interrupted = "backend_lost";
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
    if (!s) {
        close(fd);
        atomic_fetch_sub_explicit(&app->connections, 1, memory_order_relaxed);
        return;
    }
    s->w = w;
    s->now = s->created_us = worker_now_us();
    findings_sess_init(&s->fnd, &w->findings);
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
    if (!s->cli) {
        close(fd);
        sess_free(s);
        return;
    }
    bufferevent_setcb(s->cli, cli_read, cli_write, cli_event, s);
    bev_tune(s->cli);
    bufferevent_disable(s->cli, EV_WRITE); /* on by default; push() writes */
    sess_set_state(s, SESS_CONNECTING);
    be_connect(s); /* the backend's addresses in order; on failure the client gets the ERR */
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
        struct proto_stmt_info info;
        proto_stmt_analyze(pc->buf + 1, pc->len - 1, s->sql_mode, NULL, 0, NULL, 0, &info);
        explainable = proto_stmt_explainable(info.kind);
        if (explainable) {
            digest = info.digest;
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
    if (pc->cmd == PROTO_COM_QUERY || pc->cmd == PROTO_COM_STMT_EXECUTE) {
        /* any statement running this long: what it waits for, and its plan if it has one */
        pc->live_token = explain_live(app->explain, s->thread_id, digest, explainable);
    }
}
