/*
 * proto_tags.h - tags that applications put into statement comments: sqlcommenter (a C-style
 * comment holding controller='roster',route='%2Froster',traceparent='00-<trace>-<span>-01',
 * leading or trailing, one or several comments, keys and values URL-encoded, quotes escaped
 * with a backslash), Rails' marginalia (application:Shop,controller:posts,action:index) and
 * Datadog's tracer keys (dddbs, dde, ddps, ddpv, in the sqlcommenter form).
 *
 * Pure and bounded: comments are found with the one SQL tokenizer (proto_sqllex.h); at most
 * PROTO_TAGS_MAX tags of at most PROTO_TAG_LEN bytes each are kept; a comment that is not
 * entirely made of well-formed pairs is ignored, never an error. Tags never enter the
 * fingerprint (comments do not).
 */
#ifndef SLOWTAP_PROTO_TAGS_H
#define SLOWTAP_PROTO_TAGS_H

#include "protocol/proto.h"

#define PROTO_TAGS_MAX 16
#define PROTO_TAG_LEN  256 /* bytes of a decoded key or value, NUL included */

struct proto_tag {
    char key[64];              /* decoded; lowercase as written */
    char value[PROTO_TAG_LEN]; /* decoded */
};

struct proto_tags {
    unsigned n;
    struct proto_tag tag[PROTO_TAGS_MAX];
    char trace_id[33]; /* from traceparent (version 00): 32 lowercase hex digits, or "" */
    char span_id[17];  /* 16 lowercase hex digits, or "" */
};

/*
 * Collects the tags of every comment of sql[0..len) (lexed under `sqlmode`) into *out (zeroed
 * first). A key seen twice keeps its first value. Returns the number of tags. Cheap when the
 * text has no comment.
 */
unsigned proto_tags_parse(const char *sql, size_t len, unsigned sqlmode, struct proto_tags *out);

/* The value of tag `key` (exact match), NULL when absent. */
const char *proto_tags_get(const struct proto_tags *t, const char *key);

/* Parses a W3C traceparent `00-<32 hex>-<16 hex>-<2 hex>` into trace_id[33], span_id[17]
 * (lowercased); false when malformed or all-zero ids. */
bool proto_traceparent_parse(const char *s, size_t n, char trace_id[33], char span_id[17]);

#endif
