/*
 * test_replay.c - tests of replay/replay_util.c: the target URI (every part, escapes, every
 * malformed form refused without echoing the password), quantiles, the Mann-Whitney U p-value
 * against values computed by hand / by scipy, the verdict rule (too few samples, identical
 * and shifted samples, the runs' spread), the read/write classification and the text row
 * checksum against a hand-built row payload.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "protocol/proto_capture.h"
#include "replay/replay.h"

static void
test_uri(void)
{
    struct replay_uri u;
    char err[200];
    CHECK(replay_uri_parse("mysql://app:s%40cret@db.example:3307/shop", &u, err, sizeof err));
    CHECK_STR(u.user, "app");
    CHECK_STR(u.password, "s@cret");
    CHECK(u.has_password);
    CHECK_STR(u.host, "db.example");
    CHECK_EQ_U(u.port, 3307);
    CHECK_STR(u.schema, "shop");

    CHECK(replay_uri_parse("mysql://root@127.0.0.1", &u, err, sizeof err));
    CHECK_STR(u.user, "root");
    CHECK(!u.has_password);
    CHECK_STR(u.password, "");
    CHECK_EQ_U(u.port, 3306);
    CHECK_STR(u.schema, "");

    CHECK(replay_uri_parse("mysql://a:p@ss@h:1/", &u, err, sizeof err)); /* last @ splits */
    CHECK_STR(u.password, "p@ss");
    CHECK_STR(u.host, "h");
    CHECK_EQ_U(u.port, 1);
    CHECK(replay_uri_parse("mysql://a@[::1]:3306/db", &u, err, sizeof err));
    CHECK_STR(u.host, "::1");
    CHECK_STR(u.schema, "db");

    static const char *const bad[] = {
        "postgres://a@h",
        "mysql://h:3306",
        "mysql://@h",
        "mysql://a@",
        "mysql://a@:3306",
        "mysql://a@h:",
        "mysql://a@h:0",
        "mysql://a@h:65536",
        "mysql://a@h:12x",
        "mysql://a@h/db/more",
        "mysql://a:%zz@h",
        "mysql://a@[::1",
        "mysql://a%00@h",
        "",
        "mysql://a:secretpw@h:99999",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        CHECK(!replay_uri_parse(bad[i], &u, err, sizeof err));
        CHECK(err[0] != '\0');
        CHECK(strstr(err, "secretpw") == NULL);
    }
}

static void
test_quantile(void)
{
    double v[] = {5, 1, 4, 2, 3};
    CHECK(replay_quantile(v, 5, 0.5) == 3);
    CHECK(replay_quantile(v, 5, 0.95) == 5);
    CHECK(replay_quantile(v, 5, 0) == 1);
    CHECK(replay_quantile(v, 0, 0.5) == 0);
    double w[] = {10, 20, 30, 40};
    CHECK(replay_quantile(w, 4, 0.5) == 20); /* nearest rank */
}

static void
test_mwu(void)
{
    /* no overlap, 8 vs 8: U = 0; normal approximation with continuity: z = (32 - 0.5) /
     * sqrt(8*8*17/12) = 3.3082, p = 0.000939 */
    double a[8], b[8];
    for (int i = 0; i < 8; i++) {
        a[i] = 10 + i;
        b[i] = 100 + i;
    }
    double p = replay_mwu_p(a, 8, b, 8);
    CHECK(fabs(p - 0.000939) < 0.00002);
    /* symmetric in its arguments */
    CHECK(fabs(replay_mwu_p(b, 8, a, 8) - p) < 1e-12);
    /* identical samples: p = 1 (all ties) */
    double c[6] = {5, 5, 5, 5, 5, 5};
    CHECK(replay_mwu_p(c, 6, c, 6) == 1);
    /* interleaved: no evidence */
    double d[6] = {1, 3, 5, 7, 9, 11}, e[6] = {2, 4, 6, 8, 10, 12};
    CHECK(replay_mwu_p(d, 6, e, 6) > 0.5);
    CHECK(replay_mwu_p(d, 0, e, 6) == 1);
}

static void
test_decide(void)
{
    double a[40], b[40], same[40];
    for (int i = 0; i < 40; i++) {
        a[i] = 1000 + (i % 10) * 10; /* 1000..1090 */
        b[i] = 80 + (i % 10);        /* 12x faster */
        same[i] = 1005 + (i % 10) * 10;
    }
    CHECK_EQ_U(replay_decide(a, 40, b, 40, NULL, NULL, 1), REPLAY_FASTER);
    CHECK_EQ_U(replay_decide(b, 40, a, 40, NULL, NULL, 1), REPLAY_SLOWER);
    CHECK_EQ_U(replay_decide(a, 40, same, 40, NULL, NULL, 1), REPLAY_SAME);
    /* one sample, or four: never a verdict */
    CHECK_EQ_U(replay_decide(a, 1, b, 1, NULL, NULL, 1), REPLAY_FEW);
    CHECK_EQ_U(replay_decide(a, 4, b, 40, NULL, NULL, 1), REPLAY_FEW);
    /* significant but small (1.6x slower): same */
    double c[40];
    for (int i = 0; i < 40; i++) {
        c[i] = a[i] * 1.6;
    }
    CHECK(replay_mwu_p(a, 40, c, 40) < REPLAY_P_MAX);
    CHECK_EQ_U(replay_decide(a, 40, c, 40, NULL, NULL, 1), REPLAY_SAME);
    for (int i = 0; i < 40; i++) {
        c[i] = a[i] * 2.5;
    }
    CHECK_EQ_U(replay_decide(a, 40, c, 40, NULL, NULL, 1), REPLAY_SLOWER);
    /* runs whose medians overlap: same; apart: faster */
    double ra[3] = {1040, 1045, 1050}, rb_apart[3] = {84, 85, 86}, rb_overlap[3] = {84, 85, 1100};
    CHECK_EQ_U(replay_decide(a, 40, b, 40, ra, rb_apart, 3), REPLAY_FASTER);
    CHECK_EQ_U(replay_decide(a, 40, b, 40, ra, rb_overlap, 3), REPLAY_SAME);
    /* 30 us against 70 us: 2.3x, significant, but under REPLAY_MIN_DIFF_US apart: same */
    double t1[20], t3[20];
    for (int i = 0; i < 20; i++) {
        t1[i] = 30 + i % 3;
        t3[i] = 70 + i % 3;
    }
    CHECK_EQ_U(replay_decide(t1, 20, t3, 20, NULL, NULL, 1), REPLAY_SAME);
    CHECK_STR(replay_verdict_name(REPLAY_FASTER), "faster");
    CHECK_STR(replay_verdict_name(REPLAY_SAME), "same");
}

static bool
w(const char *s)
{
    return replay_is_write(s, strlen(s), 0);
}

static void
test_classify(void)
{
    CHECK(!w("SELECT 1"));
    CHECK(!w("  /* c */ (SELECT a FROM t) UNION (SELECT b FROM u)"));
    CHECK(!w("show tables"));
    CHECK(!w("SET NAMES utf8mb4"));
    CHECK(!w("BEGIN"));
    CHECK(!w("COMMIT"));
    CHECK(!w("rollback"));
    CHECK(!w("USE shop"));
    CHECK(!w("WITH x AS (SELECT 1) SELECT * FROM x"));
    CHECK(w("INSERT INTO t VALUES (1)"));
    CHECK(w("update t set a = 1"));
    CHECK(w("DELETE FROM t"));
    CHECK(w("REPLACE INTO t VALUES (1)"));
    CHECK(w("CREATE TABLE t (a int)"));
    CHECK(w("ALTER TABLE t ADD INDEX (a)"));
    CHECK(w("TRUNCATE t"));
    CHECK(w("CALL p()"));
    CHECK(w("LOAD DATA LOCAL INFILE 'x' INTO TABLE t"));
    CHECK(w("SELECT * FROM t INTO OUTFILE '/tmp/x'"));
    CHECK(w("SET GLOBAL max_connections = 10"));
    CHECK(w("SELECT 1; DELETE FROM t"));
    CHECK(w("WITH x AS (SELECT 1) UPDATE t SET a = 1"));
    CHECK(!w("SELECT 'DELETE FROM t'")); /* a string is no statement */
    CHECK(replay_is_dml("insert into t values (1)", 24, 0));
    CHECK(!replay_is_dml("CREATE TABLE t (a int)", 22, 0));
}

static bool
unst(const char *s)
{
    return replay_unstable(s, strlen(s), 0) != NULL;
}

static void
test_unstable(void)
{
    CHECK(unst("SELECT NOW()"));
    CHECK(unst("select now( )"));
    CHECK(unst("SELECT CURRENT_TIMESTAMP"));
    CHECK(unst("INSERT INTO t VALUES (UUID())"));
    CHECK(unst("SELECT RAND() FROM t"));
    CHECK(unst("SELECT CURRENT_USER"));
    CHECK(unst("SELECT CURRENT_USER()"));
    CHECK(unst("SELECT user()"));
    CHECK(unst("SELECT CONNECTION_ID()"));
    CHECK(unst("SELECT LAST_INSERT_ID()"));
    CHECK(unst("SELECT @@hostname, @@port"));
    CHECK(unst("SELECT @@global.server_id"));
    CHECK(unst("SHOW GRANTS"));
    CHECK(unst("show global status like 'x'"));
    CHECK(unst("SELECT * FROM information_schema.PROCESSLIST"));
    /* the same words as data, names or comments: not calls */
    CHECK(!unst("SELECT 'NOW()' FROM t"));
    CHECK(!unst("SELECT `now` FROM t"));
    CHECK(!unst("SELECT user FROM mysql.user_list")); /* a column named user: no ( */
    CHECK(!unst("SELECT a /* RAND() */ FROM t"));
    CHECK(!unst("SELECT @@sql_mode"));
    CHECK(!unst("SHOW TABLES"));
    CHECK(!unst("SELECT id FROM t WHERE a = ?"));
    CHECK(!unst(""));
}

static void
test_row_sum(void)
{
    /* row ("ab", NULL, 300 x's): payload 02 'a' 'b' fb fc 2c 01 'x'*300 */
    char *xs = malloc(300);
    memset(xs, 'x', 300);
    char *row[3] = {(char *)"ab", NULL, xs};
    unsigned long lens[3] = {2, 0, 300};
    uint8_t payload[3 + 1 + 3 + 300] = {2, 'a', 'b', 0xfb, 0xfc, 0x2c, 0x01};
    memset(payload + 7, 'x', 300);
    uint64_t want = proto_cap_fnv(PROTO_CAP_FNV_INIT, payload, sizeof payload);
    CHECK(replay_text_row_sum(PROTO_CAP_FNV_INIT, row, lens, 3) == want);
    /* two rows: continued */
    uint64_t two =
        replay_text_row_sum(replay_text_row_sum(PROTO_CAP_FNV_INIT, row, lens, 3), row, lens, 3);
    CHECK(two == proto_cap_fnv(want, payload, sizeof payload));
    free(xs);
}

int
main(void)
{
    test_uri();
    test_quantile();
    test_mwu();
    test_decide();
    test_classify();
    test_unstable();
    test_row_sum();
    return check_exit();
}
