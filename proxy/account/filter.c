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

/* Appends s[0..n) to out[*o..cap-1), cut to fit. */
static void
filter_put(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
    if (*o + 1 >= cap) {
        return;
    }
    if (n > cap - 1 - *o) {
        n = cap - 1 - *o;
    }
    memcpy(out + *o, s, n);
    *o += n;
    out[*o] = '\0';
}

/* Pass 2 of filter_redact_message: every match of every pattern in s[0..len) becomes `?`. */
static size_t
filter_redact_matches(const struct filter *f, const char *s, size_t len, char *out, size_t cap)
{
    pcre2_match_data *md = filter_match_data();
    size_t o = 0, at = 0;
    out[0] = '\0';
    while (at < len && md) {
        /* the earliest match of any pattern from `at` */
        size_t best_s = len, best_e = len;
        for (int k = 0; k < f->n_redact; k++) {
            if (pcre2_match(f->redact[k], (PCRE2_SPTR)s, len, at, 0, md, NULL) < 0) {
                continue;
            }
            PCRE2_SIZE *ov = pcre2_get_ovector_pointer(md);
            if (ov[0] < best_s || (ov[0] == best_s && ov[1] > best_e)) {
                best_s = ov[0];
                best_e = ov[1];
            }
        }
        if (best_s >= len) {
            break;
        }
        if (best_e == best_s) { /* an empty match hides nothing: step over one byte */
            filter_put(out, cap, &o, s + at, best_s + 1 - at);
            at = best_s + 1;
            continue;
        }
        filter_put(out, cap, &o, s + at, best_s - at);
        filter_put(out, cap, &o, "?", 1);
        at = best_e;
    }
    if (at < len) {
        filter_put(out, cap, &o, s + at, len - at);
    }
    return o;
}

size_t
filter_redact_message(const struct filter *f, const char *msg, size_t len, char *out, size_t cap)
{
    if (cap == 0) {
        return 0;
    }
    out[0] = '\0';
    if (!filter_redacts(f)) {
        size_t o = 0;
        filter_put(out, cap, &o, msg, len);
        return o;
    }
    /* pass 1: quoted parts (and, for --redact-all, numbers) */
    char *tmp = malloc(len + 1);
    if (!tmp) {
        filter_put(out, cap, &(size_t){0}, "?", 1); /* never the unredacted text */
        return strlen(out);
    }
    size_t t = 0;
    for (size_t i = 0; i < len;) {
        char c = msg[i];
        if (c == '\'' || c == '"') {
            const char *end = memchr(msg + i + 1, c, len - i - 1);
            size_t body = i + 1, body_end = end ? (size_t)(end - msg) : len;
            bool hide = f->redact_all || filter_redact_pred(&(struct filter_pred_ctx){f},
                                                            msg + body, body_end - body);
            if (hide) {
                tmp[t++] = '?';
            } else {
                memcpy(tmp + t, msg + i, (end ? body_end + 1 : len) - i);
                t += (end ? body_end + 1 : len) - i;
            }
            i = end ? body_end + 1 : len;
        } else if (f->redact_all && c >= '0' && c <= '9') {
            while (i < len && ((msg[i] >= '0' && msg[i] <= '9') || msg[i] == '.')) {
                i++;
            }
            tmp[t++] = '?';
        } else {
            tmp[t++] = c;
            i++;
        }
    }
    size_t n;
    if (f->n_redact > 0) {
        n = filter_redact_matches(f, tmp, t, out, cap);
    } else {
        n = 0;
        filter_put(out, cap, &n, tmp, t);
    }
    free(tmp);
    return n;
}
