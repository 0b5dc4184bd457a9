/*
 * test_sqllex.c - one table of lexer cases run against every reader of statement text: the
 * tokens of proto_sqllex, the fingerprint, the statement kind, the USE schema, redaction of
 * every literal and `?` substitution (all of them built on the lexer), under each sql_mode a
 * case names. Then the properties of tests/fuzz/fuzz_sqllex.c (redaction leaves no literal and
 * keeps the fingerprint; substitution keeps the prepared statement's fingerprint) over every
 * case in every mode and over random statements, and issue 12's two redaction leaks.
 */
#include "check.h"

#include <stdlib.h>

#include "protocol/proto_fingerprint.h"
#include "protocol/proto_redact.h"
#include "protocol/proto_sqllex.h"
#include "protocol/proto_stmt.h"

const char *fuzz_sqllex_check(const char *sql, size_t len, unsigned mode, unsigned pick);

#define NBE  PROTO_SQLMODE_NO_BACKSLASH_ESCAPES
#define ANSI PROTO_SQLMODE_ANSI_QUOTES

/* One letter per token kind. */
static char
kind_letter(enum proto_tok k)
{
    static const char letters[] = "-_ch<>wisnxb?:ou";
    return (size_t)k < sizeof letters - 1 ? letters[k] : '!';
}

struct lex_case {
    const char *sql;
    unsigned mode;
    const char *tokens; /* kind letters: _ space, c comment, h hint, < > executable comment
                           open/close, w word, i quoted identifier, s string, n number, x hex,
                           b bit, ? placeholder, : named placeholder, o operator,
                           u unterminated */
    const char *fp;     /* fingerprint */
    const char *red;    /* every literal redacted */
    const char *sub;    /* every ? replaced by 7 (NULL: the text has no placeholder) */
    enum proto_stmt_kind kind;
    const char *schema; /* USE schema, NULL: none */
};

static const struct lex_case cases[] = {
    {"SELECT 1", 0, "w_n", "select ?", "SELECT ?", NULL, PROTO_STMT_SELECT, NULL},
    /* issue 12's leaks: an executable comment is code; no backslash escape in backticks */
    {"SELECT /*! 'secret' */ FROM t", 0, "w_<_s_>_w_w", "select ? from t", "SELECT /*! ? */ FROM t",
     NULL, PROTO_STMT_SELECT, NULL},
    {"SELECT `a\\`, 'secret' FROM t", 0, "w_io_s_w_w", "select `a\\`, ? from t",
     "SELECT `a\\`, ? FROM t", NULL, PROTO_STMT_SELECT, NULL},
    {"/*M!100000 SELECT */ 1", 0, "<_w_>_n", "select ?", "/*M!100000 SELECT */ ?", NULL,
     PROTO_STMT_SELECT, NULL},
    {"/*!50700 SELECT 'x' */", 0, "<_w_s_>", "select ?", "/*!50700 SELECT ? */", NULL,
     PROTO_STMT_SELECT, NULL},
    {"SELECT /*! /* c */ 1 */ 2", 0, "w_<_c_n_>_n", "select ? ?", "SELECT /*! /* c */ ? */ ?", NULL,
     PROTO_STMT_SELECT, NULL},
    /* strings and the sql_mode */
    {"select 'a\\'b'", 0, "w_s", "select ?", "select ?", NULL, PROTO_STMT_SELECT, NULL},
    {"select 'a\\'b'", NBE, "w_su", "select ??", "select ??", NULL, PROTO_STMT_SELECT, NULL},
    {"select 'a\\'c'", NBE, "w_swu", "select ?c?", "select ?c?", NULL, PROTO_STMT_SELECT, NULL},
    {"SELECT '\\', 'x'", NBE, "w_so_s", "select ?, ?", "SELECT ?, ?", NULL, PROTO_STMT_SELECT,
     NULL},
    {"SELECT '\\', 'x'", 0, "w_su", "select ??", "SELECT ??", NULL, PROTO_STMT_SELECT, NULL},
    {"SELECT '\\', 'z'", 0, "w_swu", "select ?z?", "SELECT ?z?", NULL, PROTO_STMT_SELECT, NULL},
    {"SELECT 'it''s', \"a\\\"b\"", 0, "w_so_s", "select ?, ?", "SELECT ?, ?", NULL,
     PROTO_STMT_SELECT, NULL},
    {"SELECT \"a\"\"b\" FROM t", ANSI, "w_i_w_w", "select \"a\"\"b\" from t",
     "SELECT \"a\"\"b\" FROM t", NULL, PROTO_STMT_SELECT, NULL},
    {"SELECT \"a\"\"b\" FROM t", 0, "w_s_w_w", "select ? from t", "SELECT ? FROM t", NULL,
     PROTO_STMT_SELECT, NULL},
    {"SELECT \"a\\\" FROM t", ANSI, "w_i_w_w", "select \"a\\\" from t", "SELECT \"a\\\" FROM t",
     NULL, PROTO_STMT_SELECT, NULL},
    {"SELECT `a``b`, `x\"y`", ANSI, "w_io_i", "select `a``b`, `x\"y`", "SELECT `a``b`, `x\"y`",
     NULL, PROTO_STMT_SELECT, NULL},
    /* introducers, hex, bit and numbers */
    {"SELECT _utf8mb4'x', N'y', X'1F', b'01', 0x1F, 0b01", 0, "w_so_so_xo_bo_xo_b",
     "select _utf8mb4?, ?, ?, ?, ?, ?", "SELECT _utf8mb4?, ?, ?, ?, ?, ?", NULL, PROTO_STMT_SELECT,
     NULL},
    {"SELECT _binary\"x\"", 0, "w_s", "select _binary?", "SELECT _binary?", NULL, PROTO_STMT_SELECT,
     NULL},
    {"SELECT X'41''42'", 0, "w_xs", "select ??", "SELECT ??", NULL, PROTO_STMT_SELECT, NULL},
    {"SELECT 1e-3, .5, 1.e5, 12abc, 0x1g, t1.5", 0, "w_no_no_no_wo_wo_won",
     "select ?, ?, ?, 12abc, 0x1g, t1.?", "SELECT ?, ?, ?, 12abc, 0x1g, t1.?", NULL,
     PROTO_STMT_SELECT, NULL},
    {"SELECT a = -5, b - 5, -?, - ?", 0, "w_w_o_ono_w_o_no_o?o_o_?", "select a = ?, b - ?, ?, - ?",
     "SELECT a = -?, b - ?, -?, - ?", "SELECT a = -5, b - 5, -7, - 7", PROTO_STMT_SELECT, NULL},
    /* placeholders */
    {"SELECT ?, :name FROM t WHERE a IN (?, ?)", 0, "w_?o_:_w_w_w_w_w_o?o_?o",
     "select ?, :name from t where a in(?+)", "SELECT ?, :name FROM t WHERE a IN (?, ?)",
     "SELECT 7, :name FROM t WHERE a IN (7, 7)", PROTO_STMT_SELECT, NULL},
    {"SELECT '?', `?`, /* ? */ /*+ ? */ ?", 0, "w_so_io_c_h_?", "select ?, `?`, ?",
     "SELECT ?, `?`, /* ? */ /*+ ? */ ?", "SELECT '?', `?`, /* ? */ /*+ ? */ 7", PROTO_STMT_SELECT,
     NULL},
    {"SELECT /*! ? */ 1", 0, "w_<_?_>_n", "select ? ?", "SELECT /*! ? */ ?", "SELECT /*! 7 */ 1",
     PROTO_STMT_SELECT, NULL},
    {"SET @a := 1", 0, "w_ow_o_n", "set @a := ?", "SET @a := ?", NULL, PROTO_STMT_OTHER, NULL},
    /* comments and hints */
    {"SELECT 1 -- c\n# d\n/* e */ /*+ BKA(t) */ 2", 0, "w_n_c_c_c_h_n", "select ? ?",
     "SELECT ? -- c\n# d\n/* e */ /*+ BKA(t) */ ?", NULL, PROTO_STMT_SELECT, NULL},
    {"SELECT /*+ SET_VAR(x='s') */ 1", 0, "w_h_n", "select ?", "SELECT /*+ SET_VAR(x=?) */ ?", NULL,
     PROTO_STMT_SELECT, NULL},
    {"--x", 0, "oow", "--x", "--x", NULL, PROTO_STMT_OTHER, NULL},
    {"-- x", 0, "c", "", "-- x", NULL, PROTO_STMT_OTHER, NULL},
    {"select 1--", 0, "w_nc", "select ?", "select ?--", NULL, PROTO_STMT_SELECT, NULL},
    {"select\0 1", 0, "w_n", "select ?", "select\0 ?", NULL, PROTO_STMT_SELECT, NULL},
    /* operators */
    {"a<=>b->>'$.x' != c || d", 0, "wowos_o_w_o_w", "a<=>b->>? != c || d", "a<=>b->>? != c || d",
     NULL, PROTO_STMT_OTHER, NULL},
    /* unterminated: a token of its own, to the end */
    {"SELECT 'abc", 0, "w_u", "select ?", "SELECT ?", NULL, PROTO_STMT_SELECT, NULL},
    {"SELECT `abc", 0, "w_u", "select `abc", "SELECT `abc", NULL, PROTO_STMT_SELECT, NULL},
    {"SELECT 1 /* never closed", 0, "w_n_u", "select ?", "SELECT ? /* never closed", NULL,
     PROTO_STMT_SELECT, NULL},
    {"SELECT /*+ hint 'x", 0, "w_u", "select", "SELECT /*+ hint ?", NULL, PROTO_STMT_SELECT, NULL},
    {"x'41", 0, "u", "?", "?", NULL, PROTO_STMT_OTHER, NULL},
    {"'", 0, "u", "?", "?", NULL, PROTO_STMT_OTHER, NULL},
    {"", 0, "", "", "", NULL, PROTO_STMT_OTHER, NULL},
    /* kinds and USE */
    {"USE `my db`", 0, "w_i", "use ?", "USE `my db`", NULL, PROTO_STMT_USE, "my db"},
    {"USE \"my db\";", ANSI, "w_io", "use ?", "USE \"my db\";", NULL, PROTO_STMT_USE, "my db"},
    {"USE \"my db\"", 0, "w_s", "use ?", "USE ?", NULL, PROTO_STMT_USE, NULL},
    {"use db; select 1", 0, "w_wo_w_n", "use db; select ?", "use db; select ?", NULL,
     PROTO_STMT_OTHER, NULL},
    {"select ';' from t", 0, "w_s_w_w", "select ? from t", "select ? from t", NULL,
     PROTO_STMT_SELECT, NULL},
    {"select 1 /*! ; select 2 */", 0, "w_n_<_o_w_n_>", "select ? ; select ?",
     "select ? /*! ; select ? */", NULL, PROTO_STMT_OTHER, NULL},
    {"INSERT INTO t VALUES (?, 'a'), (?, 'b')", 0, "w_w_w_w_o?o_soo_o?o_so",
     "insert into t values(?+)", "INSERT INTO t VALUES (?, ?), (?, ?)",
     "INSERT INTO t VALUES (7, 'a'), (7, 'b')", PROTO_STMT_INSERT, NULL},
    {"with c as (select 1) select * from c into outfile '/x'", 0, "w_w_w_ow_no_w_o_w_w_w_w_s",
     "with c as (select ?) select * from c into outfile ?",
     "with c as (select ?) select * from c into outfile ?", NULL, PROTO_STMT_OTHER, NULL},
};

static size_t
case_len(const struct lex_case *tc)
{
    /* "select\0 1": the one case with a NUL inside */
    return strcmp(tc->sql, "select") == 0 ? 9 : strlen(tc->sql);
}

static bool
pred_all(void *ctx, const char *content, size_t len)
{
    (void)ctx;
    (void)content;
    (void)len;
    return true;
}

static void
test_table(void)
{
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const struct lex_case *tc = &cases[i];
        size_t len = case_len(tc);
        int before = check_failures;

        /* the tokens */
        char kinds[128];
        size_t nk = 0;
        struct proto_sqllex lx;
        struct proto_sqltok t;
        proto_sqllex_init(&lx, tc->sql, len, tc->mode);
        while (proto_sqllex_next(&lx, &t) != PROTO_TOK_END && nk + 1 < sizeof kinds) {
            kinds[nk++] = kind_letter(t.kind);
        }
        kinds[nk] = '\0';
        CHECK_STR(kinds, tc->tokens);

        /* fingerprint, kind, schema, and analyze agreeing with them */
        char fp[256], fp2[256], db[64], db2[64];
        uint64_t d = proto_fingerprint_mode(tc->sql, len, tc->mode, fp, sizeof fp);
        CHECK_STR(fp, tc->fp);
        CHECK_EQ_U(proto_stmt_classify_mode(tc->sql, len, tc->mode), tc->kind);
        bool use = proto_stmt_use_schema_mode(tc->sql, len, tc->mode, db, sizeof db);
        CHECK(use == (tc->schema != NULL));
        if (use && tc->schema) {
            CHECK_STR(db, tc->schema);
        }
        struct proto_stmt_info info;
        proto_stmt_analyze(tc->sql, len, tc->mode, fp2, sizeof fp2, db2, sizeof db2, &info);
        CHECK_EQ_U(info.digest, d);
        CHECK_STR(fp2, fp);
        CHECK_EQ_U(info.kind, tc->kind);
        CHECK(info.schema_changed == use);
        if (use) {
            CHECK_STR(db2, db);
        }

        /* redaction of every literal */
        char red[256];
        size_t n = proto_redact(tc->sql, len, tc->mode, pred_all, NULL, red, sizeof red);
        size_t want_n = strcmp(tc->red, "select") == 0 ? 9 : strlen(tc->red);
        CHECK_EQ_U(n, want_n);
        CHECK(memcmp(red, tc->red, want_n) == 0);

        /* substitution */
        const char *lits[4] = {"7", "7", "7", "7"};
        size_t lens[4] = {1, 1, 1, 1};
        char sub[256];
        n = proto_substitute(tc->sql, len, tc->mode, lits, lens, 4, sub, sizeof sub);
        const char *want_sub = tc->sub ? tc->sub : tc->sql;
        CHECK_EQ_U(n, tc->sub ? strlen(tc->sub) : len);
        CHECK(memcmp(sub, want_sub, n) == 0);

        /* the properties, in every mode */
        for (unsigned mode = 0; mode < 4; mode++) {
            const char *why = fuzz_sqllex_check(tc->sql, len, mode, (unsigned)i);
            CHECK(why == NULL);
            if (why) {
                fprintf(stderr, "  property: %s (mode %u)\n", why, mode);
            }
        }
        if (check_failures != before) {
            fprintf(stderr, "  case %zu: \"%s\" mode %u\n", i, tc->sql, tc->mode);
        }
    }
}

/* Issue 12's leaks, with a predicate like --redact secret. */
static bool
pred_secret(void *ctx, const char *content, size_t len)
{
    (void)ctx;
    return memmem(content, len, "secret", 6) != NULL;
}

static void
test_leaks(void)
{
    static const char *const leaks[] = {
        "SELECT /*! 'secret' */ FROM t",
        "SELECT `a\\`, 'secret' FROM t",
        "SELECT /*M! 'secret' */ 1",
        "SELECT /*!50700 'secret' */ 1",
        "SELECT /*+ SET_VAR(a='secret') */ 1",
        "SELECT /*+ /*+ 'secret' */ 1",
        "SELECT 1 /*+ 'secret'",
        "SELECT `a``b\\`, _utf8mb4'a secret', N'secret', x'secret' FROM t",
    };
    for (size_t i = 0; i < sizeof leaks / sizeof leaks[0]; i++) {
        for (unsigned mode = 0; mode < 4; mode++) {
            char out[256];
            size_t n =
                proto_redact(leaks[i], strlen(leaks[i]), mode, pred_secret, NULL, out, sizeof out);
            CHECK(memmem(out, n, "secret", 6) == NULL);
            if (memmem(out, n, "secret", 6)) {
                fprintf(stderr, "  leak (mode %u): %s -> %s\n", mode, leaks[i], out);
            }
        }
    }
    char out[64];
    proto_redact("SELECT /*! 'secret' */ FROM t", 29, 0, pred_secret, NULL, out, sizeof out);
    CHECK_STR(out, "SELECT /*! ? */ FROM t");
    proto_redact("SELECT `a\\`, 'secret' FROM t", 28, 0, pred_secret, NULL, out, sizeof out);
    CHECK_STR(out, "SELECT `a\\`, ? FROM t");
    /* cut to capacity, NUL-terminated; cap 0 writes nothing */
    CHECK_EQ_U(proto_redact("SELECT 'secret'", 15, 0, pred_secret, NULL, out, 8), 7);
    CHECK_STR(out, "SELECT ");
    CHECK_EQ_U(proto_redact("SELECT 'secret'", 15, 0, pred_secret, NULL, NULL, 0), 0);
}

/* Random statements from SQL fragments: the properties hold for each, in every mode. */
static void
test_properties(void)
{
    static const char *const frags[] = {
        "select",    "SELECT",      " ",       "\n",
        "'a'",       "'it''s'",     "'a\\'b'", "\"x\"",
        "`t`",       "`a``b`",      "`a\\`",   "1",
        "-",         "+",           "5",       ".5",
        "1e-3",      "0x1F",        "X'1F'",   "b'01'",
        "N'x'",      "_utf8mb4'x'", "?",       " ? ",
        "(?)",       ", ?",         ":name",   "(",
        ")",         ",",           ";",       "in",
        "values",    "limit",       "offset",  "order",
        "by",        "asc",         "use",     "db",
        "with",      "insert",      "into",    "outfile",
        "call",      "p",           "/* c */", "/*! ",
        "/*!50000 ", "/*M! ",       "*/",      "/*+ h('s') */",
        "/*+ ",      "-- c\n",      "# c\n",   "--",
        "->",        "<=",          "=",       "null",
        "t1",        "\\",          "'",       "\"",
        "`",         "/*",          "x",       "'x",
        "update",    "delete",      "from",    "where",
        "table",     "\"a\\\"\"",   ".",
    };
    size_t nf = sizeof frags / sizeof frags[0];
    unsigned seed = 12345;
    char q[1024];
    int failures = 0;
    for (int it = 0; it < 30000 && failures < 10; it++) {
        size_t n = 0;
        seed = seed * 1103515245u + 12345u;
        int m = 1 + (int)((seed >> 16) % 16);
        for (int j = 0; j < m; j++) {
            seed = seed * 1103515245u + 12345u;
            const char *f = frags[(seed >> 16) % nf];
            size_t l = strlen(f);
            memcpy(q + n, f, l);
            n += l;
        }
        unsigned mode = (unsigned)it & 3u;
        const char *why = fuzz_sqllex_check(q, n, mode, seed >> 8);
        CHECK(why == NULL);
        if (why) {
            failures++;
            fprintf(stderr, "  property: %s (mode %u): %.*s\n", why, mode, (int)n, q);
        }
    }
}

int
main(void)
{
    test_table();
    test_leaks();
    test_properties();
    return check_exit();
}
