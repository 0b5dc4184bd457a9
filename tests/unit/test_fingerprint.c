/*
 * test_fingerprint.c - table-driven tests of proto_fingerprint (statement fingerprints and
 * their digest), proto_digest_hex, proto_stmt_classify, proto_stmt_explainable and
 * proto_stmt_use_schema. Expectations marked "pt" were produced by pt-query-digest 3.2.1's
 * QueryRewriter::fingerprint (match_embedded_numbers => 1); the others are slowtap's documented
 * differences (see proto_fingerprint.c).
 */
#include "protocol/proto_fingerprint.h"
#include "tests/unit/check.h"

struct fp_case {
    const char *sql;
    const char *fp;
};

static const struct fp_case fp_cases[] = {
    /* pt: verified against pt-query-digest */
    {"SELECT * FROM t WHERE id = 42", "select * from t where id = ?"},
    {"select a from t1 where b in (1, 2, 3)", "select a from t1 where b in(?+)"},
    {"SELECT a FROM t LIMIT 10, 20", "select a from t limit ?"},
    {"SELECT a FROM t LIMIT 10 OFFSET 20", "select a from t limit ?"},
    {"SELECT * FROM t LIMIT 5,10", "select * from t limit ?"},
    {"SELECT a FROM t LIMIT 10", "select a from t limit ?"},
    {"select * from t order by a desc limit ?, ?", "select * from t order by a desc limit ?"},
    {"select 1 limit -1, +2", "select ? limit ?"},
    {"select 1 limit '1', \"2\"", "select ? limit ?"},

    {"INSERT INTO t VALUES (1,'a'),(2,'b')", "insert into t values(?+)"},
    {"INSERT INTO t (a,b) VALUES (1,'a')", "insert into t (a,b) values(?+)"},
    {"INSERT INTO t (a,b) VALUE (1,'a'), (2, 'b')", "insert into t (a,b) value(?+)"},
    {"INSERT INTO t VALUES (1), (2), (3)", "insert into t values(?+)"},
    {"insert into t(a) values(1)", "insert into t(a) values(?+)"},
    {"REPLACE INTO t VALUES (1, 'a')", "replace into t values(?+)"},
    {"insert into t select * from u", "insert into t select * from u"},
    {"insert into t values (now(), 1), (now(), 2)", "insert into t values (now(), ?)"},
    {"SELECT /* comment */ 1", "select ?"},
    {"/* leading */ select 1", "select ?"},
    {"select * from t /* inline */ where a = 1", "select * from t where a = ?"},
    {"select a from t order by a ASC, b desc", "select a from t order by a, b desc"},
    {"select * from t order by a asc, b ASC limit 5 offset 10",
     "select * from t order by a, b limit ?"},
    {"select a from t where a in (select b from u)",
     "select a from t where a in (select b from u)"},
    {"select a from t where a in ('x', 'y') and b in (1)",
     "select a from t where a in(?+) and b in(?+)"},
    {"select a from t where x in(1) and y In ( 2 ,3 )",
     "select a from t where x in(?+) and y in(?+)"},
    {"select * from t where a not in (1,2,3) and b in (select c from u where d in (4,5))",
     "select * from t where a not in(?+) and b in (select c from u where d in(?+))"},
    {"select a from t where b in ()", "select a from t where b in(?+)"},
    {"SELECT a FROM t WHERE id IN (?, ?, ?)", "select a from t where id in(?+)"},
    {"USE foo", "use ?"},
    {"CALL foo(1,2)", "call foo"},
    {"call db.proc(1, 'a')", "call db.proc"},

    {"select a - b, -5, col_2, a = -5, a=-5, 1e5, 1.5e-3, .5, x'ff', b'101', 3.14 from t",
     "select a - b, ?, col_2, a = ?, a=?, ?, ?, ?, ?, ?, ? from t"},
    {"select * from t where a = 1.5 and b = -2.5e+10", "select * from t where a = ? and b = ?"},
    {"select a from t where id=12345678901234567890", "select a from t where id=?"},
    {"select count(*) from t1 join t2 on t1.id = t2.id where t1.x > 10",
     "select count(*) from t1 join t2 on t1.id = t2.id where t1.x > ?"},
    {"select * from db1.t2 where c3=4", "select * from db1.t2 where c3=?"},
    {"select f(1, 2) from t", "select f(?, ?) from t"},
    {"select * from t where a = +5", "select * from t where a = ?"},
    {"SELECT a FROM t WHERE b != -1", "select a from t where b != ?"},
    {"select x from t where y = 1 - 1", "select x from t where y = ? - ?"},
    {"select a from t where b = - 1", "select a from t where b = - ?"},
    {"select -1", "select ?"},
    {"select a from t where b = 0b101", "select a from t where b = ?"},
    {"select 'a' 'b'", "select ? ?"},
    {"select  a,\n\tb   from    t", "select a, b from t"},
    {"update t set a = 1, b = 'x' where id = 5", "update t set a = ?, b = ? where id = ?"},
    {"delete from t where id in (1,2) limit 10", "delete from t where id in(?+) limit ?"},
    {"select a from t where b between 1 and 10", "select a from t where b between ? and ?"},
    {"select a, count(*) from t group by a having count(*) > 5",
     "select a, count(*) from t group by a having count(*) > ?"},
    {"select * from t where x = x'DEADBEEF'", "select * from t where x = ?"},
    {"select @@version", "select @@version"},
    {"select * from t where a in ( 'a' , 'b' )", "select * from t where a in(?+)"},
    {"SELECT * FROM t1 INNER JOIN t2 USING (id) WHERE t1.a = 1",
     "select * from t1 inner join t2 using (id) where t1.a = ?"},
    {"set @a = 5", "set @a = ?"},
    {"show tables", "show tables"},
    {"select case when a > 1 then 'x' else 'y' end from t",
     "select case when a > ? then ? else ? end from t"},
    {"SELECT a FROM t WHERE b = 1 AND c = 'd' ORDER BY e ASC LIMIT 5",
     "select a from t where b = ? and c = ? order by e limit ?"},

    /* slowtap's documented differences from pt-query-digest */
    {"select true, false, null from t", "select true, false, null from t"},
    {"select * from t where a is not null", "select * from t where a is not null"},
    {"select a from t where b in (1, NULL, true)", "select a from t where b in(?+)"},
    {"select 1;", "select ?"},
    {"select 1 ; ;  -- bye\n", "select ?"},
    {"select 1; select 2", "select ?; select ?"},
    {"select a from t order by a asc; asc", "select a from t order by a; asc"},
    {"select 1 limit 1, 2, 3 offset 4", "select ? limit ?"},
    {"select 1 limit/**/1,2", "select ? limit ?"},
    {"select 2e5.5l, 'a'.5, ?.5", "select ?.5l, ?.?, ?.?"},
    {"select `a`.5, t1.5, (a).5, /*!40.5*/", "select `a`.?, t1.?, (a).?, ?"},
    {"select 1   ", "select ?"},
    {"  \n select 1", "select ?"},
    {"select a -- comment", "select a"},
    {"select a # comment\nfrom t", "select a from t"},
    {"select a--1 from t", "select a-? from t"},
    {"select 'it''s', \"a\"\"b\", 'a\\'b', \"x\\\"y\" from t", "select ?, ?, ?, ? from t"},
    {"select `a b`, `T1` from `Tab`", "select `a b`, `T1` from `Tab`"},
    {"select * from `db`.`T` where `Col` = 5", "select * from `db`.`T` where `Col` = ?"},
    {"select `a``b` from t", "select `a``b` from t"},
    {"use `my db`", "use ?"},
    {"select a-1, a+1, a+b from t", "select a-?, a+?, a+b from t"},
    {"select * from t where x = 0xDEADBEEF", "select * from t where x = ?"},
    {"select * from t where x = N'abc'", "select * from t where x = ?"},
    {"select X'FF', B'01'", "select ?, ?"},
    {"select 123abc, 1t from t", "select 123abc, 1t from t"},
    {"CALL Proc ()", "call proc"},
    {"call `Db`.p /* x */ (1)", "call `Db`.p"},
    {"CALL db.p.In (1)", "call db.p.in"},
    {"select a.1 from t", "select a.? from t"},
    {"select a from t where (a,b) in ((1,2),(3,4))", "select a from t where (a,b) in(?+)"},
    /* signs glued to a literal or a placeholder fold with it (a redacted `-5` is `-?`) */
    {"select -'5', --5, -?, a - ?, a in (-?, +?)", "select ?, ?, ?, a - ?, a in(?+)"},
    {"select X'41''42', B'1''0'", "select ??, ??"},
    {"select _utf8mb4'x', _binary\"y\"", "select _utf8mb4?, _binary?"},
    {"select :Name, a:=1, `x`:=2", "select :name, a:=?, `x`:=?"},
    {"INSERT INTO t (a, b) VALUES (NOW(), 'x'), (NOW(), 'y') ON DUPLICATE KEY UPDATE b = VALUES(b)",
     "insert into t (a, b) values (now(), ?) on duplicate key update b = values(b)"},
    {"insert into t values(1),(2) on duplicate key update a = values(a)",
     "insert into t values(?+) on duplicate key update a = values(a)"},
    {"SELECT /*! STRAIGHT_JOIN */ a from t", "select straight_join a from t"},
    {"SELECT /*!50001 STRAIGHT_JOIN*/ a from t", "select straight_join a from t"},
    {"SELECT /*M!100000 STRAIGHT_JOIN */ a from t", "select straight_join a from t"},
    {"/*!40101 SET NAMES utf8 */;", "set names utf8"},
    {"select/**/1", "select ?"},
    {"select a from t where b in (1 /* c */, 2)", "select a from t where b in(?+)"},
    {"SELECT A FROM T WHERE B='X'", "select a from t where b=?"},
    {"select 'Mixed CASE \\n'", "select ?"},
    {"select a from t where b = _utf8mb4'x'", "select a from t where b = _utf8mb4?"},
    {"select \xc3\xa9T from t", "select \xc3\xa9t from t"},
    {"(select a from t where b = 1) union (select a from u where b = 2)",
     "(select a from t where b = ?) union (select a from u where b = ?)"},
    {"with c as (select 1) select * from c", "with c as (select ?) select * from c"},

    /* malformed input */
    {"", ""},
    {"   ", ""},
    {"-- only a comment", ""},
    {";", ""},
    {"select a from t where b = 'abc", "select a from t where b = ?"},
    {"select a from t where b = \"unterminated\\", "select a from t where b = ?"},
    {"select /* unterminated", "select"},
    {"select /*! unterminated exec", "select unterminated exec"},
    {"select `unterminated", "select `unterminated"},
    {"select a from t where b in (1, 2", "select a from t where b in (?, ?"},
    {"select ((((", "select (((("},
    {"select ))) from t", "select ))) from t"},
    {"select x'", "select ?"},
    {"select 0x", "select 0x"},
    {"select 1e", "select 1e"},
    {"select 1.", "select ?"},
    {"select -", "select -"},
    {"values (", "values ("},
    {"limit", "limit"},
    {"call", "call"},
    {"use", "use"},
    {"insert into t values (now(), 1), (", "insert into t values (now(), ?)"},
};

/* Cases with embedded NUL bytes (explicit lengths). */
struct fp_bin_case {
    const char *sql;
    size_t len;
    const char *fp;
};

static const struct fp_bin_case fp_bin_cases[] = {
    {"select\0 1", 9, "select ?"},
    {"select 'a\0b' from t", 19, "select ? from t"},
    {"select `a\0b` from t", 19, "select `a?b` from t"},
    {"\0\0\0", 3, ""},
    {"select 1\0", 9, "select ?"},
};

static uint64_t
fnv1a(const char *s)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 0x100000001b3ull;
    }
    return h;
}

static void
check_one(const char *sql, size_t len, const char *expect)
{
    char out[1024];
    memset(out, 'Z', sizeof out);
    uint64_t d = proto_fingerprint(sql, len, out, sizeof out);
    CHECK_STR(out, expect);
    if (strcmp(out, expect) != 0) {
        fprintf(stderr, "  input: \"%.*s\"\n", (int)len, sql);
    }
    CHECK_EQ_U(d, fnv1a(expect));
    /* Digest alone, and into a 1-byte buffer: same digest, empty string. */
    CHECK_EQ_U(proto_fingerprint(sql, len, NULL, 0), d);
    char one[1] = {'Z'};
    CHECK_EQ_U(proto_fingerprint(sql, len, one, 1), d);
    CHECK(one[0] == '\0');
}

static void
test_fingerprint_table(void)
{
    size_t n = sizeof fp_cases / sizeof fp_cases[0];
    CHECK(n >= 40);
    for (size_t i = 0; i < n; i++) {
        check_one(fp_cases[i].sql, strlen(fp_cases[i].sql), fp_cases[i].fp);
    }
    for (size_t i = 0; i < sizeof fp_bin_cases / sizeof fp_bin_cases[0]; i++) {
        check_one(fp_bin_cases[i].sql, fp_bin_cases[i].len, fp_bin_cases[i].fp);
    }
    /* A NULL statement is the empty statement. */
    CHECK_EQ_U(proto_fingerprint(NULL, 0, NULL, 0), fnv1a(""));
}

/* Statements of the same shape share fingerprint and digest; other shapes do not. */
static void
test_fingerprint_equivalence(void)
{
    static const char *const same[][2] = {
        {"SELECT * FROM t WHERE id = 1", "select  *  from t where id = 99999 -- x"},
        {"select a from t where b in (1)", "SELECT a FROM t WHERE b IN ('x','y','z', 4, 5)"},
        {"insert into t values (1)", "INSERT INTO t VALUES (2,'a'),(3,'b'),(4,'c');"},
        {"select 'a'", "select \"b\""},
        {"select 1 limit 1", "select 2 limit 10, 20"},
        {"/* app=x */ select 1", "select /* app=y */ 2;"},
        {"use a", "USE `b`"},
    };
    for (size_t i = 0; i < sizeof same / sizeof same[0]; i++) {
        CHECK_EQ_U(proto_fingerprint(same[i][0], strlen(same[i][0]), NULL, 0),
                   proto_fingerprint(same[i][1], strlen(same[i][1]), NULL, 0));
    }
    static const char *const differ[][2] = {
        {"select a from t", "select b from t"},
        {"select a from t", "select a from u"},
        {"select a from `T`", "select a from `t`"},
        {"select a from t where b is null", "select a from t where b is not null"},
        {"select 1", "select 1; select 2"},
    };
    for (size_t i = 0; i < sizeof differ / sizeof differ[0]; i++) {
        CHECK(proto_fingerprint(differ[i][0], strlen(differ[i][0]), NULL, 0) !=
              proto_fingerprint(differ[i][1], strlen(differ[i][1]), NULL, 0));
    }
}

/* A cut fingerprint still carries the digest of the whole fingerprint. */
static void
test_fingerprint_cut(void)
{
    const char *sql = "SELECT a, b, c FROM some_table WHERE id = 42 AND name = 'x'";
    const char *full = "select a, b, c from some_table where id = ? and name = ?";
    size_t flen = strlen(full);
    uint64_t want = fnv1a(full);
    for (size_t cap = 1; cap <= flen + 3; cap++) {
        char out[128];
        memset(out, 'Z', sizeof out);
        uint64_t d = proto_fingerprint(sql, strlen(sql), out, cap);
        CHECK_EQ_U(d, want);
        size_t got = strlen(out);
        CHECK_EQ_U(got, cap - 1 < flen ? cap - 1 : flen);
        CHECK(strncmp(out, full, got) == 0);
        CHECK(out[cap] == 'Z'); /* nothing written past cap */
    }
    /* Cut in the middle of an expansion ("in(?+)") and of a backtick identifier. */
    char out[12];
    uint64_t d = proto_fingerprint("select a from `Tbl` where x in (1,2)", 37, out, 12);
    CHECK_STR(out, "select a fr");
    CHECK_EQ_U(d, fnv1a("select a from `Tbl` where x in(?+)"));
    d = proto_fingerprint("SELECT `LongName` IN (1)", 24, out, 12);
    CHECK_STR(out, "select `Lon");
    CHECK_EQ_U(d, fnv1a("select `LongName` in(?+)"));
}

static void
test_digest_hex(void)
{
    char hex[17];
    proto_digest_hex(0, hex);
    CHECK_STR(hex, "0000000000000000");
    proto_digest_hex(0x0123456789abcdefull, hex);
    CHECK_STR(hex, "0123456789abcdef");
    proto_digest_hex(UINT64_MAX, hex);
    CHECK_STR(hex, "ffffffffffffffff");
    /* FNV-1a 64 reference values: "" and "a". */
    proto_digest_hex(proto_fingerprint("", 0, NULL, 0), hex);
    CHECK_STR(hex, "cbf29ce484222325");
    proto_digest_hex(proto_fingerprint("A", 1, NULL, 0), hex);
    CHECK_STR(hex, "af63dc4c8601ec8c");
}

struct cls_case {
    const char *sql;
    enum proto_stmt_kind kind;
};

static const struct cls_case cls_cases[] = {
    {"SELECT 1", PROTO_STMT_SELECT},
    {"  select * from t", PROTO_STMT_SELECT},
    {"/* hint */ SELECT 1", PROTO_STMT_SELECT},
    {"-- c\n# d\nselect 1", PROTO_STMT_SELECT},
    {"/*!40001 SELECT */ 1", PROTO_STMT_SELECT},
    {"(SELECT a FROM t) UNION (SELECT a FROM u)", PROTO_STMT_SELECT},
    {"((select 1))", PROTO_STMT_SELECT},
    {"WITH c AS (SELECT 1) SELECT * FROM c", PROTO_STMT_SELECT},
    {"with recursive c(n) as (select 1 union select n+1 from c where n < 5) select * from c",
     PROTO_STMT_SELECT},
    {"with a as (select 1), b as (select 2) select * from a, b", PROTO_STMT_SELECT},
    {"with a as (select 1) (select * from a)", PROTO_STMT_SELECT},
    {"WITH c AS (SELECT 1) DELETE FROM t", PROTO_STMT_OTHER},
    {"with c as (select 1) update t set a = 1", PROTO_STMT_OTHER},
    {"with c as (select 1)", PROTO_STMT_OTHER},
    {"select 1;", PROTO_STMT_SELECT},
    {"select 1 ; -- done\n", PROTO_STMT_SELECT},
    {"select ';' from t", PROTO_STMT_SELECT},
    {"select 1 /* ; select 2 */", PROTO_STMT_SELECT},
    {"select 1; select 2", PROTO_STMT_OTHER},
    {"update t set a = 1; delete from t", PROTO_STMT_OTHER},
    {"select * into outfile '/tmp/x' from t", PROTO_STMT_OTHER},
    {"SELECT a FROM t INTO DUMPFILE '/tmp/x'", PROTO_STMT_OTHER},
    {"select a into @v from t", PROTO_STMT_SELECT},
    {"select outfile from t", PROTO_STMT_SELECT},
    {"values (1), (2)", PROTO_STMT_SELECT},
    {"TABLE t", PROTO_STMT_SELECT},
    {"INSERT INTO t VALUES (1)", PROTO_STMT_INSERT},
    {"insert into t select * from u", PROTO_STMT_INSERT},
    {"insert into t set a = 1", PROTO_STMT_INSERT},
    {"REPLACE INTO t VALUES (1)", PROTO_STMT_REPLACE},
    {"UPDATE t SET a = 1", PROTO_STMT_UPDATE},
    {"delete from t where a = 1", PROTO_STMT_DELETE},
    {"DELETE FROM t RETURNING a", PROTO_STMT_DELETE},
    {"USE db", PROTO_STMT_USE},
    {"use `db`;", PROTO_STMT_USE},
    {"EXPLAIN SELECT 1", PROTO_STMT_OTHER},
    {"ANALYZE SELECT 1", PROTO_STMT_OTHER},
    {"describe t", PROTO_STMT_OTHER},
    {"SHOW TABLES", PROTO_STMT_OTHER},
    {"SET @a = 1", PROTO_STMT_OTHER},
    {"CALL p()", PROTO_STMT_OTHER},
    {"BEGIN", PROTO_STMT_OTHER},
    {"create table t (a int)", PROTO_STMT_OTHER},
    {"selectx 1", PROTO_STMT_OTHER},
    {"(insert into t values (1))", PROTO_STMT_OTHER},
    {"", PROTO_STMT_OTHER},
    {"   ", PROTO_STMT_OTHER},
    {"/* unterminated select", PROTO_STMT_OTHER},
    {"select 'unterminated; select 2", PROTO_STMT_SELECT},
    {"((((", PROTO_STMT_OTHER},
    {"1", PROTO_STMT_OTHER},
};

static void
test_classify(void)
{
    size_t n = sizeof cls_cases / sizeof cls_cases[0];
    CHECK(n >= 25);
    for (size_t i = 0; i < n; i++) {
        enum proto_stmt_kind k = proto_stmt_classify(cls_cases[i].sql, strlen(cls_cases[i].sql));
        CHECK_EQ_U(k, cls_cases[i].kind);
        if (k != cls_cases[i].kind) {
            fprintf(stderr, "  input: \"%s\"\n", cls_cases[i].sql);
        }
    }
    CHECK_EQ_U(proto_stmt_classify("select\0 1", 9), PROTO_STMT_SELECT);
    CHECK_EQ_U(proto_stmt_classify("select 1;\0select 2", 18), PROTO_STMT_OTHER);
    CHECK_EQ_U(proto_stmt_classify("select 1", 3), PROTO_STMT_OTHER); /* "sel" */
    CHECK_EQ_U(proto_stmt_classify(NULL, 0), PROTO_STMT_OTHER);

    CHECK(proto_stmt_explainable(PROTO_STMT_SELECT));
    CHECK(proto_stmt_explainable(PROTO_STMT_INSERT));
    CHECK(proto_stmt_explainable(PROTO_STMT_REPLACE));
    CHECK(proto_stmt_explainable(PROTO_STMT_UPDATE));
    CHECK(proto_stmt_explainable(PROTO_STMT_DELETE));
    CHECK(!proto_stmt_explainable(PROTO_STMT_USE));
    CHECK(!proto_stmt_explainable(PROTO_STMT_OTHER));
}

static void
test_use_schema(void)
{
    static const struct {
        const char *sql;
        const char *db; /* NULL: not a USE / no schema */
    } cases[] = {
        {"USE shop", "shop"},
        {"use Shop_2;", "Shop_2"},
        {"  use  db1  ; ", "db1"},
        {"/* c */ USE db -- x", "db"},
        {"use `my db`", "my db"},
        {"use `a``b`", "a`b"},
        {"use `db`;", "db"},
        {"use $x", "$x"},
        {"use `unterminated", NULL},
        {"use `a``", NULL},
        {"use ``", NULL},
        {"use", NULL},
        {"use ;", NULL},
        {"use 'db'", NULL},
        {"use a b", NULL},
        {"use a; select 1", NULL},
        {"select 1", NULL},
        {"usedb", NULL},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char db[64] = "unchanged";
        bool ok = proto_stmt_use_schema(cases[i].sql, strlen(cases[i].sql), db, sizeof db);
        CHECK(ok == (cases[i].db != NULL));
        if (ok != (cases[i].db != NULL)) {
            fprintf(stderr, "  input: \"%s\"\n", cases[i].sql);
        }
        if (ok && cases[i].db) {
            CHECK_STR(db, cases[i].db);
        }
    }
    /* Capacity: the name and its NUL must fit, else false. */
    char small[4];
    CHECK(proto_stmt_use_schema("use abc", 7, small, sizeof small));
    CHECK_STR(small, "abc");
    CHECK(!proto_stmt_use_schema("use abcd", 8, small, sizeof small));
    CHECK(!proto_stmt_use_schema("use `abcd`", 10, small, sizeof small));
    CHECK(!proto_stmt_use_schema("use a", 5, small, 0));
    CHECK(!proto_stmt_use_schema("use `a\0b`", 9, small, sizeof small));
}

/* proto_fp_skeleton: which texts share a skeleton (and so a fingerprint), which do not. */
static void
test_skeleton(void)
{
    static const struct {
        const char *a, *b;
        unsigned mode;
        bool same;
    } cases[] = {
        {"SELECT c FROM t WHERE id=5", "SELECT c FROM t WHERE id=123456", 0, true},
        {"SELECT * FROM t WHERE id IN (1,2,3) LIMIT 10",
         "SELECT * FROM t WHERE id IN (9,8,7) LIMIT 5", 0, true},
        {"SELECT '5', \"6\" FROM t", "SELECT '7', \"80\" FROM t", 0, true},
        {"SELECT 1 -- 2\n", "SELECT 3 -- 44\n", 0, true},
        {"SELECT * FROM t1", "SELECT * FROM t2", 0, false}, /* identifiers keep digits */
        {"SELECT 1e5", "SELECT 2e5", 0, false},             /* glued to a letter */
        {"SELECT 1.5", "SELECT 2.5", 0, false},             /* glued to a dot */
        {"SELECT 0x1F", "SELECT 0x2F", 0, false},           /* hex */
        {"SELECT @1, :2", "SELECT @3, :4", 0, false},       /* variables, named parameters */
        {"SELECT 12abc", "SELECT 13abc", 0, false},         /* a digit-led identifier */
        {"SELECT 5", "SELECT 5 ", 0, false},                /* any other byte differs */
        {"/*!50000 SELECT 1 */", "/*!50001 SELECT 1 */", 0, false}, /* a version: kept */
    };
    char a[128], b[128];
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        size_t na = proto_fp_skeleton(cases[i].a, strlen(cases[i].a), cases[i].mode, a, sizeof a);
        size_t nb = proto_fp_skeleton(cases[i].b, strlen(cases[i].b), cases[i].mode, b, sizeof b);
        CHECK(na != PROTO_FP_SKELETON_NONE && nb != PROTO_FP_SKELETON_NONE);
        bool same = na == nb && memcmp(a, b, na) == 0;
        if (same != cases[i].same) {
            fprintf(stderr, "  skeleton case %zu: %s | %s\n", i, cases[i].a, cases[i].b);
        }
        CHECK(same == cases[i].same);
        if (same) { /* what a caller relies on */
            char fa[128], fb[128];
            CHECK(proto_fingerprint(cases[i].a, strlen(cases[i].a), fa, sizeof fa) ==
                  proto_fingerprint(cases[i].b, strlen(cases[i].b), fb, sizeof fb));
            CHECK_STR(fa, fb);
        }
    }
    size_t n = proto_fp_skeleton("id = 42", 7, 0, a, sizeof a);
    CHECK(n == 6 && memcmp(a, "id = 0", 6) == 0);
    /* digits inside quoted identifiers are kept by the fingerprint: no skeleton at all */
    CHECK(proto_fp_skeleton("SELECT `a 5 b`", 14, 0, a, sizeof a) == PROTO_FP_SKELETON_NONE);
    CHECK(proto_fp_skeleton("SELECT \"a 5\"", 13, PROTO_SQLMODE_ANSI_QUOTES, a, sizeof a) ==
          PROTO_FP_SKELETON_NONE);
    CHECK(proto_fp_skeleton("SELECT \"a 5\"", 13, 0, a, sizeof a) == 13);
    /* does not fit: none; exactly fits: its length */
    CHECK(proto_fp_skeleton("SELECT 12345", 12, 0, a, 7) == PROTO_FP_SKELETON_NONE);
    CHECK(proto_fp_skeleton("SELECT 12345", 12, 0, a, 8) == 8);
    CHECK(proto_fp_skeleton("", 0, 0, a, 0) == 0);
    /* every byte at every place of a run of 20 blanks (the skeleton looks at eight bytes at a
     * time for digits): a digit is a number there and becomes 0, any other byte is kept */
    for (unsigned c = 1; c < 256; c++) {
        if (c == '`') {
            continue; /* no skeleton at all, above */
        }
        for (size_t at = 0; at < 20; at++) {
            char in[20], want[20];
            memset(in, ' ', sizeof in);
            in[at] = (char)c;
            memcpy(want, in, sizeof want);
            if (c >= '0' && c <= '9') {
                want[at] = '0';
            }
            CHECK(proto_fp_skeleton(in, sizeof in, 0, a, sizeof a) == sizeof in);
            CHECK(memcmp(a, want, sizeof want) == 0);
        }
    }
}

int
main(void)
{
    test_skeleton();
    test_fingerprint_table();
    test_fingerprint_equivalence();
    test_fingerprint_cut();
    test_digest_hex();
    test_classify();
    test_use_schema();
    return check_exit();
}
