/* corpus_client.c - the transparency corpus's C client (issue 11, item 7).
 *
 * Runs one SQL script of tests/corpus/ over libmariadb and prints, after every statement,
 * everything a client can observe: each field's metadata, the rows (text protocol, or binary
 * protocol through prepared statements), affected rows, insert id, warning count and SHOW
 * WARNINGS, server status flags, session-state-tracking items and errors. The test runs it
 * once directly against MariaDB and once through slowtap and compares the transcripts.
 *
 * usage: corpus_client [--mode text|ps|cursor] HOST PORT USER PASSWORD DB SCRIPT [CMDLOG]
 *
 *   text    every statement by COM_QUERY (mysql_real_query + mysql_use_result)
 *   ps      every statement prepared and executed (binary protocol); statements the server
 *           cannot prepare (ER_UNSUPPORTED_PS) fall back to COM_QUERY, and say so
 *   cursor  as ps, with CURSOR_TYPE_READ_ONLY and a prefetch of 2 rows (COM_STMT_FETCH) for
 *           SELECTs (see corpus_is_select)
 *
 * Script syntax: statements end with the current delimiter at the end of a line (`DELIMITER
 * //` changes it, as in the mariadb CLI; a line holding several statements is sent as one
 * multi-statement query). Whole-line comments outside a statement are skipped. Lines
 * `-- @directive args` (a comment for the CLI) drive this client:
 *
 *   -- @bind V...            the next statement runs prepared (in every mode) with these
 *                            parameters: NULL, an integer, or 'text' (no args: no params)
 *   -- @change-user U P [DB] COM_CHANGE_USER
 *   -- @reset-connection     COM_RESET_CONNECTION
 *   -- @ping                 COM_PING
 *   -- @local-infile 0|1     allow LOAD DATA LOCAL (default 1)
 *   -- @kill-query-after MS  the next statement is killed (KILL QUERY) after MS ms by a
 *                            second connection to the same address
 *   -- @oversize-query       sends a query 1 KiB longer than @@global.max_allowed_packet
 *   -- @client-max-packet N  reconnects with MYSQL_OPT_MAX_ALLOWED_PACKET = N
 *   -- @reconnect            closes the connection and connects again
 *
 * CMDLOG, when given, receives one line per client command sent (kind, rows sent, error
 * code, statement head), so the test can check slowtap's slow log against what was sent.
 * Thread ids are printed only in the `connected` lines, which the test normalises. */

#include <errno.h>
#include <inttypes.h>
#include <mysql.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

enum corpus_mode { CORPUS_TEXT, CORPUS_PS, CORPUS_CURSOR };

/* Sent on connecting, before the script (the test's other clients send the same): the
 * server sets SERVER_QUERY_WAS_SLOW on statements slower than the session's
 * long_query_time, which would make the flag depend on how long a statement happened to
 * take (and on tests that change the global value meanwhile). */
#define CORPUS_INIT_COMMAND "SET SESSION long_query_time = 3600"

#define CORPUS_MAX_PARAMS 32
#define CORPUS_ROWS_SHOWN 20  /* rows printed in full; the rest are summed into a digest */
#define CORPUS_CELL_SHOWN 256 /* longer values are printed as length + digest */

struct corpus_param {
    enum { PARAM_NULL, PARAM_INT, PARAM_TEXT } kind;
    long long i;
    char *s;
};

struct corpus {
    const char *host, *user, *password, *db;
    unsigned port;
    enum corpus_mode mode;
    MYSQL *my;
    FILE *cmdlog;
    bool local_infile;
    unsigned long max_packet; /* 0: libmariadb's default */
    /* set by directives for the next statement */
    bool bind_next;
    int nparams;
    struct corpus_param params[CORPUS_MAX_PARAMS];
    long kill_after_ms; /* <0: none */
};

/* --- output helpers ----------------------------------------------------------------------- */

static uint64_t
corpus_fnv(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

#define CORPUS_FNV_INIT 0xcbf29ce484222325ULL

/* Prints a value: NULL, or quoted with non-printable bytes as \xNN; long ones as length and
 * FNV-1a digest. */
static void
corpus_print_value(const char *v, unsigned long len)
{
    if (v == NULL) {
        fputs("NULL", stdout);
        return;
    }
    if (len > CORPUS_CELL_SHOWN) {
        printf("<%lu bytes fnv %016" PRIx64 ">", len, corpus_fnv(CORPUS_FNV_INIT, v, len));
        return;
    }
    putchar('\'');
    for (unsigned long i = 0; i < len; i++) {
        unsigned char c = (unsigned char)v[i];
        if (c == '\\' || c == '\'') {
            printf("\\%c", c);
        } else if (c < 0x20 || c == 0x7f) {
            printf("\\x%02x", c);
        } else {
            putchar(c); /* UTF-8 bytes as they are */
        }
    }
    putchar('\'');
}

static void
corpus_print_oneline(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '\n') {
            fputs("\\n", stdout);
        } else if (s[i] == '\t') {
            fputs("\\t", stdout);
        } else {
            putchar(s[i]);
        }
    }
}

static void
corpus_cmdlog(struct corpus *c, const char *kind, unsigned long long rows, unsigned err,
              const char *text, size_t n)
{
    if (c->cmdlog == NULL) {
        return;
    }
    fprintf(c->cmdlog, "%s\t%llu\t%u\t", kind, rows, err);
    size_t m = n < 80 ? n : 80;
    for (size_t i = 0; i < m; i++) {
        char ch = text[i];
        fputc(ch == '\n' || ch == '\t' ? ' ' : ch, c->cmdlog);
    }
    fputc('\n', c->cmdlog);
    fflush(c->cmdlog);
}

static void
corpus_print_error(const char *what, unsigned err, const char *state, const char *msg)
{
    printf("  %s error %u (%s): %s\n", what, err, state, msg);
}

static unsigned
corpus_server_status(MYSQL *my)
{
    unsigned st = 0;
    if (mariadb_get_infov(my, MARIADB_CONNECTION_SERVER_STATUS, &st)) {
        return 0;
    }
    return st;
}

static const char *const corpus_status_names[] = {
    "IN_TRANS",
    "AUTOCOMMIT",
    "STATUS_4",
    "MORE_RESULTS",
    "NO_GOOD_INDEX",
    "NO_INDEX",
    "CURSOR_EXISTS",
    "LAST_ROW_SENT",
    "DB_DROPPED",
    "NO_BACKSLASH_ESCAPES",
    "METADATA_CHANGED",
    "QUERY_WAS_SLOW",
    "PS_OUT_PARAMS",
    "IN_TRANS_READONLY",
    "SESSION_STATE_CHANGED",
};

static void
corpus_print_status(MYSQL *my)
{
    unsigned st = corpus_server_status(my);
    printf("  status 0x%04x", st);
    for (unsigned b = 0; b < sizeof corpus_status_names / sizeof corpus_status_names[0]; b++) {
        if (st & (1u << b)) {
            printf(" %s", corpus_status_names[b]);
        }
    }
    putchar('\n');
}

static void
corpus_print_tracking(MYSQL *my)
{
    static const char *const names[] = {"sysvar", "schema",    "state",
                                        "gtids",  "trx_chars", "trx_state"};
    for (int t = SESSION_TRACK_BEGIN; t < (int)SESSION_TRACK_TYPES; t++) {
        const char *d = NULL;
        size_t n = 0;
        if (mysql_session_track_get_first(my, (enum enum_session_state_type)t, &d, &n) != 0) {
            continue;
        }
        printf("  track %s:", names[t]);
        do {
            putchar(' ');
            corpus_print_value(d, (unsigned long)n);
        } while (mysql_session_track_get_next(my, (enum enum_session_state_type)t, &d, &n) == 0);
        putchar('\n');
    }
}

static void
corpus_print_fields(MYSQL_FIELD *f, unsigned n)
{
    printf("  %u columns\n", n);
    for (unsigned i = 0; i < n; i++) {
        MARIADB_CONST_STRING tn = {NULL, 0}, fmt = {NULL, 0};
        mariadb_field_attr(&tn, &f[i], MARIADB_FIELD_ATTR_DATA_TYPE_NAME);
        mariadb_field_attr(&fmt, &f[i], MARIADB_FIELD_ATTR_FORMAT_NAME);
        printf("  col %u: name=", i);
        corpus_print_value(f[i].name, f[i].name_length);
        fputs(" org_name=", stdout);
        corpus_print_value(f[i].org_name, f[i].org_name_length);
        fputs(" table=", stdout);
        corpus_print_value(f[i].table, f[i].table_length);
        fputs(" org_table=", stdout);
        corpus_print_value(f[i].org_table, f[i].org_table_length);
        fputs(" db=", stdout);
        corpus_print_value(f[i].db, f[i].db_length);
        fputs(" catalog=", stdout);
        corpus_print_value(f[i].catalog, f[i].catalog_length);
        printf(" type=%d length=%lu flags=0x%x decimals=%u charset=%u", (int)f[i].type, f[i].length,
               f[i].flags, f[i].decimals, f[i].charsetnr);
        if (tn.length > 0) {
            fputs(" ext_type=", stdout);
            corpus_print_value(tn.str, (unsigned long)tn.length);
        }
        if (fmt.length > 0) {
            fputs(" ext_format=", stdout);
            corpus_print_value(fmt.str, (unsigned long)fmt.length);
        }
        putchar('\n');
    }
}

/* Counts rows and prints the first CORPUS_ROWS_SHOWN; the others go into a digest. */
struct corpus_rows {
    unsigned long long n;
    uint64_t digest;
};

static void
corpus_rows_begin(struct corpus_rows *r)
{
    r->n = 0;
    r->digest = CORPUS_FNV_INIT;
}

static bool
corpus_rows_show(struct corpus_rows *r)
{
    return ++r->n <= CORPUS_ROWS_SHOWN;
}

static void
corpus_rows_end(const struct corpus_rows *r)
{
    if (r->n > CORPUS_ROWS_SHOWN) {
        printf("  ... %llu more rows, fnv %016" PRIx64 "\n", r->n - CORPUS_ROWS_SHOWN, r->digest);
    }
    printf("  %llu rows\n", r->n);
}

static void
corpus_print_warnings(struct corpus *c)
{
    static const char q[] = "SHOW WARNINGS";
    if (mysql_real_query(c->my, q, sizeof q - 1) != 0) {
        corpus_print_error("show warnings", mysql_errno(c->my), mysql_sqlstate(c->my),
                           mysql_error(c->my));
        corpus_cmdlog(c, "query", 0, mysql_errno(c->my), q, sizeof q - 1);
        return;
    }
    MYSQL_RES *res = mysql_store_result(c->my);
    unsigned long long n = 0;
    if (res != NULL) {
        MYSQL_ROW row;
        while ((row = mysql_fetch_row(res)) != NULL) {
            unsigned long *len = mysql_fetch_lengths(res);
            fputs("  warning:", stdout);
            for (unsigned i = 0; i < mysql_num_fields(res); i++) {
                putchar(' ');
                corpus_print_value(row[i], len[i]);
            }
            putchar('\n');
            n++;
        }
        mysql_free_result(res);
    }
    corpus_cmdlog(c, "query", n, 0, q, sizeof q - 1);
}

static void
corpus_print_ok(MYSQL *my, unsigned long long affected, unsigned long long insert_id,
                unsigned warnings)
{
    printf("  affected=%lld insert_id=%llu warnings=%u", (long long)affected, insert_id, warnings);
    const char *info = mysql_info(my);
    if (info != NULL && *info != '\0') {
        printf(" info=");
        corpus_print_value(info, (unsigned long)strlen(info));
    }
    putchar('\n');
    corpus_print_status(my);
    corpus_print_tracking(my);
}

/* --- connections -------------------------------------------------------------------------- */

static MYSQL *
corpus_open(struct corpus *c, bool quiet)
{
    MYSQL *my = mysql_init(NULL);
    if (my == NULL) {
        fprintf(stderr, "mysql_init failed\n");
        exit(2);
    }
    unsigned timeout = 60;
    my_bool on = 1;
    unsigned infile = c->local_infile ? 1 : 0;
    mysql_optionsv(my, MYSQL_OPT_READ_TIMEOUT, &timeout);
    mysql_optionsv(my, MYSQL_OPT_WRITE_TIMEOUT, &timeout);
    mysql_optionsv(my, MYSQL_OPT_LOCAL_INFILE, &infile);
    mysql_optionsv(my, MYSQL_REPORT_DATA_TRUNCATION, &on);
    mysql_optionsv(my, MYSQL_INIT_COMMAND, CORPUS_INIT_COMMAND);
    if (c->max_packet != 0) {
        mysql_optionsv(my, MYSQL_OPT_MAX_ALLOWED_PACKET, &c->max_packet);
    }
    unsigned long flags = CLIENT_MULTI_STATEMENTS | CLIENT_MULTI_RESULTS | CLIENT_LOCAL_FILES;
    if (mysql_real_connect(my, c->host, c->user, c->password, c->db, c->port, NULL, flags) ==
        NULL) {
        printf("connect error %u (%s): %s\n", mysql_errno(my), mysql_sqlstate(my), mysql_error(my));
        mysql_close(my);
        return NULL;
    }
    if (!quiet) {
        unsigned long caps = 0, ext = 0;
        mariadb_get_infov(my, MARIADB_CONNECTION_SERVER_CAPABILITIES, &caps);
        mariadb_get_infov(my, MARIADB_CONNECTION_EXTENDED_SERVER_CAPABILITIES, &ext);
        printf("connected thread_id=%lu server=%s caps=0x%08lx ext_caps=0x%08lx\n",
               mysql_thread_id(my), mysql_get_server_info(my), caps, ext);
        corpus_print_status(my);
        if (c->cmdlog != NULL) {
            fprintf(c->cmdlog, "connect\t%lu\n", mysql_thread_id(my));
            fflush(c->cmdlog);
        }
    }
    return my;
}

static void
corpus_reconnect(struct corpus *c)
{
    if (c->my != NULL) {
        mysql_close(c->my);
    }
    c->my = corpus_open(c, false);
}

/* --- KILL QUERY from a second connection --------------------------------------------------- */

struct corpus_killer {
    struct corpus *c;
    unsigned long victim;
    long after_ms;
    unsigned err; /* result of the KILL, printed after the victim statement */
};

static void *
corpus_killer_main(void *arg)
{
    struct corpus_killer *k = arg;
    MYSQL *my = corpus_open(k->c, true);
    if (my == NULL) {
        k->err = 9999;
        return NULL;
    }
    struct timespec ts = {k->after_ms / 1000, (k->after_ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
    char q[64];
    int n = snprintf(q, sizeof q, "KILL QUERY %lu", k->victim);
    k->err = mysql_real_query(my, q, (unsigned long)n) != 0 ? mysql_errno(my) : 0;
    mysql_close(my);
    return NULL;
}

/* --- text protocol ------------------------------------------------------------------------ */

static void
corpus_text_rows(MYSQL_RES *res, unsigned long long *total)
{
    struct corpus_rows r;
    corpus_rows_begin(&r);
    unsigned nf = mysql_num_fields(res);
    MYSQL_ROW row;
    while ((row = mysql_fetch_row(res)) != NULL) {
        unsigned long *len = mysql_fetch_lengths(res);
        if (corpus_rows_show(&r)) {
            fputs("  row:", stdout);
            for (unsigned i = 0; i < nf; i++) {
                putchar(' ');
                corpus_print_value(row[i], len[i]);
            }
            putchar('\n');
        } else {
            for (unsigned i = 0; i < nf; i++) {
                r.digest =
                    row[i] ? corpus_fnv(r.digest, row[i], len[i]) : corpus_fnv(r.digest, "N", 1);
                r.digest = corpus_fnv(r.digest, "|", 1);
            }
        }
    }
    corpus_rows_end(&r);
    *total += r.n;
}

static void
corpus_run_text(struct corpus *c, const char *q, size_t n)
{
    MYSQL *my = c->my;
    unsigned long long total = 0;
    unsigned err = 0;
    unsigned warnings = 0;
    if (mysql_real_query(my, q, (unsigned long)n) != 0) {
        err = mysql_errno(my);
        corpus_print_error("query", err, mysql_sqlstate(my), mysql_error(my));
        corpus_print_status(my);
        corpus_cmdlog(c, "query", 0, err, q, n);
        return;
    }
    for (int set = 0;; set++) {
        printf("  -- result %d\n", set);
        if (mysql_field_count(my) > 0) {
            MYSQL_RES *res = mysql_use_result(my);
            if (res == NULL) {
                err = mysql_errno(my);
                corpus_print_error("use_result", err, mysql_sqlstate(my), mysql_error(my));
                break;
            }
            corpus_print_fields(mysql_fetch_fields(res), mysql_num_fields(res));
            corpus_text_rows(res, &total);
            if (mysql_errno(my) != 0) {
                err = mysql_errno(my);
                corpus_print_error("fetch", err, mysql_sqlstate(my), mysql_error(my));
            }
            mysql_free_result(res);
            warnings = mysql_warning_count(my);
            printf("  eof warnings=%u\n", warnings);
            corpus_print_status(my);
            corpus_print_tracking(my);
            if (err != 0) {
                break;
            }
        } else {
            warnings = mysql_warning_count(my);
            corpus_print_ok(my, mysql_affected_rows(my), mysql_insert_id(my), warnings);
        }
        int r = mysql_next_result(my);
        if (r > 0) {
            err = mysql_errno(my);
            corpus_print_error("next_result", err, mysql_sqlstate(my), mysql_error(my));
            corpus_print_status(my);
            break;
        }
        if (r < 0) {
            break;
        }
    }
    corpus_cmdlog(c, "query", total, err, q, n);
    if (err == 0 && warnings > 0) {
        corpus_print_warnings(c);
    }
}

/* --- binary protocol ---------------------------------------------------------------------- */

struct corpus_col {
    long long i;
    double d;
    float f;
    MYSQL_TIME t;
    unsigned long len;
    my_bool is_null, error;
};

static void
corpus_bind_result(MYSQL_FIELD *f, MYSQL_BIND *b, struct corpus_col *col)
{
    memset(b, 0, sizeof *b);
    b->length = &col->len;
    b->is_null = &col->is_null;
    b->error = &col->error;
    switch (f->type) {
    case MYSQL_TYPE_TINY:
    case MYSQL_TYPE_SHORT:
    case MYSQL_TYPE_INT24:
    case MYSQL_TYPE_LONG:
    case MYSQL_TYPE_LONGLONG:
    case MYSQL_TYPE_YEAR:
        b->buffer_type = MYSQL_TYPE_LONGLONG;
        b->buffer = &col->i;
        b->is_unsigned = (f->flags & UNSIGNED_FLAG) != 0;
        break;
    case MYSQL_TYPE_FLOAT:
        b->buffer_type = MYSQL_TYPE_FLOAT;
        b->buffer = &col->f;
        break;
    case MYSQL_TYPE_DOUBLE:
        b->buffer_type = MYSQL_TYPE_DOUBLE;
        b->buffer = &col->d;
        break;
    case MYSQL_TYPE_DATE:
    case MYSQL_TYPE_TIME:
    case MYSQL_TYPE_DATETIME:
    case MYSQL_TYPE_TIMESTAMP:
        b->buffer_type = f->type;
        b->buffer = &col->t;
        break;
    default:
        b->buffer_type = MYSQL_TYPE_BLOB; /* raw bytes, fetched by length below */
        b->buffer = NULL;
        b->buffer_length = 0;
        break;
    }
}

static void
corpus_print_bin_value(MYSQL_STMT *st, MYSQL_FIELD *f, MYSQL_BIND *b, struct corpus_col *col,
                       unsigned idx, uint64_t *digest, bool show)
{
    char buf[128];
    const char *v = buf;
    unsigned long n = 0;
    char *big = NULL;
    if (col->is_null) {
        v = NULL;
    } else {
        switch (b->buffer_type) {
        case MYSQL_TYPE_LONGLONG:
            n = (unsigned long)(b->is_unsigned
                                    ? snprintf(buf, sizeof buf, "%llu", (unsigned long long)col->i)
                                    : snprintf(buf, sizeof buf, "%lld", col->i));
            break;
        case MYSQL_TYPE_FLOAT:
            n = (unsigned long)snprintf(buf, sizeof buf, "%.9g", (double)col->f);
            break;
        case MYSQL_TYPE_DOUBLE:
            n = (unsigned long)snprintf(buf, sizeof buf, "%.17g", col->d);
            break;
        case MYSQL_TYPE_DATE:
        case MYSQL_TYPE_TIME:
        case MYSQL_TYPE_DATETIME:
        case MYSQL_TYPE_TIMESTAMP:
            n = (unsigned long)snprintf(buf, sizeof buf, "%s%04u-%02u-%02u %02u:%02u:%02u.%06lu/%d",
                                        col->t.neg ? "-" : "", col->t.year, col->t.month,
                                        col->t.day, col->t.hour, col->t.minute, col->t.second,
                                        col->t.second_part, (int)col->t.time_type);
            break;
        default: {
            n = col->len;
            big = malloc(n + 1);
            if (big == NULL) {
                fprintf(stderr, "out of memory\n");
                exit(2);
            }
            if (n > 0) {
                MYSQL_BIND one;
                memset(&one, 0, sizeof one);
                one.buffer_type = MYSQL_TYPE_BLOB;
                one.buffer = big;
                one.buffer_length = n;
                unsigned long got = 0;
                one.length = &got;
                if (mysql_stmt_fetch_column(st, &one, idx, 0) != 0) {
                    printf(" fetch_column(%u) failed: %s", idx, mysql_stmt_error(st));
                }
            }
            v = big;
            break;
        }
        }
    }
    (void)f;
    if (show) {
        putchar(' ');
        corpus_print_value(v, n);
    } else {
        *digest = v ? corpus_fnv(*digest, v, n) : corpus_fnv(*digest, "N", 1);
        *digest = corpus_fnv(*digest, "|", 1);
    }
    free(big);
}

static unsigned long long
corpus_bin_result(MYSQL_STMT *st, MYSQL_RES *meta, unsigned *err)
{
    unsigned nf = mysql_num_fields(meta);
    MYSQL_FIELD *f = mysql_fetch_fields(meta);
    corpus_print_fields(f, nf);
    MYSQL_BIND *b = calloc(nf ? nf : 1, sizeof *b);
    struct corpus_col *col = calloc(nf ? nf : 1, sizeof *col);
    if (b == NULL || col == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    for (unsigned i = 0; i < nf; i++) {
        corpus_bind_result(&f[i], &b[i], &col[i]);
    }
    struct corpus_rows r;
    corpus_rows_begin(&r);
    if (mysql_stmt_bind_result(st, b) != 0) {
        corpus_print_error("bind_result", mysql_stmt_errno(st), mysql_stmt_sqlstate(st),
                           mysql_stmt_error(st));
    } else {
        for (;;) {
            int fr = mysql_stmt_fetch(st);
            if (fr == 1) {
                /* libmariadb keeps an error of an unbuffered binary fetch in the connection */
                MYSQL *my = st->mysql;
                bool on_stmt = mysql_stmt_errno(st) != 0 || my == NULL;
                *err = on_stmt ? mysql_stmt_errno(st) : mysql_errno(my);
                corpus_print_error("fetch", *err,
                                   on_stmt ? mysql_stmt_sqlstate(st) : mysql_sqlstate(my),
                                   on_stmt ? mysql_stmt_error(st) : mysql_error(my));
                break;
            }
            if (fr == MYSQL_NO_DATA) {
                break;
            }
            bool show = corpus_rows_show(&r);
            if (show) {
                fputs("  row:", stdout);
            }
            for (unsigned i = 0; i < nf; i++) {
                corpus_print_bin_value(st, &f[i], &b[i], &col[i], i, &r.digest, show);
            }
            if (show) {
                putchar('\n');
            }
        }
    }
    corpus_rows_end(&r);
    free(b);
    free(col);
    return r.n;
}

static void
corpus_bind_params(struct corpus *c, MYSQL_STMT *st, MYSQL_BIND *pb, unsigned np)
{
    memset(pb, 0, sizeof *pb * (np ? np : 1));
    for (unsigned i = 0; i < np; i++) {
        struct corpus_param *p = (int)i < c->nparams ? &c->params[i] : NULL;
        if (p == NULL || p->kind == PARAM_NULL) {
            pb[i].buffer_type = MYSQL_TYPE_NULL;
        } else if (p->kind == PARAM_INT) {
            pb[i].buffer_type = MYSQL_TYPE_LONGLONG;
            pb[i].buffer = &p->i;
        } else {
            pb[i].buffer_type = MYSQL_TYPE_STRING;
            pb[i].buffer = p->s;
            pb[i].buffer_length = (unsigned long)strlen(p->s);
        }
    }
    if (np > 0 && mysql_stmt_bind_param(st, pb) != 0) {
        corpus_print_error("bind_param", mysql_stmt_errno(st), mysql_stmt_sqlstate(st),
                           mysql_stmt_error(st));
    }
}

static void
corpus_run_ps(struct corpus *c, const char *q, size_t n, bool cursor)
{
    MYSQL *my = c->my;
    MYSQL_STMT *st = mysql_stmt_init(my);
    if (st == NULL) {
        corpus_print_error("stmt_init", mysql_errno(my), mysql_sqlstate(my), mysql_error(my));
        return;
    }
    if (mysql_stmt_prepare(st, q, (unsigned long)n) != 0) {
        unsigned e = mysql_stmt_errno(st);
        corpus_cmdlog(c, "prepare", 0, e, q, n);
        if (e == 1295 && !c->bind_next) { /* ER_UNSUPPORTED_PS */
            printf("  prepare: not preparable, by COM_QUERY\n");
            mysql_stmt_close(st);
            corpus_run_text(c, q, n);
            return;
        }
        corpus_print_error("prepare", e, mysql_stmt_sqlstate(st), mysql_stmt_error(st));
        corpus_print_status(my);
        mysql_stmt_close(st);
        return;
    }
    corpus_cmdlog(c, "prepare", 0, 0, q, n);
    unsigned np = (unsigned)mysql_stmt_param_count(st);
    printf("  prepared: params=%u fields=%u warnings=%d\n", np, mysql_stmt_field_count(st),
           mysql_stmt_warning_count(st));
    if (cursor) {
        unsigned long type = CURSOR_TYPE_READ_ONLY, prefetch = 2;
        mysql_stmt_attr_set(st, STMT_ATTR_CURSOR_TYPE, &type);
        mysql_stmt_attr_set(st, STMT_ATTR_PREFETCH_ROWS, &prefetch);
    }
    MYSQL_BIND pb[CORPUS_MAX_PARAMS];
    if (np > CORPUS_MAX_PARAMS) {
        printf("  too many parameters (%u)\n", np);
        mysql_stmt_close(st);
        return;
    }
    corpus_bind_params(c, st, pb, np);
    unsigned long long total = 0;
    unsigned err = 0, warnings = 0;
    if (mysql_stmt_execute(st) != 0) {
        err = mysql_stmt_errno(st);
        corpus_print_error("execute", err, mysql_stmt_sqlstate(st), mysql_stmt_error(st));
        corpus_print_status(my);
    } else {
        for (int set = 0;; set++) {
            printf("  -- result %d\n", set);
            MYSQL_RES *meta = mysql_stmt_result_metadata(st);
            if (meta != NULL) {
                total += corpus_bin_result(st, meta, &err);
                mysql_free_result(meta);
                warnings = (unsigned)mysql_stmt_warning_count(st);
                printf("  eof warnings=%u\n", warnings);
                corpus_print_status(my);
                corpus_print_tracking(my);
                if (err != 0) {
                    break;
                }
            } else {
                warnings = (unsigned)mysql_stmt_warning_count(st);
                corpus_print_ok(my, mysql_stmt_affected_rows(st), mysql_stmt_insert_id(st),
                                warnings);
            }
            int r = mysql_stmt_next_result(st);
            if (r > 0) {
                err = mysql_stmt_errno(st);
                corpus_print_error("next_result", err, mysql_stmt_sqlstate(st),
                                   mysql_stmt_error(st));
                corpus_print_status(my);
                break;
            }
            if (r < 0) {
                break;
            }
        }
    }
    corpus_cmdlog(c, "execute", total, err, q, n);
    if (mysql_stmt_close(st) != 0) {
        corpus_print_error("stmt_close", mysql_errno(my), mysql_sqlstate(my), mysql_error(my));
    }
    corpus_cmdlog(c, "close", 0, 0, q, n);
    if (err == 0 && warnings > 0) {
        corpus_print_warnings(c);
    }
}

/* --- statements and directives ------------------------------------------------------------- */

/* The cursor mode asks for a cursor for SELECTs only: when the server answers a cursor
 * execute with a plain result set (SHOW, XA RECOVER), libmariadb 3.3 loses sync with it
 * ("Commands out of sync", then a malformed packet or a read timeout), directly as well.
 * corpus_raw.py --cursor asks for one on every statement, at the wire level. */
static bool
corpus_is_select(const char *q, size_t n)
{
    size_t i = 0;
    while (i < n && (q[i] == ' ' || q[i] == '\n' || q[i] == '(')) {
        i++;
    }
    return n - i >= 6 && strncasecmp(q + i, "SELECT", 6) == 0;
}

static void
corpus_run_statement(struct corpus *c, const char *q, size_t n)
{
    static unsigned number;
    printf("== [%u] ", ++number);
    corpus_print_oneline(q, n);
    putchar('\n');
    if (c->my == NULL) {
        printf("  not connected\n");
        return;
    }
    pthread_t kt;
    struct corpus_killer killer = {c, mysql_thread_id(c->my), c->kill_after_ms, 0};
    bool killing = c->kill_after_ms >= 0;
    if (killing && pthread_create(&kt, NULL, corpus_killer_main, &killer) != 0) {
        fprintf(stderr, "pthread_create failed\n");
        exit(2);
    }
    if (c->bind_next || c->mode != CORPUS_TEXT) {
        corpus_run_ps(c, q, n, c->mode == CORPUS_CURSOR && corpus_is_select(q, n));
    } else {
        corpus_run_text(c, q, n);
    }
    if (killing) {
        pthread_join(kt, NULL);
        printf("  kill query from another connection: %s\n", killer.err == 0 ? "ok" : "failed");
    }
    for (int i = 0; i < c->nparams; i++) {
        free(c->params[i].s);
    }
    c->nparams = 0;
    c->bind_next = false;
    c->kill_after_ms = -1;
}

static void
corpus_parse_bind(struct corpus *c, char *args)
{
    c->bind_next = true;
    c->nparams = 0;
    char *p = args;
    while (*p != '\0' && c->nparams < CORPUS_MAX_PARAMS) {
        while (*p == ' ') {
            p++;
        }
        if (*p == '\0') {
            break;
        }
        struct corpus_param *par = &c->params[c->nparams++];
        par->s = NULL;
        if (*p == '\'') {
            char *end = strchr(p + 1, '\'');
            if (end == NULL) {
                end = p + strlen(p);
            }
            par->kind = PARAM_TEXT;
            par->s = strndup(p + 1, (size_t)(end - p - 1));
            p = *end ? end + 1 : end;
        } else if (strncmp(p, "NULL", 4) == 0) {
            par->kind = PARAM_NULL;
            p += 4;
        } else {
            par->kind = PARAM_INT;
            par->i = strtoll(p, &p, 10);
        }
    }
}

static void
corpus_oversize(struct corpus *c)
{
    printf("== oversize query\n");
    static const char get[] = "SELECT @@global.max_allowed_packet";
    unsigned long long max = 0;
    if (mysql_real_query(c->my, get, sizeof get - 1) == 0) {
        MYSQL_RES *res = mysql_store_result(c->my);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (row != NULL && row[0] != NULL) {
            max = strtoull(row[0], NULL, 10);
        }
        mysql_free_result(res);
    }
    corpus_cmdlog(c, "query", 1, 0, get, sizeof get - 1);
    if (max == 0) {
        printf("  cannot read max_allowed_packet: %s\n", mysql_error(c->my));
        return;
    }
    size_t n = (size_t)max + 1024;
    char *q = malloc(n);
    if (q == NULL) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    memcpy(q, "SELECT '", 8);
    memset(q + 8, 'x', n - 10);
    memcpy(q + n - 2, "'", 2);
    if (mysql_real_query(c->my, q, (unsigned long)(n - 1)) != 0) {
        corpus_print_error("query", mysql_errno(c->my), mysql_sqlstate(c->my), mysql_error(c->my));
        corpus_cmdlog(c, "query", 0, mysql_errno(c->my), q, 40);
    } else {
        MYSQL_RES *res = mysql_store_result(c->my);
        printf("  unexpectedly accepted (%s)\n", res ? "rows" : "no rows");
        mysql_free_result(res);
        corpus_cmdlog(c, "query", 1, 0, q, 40);
    }
    free(q);
}

static void
corpus_directive(struct corpus *c, char *d)
{
    char *args = strchr(d, ' ');
    if (args != NULL) {
        *args++ = '\0';
    } else {
        args = d + strlen(d);
    }
    printf("== @%s %s\n", d, args);
    if (strcmp(d, "bind") == 0) {
        corpus_parse_bind(c, args);
    } else if (strcmp(d, "kill-query-after") == 0) {
        c->kill_after_ms = atol(args);
    } else if (strcmp(d, "local-infile") == 0) {
        unsigned v = (unsigned)atoi(args);
        c->local_infile = v != 0;
        if (c->my != NULL) {
            mysql_optionsv(c->my, MYSQL_OPT_LOCAL_INFILE, &v);
        }
    } else if (c->my == NULL && strcmp(d, "reconnect") != 0 &&
               strcmp(d, "client-max-packet") != 0) {
        printf("  not connected\n");
    } else if (strcmp(d, "change-user") == 0) {
        char *u = strtok(args, " "), *p = strtok(NULL, " "), *db = strtok(NULL, " ");
        if (mysql_change_user(c->my, u ? u : "", p ? p : "", db) != 0) {
            corpus_print_error("change_user", mysql_errno(c->my), mysql_sqlstate(c->my),
                               mysql_error(c->my));
            corpus_cmdlog(c, "change_user", 0, mysql_errno(c->my), "", 0);
        } else {
            corpus_cmdlog(c, "change_user", 0, 0, "", 0);
        }
        corpus_print_status(c->my);
        corpus_print_tracking(c->my);
    } else if (strcmp(d, "reset-connection") == 0) {
        if (mysql_reset_connection(c->my) != 0) {
            corpus_print_error("reset_connection", mysql_errno(c->my), mysql_sqlstate(c->my),
                               mysql_error(c->my));
        }
        corpus_cmdlog(c, "reset", 0, mysql_errno(c->my), "", 0);
        corpus_print_status(c->my);
        corpus_print_tracking(c->my);
    } else if (strcmp(d, "ping") == 0) {
        int r = mysql_ping(c->my);
        printf("  ping %s\n", r == 0 ? "ok" : mysql_error(c->my));
        corpus_cmdlog(c, "ping", 0, mysql_errno(c->my), "", 0);
    } else if (strcmp(d, "oversize-query") == 0) {
        corpus_oversize(c);
    } else if (strcmp(d, "client-max-packet") == 0) {
        c->max_packet = strtoul(args, NULL, 10);
        corpus_reconnect(c);
    } else if (strcmp(d, "reconnect") == 0) {
        corpus_reconnect(c);
    } else {
        printf("  unknown directive\n");
    }
}

/* Reads the script and runs each statement and directive in order. */
static void
corpus_run_script(struct corpus *c, FILE *in)
{
    char delim[16] = ";";
    char *line = NULL;
    size_t cap = 0;
    ssize_t len;
    char *stmt = NULL;
    size_t slen = 0, scap = 0;
    while ((len = getline(&line, &cap, in)) >= 0) {
        while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r')) {
            line[--len] = '\0';
        }
        if (slen == 0) {
            char *p = line;
            while (*p == ' ' || *p == '\t') {
                p++;
            }
            if (*p == '\0') {
                continue;
            }
            if (strncmp(p, "-- @", 4) == 0) {
                corpus_directive(c, p + 4);
                continue;
            }
            if (strncmp(p, "--", 2) == 0 || *p == '#') {
                continue;
            }
            if (strncasecmp(p, "DELIMITER ", 10) == 0) {
                snprintf(delim, sizeof delim, "%s", p + 10);
                continue;
            }
        }
        size_t need = slen + (size_t)len + 2;
        if (need > scap) {
            scap = need * 2;
            stmt = realloc(stmt, scap);
            if (stmt == NULL) {
                fprintf(stderr, "out of memory\n");
                exit(2);
            }
        }
        if (slen > 0) {
            stmt[slen++] = '\n';
        }
        memcpy(stmt + slen, line, (size_t)len);
        slen += (size_t)len;
        stmt[slen] = '\0';
        size_t dl = strlen(delim);
        size_t end = slen;
        while (end > 0 && (stmt[end - 1] == ' ' || stmt[end - 1] == '\t')) {
            end--;
        }
        if (end >= dl && memcmp(stmt + end - dl, delim, dl) == 0) {
            corpus_run_statement(c, stmt, end - dl);
            slen = 0;
        }
    }
    if (slen > 0) {
        corpus_run_statement(c, stmt, slen);
    }
    free(stmt);
    free(line);
}

int
main(int argc, char **argv)
{
    struct corpus c;
    memset(&c, 0, sizeof c);
    c.mode = CORPUS_TEXT;
    c.local_infile = true;
    c.kill_after_ms = -1;
    int a = 1;
    if (a + 1 < argc && strcmp(argv[a], "--mode") == 0) {
        if (strcmp(argv[a + 1], "ps") == 0) {
            c.mode = CORPUS_PS;
        } else if (strcmp(argv[a + 1], "cursor") == 0) {
            c.mode = CORPUS_CURSOR;
        } else if (strcmp(argv[a + 1], "text") != 0) {
            fprintf(stderr, "unknown mode %s\n", argv[a + 1]);
            return 2;
        }
        a += 2;
    }
    if (argc - a < 6) {
        fprintf(stderr,
                "usage: %s [--mode text|ps|cursor] HOST PORT USER PASSWORD DB SCRIPT "
                "[CMDLOG]\n",
                argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    c.host = argv[a];
    c.port = (unsigned)atoi(argv[a + 1]);
    c.user = argv[a + 2];
    c.password = argv[a + 3];
    c.db = argv[a + 4];
    FILE *in = fopen(argv[a + 5], "r");
    if (in == NULL) {
        fprintf(stderr, "%s: %s\n", argv[a + 5], strerror(errno));
        return 2;
    }
    if (argc - a > 6) {
        c.cmdlog = fopen(argv[a + 6], "w");
        if (c.cmdlog == NULL) {
            fprintf(stderr, "%s: %s\n", argv[a + 6], strerror(errno));
            return 2;
        }
    }
    if (mysql_library_init(0, NULL, NULL) != 0) {
        fprintf(stderr, "mysql_library_init failed\n");
        return 2;
    }
    c.my = corpus_open(&c, false);
    corpus_run_script(&c, in);
    fclose(in);
    if (c.my != NULL) {
        mysql_close(c.my);
    }
    if (c.cmdlog != NULL) {
        fclose(c.cmdlog);
    }
    mysql_library_end();
    printf("END\n");
    return 0;
}
