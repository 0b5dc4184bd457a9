/*
 * fuzz_tags.c - libFuzzer target for protocol/proto_tags: parses the input's comment tags and
 * aborts when an invariant breaks: at most PROTO_TAGS_MAX tags, every key and value
 * NUL-terminated inside its array and non-empty, a trace id only with a span id (both hex of
 * the right length), and a statement's fingerprint unchanged by appending a tag comment.
 */
#include "protocol/proto_fingerprint.h"
#include "protocol/proto_tags.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_REQUIRE(cond)                                                                         \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: invariant failed: %s\n", __FILE__, __LINE__, #cond);           \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool
all_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) {
            return false;
        }
    }
    return s[n] == '\0';
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static struct proto_tags t;
    const char *sql = (const char *)data;
    unsigned n = proto_tags_parse(sql, size, 0, &t);
    FUZZ_REQUIRE(n == t.n && n <= PROTO_TAGS_MAX);
    for (unsigned i = 0; i < n; i++) {
        FUZZ_REQUIRE(memchr(t.tag[i].key, '\0', sizeof t.tag[i].key) != NULL);
        FUZZ_REQUIRE(memchr(t.tag[i].value, '\0', sizeof t.tag[i].value) != NULL);
        FUZZ_REQUIRE(t.tag[i].key[0] != '\0' && t.tag[i].value[0] != '\0');
    }
    FUZZ_REQUIRE((t.trace_id[0] == '\0') == (t.span_id[0] == '\0'));
    if (t.trace_id[0]) {
        FUZZ_REQUIRE(all_hex(t.trace_id, 32) && all_hex(t.span_id, 16));
    }
    proto_tags_parse(sql, size, PROTO_SQLMODE_ANSI_QUOTES | PROTO_SQLMODE_NO_BACKSLASH_ESCAPES, &t);
    FUZZ_REQUIRE(t.n <= PROTO_TAGS_MAX);

    /* a trailing tag comment does not change the fingerprint (when the text ends cleanly) */
    if (size < 4096 && memchr(data, '\0', size) == NULL) {
        static const char tag[] =
            " /*route='%2Fx',traceparent='00-0af7651916cd43dd8448eb211c80319c-"
            "b7ad6b7169203331-01'*/";
        char *a = malloc(size + sizeof tag);
        memcpy(a, data, size);
        memcpy(a + size, tag, sizeof tag);
        struct proto_stmt_info i1, i2;
        proto_stmt_analyze(sql, size, 0, NULL, 0, NULL, 0, &i1);
        proto_stmt_analyze(a, size + sizeof tag - 1, 0, NULL, 0, NULL, 0, &i2);
        /* only when the original's last token is complete: an unterminated string or comment
         * would swallow the tag */
        struct proto_tags t2;
        if (proto_tags_parse(a, size + sizeof tag - 1, 0, &t2) && proto_tags_get(&t2, "route") &&
            strcmp(proto_tags_get(&t2, "route"), "/x") == 0 && t.n == 0) {
            FUZZ_REQUIRE(i1.digest == i2.digest);
        }
        free(a);
    }
    return 0;
}
