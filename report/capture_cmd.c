/*
 * capture_cmd.c - `slowtap capture` (capture_cmd.h): the HTTP client of /api/capture
 * (libcurl) and the capture file's dump as JSON lines (protocol/proto_capture.h's decoder).
 *
 *   slowtap capture --http HOST:PORT --file F [--seconds N] [--max-bytes N] [--auth-file P]
 *   slowtap capture --http HOST:PORT --stop | --status
 *   slowtap capture --dump FILE
 */
#include "report/capture_cmd.h"

#include <curl/curl.h>
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hexfmt.h"
#include "common/jsonw.h"
#include "protocol/proto_capture.h"

#define CAPCMD_MAX_PARAMS 65535
#define CAPCMD_TIMEOUT_MS 30000L

static void
file_sink(void *ctx, const char *s, size_t n)
{
    fwrite(s, 1, n, ctx);
}

static void
hex_value(struct jsonw *w, const char *k, const uint8_t *p, size_t n)
{
    static const char digits[] = "0123456789abcdef";
    jsonw_key(w, k);
    char *all = malloc(2 * n + 1);
    if (!all) {
        jsonw_null(w);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        all[2 * i] = digits[p[i] >> 4];
        all[2 * i + 1] = digits[p[i] & 15];
    }
    jsonw_stringn(w, all, 2 * n);
    free(all);
}

static void
dump_record(struct jsonw *w, const struct proto_cap_record *r)
{
    char sum[HEXFMT_U64_LEN + 1];
    jsonw_object_begin(w);
    switch (r->type) {
    case PROTO_CAP_SESSION: {
        const struct proto_cap_session *s = &r->u.session;
        jsonw_kstr(w, "type", "session");
        jsonw_kuint(w, "session", s->session);
        jsonw_kint(w, "t_us", s->t_us);
        jsonw_kuint(w, "thread_id", s->thread_id);
        jsonw_kuint(w, "client_caps", s->client_caps);
        jsonw_kuint(w, "charset", s->charset);
        jsonw_kbool(w, "alive", s->alive);
        jsonw_kstrn(w, "user", s->user, s->user_len);
        jsonw_kstrn(w, "schema", s->schema, s->schema_len);
        jsonw_kstrn(w, "host", s->host, s->host_len);
        jsonw_kstrn(w, "sql_mode", s->sql_mode, s->sql_mode_len);
        jsonw_kbool(w, "sql_mode_set", s->sql_mode_set);
        break;
    }
    case PROTO_CAP_COMMAND: {
        const struct proto_cap_command *c = &r->u.command;
        jsonw_kstr(w, "type", "command");
        jsonw_kuint(w, "session", c->session);
        jsonw_kuint(w, "seq", c->seq);
        jsonw_kint(w, "t_start_us", c->t_start_us);
        jsonw_kint(w, "t_end_us", c->t_end_us);
        jsonw_kuint(w, "cmd", c->cmd);
        jsonw_kstrn(w, "text", c->text, c->text_len);
        jsonw_kstrn(w, "schema", c->schema, c->schema_len);
        jsonw_kuint(w, "stmt_id", c->stmt_id);
        jsonw_kuint(w, "prepare_id", c->prepare_id);
        jsonw_key(w, "params");
        jsonw_array_begin(w);
        for (uint16_t i = 0; i < c->n_params; i++) {
            const struct proto_cap_param *p = &c->params[i];
            jsonw_object_begin(w);
            jsonw_kuint(w, "type", p->type);
            jsonw_kbool(w, "unsigned", p->is_unsigned);
            jsonw_kbool(w, "null", p->is_null);
            jsonw_kbool(w, "long_data", p->long_data);
            hex_value(w, "hex", p->value, p->value_len);
            jsonw_object_end(w);
        }
        jsonw_array_end(w);
        jsonw_kuint(w, "err", c->err);
        jsonw_kuint(w, "rows", c->rows);
        jsonw_kuint(w, "affected", c->affected);
        jsonw_kuint(w, "insert_id", c->insert_id);
        jsonw_kuint(w, "warnings", c->warnings);
        jsonw_kuint(w, "status", c->status);
        hexfmt_u64(c->checksum, sum);
        jsonw_kstr(w, "checksum", sum);
        jsonw_kbool(w, "interrupted", c->interrupted);
        break;
    }
    case PROTO_CAP_FILE:
        jsonw_kstr(w, "type", "file");
        jsonw_kuint(w, "session", r->u.file.session);
        jsonw_kuint(w, "seq", r->u.file.seq);
        jsonw_kuint(w, "len", r->u.file.len);
        hex_value(w, "hex", r->u.file.data, r->u.file.len);
        break;
    case PROTO_CAP_END:
        jsonw_kstr(w, "type", "end");
        jsonw_kuint(w, "session", r->u.end.session);
        jsonw_kint(w, "t_us", r->u.end.t_us);
        break;
    }
    jsonw_object_end(w);
    jsonw_flush(w);
}

static int
dump(const char *path, FILE *out, FILE *err)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(err, "slowtap capture: %s: %s\n", path, strerror(errno));
        return 2;
    }
    uint8_t h[PROTO_CAP_HEADER_LEN];
    uint16_t version = 0;
    int64_t created = 0;
    size_t hn = fread(h, 1, sizeof h, f);
    if (!proto_cap_check_header(h, hn, &version, &created)) {
        if (hn == sizeof h && memcmp(h, PROTO_CAP_MAGIC, PROTO_CAP_MAGIC_LEN) == 0) {
            fprintf(err, "slowtap capture: %s: format version %u, this slowtap reads %u\n", path,
                    version, PROTO_CAP_VERSION);
        } else {
            fprintf(err, "slowtap capture: %s: not a capture file\n", path);
        }
        fclose(f);
        return 2;
    }
    struct proto_cap_param *ps = malloc(CAPCMD_MAX_PARAMS * sizeof *ps);
    uint8_t *z = NULL, *raw = NULL;
    if (!ps) {
        fclose(f);
        return 2;
    }
    struct jsonw w;
    uint64_t blocks = 0, records = 0;
    int rc = 0;
    const char *why = NULL;
    size_t left_over = 0;
    for (;;) {
        uint8_t bh[PROTO_CAP_BLOCK_HEADER_LEN];
        size_t n = fread(bh, 1, sizeof bh, f);
        if (n == 0) {
            break;
        }
        uint32_t raw_len = 0, zlen = 0;
        uint64_t sum = 0;
        if (n < sizeof bh) {
            why = "the file ends inside a block header";
            left_over = n;
            break;
        }
        if (!proto_cap_block_header(bh, &raw_len, &zlen, &sum)) {
            why = "a block header is corrupt";
            rc = 1;
            break;
        }
        uint8_t *nz = realloc(z, zlen), *nr = realloc(raw, raw_len);
        if (nz) {
            z = nz;
        }
        if (nr) {
            raw = nr;
        }
        if (!nz || !nr) {
            why = "out of memory";
            rc = 2;
            break;
        }
        n = fread(z, 1, zlen, f);
        if (n < zlen) {
            why = "the file ends inside a block";
            left_over = sizeof bh + n;
            break;
        }
        if (!proto_cap_block_open(z, zlen, raw, raw_len, sum)) {
            why = "a block does not decode or its checksum does not match";
            rc = 1;
            break;
        }
        blocks++;
        size_t off = 0;
        struct proto_cap_record r;
        while (proto_cap_next(raw, raw_len, &off, &r, ps, CAPCMD_MAX_PARAMS)) {
            jsonw_init(&w, file_sink, out, 0);
            dump_record(&w, &r);
            fputc('\n', out);
            records++;
        }
        if (off < raw_len) {
            why = "a record is malformed";
            rc = 1;
            break;
        }
    }
    fclose(f);
    free(z);
    free(raw);
    free(ps);
    fprintf(err, "slowtap capture: %s: version %u, %llu blocks, %llu records", path, version,
            (unsigned long long)blocks, (unsigned long long)records);
    if (why) {
        fprintf(err, "; %s", why);
        if (left_over) {
            fprintf(err, " (%zu bytes after the last whole block ignored)", left_over);
        }
    }
    fprintf(err, "\n");
    return rc;
}

/* ---- the HTTP client ---- */

static size_t
body_sink(char *p, size_t size, size_t n, void *ctx)
{
    fwrite(p, size, n, ctx);
    return size * n;
}

static int
call(const char *http, const char *auth_file, const char *body, FILE *out, FILE *err)
{
    char url[1200];
    bool scheme = strncmp(http, "http://", 7) == 0 || strncmp(http, "https://", 8) == 0;
    snprintf(url, sizeof url, "%s%s/api/capture", scheme ? "" : "http://", http);
    char token[512] = "";
    if (auth_file) {
        FILE *f = fopen(auth_file, "r");
        if (!f || !fgets(token, sizeof token, f)) {
            fprintf(err, "slowtap capture: --auth-file %s: cannot read it\n", auth_file);
            if (f) {
                fclose(f);
            }
            return 2;
        }
        fclose(f);
        token[strcspn(token, "\r\n")] = '\0';
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    if (!c) {
        return 2;
    }
    struct curl_slist *hdrs = NULL;
    hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
    char bearer[600];
    if (token[0] && !strchr(token, ':')) {
        snprintf(bearer, sizeof bearer, "Authorization: Bearer %s", token);
        hdrs = curl_slist_append(hdrs, bearer);
    } else if (token[0]) {
        curl_easy_setopt(c, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(c, CURLOPT_USERPWD, token);
    }
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, CAPCMD_TIMEOUT_MS);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, body_sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, out);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    }
    CURLcode cc = curl_easy_perform(c);
    long code = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    memset(token, 0, sizeof token);
    if (cc != CURLE_OK) {
        fprintf(err, "slowtap capture: %s: %s\n", url, curl_easy_strerror(cc));
        return 2;
    }
    fputc('\n', out);
    if (code != 200) {
        fprintf(err, "slowtap capture: %s answered HTTP %ld\n", url, code);
        return 1;
    }
    return 0;
}

static void
usage(FILE *f)
{
    fprintf(f, "usage: slowtap capture --http HOST:PORT --file FILE [--seconds N] [--max-bytes N]\n"
               "                       [--auth-file PATH]   start a capture in a running slowtap\n"
               "       slowtap capture --http HOST:PORT --stop | --status [--auth-file PATH]\n"
               "       slowtap capture --dump FILE           print a capture as JSON lines\n"
               "The capture file is written by the slowtap process (a path on its host), mode\n"
               "0600; it holds real values. Format: docs/capture-format.md.\n");
}

int
capture_cmd_main(int argc, char **argv, FILE *out, FILE *err)
{
    static const struct option opts[] = {
        {"http", required_argument, NULL, 'H'},
        {"file", required_argument, NULL, 'f'},
        {"seconds", required_argument, NULL, 's'},
        {"max-bytes", required_argument, NULL, 'm'},
        {"auth-file", required_argument, NULL, 'a'},
        {"stop", no_argument, NULL, 'S'},
        {"status", no_argument, NULL, 'T'},
        {"dump", required_argument, NULL, 'd'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    const char *http = NULL, *file = NULL, *auth = NULL, *dumpf = NULL;
    long long seconds = -1, max_bytes = -1;
    bool stop = false, status = false;
    optind = 1;
    opterr = 0;
    int o;
    while ((o = getopt_long(argc, argv, "", opts, NULL)) != -1) {
        char *end = NULL;
        switch (o) {
        case 'H':
            http = optarg;
            break;
        case 'f':
            file = optarg;
            break;
        case 's':
        case 'm': {
            long long v = strtoll(optarg, &end, 10);
            if (!end || end == optarg || *end || v < 0) {
                fprintf(err, "slowtap capture: --%s '%s': a non-negative integer is expected\n",
                        o == 's' ? "seconds" : "max-bytes", optarg);
                return 2;
            }
            *(o == 's' ? &seconds : &max_bytes) = v;
            break;
        }
        case 'a':
            auth = optarg;
            break;
        case 'S':
            stop = true;
            break;
        case 'T':
            status = true;
            break;
        case 'd':
            dumpf = optarg;
            break;
        case 'h':
            usage(out);
            return 0;
        default:
            fprintf(err,
                    "slowtap capture: unknown option or missing argument '%s' (see slowtap capture "
                    "--help)\n",
                    argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(err, "slowtap capture: unexpected argument '%s'\n", argv[optind]);
        return 2;
    }
    if (dumpf) {
        return dump(dumpf, out, err);
    }
    if (!http || (!file && !stop && !status)) {
        fprintf(err, "slowtap capture: --dump FILE, or --http HOST:PORT with --file, --stop or "
                     "--status, is needed (see slowtap capture --help)\n");
        return 2;
    }
    if (status) {
        return call(http, auth, NULL, out, err);
    }
    char body[2048];
    struct jsonw_mem m = {0};
    struct jsonw w;
    jsonw_init(&w, jsonw_mem_sink, &m, 0);
    jsonw_object_begin(&w);
    if (stop) {
        jsonw_kbool(&w, "stop", true);
    } else {
        jsonw_kstr(&w, "file", file);
        if (seconds >= 0) {
            jsonw_kint(&w, "seconds", seconds);
        }
        if (max_bytes >= 0) {
            jsonw_kint(&w, "max_bytes", max_bytes);
        }
    }
    jsonw_object_end(&w);
    jsonw_flush(&w);
    if (m.failed || !m.data) {
        jsonw_mem_free(&m);
        return 2;
    }
    snprintf(body, sizeof body, "%s", m.data);
    jsonw_mem_free(&m);
    return call(http, auth, body, out, err);
}
