/*
 * filter.c - pcre2 statement filters (--include/--exclude) and literal redaction (--redact,
 * --redact-all). Patterns are compiled once (JIT when available); each thread matches with
 * its own match data, created on first use and freed when the thread exits. Which bytes are
 * literals is protocol/proto_redact's (the one SQL lexer's) business; here is only the
 * predicate that matches a literal's content against the patterns.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "proxy/account/filter.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_fingerprint.h"
#include "protocol/proto_redact.h"

struct filter {
    pcre2_code *include[CONF_MAX_PATTERNS];
    int n_include;
    pcre2_code *exclude[CONF_MAX_PATTERNS];
    int n_exclude;
    pcre2_code *redact[CONF_MAX_PATTERNS];
    int n_redact;
    bool redact_all;
};

/* Per-thread match data: only match/no-match is needed, so one ovector pair suffices for
 * every pattern (pcre2_match returns 0, still a match, when the ovector is too small). */
static __thread pcre2_match_data *filter_md;
static pthread_key_t filter_md_key;
static pthread_once_t filter_md_once = PTHREAD_ONCE_INIT;

static void
filter_md_destroy(void *md)
{
    pcre2_match_data_free(md);
}

static void
filter_md_key_init(void)
{
    (void)pthread_key_create(&filter_md_key, filter_md_destroy);
}

static pcre2_match_data *
filter_match_data(void)
{
    if (!filter_md) {
        filter_md = pcre2_match_data_create(1, NULL);
        if (filter_md) {
            (void)pthread_once(&filter_md_once, filter_md_key_init);
            (void)pthread_setspecific(filter_md_key, filter_md);
        }
    }
    return filter_md;
}

/* True when `re` matches subject[0..len); a failing allocation counts as no match. */
static bool
filter_match(const pcre2_code *re, const char *s, size_t len)
{
    pcre2_match_data *md = filter_match_data();
    if (!md) {
        return false;
    }
    return pcre2_match(re, (PCRE2_SPTR)s, len, 0, 0, md, NULL) >= 0;
}

static bool
filter_compile(char *const *pats, int n, pcre2_code **out, const char *opt, FILE *err)
{
    for (int i = 0; i < n; i++) {
        int code;
        PCRE2_SIZE off;
        out[i] = pcre2_compile((PCRE2_SPTR)pats[i], PCRE2_ZERO_TERMINATED, 0, &code, &off, NULL);
        if (!out[i]) {
            PCRE2_UCHAR msg[256];
            if (pcre2_get_error_message(code, msg, sizeof(msg)) < 0) {
                strcpy((char *)msg, "invalid pattern");
            }
            fprintf(err, "slowtap: %s '%s': %s at offset %zu\n", opt, pats[i], (char *)msg,
                    (size_t)off);
            return false;
        }
        (void)pcre2_jit_compile(out[i], PCRE2_JIT_COMPLETE); /* falls back to the interpreter */
    }
    return true;
}

struct filter *
filter_new(const struct conf *c, FILE *err, bool *bad)
{
    struct filter *f;

    *bad = false;
    if (c->n_include == 0 && c->n_exclude == 0 && c->n_redact == 0 && !c->redact_all) {
        return NULL;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        fprintf(err, "slowtap: filters: out of memory\n");
        *bad = true;
        return NULL;
    }
    f->redact_all = c->redact_all;
    f->n_include = c->n_include;
    f->n_exclude = c->n_exclude;
    f->n_redact = c->n_redact;
    if (!filter_compile(c->include, c->n_include, f->include, "--include", err) ||
        !filter_compile(c->exclude, c->n_exclude, f->exclude, "--exclude", err) ||
        !filter_compile(c->redact, c->n_redact, f->redact, "--redact", err)) {
        filter_free(f);
        *bad = true;
        return NULL;
    }
    return f;
}

void
filter_free(struct filter *f)
{
    if (!f) {
        return;
    }
    for (int i = 0; i < f->n_include; i++) {
        pcre2_code_free(f->include[i]);
    }
    for (int i = 0; i < f->n_exclude; i++) {
        pcre2_code_free(f->exclude[i]);
    }
    for (int i = 0; i < f->n_redact; i++) {
        pcre2_code_free(f->redact[i]);
    }
    free(f);
}

bool
filter_wants(const struct filter *f, const char *sql, size_t len)
{
    bool in;

    if (!f) {
        return true;
    }
    in = f->n_include == 0;
    for (int i = 0; i < f->n_include && !in; i++) {
        in = filter_match(f->include[i], sql, len);
    }
    if (!in) {
        return false;
    }
    for (int i = 0; i < f->n_exclude; i++) {
        if (filter_match(f->exclude[i], sql, len)) {
            return false;
        }
    }
    return true;
}

bool
filter_redacts(const struct filter *f)
{
    return f && (f->redact_all || f->n_redact > 0);
}

/* The --redact predicate: a literal is hidden when any pattern matches its content. */
struct filter_pred_ctx {
    const struct filter *f;
};

static bool
filter_redact_pred(void *ctx, const char *content, size_t len)
{
    const struct filter *f = ((const struct filter_pred_ctx *)ctx)->f;
    for (int k = 0; k < f->n_redact; k++) {
        if (filter_match(f->redact[k], content, len)) {
            return true;
        }
    }
    return false;
}

bool
filter_hides_value(const struct filter *f, const char *s, size_t len)
{
    if (!f) {
        return false;
    }
    if (f->redact_all) {
        return true;
    }
    for (int k = 0; k < f->n_redact; k++) {
        if (filter_match(f->redact[k], s, len)) {
            return true;
        }
    }
    return false;
}

size_t
filter_redact_mode(const struct filter *f, const char *sql, size_t len, unsigned sqlmode, char *out,
                   size_t cap)
{
    if (cap == 0) {
        return 0;
    }
    out[0] = '\0';
    if (f && f->redact_all) {
        (void)proto_fingerprint_mode(sql, len, sqlmode, out, cap);
        return strlen(out);
    }
    if (!f || f->n_redact == 0) {
        size_t n = len < cap - 1 ? len : cap - 1;
        if (n > 0) {
            memcpy(out, sql, n);
        }
        out[n] = '\0';
        return n;
    }
    struct filter_pred_ctx pc = {f};
    return proto_redact(sql, len, sqlmode, filter_redact_pred, &pc, out, cap);
}

size_t
filter_redact(const struct filter *f, const char *sql, size_t len, char *out, size_t cap)
{
    return filter_redact_mode(f, sql, len, 0, out, cap);
}
