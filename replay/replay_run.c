/*
 * replay_run.c - a capture read into memory (replay_cap_load) and played against one target
 * (replay_run): one libevent loop, one non-blocking libmariadb connection per captured
 * session, each session's commands in their captured order at their captured time (gaps
 * divided by --speed, none with --no-wait), sessions concurrent as captured. Per command: the
 * time on the target, the error, rows, affected rows and the result checksum as the capture
 * defines it (text results: the row payload rebuilt from MYSQL_ROW and lengths; prepared
 * statements: the binary row payload rebuilt from the fetched binds). Errors are recorded,
 * never fatal. The same state machine as explain/explain.c's side connection: a _start call,
 * then waiting on the socket (or libmariadb's timeout) and _cont until it completes.
 * replay_run_sides plays two targets at once, each session in lockstep on both (rs_step).
 * LOAD DATA LOCAL gets the captured file content (rs_infile_*), KILL n the replay's id of the
 * captured session n (rs_map_kill), COM_CHANGE_USER a COM_RESET_CONNECTION.
 */
#include "replay/replay.h"

#include <errno.h>
#include <event2/event.h>
#include <mysql.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "protocol/proto.h"
#include "protocol/proto_capture.h"
#include "protocol/proto_wire.h"
#include "protocol/proto_fingerprint.h"
#include "protocol/proto_sqlmode.h"
#include "protocol/proto_sqllex.h"

#define RP_MAX_PARAMS        65535
#define RP_READ_TIMEOUT_S    600
#define RP_CONNECT_TIMEOUT_S 10
#define RP_PROGRESS_S        3

/* ---- loading ---- */

struct sess_slot {
    uint64_t id;
    size_t idx; /* + 1; 0 = empty */
};

struct loader {
    struct replay_cap *cap;
    struct sess_slot *tab;
    size_t tabcap;
    /* per session: the current schema and the prepares seen (prepare_id -> cmd index) */
    const char **cur_schema;
    struct {
        uint32_t id;
        size_t cmd;
    } * *preps;
    size_t *nprep;
};

static char *
dupn(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        if (n) {
            memcpy(d, s, n);
        }
        d[n] = '\0';
    }
    return d;
}

static const char *
intern(struct replay_cap *cap, const char *s, size_t n)
{
    for (size_t i = cap->nschemas; i-- > 0;) {
        if (strlen(cap->schemas[i]) == n && memcmp(cap->schemas[i], s, n) == 0) {
            return cap->schemas[i];
        }
    }
    char **ns = realloc(cap->schemas, (cap->nschemas + 1) * sizeof(*ns));
    if (!ns) {
        return "";
    }
    cap->schemas = ns;
    char *d = dupn(s, n);
    if (!d) {
        return "";
    }
    cap->schemas[cap->nschemas++] = d;
    return d;
}

static size_t
tab_hash(uint64_t id, size_t cap)
{
    id ^= id >> 33;
    id *= 0xff51afd7ed558ccdULL;
    id ^= id >> 33;
    return (size_t)(id & (cap - 1));
}

static bool
loader_grow(struct loader *l)
{
    size_t ncap = l->tabcap ? l->tabcap * 2 : 1024;
    struct sess_slot *nt = calloc(ncap, sizeof(*nt));
    if (!nt) {
        return false;
    }
    for (size_t i = 0; i < l->tabcap; i++) {
        if (l->tab[i].idx) {
            size_t h = tab_hash(l->tab[i].id, ncap);
            while (nt[h].idx) {
                h = (h + 1) & (ncap - 1);
            }
            nt[h] = l->tab[i];
        }
    }
    free(l->tab);
    l->tab = nt;
    l->tabcap = ncap;
    return true;
}

/* The session with id, created (started at t_us) when new; NULL when out of memory. */
static struct replay_session *
loader_session(struct loader *l, uint64_t id, int64_t t_us, bool *created)
{
    *created = false;
    if (l->tabcap) {
        for (size_t h = tab_hash(id, l->tabcap); l->tab[h].idx; h = (h + 1) & (l->tabcap - 1)) {
            if (l->tab[h].id == id) {
                return &l->cap->s[l->tab[h].idx - 1];
            }
        }
    }
    struct replay_cap *cap = l->cap;
    if ((cap->ns + 1) * 2 > l->tabcap && !loader_grow(l)) {
        return NULL;
    }
    struct replay_session *ns = realloc(cap->s, (cap->ns + 1) * sizeof(*ns));
    const char **cs = realloc(l->cur_schema, (cap->ns + 1) * sizeof(*cs));
    if (cs) {
        l->cur_schema = cs;
    }
    void *pp = realloc(l->preps, (cap->ns + 1) * sizeof(*l->preps));
    if (pp) {
        l->preps = pp;
    }
    size_t *np = realloc(l->nprep, (cap->ns + 1) * sizeof(*np));
    if (np) {
        l->nprep = np;
    }
    if (!ns || !cs || !pp || !np) {
        if (ns) {
            cap->s = ns;
        }
        return NULL;
    }
    cap->s = ns;
    ns[cap->ns] = (struct replay_session){.id = id, .t_us = t_us, .charset = 45};
    l->cur_schema[cap->ns] = "";
    l->preps[cap->ns] = NULL;
    l->nprep[cap->ns] = 0;
    size_t h = tab_hash(id, l->tabcap);
    while (l->tab[h].idx) {
        h = (h + 1) & (l->tabcap - 1);
    }
    l->tab[h] = (struct sess_slot){.id = id, .idx = cap->ns + 1};
    cap->ns++;
    *created = true;
    return &ns[cap->ns - 1];
}

static unsigned
session_lexmode(const struct replay_session *s)
{
    return s->sql_mode && proto_sqlmode_list_has_ansi_quotes(s->sql_mode, strlen(s->sql_mode))
               ? PROTO_SQLMODE_ANSI_QUOTES
               : 0;
}

static bool
load_command(struct loader *l, const struct proto_cap_command *c)
{
    bool created;
    struct replay_session *s = loader_session(l, c->session, c->t_start_us, &created);
    if (!s) {
        return false;
    }
    size_t si = (size_t)(s - l->cap->s);
    if (created) {
        s->user = dupn("", 0);
        s->schema = dupn("", 0);
        s->sql_mode = dupn("", 0);
    }
    if (s->ncmds == s->cap) {
        size_t ncap = s->cap ? s->cap * 2 : 16;
        struct replay_cmd *nc = realloc(s->cmds, ncap * sizeof(*nc));
        if (!nc) {
            return false;
        }
        s->cmds = nc;
        s->cap = ncap;
    }
    struct replay_cmd *d = &s->cmds[s->ncmds];
    *d = (struct replay_cmd){
        .t_start_us = c->t_start_us,
        .t_end_us = c->t_end_us,
        .cmd = c->cmd,
        .stmt_id = c->stmt_id,
        .prepare_id = c->prepare_id,
        .err = c->err,
        .rows = c->rows,
        .affected = c->affected,
        .checksum = c->checksum,
        .interrupted = c->interrupted,
        .cut = c->cut,
        .schema = l->cur_schema[si],
        .seq = c->seq,
    };
    if (c->text && (c->cmd == PROTO_COM_QUERY || c->cmd == PROTO_COM_STMT_PREPARE ||
                    c->cmd == PROTO_COM_INIT_DB)) {
        d->text = dupn(c->text, c->text_len);
        if (!d->text) {
            return false;
        }
        d->text_len = c->text_len;
    }
    if (c->n_params) {
        d->params = calloc(c->n_params, sizeof(*d->params));
        if (!d->params) {
            return false;
        }
        d->n_params = c->n_params;
        for (uint16_t i = 0; i < c->n_params; i++) {
            const struct proto_cap_param *p = &c->params[i];
            d->params[i] = (struct replay_param){.type = p->type,
                                                 .is_unsigned = p->is_unsigned,
                                                 .is_null = p->is_null,
                                                 .len = p->value_len};
            d->params[i].value = (uint8_t *)dupn((const char *)p->value, p->value_len);
            if (!d->params[i].value) {
                return false;
            }
        }
    }
    unsigned mode = session_lexmode(s);
    if (c->cmd == PROTO_COM_QUERY || c->cmd == PROTO_COM_STMT_PREPARE) {
        d->stmt = d->text;
        d->stmt_len = d->text_len;
    } else if (c->cmd == PROTO_COM_STMT_EXECUTE) {
        for (size_t i = l->nprep[si]; i-- > 0;) {
            if (l->preps[si][i].id == c->stmt_id) {
                const struct replay_cmd *p = &s->cmds[l->preps[si][i].cmd];
                d->stmt = p->text;
                d->stmt_len = p->text_len;
                d->cut |= p->cut; /* its prepare's text was cut */
                break;
            }
        }
    }
    if (d->stmt) {
        d->digest = proto_fingerprint_mode(d->stmt, d->stmt_len, mode, NULL, 0);
        d->write = replay_is_write(d->stmt, d->stmt_len, mode);
        d->dml = replay_is_dml(d->stmt, d->stmt_len, mode);
        d->unstable = replay_unstable(d->stmt, d->stmt_len, mode);
    }
    /* the schema the following commands run in */
    char db[256];
    if (c->cmd == PROTO_COM_INIT_DB && c->err == 0 && c->text) {
        l->cur_schema[si] = intern(l->cap, c->text, c->text_len);
    } else if (c->cmd == PROTO_COM_QUERY && c->err == 0 && d->text &&
               proto_stmt_use_schema_mode(d->text, d->text_len, mode, db, sizeof(db))) {
        l->cur_schema[si] = intern(l->cap, db, strlen(db));
    } else if (c->cmd == PROTO_COM_CHANGE_USER && c->schema) {
        l->cur_schema[si] = intern(l->cap, c->schema, c->schema_len);
    }
    if (c->cmd == PROTO_COM_STMT_PREPARE && c->err == 0) {
        void *np = realloc(l->preps[si], (l->nprep[si] + 1) * sizeof(**l->preps));
        if (!np) {
            return false;
        }
        l->preps[si] = np;
        l->preps[si][l->nprep[si]].id = c->prepare_id;
        l->preps[si][l->nprep[si]].cmd = s->ncmds;
        l->nprep[si]++;
    }
    s->ncmds++;
    l->cap->ncmds++;
    if (l->cap->t0 == 0 || c->t_start_us < l->cap->t0) {
        l->cap->t0 = c->t_start_us;
    }
    return true;
}

static bool
load_record(struct loader *l, const struct proto_cap_record *r)
{
    bool created;
    if (r->type == PROTO_CAP_SESSION) {
        const struct proto_cap_session *ps = &r->u.session;
        struct replay_session *s = loader_session(l, ps->session, ps->t_us, &created);
        if (!s) {
            return false;
        }
        if (!created) { /* a second record for the same id: keep the first */
            return true;
        }
        s->charset = ps->charset;
        s->user = dupn(ps->user ? ps->user : "", ps->user ? ps->user_len : 0);
        s->schema = dupn(ps->schema ? ps->schema : "", ps->schema ? ps->schema_len : 0);
        s->sql_mode = dupn(ps->sql_mode ? ps->sql_mode : "", ps->sql_mode ? ps->sql_mode_len : 0);
        s->sql_mode_set = ps->sql_mode_set;
        s->thread_id = ps->thread_id;
        if (!s->user || !s->schema || !s->sql_mode) {
            return false;
        }
        l->cur_schema[s - l->cap->s] = intern(l->cap, s->schema, strlen(s->schema));
        if (l->cap->t0 == 0 || ps->t_us < l->cap->t0) {
            l->cap->t0 = ps->t_us;
        }
        return true;
    }
    if (r->type == PROTO_CAP_COMMAND) {
        return load_command(l, &r->u.command);
    }
    if (r->type == PROTO_CAP_FILE) { /* several records of one file: their concatenation */
        const struct proto_cap_file *f = &r->u.file;
        struct replay_session *s = loader_session(l, f->session, 0, &created);
        if (!s) {
            return false;
        }
        if (created) {
            s->user = dupn("", 0);
            s->schema = dupn("", 0);
            s->sql_mode = dupn("", 0);
        }
        struct replay_file *x = s->nfiles ? &s->files[s->nfiles - 1] : NULL;
        if (!x || x->seq != f->seq) {
            struct replay_file *nf = realloc(s->files, (s->nfiles + 1) * sizeof(*nf));
            if (!nf) {
                return false;
            }
            s->files = nf;
            x = &nf[s->nfiles++];
            *x = (struct replay_file){.seq = f->seq};
        }
        uint8_t *nd = realloc(x->data, x->len + f->len + 1);
        if (!nd) {
            return false;
        }
        if (f->len) {
            memcpy(nd + x->len, f->data, f->len);
        }
        x->data = nd;
        x->len += f->len;
        return true;
    }
    return true; /* END: the replay ends a session after its last command */
}

bool
replay_cap_load(const char *path, struct replay_cap *cap, char *err, size_t errcap)
{
    *cap = (struct replay_cap){0};
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errcap, "%s: %s", path, strerror(errno));
        return false;
    }
    uint8_t hdr[PROTO_CAP_HEADER_LEN];
    uint16_t version = 0;
    int64_t created = 0;
    if (fread(hdr, 1, sizeof(hdr), f) != sizeof(hdr) ||
        !proto_cap_check_header(hdr, sizeof(hdr), &version, &created)) {
        snprintf(err, errcap, "%s: not a slowtap capture (or version %u, this build reads %u)",
                 path, (unsigned)version, (unsigned)PROTO_CAP_VERSION);
        fclose(f);
        return false;
    }
    struct loader l = {.cap = cap};
    struct proto_cap_param *params = malloc(RP_MAX_PARAMS * sizeof(*params));
    uint8_t *z = NULL, *raw = NULL;
    bool ok = params != NULL;
    while (ok) {
        uint8_t bh[PROTO_CAP_BLOCK_HEADER_LEN];
        uint32_t raw_len, zlen;
        uint64_t sum;
        if (fread(bh, 1, sizeof(bh), f) != sizeof(bh) ||
            !proto_cap_block_header(bh, &raw_len, &zlen, &sum)) {
            break; /* the end, or a block cut short: the file ends at the last whole one */
        }
        uint8_t *nz = realloc(z, zlen ? zlen : 1), *nr = realloc(raw, raw_len ? raw_len : 1);
        if (nz) {
            z = nz;
        }
        if (nr) {
            raw = nr;
        }
        if (!nz || !nr) {
            snprintf(err, errcap, "out of memory");
            ok = false;
            break;
        }
        if (fread(z, 1, zlen, f) != zlen || !proto_cap_block_open(z, zlen, raw, raw_len, sum)) {
            break;
        }
        size_t off = 0;
        struct proto_cap_record r;
        while (off < raw_len && proto_cap_next(raw, raw_len, &off, &r, params, RP_MAX_PARAMS)) {
            if (!load_record(&l, &r)) {
                snprintf(err, errcap, "out of memory");
                ok = false;
                break;
            }
        }
    }
    fclose(f);
    free(params);
    free(z);
    free(raw);
    for (size_t i = 0; i < cap->ns; i++) {
        free(l.preps ? l.preps[i] : NULL);
    }
    free(l.preps);
    free(l.nprep);
    free(l.cur_schema);
    free(l.tab);
    if (!ok) {
        replay_cap_free(cap);
        return false;
    }
    return true;
}

void
replay_cap_free(struct replay_cap *cap)
{
    for (size_t i = 0; i < cap->ns; i++) {
        struct replay_session *s = &cap->s[i];
        for (size_t j = 0; j < s->ncmds; j++) {
            free(s->cmds[j].text);
            for (uint16_t k = 0; k < s->cmds[j].n_params; k++) {
                free(s->cmds[j].params[k].value);
            }
            free(s->cmds[j].params);
        }
        free(s->cmds);
        for (size_t j = 0; j < s->nfiles; j++) {
            free(s->files[j].data);
        }
        free(s->files);
        free(s->user);
        free(s->schema);
        free(s->sql_mode);
    }
    free(cap->s);
    for (size_t i = 0; i < cap->nschemas; i++) {
        free(cap->schemas[i]);
    }
    free(cap->schemas);
    *cap = (struct replay_cap){0};
}

/* ---- the engine ---- */

enum rs_state {
    RS_IDLE = 0,
    RS_CONNECT,
    RS_SETUP, /* a session-state query (SET NAMES, sql_mode) */
    RS_WRAP,  /* the BEGIN/SAVEPOINT before or the ROLLBACK after a rolled-back write */
    RS_QUERY,
    RS_STORE,
    RS_NEXT,
    RS_SELECTDB,
    RS_PREPARE,
    RS_EXECUTE,
    RS_STMT_STORE,
    RS_STMT_CLOSE,
    RS_STMT_RESET,
    RS_PING,
    RS_STMT_NEXT,
    RS_RESET,
    RS_CLOSE,
    RS_DONE,
};

struct rs_stmt {
    uint32_t cap_id;
    MYSQL_STMT *st;
};

struct reng;

struct rsess {
    struct reng *e;
    const struct replay_uri *u;
    struct replay_run *run;
    struct rsess *pair; /* the same session on the other target (lockstep), or NULL */
    int side;
    bool ready; /* connected and set up, or given up */
    size_t si;
    const struct replay_session *s;
    struct replay_res *res;
    MYSQL *my;
    struct event *ev, *timer;
    enum rs_state state;
    bool parked; /* --in-order: waiting for other sessions' earlier commands */
    size_t next; /* the command being run, or the next one */
    int setup_i; /* which setup query comes next */
    int wrap;    /* 0 none, 1 before the command, 2 after */
    bool wrap_savepoint;
    struct rs_stmt *stmts;
    size_t nstmts, capstmts;
    MYSQL_STMT *cur;
    MYSQL_BIND *pb; /* the last execute's parameters (libmariadb may read them until done) */
    MYSQL_TIME *pt;
    int ret_int;
    my_bool ret_bool;
    MYSQL *ret_my;
    MYSQL_RES *ret_res;
    int64_t t0; /* monotonic us: the command's start */
    uint64_t sum, rows;
    bool summed;
    char q[600];
    size_t infile_off; /* LOAD DATA LOCAL: bytes of the captured file sent */
    const struct replay_file *infile;
};

struct reng {
    const struct replay_cap *cap;
    const struct replay_uri *const *u;
    const struct replay_opts *o;
    struct replay_run *run; /* nsides of them */
    int nsides;
    struct event_base *base;
    struct event *progress;
    struct rsess *ss; /* nsides * cap->ns: side 0's sessions, then side 1's */
    size_t nss;
    size_t open, done;
    int64_t start_mono;
    uint64_t ran_last;
    int64_t last_prog;
    int64_t lag_max;
    /* --in-order, per side: every command by its captured end, which have ended, how many of
     * the first ones have all ended, and the sessions waiting */
    struct rs_ord {
        int64_t cap_end;
        size_t flat;
    } * byend;
    size_t ncmds;
    size_t *flat_base; /* [session]: its first command's flat index */
    bool *cmd_done[2];
    size_t prefix[2];
    struct rsess **parked;
    size_t nparked;
};

static void rs_mark_done(struct rsess *r, size_t from, size_t to);

static int
rs_ord_cmp(const void *a, const void *b)
{
    const struct rs_ord *x = a, *y = b;
    return x->cap_end < y->cap_end ? -1 : x->cap_end > y->cap_end;
}

static int64_t
mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* When (monotonic us) something captured at realtime t happens in the replay. */
static int64_t
due_at(const struct reng *e, int64_t t)
{
    if (e->o->speed <= 0) {
        return 0;
    }
    double off = (double)(t - e->cap->t0) / e->o->speed;
    return e->start_mono + (off > 0 ? (int64_t)off : 0);
}

static void rs_cont(struct rsess *r, int ev);
static void rs_done_op(struct rsess *r);
static void rs_schedule(struct rsess *r);
static void rs_finish_session(struct rsess *r);

static void
rs_io_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rsess *r = arg;
    int ev = 0;
    if (what & EV_READ) {
        ev |= MYSQL_WAIT_READ;
    }
    if (what & EV_WRITE) {
        ev |= MYSQL_WAIT_WRITE;
    }
    if (what & EV_TIMEOUT) {
        ev |= MYSQL_WAIT_TIMEOUT;
    }
    rs_cont(r, ev);
}

static void
rs_wait(struct rsess *r, int status)
{
    if (r->ev) {
        event_free(r->ev);
        r->ev = NULL;
    }
    short flags = 0;
    if (status & MYSQL_WAIT_READ) {
        flags |= EV_READ;
    }
    if (status & MYSQL_WAIT_WRITE) {
        flags |= EV_WRITE;
    }
    if ((status & MYSQL_WAIT_EXCEPT) && !flags) {
        flags |= EV_READ;
    }
    evutil_socket_t fd = flags ? (evutil_socket_t)mysql_get_socket(r->my) : -1;
    if (fd < 0) {
        flags = 0;
    }
    struct timeval tv, *tvp = NULL;
    if ((status & MYSQL_WAIT_TIMEOUT) || !flags) {
        unsigned ms = (status & MYSQL_WAIT_TIMEOUT) ? mysql_get_timeout_value_ms(r->my) : 0;
        tv.tv_sec = ms / 1000;
        tv.tv_usec = (ms % 1000) * 1000;
        tvp = &tv;
    }
    r->ev = event_new(r->e->base, fd, flags, rs_io_cb, r);
    if (!r->ev || event_add(r->ev, tvp) != 0) {
        event_free(r->ev);
        r->ev = event_new(r->e->base, -1, 0, rs_io_cb, r);
        struct timeval soon = {0, 10000};
        if (r->ev) {
            event_add(r->ev, &soon);
        }
    }
}

static void
rs_after(struct rsess *r, int status)
{
    if (status) {
        rs_wait(r, status);
        return;
    }
    if (r->ev) {
        event_free(r->ev);
        r->ev = NULL;
    }
    rs_done_op(r);
}

static void
rs_cont(struct rsess *r, int ev)
{
    int st = 0;
    switch (r->state) {
    case RS_CONNECT:
        st = mysql_real_connect_cont(&r->ret_my, r->my, ev);
        break;
    case RS_SETUP:
    case RS_WRAP:
    case RS_QUERY:
        st = mysql_real_query_cont(&r->ret_int, r->my, ev);
        break;
    case RS_STORE:
        st = mysql_store_result_cont(&r->ret_res, r->my, ev);
        break;
    case RS_NEXT:
        st = mysql_next_result_cont(&r->ret_int, r->my, ev);
        break;
    case RS_SELECTDB:
        st = mysql_select_db_cont(&r->ret_int, r->my, ev);
        break;
    case RS_PREPARE:
        st = mysql_stmt_prepare_cont(&r->ret_int, r->cur, ev);
        break;
    case RS_EXECUTE:
        st = mysql_stmt_execute_cont(&r->ret_int, r->cur, ev);
        break;
    case RS_STMT_STORE:
        st = mysql_stmt_store_result_cont(&r->ret_int, r->cur, ev);
        break;
    case RS_STMT_CLOSE:
        st = mysql_stmt_close_cont(&r->ret_bool, r->cur, ev);
        break;
    case RS_STMT_RESET:
        st = mysql_stmt_reset_cont(&r->ret_bool, r->cur, ev);
        break;
    case RS_PING:
        st = mysql_ping_cont(&r->ret_int, r->my, ev);
        break;
    case RS_STMT_NEXT:
        st = mysql_stmt_next_result_cont(&r->ret_int, r->cur, ev);
        break;
    case RS_RESET:
        st = mysql_reset_connection_cont(&r->ret_int, r->my, ev);
        break;
    case RS_CLOSE:
        st = mysql_close_cont(r->my, ev);
        break;
    default:
        return;
    }
    rs_after(r, st);
}

static struct replay_cmd *
rs_cmd(struct rsess *r)
{
    return &r->s->cmds[r->next];
}

static void
rs_finish_session(struct rsess *r)
{
    struct reng *e = r->e;
    if (r->state == RS_DONE || (r->state == RS_CLOSE && r->my)) {
        return; /* ended, or closing: it ends when the close completes */
    }
    if (r->my && r->state != RS_CLOSE && r->state != RS_DONE) {
        r->state = RS_CLOSE;
        rs_after(r, mysql_close_start(r->my));
        return;
    }
    if (r->my) {
        r->my = NULL; /* mysql_close_cont freed it */
    }
    for (size_t i = 0; i < r->nstmts; i++) {
        if (r->stmts[i].st) {
            mysql_stmt_close(r->stmts[i].st); /* detached by the close: no network */
        }
    }
    free(r->stmts);
    r->stmts = NULL;
    free(r->pb);
    free(r->pt);
    r->pb = NULL;
    r->pt = NULL;
    r->nstmts = 0;
    rs_mark_done(r, r->next < r->s->ncmds ? r->next : r->s->ncmds, r->s->ncmds);
    if (r->state != RS_DONE) {
        r->state = RS_DONE;
        if (e->open) {
            e->open--;
        }
        e->done++;
        if (e->done == e->nss) {
            event_base_loopexit(e->base, NULL);
        }
    }
}

/*
 * What comes next for a session, alone or in lockstep with its pair on the other target: in
 * lockstep each command runs on both targets, one right after the other (the first alternates
 * from one command to the next), and the next command waits for both; so the two targets see
 * the same moments of the machine's load. A side that could not connect is left behind.
 */
static void
rs_step(struct rsess *r)
{
    if (!r->pair) {
        rs_schedule(r);
        return;
    }
    struct rsess *a = r->side == 0 ? r : r->pair, *b = r->side == 0 ? r->pair : r;
    if (!a->ready || !b->ready) {
        return;
    }
    size_t n = r->s->ncmds;
    if (a->next == b->next) {
        if (a->next >= n) {
            rs_finish_session(a);
            rs_finish_session(b);
            return;
        }
        rs_schedule(a->next % 2 == 0 ? a : b);
        return;
    }
    struct rsess *behind = a->next < b->next ? a : b, *ahead = behind == a ? b : a;
    if (ahead->next >= n && ahead->state != RS_DONE && ahead->state != RS_CLOSE) {
        rs_finish_session(ahead);
    }
    if (behind->state == RS_IDLE && behind->next < n) {
        struct timeval now = {0, 0};
        evtimer_add(behind->timer, &now); /* the follower: at once */
    }
}

/* The command r->next ended (ran or not): record it, go on to the next one. */
static void
rs_cmd_end(struct rsess *r, enum replay_outcome oc, uint16_t err)
{
    struct replay_res *x = &r->res[r->next];
    x->outcome = (uint8_t)oc;
    if (oc == REPLAY_RAN) {
        x->t0_mono = r->t0;
        x->us = mono_us() - r->t0;
        x->err = err;
        x->rows = r->rows;
        x->checked = r->summed;
        x->checksum = r->summed && r->rows ? r->sum : 0; /* the capture's 0: no rows */
        r->run->ran++;
        if (err) {
            r->run->errors++;
        }
    } else if (oc == REPLAY_SKIPPED_WRITE) {
        r->run->skipped_write++;
    } else if (oc == REPLAY_UNSUPPORTED) {
        r->run->unsupported++;
    }
    r->next++;
    r->state = RS_IDLE;
    rs_mark_done(r, r->next - 1, r->next);
    rs_step(r);
}

/* The command r->next cannot be replayed, for reason `why` (a static string). */
static void
rs_unsupported(struct rsess *r, const char *why)
{
    r->res[r->next].why = why;
    rs_cmd_end(r, REPLAY_UNSUPPORTED, 0);
}

static struct rs_stmt *
rs_stmt_find(struct rsess *r, uint32_t id)
{
    for (size_t i = r->nstmts; i-- > 0;) {
        if (r->stmts[i].cap_id == id) {
            return &r->stmts[i];
        }
    }
    return NULL;
}

static void rs_start_cmd(struct rsess *r);
static void rs_main_cmd(struct rsess *r);

/* --in-order: whether every command of r's side that ended before r's next command began
 * in the capture has ended on the replay (the first command not ended, by captured end, ends
 * at or after its start). */
static bool
rs_gate_open(const struct rsess *r)
{
    const struct reng *e = r->e;
    if (!e->byend) {
        return true;
    }
    size_t p = e->prefix[r->side];
    return p >= e->ncmds || e->byend[p].cap_end >= r->s->cmds[r->next].t_start_us;
}

/* --in-order: commands [from, to) of r's session have ended (or will never run): advance the
 * side's prefix and wake the waiting sessions (each checks its gate again). */
static void
rs_mark_done(struct rsess *r, size_t from, size_t to)
{
    struct reng *e = r->e;
    if (!e->byend) {
        return;
    }
    bool *d = e->cmd_done[r->side];
    for (size_t i = from; i < to; i++) {
        d[e->flat_base[r->si] + i] = true;
    }
    size_t p = e->prefix[r->side];
    while (p < e->ncmds && d[e->byend[p].flat]) {
        p++;
    }
    if (p == e->prefix[r->side]) {
        return;
    }
    e->prefix[r->side] = p;
    size_t n = e->nparked;
    e->nparked = 0;
    for (size_t i = 0; i < n; i++) {
        struct rsess *w = e->parked[i];
        w->parked = false;
        struct timeval now = {0, 0};
        evtimer_add(w->timer, &now); /* through the loop: it checks its gate again */
    }
}

static void
rs_timer_cb(evutil_socket_t fd, short what, void *arg)
{
    struct rsess *r = arg;
    if (r->state == RS_IDLE && r->next < r->s->ncmds && !rs_gate_open(r)) {
        if (!r->parked) {
            r->parked = true;
            r->e->parked[r->e->nparked++] = r;
        }
        return;
    }
    if (r->state == RS_IDLE) {
        rs_start_cmd(r);
    }
}

/* Waits for the next command's captured time, or starts it. */
static void
rs_schedule(struct rsess *r)
{
    if (r->next >= r->s->ncmds) {
        rs_finish_session(r);
        return;
    }
    int64_t due = due_at(r->e, rs_cmd(r)->t_start_us), now = mono_us();
    struct timeval tv = {0, 0};
    if (due > now) {
        tv.tv_sec = (time_t)((due - now) / 1000000);
        tv.tv_usec = (suseconds_t)((due - now) % 1000000);
    }
    /* always through the loop: a long run of commands never recurses */
    evtimer_add(r->timer, &tv);
}

static const char *
rs_charset_name(unsigned nr, const char **coll)
{
    const MARIADB_CHARSET_INFO *cs = nr ? mariadb_get_charset_by_nr(nr) : NULL;
    *coll = cs ? cs->name : "utf8mb4_general_ci";
    return cs ? cs->csname : "utf8mb4";
}

/* The session-state queries after the connect; false when there is none left. */
static bool
rs_setup_next(struct rsess *r)
{
    const struct replay_session *s = r->s;
    while (r->setup_i < 2) {
        int i = r->setup_i++;
        if (i == 0) {
            const char *coll, *cs = rs_charset_name(s->charset, &coll);
            snprintf(r->q, sizeof(r->q), "SET NAMES %s COLLATE %s", cs, coll);
        } else {
            if (!s->sql_mode_set) {
                continue;
            }
            char esc[2 * 256 + 1];
            size_t n = strlen(s->sql_mode);
            if (n > 255) {
                continue;
            }
            mysql_real_escape_string(r->my, esc, s->sql_mode, (unsigned long)n);
            snprintf(r->q, sizeof(r->q), "SET SESSION sql_mode = '%s'", esc);
        }
        r->state = RS_SETUP;
        rs_after(r, mysql_real_query_start(&r->ret_int, r->my, r->q, (unsigned long)strlen(r->q)));
        return true;
    }
    return false;
}

/* LOAD DATA LOCAL: the server asks for a file; the replay sends the content the capture holds
 * for the running command (never a file of this machine), or none when it holds none (the
 * capture writes no FILE record for an empty file or one the client refused or lacked). */
static int
rs_infile_init(void **ptr, const char *name, void *userdata)
{
    struct rsess *r = userdata;
    *ptr = r;
    r->infile = NULL;
    r->infile_off = 0;
    uint64_t seq = r->next < r->s->ncmds ? r->s->cmds[r->next].seq : 0;
    for (size_t i = 0; i < r->s->nfiles; i++) {
        if (r->s->files[i].seq == seq) {
            r->infile = &r->s->files[i];
        }
    }
    return 0; /* no FILE record: the client sent no content (an empty or refused file) */
}

static int
rs_infile_read(void *ptr, char *buf, unsigned int len)
{
    struct rsess *r = ptr;
    if (!r->infile) {
        return 0;
    }
    size_t left = r->infile->len - r->infile_off, n = left < len ? left : len;
    if (n) {
        memcpy(buf, r->infile->data + r->infile_off, n);
    }
    r->infile_off += n;
    return (int)n;
}

static void
rs_infile_end(void *ptr)
{
}

static int
rs_infile_error(void *ptr, char *msg, unsigned int len)
{
    snprintf(msg, len, "slowtap replay: the capture holds no file for this LOAD DATA LOCAL");
    return 2000;
}

/* KILL [QUERY|CONNECTION] n, n a captured session's thread id: the same KILL against that
 * session's connection on this target (into r->q). False when it is no such KILL. */
static bool
rs_map_kill(struct rsess *r, const char *sql, size_t len)
{
    struct proto_sqllex lx;
    struct proto_sqltok t;
    proto_sqllex_init(&lx, sql, len, 0);
    int state = 0;
    size_t num_start = 0, num_end = 0;
    while (proto_sqllex_next(&lx, &t) != PROTO_TOK_END) {
        if (proto_sqltok_blank(&t)) {
            continue;
        }
        if (state == 0) {
            if (!proto_sqltok_word_is(&lx, &t, "kill")) {
                return false;
            }
            state = 1;
        } else if (state == 1 && (proto_sqltok_word_is(&lx, &t, "query") ||
                                  proto_sqltok_word_is(&lx, &t, "connection") ||
                                  proto_sqltok_word_is(&lx, &t, "hard") ||
                                  proto_sqltok_word_is(&lx, &t, "soft"))) {
            continue;
        } else if (state == 1 && t.kind == PROTO_TOK_NUMBER) {
            num_start = t.start;
            num_end = t.end;
            state = 2;
        } else if (state == 2 && proto_sqltok_op_is(&lx, &t, ";")) {
            continue;
        } else {
            return false;
        }
    }
    if (state != 2 || num_end - num_start > 10) {
        return false;
    }
    unsigned long id = strtoul(sql + num_start, NULL, 10);
    struct reng *e = r->e;
    for (size_t x = 0; x < e->nss; x++) {
        struct rsess *o = &e->ss[x];
        if (o->side == r->side && o->s->thread_id == id && o->s->thread_id && o->my) {
            int n = snprintf(r->q, sizeof(r->q), "%.*s%lu%.*s", (int)num_start, sql,
                             mysql_thread_id(o->my), (int)(len - num_end), sql + num_end);
            return n > 0 && (size_t)n < sizeof(r->q);
        }
    }
    return false;
}

static void
rs_connect(struct rsess *r)
{
    struct reng *e = r->e;
    r->my = mysql_init(NULL);
    if (!r->my) {
        r->run->connect_failed++;
        rs_mark_done(r, r->next, r->s->ncmds);
        r->next = r->s->ncmds;
        r->ready = true;
        r->state = RS_DONE;
        e->done++;
        rs_step(r);
        return;
    }
    unsigned cto = RP_CONNECT_TIMEOUT_S, rto = RP_READ_TIMEOUT_S, proto = MYSQL_PROTOCOL_TCP;
    my_bool yes = 1;
    mysql_options(r->my, MYSQL_OPT_NONBLOCK, 0);
    mysql_options(r->my, MYSQL_OPT_CONNECT_TIMEOUT, &cto);
    mysql_options(r->my, MYSQL_OPT_READ_TIMEOUT, &rto);
    mysql_options(r->my, MYSQL_OPT_WRITE_TIMEOUT, &rto);
    mysql_options(r->my, MYSQL_OPT_PROTOCOL, &proto);
    /* LOAD DATA LOCAL reads the captured content only (rs_infile_*), never a local file */
    mysql_options(r->my, MYSQL_OPT_LOCAL_INFILE, &yes);
    mysql_set_local_infile_handler(r->my, rs_infile_init, rs_infile_read, rs_infile_end,
                                   rs_infile_error, r);
    const char *coll;
    mysql_options(r->my, MYSQL_SET_CHARSET_NAME, rs_charset_name(r->s->charset, &coll));
    const char *db = r->s->schema && r->s->schema[0] ? r->s->schema : r->u->schema;
    r->state = RS_CONNECT;
    e->open++;
    rs_after(r, mysql_real_connect_start(&r->ret_my, r->my, r->u->host, r->u->user, r->u->password,
                                         db[0] ? db : NULL, r->u->port, NULL,
                                         CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS));
}

static void
rs_connect_cb(evutil_socket_t fd, short what, void *arg)
{
    rs_connect(arg);
}

/* ---- parameters and binary rows ---- */

static void
time_from_bin(const uint8_t *v, size_t n, bool is_time, MYSQL_TIME *t)
{
    *t = (MYSQL_TIME){.time_type = is_time ? MYSQL_TIMESTAMP_TIME : MYSQL_TIMESTAMP_DATETIME};
    if (is_time) {
        if (n >= 8) {
            t->neg = v[0] != 0;
            t->day =
                (unsigned)v[1] | (unsigned)v[2] << 8 | (unsigned)v[3] << 16 | (unsigned)v[4] << 24;
            t->hour = v[5] + t->day * 24;
            t->day = 0;
            t->minute = v[6];
            t->second = v[7];
        }
        if (n >= 12) {
            t->second_part = (unsigned long)v[8] | (unsigned long)v[9] << 8 |
                             (unsigned long)v[10] << 16 | (unsigned long)v[11] << 24;
        }
        return;
    }
    if (n >= 4) {
        t->year = (unsigned)v[0] | (unsigned)v[1] << 8;
        t->month = v[2];
        t->day = v[3];
    }
    if (n >= 7) {
        t->hour = v[4];
        t->minute = v[5];
        t->second = v[6];
    }
    if (n >= 11) {
        t->second_part = (unsigned long)v[7] | (unsigned long)v[8] << 8 |
                         (unsigned long)v[9] << 16 | (unsigned long)v[10] << 24;
    }
}

static size_t
fixed_len(uint8_t type)
{
    switch (type) {
    case MYSQL_TYPE_TINY:
        return 1;
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_YEAR:
        return 2;
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_FLOAT:
        return 4;
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_DOUBLE:
        return 8;
    default:
        return 0;
    }
}

static bool
is_temporal(unsigned type)
{
    return type == MYSQL_TYPE_DATE || type == MYSQL_TYPE_DATETIME || type == MYSQL_TYPE_TIMESTAMP ||
           type == MYSQL_TYPE_TIME;
}

/* Binds the captured params; false when they do not fit the statement. */
static bool
rs_bind_params(MYSQL_STMT *st, const struct replay_cmd *c, MYSQL_BIND **bp, MYSQL_TIME **tp)
{
    unsigned n = (unsigned)mysql_stmt_param_count(st);
    if (n == 0) {
        return true;
    }
    if (n > c->n_params) {
        return false;
    }
    MYSQL_BIND *b = calloc(n, sizeof(*b));
    MYSQL_TIME *t = calloc(n, sizeof(*t));
    if (!b || !t) {
        free(b);
        free(t);
        return false;
    }
    static my_bool yes = 1;
    for (unsigned i = 0; i < n; i++) {
        const struct replay_param *p = &c->params[i];
        size_t fl = fixed_len(p->type);
        b[i] = (MYSQL_BIND){0};
        if (p->is_null || p->type == MYSQL_TYPE_NULL || (fl && p->len < fl)) {
            b[i].buffer_type = MYSQL_TYPE_NULL;
            b[i].is_null = &yes;
        } else if (fl) {
            b[i].buffer_type = p->type == MYSQL_TYPE_INT24  ? MYSQL_TYPE_LONG
                               : p->type == MYSQL_TYPE_YEAR ? MYSQL_TYPE_SHORT
                                                            : (enum enum_field_types)p->type;
            b[i].buffer = p->value;
            b[i].is_unsigned = p->is_unsigned;
        } else if (is_temporal(p->type)) {
            time_from_bin(p->value, p->len, p->type == MYSQL_TYPE_TIME, &t[i]);
            b[i].buffer_type = (enum enum_field_types)p->type;
            b[i].buffer = &t[i];
        } else {
            switch (p->type) {
            case MYSQL_TYPE_TINY_BLOB:
            case MYSQL_TYPE_MEDIUM_BLOB:
            case MYSQL_TYPE_LONG_BLOB:
            case MYSQL_TYPE_BLOB:
            case MYSQL_TYPE_NEWDECIMAL:
            case MYSQL_TYPE_DECIMAL:
                b[i].buffer_type = (enum enum_field_types)p->type;
                break;
            default:
                b[i].buffer_type = MYSQL_TYPE_STRING;
            }
            b[i].buffer = p->value;
            b[i].buffer_length = (unsigned long)p->len;
            b[i].length_value = (unsigned long)p->len;
            b[i].length = &b[i].length_value;
        }
    }
    if (mysql_stmt_bind_param(st, b)) {
        free(b);
        free(t);
        return false;
    }
    *bp = b;
    *tp = t;
    return true;
}

static uint64_t
lenenc_sum(uint64_t h, uint64_t l)
{
    uint8_t pre[9];
    size_t pl = proto_put_lenenc(pre, l);
    return proto_cap_fnv(h, pre, pl);
}

/* The binary row payload as the server encodes a temporal value (MariaDB's
 * Protocol_binary::store / store_time: the shortest length that holds it). */
static uint64_t
time_sum(uint64_t h, unsigned type, const MYSQL_TIME *t0)
{
    MYSQL_TIME t = *t0;
    uint8_t b[13];
    size_t n;
    if (type == MYSQL_TYPE_TIME) {
        unsigned day = t.day + t.hour / 24;
        t.hour %= 24;
        b[1] = t.neg ? 1 : 0;
        b[2] = (uint8_t)day;
        b[3] = (uint8_t)(day >> 8);
        b[4] = (uint8_t)(day >> 16);
        b[5] = (uint8_t)(day >> 24);
        b[6] = (uint8_t)t.hour;
        b[7] = (uint8_t)t.minute;
        b[8] = (uint8_t)t.second;
        for (int k = 0; k < 4; k++) {
            b[9 + k] = (uint8_t)(t.second_part >> (8 * k));
        }
        n = t.second_part ? 12 : (t.hour || t.minute || t.second || day) ? 8 : 0;
    } else {
        if (type == MYSQL_TYPE_DATE) {
            t.hour = t.minute = t.second = 0;
            t.second_part = 0;
        }
        b[1] = (uint8_t)t.year;
        b[2] = (uint8_t)(t.year >> 8);
        b[3] = (uint8_t)t.month;
        b[4] = (uint8_t)t.day;
        b[5] = (uint8_t)t.hour;
        b[6] = (uint8_t)t.minute;
        b[7] = (uint8_t)t.second;
        for (int k = 0; k < 4; k++) {
            b[8 + k] = (uint8_t)(t.second_part >> (8 * k));
        }
        n = t.second_part                      ? 11
            : (t.hour || t.minute || t.second) ? 7
            : (t.year || t.month || t.day)     ? 4
                                               : 0;
    }
    b[0] = (uint8_t)n;
    return proto_cap_fnv(h, b, n + 1);
}

/* Fetches every stored row of r->cur and sums the binary row payloads: 0x00, the NULL bitmap
 * (offset 2), then each non-NULL value in the binary protocol. */
static void
rs_stmt_rows(struct rsess *r)
{
    MYSQL_STMT *st = r->cur;
    MYSQL_RES *meta = mysql_stmt_result_metadata(st);
    if (!meta) {
        return;
    }
    unsigned n = mysql_num_fields(meta);
    MYSQL_FIELD *f = mysql_fetch_fields(meta);
    MYSQL_BIND *b = calloc(n ? n : 1, sizeof(*b));
    MYSQL_TIME *t = calloc(n ? n : 1, sizeof(*t));
    my_bool *nul = calloc(n ? n : 1, sizeof(*nul));
    unsigned long *len = calloc(n ? n : 1, sizeof(*len));
    void **buf = calloc(n ? n : 1, sizeof(*buf));
    bool ok = b && t && nul && len && buf;
    for (unsigned i = 0; ok && i < n; i++) {
        size_t fl = fixed_len((uint8_t)f[i].type);
        b[i].is_null = &nul[i];
        b[i].length = &len[i];
        if (fl) {
            b[i].buffer_type = f[i].type == MYSQL_TYPE_INT24  ? MYSQL_TYPE_LONG
                               : f[i].type == MYSQL_TYPE_YEAR ? MYSQL_TYPE_SHORT
                                                              : f[i].type;
            b[i].is_unsigned = (f[i].flags & UNSIGNED_FLAG) != 0;
            buf[i] = calloc(1, 8);
            b[i].buffer_length = 8;
        } else if (is_temporal(f[i].type)) {
            b[i].buffer_type = f[i].type;
            b[i].buffer = &t[i];
            b[i].buffer_length = sizeof(t[i]);
            continue;
        } else {
            b[i].buffer_type = MYSQL_TYPE_BLOB;
            b[i].buffer_length = f[i].max_length + 1;
            buf[i] = malloc(b[i].buffer_length);
        }
        b[i].buffer = buf[i];
        ok = buf[i] != NULL;
    }
    if (ok && mysql_stmt_bind_result(st, b) == 0) {
        size_t nb = (n + 7 + 2) / 8;
        uint8_t *bm = calloc(nb + 1, 1);
        int rc;
        while (bm && ((rc = mysql_stmt_fetch(st)) == 0 || rc == MYSQL_DATA_TRUNCATED)) {
            uint8_t zero = 0;
            uint64_t h = proto_cap_fnv(r->sum, &zero, 1);
            memset(bm, 0, nb);
            for (unsigned i = 0; i < n; i++) {
                if (nul[i]) {
                    bm[(i + 2) / 8] |= (uint8_t)(1u << ((i + 2) % 8));
                }
            }
            h = proto_cap_fnv(h, bm, nb);
            for (unsigned i = 0; i < n; i++) {
                if (nul[i]) {
                    continue;
                }
                size_t fl = fixed_len((uint8_t)f[i].type);
                if (fl) {
                    /* INT24 travels as 4 bytes, YEAR as 2 */
                    h = proto_cap_fnv(h, buf[i], fl);
                } else if (is_temporal(f[i].type)) {
                    h = time_sum(h, f[i].type, &t[i]);
                } else {
                    unsigned long l = len[i] < b[i].buffer_length ? len[i] : b[i].buffer_length;
                    h = lenenc_sum(h, len[i]);
                    h = proto_cap_fnv(h, buf[i], l);
                }
            }
            r->sum = h;
            r->rows++;
        }
        free(bm);
        r->summed = true;
    }
    for (unsigned i = 0; buf && i < n; i++) {
        free(buf[i]);
    }
    free(buf);
    free(len);
    free(nul);
    free(t);
    free(b);
    mysql_free_result(meta);
    mysql_stmt_free_result(st);
}

/* ---- commands ---- */

static void
rs_wrap_query(struct rsess *r, const char *q)
{
    r->state = RS_WRAP;
    snprintf(r->q, sizeof(r->q), "%s", q);
    rs_after(r, mysql_real_query_start(&r->ret_int, r->my, r->q, (unsigned long)strlen(r->q)));
}

/* The command r->next is due: skip it, wrap it or run it. */
static void
rs_start_cmd(struct rsess *r)
{
    struct reng *e = r->e;
    struct replay_cmd *c = rs_cmd(r);
    int64_t due = due_at(e, c->t_start_us), now = mono_us();
    if (due && now - due > e->lag_max) {
        e->lag_max = now - due;
    }
    r->sum = PROTO_CAP_FNV_INIT;
    r->rows = 0;
    r->summed = false;
    r->wrap = 0;
    r->res[r->next].affected = 0;
    r->res[r->next].lag_us = due && now > due ? now - due : 0;
    if (c->cut) {
        rs_unsupported(r, c->cmd == PROTO_COM_STMT_EXECUTE && c->n_params ? REPLAY_WHY_CUT_PARAM
                                                                          : REPLAY_WHY_CUT_TEXT);
        return;
    }
    bool stmt_cmd = c->cmd == PROTO_COM_QUERY || c->cmd == PROTO_COM_STMT_EXECUTE;
    if (stmt_cmd && c->write) {
        if (e->o->mode == REPLAY_READ_ONLY || (e->o->mode == REPLAY_ROLLBACK && !c->dml)) {
            rs_cmd_end(r, REPLAY_SKIPPED_WRITE, 0);
            return;
        }
        if (e->o->mode == REPLAY_ROLLBACK) {
            r->wrap = 1;
            r->wrap_savepoint = (r->my->server_status & SERVER_STATUS_IN_TRANS) != 0;
            rs_wrap_query(r, r->wrap_savepoint ? "SAVEPOINT slowtap_replay" : "START TRANSACTION");
            return;
        }
    }
    rs_main_cmd(r);
}

static void
rs_main_cmd(struct rsess *r)
{
    struct replay_cmd *c = rs_cmd(r);
    r->t0 = mono_us();
    switch (c->cmd) {
    case PROTO_COM_QUERY:
        if (!c->text) {
            break;
        }
        r->state = RS_QUERY;
        if (c->text_len < 64 && rs_map_kill(r, c->text, c->text_len)) {
            rs_after(r,
                     mysql_real_query_start(&r->ret_int, r->my, r->q, (unsigned long)strlen(r->q)));
            return;
        }
        rs_after(r,
                 mysql_real_query_start(&r->ret_int, r->my, c->text, (unsigned long)c->text_len));
        return;
    case PROTO_COM_RESET_CONNECTION:
    case PROTO_COM_CHANGE_USER:
        /* COM_RESET_CONNECTION as captured; for a change of user: the user stays the target's: the session's state is reset as a change of user does
         * (variables, temporary tables, prepared statements), then the new schema is used */
        for (size_t i = 0; i < r->nstmts; i++) {
            r->stmts[i].cap_id = 0;
        }
        r->state = RS_RESET;
        rs_after(r, mysql_reset_connection_start(&r->ret_int, r->my));
        return;
    case PROTO_COM_INIT_DB:
        if (!c->text) {
            break;
        }
        r->state = RS_SELECTDB;
        rs_after(r, mysql_select_db_start(&r->ret_int, r->my, c->text));
        return;
    case PROTO_COM_PING:
        r->state = RS_PING;
        rs_after(r, mysql_ping_start(&r->ret_int, r->my));
        return;
    case PROTO_COM_QUIT:
        rs_cmd_end(r, REPLAY_RAN, 0);
        return;
    case PROTO_COM_STMT_PREPARE: {
        if (!c->text) {
            break;
        }
        MYSQL_STMT *st = mysql_stmt_init(r->my);
        if (!st) {
            break;
        }
        my_bool yes = 1;
        mysql_stmt_attr_set(st, STMT_ATTR_UPDATE_MAX_LENGTH, &yes);
        if (r->nstmts == r->capstmts) {
            size_t ncap = r->capstmts ? r->capstmts * 2 : 8;
            struct rs_stmt *ns = realloc(r->stmts, ncap * sizeof(*ns));
            if (!ns) {
                mysql_stmt_close(st);
                break;
            }
            r->stmts = ns;
            r->capstmts = ncap;
        }
        r->stmts[r->nstmts++] = (struct rs_stmt){.cap_id = c->prepare_id, .st = st};
        r->cur = st;
        r->state = RS_PREPARE;
        rs_after(r, mysql_stmt_prepare_start(&r->ret_int, st, c->text, (unsigned long)c->text_len));
        return;
    }
    case PROTO_COM_STMT_EXECUTE: {
        struct rs_stmt *m = rs_stmt_find(r, c->stmt_id);
        if (!m || !m->st) {
            rs_unsupported(r, m ? REPLAY_WHY_PREPARE_FAILED : REPLAY_WHY_NO_PREPARE);
            return;
        }
        MYSQL_BIND *b = NULL;
        MYSQL_TIME *t = NULL;
        if (!rs_bind_params(m->st, c, &b, &t)) {
            rs_unsupported(r, REPLAY_WHY_BIND);
            return;
        }
        free(r->pb);
        free(r->pt);
        r->pb = b;
        r->pt = t;
        r->cur = m->st;
        r->state = RS_EXECUTE;
        rs_after(r, mysql_stmt_execute_start(&r->ret_int, m->st));
        return;
    }
    case PROTO_COM_STMT_CLOSE: {
        struct rs_stmt *m = rs_stmt_find(r, c->stmt_id);
        if (!m || !m->st) {
            rs_cmd_end(r, REPLAY_RAN, 0);
            return;
        }
        r->cur = m->st;
        m->st = NULL;
        m->cap_id = 0;
        r->state = RS_STMT_CLOSE;
        rs_after(r, mysql_stmt_close_start(&r->ret_bool, r->cur));
        return;
    }
    case PROTO_COM_STMT_RESET: {
        struct rs_stmt *m = rs_stmt_find(r, c->stmt_id);
        if (!m || !m->st) {
            rs_unsupported(r, m ? REPLAY_WHY_PREPARE_FAILED : REPLAY_WHY_NO_PREPARE);
            return;
        }
        r->cur = m->st;
        r->state = RS_STMT_RESET;
        rs_after(r, mysql_stmt_reset_start(&r->ret_bool, m->st));
        return;
    }
    case PROTO_COM_STMT_BULK_EXECUTE:
        rs_unsupported(r, REPLAY_WHY_BULK);
        return;
    default:
        break;
    }
    rs_unsupported(r, REPLAY_WHY_COMMAND);
}

/* The main command ended with err: unwrap a rolled-back write, or record it. */
static void
rs_main_end(struct rsess *r, uint16_t err)
{
    struct replay_res *x = &r->res[r->next];
    x->us = mono_us() - r->t0;
    x->err = err;
    if (r->wrap == 1) {
        r->wrap = 2;
        rs_wrap_query(r, r->wrap_savepoint ? "ROLLBACK TO SAVEPOINT slowtap_replay" : "ROLLBACK");
        return;
    }
    int64_t us = x->us;
    uint64_t aff = x->affected;
    rs_cmd_end(r, REPLAY_RAN, err);
    r->res[r->next - 1].us = us; /* the command's own time, not the wrap's */
    r->res[r->next - 1].affected = aff;
}

static void
rs_done_op(struct rsess *r)
{
    struct replay_res *x = r->next < r->s->ncmds ? &r->res[r->next] : NULL;
    switch (r->state) {
    case RS_CONNECT:
        if (!r->ret_my) {
            r->run->connect_failed++;
            if (!r->run->first_connect_err[0]) {
                snprintf(r->run->first_connect_err, sizeof(r->run->first_connect_err), "%s",
                         mysql_error(r->my));
            }
            for (size_t i = 0; i < r->s->ncmds; i++) {
                r->res[i].outcome = REPLAY_NO_SESSION;
            }
            rs_mark_done(r, 0, r->s->ncmds);
            r->next = r->s->ncmds;
            r->state = RS_CLOSE; /* nothing to close on the wire: free it */
            mysql_close(r->my);
            r->my = NULL;
            r->state = RS_IDLE;
            r->ready = true;
            if (r->pair) {
                rs_step(r);
            } else {
                rs_finish_session(r);
            }
            return;
        }
        r->setup_i = 0;
        if (!rs_setup_next(r)) {
            r->state = RS_IDLE;
            r->ready = true;
            rs_step(r);
        }
        return;
    case RS_SETUP:
        if (r->ret_int == 0 && mysql_field_count(r->my) > 0) {
            MYSQL_RES *res = mysql_store_result(r->my); /* none expected */
            mysql_free_result(res);
        }
        if (!rs_setup_next(r)) {
            r->state = RS_IDLE;
            r->ready = true;
            rs_step(r);
        }
        return;
    case RS_WRAP:
        if (r->wrap == 1) {
            rs_main_cmd(r);
        } else {
            struct replay_res keep = *x;
            rs_cmd_end(r, REPLAY_RAN, keep.err);
            r->res[r->next - 1].us = keep.us;
            r->res[r->next - 1].affected = keep.affected;
            r->res[r->next - 1].checked = false;
        }
        return;
    case RS_QUERY:
    case RS_NEXT:
        if (r->ret_int > 0 || (r->state == RS_QUERY && r->ret_int != 0)) {
            rs_main_end(r, (uint16_t)mysql_errno(r->my));
            return;
        }
        if (r->state == RS_NEXT && r->ret_int == -1) {
            rs_main_end(r, 0);
            return;
        }
        if (mysql_field_count(r->my) == 0) {
            x->affected += mysql_affected_rows(r->my);
            if (mysql_more_results(r->my)) {
                r->state = RS_NEXT;
                rs_after(r, mysql_next_result_start(&r->ret_int, r->my));
                return;
            }
            rs_main_end(r, 0);
            return;
        }
        r->state = RS_STORE;
        rs_after(r, mysql_store_result_start(&r->ret_res, r->my));
        return;
    case RS_STORE:
        if (!r->ret_res) {
            rs_main_end(r, (uint16_t)mysql_errno(r->my));
            return;
        }
        {
            unsigned n = mysql_num_fields(r->ret_res);
            MYSQL_ROW row;
            while ((row = mysql_fetch_row(r->ret_res)) != NULL) {
                r->sum = replay_text_row_sum(r->sum, row, mysql_fetch_lengths(r->ret_res), n);
                r->rows++;
            }
            r->summed = true;
            mysql_free_result(r->ret_res);
            r->ret_res = NULL;
        }
        if (mysql_more_results(r->my)) {
            r->state = RS_NEXT;
            rs_after(r, mysql_next_result_start(&r->ret_int, r->my));
            return;
        }
        rs_main_end(r, 0);
        return;
    case RS_SELECTDB:
    case RS_PING:
        rs_main_end(r, r->ret_int ? (uint16_t)mysql_errno(r->my) : 0);
        return;
    case RS_PREPARE:
        if (r->ret_int) {
            uint16_t err = (uint16_t)mysql_stmt_errno(r->cur);
            /* drop the failed statement: a later execute of its id is not replayed */
            for (size_t i = 0; i < r->nstmts; i++) {
                if (r->stmts[i].st == r->cur) {
                    r->stmts[i].cap_id = 0;
                }
            }
            rs_main_end(r, err);
            return;
        }
        rs_main_end(r, 0);
        return;
    case RS_EXECUTE:
        if (r->ret_int) {
            rs_main_end(r, (uint16_t)mysql_stmt_errno(r->cur));
            return;
        }
        if (mysql_stmt_field_count(r->cur) == 0) {
            x->affected = mysql_stmt_affected_rows(r->cur);
            if (mysql_stmt_more_results(r->cur)) {
                r->state = RS_STMT_NEXT;
                rs_after(r, mysql_stmt_next_result_start(&r->ret_int, r->cur));
                return;
            }
            rs_main_end(r, 0);
            return;
        }
        r->state = RS_STMT_STORE;
        rs_after(r, mysql_stmt_store_result_start(&r->ret_int, r->cur));
        return;
    case RS_STMT_STORE:
        if (r->ret_int) {
            rs_main_end(r, (uint16_t)mysql_stmt_errno(r->cur));
            return;
        }
        rs_stmt_rows(r);
        if (mysql_stmt_more_results(r->cur)) { /* CALL: more result sets, then its OK */
            r->state = RS_STMT_NEXT;
            rs_after(r, mysql_stmt_next_result_start(&r->ret_int, r->cur));
            return;
        }
        rs_main_end(r, 0);
        return;
    case RS_STMT_NEXT:
        if (r->ret_int > 0) {
            rs_main_end(r, (uint16_t)mysql_stmt_errno(r->cur));
            return;
        }
        if (r->ret_int == 0 && mysql_stmt_field_count(r->cur) > 0) {
            r->state = RS_STMT_STORE;
            rs_after(r, mysql_stmt_store_result_start(&r->ret_int, r->cur));
            return;
        }
        if (r->ret_int == 0 && mysql_stmt_more_results(r->cur)) {
            rs_after(r, mysql_stmt_next_result_start(&r->ret_int, r->cur));
            return;
        }
        rs_main_end(r, 0);
        return;
    case RS_RESET:
        if (r->ret_int) {
            rs_main_end(r, (uint16_t)mysql_errno(r->my));
            return;
        }
        {
            /* the schema the change of user named: the one the next command runs in */
            const char *db = r->next + 1 < r->s->ncmds ? r->s->cmds[r->next + 1].schema : "";
            if (db && db[0]) {
                r->state = RS_SELECTDB;
                rs_after(r, mysql_select_db_start(&r->ret_int, r->my, db));
                return;
            }
        }
        rs_main_end(r, 0);
        return;
    case RS_STMT_CLOSE:
        r->cur = NULL;
        rs_main_end(r, 0);
        return;
    case RS_STMT_RESET:
        rs_main_end(r, r->ret_bool ? (uint16_t)mysql_stmt_errno(r->cur) : 0);
        return;
    case RS_CLOSE:
        r->my = NULL;
        r->state = RS_IDLE;
        rs_finish_session(r);
        return;
    default:
        return;
    }
}

static void
progress_cb(evutil_socket_t fd, short what, void *arg)
{
    struct reng *e = arg;
    int64_t now = mono_us();
    uint64_t handled = 0, ran = 0;
    for (int k = 0; k < e->nsides; k++) {
        handled += e->run[k].ran + e->run[k].skipped_write + e->run[k].unsupported;
        ran += e->run[k].ran;
    }
    double dt = (double)(now - e->last_prog) / 1e6;
    char where[600];
    if (e->nsides == 2) {
        snprintf(where, sizeof(where), "%.256s:%u + %.256s:%u", e->u[0]->host, e->u[0]->port,
                 e->u[1]->host, e->u[1]->port);
    } else {
        snprintf(where, sizeof(where), "%.256s:%u", e->u[0]->host, e->u[0]->port);
    }
    fprintf(e->o->err,
            "slowtap replay: %s  sessions %zu open, %zu/%zu done  commands %llu/%zu  "
            "%.0f/s  lag %.0f ms\n",
            where, e->open, e->done, e->nss, (unsigned long long)handled,
            e->cap->ncmds * (size_t)e->nsides, dt > 0 ? (double)(ran - e->ran_last) / dt : 0.0,
            (double)e->lag_max / 1000.0);
    e->ran_last = ran;
    e->last_prog = now;
    e->lag_max = 0;
}

bool
replay_run_sides(const struct replay_cap *cap, const struct replay_uri *const *u, int nsides,
                 const struct replay_opts *o, struct replay_run *runs)
{
    struct reng e = {.cap = cap, .u = u, .o = o, .run = runs, .nsides = nsides};
    for (int k = 0; k < nsides; k++) {
        runs[k] = (struct replay_run){0};
    }
    e.base = event_base_new();
    e.nss = cap->ns * (size_t)nsides;
    e.ss = calloc(e.nss ? e.nss : 1, sizeof(*e.ss));
    bool ok = e.base && e.ss;
    for (int k = 0; ok && k < nsides; k++) {
        runs[k].res = calloc(cap->ns ? cap->ns : 1, sizeof(*runs[k].res));
        ok = runs[k].res != NULL;
        runs[k].ns = ok ? cap->ns : 0;
        for (size_t i = 0; ok && i < cap->ns; i++) {
            runs[k].res[i] = calloc(cap->s[i].ncmds ? cap->s[i].ncmds : 1, sizeof(**runs[k].res));
            ok = runs[k].res[i] != NULL;
        }
    }
    if (ok && o->in_order) {
        /* every command by its captured end, per side its done flags */
        e.ncmds = 0;
        e.flat_base = calloc(cap->ns ? cap->ns : 1, sizeof(*e.flat_base));
        for (size_t i = 0; e.flat_base && i < cap->ns; i++) {
            e.flat_base[i] = e.ncmds;
            e.ncmds += cap->s[i].ncmds;
        }
        e.byend = calloc(e.ncmds ? e.ncmds : 1, sizeof(*e.byend));
        e.parked = calloc(e.nss ? e.nss : 1, sizeof(*e.parked));
        for (int k = 0; k < nsides; k++) {
            e.cmd_done[k] = calloc(e.ncmds ? e.ncmds : 1, sizeof(bool));
            ok = ok && e.cmd_done[k];
        }
        ok = ok && e.flat_base && e.byend && e.parked;
        for (size_t i = 0, f = 0; ok && i < cap->ns; i++) {
            for (size_t c = 0; c < cap->s[i].ncmds; c++, f++) {
                e.byend[f] = (struct rs_ord){.cap_end = cap->s[i].cmds[c].t_end_us, .flat = f};
            }
        }
        if (ok) {
            qsort(e.byend, e.ncmds, sizeof(*e.byend), rs_ord_cmp);
        } else {
            free(e.byend);
            e.byend = NULL; /* no order: the gate is open */
        }
    }
    e.start_mono = mono_us();
    e.last_prog = e.start_mono;
    for (size_t x = 0; ok && x < e.nss; x++) {
        size_t i = x % (cap->ns ? cap->ns : 1);
        int k = (int)(x / (cap->ns ? cap->ns : 1));
        struct rsess *r = &e.ss[x];
        *r = (struct rsess){.e = &e,
                            .u = u[k],
                            .run = &runs[k],
                            .side = k,
                            .pair = nsides == 2 ? &e.ss[(size_t)(1 - k) * cap->ns + i] : NULL,
                            .si = i,
                            .s = &cap->s[i],
                            .res = runs[k].res[i]};
        r->timer = evtimer_new(e.base, rs_timer_cb, r);
        ok = r->timer != NULL;
        int64_t due = due_at(&e, cap->s[i].t_us), now = mono_us();
        struct timeval tv = {0, 0};
        if (due > now) {
            tv.tv_sec = (time_t)((due - now) / 1000000);
            tv.tv_usec = (suseconds_t)((due - now) % 1000000);
        }
        ok = ok && event_base_once(e.base, -1, EV_TIMEOUT, rs_connect_cb, r, &tv) == 0;
    }
    if (ok && o->progress && o->err) {
        e.progress = event_new(e.base, -1, EV_PERSIST, progress_cb, &e);
        struct timeval ptv = {RP_PROGRESS_S, 0};
        if (e.progress) {
            event_add(e.progress, &ptv);
        }
    }
    if (ok && e.nss) {
        event_base_dispatch(e.base);
    }
    double wall = (double)(mono_us() - e.start_mono) / 1e6;
    for (int k = 0; k < nsides; k++) {
        runs[k].wall_s = wall;
    }
    if (e.progress) {
        progress_cb(-1, 0, &e);
        event_free(e.progress);
    }
    for (size_t x = 0; e.ss && x < e.nss; x++) {
        if (e.ss[x].ev) {
            event_free(e.ss[x].ev);
        }
        if (e.ss[x].timer) {
            event_free(e.ss[x].timer);
        }
    }
    free(e.ss);
    free(e.byend);
    free(e.flat_base);
    free(e.parked);
    free(e.cmd_done[0]);
    free(e.cmd_done[1]);
    if (e.base) {
        event_base_free(e.base);
    }
    if (!ok) {
        for (int k = 0; k < nsides; k++) {
            replay_run_free(&runs[k]);
        }
    }
    return ok;
}

bool
replay_run(const struct replay_cap *cap, const struct replay_uri *u, const struct replay_opts *o,
           struct replay_run *run)
{
    return replay_run_sides(cap, &u, 1, o, run);
}

void
replay_run_free(struct replay_run *run)
{
    for (size_t i = 0; run->res && i < run->ns; i++) {
        free(run->res[i]);
    }
    free(run->res);
    *run = (struct replay_run){0};
}
