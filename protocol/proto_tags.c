/*
 * proto_tags.c - statement-comment tags (sqlcommenter, marginalia, Datadog); see proto_tags.h.
 */
#include <string.h>

#include "common/hexfmt.h"
#include "protocol/proto_sqllex.h"
#include "protocol/proto_tags.h"

/* URL-decodes s[0..n) into out (cap bytes, NUL-terminated); with `quoted`, `\'` and `\\` are
 * unescaped first. False when it does not fit or holds a NUL or a bad escape. */
static bool
decode(const char *s, size_t n, bool quoted, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (quoted && c == '\\' && i + 1 < n) {
            c = (unsigned char)s[++i];
        } else if (c == '%' && i + 2 < n && hexfmt_digit((unsigned char)s[i + 1]) >= 0 &&
                   hexfmt_digit((unsigned char)s[i + 2]) >= 0) {
            c = (unsigned char)(hexfmt_digit((unsigned char)s[i + 1]) * 16 +
                                hexfmt_digit((unsigned char)s[i + 2]));
            i += 2;
        }
        if (c == '\0' || o + 1 >= cap) {
            return false;
        }
        out[o++] = (char)c;
    }
    out[o] = '\0';
    return true;
}

static bool
key_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-' || c == '.' || c == '%';
}

static bool
is_blank(unsigned char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* One comment body: all pairs or nothing. sqlcommenter: k='v' pairs; marginalia: k:v pairs. */
static unsigned
parse_body(const char *s, size_t n, struct proto_tag *tmp, unsigned room)
{
    size_t i = 0;
    unsigned got = 0;
    int form = 0; /* 1: sqlcommenter, 2: marginalia (one form per comment) */
    while (i < n && is_blank((unsigned char)s[i])) {
        i++;
    }
    while (n > i && is_blank((unsigned char)s[n - 1])) {
        n--;
    }
    if (i >= n) {
        return 0;
    }
    while (i < n) {
        size_t k0 = i;
        while (i < n && key_char((unsigned char)s[i])) {
            i++;
        }
        size_t k1 = i;
        if (k1 == k0 || i >= n || got >= PROTO_TAGS_MAX) {
            return 0;
        }
        size_t v0, v1;
        if (s[i] == '=' && (form == 0 || form == 1)) {
            form = 1;
            i++;
            if (i >= n || s[i] != '\'') {
                return 0;
            }
            v0 = ++i;
            while (i < n && s[i] != '\'') {
                i += (s[i] == '\\' && i + 1 < n) ? 2 : 1;
            }
            if (i >= n) {
                return 0;
            }
            v1 = i++;
        } else if (s[i] == ':' && (form == 0 || form == 2)) {
            form = 2;
            v0 = ++i;
            while (i < n && s[i] != ',' && !is_blank((unsigned char)s[i])) {
                i++;
            }
            v1 = i;
            if (v1 == v0) {
                return 0;
            }
        } else {
            return 0;
        }
        if (got < room) {
            if (!decode(s + k0, k1 - k0, false, tmp[got].key, sizeof tmp[got].key) ||
                !decode(s + v0, v1 - v0, form == 1, tmp[got].value, sizeof tmp[got].value)) {
                return 0; /* too long or malformed: the comment is ignored */
            }
        }
        if (got < room && tmp[got].value[0] != '\0') {
            got++; /* an empty value (route='') says nothing: the pair is skipped */
        }
        while (i < n && is_blank((unsigned char)s[i])) {
            i++;
        }
        if (i < n) {
            if (s[i] != ',') {
                return 0;
            }
            i++;
            while (i < n && is_blank((unsigned char)s[i])) {
                i++;
            }
            if (i >= n) {
                return 0; /* a trailing comma */
            }
        }
    }
    return got <= room ? got : 0;
}

bool
proto_traceparent_parse(const char *s, size_t n, char trace_id[33], char span_id[17])
{
    /* 00-<32>-<16>-<2> */
    if (n != 55 || s[0] != '0' || s[1] != '0' || s[2] != '-' || s[35] != '-' || s[52] != '-') {
        return false;
    }
    bool nz_t = false, nz_s = false;
    for (size_t i = 0; i < 55; i++) {
        if (i == 2 || i == 35 || i == 52) {
            continue;
        }
        if (hexfmt_digit((unsigned char)s[i]) < 0) {
            return false;
        }
    }
    for (int i = 0; i < 32; i++) {
        char c = s[3 + i];
        trace_id[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
        nz_t = nz_t || c != '0';
    }
    for (int i = 0; i < 16; i++) {
        char c = s[36 + i];
        span_id[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
        nz_s = nz_s || c != '0';
    }
    trace_id[32] = '\0';
    span_id[16] = '\0';
    if (!nz_t || !nz_s) {
        trace_id[0] = span_id[0] = '\0';
        return false;
    }
    return true;
}

const char *
proto_tags_get(const struct proto_tags *t, const char *key)
{
    for (unsigned i = 0; i < t->n; i++) {
        if (strcmp(t->tag[i].key, key) == 0) {
            return t->tag[i].value;
        }
    }
    return NULL;
}

static bool
has_comment_start(const char *s, size_t n)
{
    for (size_t i = 0; i + 1 < n; i++) {
        if (s[i] == '/' && s[i + 1] == '*') {
            return true;
        }
    }
    return false;
}

unsigned
proto_tags_parse(const char *sql, size_t len, unsigned sqlmode, struct proto_tags *out)
{
    out->n = 0;
    out->trace_id[0] = out->span_id[0] = '\0';
    if (!sql || !has_comment_start(sql, len)) {
        return 0;
    }
    struct proto_sqllex lx;
    struct proto_sqltok t;
    struct proto_tag tmp[PROTO_TAGS_MAX];
    proto_sqllex_init(&lx, sql, len, sqlmode);
    while (proto_sqllex_next(&lx, &t) != PROTO_TOK_END && out->n < PROTO_TAGS_MAX) {
        /* C-style comments only (not -- or #), terminated */
        if (t.kind != PROTO_TOK_COMMENT || sql[t.start] != '/') {
            continue;
        }
        unsigned got =
            parse_body(sql + t.body_start, t.body_end - t.body_start, tmp, PROTO_TAGS_MAX);
        for (unsigned i = 0; i < got && out->n < PROTO_TAGS_MAX; i++) {
            if (proto_tags_get(out, tmp[i].key)) {
                continue; /* the first value of a key wins */
            }
            out->tag[out->n++] = tmp[i];
        }
    }
    const char *tp = proto_tags_get(out, "traceparent");
    if (tp) {
        proto_traceparent_parse(tp, strlen(tp), out->trace_id, out->span_id);
    }
    return out->n;
}
