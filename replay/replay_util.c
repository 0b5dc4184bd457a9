/*
 * replay_util.c - the pure parts of the replay: the target URI, the statistics that decide
 * "faster" / "slower" / "same", the read/write classification of statements and the text
 * row checksum. No I/O.
 */
#include "replay/replay.h"

#include <ctype.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_capture.h"
#include "protocol/proto_wire.h"
#include "protocol/proto_sqllex.h"

/* ---- URI ---- */

static int
uri_hex(int c)
{
    if (c >= '0' && c <= '9') {
        return c - '0';
    }
    c = tolower(c);
    return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* Copies s[0..n) percent-decoded into out[cap]; false when it does not fit or is malformed. */
static bool
uri_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        int c = (unsigned char)s[i];
        if (c == '%') {
            if (i + 2 >= n) {
                return false;
            }
            int h = uri_hex((unsigned char)s[i + 1]), l = uri_hex((unsigned char)s[i + 2]);
            if (h < 0 || l < 0) {
                return false;
            }
            c = h * 16 + l;
            i += 2;
        }
        if (c == 0 || o + 1 >= cap) {
            return false;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

bool
replay_uri_parse(const char *s, struct replay_uri *u, char *err, size_t errcap)
{
    *u = (struct replay_uri){.port = 3306};
    static const char scheme[] = "mysql://";
    if (!s || strncmp(s, scheme, sizeof(scheme) - 1) != 0) {
        snprintf(err, errcap, "not a mysql:// URI");
        return false;
    }
    const char *p = s + sizeof(scheme) - 1;
    const char *at = strrchr(p, '@');
    if (!at) {
        snprintf(err, errcap, "no user@ in the URI");
        return false;
    }
    const char *colon = memchr(p, ':', (size_t)(at - p));
    size_t ulen = colon ? (size_t)(colon - p) : (size_t)(at - p);
    if (ulen == 0 || !uri_decode(p, ulen, u->user, sizeof(u->user))) {
        snprintf(err, errcap, "bad or empty user in the URI");
        return false;
    }
    if (colon) {
        if (!uri_decode(colon + 1, (size_t)(at - colon - 1), u->password, sizeof(u->password))) {
            snprintf(err, errcap, "bad password in the URI");
            return false;
        }
        u->has_password = true;
    }
    const char *h = at + 1;
    const char *slash = strchr(h, '/');
    const char *hend = slash ? slash : h + strlen(h);
    const char *pc = NULL;
    if (*h == '[') { /* [ipv6]:port */
        const char *rb = memchr(h, ']', (size_t)(hend - h));
        if (!rb || rb == h + 1 || (size_t)(rb - h - 1) >= sizeof(u->host)) {
            snprintf(err, errcap, "bad host in the URI");
            return false;
        }
        memcpy(u->host, h + 1, (size_t)(rb - h - 1));
        u->host[rb - h - 1] = '\0';
        if (rb + 1 < hend) {
            if (rb[1] != ':') {
                snprintf(err, errcap, "bad host in the URI");
                return false;
            }
            pc = rb + 1;
        }
    } else {
        pc = memchr(h, ':', (size_t)(hend - h));
        const char *e = pc ? pc : hend;
        if (e == h || (size_t)(e - h) >= sizeof(u->host)) {
            snprintf(err, errcap, "no host in the URI");
            return false;
        }
        memcpy(u->host, h, (size_t)(e - h));
        u->host[e - h] = '\0';
    }
    if (pc) {
        unsigned long port = 0;
        const char *d = pc + 1;
        if (d == hend) {
            snprintf(err, errcap, "empty port in the URI");
            return false;
        }
        for (; d < hend; d++) {
            if (!isdigit((unsigned char)*d) ||
                (port = port * 10 + (unsigned long)(*d - '0')) > 65535) {
                snprintf(err, errcap, "bad port in the URI");
                return false;
            }
        }
        if (port == 0) {
            snprintf(err, errcap, "bad port in the URI");
            return false;
        }
        u->port = (unsigned)port;
    }
    if (slash && slash[1]) {
        if (strchr(slash + 1, '/') || strchr(slash + 1, '?') ||
            !uri_decode(slash + 1, strlen(slash + 1), u->schema, sizeof(u->schema))) {
            snprintf(err, errcap, "bad schema in the URI");
            return false;
        }
    }
    return true;
}

/* ---- statistics ---- */

static int
dbl_cmp(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

double
replay_quantile(double *v, size_t n, double q)
{
    if (n == 0) {
        return 0;
    }
    qsort(v, n, sizeof(*v), dbl_cmp);
    double r = ceil(q * (double)n);
    size_t i = r < 1 ? 0 : (size_t)r - 1;
    return v[i < n ? i : n - 1];
}

struct mwu_item {
    double v;
    int side;
};

static int
mwu_cmp(const void *a, const void *b)
{
    return dbl_cmp(&((const struct mwu_item *)a)->v, &((const struct mwu_item *)b)->v);
}

double
replay_mwu_p(const double *a, size_t na, const double *b, size_t nb)
{
    if (na == 0 || nb == 0) {
        return 1;
    }
    size_t n = na + nb;
    struct mwu_item *it = malloc(n * sizeof(*it));
    if (!it) {
        return 1;
    }
    for (size_t i = 0; i < na; i++) {
        it[i] = (struct mwu_item){.v = a[i], .side = 0};
    }
    for (size_t i = 0; i < nb; i++) {
        it[na + i] = (struct mwu_item){.v = b[i], .side = 1};
    }
    qsort(it, n, sizeof(*it), mwu_cmp);
    double ra = 0, ties = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i;
        while (j < n && it[j].v == it[i].v) {
            j++;
        }
        double rank = ((double)i + 1 + (double)j) / 2.0, t = (double)(j - i);
        ties += t * t * t - t;
        for (size_t k = i; k < j; k++) {
            if (it[k].side == 0) {
                ra += rank;
            }
        }
        i = j;
    }
    free(it);
    double dna = (double)na, dnb = (double)nb, dn = (double)n;
    double u = ra - dna * (dna + 1) / 2;
    double mu = dna * dnb / 2;
    double var = dna * dnb / 12.0 * ((dn + 1) - ties / (dn * (dn - 1)));
    if (var <= 0) {
        return 1;
    }
    double z = (fabs(u - mu) - 0.5) / sqrt(var);
    if (z < 0) {
        z = 0;
    }
    return erfc(z / sqrt(2.0));
}

static double
median_of(const double *v, size_t n)
{
    double *c = malloc((n ? n : 1) * sizeof(*c));
    if (!c) {
        return 0;
    }
    if (n) { /* v may be NULL when there is nothing */
        memcpy(c, v, n * sizeof(*c));
    }
    double m = replay_quantile(c, n, 0.5);
    free(c);
    return m;
}

enum replay_verdict
replay_decide(const double *a, size_t na, const double *b, size_t nb, const double *run_a,
              const double *run_b, size_t nruns)
{
    if (na < REPLAY_MIN_SAMPLES || nb < REPLAY_MIN_SAMPLES) {
        return REPLAY_FEW;
    }
    double ma = median_of(a, na), mb = median_of(b, nb);
    if (ma <= 0) {
        return REPLAY_SAME;
    }
    double ratio = mb / ma;
    if (fabs(mb - ma) < REPLAY_MIN_DIFF_US || replay_mwu_p(a, na, b, nb) >= REPLAY_P_MAX) {
        return REPLAY_SAME;
    }
    enum replay_verdict v = ratio < REPLAY_RATIO_FAST   ? REPLAY_FASTER
                            : ratio > REPLAY_RATIO_SLOW ? REPLAY_SLOWER
                                                        : REPLAY_SAME;
    if (v != REPLAY_SAME && nruns >= 2 && run_a && run_b) {
        double amin = run_a[0], amax = run_a[0], bmin = run_b[0], bmax = run_b[0];
        for (size_t i = 1; i < nruns; i++) {
            amin = fmin(amin, run_a[i]);
            amax = fmax(amax, run_a[i]);
            bmin = fmin(bmin, run_b[i]);
            bmax = fmax(bmax, run_b[i]);
        }
        if ((v == REPLAY_FASTER && !(bmax < amin)) || (v == REPLAY_SLOWER && !(bmin > amax))) {
            v = REPLAY_SAME;
        }
    }
    return v;
}

const char *
replay_verdict_name(enum replay_verdict v)
{
    switch (v) {
    case REPLAY_FASTER:
        return "faster";
    case REPLAY_SLOWER:
        return "slower";
    case REPLAY_FEW:
        return "too few";
    default:
        return "same";
    }
}

/* ---- classification ---- */

/* The first word of the statement (after blanks and opening parentheses), lowercased into
 * w[cap]; "" when none. */
static void
first_word(const char *sql, size_t len, unsigned sqlmode, char *w, size_t cap)
{
    struct proto_sqllex lx;
    struct proto_sqltok t;
    proto_sqllex_init(&lx, sql, len, sqlmode);
    w[0] = '\0';
    while (proto_sqllex_next(&lx, &t) != PROTO_TOK_END) {
        if (proto_sqltok_blank(&t) || proto_sqltok_op_is(&lx, &t, "(")) {
            continue;
        }
        if (t.kind == PROTO_TOK_WORD) {
            size_t n = t.end - t.start;
            if (n >= cap) {
                n = cap - 1;
            }
            for (size_t i = 0; i < n; i++) {
                w[i] = (char)tolower((unsigned char)sql[t.start + i]);
            }
            w[n] = '\0';
        }
        return;
    }
}

bool
replay_is_dml(const char *sql, size_t len, unsigned sqlmode)
{
    char w[16];
    first_word(sql, len, sqlmode, w, sizeof(w));
    return strcmp(w, "insert") == 0 || strcmp(w, "replace") == 0 || strcmp(w, "update") == 0 ||
           strcmp(w, "delete") == 0;
}

bool
replay_is_write(const char *sql, size_t len, unsigned sqlmode)
{
    static const char *const reads[] = {
        "select", "show",  "set",   "use",     "describe", "desc",      "explain", "help",
        "do",     "begin", "start", "commit",  "rollback", "savepoint", "release", "values",
        "table",  "with",  "xa",    "analyze", "checksum", "check",
    };
    char w[16];
    first_word(sql, len, sqlmode, w, sizeof(w));
    if (!w[0]) {
        return false;
    }
    for (size_t i = 0; i < sizeof(reads) / sizeof(reads[0]); i++) {
        if (strcmp(w, reads[i]) == 0) {
            /* SELECT ... INTO OUTFILE, WITH ... UPDATE: a write after all; a ; too */
            struct proto_sqllex lx;
            struct proto_sqltok t;
            proto_sqllex_init(&lx, sql, len, sqlmode);
            while (proto_sqllex_next(&lx, &t) != PROTO_TOK_END) {
                if (proto_sqltok_word_is(&lx, &t, "outfile") ||
                    proto_sqltok_word_is(&lx, &t, "dumpfile") ||
                    (strcmp(w, "with") == 0 && (proto_sqltok_word_is(&lx, &t, "update") ||
                                                proto_sqltok_word_is(&lx, &t, "delete") ||
                                                proto_sqltok_word_is(&lx, &t, "insert"))) ||
                    (strcmp(w, "set") == 0 && proto_sqltok_word_is(&lx, &t, "global")) ||
                    proto_sqltok_op_is(&lx, &t, ";")) {
                    return true;
                }
            }
            return false;
        }
    }
    return true;
}

uint64_t
replay_text_row_sum(uint64_t h, char **row, const unsigned long *lens, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        uint8_t pre[9] = {0xfb}; /* NULL */
        if (!row[i]) {
            h = proto_cap_fnv(h, pre, 1);
            continue;
        }
        size_t pl = proto_put_lenenc(pre, lens[i]);
        h = proto_cap_fnv(h, pre, pl);
        h = proto_cap_fnv(h, row[i], lens[i]);
    }
    return h;
}

/* ---- results a replay cannot be expected to reproduce ---- */

struct unstable_name {
    const char *name;
    const char *why;
    bool bare; /* also without parentheses (CURRENT_TIMESTAMP, CURRENT_USER ...) */
};

#define UNST_TIME "it reads the clock (NOW(), CURRENT_TIMESTAMP, SYSDATE() ...)"
#define UNST_RAND "it is random (RAND(), UUID() ...)"
#define UNST_WHO  "it reads the session's identity (CURRENT_USER(), CONNECTION_ID() ...)"
#define UNST_LAST "it reads the previous statement's state (LAST_INSERT_ID(), ROW_COUNT() ...)"
#define UNST_SERVER                                                                                \
    "it reads the server's identity or state (@@hostname, VERSION(), SHOW STATUS ...)"
#define UNST_LOCK "it takes or reads a user lock another session may hold (GET_LOCK() ...)"

static const struct unstable_name unstable_names[] = {
    {"now", UNST_TIME, false},
    {"sysdate", UNST_TIME, false},
    {"curdate", UNST_TIME, false},
    {"curtime", UNST_TIME, false},
    {"current_timestamp", UNST_TIME, true},
    {"current_date", UNST_TIME, true},
    {"current_time", UNST_TIME, true},
    {"localtime", UNST_TIME, true},
    {"localtimestamp", UNST_TIME, true},
    {"utc_timestamp", UNST_TIME, true},
    {"utc_date", UNST_TIME, true},
    {"utc_time", UNST_TIME, true},
    {"unix_timestamp", UNST_TIME, false},
    {"rand", UNST_RAND, false},
    {"uuid", UNST_RAND, false},
    {"uuid_short", UNST_RAND, false},
    {"sys_guid", UNST_RAND, false},
    {"random_bytes", UNST_RAND, false},
    {"connection_id", UNST_WHO, false},
    {"current_user", UNST_WHO, true},
    {"current_role", UNST_WHO, true},
    {"user", UNST_WHO, false},
    {"session_user", UNST_WHO, false},
    {"system_user", UNST_WHO, false},
    {"last_insert_id", UNST_LAST, false},
    {"row_count", UNST_LAST, false},
    {"found_rows", UNST_LAST, false},
    {"version", UNST_SERVER, false},
    {"get_lock", UNST_LOCK, false},
    {"release_lock", UNST_LOCK, false},
    {"release_all_locks", UNST_LOCK, false},
    {"is_free_lock", UNST_LOCK, false},
    {"is_used_lock", UNST_LOCK, false},
};

/* @@variables that name the server or the connection, or count what happened before */
static const char *const unstable_vars[] = {
    "hostname",
    "server_id",
    "port",
    "socket",
    "server_uuid",
    "pseudo_thread_id",
    "timestamp",
    "version",
    "version_comment",
    "datadir",
    "basedir",
    "pid_file",
    "tmpdir",
    "log_error",
    "general_log_file",
    "slow_query_log_file",
    "gtid_binlog_pos",
    "gtid_current_pos",
    "gtid_binlog_state",
    "gtid_slave_pos",
    "last_insert_id",
    "identity",
    "insert_id",
    "warning_count",
    "error_count",
    "rand_seed1",
    "rand_seed2",
    "last_gtid",
    "in_transaction",
    "proxy_user",
    "external_user",
    "session_track_system_variables",
};

/* after SHOW: what a replay on another server (or as another user) answers differently */
static const char *const unstable_show[] = {
    "status",
    "global",
    "session",
    "processlist",
    "full",
    "variables",
    "engine",
    "grants",
    "master",
    "slave",
    "binary",
    "binlog",
    "replica",
    "open",
    "table",
    "innodb",
    "privileges",
    "profile",
    "profiles",
    "user_statistics",
    "client_statistics",
    "index_statistics",
    "table_statistics",
};

/* information_schema / performance_schema tables of the server's state */
static const char *const unstable_tables[] = {
    "processlist",
    "global_status",
    "session_status",
    "global_variables",
    "session_variables",
    "user_statistics",
    "client_statistics",
    "table_statistics",
    "index_statistics",
    "user_privileges",
    "schema_privileges",
    "table_privileges",
    "column_privileges",
    "applicable_roles",
    "enabled_roles",
    "tables",
    "partitions",
    "innodb_trx",
    "innodb_locks",
    "innodb_lock_waits",
    "metadata_lock_info",
    "threads",
    "session_account_connect_attrs",
};

static bool
tok_is_any(const struct proto_sqllex *lx, const struct proto_sqltok *t, const char *const *set,
           size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (proto_sqltok_word_is(lx, t, set[i])) {
            return true;
        }
    }
    return false;
}

/* The next token that is not blank (a copy of the cursor reads on). */
static enum proto_tok
next_solid(struct proto_sqllex *lx, struct proto_sqltok *t)
{
    enum proto_tok k;
    while ((k = proto_sqllex_next(lx, t)) != PROTO_TOK_END && proto_sqltok_blank(t)) {
    }
    return k;
}

const char *
replay_unstable(const char *sql, size_t len, unsigned sqlmode)
{
    struct proto_sqllex lx;
    struct proto_sqltok t;
    bool first = true;
    proto_sqllex_init(&lx, sql, len, sqlmode);
    while (next_solid(&lx, &t) != PROTO_TOK_END) {
        struct proto_sqllex ahead = lx;
        struct proto_sqltok n;
        enum proto_tok nk = next_solid(&ahead, &n);
        if (first) {
            first = false;
            if (proto_sqltok_word_is(&lx, &t, "show") && nk == PROTO_TOK_WORD &&
                tok_is_any(&ahead, &n, unstable_show,
                           sizeof unstable_show / sizeof *unstable_show)) {
                return UNST_SERVER;
            }
        }
        if (t.kind == PROTO_TOK_WORD) {
            bool call = nk == PROTO_TOK_OP && proto_sqltok_op_is(&ahead, &n, "(");
            for (size_t i = 0; i < sizeof unstable_names / sizeof *unstable_names; i++) {
                if ((call || unstable_names[i].bare) &&
                    proto_sqltok_word_is(&lx, &t, unstable_names[i].name)) {
                    return unstable_names[i].why;
                }
            }
            /* information_schema.PROCESSLIST, performance_schema.threads ... */
            if ((proto_sqltok_word_is(&lx, &t, "information_schema") ||
                 proto_sqltok_word_is(&lx, &t, "performance_schema")) &&
                nk == PROTO_TOK_OP && proto_sqltok_op_is(&ahead, &n, ".")) {
                struct proto_sqltok tn;
                if (next_solid(&ahead, &tn) != PROTO_TOK_END &&
                    tok_is_any(&ahead, &tn, unstable_tables,
                               sizeof unstable_tables / sizeof *unstable_tables)) {
                    return UNST_SERVER;
                }
            }
        } else if (t.kind == PROTO_TOK_OP && proto_sqltok_op_is(&lx, &t, "@") &&
                   nk == PROTO_TOK_OP && proto_sqltok_op_is(&ahead, &n, "@")) {
            /* @@[global.|session.|local.]name */
            struct proto_sqltok v;
            if (next_solid(&ahead, &v) != PROTO_TOK_WORD) {
                continue;
            }
            if (proto_sqltok_word_is(&ahead, &v, "global") ||
                proto_sqltok_word_is(&ahead, &v, "session") ||
                proto_sqltok_word_is(&ahead, &v, "local")) {
                struct proto_sqltok dot;
                if (next_solid(&ahead, &dot) != PROTO_TOK_OP ||
                    !proto_sqltok_op_is(&ahead, &dot, ".") ||
                    next_solid(&ahead, &v) != PROTO_TOK_WORD) {
                    continue;
                }
            }
            if (tok_is_any(&ahead, &v, unstable_vars,
                           sizeof unstable_vars / sizeof *unstable_vars)) {
                return UNST_SERVER;
            }
        }
    }
    return NULL;
}
