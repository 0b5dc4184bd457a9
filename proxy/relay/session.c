/*
 * session.c - one client connection paired with one backend connection: relays bytes both
 * ways, follows the protocol on the way (proto_*), times every command, and hands each
 * completed command to the accounting (proxy/account/account.c), whose records it passes on.
 *
 * Data path (one worker thread; nothing here blocks or takes a lock):
 *
 *   client                                slowtap                                   backend
 *
 *   bytes -> [cli input] -relay(CLIENT)-> framer -> client_packet()/client_end()
 *                 |                         a new command: struct pcmd (start time, a bounded
 *                 |                         copy of its text) joins the pending queue; clients
 *                 |                         may pipeline, so the queue keeps their order
 *                 '--- send_from(): one writev from the input's pieces -------------> backend
 *                        (what the socket does not take: chains move to [be output])
 *
 *   bytes <---------------------------------- send_from() --------------------------- [be input]
 *                                           framer -> server_packet()/server_end()
 *                                           proto_resp_feed() for the queue's head; when its
 *                                           response ends, complete_head():
 *     relay    track(): schema, user, sql_mode, prepared statements; account(): a struct
 *              acct_cmd on the stack (the command, its timing, the response, the session)
 *       |
 *     account  acct_command() (account.c): transaction, counters, per-shape statistics,
 *       |      routes, N+1 findings; for a slow or explained statement a struct rec, returned
 *       |
 *     output   hand_on(): the rec -> explain_submit() (auto-EXPLAIN thread, then the slow log)
 *              or -> slowlog_write() (buffered; the log thread writes)
 *
 * States (sess_set_state is the only place that changes them):
 *   CONNECTING -> GREETING -> HANDSHAKE -> AUTH -> COMMAND -> CLOSING
 * sess_end() is the only place a session is torn down (sess_fail() formats its reason): it
 * says why on stderr, tells the client with an ERR packet where the protocol allows one,
 * records the command left unfinished, and closes both sides, the client's once flushed
 * (CLOSING) or at once.
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
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif

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
#include "protocol/proto_stmt.h"
#include "protocol/proto_wire.h"
#include "proxy/account/account.h"
#include "proxy/relay/pstmt.h"
#include "proxy/account/record.h"
#include "proxy/relay/session.h"
#include "proxy/relay/sha2auth.h"
#include "proxy/output/slowlog.h"
#include "proxy/relay/tls.h"
#include "proxy/relay/worker.h"
#include "common/strcopy.h"

#define SESS_HIGH_WATER    (1u << 20)   /* pause the other side's reading above this */
#define SESS_LOW_WATER     (256u << 10) /* resume below this */
#define SESS_COPY_MAX      (1u << 20)   /* bytes of a command's payload kept for the log */
#define SESS_COPY_MAX_EXEC (64u << 20)  /* ... of an execute: its parameters are decoded */
#define SESS_HANDSHAKE_MAX (64u << 10)  /* largest handshake response accepted */
#define SESS_SMALL_PEEK    32u          /* payload bytes looked at for most packets */
#define SESS_PEEK_VECS     16           /* input pieces the relay walks per evbuffer_peek */
#define SESS_READ_MAX      (256u << 10) /* bytes own_read takes per wake-up at most */
#define SESS_ZCHUNK        (1u << 20)   /* plain bytes per compressed frame slowtap builds */
#define SESS_ZVEC          16           /* evbuffer pieces handed to zlib/zstd at once */
#define SESS_LIVE_MIN_US   100000       /* live plans only for statements running this long */
#define PCMD_POOL_MAX      256
#define PCMD_KEEP_BUF      (64u << 10) /* recycled records keep buffers up to this size */
/* Bytes own_read reserves for its first readv of a wake-up (a statement, a small result) and
 * for each further one (a large result), less room for libevent's chain header so that the
 * chain's allocation stays at 16 or 64 KiB (below malloc's mmap threshold). */
#define SESS_READ_CHUNK ((16u << 10) - 128u)
#define SESS_READ_BIG   ((64u << 10) - 128u)

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
    int64_t t_first;    /* monotonic us at the callback that read its first byte */
    int64_t t_arrived;  /* ... that read its last byte (client_end) */
    int64_t t_start;    /* when the server could start it (start_head): its last byte arrived
                           and the answer to the command before it had ended; Query_time runs
                           from here, Queue_time from t_arrived to here */
    int64_t wall_start; /* realtime us at t_first, then at t_start: the log's # Time */
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
                             (each side's SSL request shifts its count by one; a public-key
                             exchange done for the client, sha2auth.h, by two more) */
    struct sha2auth sha2; /* during authentication: caching_sha2_password's state */
    uint32_t thread_id;   /* backend connection id, from the greeting */
    uint8_t last_seq;     /* sequence id of the last packet relayed, either way */
    bool cli_paused, be_paused;
    /* In the command phase a plain socket is read by slowtap's own event (own_read), not by
     * its bufferevent (whose evbuffer_read asks ioctl(FIONREAD) and reads 4 KiB per call);
     * NULL before, and for TLS. Reading is switched on and off with sess_reading. */
    struct event *cli_rd, *be_rd;
    bool auth_failed; /* the server refused the login: its ERR is relayed, then it closes */
    char user[64];
    char host[64];
    char schema[64];
    unsigned sql_mode;             /* PROTO_SQLMODE_* in force, for lexing and rendering literals */
    struct proto_sqlmode set_mode; /* what the session's SET sql_mode statements said */
    struct acct_sess acct;         /* transaction, unit of work, registry entry (account.h) */
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
    bool quit_sent;               /* the client sent COM_QUIT: its end of file after that is a
                                     goodbye, not a client gone (it may still read answers) */
    /* Pipelining: the answers of batch_k queued commands end in what one read of the backend
     * brought (count_ends); the server spent [batch_t0, batch_now] on them, one after the
     * other, and each gets an equal share (complete_head) instead of the first taking it all.
     * batch_i: how many of them completed so far. 0: no batch. */
    unsigned batch_k, batch_i;
    int64_t batch_t0, batch_now;
    struct pstmt_table stmts;
};

_Static_assert(sizeof((struct sess *)0)->schema == ACCT_SCHEMA_MAX, "acct_cmd.schema");

static void complete_head(struct sess *s);
static void cli_write_packet(struct sess *s, const uint8_t *pkt, size_t n);

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

static void own_reads_start(struct sess *s);

static void
sess_set_state(struct sess *s, enum sess_state st)
{
    if (st == SESS_CLOSING && s->state != SESS_CLOSING) {
        s->closing_us = worker_now_us();
    }
    s->state = st;
    if (st == SESS_COMMAND) {
        own_reads_start(s);
    }
}

/* Frees a side's own read event (before its bufferevent closes the socket). */
static void
own_read_stop(struct event **rd)
{
    if (*rd) {
        event_free(*rd);
        *rd = NULL;
    }
}

/* Switches reading a side on or off (backpressure, shutdown): its own read event when it has
 * one, else its bufferevent's. */
static void
sess_reading(struct sess *s, struct bufferevent *bev, bool on)
{
    struct event *rd = bev == s->cli ? s->cli_rd : bev == s->be ? s->be_rd : NULL;
    if (rd) {
        if (on) {
            event_add(rd, NULL);
        } else {
            event_del(rd);
        }
    } else if (on) {
        bufferevent_enable(bev, EV_READ);
    } else {
        bufferevent_disable(bev, EV_READ);
    }
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
 * sess_end() with an error: formats `why` and ends the session with SESS_END_FLUSH (the
 * client gets the ERR, when `code` is non-zero, before its connection closes).
 */
static void sess_fail(struct sess *s, uint16_t code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
sess_fail(struct sess *s, uint16_t code, const char *fmt, ...)
{
    char msg[400];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    sess_end(s, SESS_END_FLUSH, code, msg);
}

static void record_unfinished(struct sess *s);
static int relay(struct sess *s, bool from_client);

/* Bytes the client's connection has still to send before it may close: its output, under TLS
 * the encrypted bytes of the socket below, and before a reset what the kernel holds unacked
 * (a reset drops it). */
static size_t
cli_unsent(const struct sess *s)
{
    size_t n = evbuffer_get_length(bufferevent_get_output(s->cli));
    if (s->client_tls) {
        n += tls_bev_unsent(s->cli);
    }
#ifdef SIOCOUTQ
    int q = 0;
    if (s->reset_client && ioctl(bufferevent_getfd(s->cli), SIOCOUTQ, &q) == 0 && q > 0) {
        n += (size_t)q;
    }
#endif
    return n;
}

/* The client's connection is flushed (cli_unsent): CLOSING is over. Under TLS the output is
 * empty once the filter encrypted it: then its close_notify follows what was sent. */
static bool
cli_flushed(struct sess *s)
{
    if (evbuffer_get_length(bufferevent_get_output(s->cli)) > 0) {
        return false;
    }
    if (s->client_tls && !s->reset_client) {
        tls_bev_close_notify(s->cli);
    }
    return cli_unsent(s) == 0;
}

/* The end of sess_end(): what the session still owes the accounting, then its memory. */
static void
sess_free(struct sess *s)
{
    struct worker *w = s->w;
    if (s->q_head) {
        record_unfinished(s); /* the server may have run it: it is logged */
    }
    acct_sess_end(&s->acct, &w->acct, worker_now_us(), worker_wall_us());
    if (s->cli && s->reset_client) {
        struct linger lg = {1, 0}; /* close with a TCP reset */
        setsockopt(bufferevent_getfd(s->cli), SOL_SOCKET, SO_LINGER, &lg, sizeof lg);
    } else if (s->cli && s->client_tls) {
        /* a TLS close, as a server closes: close_notify, then the socket's FIN */
        tls_bev_close_notify(s->cli);
        tls_bev_flush_now(s->cli);
    }
    own_read_stop(&s->cli_rd);
    own_read_stop(&s->be_rd);
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
    sha2auth_wipe(&s->sha2);
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
sess_end(struct sess *s, enum sess_end_how how, uint16_t code, const char *why)
{
    if (why) {
        sess_log(s, "closing: %s", why);
    }
    if (s->be) {
        own_read_stop(&s->be_rd);
        bufferevent_free(s->be);
        s->be = NULL;
    }
    if (s->cli && why && code) {
        uint8_t pkt[PROTO_HDR_LEN + 512];
        uint8_t seq = s->state <= SESS_GREETING ? 0 : (uint8_t)(s->last_seq + 1);
        size_t n = proto_err_build(pkt, sizeof pkt, seq, code, proto_err_sqlstate(code), why);
        cli_write_packet(s, pkt, n);
    }
    if (how == SESS_END_FLUSH && s->cli && cli_unsent(s) > 0) {
        /* cli_write() ends it once the output is empty, sess_tick() if that takes too long */
        sess_set_state(s, SESS_CLOSING);
        own_read_stop(&s->cli_rd);
        bufferevent_disable(s->cli, EV_READ);
        bufferevent_setwatermark(s->cli, EV_WRITE, 0, 0);
        bufferevent_enable(s->cli, EV_WRITE);
        return;
    }
    sess_free(s);
}

int64_t
sess_trx_wall_start(const struct sess *s)
{
    return acct_trx_wall_start(&s->acct);
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

/* ---- completed commands: to the accounting (account.h) and on ---- */

/* Hands a record the accounting made on: to auto-EXPLAIN, which passes it on to the slow log
 * when done, or straight to the slow log. */
static void
hand_on(struct worker *w, const struct acct_out *out)
{
    struct app *app = w->app;
    struct rec *rec = out->rec;
    if (!rec) {
        return;
    }
    bool slow = out->slow, explain = out->explain, pfs_only = rec->explain.pfs_only;
    /* the explain thread gets a record of its own; the slow log is written here and now */
    if ((explain || pfs_only) && rec_own(rec) &&
        explain_submit(app->explain, rec_explain_job(rec))) {
        return;
    }
    if (pfs_only) {
        rec->explain.error[0] = '\0'; /* no plan was asked for: a refusal is no explain error */
    }
    if (slow) {
        slowlog_write(w->slowbuf, app->conf->log_format, app->filter, rec);
    }
    rec_free(rec);
}

/* The head command's response ended (`ended`), or the session gives up on it: what the relay
 * saw of it goes to the accounting, and the record that comes back goes on. */
static void
account(struct sess *s, const struct pcmd *pc, const struct pstmt *st, bool ended)
{
    struct acct_stmt view;
    if (st) {
        view = (struct acct_stmt){
            .sql = st->sql,
            .sql_len = st->sql_len,
            .digest = st->digest,
            .fingerprint = st->fingerprint,
            .route = st->route,
            .tags = st->tags,
            .ph_offs = st->ph_offs,
            .nph = st->nph,
            .explainable = st->explainable,
            .nparams = st->nparams,
            .types = st->types,
            .long_data = st->long_data,
        };
    }
    struct acct_cmd c = {
        .cmd = pc->cmd,
        .buf = pc->buf,
        .len = pc->len,
        .total = pc->total,
        .t_start = pc->t_start,
        .queue_us = pc->t_start > pc->t_arrived ? (uint64_t)(pc->t_start - pc->t_arrived) : 0,
        .wall_start = pc->wall_start,
        .t_end = s->now,
        .bytes = pc->bytes,
        .live_token = pc->live_token,
        .ended = ended,
        .interrupted = s->interrupted   ? s->interrupted
                       : s->client_gone ? "client_gone"
                                        : NULL,
        .resp = &s->resp,
        .stmt = st ? &view : NULL,
        .thread_id = s->thread_id,
        .user = s->user,
        .host = s->host,
        .schema = s->schema,
        .sql_mode = s->sql_mode,
        .set_mode = &s->set_mode,
    };
    struct acct_out out;
    acct_command(&s->acct, &s->w->acct, &c, &out);
    hand_on(s->w, &out);
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
            strcopy(s->schema, sizeof s->schema, arg, arg_len);
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
                strcopy(s->user, sizeof s->user, user, strlen(user));
                strcopy(s->schema, sizeof s->schema, db, strlen(db));
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
    acct_no_response(&s->w->acct);
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
        /* The server starts it now: the answer before it just ended (or there was none and
         * its last byte just arrived). What it waited since it arrived is its Queue_time. */
        int64_t now = s->now > pc->t_arrived ? s->now : pc->t_arrived;
        pc->wall_start += now - pc->t_first;
        pc->t_start = now;
        proto_resp_begin(&s->resp, pc->cmd, s->caps);
        if (proto_execute_asks_cursor((const uint8_t *)pc->buf, pc->len)) {
            proto_resp_cursor_requested(&s->resp);
        }
    }
}

static void
complete_head(struct sess *s)
{
    struct pcmd *pc = s->q_head;
    struct pstmt *st = NULL;

    if (s->batch_k) {
        /* its share of the batch's time (see struct sess): its end, and the next one's start */
        s->batch_i++;
        s->now = s->batch_i >= s->batch_k
                     ? s->batch_now
                     : s->batch_t0 +
                           (s->batch_now - s->batch_t0) * (int64_t)s->batch_i / (int64_t)s->batch_k;
        if (s->batch_i >= s->batch_k) {
            s->batch_k = 0;
        }
    }
    track(s, pc, &st);
    account(s, pc, st, true);
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
    account(s, pc, st, false);
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
    own_read_stop(&s->cli_rd);
    bufferevent_free(s->cli);
    s->cli = NULL;
    s->client_tls = false;
    if (s->rx || proto_resp_wants_client(&s->resp) ||
        evbuffer_get_length(bufferevent_get_output(s->be)) > 0) {
        sess_end(s, SESS_END_NOW, 0, NULL);
        return;
    }
    shutdown(bufferevent_getfd(s->be), SHUT_WR);
    s->be_paused = false;
    sess_reading(s, s->be, true);
    /* what backpressure held back may already hold the whole answer: no read event follows */
    if (evbuffer_get_length(bufferevent_get_input(s->be)) > 0 && relay(s, false) == 0 &&
        !s->q_head) {
        sess_end(s, SESS_END_NOW, 0, NULL);
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
        sess_fail(s, PROTO_ER_NET_PACKETS_OUT_OF_ORDER,
                  "Got packets out of order (slowtap: a %s packet with sequence id %u where a "
                  "command was expected)",
                  st->hdr.len ? "command" : "empty", st->hdr.seq);
        return -1;
    }
    struct pcmd *pc = pcmd_get(s->w);
    if (!pc) {
        sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap)");
        return -1;
    }
    pc->cmd = p[0];
    pc->t_first = pc->t_arrived = pc->t_start = s->now;
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
    pc->t_arrived = s->now;
    if (pc->cmd == PROTO_COM_QUIT) {
        s->quit_sent = true;
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
        } else if (avail && p[0] == PROTO_EOF_HDR && st->hdr.len <= avail) {
            /* an auth switch: the plugin and data the exchange goes on with */
            char plugin[64];
            if (proto_auth_switch_parse(p, avail, plugin, s->sha2.nonce, &s->sha2.nonce_len) ==
                PROTO_OK) {
                s->sha2.plugin = strcmp(plugin, PROTO_SHA2_PLUGIN) == 0;
            }
        } else if (s->sha2.plugin && s->client_tls && !s->backend_tls &&
                   proto_sha2_full_auth(p, st->hdr.len <= avail ? st->hdr.len : 0)) {
            s->sha2.state = SHA2AUTH_CLEARTEXT_NEXT; /* relayed; the answer is kept (sha2auth.h) */
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
        sess_fail(s, 0, "backend sent a packet (0x%02x, %u bytes) when no command was pending",
                  avail ? p[0] : 0, st->hdr.len);
        return -1;
    }
    if (avail && proto_resp_row(&s->resp, p[0], st->hdr.len)) {
        return 0; /* a row: counted, nothing else to look at */
    }
    enum proto_rc rc = proto_resp_feed(&s->resp, p, avail, st->hdr.len);
    if (rc == PROTO_ERROR) {
        COUNTER_ADD(&s->w->counters, protocol_errors, 1);
        s->interrupted = "proxy_error";
        sess_fail(s, 0,
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
 * A forward walk over the contiguous pieces of the relay's input (evbuffer_peek), so that each
 * packet's header and first bytes are read where they lie, instead of seeking from the
 * buffer's start (evbuffer_ptr_set) and copying them out, per packet. Valid while the buffer is
 * unchanged (poke's in-place writes aside): after draining it, cur_reset.
 */
struct relay_cur {
    struct evbuffer *buf;
    struct evbuffer_iovec v[SESS_PEEK_VECS];
    int n;     /* pieces in v; 0: look again */
    int i;     /* the piece holding the last offset asked for */
    size_t at; /* offset of v[i] in buf */
};

/* Every field set: cur_get's fast path reads i and at, and a cursor lives on the stack. */
static void
cur_reset(struct relay_cur *c, struct evbuffer *buf)
{
    *c = (struct relay_cur){.buf = buf, .n = 0, .i = 0, .at = 0};
}

/* Moves to the piece holding offset off (inside the buffer); false when there is none. */
static bool
cur_seek(struct relay_cur *c, size_t off)
{
    if (c->n > 0 && off >= c->at) {
        while (c->i < c->n && off - c->at >= c->v[c->i].iov_len) {
            c->at += c->v[c->i].iov_len;
            c->i++;
        }
        if (c->i < c->n) {
            return true;
        }
    }
    struct evbuffer_ptr pos; /* before the pieces seen, or past them: look again from off */
    if (evbuffer_ptr_set(c->buf, &pos, off, EVBUFFER_PTR_SET) < 0) {
        c->n = 0;
        return false;
    }
    int n = evbuffer_peek(c->buf, -1, &pos, c->v, SESS_PEEK_VECS);
    c->n = n < SESS_PEEK_VECS ? n : SESS_PEEK_VECS;
    c->i = 0;
    c->at = off;
    while (c->i < c->n && c->v[c->i].iov_len == 0) {
        c->i++;
    }
    return c->i < c->n;
}

/* cur_get when the bytes are not all in the piece of the last call. */
static const uint8_t *
cur_get_slow(struct relay_cur *c, size_t off, size_t n, uint8_t *tmp)
{
    if (cur_seek(c, off)) {
        size_t skip = off - c->at;
        const struct evbuffer_iovec *v = &c->v[c->i];
        if (v->iov_len - skip >= n) {
            return (const uint8_t *)v->iov_base + skip;
        }
        size_t got = 0;
        for (int i = c->i; i < c->n && got < n; i++, skip = 0) {
            size_t k = c->v[i].iov_len - skip < n - got ? c->v[i].iov_len - skip : n - got;
            memcpy(tmp + got, (const uint8_t *)c->v[i].iov_base + skip, k);
            got += k;
        }
        if (got == n) {
            return tmp;
        }
    }
    peek(c->buf, off, tmp, n);
    return tmp;
}

/* The n bytes at offset off (all inside the buffer): a pointer into the buffer when they lie
 * in one piece, else a copy in tmp (of at least n bytes). */
static inline const uint8_t *
cur_get(struct relay_cur *c, size_t off, size_t n, uint8_t *tmp)
{
    if (c->i < c->n && off >= c->at) {
        const struct evbuffer_iovec *v = &c->v[c->i];
        size_t skip = off - c->at;
        if (skip < v->iov_len && v->iov_len - skip >= n) {
            return (const uint8_t *)v->iov_base + skip;
        }
    }
    return cur_get_slow(c, off, n, tmp);
}

/*
 * The rows of a result set from the server, from offset off of the input: each whole row
 * packet (proto_resp_row) is counted from its header and first byte and passed over, with the
 * framer, the head's byte count and the sequence id left as the packet-by-packet path leaves
 * them. Stops before anything else (an end or error packet, a 16 MiB row, a row not all
 * here). Returns the bytes passed over.
 */
static size_t
relay_rows(struct sess *s, struct relay_cur *c, size_t off, size_t total)
{
    size_t start = off;
    uint8_t seq = 0;
    while (total - off > PROTO_HDR_LEN) {
        uint8_t tmp[PROTO_HDR_LEN + 1];
        const uint8_t *h = cur_get(c, off, PROTO_HDR_LEN + 1, tmp);
        uint32_t len = proto_le24(h);
        if (len >= PROTO_MAX_PAYLOAD || total - off - PROTO_HDR_LEN < len ||
            !proto_resp_row(&s->resp, h[PROTO_HDR_LEN], len)) {
            break;
        }
        seq = h[3];
        off += PROTO_HDR_LEN + len;
    }
    if (off > start) {
        s->q_head->bytes += off - start;
        s->sfr.continues = false;
        s->sfr.next_continues = false;
        s->sfr.seq = seq;
        s->last_seq = seq;
    }
    return off - start;
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

/*
 * Relays the first n bytes of `in` to dst. When dst is a plain socket with nothing waiting in
 * its output (the usual case: a statement, its response), they go straight from the input's
 * pieces to the socket with one writev and are drained from `in`; only what the kernel does
 * not take moves to dst's output, for push or libevent's write event to finish. This saves
 * moving the chains into the output, its callbacks and a second drain per packet. Otherwise
 * the chains move (evbuffer_remove_buffer) and push sends them.
 */
static void
send_from(struct sess *s, struct evbuffer *in, size_t n, struct bufferevent *dst)
{
    bool tls = dst == s->cli ? s->client_tls : s->backend_tls;
    struct evbuffer *out = bufferevent_get_output(dst);
    if (!tls && s->state != SESS_CONNECTING && !(bufferevent_get_enabled(dst) & EV_WRITE) &&
        evbuffer_get_length(out) == 0) {
        struct evbuffer_iovec v[SESS_PEEK_VECS];
        struct iovec iov[SESS_PEEK_VECS];
        int nv = evbuffer_peek(in, (ev_ssize_t)n, NULL, v, SESS_PEEK_VECS);
        if (nv > SESS_PEEK_VECS) {
            nv = SESS_PEEK_VECS; /* the rest goes the other way */
        }
        size_t want = 0;
        for (int i = 0; i < nv; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = want + v[i].iov_len > n ? n - want : v[i].iov_len;
            want += iov[i].iov_len;
        }
        ssize_t r = nv > 0 ? writev(bufferevent_getfd(dst), iov, nv) : 0;
        size_t sent = r > 0 ? (size_t)r : 0;
        evbuffer_drain(in, sent);
        n -= sent;
        if (n == 0) {
            return;
        }
        if (sent < want) {
            /* The kernel is full (or the write failed): libevent's write event takes the rest
             * and reports an error through the event callback. */
            evbuffer_remove_buffer(in, out, n);
            bufferevent_enable(dst, EV_WRITE);
            return;
        }
    }
    evbuffer_remove_buffer(in, out, n);
    push(s, dst);
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
                    sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap, compression)");
                    return -1;
                }
                nz = z_pieces(raw, PROTO_ZHDR_LEN, h.clen, zb, &got);
            }
            struct evbuffer_iovec out;
            if (evbuffer_reserve_space(plain, n, &out, 1) < 1) {
                sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap, compression)");
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
                sess_fail(s, PROTO_ER_NET_PACKETS_OUT_OF_ORDER,
                          "Bad compressed packet (slowtap: the client sent a frame that does "
                          "not decode: %u bytes for %u)",
                          h.clen, h.ulen);
            } else {
                sess_fail(s, 0,
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
            sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap, compression)");
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
                sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap, compression)");
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

static long whole_packet(struct evbuffer *in, size_t max, uint8_t **payload, uint8_t *seq);

/*
 * caching_sha2_password's full authentication with only the client's leg under TLS
 * (sha2auth.h): keeps the client's cleartext password instead of relaying it and asks for the
 * server's key; then answers the key with the encrypted password instead of relaying it.
 * Returns 1 when the relay goes on as usual, 0 to wait for more bytes, -1 when torn down.
 */
static int
sha2_step(struct sess *s, bool from_client)
{
    struct sha2auth *a = &s->sha2;
    struct evbuffer *in = bufferevent_get_input(from_client ? s->cli : s->be);
    uint8_t *p, seq;
    if (from_client != (a->state == SHA2AUTH_CLEARTEXT_NEXT)) {
        return 1; /* not the packet we wait for */
    }
    long len = whole_packet(in, SESS_HANDSHAKE_MAX, &p, &seq);
    if (len == -2) {
        return 0;
    }
    if (len < 0 || (from_client && len == 1 && p[0] == PROTO_SHA2_REQUEST_KEY)) {
        sha2auth_wipe(a); /* too large to be ours, or the client asks for the key itself */
        return 1;
    }
    if (from_client) {
        if (!sha2auth_keep(a, p, (size_t)len)) {
            sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap)");
            return -1;
        }
        explicit_bzero(p, (size_t)len);
        evbuffer_drain(in, PROTO_HDR_LEN + (size_t)len);
        uint8_t req[PROTO_HDR_LEN + 1];
        proto_hdr_write(req, 1, (uint8_t)(seq + s->seq_delta));
        req[PROTO_HDR_LEN] = PROTO_SHA2_REQUEST_KEY;
        bufferevent_write(s->be, req, sizeof req);
        push(s, s->be);
        s->last_seq = seq;
        a->state = SHA2AUTH_KEY_NEXT;
        return 0;
    }
    if (len < 2 || p[0] != PROTO_SHA2_MORE_DATA) {
        sha2auth_wipe(a); /* no key (an ERR): relayed to the client */
        return 1;
    }
    uint8_t *enc;
    size_t enc_len;
    if (!sha2auth_encrypt(a, p + 1, (size_t)len - 1, &enc, &enc_len)) {
        sess_fail(s, PROTO_ER_HANDSHAKE_ERROR,
                  "slowtap: cannot encrypt the password with the server's public key "
                  "(caching_sha2_password)");
        return -1;
    }
    evbuffer_drain(in, PROTO_HDR_LEN + (size_t)len);
    uint8_t hdr[PROTO_HDR_LEN];
    proto_hdr_write(hdr, (uint32_t)enc_len, (uint8_t)(seq + 1));
    bufferevent_write(s->be, hdr, sizeof hdr);
    bufferevent_write(s->be, enc, enc_len);
    free(enc);
    push(s, s->be);
    s->seq_delta = (int8_t)(s->seq_delta + 2); /* our 02 and the key's answer */
    return 0;
}

/*
 * Moves every whole or partial packet available from one side to the other, looking at each
 * packet's header and first bytes on the way. A header whose first payload bytes have not
 * arrived yet stays in the input until they do. Returns -1 when the session was torn down.
 */
static int
relay(struct sess *s, bool from_client)
{
    if (s->sha2.state != SHA2AUTH_IDLE && s->state == SESS_AUTH) {
        int rc = sha2_step(s, from_client);
        if (rc <= 0) {
            return rc; /* torn down, or waiting for the rest of the packet */
        }
    }
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
    struct relay_cur cur = {.buf = in, .n = 0, .i = 0, .at = 0};

    while (off < total) {
        if (fr->body_left > 0) {
            size_t n = total - off < fr->body_left ? total - off : (size_t)fr->body_left;
            if (from_client && s->rx) {
                pcmd_copy(s->rx, in, off, n);
            }
            fr->body_left -= n;
            off += n;
        } else {
            if (!from_client && !s->zon && s->state == SESS_COMMAND && s->q_head &&
                !fr->next_continues && s->resp.state == PROTO_RS_ROWS) {
                size_t rows = relay_rows(s, &cur, off, total);
                if (rows) {
                    off += rows;
                    continue;
                }
            }
            size_t left = total - off;
            if (left < PROTO_HDR_LEN) {
                break;
            }
            /* h: the header and the first `want` payload bytes, in place or copied into hb */
            size_t first = PROTO_HDR_LEN + SESS_SMALL_PEEK; /* header and first bytes at once */
            const uint8_t *h = cur_get(&cur, off, left < first ? left : first, hb);
            uint32_t len = proto_le24(h);
            size_t want = len < SESS_SMALL_PEEK ? len : SESS_SMALL_PEEK;
            if (left - PROTO_HDR_LEN < want) {
                break;
            }
            if (!from_client && want < len &&
                (h[PROTO_HDR_LEN] == PROTO_ERR_HDR || h[PROTO_HDR_LEN] == PROTO_INFILE_HDR ||
                 (s->state == SESS_AUTH && h[PROTO_HDR_LEN] == PROTO_EOF_HDR))) {
                size_t want2 = len < PROTO_RESP_PEEK ? len : PROTO_RESP_PEEK;
                if (left - PROTO_HDR_LEN < want2) {
                    break;
                }
                h = cur_get(&cur, off, PROTO_HDR_LEN + want2, hb);
                want = want2;
            }
            struct proto_frame_step st;
            proto_framer_step(fr, h, PROTO_HDR_LEN, &st);
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
            int rc = from_client ? client_packet(s, &st, h + PROTO_HDR_LEN, want)
                                 : server_packet(s, &st, h + PROTO_HDR_LEN, want);
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
                    cur_reset(&cur, in); /* drained */
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
            send_from(s, in, off, dst);
        }
        if (zpass || zdst) {
            push(s, dst);
        }
        if (evbuffer_get_length(bufferevent_get_output(dst)) > SESS_HIGH_WATER) {
            sess_reading(s, src, false);
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
 * Returns the payload length, -2 when more bytes are needed, -1 when too large (*seq is set
 * whenever the header is there). */
static long
whole_packet(struct evbuffer *in, size_t max, uint8_t **payload, uint8_t *seq)
{
    uint8_t hdr[PROTO_HDR_LEN];
    if (evbuffer_copyout(in, hdr, sizeof hdr) < (ev_ssize_t)sizeof hdr) {
        return -2;
    }
    uint32_t len = proto_le24(hdr);
    *seq = hdr[3]; /* also for a packet too large: the ERR answering it follows its seq */
    if (len > max) {
        return -1;
    }
    if (evbuffer_get_length(in) < PROTO_HDR_LEN + len) {
        return -2;
    }
    *payload = evbuffer_pullup(in, PROTO_HDR_LEN + len) + PROTO_HDR_LEN;
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
            sess_fail(s, 0, "backend refused the connection");
            return -1;
        }
        COUNTER_ADD(&s->w->counters, protocol_errors, 1);
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR, "slowtap: backend %s sent an invalid greeting",
                  s->w->app->backend_addr.text);
        return -1;
    }
    s->thread_id = g.conn_id;
    memcpy(s->sha2.nonce, g.scramble, g.scramble_len);
    s->sha2.nonce_len = g.scramble_len;
    s->backend_has_ssl = (g.caps & PROTO_CAP_SSL) != 0;
    s->server_caps = g.caps & ~PROTO_CAPS_HIDDEN;
    s->backend_zcaps = g.caps & (PROTO_CAP_COMPRESS | PROTO_CAP_ZSTD_COMPRESSION);
    /* TLS is offered as the server offers it, or because the operator gave slowtap a
     * certificate (--tls-cert) or requires TLS (--tls-require): a client whose TLS is optional
     * then behaves as it would directly. */
    const struct conf *conf = s->w->app->conf;
    bool offer_tls =
        tls_server_enabled() && (s->backend_has_ssl || conf->tls_cert != NULL || conf->tls_require);
    proto_greeting_set_caps(p, (size_t)len, &g,
                            s->server_caps | (offer_tls ? PROTO_CAP_SSL : 0) | PROTO_CAP_COMPRESS |
                                (g.caps & PROTO_CAP_ZSTD_COMPRESSION));
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

/*
 * Reads what the socket has into `in`'s reserved space (evbuffer_reserve_space, readv,
 * evbuffer_commit_space), SESS_READ_CHUNK, then SESS_READ_BIG at a time, until a read
 * comes up short or SESS_READ_MAX arrived. Returns the bytes read; 0 at EOF and -1 on an error (errno set) when
 * nothing was read; -2 when nothing is there (EAGAIN). An EOF or error after some bytes waits
 * for the next wake-up, as with libevent's own reads.
 */
static long
own_read_fd(evutil_socket_t fd, struct evbuffer *in)
{
    size_t got = 0;
    while (got < SESS_READ_MAX) {
        struct evbuffer_iovec v[2];
        int nv = evbuffer_reserve_space(in, got ? SESS_READ_BIG : SESS_READ_CHUNK, v, 2);
        if (nv <= 0) {
            errno = ENOMEM;
            return got ? (long)got : -1;
        }
        struct iovec iov[2];
        size_t room = 0;
        for (int i = 0; i < nv; i++) {
            iov[i].iov_base = v[i].iov_base;
            iov[i].iov_len = v[i].iov_len;
            room += v[i].iov_len;
        }
        ssize_t r = readv(fd, iov, nv);
        if (r <= 0) {
            int err = errno;
            evbuffer_commit_space(in, v, 0);
            errno = err;
            if (got) {
                return (long)got;
            }
            if (r == 0) {
                return 0;
            }
            return err == EAGAIN || err == EWOULDBLOCK || err == EINTR ? -2 : -1;
        }
        size_t left = (size_t)r;
        int used = 0;
        for (; used < nv && left > 0; used++) {
            if (v[used].iov_len > left) {
                v[used].iov_len = left;
            }
            left -= v[used].iov_len;
        }
        evbuffer_commit_space(in, v, used);
        got += (size_t)r;
        if ((size_t)r < room) {
            break;
        }
    }
    return (long)got;
}

/* A side's socket is readable: read into its bufferevent's input, then what the bufferevent
 * would have called (cli_read/be_read, or cli_event/be_event at EOF or on an error). */
static void
own_read(evutil_socket_t fd, short what, void *arg)
{
    struct sess *s = arg;
    (void)what;
    bool cli = s->cli_rd && event_get_fd(s->cli_rd) == fd;
    struct bufferevent *bev = cli ? s->cli : s->be;
    struct evbuffer *in = bufferevent_get_input(bev);
    evbuffer_unfreeze(in, 0); /* as the socket bufferevent does around its reads */
    long r = own_read_fd(fd, in);
    evbuffer_freeze(in, 0);
    if (r == -2) {
        return;
    }
    if (r > 0) {
        (cli ? cli_read : be_read)(bev, s);
        return;
    }
    int err = errno;
    event_del(cli ? s->cli_rd : s->be_rd);
    errno = err;
    short ev = BEV_EVENT_READING | (r == 0 ? BEV_EVENT_EOF : BEV_EVENT_ERROR);
    (cli ? cli_event : be_event)(bev, ev, s);
}

/* The command phase begins: each plain side is read by own_read from now on (reading on or
 * off as its bufferevent's was). TLS sides keep their bufferevents' reads. */
static void
own_reads_start(struct sess *s)
{
    for (int i = 0; i < 2; i++) {
        struct bufferevent *bev = i == 0 ? s->cli : s->be;
        struct event **rd = i == 0 ? &s->cli_rd : &s->be_rd;
        bool tls = i == 0 ? s->client_tls : s->backend_tls;
        if (!bev || tls || *rd) {
            continue;
        }
        *rd = event_new(s->w->base, bufferevent_getfd(bev), EV_READ | EV_PERSIST, own_read, s);
        if (!*rd) {
            continue; /* the bufferevent reads on */
        }
        if (bufferevent_get_enabled(bev) & EV_READ) {
            bufferevent_disable(bev, EV_READ);
            event_add(*rd, NULL);
        }
    }
}

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
        sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap, TLS)");
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
        sess_fail(s, PROTO_ER_HANDSHAKE_ERROR,
                  "Bad handshake: slowtap does not offer TLS to clients (--tls off)");
        return -1;
    }
    evbuffer_drain(in, PROTO_HDR_LEN + len);
    return upgrade(s, true, ssl);
}

/* Before relaying the handshake response: when --backend-tls asks for it, send the backend
 * our own SSL request (the client's capabilities plus CLIENT_SSL) and upgrade. The default,
 * mirror, does so when the client's leg is TLS and the backend offers it: the server sees the
 * TLS its client chose (REQUIRE SSL accounts, Ssl_cipher). */
static int
start_backend_tls(struct sess *s, const uint8_t *resp)
{
    enum conf_backend_tls mode = s->w->app->conf->backend_tls;
    if (mode == CONF_BTLS_OFF || (mode == CONF_BTLS_PREFERRED && !s->backend_has_ssl) ||
        (mode == CONF_BTLS_MIRROR && (!s->client_tls || !s->backend_has_ssl))) {
        return 0;
    }
    if (!s->backend_has_ssl) {
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR,
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
        sess_fail(s, PROTO_ER_HANDSHAKE_ERROR, "Bad handshake");
        return -1;
    }
    s->last_seq = seq;
    if (hr.ssl_request) {
        return start_client_tls(s, (size_t)len);
    }
    if (s->w->app->conf->tls_require && !s->client_tls) {
        sess_fail(s, PROTO_ER_SECURE_TRANSPORT_REQUIRED,
                  "Connections using insecure transport are prohibited while --tls-require is "
                  "on (slowtap)");
        return -1;
    }
    strcopy(s->user, sizeof s->user, hr.user, strlen(hr.user));
    strcopy(s->schema, sizeof s->schema, hr.db, strlen(hr.db));
    s->sha2.plugin = strcmp(hr.plugin, PROTO_SHA2_PLUGIN) == 0;
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
        sess_reading(s, s->cli, true);
    }
    if (s->be_paused && s->cli &&
        evbuffer_get_length(bufferevent_get_output(s->cli)) <= SESS_LOW_WATER) {
        s->be_paused = false;
        sess_reading(s, s->be, true);
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

#define SESS_BATCH_PACKETS 4096 /* packets count_ends looks at, at most */

/* Next queued command after `pc` that has a response. */
static const struct pcmd *
next_answered(const struct pcmd *pc)
{
    for (pc = pc->next; pc && !proto_com_has_response(pc->cmd); pc = pc->next) {
    }
    return pc;
}

/*
 * How many of the queued commands' answers end, whole, in what the backend's input holds now:
 * a copy of the framer and the response follows the packets as relay() will (a dry run, at
 * most SESS_BATCH_PACKETS packets; a 16 MiB packet or LOCAL INFILE ends the count). Used only
 * when commands are pipelined; pure reading, the input is not changed.
 */
static unsigned
count_ends(const struct sess *s)
{
    struct evbuffer *in = bufferevent_get_input(s->be);
    size_t total = evbuffer_get_length(in), off = 0;
    struct proto_framer fr = s->sfr;
    struct proto_resp r = s->resp;
    const struct pcmd *head = s->q_head;
    bool pending = s->resp_done; /* the head's last packet began in an earlier read */
    unsigned ends = 0;
    for (unsigned packets = 0; head && packets < SESS_BATCH_PACKETS; packets++) {
        if (fr.body_left > 0) {
            if (total - off < fr.body_left) {
                break;
            }
            off += (size_t)fr.body_left;
            fr.body_left = 0;
        }
        if (pending && !fr.next_continues) {
            ends++;
            pending = false;
            if (!(head = next_answered(head))) {
                break;
            }
            proto_resp_begin(&r, head->cmd, s->caps);
            if (proto_execute_asks_cursor((const uint8_t *)head->buf, head->len)) {
                proto_resp_cursor_requested(&r);
            }
        }
        uint8_t h[PROTO_HDR_LEN + PROTO_RESP_PEEK];
        if (total - off < PROTO_HDR_LEN || r.state == PROTO_RS_INFILE_DATA) {
            break;
        }
        struct evbuffer_ptr pos;
        evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
        evbuffer_copyout_from(in, &pos, h, PROTO_HDR_LEN);
        uint32_t len = proto_le24(h);
        size_t want = len < PROTO_RESP_PEEK ? len : PROTO_RESP_PEEK;
        if (len >= PROTO_MAX_PAYLOAD || total - off - PROTO_HDR_LEN < len) {
            break; /* counted once whole */
        }
        evbuffer_copyout_from(in, &pos, h, PROTO_HDR_LEN + want);
        struct proto_frame_step st;
        proto_framer_step(&fr, h, PROTO_HDR_LEN, &st);
        off += PROTO_HDR_LEN;
        if (st.kind == PROTO_FRAME_CONTINUATION ||
            (want && proto_resp_row(&r, h[PROTO_HDR_LEN], len))) {
            continue;
        }
        enum proto_rc rc = proto_resp_feed(&r, h + PROTO_HDR_LEN, want, len);
        if (rc == PROTO_ERROR) {
            break;
        }
        pending = rc == PROTO_OK;
    }
    if (pending && fr.body_left == 0 && !fr.next_continues) {
        ends++;
    }
    return ends;
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
        s->batch_k = 0;
        if (s->state == SESS_COMMAND && !s->zon && s->q_head && s->q_head->next) {
            /* pipelined commands: the time since the head started is theirs to share */
            unsigned k = count_ends(s);
            if (k >= 2) {
                s->batch_k = k;
                s->batch_i = 0;
                s->batch_t0 = s->q_head->t_start;
                s->batch_now = s->now;
            }
        }
        if (relay(s, false) < 0) {
            return; /* torn down */
        }
        if (s->batch_k) {
            s->now = s->batch_now; /* fewer ended than counted: time is now again */
            s->batch_k = 0;
        }
        if (s->client_gone && !s->q_head) {
            /* every statement the gone client sent has been answered */
            sess_end(s, SESS_END_NOW, 0, NULL);
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
        if (cli_flushed(s)) {
            sess_end(s, SESS_END_NOW, 0, NULL);
        }
        return; /* the socket below TLS, or the kernel, still sends: sess_tick looks again */
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
        if (s->quit_sent && !(what & BEV_EVENT_ERROR) && s->state == SESS_COMMAND && s->be) {
            /* End of file after COM_QUIT (a client that pipelines its goodbye and shuts its
             * write side): nothing is abandoned. The answers still owed go to the client; the
             * server closes after the COM_QUIT, and be_event ends the session once the client
             * has them. Only a failed write or a reset makes the client gone. */
            own_read_stop(&s->cli_rd);
            bufferevent_disable(s->cli, EV_READ);
            return;
        }
        if (s->state == SESS_COMMAND && s->q_head && s->be) {
            client_left(s); /* statements in flight are seen to their end */
            return;
        }
        /* The client left: close both sides (the server rolls back what was open). */
        sess_end(s, SESS_END_NOW, 0, NULL);
    }
}

/*
 * Connects the backend leg: --backend's addresses in order from s->be_try, non-blocking,
 * until one accepts (be_event then sees BEV_EVENT_CONNECTED, or the failure and calls this
 * again with the next address). Each attempt is bounded by an equal share of what is left of
 * the handshake timeout. With no address left the session fails with one ERR
 * (PROTO_ER_UNKNOWN_ERROR) naming every address tried and its errno text. Returns -1 when the
 * session was torn down.
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
            sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap, backend connect)");
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
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR,
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
    sess_fail(s, PROTO_ER_UNKNOWN_ERROR,
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
        sess_end(s, SESS_END_FLUSH, 0, NULL);
    } else if (s->client_gone) {
        /* the server closed after the client did: nothing to tell anyone */
        sess_end(s, SESS_END_NOW, 0, NULL);
    } else if (s->backend_tls && s->state <= SESS_AUTH) {
        char msg[256];
        tls_bev_error_text(s->be, msg, sizeof msg);
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR, "TLS connection error with backend '%s': %s (slowtap)",
                  addr, msg);
    } else if (s->state <= SESS_GREETING) {
        /* no server has spoken on this connection: slowtap's ERR says what happened */
        sess_fail(s, PROTO_ER_UNKNOWN_ERROR,
                  "Lost connection to MySQL server at '%s' (slowtap backend: %s before its "
                  "greeting)",
                  addr, (what & BEV_EVENT_EOF) ? "closed by the server" : strerror(err));
    } else {
        /* The server spoke, then closed or reset: the client's connection ends the same way
         * once it has what the server sent (a reset as a reset, TLS with its close_notify),
         * as it would directly; no ERR of slowtap's stands in for the server. */
        if (s->q_head) {
            s->interrupted = "backend_lost";
        }
        char msg[480];
        snprintf(msg, sizeof msg,
                 "Lost connection to MySQL server at '%.300s' (slowtap backend: %.60s)", addr,
                 (what & BEV_EVENT_EOF) ? "closed by the server" : strerror(err));
        sess_end(s, SESS_END_FLUSH, 0, msg);
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
        size_t len = proto_err_build(pkt, sizeof pkt, 0, PROTO_ER_CON_COUNT_ERROR,
                                     PROTO_ER_CON_COUNT_ERROR_STATE, "Too many connections");
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
    acct_sess_init(&s->acct, &w->findings);
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
        sess_end(s, SESS_END_NOW, 0, NULL);
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
        if ((s->cli && cli_flushed(s)) || now - s->closing_us > app->conf->handshake_timeout_us) {
            sess_end(s, SESS_END_NOW, 0, NULL);
        }
        return;
    }
    if (s->state < SESS_COMMAND && now - s->created_us > app->conf->handshake_timeout_us) {
        sess_fail(s, PROTO_ER_HANDSHAKE_ERROR, "Bad handshake: timeout after %.1f s (slowtap)",
                  (double)app->conf->handshake_timeout_us / 1e6);
        return;
    }
    if (w->stopping && sess_idle(s)) {
        /* the last result may still be on its way to the client */
        sess_end(s, SESS_END_FLUSH, 0, NULL);
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
