/*
 * test_tags.c - tests of protocol/proto_tags.c: sqlcommenter (trailing, leading, several
 * comments, URL-encoding, escaped quotes, any key order), marginalia, Datadog keys,
 * traceparent, and the hostile cases (malformed, huge, nested, unterminated): ignored, bounded,
 * never an error.
 */
#include <stdlib.h>

#include "check.h"
#include "protocol/proto_fingerprint.h"
#include "protocol/proto_tags.h"

static unsigned
parse(const char *sql, struct proto_tags *t)
{
    return proto_tags_parse(sql, strlen(sql), 0, t);
}

static void
test_sqlcommenter(void)
{
    struct proto_tags t;
    const char *q = "SELECT * FROM students WHERE id = 1 /*controller='roster',framework="
                    "'flask%3A2.2',route='%2Froster',traceparent='00-0af7651916cd43dd8448eb211c80"
                    "319c-b7ad6b7169203331-01'*/";
    CHECK_EQ_U(parse(q, &t), 4);
    CHECK_STR(proto_tags_get(&t, "controller"), "roster");
    CHECK_STR(proto_tags_get(&t, "framework"), "flask:2.2");
    CHECK_STR(proto_tags_get(&t, "route"), "/roster");
    CHECK_STR(t.trace_id, "0af7651916cd43dd8448eb211c80319c");
    CHECK_STR(t.span_id, "b7ad6b7169203331");
    /* tags never enter the fingerprint */
    char f1[256], f2[256];
    uint64_t d1 = proto_fingerprint(q, strlen(q), f1, sizeof f1);
    uint64_t d2 = proto_fingerprint("SELECT * FROM students WHERE id = 7", 35, f2, sizeof f2);
    CHECK(d1 == d2);
    CHECK_STR(f1, f2);

    /* leading, several comments, escaped quote, unencoded slash, any key order */
    CHECK_EQ_U(parse("/*route='/a/b',action='it\\'s'*/ SELECT 1 /* db_driver='pymysql' */", &t), 3);
    CHECK_STR(proto_tags_get(&t, "route"), "/a/b");
    CHECK_STR(proto_tags_get(&t, "action"), "it's");
    CHECK_STR(proto_tags_get(&t, "db_driver"), "pymysql");
    CHECK_STR(t.trace_id, "");

    /* Datadog's tracer keys */
    CHECK_EQ_U(parse("/*dddbs='shop-db',dde='prod',ddps='web',ddpv='1.2'*/ SELECT 1", &t), 4);
    CHECK_STR(proto_tags_get(&t, "dde"), "prod");
    /* an empty value is skipped, the rest of the comment kept */
    CHECK_EQ_U(parse("SELECT 1 /*route='',controller='c'*/", &t), 1);
    CHECK_STR(proto_tags_get(&t, "controller"), "c");
    /* the first value of a key wins */
    CHECK_EQ_U(parse("SELECT 1 /*route='/a'*/ /*route='/b'*/", &t), 1);
    CHECK_STR(proto_tags_get(&t, "route"), "/a");
}

static void
test_marginalia(void)
{
    struct proto_tags t;
    CHECK_EQ_U(parse("SELECT 1 /*application:Shop,controller:posts,action:index*/", &t), 3);
    CHECK_STR(proto_tags_get(&t, "application"), "Shop");
    CHECK_STR(proto_tags_get(&t, "action"), "index");
}

static void
test_ignored(void)
{
    struct proto_tags t;
    static const char *const bad[] = {
        "SELECT 1 /* just a comment */",
        "SELECT 1 /* a='1', b */",
        "SELECT 1 /*a='1',*/",
        "SELECT 1 /*a='unterminated*/",
        "SELECT 1 /*a=1*/",
        "SELECT 1 /*a:*/",
        "SELECT 1 /*a='1',b:2*/", /* mixed forms */
        "SELECT 1 -- route='/x'",
        "SELECT 1 # route='/x'",
        "SELECT '/*route=''/x''*/'",  /* inside a string */
        "SELECT 1 /*! route='/x' */", /* executable comment: code, not tags */
        "SELECT 1 /*+ route='/x' */", /* optimizer hint */
        "SELECT 1 /*route='/x'",      /* unterminated comment */
        "SELECT 1 /*route='%00x'*/",  /* a NUL after decoding */
        "SELECT 1 /*route='a' /*nested='b'*/ */",
        "",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned n = parse(bad[i], &t);
        if (n) {
            fprintf(stderr, "  not ignored: %s\n", bad[i]);
        }
        CHECK_EQ_U(n, 0);
    }
    /* traceparent: malformed or zero ids give no trace id, the tag itself stays */
    CHECK_EQ_U(parse("SELECT 1 /*traceparent='00-xyz-01'*/", &t), 1);
    CHECK_STR(t.trace_id, "");
    CHECK_EQ_U(parse("SELECT 1 /*traceparent='00-00000000000000000000000000000000-b7ad6b71692033"
                     "31-01'*/",
                     &t),
               1);
    CHECK_STR(t.trace_id, "");
}

static void
test_bounds(void)
{
    struct proto_tags t;
    /* a value longer than PROTO_TAG_LEN: the comment is ignored */
    size_t n = 2 * PROTO_TAG_LEN + 64;
    char *q = malloc(n + 64);
    int o = sprintf(q, "SELECT 1 /*route='");
    memset(q + o, 'x', 2 * PROTO_TAG_LEN);
    o += 2 * PROTO_TAG_LEN;
    strcpy(q + o, "'*/");
    CHECK_EQ_U(parse(q, &t), 0);
    free(q);
    /* more than PROTO_TAGS_MAX pairs in one comment: ignored; over several comments: capped */
    char big[4096] = "SELECT 1 /*";
    for (int i = 0; i < 20; i++) {
        char kv[32];
        snprintf(kv, sizeof kv, "%sk%d='v'", i ? "," : "", i);
        strcat(big, kv);
    }
    strcat(big, "*/");
    CHECK_EQ_U(parse(big, &t), 0);
    char many[4096] = "SELECT 1";
    for (int i = 0; i < 20; i++) {
        char kv[32];
        snprintf(kv, sizeof kv, " /*k%d='v'*/", i);
        strcat(many, kv);
    }
    CHECK_EQ_U(parse(many, &t), PROTO_TAGS_MAX);
}

int
main(void)
{
    test_sqlcommenter();
    test_marginalia();
    test_ignored();
    test_bounds();
    return check_exit();
}
