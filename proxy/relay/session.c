/*
 * session.c - one client connection paired with one backend connection: the MySQL session's
 * state machine. Each side is a leg (leg.h), which owns the socket, reads and writes, walks
 * the packets and does the compressed framing and backpressure; the session is told each
 * packet's header and first bytes and decides what they mean. It times every command and
 * hands each completed one to the accounting (proxy/account/account.c), whose records it
 * passes on.
 *
 * Data path (one worker thread; nothing here blocks or takes a lock):
 *
 *   client                                slowtap                                   backend
 *
 *   bytes -> [cli leg] leg_relay -> on_packet(): client_packet()/client_end()
 *                 |                 a new command: struct pcmd (start time, a bounded copy
 *                 |                 of its text through on_copy) joins the pending queue;
 *                 |                 clients may pipeline, so the queue keeps their order
 *                 '--- the leg sends it on (one writev from the input's pieces) ---> backend
 *
 *   bytes <---------------------------- the leg sends it on <------------- [be leg] leg_relay
 *                                       on_packet(): server_packet()/server_end(); rows of a
 *                                       result set are counted in runs (on_rows)
 *                                       proto_resp_feed() for the queue's head; when its
 *                                       response ends, complete_head():
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
 * records the command left unfinished, and closes both legs, the client's once flushed
 * (CLOSING) or at once.
 *
 * Fail open. slowtap's own confusion never costs a client its connection: what it cannot
 * place, it relays, and the server answers as it would directly. sess_untrack() then makes
 * the session relay blindly for the rest of the connection (the legs still frame packets;
 * nothing is interpreted, timed or logged), says so once on stderr with the packet's first
 * bytes in hex, counts it (slowtap_sessions_untracked_total) and logs the command it lost
 * track of with "# Untracked: Yes". The decisions:
 *   fail open (untracked)    a response packet proto_resp cannot place after the command
 *                            (unplaceable_response); a server packet that is not an ERR when
 *                            no command is pending (unsolicited_packet); a command packet
 *                            whose sequence id is not 0, or an empty one (command_out_of_order:
 *                            the server answers it as directly); a greeting or handshake
 *                            response slowtap cannot parse (bad_greeting, bad_handshake); no
 *                            memory for a command's record (out_of_memory)
 *   relayed, quietly         an ERR from the server when no command is pending (its notice
 *                            before it closes an idle connection)
 *   ends the session         the peer closing or resetting its connection; bytes that cannot
 *                            be framed (a compressed frame that does not decode); the server
 *                            refusing before its greeting; no backend to connect to; the
 *                            handshake timeout; what the user asked for (--tls-require,
 *                            --max-connections, --max-pending-handshakes, shutdown)
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#ifdef __linux__
#include <linux/sockios.h>
#endif

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>

#include "explain/explain.h"
#include "protocol/proto_fingerprint.h"
#include "protocol/proto_capture.h"
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
#include "proxy/relay/leg.h"
#include "proxy/relay/leg_walk.h"
#include "proxy/relay/session.h"
#include "proxy/relay/sha2auth.h"
#include "proxy/output/capture.h"
#include "proxy/output/slowlog.h"
#include "proxy/relay/tls.h"
#include "proxy/relay/worker.h"
#include "common/strcopy.h"

#define SESS_COPY_MAX      (1u << 20)  /* bytes of a command's payload kept for the log */
#define SESS_COPY_MAX_EXEC (64u << 20) /* ... of an execute: its parameters are decoded */
#define SESS_HANDSHAKE_MAX (64u << 10) /* largest handshake response accepted */
#define SESS_LIVE_MIN_US   100000      /* live plans only for statements running this long */
#define PCMD_POOL_MAX      256
#define PCMD_KEEP_BUF      (64u << 10) /* recycled records keep buffers up to this size */
#define SESS_CAP_FILE_MAX  (16u << 20) /* bytes of a LOAD DATA LOCAL file a capture keeps */
#define SESS_CAP_PARAMS    256         /* execute parameters decoded on the stack; more: heap */

_Static_assert(LEG_PEEK_MORE == PROTO_RESP_PEEK, "an ERR's first bytes are all proto_resp reads");

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
    struct sess *prev, *next;           /* the worker's list */
    struct sess *pend_prev, *pend_next; /* the worker's not yet authenticated ones (pending) */
    bool pending;                       /* on that list: counted in w->npending */
    struct worker *w;
    enum sess_state state;
    struct leg cli, be;             /* the client's connection and the backend's */
    uint8_t be_try;                 /* SESS_CONNECTING: the backend_addr address being tried */
    uint16_t be_errs[NET_ADDR_MAX]; /* SESS_CONNECTING: errno of each address tried */
    int64_t created_us;
    int64_t closing_us;   /* when CLOSING began */
    int64_t now;          /* monotonic us at the current callback */
    uint64_t caps;        /* negotiated: client's & server's */
    uint64_t server_caps; /* what the backend offers, less PROTO_CAPS_HIDDEN */
    bool backend_has_ssl; /* the backend offered TLS */
    int8_t seq_delta;     /* during authentication: backend seq = client seq + seq_delta
                             (each side's SSL request shifts its count by one; a public-key
                             exchange done for the client, sha2auth.h, by two more) */
    struct sha2auth sha2; /* during authentication: caching_sha2_password's state */
    uint32_t thread_id;   /* backend connection id, from the greeting */
    uint8_t last_seq;     /* sequence id of the last packet relayed, either way */
    bool auth_failed;     /* the server refused the login: its ERR is relayed, then it closes */
    char user[64];
    char host[64];
    char schema[64];
    unsigned sql_mode;             /* PROTO_SQLMODE_* in force, for lexing and rendering literals */
    struct proto_sqlmode set_mode; /* what the session's SET sql_mode statements said */
    struct acct_sess acct;         /* transaction, unit of work, registry entry (account.h) */
    /* The compressed protocol (proto_compress.h): each leg's algorithm (leg.zalg), from the
     * handshake response and --backend-compress; in force (leg.zon) from the server's OK
     * that ends authentication. Equal algorithms: frames are relayed unchanged and a decoded
     * copy is framed; otherwise frames are decoded from one leg and built for the other. */
    uint64_t backend_zcaps;       /* CLIENT_COMPRESS / ZSTD bits the backend offered */
    uint8_t zseq_cmd, zseq_resp;  /* packet sequence ids of the client's last command packet
                                    and of the last packet of the exchange after it */
    bool zin_cmd;                 /* the client's current packet is a command */
    struct pcmd *rx;              /* command whose payload is arriving */
    struct pcmd *q_head, *q_tail; /* commands awaiting their responses, in order */
    struct proto_resp resp;       /* the response to q_head */
    bool resp_done;               /* q_head's response ends with the packet being relayed */
    bool client_gone;             /* the client left while a statement ran; the backend's
                                     write side is shut and its answers are read and dropped */
    const char *interrupted;      /* while the head is recorded unfinished: why (rec.h) */
    const char *untracked;        /* fail open: why the session relays blindly, or NULL */
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
    /* Capture (proxy/output/capture.h), all 0 while none runs: the generation this session
     * records in (its SESSION record is written), its id and command count there, the row
     * checksum of the head's answer (be.rowsum points at it), the client's handshake
     * charset and capabilities, and a LOAD DATA LOCAL file's content as it is sent. */
    uint32_t cap_gen;
    uint64_t cap_id;
    uint64_t cap_seq;
    uint64_t cap_sum;
    uint8_t cap_charset;
    uint32_t cap_client_caps;
    bool cap_infile; /* the client's packets are the head's LOCAL INFILE data: kept */
    uint8_t *cap_file;
    size_t cap_file_len, cap_file_cap;
};

_Static_assert(sizeof((struct sess *)0)->schema == ACCT_SCHEMA_MAX, "acct_cmd.schema");

static void complete_head(struct sess *s);

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
static inline __attribute__((always_inline)) void
pcmd_copy(struct pcmd *pc, struct evbuffer *in, size_t off, size_t n, const uint8_t *flat)
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
    if (flat) { /* in one piece of the input (leg.h): no position to set */
        memcpy(pc->buf + pc->len, flat, n);
    } else {
        struct evbuffer_ptr pos;
        evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
        evbuffer_copyout_from(in, &pos, pc->buf + pc->len, n);
    }
    pc->len += n;
    pc->buf[pc->len] = '\0';
}

/* ---- state and teardown ---- */

/*
 * Pending handshakes (--max-pending-handshakes): a session is pending from its accept until
 * it reaches the command phase or starts closing (the backend leg is closed first), on its
 * worker's list in accept order. Each worker admits its own share (worker.h pending_max);
 * at that share a new client evicts the worker's oldest stalled one (pend_stalled), and
 * without one it is refused with ERR 1040 before any backend connection is made.
 */
static void
pend_join(struct sess *s)
{
    struct worker *w = s->w;
    s->pending = true;
    s->pend_prev = w->pend_tail;
    s->pend_next = NULL;
    if (w->pend_tail) {
        w->pend_tail->pend_next = s;
    } else {
        w->pend_head = s;
    }
    w->pend_tail = s;
    w->npending++;
    COUNTER_ADD(&w->counters, handshakes_pending, 1);
}

static void
pend_leave(struct sess *s)
{
    struct worker *w = s->w;
    if (!s->pending) {
        return;
    }
    if (s->pend_prev) {
        s->pend_prev->pend_next = s->pend_next;
    } else {
        w->pend_head = s->pend_next;
    }
    if (s->pend_next) {
        s->pend_next->pend_prev = s->pend_prev;
    } else {
        w->pend_tail = s->pend_prev;
    }
    s->pend_prev = s->pend_next = NULL;
    s->pending = false;
    w->npending--;
    COUNTER_ADD(&w->counters, handshakes_pending, (uint64_t)-1);
}

/* Stalled: the greeting went out and not one byte of the client's first packet came back (a
 * client that sent part of it, or an SSL request, is not stalled). Bytes the kernel holds
 * and libevent has not read yet count as sent. */
static bool
pend_stalled(const struct sess *s)
{
    return s->state == SESS_HANDSHAKE && !s->cli.tls && s->cli.bev && leg_nothing_read(&s->cli);
}

static void
sess_set_state(struct sess *s, enum sess_state st)
{
    if (st == SESS_CLOSING && s->state != SESS_CLOSING) {
        s->closing_us = worker_now_us();
    }
    s->state = st;
    if (st >= SESS_COMMAND) {
        pend_leave(s); /* authenticated, or closing (its backend leg is closed already) */
    }
    if (st == SESS_COMMAND) {
        /* plain sockets are read by the legs' own events from now on */
        leg_own_reads(&s->cli, s->w->base);
        leg_own_reads(&s->be, s->w->base);
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
static void cap_end(struct sess *s);
static int sess_relay(struct sess *s, struct leg *src);

/* The client's connection is flushed (leg_flushed): CLOSING is over. */
static bool
cli_flushed(struct sess *s)
{
    return leg_flushed(&s->cli, s->reset_client);
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
    if (s->cap_gen) {
        cap_end(s);
    }
    free(s->cap_file);
    leg_close(&s->cli, s->reset_client); /* a reset, or under TLS a close_notify first */
    leg_close(&s->be, false);
    leg_free(&s->cli);
    leg_free(&s->be);
    if (s->rx) {
        pcmd_put(w, s->rx);
    }
    while (s->q_head) {
        struct pcmd *pc = s->q_head;
        s->q_head = pc->next;
        pcmd_put(w, pc);
    }
    pend_leave(s);
    pstmt_clear(&s->stmts);
    sha2auth_wipe(&s->sha2);
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
    leg_close(&s->be, false);
    if (s->cli.bev && why && code) {
        uint8_t pkt[PROTO_HDR_LEN + 512];
        uint8_t seq = s->state <= SESS_GREETING ? 0 : (uint8_t)(s->last_seq + 1);
        size_t n = proto_err_build(pkt, sizeof pkt, seq, code, proto_err_sqlstate(code), why);
        leg_append_packet(&s->cli, pkt, n);
    }
    if (how == SESS_END_FLUSH && s->cli.bev && leg_unsent(&s->cli, s->reset_client) > 0) {
        /* on_written() ends it once the output is empty, sess_tick() if that takes too long */
        sess_set_state(s, SESS_CLOSING);
        leg_flush_out(&s->cli);
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

/* ---- capture (proxy/output/capture.h): nothing here runs while none runs ---- */

/* The session starts recording in capture `gen` (its connect, or, `alive`, what slowtap knows
 * of it at the capture's start), or stops when gen is 0. */
static void
cap_switch(struct sess *s, uint32_t gen, bool alive)
{
    s->cap_gen = gen;
    s->be.rowsum = gen ? &s->cap_sum : NULL;
    s->cap_sum = PROTO_CAP_FNV_INIT;
    s->cap_seq = 0;
    if (!gen) {
        return;
    }
    struct worker *w = s->w;
    if (!s->cap_id) {
        s->cap_id = ((uint64_t)(unsigned)w->id << 48) | ++w->cap_sessions;
    }
    bool mode = s->set_mode.changed && s->set_mode.text_known;
    struct proto_cap_session rec = {
        .session = s->cap_id,
        .t_us = worker_wall_us() - (alive ? 0 : s->now - s->created_us),
        .thread_id = s->thread_id,
        .client_caps = s->cap_client_caps,
        .charset = s->cap_charset,
        .alive = alive,
        .user = s->user,
        .user_len = strlen(s->user),
        .schema = s->schema,
        .schema_len = strlen(s->schema),
        .host = s->host,
        .host_len = strlen(s->host),
        .sql_mode = mode ? s->set_mode.text : "",
        .sql_mode_len = mode ? strlen(s->set_mode.text) : 0,
        .sql_mode_set = mode,
    };
    capbuf_session(w->capbuf, gen, &rec);
}

/* A command's answer begins (start_head): the capture's state for it. */
static void
cap_head(struct sess *s, uint32_t gen)
{
    if (gen != s->cap_gen) {
        cap_switch(s, gen, true);
    }
    s->cap_sum = PROTO_CAP_FNV_INIT;
    s->cap_infile = false;
    s->cap_file_len = 0;
}

/* Records a command (`r`: its answer, NULL for a command with none). */
static void
cap_command(struct sess *s, const struct pcmd *pc, const struct pstmt *st,
            const struct proto_resp *r, bool ended)
{
    struct worker *w = s->w;
    uint32_t gen = capture_gen(w->app->capture);
    if (gen != s->cap_gen) {
        cap_switch(s, 0, false); /* that capture stopped: the next head arms the new one */
        return;
    }
    const uint8_t *p = (const uint8_t *)pc->buf;
    size_t len = pc->buf ? pc->len : 0;
    struct proto_cap_param stack[SESS_CAP_PARAMS], *params = stack;
    char user[sizeof s->user], db[sizeof s->schema];
    uint32_t id = 0;
    struct proto_cap_command c = {
        .session = s->cap_id,
        .seq = ++s->cap_seq,
        .t_start_us = pc->wall_start - (pc->t_start - pc->t_first),
        .t_end_us = pc->wall_start + (s->now - pc->t_start),
        .cmd = pc->cmd,
        .text = "",
        .text_len = 0,
        .schema = "",
        .schema_len = 0,
        .stmt_id = 0,
        .prepare_id = 0,
        .n_params = 0,
        .params = NULL,
        .err = r ? r->err_code : 0,
        .rows = r ? r->rows_sent : 0,
        .affected = r ? r->rows_affected : 0,
        .insert_id = r ? r->insert_id : 0,
        .warnings = r ? r->warnings : 0,
        .status = r ? r->status : 0,
        .checksum = r && r->rows_sent ? s->cap_sum : 0,
        .interrupted = !ended,
        /* the payload past what slowtap keeps (SESS_COPY_MAX, _EXEC): the record says so */
        .cut = pc->buf && pc->total > pc->len,
    };
    switch (pc->cmd) {
    case PROTO_COM_QUERY:
    case PROTO_COM_STMT_PREPARE:
    case PROTO_COM_INIT_DB:
        c.text = len > 1 ? (const char *)p + 1 : "";
        c.text_len = len > 1 ? len - 1 : 0;
        if (pc->cmd == PROTO_COM_STMT_PREPARE && r && r->err_code == 0 && r->prepared) {
            c.prepare_id = r->stmt_id;
        }
        break;
    case PROTO_COM_CHANGE_USER:
        if (proto_change_user_parse(p, len, s->caps, user, sizeof user, db, sizeof db) ==
            PROTO_OK) {
            c.text = user;
            c.text_len = strlen(user);
            c.schema = db;
            c.schema_len = strlen(db);
        }
        break;
    case PROTO_COM_STMT_EXECUTE:
        if (proto_stmt_id_parse(p, len, &id) == PROTO_OK) {
            c.stmt_id = id;
        }
        if (st && st->nparams) {
            if (st->nparams > SESS_CAP_PARAMS) {
                params = malloc(st->nparams * sizeof *params);
            }
            if (params &&
                proto_cap_execute_params(p, len, st->nparams, st->types, st->long_data, params)) {
                c.n_params = st->nparams;
                c.params = params;
                for (uint16_t i = 0; i < c.n_params; i++) {
                    c.cut |= params[i].cut; /* long data past PSTMT_LONG_DATA_KEEP */
                }
            }
        }
        break;
    case PROTO_COM_STMT_BULK_EXECUTE:
    case PROTO_COM_STMT_FETCH:
    case PROTO_COM_STMT_RESET:
    case PROTO_COM_STMT_CLOSE:
        if (proto_stmt_id_parse(p, len, &id) == PROTO_OK) {
            c.stmt_id = id;
        }
        break;
    default:
        break;
    }
    /* a LOAD DATA LOCAL file first, in records of at most 1 MiB */
    for (size_t off = 0; off < s->cap_file_len;) {
        size_t n = s->cap_file_len - off < (1u << 20) ? s->cap_file_len - off : (1u << 20);
        struct proto_cap_file f = {
            .session = s->cap_id, .seq = c.seq, .data = s->cap_file + off, .len = n};
        capbuf_file(w->capbuf, gen, &f);
        off += n;
    }
    s->cap_file_len = 0;
    capbuf_command(w->capbuf, gen, &c);
    if (params != stack) {
        free(params);
    }
    s->cap_sum = PROTO_CAP_FNV_INIT;
}

/* Keeps LOCAL INFILE bytes the client sends (up to SESS_CAP_FILE_MAX). */
static void
cap_file_copy(struct sess *s, struct evbuffer *in, size_t off, size_t n, const uint8_t *flat)
{
    if (s->cap_file_len >= SESS_CAP_FILE_MAX) {
        return;
    }
    if (n > SESS_CAP_FILE_MAX - s->cap_file_len) {
        n = SESS_CAP_FILE_MAX - s->cap_file_len;
    }
    if (s->cap_file_len + n > s->cap_file_cap) {
        size_t cap = s->cap_file_cap ? s->cap_file_cap * 2 : 64u << 10;
        while (cap < s->cap_file_len + n) {
            cap *= 2;
        }
        uint8_t *nb = realloc(s->cap_file, cap);
        if (!nb) {
            return;
        }
        s->cap_file = nb;
        s->cap_file_cap = cap;
    }
    if (flat) {
        memcpy(s->cap_file + s->cap_file_len, flat, n);
        s->cap_file_len += n;
        return;
    }
    struct evbuffer_ptr pos;
    if (evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET) == 0) {
        evbuffer_copyout_from(in, &pos, s->cap_file + s->cap_file_len, n);
        s->cap_file_len += n;
    }
}

/* The session ends: its END record. */
static void
cap_end(struct sess *s)
{
    if (capture_gen(s->w->app->capture) == s->cap_gen) {
        struct proto_cap_end e = {.session = s->cap_id, .t_us = worker_wall_us()};
        capbuf_end(s->w->capbuf, s->cap_gen, &e);
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
        .untracked = s->untracked,
        .resp = &s->resp,
        .stmt = st ? &view : NULL,
        .thread_id = s->thread_id,
        .user = s->user,
        .host = s->host,
        .schema = s->schema,
        .sql_mode = s->sql_mode,
        .set_mode = &s->set_mode,
    };
    if (__builtin_expect(s->cap_gen != 0, 0)) {
        cap_command(s, pc, st, &s->resp, ended);
    }
    struct acct_out out;
    acct_command(&s->acct, &s->w->acct, &c, &out);
    hand_on(s->w, &out);
}

/* What a completed command changes in the session: schema, user, sql_mode, prepared
 * statements. */
static inline __attribute__((always_inline)) void
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
        if (__builtin_expect(s->cap_gen != 0, 0)) {
            cap_command(s, pc, NULL, NULL, true);
        }
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
        uint32_t gen = capture_gen(s->w->app->capture);
        if (__builtin_expect((gen | s->cap_gen) != 0, 0)) {
            cap_head(s, gen);
        }
        if (proto_execute_asks_cursor((const uint8_t *)pc->buf, pc->len)) {
            proto_resp_cursor_requested(&s->resp);
        }
    }
}

static inline __attribute__((always_inline)) void
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
 * Fail open (see the top of this file): from now on the session relays both ways without
 * looking. `reason` is a token for the log, `what` a sentence for stderr; p/avail are the
 * first bytes of the packet that could not be placed. The command in flight is logged as
 * untracked; the ones queued behind it are forgotten (their answers pass unexamined).
 */
static void sess_untrack(struct sess *s, const char *reason, const uint8_t *p, size_t avail,
                         const char *what, ...) __attribute__((format(printf, 5, 6)));

static void
sess_untrack(struct sess *s, const char *reason, const uint8_t *p, size_t avail, const char *what,
             ...)
{
    if (s->untracked) {
        return;
    }
    char msg[256], hex[3 * 16 + 1] = "";
    va_list ap;
    va_start(ap, what);
    vsnprintf(msg, sizeof msg, what, ap);
    va_end(ap);
    size_t nh = avail < 16 ? avail : 16;
    for (size_t i = 0; i < nh; i++) {
        snprintf(hex + 3 * i, sizeof hex - 3 * i, "%02x ", p[i]);
    }
    hex[nh ? 3 * nh - 1 : 0] = '\0';
    sess_log(s,
             "untracked: %s; the rest of this connection is relayed unexamined (first bytes: %s)",
             msg, hex[0] ? hex : "none");
    COUNTER_ADD(&s->w->counters, sessions_untracked, 1);
    s->untracked = reason;
    if (s->q_head) {
        s->interrupted = "untracked";
        record_unfinished(s);
        s->interrupted = NULL;
        while (s->q_head) {
            struct pcmd *pc = s->q_head;
            s->q_head = pc->next;
            pcmd_put(s->w, pc);
        }
        s->q_tail = NULL;
    }
    if (s->rx) {
        pcmd_put(s->w, s->rx);
        s->rx = NULL;
    }
    s->cli.copy = false;
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
    leg_close(&s->cli, false);
    if (s->rx || proto_resp_wants_client(&s->resp) || leg_pending_out(&s->be) > 0) {
        sess_end(s, SESS_END_NOW, 0, NULL);
        return;
    }
    leg_shutdown_write(&s->be);
    s->be.paused = false;
    leg_reading(&s->be, true);
    /* what backpressure held back may already hold the whole answer: no read event follows */
    if (evbuffer_get_length(leg_input(&s->be)) > 0 && sess_relay(s, &s->be) == 0 && !s->q_head) {
        sess_end(s, SESS_END_NOW, 0, NULL);
    }
}

/* ---- packets from the client ---- */

/* A packet header from the client has been read; p holds its first avail payload bytes.
 * Returns -1 when the session was torn down. */
static inline __attribute__((always_inline)) int
client_packet(struct sess *s, const struct proto_frame_step *st, const uint8_t *p, size_t avail)
{
    if (st->kind == PROTO_FRAME_CONTINUATION || s->state != SESS_COMMAND) {
        return 0; /* continuation of a large packet, or authentication data: relayed as is */
    }
    if (s->q_head && proto_resp_wants_client(&s->resp)) {
        /* LOCAL INFILE data or COM_CHANGE_USER authentication data. */
        proto_resp_client_packet(&s->resp, st->hdr.len);
        /* a capture keeps the file's content, never authentication data */
        s->cap_infile = s->cap_gen && (s->q_head->cmd == PROTO_COM_QUERY ||
                                       s->q_head->cmd == PROTO_COM_STMT_EXECUTE);
        return 0;
    }
    if (st->hdr.seq != 0 || st->hdr.len == 0 || avail == 0) {
        COUNTER_ADD(&s->w->counters, protocol_errors, 1);
        sess_untrack(s, "command_out_of_order", p, avail,
                     "the client sent %s with sequence id %u where a command was expected",
                     st->hdr.len ? "a command packet" : "an empty packet", st->hdr.seq);
        return 0;
    }
    struct pcmd *pc = pcmd_get(s->w);
    if (!pc) {
        sess_untrack(s, "out_of_memory", p, avail, "no memory for the command's record");
        return 0;
    }
    pc->cmd = p[0];
    pc->t_first = pc->t_arrived = pc->t_start = s->now;
    pc->wall_start = worker_wall_us();
    pc->total = st->hdr.len;
    s->rx = pc;
    return 0;
}

/* The client's current logical packet has been relayed completely. */
static inline __attribute__((always_inline)) int
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

static inline __attribute__((always_inline)) int
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
            uint32_t gen = capture_gen(s->w->app->capture);
            if (__builtin_expect(gen != 0, 0)) {
                cap_switch(s, gen, false);
            }
            /* both sides compress what follows this OK */
            leg_compress_on(&s->cli, &s->be);
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
        } else if (s->sha2.plugin && s->cli.tls && !s->be.tls &&
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
        sess_untrack(s, "unsolicited_packet", p, avail,
                     "the backend sent a packet (0x%02x, %u bytes) when no command was pending",
                     avail ? p[0] : 0, st->hdr.len);
        return 0;
    }
    if (avail && proto_resp_row(&s->resp, p[0], st->hdr.len)) {
        s->be.copy = s->be.rowsum != NULL; /* a capture hashes its payload (on_copy) */
        return 0;                          /* a row: counted, nothing else to look at */
    }
    enum proto_rc rc = proto_resp_feed(&s->resp, p, avail, st->hdr.len);
    if (rc == PROTO_ERROR) {
        COUNTER_ADD(&s->w->counters, protocol_errors, 1);
        sess_untrack(s, "unplaceable_response", p, avail,
                     "the backend sent a packet (0x%02x, %u bytes) that cannot follow command "
                     "0x%02x here",
                     avail ? p[0] : 0, st->hdr.len, s->q_head->cmd);
        return 0;
    }
    if (rc == PROTO_OK) {
        s->resp_done = true;
    }
    return 0;
}

static inline __attribute__((always_inline)) int
server_end(struct sess *s)
{
    if (s->resp_done) {
        s->resp_done = false;
        complete_head(s);
    }
    return 0;
}

/* ---- the compressed protocol ---- */

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
    s->cli.zalg = (uint8_t)cli;
    s->be.zalg = (uint8_t)be;
    s->cli.zlevel = cli == PROTO_ZALG_ZSTD ? proto_zstd_level(p, len) : PROTO_ZSTD_LEVEL_DEF;
    s->be.zlevel = s->cli.zlevel;
    if (cli != PROTO_ZALG_NONE || be != PROTO_ZALG_NONE) {
        for (int i = 0; i < 2; i++) {
            if (!leg_zplain_new(i == 0 ? &s->cli : &s->be)) {
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
    struct evbuffer *in = leg_input(from_client ? &s->cli : &s->be);
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
        leg_append(&s->be, req, sizeof req);
        leg_push(&s->be);
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
    leg_append(&s->be, hdr, sizeof hdr);
    leg_append(&s->be, enc, enc_len);
    free(enc);
    leg_push(&s->be);
    s->seq_delta = (int8_t)(s->seq_delta + 2); /* our 02 and the key's answer */
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

/*
 * A greeting or handshake response slowtap cannot read (sess_untrack done): the connection
 * goes on as a plain relay of bytes, both ways, from here. Returns -1 when torn down.
 */
static int
blind_from_here(struct sess *s)
{
    sess_set_state(s, SESS_COMMAND);
    leg_reading(&s->cli, true);
    leg_reading(&s->be, true);
    if (evbuffer_get_length(leg_input(&s->be)) > 0 && sess_relay(s, &s->be) < 0) {
        return -1;
    }
    if (evbuffer_get_length(leg_input(&s->cli)) > 0 && sess_relay(s, &s->cli) < 0) {
        return -1;
    }
    return 0;
}

/* The server greeting: remember the thread id and capabilities, hide what slowtap cannot
 * follow; offer zlib compression (slowtap can compress the client's leg itself) and zstd when
 * the backend offers it. */
static int
read_greeting(struct sess *s)
{
    struct evbuffer *in = leg_input(&s->be);
    uint8_t *p, seq;
    long len = whole_packet(in, SESS_HANDSHAKE_MAX, &p, &seq);
    if (len == -2) {
        return 0;
    }
    struct proto_greeting g;
    if (len < 0 || proto_greeting_parse(p, (size_t)len, &g) != PROTO_OK) {
        if (len > 0 && p[0] == PROTO_ERR_HDR) {
            /* The server refuses us (too many connections, host blocked): relay and close. */
            leg_send(&s->be, PROTO_HDR_LEN + (size_t)len);
            sess_fail(s, 0, "backend refused the connection");
            return -1;
        }
        COUNTER_ADD(&s->w->counters, protocol_errors, 1);
        sess_untrack(s, "bad_greeting", len > 0 ? p : NULL, len > 0 ? (size_t)len : 0,
                     "the backend %s sent a greeting slowtap cannot read",
                     s->w->app->backend_addr.text);
        return blind_from_here(s);
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
    leg_send(&s->be, PROTO_HDR_LEN + (size_t)len);
    sess_set_state(s, SESS_HANDSHAKE);
    s->created_us = s->now; /* the client's handshake timeout starts with the greeting */
    leg_reading(&s->cli, true);
    return 0;
}

/* The client sent an SSL request: TLS starts on its connection; the real handshake response
 * follows inside it. */
static int
start_client_tls(struct sess *s, size_t len)
{
    struct evbuffer *in = leg_input(&s->cli);
    SSL *ssl = tls_server_enabled() ? tls_server_ssl() : NULL;
    if (!ssl) {
        sess_fail(s, PROTO_ER_HANDSHAKE_ERROR,
                  "Bad handshake: slowtap does not offer TLS to clients (--tls off)");
        return -1;
    }
    evbuffer_drain(in, PROTO_HDR_LEN + len);
    if (!leg_tls_start(&s->cli, s->w->base, ssl, true)) {
        sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap, TLS)");
        return -1;
    }
    return 0;
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
        (mode == CONF_BTLS_MIRROR && (!s->cli.tls || !s->backend_has_ssl))) {
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
    leg_append(&s->be, req, sizeof req);
    if (!leg_tls_start(&s->be, s->w->base, tls_backend_ssl(), false)) {
        sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap, TLS)");
        return -1;
    }
    return 0;
}

/* The client's handshake response: learn user and schema (never the auth data). */
static int
read_handshake(struct sess *s)
{
    struct evbuffer *in = leg_input(&s->cli);
    uint8_t *p, seq;
    long len = whole_packet(in, SESS_HANDSHAKE_MAX, &p, &seq);
    if (len == -2) {
        return 0;
    }
    struct proto_hsresp hr;
    if (len < 0 || proto_hsresp_parse(p, (size_t)len, &hr) != PROTO_OK) {
        COUNTER_ADD(&s->w->counters, protocol_errors, 1);
        s->last_seq = seq;
        sess_untrack(s, "bad_handshake", len > 0 ? p : NULL, len > 0 ? (size_t)len : 0,
                     "the client sent a handshake response slowtap cannot read");
        return blind_from_here(s);
    }
    s->last_seq = seq;
    if (hr.ssl_request) {
        return start_client_tls(s, (size_t)len);
    }
    if (s->w->app->conf->tls_require && !s->cli.tls) {
        sess_fail(s, PROTO_ER_SECURE_TRANSPORT_REQUIRED,
                  "Connections using insecure transport are prohibited while --tls-require is "
                  "on (slowtap)");
        return -1;
    }
    strcopy(s->user, sizeof s->user, hr.user, strlen(hr.user));
    strcopy(s->schema, sizeof s->schema, hr.db, strlen(hr.db));
    s->cap_charset = hr.charset;
    s->cap_client_caps = (uint32_t)hr.caps;
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
    s->seq_delta = (int8_t)((s->be.tls ? 1 : 0) - (s->cli.tls ? 1 : 0));
    uint32_t caps_lo = proto_le32(p);
    caps_lo = s->be.tls ? caps_lo | (uint32_t)PROTO_CAP_SSL : caps_lo & ~(uint32_t)PROTO_CAP_SSL;
    proto_put_le32(p, caps_lo);
    p[-1] = (uint8_t)(seq + s->seq_delta);
    if (zcut) {
        proto_put_le24(p - PROTO_HDR_LEN, (uint32_t)((size_t)len - (size_t)zcut));
    }
    leg_send(&s->cli, PROTO_HDR_LEN + (size_t)len - (size_t)zcut);
    evbuffer_drain(in, (size_t)zcut);
    sess_set_state(s, SESS_AUTH);
    return 0;
}

/* ---- pipelined answers ---- */

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
 * a copy of the framer and the response follows the packets as the walk will (a dry run, at
 * most SESS_BATCH_PACKETS packets; a 16 MiB packet or LOCAL INFILE ends the count). Used only
 * when commands are pipelined; pure reading, the input is not changed.
 */
static unsigned
count_ends(const struct sess *s)
{
    struct evbuffer *in = leg_input(&s->be);
    const uint8_t *flat = s->be.flat; /* bytes read in place (leg.h), the input empty */
    size_t total = flat ? s->be.flat_len : evbuffer_get_length(in), off = 0;
    struct proto_framer fr = s->be.fr;
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
        if (flat) {
            memcpy(h, flat + off, PROTO_HDR_LEN);
        } else {
            evbuffer_ptr_set(in, &pos, off, EVBUFFER_PTR_SET);
            evbuffer_copyout_from(in, &pos, h, PROTO_HDR_LEN);
        }
        uint32_t len = proto_le24(h);
        size_t want = len < PROTO_RESP_PEEK ? len : PROTO_RESP_PEEK;
        if (len >= PROTO_MAX_PAYLOAD || total - off - PROTO_HDR_LEN < len) {
            break; /* counted once whole */
        }
        if (flat) {
            memcpy(h, flat + off, PROTO_HDR_LEN + want);
        } else {
            evbuffer_copyout_from(in, &pos, h, PROTO_HDR_LEN + want);
        }
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
        if (!leg_attach(&s->be, w->base, bfd, false)) {
            sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap, backend connect)");
            return -1;
        }
        int64_t left = s->created_us + w->app->conf->handshake_timeout_us - worker_now_us();
        int64_t share = left / (ba->n - s->be_try);
        if (share < 100000) {
            share = 100000;
        }
        if (leg_connect_start(&s->be, share) == 0) {
            return 0; /* in progress: be_event */
        }
        s->be_errs[s->be_try] = (uint16_t)errno;
        leg_close(&s->be, false);
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

/* The client's connection ended or failed. */
static void
cli_event(struct sess *s, short what)
{
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        if (s->quit_sent && !(what & BEV_EVENT_ERROR) && s->state == SESS_COMMAND && s->be.bev) {
            /* End of file after COM_QUIT (a client that pipelines its goodbye and shuts its
             * write side): nothing is abandoned. The answers still owed go to the client; the
             * server closes after the COM_QUIT, and be_event ends the session once the client
             * has them. Only a failed write or a reset makes the client gone. */
            leg_reading(&s->cli, false);
            return;
        }
        if (s->state == SESS_COMMAND && s->q_head && s->be.bev) {
            client_left(s); /* statements in flight are seen to their end */
            return;
        }
        /* The client left: close both sides (the server rolls back what was open). */
        sess_end(s, SESS_END_NOW, 0, NULL);
    }
}

/* The backend's connection: connected, refused, ended or failed. */
static void
be_event(struct sess *s, short what)
{
    if (what & BEV_EVENT_CONNECTED) {
        if (s->state != SESS_CONNECTING) {
            return; /* the TLS handshake with the backend finished */
        }
        sess_set_state(s, SESS_GREETING);
        leg_connect_done(&s->be, !net_addr_is_unix(&s->w->app->backend_addr));
        return;
    }
    if (s->state == SESS_CONNECTING &&
        (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))) {
        /* This address refused or timed out: the next one, or the ERR naming them all. */
        int err = (what & BEV_EVENT_TIMEOUT) ? ETIMEDOUT : EVUTIL_SOCKET_ERROR();
        s->be_errs[s->be_try] = (uint16_t)(err ? err : ECONNREFUSED);
        leg_close(&s->be, false);
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
    } else if (s->be.tls && s->state <= SESS_AUTH) {
        char msg[256];
        tls_bev_error_text(s->be.bev, msg, sizeof msg);
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
/* ---- the legs' callbacks (leg.h) ---- */

/* Bytes arrived on a leg: read what the state expects (a greeting, a handshake response
 * whole), or relay. */
static void
on_readable(void *owner, struct leg *l)
{
    struct sess *s = owner;
    s->now = worker_now_us();
    /* bytes read in place (leg.h): these states read the input itself */
    if (s->state != SESS_COMMAND && !leg_unflat(l)) {
        sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap)");
        return;
    }
    if (l == &s->cli) {
        switch (s->state) {
        case SESS_HANDSHAKE:
            if (read_handshake(s) < 0 || s->state != SESS_AUTH) {
                return;
            }
            /* more bytes may follow the handshake response */
            __attribute__((fallthrough));
        case SESS_AUTH:
        case SESS_COMMAND:
            sess_relay(s, &s->cli);
            return;
        default:
            return; /* nothing is expected from the client now: leave it buffered */
        }
    }
    switch (s->state) {
    case SESS_GREETING:
        read_greeting(s);
        return;
    case SESS_HANDSHAKE:
    case SESS_AUTH:
    case SESS_COMMAND:
        s->batch_k = 0;
        if (s->state == SESS_COMMAND && !s->cli.zon && s->q_head && s->q_head->next &&
            !s->untracked) {
            /* pipelined commands: the time since the head started is theirs to share */
            unsigned k = count_ends(s);
            if (k >= 2) {
                s->batch_k = k;
                s->batch_i = 0;
                s->batch_t0 = s->q_head->t_start;
                s->batch_now = s->now;
            }
        }
        if (sess_relay(s, &s->be) < 0) {
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

/* Some output was written; a CLOSING session ends once the client has it all. */
static void
on_written(void *owner, struct leg *l)
{
    struct sess *s = owner;
    if (l == &s->cli && s->state == SESS_CLOSING) {
        if (cli_flushed(s)) {
            sess_end(s, SESS_END_NOW, 0, NULL);
        }
        return; /* the socket below TLS, or the kernel, still sends: sess_tick looks again */
    }
    leg_written(l);
}

static void
on_event(void *owner, struct leg *l, short what)
{
    struct sess *s = owner;
    if (l == &s->cli) {
        cli_event(s, what);
    } else {
        be_event(s, what);
    }
}

/* First bytes wanted of a packet: all of an ERR's message, LOCAL INFILE's file name and an
 * auth switch's plugin and data, for proto_resp and the authentication. */
static inline __attribute__((always_inline)) size_t
on_want(void *owner, const struct leg *src, uint8_t first)
{
    const struct sess *s = owner;
    if (src == &s->be && (first == PROTO_ERR_HDR || first == PROTO_INFILE_HDR ||
                          (s->state == SESS_AUTH && first == PROTO_EOF_HDR))) {
        return LEG_PEEK_MORE;
    }
    return LEG_PEEK;
}

/*
 * A packet header from either side (leg.h's contract): the sequence ids it goes on with
 * (authentication's TLS shifts, the compressed protocol's counts), then what it means
 * (client_packet, server_packet).
 */
static inline __attribute__((always_inline)) enum leg_verdict
on_packet(void *owner, struct leg *src, struct leg_pkt *pkt)
{
    struct sess *s = owner;
    bool from_client = src == &s->cli;
    struct proto_frame_step *st = &pkt->step;
    const uint8_t *p = pkt->first;
    s->last_seq = st->hdr.seq;
    if (s->seq_delta && s->state <= SESS_AUTH) {
        pkt->seq = (uint8_t)(from_client ? st->hdr.seq + s->seq_delta : st->hdr.seq - s->seq_delta);
        if (!from_client) {
            s->last_seq = pkt->seq;
        }
    }
    if (s->cli.zon) {
        /* Inside frames the packets' own sequence ids are not checked, and libmariadb leaves a
         * 16 MiB packet's continuation at 0: toward an uncompressed leg they become the count
         * that leg checks. A command counts from 0; its response from one after the command's
         * last packet (a pipelined command in between does not count), then one more per
         * packet either way (LOCAL INFILE data). */
        if (from_client && st->kind == PROTO_FRAME_START) {
            s->zin_cmd = !(s->q_head && proto_resp_wants_client(&s->resp));
        }
        bool cmd = from_client && s->zin_cmd;
        bool zsrc = src->zalg != PROTO_ZALG_NONE, zdst = src->peer->zalg != PROTO_ZALG_NONE;
        uint8_t seq;
        if (zsrc && !zdst) {
            if (cmd) {
                seq = st->kind == PROTO_FRAME_START ? 0 : (uint8_t)(s->zseq_cmd + 1);
            } else if (!from_client && st->kind == PROTO_FRAME_START && s->q_head &&
                       s->q_head->bytes == 0) {
                /* the first packet of the head's response (bytes counts them) */
                seq = (uint8_t)(s->q_head->total / PROTO_MAX_PAYLOAD + 1);
            } else {
                seq = (uint8_t)(s->zseq_resp + 1);
            }
            pkt->seq = seq;
            st->hdr.seq = seq;
            s->last_seq = seq;
        } else {
            seq = st->hdr.seq; /* from an uncompressed leg, or to a compressed one */
        }
        if (cmd) {
            s->zseq_cmd = seq;
        } else {
            s->zseq_resp = seq;
        }
    }
    if (s->untracked) {
        return LEG_PASS;
    }
    const struct pcmd *rx0 = s->rx;
    int rc =
        from_client ? client_packet(s, st, p, pkt->avail) : server_packet(s, st, p, pkt->avail);
    if (rc < 0) {
        return LEG_GONE;
    }
    if (from_client) {
        pkt->new_cmd = s->rx && s->rx != rx0;
        src->copy = s->rx != NULL || s->cap_infile; /* its text, for the log */
    }
    return LEG_PASS;
}

static inline __attribute__((always_inline)) void
on_end(void *owner, struct leg *src)
{
    struct sess *s = owner;
    if (s->untracked) {
        return;
    }
    if (src == &s->cli) {
        client_end(s);
        src->copy = false;
        s->cap_infile = false;
    } else {
        src->copy = false; /* a row's payload was hashed (capture) */
        server_end(s);
    }
}

static inline __attribute__((always_inline)) void
on_copy(void *owner, struct leg *src, struct evbuffer *in, size_t off, size_t n,
        const uint8_t *flat)
{
    struct sess *s = owner;
    if (__builtin_expect(src == &s->be, 0)) {
        /* a row's payload (capture) */
        s->cap_sum = flat ? proto_cap_fnv(s->cap_sum, flat, n) : leg_hash(in, off, n, s->cap_sum);
    } else if (s->rx) {
        pcmd_copy(s->rx, in, off, n, flat);
    } else if (s->cap_infile) {
        cap_file_copy(s, in, off, n, flat);
    }
}

static inline __attribute__((always_inline)) enum leg_rows
on_rows(void *owner, const struct leg *src)
{
    const struct sess *s = owner;
    if (src != &s->be || s->state != SESS_COMMAND || !s->q_head || s->untracked ||
        s->resp.state != PROTO_RS_ROWS) {
        return LEG_ROWS_NONE;
    }
    return s->resp.binary ? LEG_ROWS_BINARY : LEG_ROWS_TEXT;
}

static inline __attribute__((always_inline)) void
on_rows_done(void *owner, uint64_t rows, size_t bytes, uint8_t last_seq)
{
    struct sess *s = owner;
    s->resp.rows_sent += rows;
    s->q_head->bytes += bytes;
    s->last_seq = last_seq;
}

static const struct leg_ops sess_leg_ops = {
    .want = on_want,
    .packet = on_packet,
    .end = on_end,
    .copy = on_copy,
    .rows = on_rows,
    .rows_done = on_rows_done,
    .readable = on_readable,
    .written = on_written,
    .event = on_event,
};

/*
 * Relays what src has (leg_relay), after caching_sha2's full authentication has taken what
 * is its own. Returns -1 when the session was torn down.
 */
static int
sess_relay(struct sess *s, struct leg *src)
{
    bool from_client = src == &s->cli;
    if (s->sha2.state != SHA2AUTH_IDLE && s->state == SESS_AUTH) {
        int rc = sha2_step(s, from_client);
        if (rc <= 0) {
            return rc; /* torn down, or waiting for the rest of the packet */
        }
    }
    struct leg_err err;
    long n = leg_walk(src, &sess_leg_ops, &err); /* leg_relay, with the callbacks inlined */
    if (n < 0) {
        if (err.kind == LEG_FAIL_NOMEM) {
            sess_fail(s, PROTO_ER_OUT_OF_RESOURCES, "Out of memory (slowtap)");
        } else if (err.kind == LEG_FAIL_ZFRAME) {
            COUNTER_ADD(&s->w->counters, protocol_errors, 1);
            if (from_client) {
                sess_fail(s, PROTO_ER_NET_PACKETS_OUT_OF_ORDER,
                          "Bad compressed packet (slowtap: the client sent a frame that does "
                          "not decode: %u bytes for %u)",
                          err.clen, err.ulen);
            } else {
                sess_fail(s, 0,
                          "backend sent a compressed frame that does not decode (%u bytes for %u)",
                          err.clen, err.ulen);
            }
        }
        return -1;
    }
    if (from_client) {
        COUNTER_ADD(&s->w->counters, bytes_from_client, (uint64_t)n);
    } else {
        COUNTER_ADD(&s->w->counters, bytes_to_client, (uint64_t)n);
    }
    return 0;
}

/* ---- accept ---- */

/* At the worker's share of --max-pending-handshakes: closes the oldest stalled handshake
 * (its client gets ERR 1040) to make room. False when none is stalled. */
static bool
pend_make_room(struct worker *w)
{
    for (struct sess *s = w->pend_head; s; s = s->pend_next) {
        if (!pend_stalled(s)) {
            continue;
        }
        /* written here and closed at once: a client that sends nothing may read nothing */
        uint8_t pkt[PROTO_HDR_LEN + 200];
        size_t len = proto_err_build(
            pkt, sizeof pkt, (uint8_t)(s->last_seq + 1), PROTO_ER_CON_COUNT_ERROR,
            PROTO_ER_CON_COUNT_ERROR_STATE,
            "Too many connections (slowtap: this client sent nothing after the greeting and its "
            "place went to a new one; --max-pending-handshakes)");
        leg_append_packet(&s->cli, pkt, len);
        leg_push(&s->cli);
        COUNTER_ADD(&w->counters, handshakes_evicted, 1);
        if (worker_notice_due(&w->app->notice_pending_us)) {
            sess_log(s,
                     "closing: sent nothing after the greeting, and %d clients of worker %d "
                     "are logging in (--max-pending-handshakes %d for the process): its place "
                     "goes to a new client; further ones are counted in "
                     "slowtap_handshakes_evicted_total, not printed for a minute",
                     w->npending, w->id, w->app->conf->max_pending_handshakes);
        }
        sess_end(s, SESS_END_NOW, 0, NULL);
        return true;
    }
    return false;
}

void
sess_accept(struct worker *w, evutil_socket_t fd, const struct sockaddr *sa, int salen)
{
    struct app *app = w->app;
    int n = atomic_fetch_add_explicit(&app->connections, 1, memory_order_relaxed) + 1;
    COUNTER_ADD(&w->counters, connections_total, 1);
    if (n > app->conf->max_connections) {
        worker_refuse(fd, "Too many connections");
        atomic_fetch_sub_explicit(&app->connections, 1, memory_order_relaxed);
        COUNTER_ADD(&w->counters, connections_refused, 1);
        return;
    }
    /* The backend connection needs a descriptor too: without one the client gets ERR 1040
     * now, and accepting pauses (worker_accept_pause), rather than an error line per client. */
    int probe = fcntl(fd, F_DUPFD_CLOEXEC, 0);
    if (probe < 0) {
        int err = errno;
        worker_refuse(fd, "Too many connections (slowtap: out of file descriptors)");
        atomic_fetch_sub_explicit(&app->connections, 1, memory_order_relaxed);
        COUNTER_ADD(&w->counters, connections_shed, 1);
        worker_accept_pause(w, err);
        return;
    }
    close(probe);
    if (w->npending >= w->pending_max && !pend_make_room(w)) {
        worker_refuse(fd, "Too many connections (slowtap: --max-pending-handshakes reached)");
        atomic_fetch_sub_explicit(&app->connections, 1, memory_order_relaxed);
        COUNTER_ADD(&w->counters, handshakes_refused, 1);
        if (worker_notice_due(&app->notice_pending_us)) {
            fprintf(stderr,
                    "slowtap: %d clients of worker %d are still logging in "
                    "(--max-pending-handshakes %d for the process), none of them stalled: new "
                    "clients get ERR 1040; further ones are counted in "
                    "slowtap_handshakes_refused_total, not printed for a minute\n",
                    w->npending, w->id, app->conf->max_pending_handshakes);
        }
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
    leg_init(&s->cli, &s->be, &sess_leg_ops, s, zctx(s));
    leg_init(&s->be, &s->cli, &sess_leg_ops, s, zctx(s));
    acct_sess_init(&s->acct, &w->findings);
    net_peer_text(sa, (socklen_t)salen, s->host, sizeof s->host);
    s->next = w->sessions;
    if (w->sessions) {
        w->sessions->prev = s;
    }
    w->sessions = s;
    w->nsessions++;
    COUNTER_ADD(&w->counters, connections_active, 1);
    pend_join(s);

    if (!leg_attach(&s->cli, w->base, fd, sa->sa_family != AF_UNIX)) {
        sess_end(s, SESS_END_NOW, 0, NULL);
        return;
    }
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
        if ((s->cli.bev && cli_flushed(s)) ||
            now - s->closing_us > app->conf->handshake_timeout_us) {
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
    if (!pc && s->state == SESS_COMMAND) {
        acct_idle(&s->acct, &w->acct, now); /* an idle unit of work ends (account.h) */
    }
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
