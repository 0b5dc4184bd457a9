/*
 * replay_main.c - the `slowtap replay` and `slowtap whatif` commands: options, the safety
 * rule for writes, the runs (replay_run.c), EXPLAIN of each shape on each target, the
 * comparison per shape and per route with its verdict (replay_util.c's rule), fidelity to the
 * captured answers, index advice (explain/advice.c) and the DDL of a what-if, and the report
 * as text, JSON or an HTML page. Runs after the replay loop: blocking connections here are
 * fine (an offline command, no event loop to hold up).
 */
#include "replay/replay.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <mysql.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/jsonw.h"
#include "explain/advice.h"
#include "explain/plan.h"
#include "protocol/proto.h"
#include "protocol/proto_capture.h"
#include "protocol/proto_fingerprint.h"
#include "protocol/proto_redact.h"
#include "protocol/proto_sqllex.h"
#include "protocol/proto_tags.h"

#define RM_REPEAT_MAX 20
#define RM_FP_MAX     512
#define RM_DDL_MAX    32
#define RM_SHOW_MAX   400 /* bytes of a statement shown */
#define RM_REASONS    16  /* reasons per group kept (more: counted under the last) */

/* ---- the options both commands share ---- */

struct rm_opts {
    const char *capture;
    struct replay_uri target[2];
    const char *target_s[2];
    int ntargets;
    double speed;
    bool no_wait;
    bool in_order;
    bool writes, force, json, keep, advice;
    const char *html;
    const char *password_file;
    struct replay_uri from;
    bool has_from;
    int repeat;
    const char *ddl[RM_DDL_MAX];
    int nddl;
};

struct rm_plan {
    char types[64]; /* the access types of the plan's rows, "ALL" / "ref,eq_ref" */
    char keys[128];
    bool known;
    char why[128]; /* when not known */
};

struct rm_side {
    double *t; /* every execution's time (us), all runs */
    size_t n, cap;
    double run_med[RM_REPEAT_MAX];
    double total_us; /* per run, on average */
    uint64_t rows;   /* per run, on average (first run) */
    uint64_t errors;
    struct rm_plan plan;
};

struct rm_shape {
    uint64_t digest;
    char fp[RM_FP_MAX];
    const struct replay_cmd *ex; /* its first command */
    char route[PROTO_TAG_LEN];
    bool write, prepared;
    struct rm_side side[2];
    uint64_t err_only[2]; /* errors on one side only */
    uint64_t diffs;       /* result checksums that differ */
    char *first_diff;     /* redacted */
    enum replay_verdict verdict;
    double ratio;
    uint64_t fid_same, fid_diff; /* fidelity: vs the capture (one target) */
    uint64_t fid_err;            /* errors other than the captured one (none counts) */
    uint64_t fid_unstable;       /* different, but replay_unstable says why */
    uint64_t fid_err_ooo;        /* of fid_err: ran out of the captured order */
    uint64_t fid_behind;         /* of fid_diff: ran out of the captured order (rm_out_of_order) */
    uint16_t fid_err_code[2];    /* the first such: captured, replayed */
    char *fid_first;
};

/* Commands set apart with a reason: not replayed, or a result that cannot be expected equal. */
struct rm_reason {
    const char *why; /* static */
    uint64_t n;
    char *first; /* the first such command, redacted */
};

struct rm_reasons {
    struct rm_reason r[RM_REASONS];
    size_t n;
    uint64_t total;
};

struct rm_route {
    char name[PROTO_TAG_LEN];
    struct rm_side side[2];
    enum replay_verdict verdict;
    double ratio;         /* typical[1] / typical[0] */
    double typical_us[2]; /* per run: each execution counted at its shape's median */
};

struct rm {
    FILE *out, *err;
    const char *cmdname;
    struct rm_opts o;
    struct replay_cap cap;
    int32_t **shape_of; /* [session][cmd]: shape index or -1 */
    int32_t **route_of;
    struct rm_shape *shapes;
    size_t nshapes;
    struct rm_route *routes;
    size_t nroutes;
    struct replay_run runs[2][RM_REPEAT_MAX];
    int nruns;
    int nsides;
    const char *label[2];
    enum replay_mode mode;
    /* fidelity, the first run of the first target: commands not replayed, per reason, and
     * results that differ by their nature (replay_unstable), per reason */
    struct rm_reasons notrun, unstable;
    /* whatif */
    char *ddl[RM_DDL_MAX];
    char *undo[RM_DDL_MAX];
    bool applied[RM_DDL_MAX];
    int nddl;
    char ddl_tables[RM_DDL_MAX][ADVICE_NAME_MAX];
    int nddl_tables;
};

static void
rm_usage(FILE *out, bool whatif)
{
    if (whatif) {
        fprintf(out,
                "Usage: slowtap whatif CAPTURE --target URI (--ddl SQL | --advice) [OPTION]...\n"
                "Replays a capture on a scratch server, applies the DDL (or every index slowtap\n"
                "advises for the captured shapes), replays again and compares: read time per\n"
                "shape and route, write time on the tables the DDL touched, plan changes, result\n"
                "differences. Then the DDL is undone (DROP INDEX) unless --keep. Writes run each\n"
                "in a transaction that is rolled back, so both passes see the same data.\n"
                "\n"
                "  --target URI          the scratch server: "
                "mysql://user[:password]@host[:port][/schema]\n"
                "  --ddl SQL             an ALTER TABLE ... ADD INDEX / CREATE INDEX (repeatable)\n"
                "  --advice              the ALTER TABLE ... ADD INDEX slowtap advises\n"
                "  --keep                keep the DDL applied\n"
                "  --captured-from URI   the captured server: the target must not be it\n"
                "  --force               allow a target not proved different (no --captured-from)\n"
                "  --speed X, --no-wait, --in-order, --repeat N, --format text|json, --html FILE,\n"
                "  --password-file FILE  as for slowtap replay\n");
        return;
    }
    fprintf(out,
            "Usage: slowtap replay CAPTURE --target URI [--target URI2] [OPTION]...\n"
            "Plays a capture (slowtap --capture) against one or two servers: each captured\n"
            "session on its own connection, its commands in order at their captured times,\n"
            "prepared statements prepared again and executed with their parameters. With one\n"
            "target: the time of each shape and the fidelity (same result checksums and\n"
            "affected rows as captured). With two: the comparison per shape and per route,\n"
            "each session in lockstep on both targets (a command on one, then at once on\n"
            "the other). Verdict: faster/slower when Mann-Whitney p < 0.001, the median\n"
            "ratio < 0.5 or > 2 and the medians 150 us apart (with --repeat, the runs'\n"
            "medians apart too); else same (too few: under 5 executions a side).\n"
            "\n"
            "  --target URI          mysql://user[:password]@host[:port][/schema]; the\n"
            "                        password may come from SLOWTAP_TARGET_PASSWORD or\n"
            "                        --password-file instead\n"
            "  --password-file FILE  the password (first line) for targets without one\n"
            "  --speed X             captured gaps divided by X (default 1)\n"
            "  --no-wait             no gaps: each session sends its next command at once\n"
            "  --in-order            a command also waits until every command of any session\n"
            "                        that ended before it began in the capture has ended\n"
            "  --read-only           replay reads only, count the skipped writes (default)\n"
            "  --writes              replay writes too: needs --captured-from URI (a different\n"
            "                        server) or --force\n"
            "  --captured-from URI   the captured server, which --writes refuses to change\n"
            "  --force               --writes without proof the target is another server\n"
            "  --repeat N            replay N times per target (verdicts consider the spread)\n"
            "  --format text|json    output format (default text)\n"
            "  --html FILE           also write the comparison as an HTML page\n"
            "  --help                print this help and exit\n");
}

/* ---- options ---- */

static bool
rm_read_password_file(const char *path, char *out, size_t cap, FILE *err, const char *cmd)
{
    FILE *f = fopen(path, "r");
    if (!f) {
        fprintf(err, "slowtap %s: --password-file: %s: %s\n", cmd, path, strerror(errno));
        return false;
    }
    if (!fgets(out, (int)cap, f)) {
        out[0] = '\0';
    }
    fclose(f);
    out[strcspn(out, "\r\n")] = '\0';
    return true;
}

/* Parses argv; 0 to go on, else the exit status. */
static int
rm_parse(struct rm *m, int argc, char **argv, bool whatif)
{
    static const struct option lo[] = {
        {"target", required_argument, NULL, 't'},
        {"speed", required_argument, NULL, 's'},
        {"no-wait", no_argument, NULL, 'n'},
        {"in-order", no_argument, NULL, 'O'},
        {"read-only", no_argument, NULL, 'r'},
        {"writes", no_argument, NULL, 'w'},
        {"force", no_argument, NULL, 'F'},
        {"format", required_argument, NULL, 'f'},
        {"repeat", required_argument, NULL, 'R'},
        {"password-file", required_argument, NULL, 'p'},
        {"captured-from", required_argument, NULL, 'c'},
        {"html", required_argument, NULL, 'H'},
        {"ddl", required_argument, NULL, 'd'},
        {"advice", no_argument, NULL, 'a'},
        {"keep", no_argument, NULL, 'k'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct rm_opts *o = &m->o;
    const char *cmd = m->cmdname;
    const char *from_s = NULL;
    char err[200];
    int rc;
    o->speed = 1;
    o->repeat = 1;
    opterr = 0;
    optind = 0;
    while ((rc = getopt_long(argc, argv, ":h", lo, NULL)) != -1) {
        const char *arg = optind >= 1 && optind - 1 < argc ? argv[optind - 1] : "?";
        char *end;
        if (whatif ? (rc == 'r' || rc == 'w') : (rc == 'd' || rc == 'a' || rc == 'k')) {
            fprintf(m->err, "slowtap %s: unknown option '%s'\n", cmd, arg);
            return 2;
        }
        switch (rc) {
        case 't':
            if (o->ntargets == (whatif ? 1 : 2)) {
                fprintf(m->err, "slowtap %s: --target: at most %d\n", cmd, whatif ? 1 : 2);
                return 2;
            }
            if (!replay_uri_parse(optarg, &o->target[o->ntargets], err, sizeof(err))) {
                fprintf(m->err, "slowtap %s: --target: %s\n", cmd, err);
                return 2;
            }
            o->target_s[o->ntargets++] = optarg;
            break;
        case 'c':
            if (!replay_uri_parse(optarg, &o->from, err, sizeof(err))) {
                fprintf(m->err, "slowtap %s: --captured-from: %s\n", cmd, err);
                return 2;
            }
            from_s = optarg;
            o->has_from = true;
            break;
        case 's':
            errno = 0;
            o->speed = strtod(optarg, &end);
            if (errno || *end || end == optarg || !(o->speed > 0) || o->speed > 1e6) {
                fprintf(m->err, "slowtap %s: --speed: not a positive number '%s'\n", cmd, optarg);
                return 2;
            }
            break;
        case 'n':
            o->no_wait = true;
            break;
        case 'O':
            o->in_order = true;
            break;
        case 'r':
            o->writes = false;
            break;
        case 'w':
            o->writes = true;
            break;
        case 'F':
            o->force = true;
            break;
        case 'f':
            if (strcmp(optarg, "text") == 0) {
                o->json = false;
            } else if (strcmp(optarg, "json") == 0) {
                o->json = true;
            } else {
                fprintf(m->err, "slowtap %s: --format: text or json, not '%s'\n", cmd, optarg);
                return 2;
            }
            break;
        case 'R': {
            errno = 0;
            long v = strtol(optarg, &end, 10);
            if (errno || *end || end == optarg || v < 1 || v > RM_REPEAT_MAX) {
                fprintf(m->err, "slowtap %s: --repeat: a number from 1 to %d, not '%s'\n", cmd,
                        RM_REPEAT_MAX, optarg);
                return 2;
            }
            o->repeat = (int)v;
            break;
        }
        case 'p':
            o->password_file = optarg;
            break;
        case 'H':
            o->html = optarg;
            break;
        case 'd':
            if (o->nddl == RM_DDL_MAX) {
                fprintf(m->err, "slowtap %s: --ddl: at most %d\n", cmd, RM_DDL_MAX);
                return 2;
            }
            o->ddl[o->nddl++] = optarg;
            break;
        case 'a':
            o->advice = true;
            break;
        case 'k':
            o->keep = true;
            break;
        case 'h':
            rm_usage(m->out, whatif);
            return -1;
        case ':':
            fprintf(m->err, "slowtap %s: option '%s' needs a value\n", cmd, arg);
            return 2;
        default:
            fprintf(m->err, "slowtap %s: unknown option '%s'\n", cmd, arg);
            return 2;
        }
    }
    if (optind >= argc) {
        fprintf(m->err, "slowtap %s: no capture file given\n", cmd);
        return 2;
    }
    if (optind + 1 < argc) {
        fprintf(m->err, "slowtap %s: one capture file, not also '%s'\n", cmd, argv[optind + 1]);
        return 2;
    }
    o->capture = argv[optind];
    if (o->ntargets == 0) {
        fprintf(m->err, "slowtap %s: --target is required\n", cmd);
        return 2;
    }
    if (whatif && !o->advice && o->nddl == 0) {
        fprintf(m->err, "slowtap %s: --ddl or --advice is required\n", cmd);
        return 2;
    }
    if (whatif && o->advice && o->nddl) {
        fprintf(m->err, "slowtap %s: --ddl and --advice exclude each other\n", cmd);
        return 2;
    }
    if (!whatif && o->force && !o->writes) {
        fprintf(m->err, "slowtap %s: --force: only with --writes\n", cmd);
        return 2;
    }
    /* passwords: the URI's, else --password-file, else SLOWTAP_TARGET_PASSWORD */
    char pw[REPLAY_URI_FIELD] = "";
    bool have_pw = false;
    if (o->password_file) {
        if (!rm_read_password_file(o->password_file, pw, sizeof(pw), m->err, cmd)) {
            return 2;
        }
        have_pw = true;
    } else if (getenv("SLOWTAP_TARGET_PASSWORD")) {
        snprintf(pw, sizeof(pw), "%s", getenv("SLOWTAP_TARGET_PASSWORD"));
        have_pw = true;
    }
    for (int i = 0; i < o->ntargets; i++) {
        if (!o->target[i].has_password && have_pw) {
            memcpy(o->target[i].password, pw, sizeof(pw));
        }
    }
    if (o->has_from && !o->from.has_password && have_pw) {
        memcpy(o->from.password, pw, sizeof(pw));
    }
    (void)from_s;
    return 0;
}

/* ---- blocking helpers (after the loop) ---- */

static MYSQL *
rm_connect(const struct replay_uri *u, char *err, size_t errcap)
{
    MYSQL *my = mysql_init(NULL);
    if (!my) {
        snprintf(err, errcap, "out of memory");
        return NULL;
    }
    unsigned t = 10, proto = MYSQL_PROTOCOL_TCP;
    unsigned rt = 600;
    my_bool no = 0;
    mysql_options(my, MYSQL_OPT_CONNECT_TIMEOUT, &t);
    mysql_options(my, MYSQL_OPT_READ_TIMEOUT, &rt);
    mysql_options(my, MYSQL_OPT_PROTOCOL, &proto);
    mysql_options(my, MYSQL_OPT_LOCAL_INFILE, &no);
    mysql_options(my, MYSQL_SET_CHARSET_NAME, "utf8mb4");
    if (!mysql_real_connect(my, u->host, u->user, u->password, u->schema[0] ? u->schema : NULL,
                            u->port, NULL, 0)) {
        snprintf(err, errcap, "%s", mysql_error(my));
        mysql_close(my);
        return NULL;
    }
    return my;
}

struct rm_ident {
    char uuid[64], host[256], port[16], server_id[32];
};

static bool
rm_identify(const struct replay_uri *u, struct rm_ident *id, char *err, size_t errcap)
{
    *id = (struct rm_ident){0};
    MYSQL *my = rm_connect(u, err, errcap);
    if (!my) {
        return false;
    }
    if (mysql_query(my, "SELECT @@hostname, @@port, @@server_id") == 0) {
        MYSQL_RES *res = mysql_store_result(my);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (row) {
            snprintf(id->host, sizeof(id->host), "%s", row[0] ? row[0] : "");
            snprintf(id->port, sizeof(id->port), "%s", row[1] ? row[1] : "");
            snprintf(id->server_id, sizeof(id->server_id), "%s", row[2] ? row[2] : "");
        }
        mysql_free_result(res);
    }
    if (mysql_query(my, "SELECT @@server_uuid") == 0) { /* MySQL; MariaDB has none */
        MYSQL_RES *res = mysql_store_result(my);
        MYSQL_ROW row = res ? mysql_fetch_row(res) : NULL;
        if (row && row[0]) {
            snprintf(id->uuid, sizeof(id->uuid), "%s", row[0]);
        }
        mysql_free_result(res);
    }
    mysql_close(my);
    return true;
}

/*
 * The rule for changing a target (--writes, whatif): the capture records no identity of the
 * captured server, so the user names it with --captured-from; the target is refused when it
 * has the same @@server_uuid (MySQL), or the same @@hostname and @@port, or the URI names the
 * same host and port. Without --captured-from the target cannot be proved different: refused
 * unless --force. 0 to go on, else the exit status.
 */
static int
rm_check_target(struct rm *m, const struct replay_uri *t)
{
    if (m->o.force) {
        return 0;
    }
    if (!m->o.has_from) {
        fprintf(m->err,
                "slowtap %s: refusing to change %s:%u: the capture does not say which server it "
                "came from; name it with --captured-from URI (the target must differ) or "
                "--force\n",
                m->cmdname, t->host, t->port);
        return 2;
    }
    char err[256];
    struct rm_ident a, b;
    if (strcasecmp(t->host, m->o.from.host) == 0 && t->port == m->o.from.port) {
        fprintf(m->err, "slowtap %s: refusing: %s:%u is the captured server (--force to insist)\n",
                m->cmdname, t->host, t->port);
        return 2;
    }
    if (!rm_identify(t, &a, err, sizeof(err))) {
        fprintf(m->err, "slowtap %s: cannot connect to %s:%u: %s\n", m->cmdname, t->host, t->port,
                err);
        return 1;
    }
    if (!rm_identify(&m->o.from, &b, err, sizeof(err))) {
        fprintf(m->err,
                "slowtap %s: cannot connect to the captured server %s:%u (--captured-from) to "
                "compare: %s\n",
                m->cmdname, m->o.from.host, m->o.from.port, err);
        return 1;
    }
    if ((a.uuid[0] && strcmp(a.uuid, b.uuid) == 0) ||
        (a.host[0] && strcmp(a.host, b.host) == 0 && strcmp(a.port, b.port) == 0)) {
        fprintf(m->err,
                "slowtap %s: refusing: %s:%u is the captured server (same %s) (--force to "
                "insist)\n",
                m->cmdname, t->host, t->port, a.uuid[0] ? "@@server_uuid" : "@@hostname:@@port");
        return 2;
    }
    return 0;
}

/* The statement with its captured parameters written in as literals (for EXPLAIN of a
 * prepared statement); NULL when out of memory. */
static char *
rm_inline_params(MYSQL *my, const struct replay_cmd *c)
{
    size_t cap = c->stmt_len + 64;
    for (uint16_t i = 0; i < c->n_params; i++) {
        cap += c->params[i].len * 2 + 48;
    }
    char *out = malloc(cap), *o = out;
    if (!out) {
        return NULL;
    }
    struct proto_sqllex lx;
    struct proto_sqltok t;
    proto_sqllex_init(&lx, c->stmt, c->stmt_len, 0);
    uint16_t k = 0;
    size_t last = 0;
    while (proto_sqllex_next(&lx, &t) != PROTO_TOK_END) {
        if (t.kind != PROTO_TOK_PARAM) {
            continue;
        }
        memcpy(o, c->stmt + last, t.start - last);
        o += t.start - last;
        last = t.end;
        const struct replay_param *p = k < c->n_params ? &c->params[k] : NULL;
        k++;
        const uint8_t *v = p ? p->value : NULL;
        if (!p || p->is_null || p->type == MYSQL_TYPE_NULL) {
            o += sprintf(o, "NULL");
        } else if (p->type == MYSQL_TYPE_TINY && p->len >= 1) {
            o += p->is_unsigned ? sprintf(o, "%u", v[0]) : sprintf(o, "%d", (int8_t)v[0]);
        } else if ((p->type == MYSQL_TYPE_SHORT || p->type == MYSQL_TYPE_YEAR) && p->len >= 2) {
            uint16_t x = (uint16_t)(v[0] | v[1] << 8);
            o += p->is_unsigned ? sprintf(o, "%u", x) : sprintf(o, "%d", (int16_t)x);
        } else if ((p->type == MYSQL_TYPE_LONG || p->type == MYSQL_TYPE_INT24) && p->len >= 4) {
            uint32_t x =
                (uint32_t)v[0] | (uint32_t)v[1] << 8 | (uint32_t)v[2] << 16 | (uint32_t)v[3] << 24;
            o += p->is_unsigned ? sprintf(o, "%u", x) : sprintf(o, "%d", (int32_t)x);
        } else if (p->type == MYSQL_TYPE_LONGLONG && p->len >= 8) {
            uint64_t x = 0;
            for (int b = 7; b >= 0; b--) {
                x = x << 8 | v[b];
            }
            o += p->is_unsigned ? sprintf(o, "%llu", (unsigned long long)x)
                                : sprintf(o, "%lld", (long long)(int64_t)x);
        } else if (p->type == MYSQL_TYPE_DOUBLE && p->len >= 8) {
            double d;
            memcpy(&d, v, 8);
            o += sprintf(o, "%.17g", d);
        } else if (p->type == MYSQL_TYPE_FLOAT && p->len >= 4) {
            float f;
            memcpy(&f, v, 4);
            o += sprintf(o, "%.9g", (double)f);
        } else if (p->type == MYSQL_TYPE_DATE || p->type == MYSQL_TYPE_DATETIME ||
                   p->type == MYSQL_TYPE_TIMESTAMP) {
            unsigned y = p->len >= 4 ? (unsigned)(v[0] | v[1] << 8) : 0;
            o += sprintf(o, "'%04u-%02u-%02u %02u:%02u:%02u'", y, p->len >= 4 ? v[2] : 0,
                         p->len >= 4 ? v[3] : 0, p->len >= 7 ? v[4] : 0, p->len >= 7 ? v[5] : 0,
                         p->len >= 7 ? v[6] : 0);
        } else {
            *o++ = '\'';
            o += mysql_real_escape_string(my, o, (const char *)v, (unsigned long)p->len);
            *o++ = '\'';
        }
    }
    memcpy(o, c->stmt + last, c->stmt_len - last);
    o += c->stmt_len - last;
    *o = '\0';
    return out;
}

/* EXPLAIN of sql in schema on my; NULL (why in err) when none. */
static struct plan *
rm_explain(MYSQL *my, const char *schema, const char *sql, size_t len, char *err, size_t errcap)
{
    if (schema && schema[0] && mysql_select_db(my, schema) != 0) {
        snprintf(err, errcap, "USE %s: %s", schema, mysql_error(my));
        return NULL;
    }
    char *q = malloc(len + 16);
    if (!q) {
        return NULL;
    }
    memcpy(q, "EXPLAIN ", 8);
    memcpy(q + 8, sql, len);
    if (mysql_real_query(my, q, (unsigned long)len + 8) != 0) {
        snprintf(err, errcap, "%s", mysql_error(my));
        free(q);
        return NULL;
    }
    free(q);
    MYSQL_RES *res = mysql_store_result(my);
    if (!res) {
        snprintf(err, errcap, "no plan");
        return NULL;
    }
    struct plan *p = plan_new();
    unsigned n = mysql_num_fields(res);
    MYSQL_FIELD *f = mysql_fetch_fields(res);
    const char *names[32];
    for (unsigned i = 0; i < n && i < 32; i++) {
        names[i] = f[i].name;
    }
    MYSQL_ROW row;
    while (p && (row = mysql_fetch_row(res)) != NULL) {
        plan_add_row(p, names, (const char *const *)row, n < 32 ? n : 32);
    }
    while (mysql_next_result(my) == 0) {
        mysql_free_result(mysql_store_result(my));
    }
    mysql_free_result(res);
    if (p) {
        plan_analyze(p);
    }
    return p;
}

static void
rm_plan_summary(const struct plan *p, struct rm_plan *out)
{
    *out = (struct rm_plan){.known = true};
    size_t o = 0, k = 0;
    for (size_t i = 0; i < p->nrows; i++) {
        int a = snprintf(out->types + o, sizeof(out->types) - o, "%s%s", i ? "," : "",
                         p->rows[i].col[PLAN_TYPE]);
        if (a > 0 && o + (size_t)a < sizeof(out->types)) {
            o += (size_t)a;
        }
        int b = snprintf(out->keys + k, sizeof(out->keys) - k, "%s%s", i ? "," : "",
                         p->rows[i].col[PLAN_KEY]);
        if (b > 0 && k + (size_t)b < sizeof(out->keys)) {
            k += (size_t)b;
        }
    }
}

/* The statement of shape s to EXPLAIN (heap), or NULL with why. */
static char *
rm_shape_sql(MYSQL *my, const struct rm_shape *s, char *why, size_t cap)
{
    const struct replay_cmd *c = s->ex;
    if (!c->stmt) {
        snprintf(why, cap, "no statement");
        return NULL;
    }
    enum proto_stmt_kind k = proto_stmt_classify(c->stmt, c->stmt_len);
    if (!proto_stmt_explainable(k)) {
        snprintf(why, cap, "not explainable");
        return NULL;
    }
    if (s->prepared) {
        return rm_inline_params(my, c);
    }
    char *q = malloc(c->stmt_len + 1);
    if (q) {
        memcpy(q, c->stmt, c->stmt_len);
        q[c->stmt_len] = '\0';
    }
    return q;
}

/* Reads the columns and indexes of the tables named for advice. */
static struct advice_table *
rm_table_meta(MYSQL *my, const struct advice_tname *n)
{
    struct advice_table *t = advice_table_new(n->db, n->name);
    if (!t) {
        return NULL;
    }
    char db[2 * ADVICE_NAME_MAX + 1], name[2 * ADVICE_NAME_MAX + 1], q[1024];
    mysql_real_escape_string(my, db, n->db, (unsigned long)strlen(n->db));
    mysql_real_escape_string(my, name, n->name, (unsigned long)strlen(n->name));
    snprintf(q, sizeof(q),
             "SELECT COLUMN_NAME, DATA_TYPE, COLLATION_NAME FROM information_schema.COLUMNS "
             "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s' ORDER BY ORDINAL_POSITION",
             db, name);
    if (mysql_query(my, q) == 0) {
        MYSQL_RES *res = mysql_store_result(my);
        MYSQL_ROW row;
        while (res && (row = mysql_fetch_row(res)) != NULL) {
            if (row[0]) {
                advice_table_add_column(t, row[0], row[1], row[2]);
            }
        }
        mysql_free_result(res);
    }
    snprintf(q, sizeof(q),
             "SELECT INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME FROM information_schema.STATISTICS "
             "WHERE TABLE_SCHEMA = '%s' AND TABLE_NAME = '%s'",
             db, name);
    if (mysql_query(my, q) == 0) {
        MYSQL_RES *res = mysql_store_result(my);
        MYSQL_ROW row;
        while (res && (row = mysql_fetch_row(res)) != NULL) {
            if (row[0] && row[1] && row[2]) {
                advice_table_add_index_column(t, row[0], (unsigned)strtoul(row[1], NULL, 10),
                                              row[2]);
            }
        }
        mysql_free_result(res);
    }
    return t;
}

/* Adds the ALTERs of an advice string ("A; none (...); B") not already in m->ddl. */
static void
rm_take_advice(struct rm *m, const char *adv)
{
    const char *p = adv;
    while (p && *p) {
        const char *e = strstr(p, "; ");
        size_t n = e ? (size_t)(e - p) : strlen(p);
        if (n > 12 && strncmp(p, "ALTER TABLE ", 12) == 0 && m->nddl < RM_DDL_MAX) {
            bool dup = false;
            for (int i = 0; i < m->nddl; i++) {
                dup |= strlen(m->ddl[i]) == n && memcmp(m->ddl[i], p, n) == 0;
            }
            if (!dup) {
                char *d = malloc(n + 1);
                if (d) {
                    memcpy(d, p, n);
                    d[n] = '\0';
                    m->ddl[m->nddl++] = d;
                }
            }
        }
        p = e ? e + 2 : NULL;
    }
}

/* EXPLAIN of every read shape on target u into side k's plans; with advice, the ALTERs. */
static void
rm_explain_all(struct rm *m, const struct replay_uri *u, int k, bool advice)
{
    char err[256];
    MYSQL *my = rm_connect(u, err, sizeof(err));
    for (size_t i = 0; i < m->nshapes; i++) {
        struct rm_shape *s = &m->shapes[i];
        struct rm_plan *pl = &s->side[k].plan;
        *pl = (struct rm_plan){0};
        if (!my) {
            snprintf(pl->why, sizeof(pl->why), "cannot connect: %.100s", err);
            continue;
        }
        char *sql = rm_shape_sql(my, s, pl->why, sizeof(pl->why));
        if (!sql) {
            continue;
        }
        struct plan *p = rm_explain(my, s->ex->schema, sql, strlen(sql), pl->why, sizeof(pl->why));
        if (p) {
            rm_plan_summary(p, pl);
            if (advice && advice_wanted(p)) {
                struct advice_tname tn[ADVICE_MAX_TABLES];
                size_t nt =
                    advice_tables(sql, strlen(sql), 0, s->ex->schema, tn, ADVICE_MAX_TABLES);
                struct advice_table *meta[ADVICE_MAX_TABLES] = {0};
                for (size_t j = 0; j < nt; j++) {
                    meta[j] = rm_table_meta(my, &tn[j]);
                }
                char *adv = advice_compute(sql, strlen(sql), 0, s->ex->schema, p,
                                           (const struct advice_table *const *)meta, nt);
                if (adv) {
                    rm_take_advice(m, adv);
                    free(adv);
                }
                for (size_t j = 0; j < nt; j++) {
                    advice_table_free(meta[j]);
                }
            }
            plan_free(p);
        }
        free(sql);
    }
    if (my) {
        mysql_close(my);
    }
}

/* ---- shapes and routes ---- */

static bool
rm_build_shapes(struct rm *m)
{
    const struct replay_cap *cap = &m->cap;
    m->shape_of = calloc(cap->ns ? cap->ns : 1, sizeof(*m->shape_of));
    m->route_of = calloc(cap->ns ? cap->ns : 1, sizeof(*m->route_of));
    if (!m->shape_of || !m->route_of) {
        return false;
    }
    size_t hcap = 1024;
    while (hcap < cap->ncmds * 2 + 2) {
        hcap *= 2;
    }
    int32_t *h = malloc(hcap * sizeof(*h));
    if (!h) {
        return false;
    }
    for (size_t i = 0; i < hcap; i++) {
        h[i] = -1;
    }
    struct proto_tags *tags = malloc(sizeof(*tags));
    if (!tags) {
        free(h);
        return false;
    }
    for (size_t si = 0; si < cap->ns; si++) {
        const struct replay_session *s = &cap->s[si];
        m->shape_of[si] = malloc((s->ncmds ? s->ncmds : 1) * sizeof(int32_t));
        m->route_of[si] = malloc((s->ncmds ? s->ncmds : 1) * sizeof(int32_t));
        if (!m->shape_of[si] || !m->route_of[si]) {
            free(h);
            free(tags);
            return false;
        }
        for (size_t ci = 0; ci < s->ncmds; ci++) {
            const struct replay_cmd *c = &s->cmds[ci];
            m->shape_of[si][ci] = -1;
            m->route_of[si][ci] = -1;
            if (!c->digest || (c->cmd != PROTO_COM_QUERY && c->cmd != PROTO_COM_STMT_EXECUTE)) {
                continue;
            }
            size_t b = (size_t)(c->digest & (hcap - 1));
            while (h[b] >= 0 && m->shapes[h[b]].digest != c->digest) {
                b = (b + 1) & (hcap - 1);
            }
            if (h[b] < 0) {
                struct rm_shape *ns = realloc(m->shapes, (m->nshapes + 1) * sizeof(*ns));
                if (!ns) {
                    continue;
                }
                m->shapes = ns;
                struct rm_shape *x = &ns[m->nshapes];
                *x = (struct rm_shape){.digest = c->digest,
                                       .ex = c,
                                       .write = c->write,
                                       .prepared = c->cmd == PROTO_COM_STMT_EXECUTE};
                proto_fingerprint(c->stmt, c->stmt_len, x->fp, sizeof(x->fp));
                h[b] = (int32_t)m->nshapes++;
            }
            m->shape_of[si][ci] = h[b];
            proto_tags_parse(c->stmt, c->stmt_len, 0, tags);
            const char *route = proto_tags_get(tags, "route");
            if (!route) {
                continue;
            }
            if (!m->shapes[h[b]].route[0]) {
                snprintf(m->shapes[h[b]].route, sizeof(m->shapes[h[b]].route), "%s", route);
            }
            size_t r = 0;
            while (r < m->nroutes && strcmp(m->routes[r].name, route) != 0) {
                r++;
            }
            if (r == m->nroutes) {
                struct rm_route *nr = realloc(m->routes, (m->nroutes + 1) * sizeof(*nr));
                if (!nr) {
                    continue;
                }
                m->routes = nr;
                nr[r] = (struct rm_route){0};
                snprintf(nr[r].name, sizeof(nr[r].name), "%s", route);
                m->nroutes++;
            }
            m->route_of[si][ci] = (int32_t)r;
        }
    }
    free(h);
    free(tags);
    return true;
}

static void
side_push(struct rm_side *d, double v)
{
    if (d->n == d->cap) {
        size_t nc = d->cap ? d->cap * 2 : 16;
        double *nt = realloc(d->t, nc * sizeof(*nt));
        if (!nt) {
            return;
        }
        d->t = nt;
        d->cap = nc;
    }
    d->t[d->n++] = v;
}

static double
median_copy(const double *v, size_t n)
{
    double *c = malloc((n ? n : 1) * sizeof(*c));
    if (!c) {
        return 0;
    }
    if (n) { /* v may be NULL when there is nothing */
        memcpy(c, v, n * sizeof(*c));
    }
    double x = replay_quantile(c, n, 0.5);
    free(c);
    return x;
}

static bool
redact_all(void *ctx, const char *content, size_t len)
{
    return true;
}

static char *
rm_redacted(const struct replay_cmd *c)
{
    if (!c->stmt) {
        char b[48];
        snprintf(b, sizeof b, "(command 0x%02x, no text)", c->cmd);
        return strdup(b);
    }
    size_t cap = c->stmt_len + 1 < RM_SHOW_MAX ? c->stmt_len + 1 : RM_SHOW_MAX;
    char *o = malloc(cap);
    if (o) {
        proto_redact(c->stmt, c->stmt_len, 0, redact_all, NULL, o, cap);
    }
    return o;
}

/* Counts command c under reason why (static) in g, keeping the first example. A cut text is
 * shown with where it was cut. */
static void
rm_reason_add(struct rm_reasons *g, const char *why, const struct replay_cmd *c)
{
    g->total++;
    size_t i = 0;
    while (i < g->n && g->r[i].why != why) {
        i++;
    }
    if (i == g->n) {
        if (g->n == RM_REASONS) {
            g->r[RM_REASONS - 1].n++;
            return;
        }
        g->r[g->n++] = (struct rm_reason){.why = why, .n = 0, .first = NULL};
    }
    struct rm_reason *r = &g->r[i];
    if (r->n++ == 0) {
        char *red = rm_redacted(c);
        if (red && c->cut && c->stmt) {
            size_t need = strlen(red) + 64;
            char *o = malloc(need);
            if (o) {
                snprintf(o, need, "(cut at %zu bytes) %s", c->stmt_len, red);
            }
            free(red);
            red = o;
        }
        r->first = red;
    }
}

static void
rm_reasons_free(struct rm_reasons *g)
{
    for (size_t i = 0; i < g->n; i++) {
        free(g->r[i].first);
    }
}

struct rm_ev {
    int64_t cap_us; /* captured start (or end) */
    int64_t rep_end;
    size_t flat; /* index over all sessions' commands */
    size_t si, ci;
};

static int
rm_ev_cmp(const void *a, const void *b)
{
    const struct rm_ev *x = a, *y = b;
    return x->cap_us < y->cap_us ? -1 : x->cap_us > y->cap_us;
}

/*
 * The commands of `run` that ran out of the captured order: (a) sent on the replay before a
 * command (of another session) that had ended before they began in the capture had ended on
 * the replay, or (b) still running on the replay when a command that began after they ended
 * in the capture was sent. Two commands of one session never overlap, so only other
 * sessions' count. Their results may depend on that other command's writes (or locks): a
 * difference there is the replay's order, not the target. out[flat] (calloc'd, the caller
 * frees); NULL when out of memory. O(n log n).
 */
static bool *
rm_out_of_order(const struct replay_cap *cap, const struct replay_run *run)
{
    size_t n = cap->ncmds, k = 0;
    bool *out = calloc(n ? n : 1, sizeof *out);
    struct rm_ev *ends = malloc((n ? n : 1) * sizeof *ends);
    struct rm_ev *starts = malloc((n ? n : 1) * sizeof *starts);
    if (!out || !ends || !starts) {
        free(ends);
        free(starts);
        free(out);
        return NULL;
    }
    size_t flat = 0;
    for (size_t si = 0; si < cap->ns; si++) {
        for (size_t ci = 0; ci < cap->s[si].ncmds; ci++, flat++) {
            const struct replay_res *x = &run->res[si][ci];
            if (x->outcome != REPLAY_RAN || flat >= n) {
                continue;
            }
            const struct replay_cmd *c = &cap->s[si].cmds[ci];
            ends[k] = (struct rm_ev){.cap_us = c->t_end_us,
                                     .rep_end = x->t0_mono + x->us,
                                     .flat = flat,
                                     .si = si,
                                     .ci = ci};
            starts[k] = (struct rm_ev){
                .cap_us = c->t_start_us, .rep_end = x->t0_mono, .flat = flat, .si = si, .ci = ci};
            k++;
        }
    }
    qsort(ends, k, sizeof *ends, rm_ev_cmp);
    qsort(starts, k, sizeof *starts, rm_ev_cmp);
    /* (a) sent before a command that ended before it in the capture had ended */
    int64_t max_end = INT64_MIN;
    size_t j = 0;
    for (size_t i = 0; i < k; i++) {
        while (j < k && ends[j].cap_us < starts[i].cap_us) {
            if (ends[j].rep_end > max_end) {
                max_end = ends[j].rep_end;
            }
            j++;
        }
        /* starts[i].rep_end is its replay start: before an earlier command's replay end */
        out[starts[i].flat] |= max_end > starts[i].rep_end;
    }
    /* (b) still running when a command that began after it ended in the capture was sent:
     * the earliest replay start among the commands captured later (a suffix minimum over
     * starts, by captured start) against its replay end */
    int64_t *suf = malloc((k + 1) * sizeof *suf);
    if (suf) {
        suf[k] = INT64_MAX;
        for (size_t i = k; i-- > 0;) {
            suf[i] = starts[i].rep_end < suf[i + 1] ? starts[i].rep_end : suf[i + 1];
        }
        for (size_t i = 0; i < k; i++) {
            size_t lo = 0, hi = k; /* the first start captured after ends[i] ended */
            while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (starts[mid].cap_us > ends[i].cap_us) {
                    hi = mid;
                } else {
                    lo = mid + 1;
                }
            }
            out[ends[i].flat] |= suf[lo] < ends[i].rep_end;
        }
        free(suf);
    }
    free(ends);
    free(starts);
    return out;
}

/* Side k's times per shape and route, over its runs. */
static void
rm_aggregate(struct rm *m)
{
    const struct replay_cap *cap = &m->cap;
    for (int k = 0; k < m->nsides; k++) {
        for (int r = 0; r < m->nruns; r++) {
            size_t *mark = calloc(m->nshapes ? m->nshapes : 1, sizeof(*mark));
            size_t *rmark = calloc(m->nroutes ? m->nroutes : 1, sizeof(*rmark));
            for (size_t i = 0; mark && i < m->nshapes; i++) {
                mark[i] = m->shapes[i].side[k].n;
            }
            for (size_t i = 0; rmark && i < m->nroutes; i++) {
                rmark[i] = m->routes[i].side[k].n;
            }
            const struct replay_run *run = &m->runs[k][r];
            for (size_t si = 0; si < cap->ns; si++) {
                for (size_t ci = 0; ci < cap->s[si].ncmds; ci++) {
                    const struct replay_res *x = &run->res[si][ci];
                    int32_t sh = m->shape_of[si][ci], ro = m->route_of[si][ci];
                    if (x->outcome != REPLAY_RAN || sh < 0) {
                        continue;
                    }
                    struct rm_side *d = &m->shapes[sh].side[k];
                    side_push(d, (double)x->us);
                    d->total_us += (double)x->us / m->nruns;
                    if (r == 0) {
                        d->rows += x->rows;
                    }
                    d->errors += x->err != 0;
                    if (ro >= 0) {
                        side_push(&m->routes[ro].side[k], (double)x->us);
                        m->routes[ro].side[k].total_us += (double)x->us / m->nruns;
                    }
                }
            }
            for (size_t i = 0; mark && i < m->nshapes; i++) {
                struct rm_side *d = &m->shapes[i].side[k];
                d->run_med[r] = median_copy(d->t + mark[i], d->n - mark[i]);
            }
            for (size_t i = 0; rmark && i < m->nroutes; i++) {
                struct rm_side *d = &m->routes[i].side[k];
                d->run_med[r] = median_copy(d->t + rmark[i], d->n - rmark[i]);
            }
            free(mark);
            free(rmark);
        }
    }
    /* verdicts; result and error differences between the sides (run by run) */
    for (size_t i = 0; i < m->nshapes && m->nsides == 2; i++) {
        struct rm_shape *s = &m->shapes[i];
        double a = median_copy(s->side[0].t, s->side[0].n),
               b = median_copy(s->side[1].t, s->side[1].n);
        s->ratio = a > 0 ? b / a : 0;
        s->verdict = replay_decide(s->side[0].t, s->side[0].n, s->side[1].t, s->side[1].n,
                                   s->side[0].run_med, s->side[1].run_med, (size_t)m->nruns);
    }
    /*
     * A route mixes shapes of very different costs, so its executions' times are no one
     * distribution: a route is timed by its typical total (each execution counted at its
     * shape's median, per run) and judged by its shapes' verdicts: faster when that total
     * drops below REPLAY_RATIO_FAST of the baseline with a shape faster and none slower.
     */
    double *med[2] = {calloc(m->nshapes + 1, sizeof(double)),
                      calloc(m->nshapes + 1, sizeof(double))};
    for (size_t i = 0; med[0] && med[1] && i < m->nshapes; i++) {
        for (int k = 0; k < m->nsides; k++) {
            med[k][i] = median_copy(m->shapes[i].side[k].t, m->shapes[i].side[k].n);
        }
    }
    for (size_t si = 0; med[0] && med[1] && si < cap->ns; si++) {
        for (size_t ci = 0; ci < cap->s[si].ncmds; ci++) {
            int32_t sh = m->shape_of[si][ci], ro = m->route_of[si][ci];
            if (sh < 0 || ro < 0) {
                continue;
            }
            for (int k = 0; k < m->nsides; k++) {
                if (m->runs[k][0].res[si][ci].outcome == REPLAY_RAN) {
                    m->routes[ro].typical_us[k] += med[k][sh];
                }
            }
        }
    }
    for (size_t i = 0; i < m->nroutes && m->nsides == 2; i++) {
        struct rm_route *s = &m->routes[i];
        s->ratio = s->typical_us[0] > 0 ? s->typical_us[1] / s->typical_us[0] : 0;
        bool faster = false, slower = false, few = true;
        for (size_t si = 0; si < cap->ns; si++) {
            for (size_t ci = 0; ci < cap->s[si].ncmds; ci++) {
                int32_t sh = m->shape_of[si][ci];
                if (sh < 0 || m->route_of[si][ci] != (int32_t)i) {
                    continue;
                }
                faster |= m->shapes[sh].verdict == REPLAY_FASTER;
                slower |= m->shapes[sh].verdict == REPLAY_SLOWER;
                few &= m->shapes[sh].verdict == REPLAY_FEW;
            }
        }
        s->verdict = few                                                 ? REPLAY_FEW
                     : faster && !slower && s->ratio < REPLAY_RATIO_FAST ? REPLAY_FASTER
                     : slower && !faster && s->ratio > REPLAY_RATIO_SLOW ? REPLAY_SLOWER
                                                                         : REPLAY_SAME;
    }
    free(med[0]);
    free(med[1]);
    for (int r = 0; r < m->nruns && m->nsides == 2; r++) {
        for (size_t si = 0; si < cap->ns; si++) {
            for (size_t ci = 0; ci < cap->s[si].ncmds; ci++) {
                const struct replay_res *a = &m->runs[0][r].res[si][ci];
                const struct replay_res *b = &m->runs[1][r].res[si][ci];
                int32_t sh = m->shape_of[si][ci];
                if (sh < 0 || a->outcome != REPLAY_RAN || b->outcome != REPLAY_RAN) {
                    continue;
                }
                struct rm_shape *s = &m->shapes[sh];
                if ((a->err != 0) != (b->err != 0)) {
                    s->err_only[a->err ? 0 : 1]++;
                } else if (!a->err && a->checked && b->checked &&
                           (a->checksum != b->checksum || a->rows != b->rows)) {
                    s->diffs++;
                    if (!s->first_diff) {
                        s->first_diff = rm_redacted(&cap->s[si].cmds[ci]);
                    }
                }
            }
        }
    }
    /* the commands the first run could not replay, per reason */
    for (size_t si = 0; m->nsides > 0 && si < cap->ns; si++) {
        for (size_t ci = 0; ci < cap->s[si].ncmds; ci++) {
            const struct replay_res *x = &m->runs[0][0].res[si][ci];
            if (x->outcome == REPLAY_UNSUPPORTED) {
                rm_reason_add(&m->notrun, x->why ? x->why : REPLAY_WHY_COMMAND,
                              &cap->s[si].cmds[ci]);
            }
        }
    }
    /* fidelity: the first run against the captured answers */
    bool *ooo =
        m->nsides > 0 && m->mode != REPLAY_ROLLBACK ? rm_out_of_order(cap, &m->runs[0][0]) : NULL;
    for (int k = 0; k < m->nsides && m->mode != REPLAY_ROLLBACK; k++) {
        const struct replay_run *run = &m->runs[k][0];
        size_t flat = 0;
        for (size_t si = 0; si < cap->ns; si++) {
            for (size_t ci = 0; ci < cap->s[si].ncmds; ci++, flat++) {
                const struct replay_res *x = &run->res[si][ci];
                const struct replay_cmd *c = &cap->s[si].cmds[ci];
                int32_t sh = m->shape_of[si][ci];
                if (k == 0 && sh >= 0 && x->outcome == REPLAY_RAN && !c->interrupted &&
                    x->err != c->err) {
                    struct rm_shape *s = &m->shapes[sh];
                    if (!s->fid_err) {
                        s->fid_err_code[0] = c->err;
                        s->fid_err_code[1] = x->err;
                    }
                    s->fid_err++;
                    s->fid_err_ooo += ooo && ooo[flat];
                }
                if (sh < 0 || x->outcome != REPLAY_RAN || c->err || c->interrupted || x->err) {
                    continue;
                }
                bool same;
                if (c->write && !(c->rows && x->checked)) {
                    same = x->affected == c->affected;
                } else if (x->checked) {
                    /* a read; or a write that answered with rows (CALL, a multi-statement):
                     * its rows, as the capture's affected count sums the server's end-of-rows
                     * OK packets too (DEPRECATE_EOF), which a client library does not show */
                    same = x->checksum == c->checksum && x->rows == c->rows;
                } else {
                    continue;
                }
                if (k == 0) {
                    struct rm_shape *s = &m->shapes[sh];
                    if (same) {
                        s->fid_same++;
                    } else if (c->unstable) {
                        s->fid_unstable++; /* by its nature: not a difference */
                        rm_reason_add(&m->unstable, c->unstable, c);
                    } else {
                        s->fid_diff++;
                        s->fid_behind += ooo && ooo[flat];
                        if (!s->fid_first) {
                            s->fid_first = rm_redacted(c);
                        }
                    }
                }
            }
        }
    }
    free(ooo);
}

/* True when the statement text names table `t` (a word or quoted identifier, any case). */
static bool
names_table(const char *sql, const char *t)
{
    struct proto_sqllex lx;
    struct proto_sqltok x;
    size_t tl = strlen(t);
    proto_sqllex_init(&lx, sql, strlen(sql), 0);
    while (proto_sqllex_next(&lx, &x) != PROTO_TOK_END) {
        if ((x.kind == PROTO_TOK_WORD || x.kind == PROTO_TOK_QIDENT) &&
            x.body_end - x.body_start == tl && strncasecmp(sql + x.body_start, t, tl) == 0) {
            return true;
        }
    }
    return false;
}

/* The writes to table t: count per run, total time per run on each side, and the verdict
 * over their pooled executions. */
struct rm_wcost {
    size_t n;
    double a_us, b_us;
    enum replay_verdict verdict;
};

static void
rm_write_cost(const struct rm *m, const char *t, struct rm_wcost *w)
{
    *w = (struct rm_wcost){0};
    struct rm_side pool[2] = {{0}, {0}};
    for (size_t i = 0; i < m->nshapes; i++) {
        const struct rm_shape *s = &m->shapes[i];
        if (!s->write || !names_table(s->fp, t)) {
            continue;
        }
        w->a_us += s->side[0].total_us;
        w->b_us += s->side[1].total_us;
        w->n += s->side[0].n / (size_t)m->nruns;
        for (int k = 0; k < 2; k++) {
            for (size_t j = 0; j < s->side[k].n; j++) {
                side_push(&pool[k], s->side[k].t[j]);
            }
        }
    }
    w->verdict = replay_decide(pool[0].t, pool[0].n, pool[1].t, pool[1].n, NULL, NULL, 0);
    free(pool[0].t);
    free(pool[1].t);
}

static int
shape_cmp(const void *x, const void *y)
{
    const struct rm_shape *a = x, *b = y;
    double da = fabs(a->side[1].total_us - a->side[0].total_us);
    double db = fabs(b->side[1].total_us - b->side[0].total_us);
    if (da == 0 && db == 0) {
        da = a->side[0].total_us;
        db = b->side[0].total_us;
    }
    return da < db ? 1 : da > db ? -1 : 0;
}

/* ---- output ---- */

static double
q_of(const struct rm_side *d, double q)
{
    double *c = malloc((d->n ? d->n : 1) * sizeof(*c));
    if (!c) {
        return 0;
    }
    if (d->n) { /* d->t may be NULL when there is nothing */
        memcpy(c, d->t, d->n * sizeof(*c));
    }
    double x = replay_quantile(c, d->n, q);
    free(c);
    return x;
}

static const char *
plan_str(const struct rm_plan *p)
{
    return p->known ? p->types : "-";
}

static bool
plan_changed(const struct rm_shape *s)
{
    return s->side[0].plan.known && s->side[1].plan.known &&
           strcmp(s->side[0].plan.types, s->side[1].plan.types) != 0;
}

static void
rm_run_line(struct rm *m, FILE *out, int k)
{
    const struct replay_run *r = &m->runs[k][0];
    fprintf(out,
            "%s %s:%u: %llu commands ran in %.2f s, %llu writes skipped%s, %llu not replayable, "
            "%llu errors",
            m->label[k], m->o.target[m->nsides == 2 && m->o.ntargets == 2 ? k : 0].host,
            m->o.target[m->nsides == 2 && m->o.ntargets == 2 ? k : 0].port,
            (unsigned long long)r->ran, r->wall_s, (unsigned long long)r->skipped_write,
            m->mode == REPLAY_READ_ONLY ? " (read-only)"
            : m->mode == REPLAY_ROLLBACK
                ? " (DDL, CALL and the like; INSERT/UPDATE/DELETE ran rolled back)"
                : "",
            (unsigned long long)r->unsupported, (unsigned long long)r->errors);
    if (r->connect_failed) {
        fprintf(out, ", %llu sessions could not connect (%s)",
                (unsigned long long)r->connect_failed, r->first_connect_err);
    }
    if (m->nruns > 1) {
        fprintf(out, " (x%d runs)", m->nruns);
    }
    fprintf(out, "\n");
}

/* A group of reasons: its total, then each reason with its count and first example. */
static void
rm_text_reasons(FILE *out, const char *title, const struct rm_reasons *g)
{
    if (!g->total) {
        return;
    }
    fprintf(out, "%s: %llu\n", title, (unsigned long long)g->total);
    for (size_t i = 0; i < g->n; i++) {
        fprintf(out, "  %llu x %s; first: %s\n", (unsigned long long)g->r[i].n, g->r[i].why,
                g->r[i].first ? g->r[i].first : "?");
    }
}

static void
json_reasons(struct jsonw *w, const char *key, const struct rm_reasons *g)
{
    jsonw_key(w, key);
    jsonw_array_begin(w);
    for (size_t i = 0; i < g->n; i++) {
        jsonw_object_begin(w);
        jsonw_kstr(w, "reason", g->r[i].why);
        jsonw_kuint(w, "count", g->r[i].n);
        jsonw_kstr(w, "first", g->r[i].first ? g->r[i].first : "");
        jsonw_object_end(w);
    }
    jsonw_array_end(w);
}

static void
rm_text(struct rm *m, FILE *out)
{
    fprintf(out, "slowtap %s: %s: %zu sessions, %zu commands, %zu shapes\n", m->cmdname,
            m->o.capture, m->cap.ns, m->cap.ncmds, m->nshapes);
    for (int k = 0; k < m->nsides; k++) {
        rm_run_line(m, out, k);
    }
    if (m->nddl) {
        fprintf(out, "DDL:\n");
        for (int i = 0; i < m->nddl; i++) {
            fprintf(out, "  %s%s\n", m->ddl[i], m->applied[i] ? "" : "  (failed)");
        }
    }
    fprintf(out, "\n");
    bool two = m->nsides == 2;
    char h[8][32];
    const char *la = m->label[0], *lb = m->nsides == 2 ? m->label[1] : "";
    snprintf(h[0], sizeof(h[0]), "%s p50", la);
    snprintf(h[1], sizeof(h[1]), "%s p95", la);
    snprintf(h[2], sizeof(h[2]), "%s total", la);
    snprintf(h[3], sizeof(h[3]), "%s p50", lb);
    snprintf(h[4], sizeof(h[4]), "%s p95", lb);
    snprintf(h[5], sizeof(h[5]), "%s total", lb);
    snprintf(h[6], sizeof(h[6]), "%s typical", la);
    snprintf(h[7], sizeof(h[7]), "%s typical", lb);
    fprintf(out, "times in ms; count per run; ratio: median %s / median %s\n", lb[0] ? lb : la, la);
    if (two) {
        fprintf(out, "%-56s %6s %10s %10s %12s %10s %10s %12s %6s %-8s %s\n", "shape", "count",
                h[0], h[1], h[2], h[3], h[4], h[5], "ratio", "verdict", "plan");
    } else {
        fprintf(out, "%-56s %6s %10s %10s %12s %7s %s\n", "shape", "count", "p50", "p95", "total",
                "errors", "fidelity");
    }
    for (size_t i = 0; i < m->nshapes; i++) {
        struct rm_shape *s = &m->shapes[i];
        if (s->side[0].n == 0 && (!two || s->side[1].n == 0)) {
            continue;
        }
        char fp[57];
        snprintf(fp, sizeof(fp), "%.56s", s->fp);
        if (strlen(s->fp) > 56) {
            memcpy(fp + 53, "...", 4);
        }
        if (two) {
            fprintf(out,
                    "%-56s %6zu %10.3f %10.3f %12.1f %10.3f %10.3f %12.1f %6.2f %-8s %s -> %s%s\n",
                    fp, s->side[0].n / (size_t)m->nruns, q_of(&s->side[0], 0.5) / 1000,
                    q_of(&s->side[0], 0.95) / 1000, s->side[0].total_us / 1000,
                    q_of(&s->side[1], 0.5) / 1000, q_of(&s->side[1], 0.95) / 1000,
                    s->side[1].total_us / 1000, s->ratio, replay_verdict_name(s->verdict),
                    plan_str(&s->side[0].plan), plan_str(&s->side[1].plan),
                    plan_changed(s) ? "  (plan changed)" : "");
        } else {
            char fid[64] = "-";
            if (s->fid_same + s->fid_diff) {
                snprintf(fid, sizeof(fid), "%llu/%llu same", (unsigned long long)s->fid_same,
                         (unsigned long long)(s->fid_same + s->fid_diff));
            }
            fprintf(out, "%-56s %6zu %10.3f %10.3f %12.1f %7llu %s\n", fp,
                    s->side[0].n / (size_t)m->nruns, q_of(&s->side[0], 0.5) / 1000,
                    q_of(&s->side[0], 0.95) / 1000, s->side[0].total_us / 1000,
                    (unsigned long long)s->side[0].errors, fid);
        }
    }
    if (two && m->nroutes) {
        fprintf(out,
                "\nroutes (typical: each execution at its shape's median; ratio of typical)\n"
                "%-56s %6s %12s %12s %12s %12s %6s %s\n",
                "route", "count", h[2], h[5], h[6], h[7], "ratio", "verdict");
        for (size_t i = 0; i < m->nroutes; i++) {
            struct rm_route *r = &m->routes[i];
            if (r->side[0].n == 0 && r->side[1].n == 0) {
                continue; /* its statements were all skipped */
            }
            fprintf(out, "%-56.56s %6zu %12.1f %12.1f %12.1f %12.1f %6.2f %s\n", r->name,
                    r->side[0].n / (size_t)m->nruns, r->side[0].total_us / 1000,
                    r->side[1].total_us / 1000, r->typical_us[0] / 1000, r->typical_us[1] / 1000,
                    r->ratio, replay_verdict_name(r->verdict));
        }
    }
    if (m->nddl_tables) {
        fprintf(out, "\nwrite time on the tables the DDL touched:\n");
        for (int t = 0; t < m->nddl_tables; t++) {
            struct rm_wcost w;
            rm_write_cost(m, m->ddl_tables[t], &w);
            if (w.n) {
                fprintf(out,
                        "  %s: %zu writes, %.1f ms before, %.1f ms after (%+.1f ms, %+.0f%%): %s\n",
                        m->ddl_tables[t], w.n, w.a_us / 1000, w.b_us / 1000,
                        (w.b_us - w.a_us) / 1000,
                        w.a_us > 0 ? (w.b_us - w.a_us) / w.a_us * 100 : 0.0,
                        replay_verdict_name(w.verdict));
            } else {
                fprintf(out, "  %s: no write in the capture\n", m->ddl_tables[t]);
            }
        }
    }
    uint64_t diffs = 0, eo = 0, fd = 0, fs = 0;
    for (size_t i = 0; i < m->nshapes; i++) {
        diffs += m->shapes[i].diffs;
        eo += m->shapes[i].err_only[0] + m->shapes[i].err_only[1];
        fd += m->shapes[i].fid_diff;
        fs += m->shapes[i].fid_same;
    }
    fprintf(out, "\n");
    if (two) {
        fprintf(out, "result differences: %llu\n", (unsigned long long)diffs);
        for (size_t i = 0; i < m->nshapes; i++) {
            if (m->shapes[i].first_diff) {
                fprintf(out, "  %llu x, first: %s\n", (unsigned long long)m->shapes[i].diffs,
                        m->shapes[i].first_diff);
            }
        }
        fprintf(out, "errors on one side only: %llu\n", (unsigned long long)eo);
        for (size_t i = 0; i < m->nshapes; i++) {
            struct rm_shape *s = &m->shapes[i];
            if (s->err_only[0] + s->err_only[1]) {
                fprintf(out, "  %s: %llu on %s only, %llu on %s only\n", s->fp,
                        (unsigned long long)s->err_only[0], la, (unsigned long long)s->err_only[1],
                        lb);
            }
        }
    }
    if (m->mode != REPLAY_ROLLBACK) {
        uint64_t fe = 0, fb = 0, feo = 0;
        for (size_t i = 0; i < m->nshapes; i++) {
            fe += m->shapes[i].fid_err;
            fb += m->shapes[i].fid_behind;
            feo += m->shapes[i].fid_err_ooo;
        }
        fprintf(out,
                "fidelity (%s vs the capture): %llu same, %llu different; %llu errors not as "
                "captured\n",
                m->label[0], (unsigned long long)fs, (unsigned long long)fd,
                (unsigned long long)fe);
        if (fb) {
            fprintf(out,
                    "  %llu of the differences ran out of the captured order (on the replay a "
                    "command of another session that came before or after it in the capture "
                    "was still running, or already running: the replay fell behind)\n",
                    (unsigned long long)fb);
        }
        if (feo) {
            fprintf(out, "  %llu of the errors not as captured ran out of the captured order\n",
                    (unsigned long long)feo);
        }
        rm_text_reasons(out, "not comparable (the result differs by its nature)", &m->unstable);
        for (size_t i = 0; i < m->nshapes; i++) {
            if (m->shapes[i].fid_first) {
                fprintf(out, "  %llu x, first: %s\n", (unsigned long long)m->shapes[i].fid_diff,
                        m->shapes[i].fid_first);
            }
            if (m->shapes[i].fid_err) {
                fprintf(out, "  %llu x error %u where the capture had %u: %.120s\n",
                        (unsigned long long)m->shapes[i].fid_err, m->shapes[i].fid_err_code[1],
                        m->shapes[i].fid_err_code[0], m->shapes[i].fp);
            }
        }
    }
    rm_text_reasons(out, "not replayable", &m->notrun);
    if (two) {
        fprintf(out,
                "\nverdict: Mann-Whitney U on every execution's time, p < %g and median ratio "
                "< %.2f (faster) or > %.2f (slower), medians %.0f us apart or more; at least %d "
                "executions a side%s\n",
                REPLAY_P_MAX, REPLAY_RATIO_FAST, REPLAY_RATIO_SLOW, REPLAY_MIN_DIFF_US,
                REPLAY_MIN_SAMPLES, m->nruns > 1 ? "; runs' medians must not overlap" : "");
    }
}

static void
file_sink(void *ctx, const char *s, size_t n)
{
    fwrite(s, 1, n, (FILE *)ctx);
}

static void
json_side(struct jsonw *w, const char *k, const struct rm_side *d, int nruns)
{
    jsonw_key(w, k);
    jsonw_object_begin(w);
    jsonw_kuint(w, "count", d->n / (size_t)nruns);
    jsonw_kdouble(w, "p50_ms", q_of(d, 0.5) / 1000);
    jsonw_kdouble(w, "p95_ms", q_of(d, 0.95) / 1000);
    jsonw_kdouble(w, "total_ms", d->total_us / 1000);
    jsonw_kuint(w, "rows", d->rows);
    jsonw_kuint(w, "errors", d->errors);
    jsonw_key(w, "run_medians_ms");
    jsonw_array_begin(w);
    for (int r = 0; r < nruns; r++) {
        jsonw_double(w, d->run_med[r] / 1000);
    }
    jsonw_array_end(w);
    if (d->plan.known) {
        jsonw_kstr(w, "plan_types", d->plan.types);
        jsonw_kstr(w, "plan_keys", d->plan.keys);
    } else {
        jsonw_knull(w, "plan_types");
    }
    jsonw_object_end(w);
}

static void
rm_json(struct rm *m, FILE *out)
{
    struct jsonw w;
    jsonw_init(&w, file_sink, out, JSONW_PRETTY);
    jsonw_object_begin(&w);
    jsonw_kstr(&w, "capture", m->o.capture);
    jsonw_kuint(&w, "sessions", m->cap.ns);
    jsonw_kuint(&w, "commands", m->cap.ncmds);
    jsonw_kint(&w, "runs", m->nruns);
    jsonw_kstr(&w, "mode",
               m->mode == REPLAY_READ_ONLY ? "read-only"
               : m->mode == REPLAY_WRITES  ? "writes"
                                           : "rolled-back writes");
    jsonw_key(&w, "targets");
    jsonw_array_begin(&w);
    for (int k = 0; k < m->nsides; k++) {
        const struct replay_run *r = &m->runs[k][0];
        const struct replay_uri *u = &m->o.target[m->o.ntargets == 2 ? k : 0];
        jsonw_object_begin(&w);
        jsonw_kstr(&w, "label", m->label[k]);
        jsonw_kstr(&w, "host", u->host);
        jsonw_kuint(&w, "port", u->port);
        jsonw_kuint(&w, "ran", r->ran);
        jsonw_kuint(&w, "skipped_writes", r->skipped_write);
        jsonw_kuint(&w, "not_replayable", r->unsupported);
        jsonw_kuint(&w, "errors", r->errors);
        jsonw_kuint(&w, "sessions_not_connected", r->connect_failed);
        jsonw_kdouble(&w, "seconds", r->wall_s);
        jsonw_object_end(&w);
    }
    jsonw_array_end(&w);
    json_reasons(&w, "not_replayable", &m->notrun);
    json_reasons(&w, "not_comparable", &m->unstable);
    jsonw_key(&w, "ddl");
    jsonw_array_begin(&w);
    for (int i = 0; i < m->nddl; i++) {
        jsonw_object_begin(&w);
        jsonw_kstr(&w, "sql", m->ddl[i]);
        jsonw_kbool(&w, "applied", m->applied[i]);
        if (m->undo[i]) {
            jsonw_kstr(&w, "undo", m->undo[i]);
        } else {
            jsonw_knull(&w, "undo");
        }
        jsonw_object_end(&w);
    }
    jsonw_array_end(&w);
    jsonw_key(&w, "shapes");
    jsonw_array_begin(&w);
    for (size_t i = 0; i < m->nshapes; i++) {
        struct rm_shape *s = &m->shapes[i];
        char hex[17];
        proto_digest_hex(s->digest, hex);
        jsonw_object_begin(&w);
        jsonw_kstr(&w, "digest", hex);
        jsonw_kstr(&w, "fingerprint", s->fp);
        jsonw_kstr(&w, "route", s->route);
        jsonw_kbool(&w, "write", s->write);
        jsonw_kbool(&w, "prepared", s->prepared);
        json_side(&w, m->label[0], &s->side[0], m->nruns);
        if (m->nsides == 2) {
            json_side(&w, m->label[1], &s->side[1], m->nruns);
            jsonw_kdouble(&w, "ratio", s->ratio);
            jsonw_kstr(&w, "verdict", replay_verdict_name(s->verdict));
            jsonw_kbool(&w, "plan_changed", plan_changed(s));
            jsonw_kuint(&w, "result_differences", s->diffs);
            if (s->first_diff) {
                jsonw_kstr(&w, "first_difference", s->first_diff);
            }
            jsonw_kuint(&w, "errors_only_a", s->err_only[0]);
            jsonw_kuint(&w, "errors_only_b", s->err_only[1]);
        }
        if (m->mode != REPLAY_ROLLBACK) {
            jsonw_kuint(&w, "fidelity_same", s->fid_same);
            jsonw_kuint(&w, "fidelity_different", s->fid_diff);
            jsonw_kuint(&w, "errors_not_as_captured", s->fid_err);
            jsonw_kuint(&w, "fidelity_not_comparable", s->fid_unstable);
            jsonw_kuint(&w, "fidelity_different_out_of_order", s->fid_behind);
            jsonw_kuint(&w, "errors_not_as_captured_out_of_order", s->fid_err_ooo);
            if (s->fid_first) {
                jsonw_kstr(&w, "fidelity_first_difference", s->fid_first);
            }
        }
        jsonw_object_end(&w);
    }
    jsonw_array_end(&w);
    jsonw_key(&w, "routes");
    jsonw_array_begin(&w);
    for (size_t i = 0; i < m->nroutes; i++) {
        struct rm_route *r = &m->routes[i];
        jsonw_object_begin(&w);
        jsonw_kstr(&w, "route", r->name);
        json_side(&w, m->label[0], &r->side[0], m->nruns);
        if (m->nsides == 2) {
            json_side(&w, m->label[1], &r->side[1], m->nruns);
            jsonw_kdouble(&w, "typical_ms_a", r->typical_us[0] / 1000);
            jsonw_kdouble(&w, "typical_ms_b", r->typical_us[1] / 1000);
            jsonw_kdouble(&w, "ratio", r->ratio);
            jsonw_kstr(&w, "verdict", replay_verdict_name(r->verdict));
        }
        jsonw_object_end(&w);
    }
    jsonw_array_end(&w);
    if (m->nddl_tables) {
        jsonw_key(&w, "write_cost");
        jsonw_array_begin(&w);
        for (int t = 0; t < m->nddl_tables; t++) {
            struct rm_wcost c;
            rm_write_cost(m, m->ddl_tables[t], &c);
            double a = c.a_us, b = c.b_us;
            uint64_t n = c.n;
            jsonw_object_begin(&w);
            jsonw_kstr(&w, "table", m->ddl_tables[t]);
            jsonw_kuint(&w, "writes", n);
            jsonw_kdouble(&w, "before_ms", a / 1000);
            jsonw_kdouble(&w, "after_ms", b / 1000);
            jsonw_kstr(&w, "verdict", replay_verdict_name(c.verdict));
            jsonw_object_end(&w);
        }
        jsonw_array_end(&w);
    }
    jsonw_object_end(&w);
    jsonw_flush(&w);
    fputc('\n', out);
}

static void
html_esc(FILE *f, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '<':
            fputs("&lt;", f);
            break;
        case '>':
            fputs("&gt;", f);
            break;
        case '&':
            fputs("&amp;", f);
            break;
        case '"':
            fputs("&quot;", f);
            break;
        default:
            fputc(*s, f);
        }
    }
}

static bool
rm_html(struct rm *m, const char *path)
{
    FILE *f = fopen(path, "w");
    if (!f) {
        fprintf(m->err, "slowtap %s: --html: %s: %s\n", m->cmdname, path, strerror(errno));
        return false;
    }
    fputs(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>slowtap replay</title>\n"
        "<style>\n"
        ":root { --bg: #f6f7f9; --card: #fff; --ink: #1d2330; --muted: #6b7385; --line: #e3e6ec;\n"
        "  --accent: #2f6fde; --bad: #d43a3a; --good: #1f8a4c; }\n"
        "body { margin: 0; font: 13px/1.4 system-ui, sans-serif; background: var(--bg); color: "
        "var(--ink); }\n"
        "header { padding: 14px 24px; background: #1d2330; color: #fff; font-size: 16px; }\n"
        "main { padding: 16px 24px; } .card { background: var(--card); border: 1px solid "
        "var(--line);\n"
        "  border-radius: 6px; padding: 12px 16px; margin-bottom: 16px; }\n"
        "table { border-collapse: collapse; width: 100%; font-size: 12px; } th, td { padding: 4px "
        "6px;\n"
        "  border-bottom: 1px solid var(--line); text-align: right; white-space: nowrap; }\n"
        "th { font-size: 11px; text-transform: uppercase; color: var(--muted); background: "
        "#fafbfc; }\n"
        "td.l, th.l { text-align: left; } td.l { font-family: ui-monospace, monospace; }\n"
        "td.s { max-width: 300px; overflow: hidden; text-overflow: ellipsis; }\n"
        "td.r { max-width: 140px; overflow: hidden; text-overflow: ellipsis; }\n"
        ".faster { color: var(--good); font-weight: 600; } .slower { color: var(--bad); "
        "font-weight: 600; }\n"
        ".chg { color: var(--accent); font-weight: 600; }\n"
        "</style></head><body>\n",
        f);
    fprintf(f, "<header>slowtap %s &mdash; ", m->cmdname);
    html_esc(f, m->o.capture);
    fprintf(f, ": %zu sessions, %zu commands</header><main>\n", m->cap.ns, m->cap.ncmds);
    fputs("<div class=\"card\">", f);
    for (int k = 0; k < m->nsides; k++) {
        const struct replay_run *r = &m->runs[k][0];
        fprintf(f, "<div><b>%s</b>: %llu ran, %llu writes skipped, %llu errors, %.2f s</div>\n",
                m->label[k], (unsigned long long)r->ran, (unsigned long long)r->skipped_write,
                (unsigned long long)r->errors, r->wall_s);
    }
    for (int i = 0; i < m->nddl; i++) {
        fputs("<div>DDL: <code>", f);
        html_esc(f, m->ddl[i]);
        fputs("</code></div>\n", f);
    }
    fputs("<div>Times in milliseconds; count per run; ratio: median of the second over the "
          "first.</div>",
          f);
    fputs(
        "</div><div class=\"card\"><table><tr><th class=\"l\">shape</th><th class=\"l\">route</th>"
        "<th>count</th>",
        f);
    for (int k = 0; k < m->nsides; k++) {
        fprintf(f, "<th>%s p50</th><th>%s total</th>", m->label[k], m->label[k]);
    }
    fputs("<th>plan</th>", f);
    if (m->nsides == 2) {
        fputs("<th>ratio</th><th>verdict</th><th>result diffs</th>", f);
    } else {
        fputs("<th>fidelity</th>", f);
    }
    fputs("</tr>\n", f);
    for (size_t i = 0; i < m->nshapes; i++) {
        struct rm_shape *s = &m->shapes[i];
        if (s->side[0].n == 0 && s->side[1].n == 0) {
            continue;
        }
        fputs("<tr><td class=\"l s\" title=\"", f);
        html_esc(f, s->fp);
        fputs("\">", f);
        html_esc(f, s->fp);
        fputs("</td><td class=\"l r\" title=\"", f);
        html_esc(f, s->route);
        fputs("\">", f);
        html_esc(f, s->route);
        fprintf(f, "</td><td>%zu</td>", s->side[0].n / (size_t)m->nruns);
        for (int k = 0; k < m->nsides; k++) {
            fprintf(f, "<td>%.3f</td><td>%.1f</td>", q_of(&s->side[k], 0.5) / 1000,
                    s->side[k].total_us / 1000);
        }
        fprintf(f, "<td%s>", plan_changed(s) ? " class=\"chg\"" : "");
        html_esc(f, plan_str(&s->side[0].plan));
        if (m->nsides == 2) {
            fputs(" &rarr; ", f);
            html_esc(f, plan_str(&s->side[1].plan));
        }
        fputs("</td>", f);
        if (m->nsides == 2) {
            fprintf(f, "<td>%.2f</td><td class=\"%s\">%s</td><td>%llu</td>", s->ratio,
                    replay_verdict_name(s->verdict), replay_verdict_name(s->verdict),
                    (unsigned long long)s->diffs);
        } else {
            fprintf(f, "<td>%llu / %llu</td>", (unsigned long long)s->fid_same,
                    (unsigned long long)(s->fid_same + s->fid_diff));
        }
        fputs("</tr>\n", f);
    }
    fputs("</table></div>\n", f);
    if (m->nroutes && m->nsides == 2) {
        fputs("<div class=\"card\"><table><tr><th class=\"l\">route</th><th>count</th>", f);
        fprintf(f,
                "<th>%s total</th><th>%s total</th><th>%s typical</th>"
                "<th>%s typical</th><th>ratio</th><th>verdict</th></tr>\n",
                m->label[0], m->label[1], m->label[0], m->label[1]);
        for (size_t i = 0; i < m->nroutes; i++) {
            struct rm_route *r = &m->routes[i];
            if (r->side[0].n == 0 && r->side[1].n == 0) {
                continue;
            }
            fputs("<tr><td class=\"l\">", f);
            html_esc(f, r->name);
            fprintf(f,
                    "</td><td>%zu</td><td>%.1f</td><td>%.1f</td><td>%.1f</td><td>%.1f</td>"
                    "<td>%.2f</td><td class=\"%s\">%s</td></tr>\n",
                    r->side[0].n / (size_t)m->nruns, r->side[0].total_us / 1000,
                    r->side[1].total_us / 1000, r->typical_us[0] / 1000, r->typical_us[1] / 1000,
                    r->ratio, replay_verdict_name(r->verdict), replay_verdict_name(r->verdict));
        }
        fputs("</table></div>\n", f);
    }
    if (m->nddl_tables) {
        fputs("<div class=\"card\"><b>Write time on the tables the DDL touched</b>", f);
        for (int t = 0; t < m->nddl_tables; t++) {
            struct rm_wcost w;
            rm_write_cost(m, m->ddl_tables[t], &w);
            fputs("<div>", f);
            html_esc(f, m->ddl_tables[t]);
            fprintf(f, ": %zu writes, %.1f ms before, %.1f ms after: %s</div>\n", w.n,
                    w.a_us / 1000, w.b_us / 1000, replay_verdict_name(w.verdict));
        }
        fputs("</div>\n", f);
    }
    uint64_t diffs = 0;
    for (size_t i = 0; i < m->nshapes; i++) {
        diffs += m->shapes[i].diffs;
    }
    if (m->nsides == 2) {
        fprintf(f, "<div class=\"card\"><b>Result differences: %llu</b>",
                (unsigned long long)diffs);
        for (size_t i = 0; i < m->nshapes; i++) {
            if (m->shapes[i].first_diff) {
                fputs("<div><code>", f);
                html_esc(f, m->shapes[i].first_diff);
                fputs("</code></div>", f);
            }
        }
        fputs("</div>\n", f);
    }
    const struct rm_reasons *groups[2] = {&m->notrun, &m->unstable};
    const char *titles[2] = {"Not replayable", "Not comparable (differs by its nature)"};
    for (int g = 0; g < 2; g++) {
        if (!groups[g]->total) {
            continue;
        }
        fprintf(f, "<div class=\"card\"><b>%s: %llu</b>", titles[g],
                (unsigned long long)groups[g]->total);
        for (size_t i = 0; i < groups[g]->n; i++) {
            fprintf(f, "<div>%llu &times; ", (unsigned long long)groups[g]->r[i].n);
            html_esc(f, groups[g]->r[i].why);
            fputs("; first: <code>", f);
            html_esc(f, groups[g]->r[i].first ? groups[g]->r[i].first : "?");
            fputs("</code></div>", f);
        }
        fputs("</div>\n", f);
    }
    fputs("</main></body></html>\n", f);
    bool ok = fclose(f) == 0;
    if (!ok) {
        fprintf(m->err, "slowtap %s: --html: %s: write failed\n", m->cmdname, path);
    }
    return ok;
}

static void
rm_free(struct rm *m)
{
    for (int k = 0; k < 2; k++) {
        for (int r = 0; r < RM_REPEAT_MAX; r++) {
            replay_run_free(&m->runs[k][r]);
        }
    }
    for (size_t i = 0; i < m->nshapes; i++) {
        free(m->shapes[i].side[0].t);
        free(m->shapes[i].side[1].t);
        free(m->shapes[i].first_diff);
        free(m->shapes[i].fid_first);
    }
    rm_reasons_free(&m->notrun);
    rm_reasons_free(&m->unstable);
    free(m->shapes);
    for (size_t i = 0; i < m->nroutes; i++) {
        free(m->routes[i].side[0].t);
        free(m->routes[i].side[1].t);
    }
    free(m->routes);
    for (size_t i = 0; m->shape_of && i < m->cap.ns; i++) {
        free(m->shape_of[i]);
        free(m->route_of[i]);
    }
    free(m->shape_of);
    free(m->route_of);
    for (int i = 0; i < m->nddl; i++) {
        free(m->ddl[i]);
        free(m->undo[i]);
    }
    replay_cap_free(&m->cap);
}

static int
rm_report(struct rm *m)
{
    rm_aggregate(m);
    qsort(m->shapes, m->nshapes, sizeof(*m->shapes), shape_cmp);
    if (m->o.json) {
        rm_json(m, m->out);
    } else {
        rm_text(m, m->out);
    }
    if (m->o.html && !rm_html(m, m->o.html)) {
        return 1;
    }
    return 0;
}

/* Replays m->o.repeat times against u into side k. */
/*
 * Replays the capture m->o.repeat times against the targets u[0..nu), into sides k0.. : with
 * two targets in lockstep (replay_run_sides), so that whatever else loads the machine weighs
 * on both alike. A first, unmeasured run warms caches and buffer pools (not with --writes: it
 * would write twice).
 */
static bool
rm_runs(struct rm *m, const struct replay_uri *const *u, int nu, int k0)
{
    struct replay_opts ro = {.mode = m->mode,
                             .speed = m->o.no_wait ? 0 : m->o.speed,
                             .in_order = m->o.in_order,
                             .progress = true,
                             .err = m->err};
    for (int r = m->mode != REPLAY_WRITES ? -1 : 0; r < m->nruns; r++) {
        struct replay_run out[2];
        if (!replay_run_sides(&m->cap, u, nu, &ro, out)) {
            fprintf(m->err, "slowtap %s: out of memory\n", m->cmdname);
            return false;
        }
        for (int t = 0; t < nu; t++) {
            if (r < 0) {
                replay_run_free(&out[t]);
            } else {
                m->runs[k0 + t][r] = out[t];
            }
        }
    }
    return true;
}

static int
rm_load(struct rm *m)
{
    char err[512];
    if (!replay_cap_load(m->o.capture, &m->cap, err, sizeof(err))) {
        fprintf(m->err, "slowtap %s: %s\n", m->cmdname, err);
        return 1;
    }
    if (!rm_build_shapes(m)) {
        fprintf(m->err, "slowtap %s: out of memory\n", m->cmdname);
        return 1;
    }
    m->nruns = m->o.repeat;
    return 0;
}

int
replay_main(int argc, char **argv, FILE *out, FILE *err)
{
    struct rm *m = calloc(1, sizeof(*m));
    if (!m) {
        return 1;
    }
    m->out = out;
    m->err = err;
    m->cmdname = "replay";
    int rc = rm_parse(m, argc, argv, false);
    if (rc) {
        free(m);
        return rc < 0 ? 0 : rc;
    }
    m->mode = m->o.writes ? REPLAY_WRITES : REPLAY_READ_ONLY;
    for (int k = 0; m->o.writes && k < m->o.ntargets; k++) {
        if ((rc = rm_check_target(m, &m->o.target[k])) != 0) {
            free(m);
            return rc;
        }
    }
    if ((rc = rm_load(m)) != 0) {
        rm_free(m);
        free(m);
        return rc;
    }
    m->nsides = m->o.ntargets;
    m->label[0] = "A";
    m->label[1] = "B";
    const struct replay_uri *tu[2] = {&m->o.target[0], &m->o.target[1]};
    if (!rm_runs(m, tu, m->nsides, 0)) {
        rm_free(m);
        free(m);
        return 1;
    }
    for (int k = 0; k < m->nsides; k++) {
        rm_explain_all(m, &m->o.target[k], k, false);
    }
    rc = rm_report(m);
    for (int k = 0; k < m->nsides && rc == 0; k++) {
        if (m->runs[k][0].connect_failed && m->runs[k][0].ran == 0) {
            rc = 1;
        }
    }
    rm_free(m);
    free(m);
    return rc;
}

/* ---- whatif ---- */

/* Copies the text of tokens [a, b) of sql. */
static void
tok_copy(const char *sql, size_t a, size_t b, char *out, size_t cap)
{
    size_t n = b - a < cap - 1 ? b - a : cap - 1;
    memcpy(out, sql + a, n);
    out[n] = '\0';
}

/* The undo of an index DDL and the table it touches: ALTER TABLE t ADD {INDEX|KEY|UNIQUE
 * [INDEX|KEY]} name ... -> ALTER TABLE t DROP INDEX name; CREATE [UNIQUE] INDEX name ON t ->
 * DROP INDEX name ON t. NULL when the DDL is another kind (then it is not undone). */
static char *
rm_undo_of(const char *sql, char *table, size_t tcap)
{
    struct proto_sqllex lx;
    struct proto_sqltok t[16];
    size_t n = 0;
    proto_sqllex_init(&lx, sql, strlen(sql), 0);
    struct proto_sqltok x;
    while (n < 16 && proto_sqllex_next(&lx, &x) != PROTO_TOK_END) {
        if (!proto_sqltok_blank(&x)) {
            t[n++] = x;
        }
    }
    table[0] = '\0';
    char tbl[300], name[200], q[600];
    size_t i = 0;
    if (n >= 6 && proto_sqltok_word_is(&lx, &t[0], "alter") &&
        proto_sqltok_word_is(&lx, &t[1], "table")) {
        i = 2;
        size_t ts = t[i].start;
        i++;
        while (i + 1 < n && proto_sqltok_op_is(&lx, &t[i], ".")) {
            i += 2;
        }
        tok_copy(sql, ts, t[i - 1].end, tbl, sizeof(tbl));
        tok_copy(sql, t[i - 1].body_start, t[i - 1].body_end, table, tcap);
        if (i >= n || !proto_sqltok_word_is(&lx, &t[i], "add")) {
            return NULL;
        }
        i++;
        if (i < n && proto_sqltok_word_is(&lx, &t[i], "unique")) {
            i++;
        }
        if (i < n && (proto_sqltok_word_is(&lx, &t[i], "index") ||
                      proto_sqltok_word_is(&lx, &t[i], "key"))) {
            i++;
        } else if (t[i - 1].start == 0 || !proto_sqltok_word_is(&lx, &t[i - 1], "unique")) {
            return NULL;
        }
        if (i >= n || (t[i].kind != PROTO_TOK_WORD && t[i].kind != PROTO_TOK_QIDENT)) {
            return NULL;
        }
        tok_copy(sql, t[i].start, t[i].end, name, sizeof(name));
        snprintf(q, sizeof(q), "ALTER TABLE %s DROP INDEX %s", tbl, name);
        return strdup(q);
    }
    if (n >= 5 && proto_sqltok_word_is(&lx, &t[0], "create")) {
        i = 1;
        if (proto_sqltok_word_is(&lx, &t[i], "unique")) {
            i++;
        }
        if (!proto_sqltok_word_is(&lx, &t[i], "index") || i + 3 >= n) {
            return NULL;
        }
        tok_copy(sql, t[i + 1].start, t[i + 1].end, name, sizeof(name));
        if (!proto_sqltok_word_is(&lx, &t[i + 2], "on")) {
            return NULL;
        }
        i += 3;
        size_t ts = t[i].start;
        i++;
        while (i + 1 < n && proto_sqltok_op_is(&lx, &t[i], ".")) {
            i += 2;
        }
        tok_copy(sql, ts, t[i - 1].end, tbl, sizeof(tbl));
        tok_copy(sql, t[i - 1].body_start, t[i - 1].body_end, table, tcap);
        snprintf(q, sizeof(q), "DROP INDEX %s ON %s", name, tbl);
        return strdup(q);
    }
    return NULL;
}

int
whatif_main(int argc, char **argv, FILE *out, FILE *err)
{
    struct rm *m = calloc(1, sizeof(*m));
    if (!m) {
        return 1;
    }
    m->out = out;
    m->err = err;
    m->cmdname = "whatif";
    int rc = rm_parse(m, argc, argv, true);
    if (rc) {
        free(m);
        return rc < 0 ? 0 : rc;
    }
    const struct replay_uri *u = &m->o.target[0];
    if ((rc = rm_check_target(m, u)) != 0) {
        free(m);
        return rc;
    }
    if ((rc = rm_load(m)) != 0) {
        rm_free(m);
        free(m);
        return rc;
    }
    m->mode = REPLAY_ROLLBACK;
    m->nsides = 2;
    m->label[0] = "before";
    m->label[1] = "after";
    rc = 1;
    if (!rm_runs(m, &u, 1, 0)) {
        goto out;
    }
    rm_explain_all(m, u, 0, m->o.advice);
    for (int i = 0; i < m->o.nddl; i++) {
        m->ddl[m->nddl++] = strdup(m->o.ddl[i]);
    }
    if (m->nddl == 0) {
        fprintf(out,
                "slowtap whatif: no index advice for the captured shapes on %s:%u: nothing "
                "to try\n",
                u->host, u->port);
        rc = 0;
        goto out;
    }
    char cerr[256];
    MYSQL *my = rm_connect(u, cerr, sizeof(cerr));
    if (!my) {
        fprintf(err, "slowtap whatif: %s:%u: %s\n", u->host, u->port, cerr);
        goto out;
    }
    bool all = true;
    for (int i = 0; i < m->nddl; i++) {
        if (!m->ddl[i]) {
            all = false;
            continue;
        }
        char table[ADVICE_NAME_MAX];
        m->undo[i] = rm_undo_of(m->ddl[i], table, sizeof(table));
        fprintf(err, "slowtap whatif: applying %s\n", m->ddl[i]);
        if (mysql_query(my, m->ddl[i]) != 0) {
            fprintf(err, "slowtap whatif: %s: %s\n", m->ddl[i], mysql_error(my));
            all = false;
            continue;
        }
        m->applied[i] = true;
        if (!m->undo[i]) {
            fprintf(err, "slowtap whatif: note: slowtap undoes ADD INDEX / CREATE INDEX only: "
                         "undo this DDL yourself\n");
        }
        bool seen = false;
        for (int t = 0; t < m->nddl_tables; t++) {
            seen |= strcmp(m->ddl_tables[t], table) == 0;
        }
        if (table[0] && !seen && m->nddl_tables < RM_DDL_MAX) {
            snprintf(m->ddl_tables[m->nddl_tables++], ADVICE_NAME_MAX, "%s", table);
        }
    }
    mysql_close(my);
    if (all || m->nddl_tables) {
        if (rm_runs(m, &u, 1, 1)) {
            rm_explain_all(m, u, 1, false);
            rc = rm_report(m);
        }
    }
    if (!m->o.keep) {
        my = rm_connect(u, cerr, sizeof(cerr));
        for (int i = 0; i < m->nddl; i++) {
            if (!m->applied[i] || !m->undo[i]) {
                continue;
            }
            if (!my || mysql_query(my, m->undo[i]) != 0) {
                fprintf(err, "slowtap whatif: undo failed: %s: %s\n", m->undo[i],
                        my ? mysql_error(my) : cerr);
                rc = 1;
            } else {
                fprintf(err, "slowtap whatif: undone: %s\n", m->undo[i]);
            }
        }
        if (my) {
            mysql_close(my);
        }
    }
    if (!all && rc == 0) {
        rc = 1;
    }
out:
    rm_free(m);
    free(m);
    return rc;
}
