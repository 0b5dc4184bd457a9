/*
 * fuzz_fingerprint.c - libFuzzer target for protocol/proto_fingerprint: fingerprints the input
 * with no buffer, a small buffer and a buffer large enough for any fingerprint, classifies it
 * and extracts a USE schema, and aborts when an invariant breaks: the output is NUL-terminated
 * inside its capacity, a cut output is a prefix of the full one, the digest is the same for
 * every capacity and is the FNV-1a 64 of the full fingerprint, and fingerprinting a fingerprint
 * changes nothing (but see the `--` exception below). The shape's short name (proto_shapename)
 * never overruns its buffer, is NUL-free, shorter than PROTO_SHAPE_NAME_MAX, and the same on
 * every call.
 */
#include "protocol/proto_fingerprint.h"
#include "protocol/proto_shapename.h"

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

static uint64_t
fuzz_fnv1a(const char *s, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

/* Fingerprints into a buffer of `cap` bytes with a guard byte after it. */
static uint64_t
fuzz_fp_cap(const char *sql, size_t len, size_t cap, const char *full, size_t full_len)
{
    char *buf = malloc(cap + 1);
    FUZZ_REQUIRE(buf != NULL);
    memset(buf, 'G', cap + 1);
    uint64_t d = proto_fingerprint(sql, len, buf, cap);
    FUZZ_REQUIRE(buf[cap] == 'G');
    if (cap > 0) {
        size_t n = strnlen(buf, cap);
        FUZZ_REQUIRE(n < cap);
        FUZZ_REQUIRE(n == (full_len < cap - 1 ? full_len : cap - 1));
        FUZZ_REQUIRE(memcmp(buf, full, n) == 0);
    }
    free(buf);
    return d;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *sql = (const char *)data;

    /* A fingerprint is at most 1.5 times its statement ("in()" -> "in(?+)"). */
    size_t big_cap = 2 * size + 16;
    char *big = malloc(big_cap);
    FUZZ_REQUIRE(big != NULL);
    uint64_t d = proto_fingerprint(sql, size, big, big_cap);
    size_t full_len = strnlen(big, big_cap);
    FUZZ_REQUIRE(full_len < big_cap - 1);
    FUZZ_REQUIRE(d == fuzz_fnv1a(big, full_len));

    FUZZ_REQUIRE(proto_fingerprint(sql, size, NULL, 0) == d);
    static const size_t caps[] = {0, 1, 2, 7, 16, 64};
    for (size_t i = 0; i < sizeof caps / sizeof caps[0]; i++) {
        FUZZ_REQUIRE(fuzz_fp_cap(sql, size, caps[i], big, full_len) == d);
    }

    /* The fingerprint of a fingerprint is itself, except where a `--` operator pair left in the
     * fingerprint would start a comment the second time ("b--;" -> "b--" -> "b"). */
    char *again = malloc(big_cap);
    FUZZ_REQUIRE(again != NULL);
    uint64_t d2 = proto_fingerprint(big, full_len, again, big_cap);
    bool dashes = memmem(big, full_len, "--", 2) != NULL;
    if (!dashes && strcmp(again, big) != 0) {
        fprintf(stderr, "not stable:\n  once:  \"%s\"\n  twice: \"%s\"\n", big, again);
    }
    FUZZ_REQUIRE(dashes || (strcmp(again, big) == 0 && d2 == d));
    free(again);
    free(big);

    enum proto_stmt_kind kind = proto_stmt_classify(sql, size);
    FUZZ_REQUIRE(kind >= PROTO_STMT_OTHER && kind <= PROTO_STMT_USE);
    FUZZ_REQUIRE(proto_stmt_explainable(kind) ==
                 (kind != PROTO_STMT_OTHER && kind != PROTO_STMT_USE));

    char db[65];
    memset(db, 'G', sizeof db);
    if (proto_stmt_use_schema(sql, size, db, 64)) {
        FUZZ_REQUIRE(kind == PROTO_STMT_USE);
        size_t n = strnlen(db, 64);
        FUZZ_REQUIRE(n > 0 && n < 64);
    }
    FUZZ_REQUIRE(db[64] == 'G');
    char tiny[3];
    if (proto_stmt_use_schema(sql, size, tiny, sizeof tiny)) {
        FUZZ_REQUIRE(kind == PROTO_STMT_USE);
        FUZZ_REQUIRE(strnlen(tiny, sizeof tiny) < sizeof tiny);
    }
    /* the short name: bounded, NUL-terminated, NUL-free, deterministic */
    char name[PROTO_SHAPE_NAME_MAX + 1], name2[PROTO_SHAPE_NAME_MAX];
    memset(name, 'G', sizeof name);
    size_t nl = proto_shape_name(sql, size, 0, name, PROTO_SHAPE_NAME_MAX);
    FUZZ_REQUIRE(name[PROTO_SHAPE_NAME_MAX] == 'G');
    FUZZ_REQUIRE(nl < PROTO_SHAPE_NAME_MAX && strlen(name) == nl);
    FUZZ_REQUIRE(proto_shape_name(sql, size, 0, name2, sizeof name2) == nl);
    FUZZ_REQUIRE(memcmp(name, name2, nl + 1) == 0);
    char tiny5[5];
    FUZZ_REQUIRE(proto_shape_name(sql, size, 0, tiny5, sizeof tiny5) < sizeof tiny5);
    return 0;
}
