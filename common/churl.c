/*
 * churl.c - parses and displays a ClickHouse address (churl.h).
 */
#include "common/churl.h"

#include <stdio.h>
#include <string.h>

#include "common/hexfmt.h"

#define CHURL_PREFIX "clickhouse://"

bool
churl_is(const char *s)
{
    return s && strncmp(s, CHURL_PREFIX, strlen(CHURL_PREFIX)) == 0;
}

/* s[0..n) %XX-decoded into out[cap]; false when too long or a bad escape. */
static bool
churl_decode(const char *s, size_t n, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%') {
            int hi = i + 2 < n ? hexfmt_digit(s[i + 1]) : -1;
            int lo = i + 2 < n ? hexfmt_digit(s[i + 2]) : -1;
            if (hi < 0 || lo < 0) {
                return false;
            }
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        if (o + 1 >= cap) {
            return false;
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

bool
churl_parse(const char *s, struct churl *u, const char **why)
{
    *u = (struct churl){.port = 8123};
    strcpy(u->database, "slowtap");
    if (!churl_is(s)) {
        *why = "expected clickhouse://[USER[:PASSWORD]@]HOST[:PORT][/DATABASE]";
        return false;
    }
    const char *p = s + strlen(CHURL_PREFIX);
    const char *slash = strchr(p, '/');
    const char *auth_end = NULL;
    for (const char *q = p; *q && (!slash || q < slash); q++) {
        if (*q == '@') {
            auth_end = q; /* the last '@' before the path */
        }
    }
    if (auth_end) {
        const char *colon = memchr(p, ':', (size_t)(auth_end - p));
        size_t ulen = colon ? (size_t)(colon - p) : (size_t)(auth_end - p);
        if (!churl_decode(p, ulen, u->user, sizeof u->user) || !u->user[0]) {
            *why = "bad or empty user name";
            return false;
        }
        if (colon) {
            if (!churl_decode(colon + 1, (size_t)(auth_end - colon - 1), u->password,
                              sizeof u->password)) {
                *why = "bad password encoding (use %XX) or too long";
                return false;
            }
            u->has_password = true;
        }
        p = auth_end + 1;
    }
    const char *hend = slash ? slash : p + strlen(p);
    const char *portp = NULL;
    if (*p == '[') {
        const char *close = memchr(p, ']', (size_t)(hend - p));
        if (!close || close == p + 1) {
            *why = "bad [IPv6] host";
            return false;
        }
        if ((size_t)(close - p - 1) >= sizeof u->host) {
            *why = "host name too long";
            return false;
        }
        memcpy(u->host, p + 1, (size_t)(close - p - 1));
        u->host[close - p - 1] = '\0';
        if (close + 1 < hend) {
            if (close[1] != ':') {
                *why = "expected :PORT after ]";
                return false;
            }
            portp = close + 2;
        }
    } else {
        const char *colon = memchr(p, ':', (size_t)(hend - p));
        const char *e = colon ? colon : hend;
        if (e == p || (size_t)(e - p) >= sizeof u->host) {
            *why = e == p ? "missing host" : "host name too long";
            return false;
        }
        memcpy(u->host, p, (size_t)(e - p));
        u->host[e - p] = '\0';
        portp = colon ? colon + 1 : NULL;
    }
    if (portp) {
        long port = 0;
        if (portp == hend) {
            *why = "empty port";
            return false;
        }
        for (const char *q = portp; q < hend; q++) {
            if (*q < '0' || *q > '9' || port > 65535) {
                *why = "bad port";
                return false;
            }
            port = port * 10 + (*q - '0');
        }
        if (port < 1 || port > 65535) {
            *why = "port out of range (1..65535)";
            return false;
        }
        u->port = (int)port;
    }
    if (slash && slash[1]) {
        size_t n = strlen(slash + 1);
        if (slash[1 + n - 1] == '/') {
            n--; /* one trailing slash */
        }
        if (n == 0 || n >= sizeof u->database) {
            *why = "bad database name";
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            char c = slash[1 + i];
            if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_')) {
                *why = "database name: only letters, digits and _";
                return false;
            }
        }
        memcpy(u->database, slash + 1, n);
        u->database[n] = '\0';
    }
    return true;
}

void
churl_display(const struct churl *u, char *out, size_t cap)
{
    bool v6 = strchr(u->host, ':') != NULL;
    snprintf(out, cap, "clickhouse://%s%s%s:%d/%s", v6 ? "[" : "", u->host, v6 ? "]" : "", u->port,
             u->database);
}
