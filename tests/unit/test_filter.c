/*
 * test_filter.c - tests of proxy/filter.c: include/exclude decisions, literal redaction
 * (strings with escapes, numbers, prefixed literals, identifiers and comments left alone),
 * --redact-all fingerprints, output cut to capacity, bad patterns (one error line naming the
 * pattern and the offset) and match data used from several threads.
 */
#include "check.h"

#include <pthread.h>
#include <stdlib.h>

#include "proxy/account/filter.h"
#include "protocol/proto_fingerprint.h"

static void
conf_add(char **list, int *n, const char *pat)
{
    list[(*n)++] = strdup(pat);
}

static void
conf_clear(struct conf *c)
{
    for (int i = 0; i < c->n_include; i++) {
        free(c->include[i]);
    }
    for (int i = 0; i < c->n_exclude; i++) {
        free(c->exclude[i]);
    }
    for (int i = 0; i < c->n_redact; i++) {
        free(c->redact[i]);
    }
    memset(c, 0, sizeof(*c));
}

static bool
wants(const struct filter *f, const char *sql)
{
    return filter_wants(f, sql, strlen(sql));
}

static void
test_null_filter(void)
{
    struct conf c = {0};
    bool bad = true;
    struct filter *f = filter_new(&c, stderr, &bad);
    char out[64];

    CHECK(f == NULL);
    CHECK(!bad);
    CHECK(wants(f, "SELECT 1"));
    CHECK(!filter_redacts(f));
    CHECK_EQ_U(filter_redact(f, "SELECT 'x'", 10, out, sizeof(out)), 10);
    CHECK_STR(out, "SELECT 'x'");
    CHECK_EQ_U(filter_redact(f, "SELECT 'x'", 10, out, 5), 4);
    CHECK_STR(out, "SELE");
}

static void
test_include_exclude(void)
{
    static const struct {
        const char *inc[2], *exc[2];
        const char *sql;
        bool want;
    } cases[] = {
        {{"^SELECT"}, {NULL}, "SELECT 1", true},
        {{"^SELECT"}, {NULL}, "UPDATE t SET a=1", false},
        {{"^SELECT", "^UPDATE"}, {NULL}, "UPDATE t SET a=1", true},
        {{"(?i)^select"}, {NULL}, "SeLeCt 1", true},
        {{NULL}, {"ping"}, "SELECT 1 /* ping */", false},
        {{NULL}, {"ping"}, "SELECT 1", true},
        {{"^SELECT"}, {"health"}, "SELECT * FROM health", false},
        {{"^SELECT"}, {"health", "^SELECT 2"}, "SELECT 2", false},
        {{"^SELECT"}, {"health", "^SELECT 2"}, "SELECT 3", true},
        {{"users"}, {NULL}, "DELETE FROM users WHERE id=1", true},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conf c = {0};
        bool bad = true;
        struct filter *f;
        for (int j = 0; j < 2; j++) {
            if (cases[i].inc[j]) {
                conf_add(c.include, &c.n_include, cases[i].inc[j]);
            }
            if (cases[i].exc[j]) {
                conf_add(c.exclude, &c.n_exclude, cases[i].exc[j]);
            }
        }
        f = filter_new(&c, stderr, &bad);
        CHECK(f != NULL);
        CHECK(!bad);
        CHECK(!filter_redacts(f));
        if (wants(f, cases[i].sql) != cases[i].want) {
            fprintf(stderr, "case %zu: filter_wants('%s') != %d\n", i, cases[i].sql, cases[i].want);
            CHECK(0);
        }
        filter_free(f);
        conf_clear(&c);
    }
}

static void
test_redact(void)
{
    static const struct {
        const char *pats[2];
        const char *sql;
        const char *want;
    } cases[] = {
        {{"secret"},
         "SELECT * FROM t WHERE pw = 'my secret' AND a = 'ok'",
         "SELECT * FROM t WHERE pw = ? AND a = 'ok'"},
        {{"secret"}, "SELECT \"a secret\", 'x'", "SELECT ?, 'x'"},
        {{"secret"}, "SELECT 'it''s secret', 'it\\'s also a secret', 'no'", "SELECT ?, ?, 'no'"},
        {{"^[0-9]{16}$"},
         "INSERT INTO cards VALUES (4111111111111111, 42, '4111111111111111')",
         "INSERT INTO cards VALUES (?, 42, ?)"},
        {{"^\\d+$"},
         "SELECT t1.c2 FROM t1 WHERE c3 = 12 AND c4 = 1.5 AND c5 = -7",
         "SELECT t1.c2 FROM t1 WHERE c3 = ? AND c4 = 1.5 AND c5 = -?"},
        {{"\\."}, "SELECT 1.5, .25, 1e3, 2.5e-3, 7", "SELECT ?, ?, 1e3, ?, 7"},
        {{"4142"}, "SELECT x'4142', X'00', 0x4142", "SELECT ?, X'00', ?"},
        {{"secret"},
         "SELECT `secret` FROM secret WHERE a = 'secret'",
         "SELECT `secret` FROM secret WHERE a = ?"},
        {{"secret"},
         "SELECT 1 /* 'secret' */ -- 'secret'\n, 'secret' # 'secret'",
         "SELECT 1 /* 'secret' */ -- 'secret'\n, ? # 'secret'"},
        {{"secret"}, "SELECT 'unterminated secret", "SELECT ?"},
        {{"a", "b"}, "SELECT 'a', 'b', 'c'", "SELECT ?, ?, 'c'"},
        {{"x"}, "", ""},
        {{"é"}, "SELECT 'café', 'the'", "SELECT ?, 'the'"},
        /* Issue 12's two leaks: executable comments are code, and a backslash does not escape
         * inside backticks. */
        {{"secret"}, "SELECT /*! 'secret' */ FROM t", "SELECT /*! ? */ FROM t"},
        {{"secret"}, "SELECT `a\\`, 'secret' FROM t", "SELECT `a\\`, ? FROM t"},
        {{"secret"},
         "SELECT /*M!100000 'secret' */ 1, /*!50700 'secret' */ 2",
         "SELECT /*M!100000 ? */ 1, /*!50700 ? */ 2"},
        {{"secret"},
         "SELECT /*+ SET_VAR(x='secret') */ 1 /* 'secret' */",
         "SELECT /*+ SET_VAR(x=?) */ 1 /* 'secret' */"},
        {{"secret"}, "SELECT _utf8mb4'secret', N'secret', x'73'", "SELECT _utf8mb4?, ?, x'73'"},
        {{"^1$"}, "SELECT t1, 1abc, 1", "SELECT t1, 1abc, ?"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conf c = {0};
        bool bad = true;
        struct filter *f;
        char out[256];
        size_t n;
        for (int j = 0; j < 2; j++) {
            if (cases[i].pats[j]) {
                conf_add(c.redact, &c.n_redact, cases[i].pats[j]);
            }
        }
        f = filter_new(&c, stderr, &bad);
        CHECK(f != NULL && !bad);
        CHECK(filter_redacts(f));
        CHECK(wants(f, cases[i].sql)); /* redaction alone filters nothing */
        n = filter_redact(f, cases[i].sql, strlen(cases[i].sql), out, sizeof(out));
        CHECK_STR(out, cases[i].want);
        CHECK_EQ_U(n, strlen(cases[i].want));
        /* cut to fit, still terminated */
        n = filter_redact(f, cases[i].sql, strlen(cases[i].sql), out, 8);
        CHECK(n <= 7 && strlen(out) == n);
        CHECK_EQ_U(filter_redact(f, cases[i].sql, strlen(cases[i].sql), out, 0), 0);
        filter_free(f);
        conf_clear(&c);
    }
}

/* The session's sql_mode decides where a string ends. */
static void
test_redact_modes(void)
{
    struct conf c = {0};
    bool bad = true;
    char out[256];
    conf_add(c.redact, &c.n_redact, "secret");
    struct filter *f = filter_new(&c, stderr, &bad);
    CHECK(f != NULL && !bad);
    /* Default: 'a\', ' is one string, so 'secret' is lexed as code and the quote after it
     * opens a string to the end. Under NO_BACKSLASH_ESCAPES 'a\' is closed. */
    const char *sql = "SELECT 'a\\', 'secret'";
    filter_redact_mode(f, sql, strlen(sql), 0, out, sizeof out);
    CHECK_STR(out, "SELECT 'a\\', 'secret'");
    filter_redact_mode(f, sql, strlen(sql), PROTO_SQLMODE_NO_BACKSLASH_ESCAPES, out, sizeof out);
    CHECK_STR(out, "SELECT 'a\\', ?");
    /* ANSI_QUOTES: "secret" is an identifier, not a literal. */
    sql = "SELECT \"secret\", 'secret'";
    filter_redact_mode(f, sql, strlen(sql), PROTO_SQLMODE_ANSI_QUOTES, out, sizeof out);
    CHECK_STR(out, "SELECT \"secret\", ?");
    filter_redact_mode(f, sql, strlen(sql), 0, out, sizeof out);
    CHECK_STR(out, "SELECT ?, ?");
    filter_free(f);
    conf_clear(&c);
}

static void
test_redact_all(void)
{
    struct conf c = {0};
    bool bad = true;
    struct filter *f;
    const char *sql = "SELECT * FROM t WHERE id = 42 AND name = 'bob'";
    char out[256], fp[256];
    size_t n;

    c.redact_all = true;
    f = filter_new(&c, stderr, &bad);
    CHECK(f != NULL && !bad);
    CHECK(filter_redacts(f));
    n = filter_redact(f, sql, strlen(sql), out, sizeof(out));
    (void)proto_fingerprint(sql, strlen(sql), fp, sizeof(fp));
    CHECK_STR(out, fp);
    CHECK_EQ_U(n, strlen(fp));
    CHECK(strstr(out, "42") == NULL);
    CHECK(strstr(out, "bob") == NULL);
    filter_free(f);
}

static void
test_bad_patterns(void)
{
    static const struct {
        int list; /* 0 include, 1 exclude, 2 redact */
        const char *pat;
        const char *want;
    } cases[] = {
        {2, "a(b", "slowtap: --redact 'a(b': missing closing parenthesis at offset 3\n"},
        {0, "[z-a]",
         "slowtap: --include '[z-a]': range out of order in character class at offset 3\n"},
        {1, "*x",
         "slowtap: --exclude '*x': quantifier does not follow a repeatable item at "
         "offset 0\n"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        struct conf c = {0};
        bool bad = false;
        char *buf = NULL;
        size_t blen = 0;
        FILE *err = open_memstream(&buf, &blen);
        struct filter *f;

        conf_add(c.include, &c.n_include, "^SELECT"); /* a good one before the bad one */
        if (cases[i].list == 0) {
            conf_add(c.include, &c.n_include, cases[i].pat);
        } else if (cases[i].list == 1) {
            conf_add(c.exclude, &c.n_exclude, cases[i].pat);
        } else {
            conf_add(c.redact, &c.n_redact, cases[i].pat);
        }
        f = filter_new(&c, err, &bad);
        fclose(err);
        CHECK(f == NULL);
        CHECK(bad);
        CHECK_STR(buf, cases[i].want);
        free(buf);
        conf_clear(&c);
    }
}

struct thread_arg {
    const struct filter *f;
    int ok;
};

static void *
thread_main(void *p)
{
    struct thread_arg *a = p;
    char out[64];
    for (int i = 0; i < 2000; i++) {
        bool w = wants(a->f, (i & 1) ? "SELECT 'secret'" : "UPDATE t SET a = 1");
        size_t n = filter_redact(a->f, "SELECT 'secret'", 15, out, sizeof(out));
        if (w == (bool)(i & 1) && n == 8 && strcmp(out, "SELECT ?") == 0) {
            a->ok++;
        }
    }
    return NULL;
}

static void
test_threads(void)
{
    struct conf c = {0};
    bool bad;
    struct filter *f;
    pthread_t t[4];
    struct thread_arg a[4];

    conf_add(c.include, &c.n_include, "^SELECT");
    conf_add(c.redact, &c.n_redact, "secret");
    f = filter_new(&c, stderr, &bad);
    CHECK(f != NULL);
    for (int i = 0; i < 4; i++) {
        a[i].f = f;
        a[i].ok = 0;
        CHECK(pthread_create(&t[i], NULL, thread_main, &a[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(t[i], NULL);
        CHECK_EQ_U(a[i].ok, 2000);
    }
    filter_free(f);
    conf_clear(&c);
}

/* What the server says: quoted parts whose content matches, and bare matches (a SIGNAL's
 * MESSAGE_TEXT), become ?; --redact-all hides every quoted part and number. */
static void
test_redact_message(void)
{
    struct conf c = {0};
    bool bad = true;
    char out[256];
    size_t n;
    conf_add(c.redact, &c.n_redact, "TopSecret[A-Za-z0-9]*");
    conf_add(c.redact, &c.n_redact, "^[0-9]{16}$");
    struct filter *f = filter_new(&c, stderr, &bad);
    CHECK(f != NULL && !bad);
    const char *m = "Duplicate entry 'TopSecretValue123' for key 'PRIMARY'";
    n = filter_redact_message(f, m, strlen(m), out, sizeof out);
    CHECK_STR(out, "Duplicate entry ? for key 'PRIMARY'");
    CHECK_EQ_U(n, strlen(out));
    m = "bad TopSecretSig9 here";
    filter_redact_message(f, m, strlen(m), out, sizeof out);
    CHECK_STR(out, "bad ? here");
    /* an anchored pattern sees a quoted value whole */
    m = "Duplicate entry '4111111111111111-x' for key 'k'; Duplicate entry '4111111111111111'";
    filter_redact_message(f, m, strlen(m), out, sizeof out);
    CHECK_STR(out, "Duplicate entry '4111111111111111-x' for key 'k'; Duplicate entry ?");
    /* a syntax error quotes the rest of the statement, quotes and all */
    m = "You have an error in your SQL syntax; near ''TopSecretSyn1') x' at line 1";
    filter_redact_message(f, m, strlen(m), out, sizeof out);
    CHECK(strstr(out, "TopSecret") == NULL);
    /* nothing to hide: copied; a small buffer: cut, NUL-terminated */
    m = "Table 'db.t' doesn't exist";
    filter_redact_message(f, m, strlen(m), out, sizeof out);
    CHECK_STR(out, m);
    n = filter_redact_message(f, m, strlen(m), out, 6);
    CHECK_EQ_U(n, 5);
    CHECK_STR(out, "Table");
    filter_free(f);
    conf_clear(&c);

    struct conf all = {0};
    all.redact_all = true;
    f = filter_new(&all, stderr, &bad);
    CHECK(f != NULL && !bad);
    m = "Duplicate entry 'bob-42' for key 'PRIMARY' at row 7";
    filter_redact_message(f, m, strlen(m), out, sizeof out);
    CHECK_STR(out, "Duplicate entry ? for key ? at row ?");
    filter_free(f);
    /* no filter: copied */
    m = "Duplicate entry 'x' for key 'PRIMARY'";
    filter_redact_message(NULL, m, strlen(m), out, sizeof out);
    CHECK_STR(out, m);
}

int
main(void)
{
    test_null_filter();
    test_include_exclude();
    test_redact();
    test_redact_modes();
    test_redact_all();
    test_redact_message();
    test_bad_patterns();
    test_threads();
    return check_exit();
}
