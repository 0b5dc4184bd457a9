/*
 * filter.c - pcre2 statement filters (--include/--exclude) and literal redaction (--redact,
 * --redact-all). Patterns are compiled once (JIT when available); each thread matches with
 * its own match data, created on first use and freed when the thread exits.
 */
#define PCRE2_CODE_UNIT_WIDTH 8
#include "filter.h"

#include <pcre2.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/proto_fingerprint.h"

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

/* Output cursor that cuts at capacity and keeps the buffer NUL-terminated. */
struct filter_out {
    char *buf;
    size_t cap, len;
};

static void
filter_put(struct filter_out *o, const char *s, size_t n)
{
    if (o->cap == 0) {
        return;
    }
    if (n > o->cap - 1 - o->len) {
        n = o->cap - 1 - o->len;
    }
    memcpy(o->buf + o->len, s, n);
    o->len += n;
    o->buf[o->len] = '\0';
}

static bool
filter_ident_char(unsigned char ch)
{
    return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
           ch == '_' || ch == '$' || ch >= 0x80;
}

static bool
filter_digit(char ch)
{
    return ch >= '0' && ch <= '9';
}

/* End of the quoted literal that opens at sql[i] (the quote), honouring backslash escapes and
 * doubled quotes; an unterminated literal runs to the end. */
static size_t
filter_quoted_end(const char *sql, size_t len, size_t i)
{
    char q = sql[i];
    for (i++; i < len; i++) {
        if (sql[i] == '\\') {
            i++;
        } else if (sql[i] == q) {
            if (i + 1 < len && sql[i + 1] == q) {
                i++;
            } else {
                return i + 1;
            }
        }
    }
    return len;
}

/* End of the number starting at sql[i]: 123, 1.5, .5, 1e-3, 0x1F, 0b101. */
static size_t
filter_number_end(const char *sql, size_t len, size_t i)
{
    if (sql[i] == '0' && i + 1 < len && (sql[i + 1] == 'x' || sql[i + 1] == 'b')) {
        size_t j = i + 2;
        while (j < len && filter_ident_char((unsigned char)sql[j])) {
            j++;
        }
        return j;
    }
    while (i < len && filter_digit(sql[i])) {
        i++;
    }
    if (i < len && sql[i] == '.') {
        i++;
        while (i < len && filter_digit(sql[i])) {
            i++;
        }
    }
    if (i < len && (sql[i] == 'e' || sql[i] == 'E')) {
        size_t j = i + 1;
        if (j < len && (sql[j] == '+' || sql[j] == '-')) {
            j++;
        }
        if (j < len && filter_digit(sql[j])) {
            while (j < len && filter_digit(sql[j])) {
                j++;
            }
            i = j;
        }
    }
    return i;
}

/* Copies a literal, or `?` when its content matches a --redact pattern. */
static void
filter_literal(const struct filter *f, struct filter_out *o, const char *lit, size_t n,
               const char *content, size_t cn)
{
    for (int k = 0; k < f->n_redact; k++) {
        if (filter_match(f->redact[k], content, cn)) {
            filter_put(o, "?", 1);
            return;
        }
    }
    filter_put(o, lit, n);
}

size_t
filter_redact(const struct filter *f, const char *sql, size_t len, char *out, size_t cap)
{
    struct filter_out o = {out, cap, 0};
    size_t i = 0;

    if (cap > 0) {
        out[0] = '\0';
    }
    if (f && f->redact_all) {
        if (cap == 0) {
            return 0;
        }
        (void)proto_fingerprint(sql, len, out, cap);
        return strlen(out);
    }
    if (!f || f->n_redact == 0) {
        filter_put(&o, sql, len);
        return o.len;
    }
    while (i < len) {
        char ch = sql[i];
        bool word_start = i == 0 || !filter_ident_char((unsigned char)sql[i - 1]);
        size_t end;

        if (ch == '\'' || ch == '"') {
            end = filter_quoted_end(sql, len, i);
            filter_literal(f, &o, sql + i, end - i, sql + i + 1,
                           end - i >= 2 && sql[end - 1] == ch ? end - i - 2 : end - i - 1);
            i = end;
        } else if (word_start && i + 1 < len && sql[i + 1] == '\'' &&
                   strchr("xXbBnN", ch) != NULL) {
            /* x'4142', b'01', N'text': the prefix belongs to the literal */
            end = filter_quoted_end(sql, len, i + 1);
            filter_literal(f, &o, sql + i, end - i, sql + i + 2,
                           end - i >= 3 && sql[end - 1] == '\'' ? end - i - 3 : end - i - 2);
            i = end;
        } else if (ch == '#' || (ch == '-' && i + 2 < len && sql[i + 1] == '-' &&
                                 (sql[i + 2] == ' ' || sql[i + 2] == '\t'))) {
            const char *nl = memchr(sql + i, '\n', len - i); /* comments are copied */
            end = nl ? (size_t)(nl - sql) : len;
            filter_put(&o, sql + i, end - i);
            i = end;
        } else if (ch == '/' && i + 1 < len && sql[i + 1] == '*') {
            end = i + 2;
            while (end < len && !(sql[end] == '/' && sql[end - 1] == '*' && end > i + 2)) {
                end++;
            }
            end = end < len ? end + 1 : len;
            filter_put(&o, sql + i, end - i);
            i = end;
        } else if (ch == '`') {
            end = filter_quoted_end(sql, len, i); /* an identifier: copied as it is */
            filter_put(&o, sql + i, end - i);
            i = end;
        } else if (word_start &&
                   (filter_digit(ch) || (ch == '.' && i + 1 < len && filter_digit(sql[i + 1])))) {
            end = filter_number_end(sql, len, i);
            filter_literal(f, &o, sql + i, end - i, sql + i, end - i);
            i = end;
        } else if (filter_ident_char((unsigned char)ch)) {
            end = i;
            while (end < len && filter_ident_char((unsigned char)sql[end])) {
                end++;
            }
            filter_put(&o, sql + i, end - i);
            i = end;
        } else {
            filter_put(&o, sql + i, 1);
            i++;
        }
    }
    return o.len;
}
