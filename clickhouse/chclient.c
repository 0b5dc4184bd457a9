/*
 * chclient.c - the sink's address and one kept-alive libcurl connection to ClickHouse's HTTP
 * interface (chclient.h).
 */
#include "clickhouse/chclient.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

/* ---- HTTP ---- */

struct chclient {
    CURL *curl;
    struct churl url;
    char password[CHCLIENT_NAME_MAX];
    char base[512]; /* http://host:port/?<settings>&query= */
};

bool
chclient_init(void)
{
    static bool inited;
    if (!inited) {
        inited = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
    }
    return inited;
}

struct chclient *
chclient_new(const struct churl *u, const char *password)
{
    if (!chclient_init()) {
        return NULL;
    }
    struct chclient *c = calloc(1, sizeof *c);
    if (!c) {
        return NULL;
    }
    c->url = *u;
    const char *pw = password ? password : u->password;
    snprintf(c->password, sizeof c->password, "%s", pw);
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(c->base, sizeof c->base,
             "http://%s%s%s:%d/?date_time_input_format=best_effort"
             "&input_format_skip_unknown_fields=1&output_format_json_quote_64bit_integers=0"
             "&query=",
             v6 ? "[" : "", u->host, v6 ? "]" : "", u->port);
    c->curl = curl_easy_init();
    if (!c->curl) {
        free(c);
        return NULL;
    }
    return c;
}

void
chclient_free(struct chclient *c)
{
    if (!c) {
        return;
    }
    curl_easy_cleanup(c->curl);
    memset(c->password, 0, sizeof c->password);
    free(c);
}

struct chclient_buf {
    char *data;
    size_t len, cap;
    bool keep; /* keep everything; else only the first 1 KiB (an error's first line) */
};

static size_t
chclient_write(char *ptr, size_t size, size_t nmemb, void *ud)
{
    struct chclient_buf *b = ud;
    size_t n = size * nmemb;
    size_t take = n;
    if (!b->keep) {
        take = b->len >= 1024 ? 0 : (n < 1024 - b->len ? n : 1024 - b->len);
    }
    if (take && b->len + take + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + take + 1) {
            cap *= 2;
        }
        char *d = realloc(b->data, cap);
        if (!d) {
            return 0; /* curl fails the transfer */
        }
        b->data = d;
        b->cap = cap;
    }
    if (take) {
        memcpy(b->data + b->len, ptr, take);
        b->len += take;
        b->data[b->len] = '\0';
    }
    return n;
}

/* "Code: 193, e.displayText() = DB::Exception: Wrong password for user x, e.what() = ..." ->
 * code 193 and "Wrong password for user x" (the first line, without the decoration). */
static void
chclient_error_line(const char *body, int *code, char *out, size_t cap)
{
    *code = 0;
    if (strncmp(body, "Code: ", 6) == 0) {
        *code = atoi(body + 6);
    }
    const char *msg = strstr(body, "DB::Exception: ");
    msg = msg ? msg + strlen("DB::Exception: ") : body;
    size_t n = strcspn(msg, "\r\n");
    const char *what = strstr(msg, ", e.what()");
    if (what && (size_t)(what - msg) < n) {
        n = (size_t)(what - msg);
    }
    if (n >= cap) {
        n = cap - 1;
    }
    memcpy(out, msg, n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++) {
        if ((unsigned char)out[i] < 0x20) {
            out[i] = ' ';
        }
    }
}

bool
chclient_post(struct chclient *c, const char *query, const char *body, size_t n, long timeout_ms,
              bool want_body, struct chclient_result *res)
{
    *res = (struct chclient_result){.ok = false};
    char *esc = curl_easy_escape(c->curl, query, 0);
    size_t ulen = strlen(c->base) + (esc ? strlen(esc) : 0) + 1;
    char *url = malloc(ulen);
    if (!esc || !url) {
        curl_free(esc);
        free(url);
        snprintf(res->err, sizeof res->err, "out of memory");
        return false;
    }
    snprintf(url, ulen, "%s%s", c->base, esc);
    curl_free(esc);

    struct chclient_buf out = {.keep = want_body};
    CURL *h = c->curl;
    curl_easy_reset(h); /* keeps the connection cache: the next request reuses the socket */
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_POST, 1L);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, body ? body : "");
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)(body ? n : 0));
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms > 0 ? timeout_ms : 1L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
                     timeout_ms > 0 && timeout_ms < 3000 ? timeout_ms : 3000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, chclient_write);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &out);
    if (c->url.user[0]) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, c->url.user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, c->password);
    }
    /* no "Expect: 100-continue" round trip for large batches */
    struct curl_slist *hdrs = curl_slist_append(NULL, "Expect:");
    hdrs = hdrs ? curl_slist_append(hdrs, "Content-Type: text/plain") : NULL;
    if (hdrs) {
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_slist_free_all(hdrs);
    free(url);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res->status);
    /* A 200 whose body was cut (the server stopping) still means the statement completed:
     * ClickHouse sends its status only after an INSERT is done. Retrying it would insert the
     * rows twice. Without a 200 the outcome is unknown and the caller retries. */
    if (rc != CURLE_OK && !(res->status == 200 && !want_body)) {
        snprintf(res->err, sizeof res->err, "%s", curl_easy_strerror(rc));
        /* even "couldn't connect" can follow a request the server ran: libcurl retries a
         * request on a fresh connection when the kept-alive one died under it */
        res->unknown = true;
        free(out.data);
        return false;
    }
    res->ok = res->status == 200;
    if (!res->ok) {
        if (out.data) {
            chclient_error_line(out.data, &res->ch_code, res->err, sizeof res->err);
        } else {
            snprintf(res->err, sizeof res->err, "HTTP %ld", res->status);
        }
    }
    if (want_body) {
        res->body = out.data;
        res->body_len = out.len;
    } else {
        free(out.data);
    }
    return res->ok;
}

void
chclient_result_free(struct chclient_result *res)
{
    free(res->body);
    res->body = NULL;
    res->body_len = 0;
}
