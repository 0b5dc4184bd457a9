/*
 * churl.h - the address of a ClickHouse server as slowtap takes it (--sink, `slowtap report
 * clickhouse://...`): clickhouse://[user[:password]@]host[:port][/database]. Pure code.
 */
#ifndef SLOWTAP_CHURL_H
#define SLOWTAP_CHURL_H

#include <stdbool.h>
#include <stddef.h>

#define CHCLIENT_NAME_MAX 128

/* A parsed sink address. user/password "" when not given (ClickHouse's "default" user). */
struct churl {
    char user[CHCLIENT_NAME_MAX];
    char password[CHCLIENT_NAME_MAX];
    char host[256];                   /* as written, without the brackets of an IPv6 address */
    int port;                         /* default 8123 */
    char database[CHCLIENT_NAME_MAX]; /* default "slowtap"; [A-Za-z0-9_]+ */
    bool has_password;                /* a password was written in the address */
};

/*
 * Parses `s`. user and password may be %XX-encoded. On false, *why is a short static reason
 * ("expected clickhouse://HOST:PORT/DATABASE" ...). The reason never contains the password.
 */
bool churl_parse(const char *s, struct churl *u, const char **why);

/* The address without user and password, for messages: "clickhouse://host:port/db". */
void churl_display(const struct churl *u, char *out, size_t cap);

/* True for a string that starts like a ClickHouse address ("clickhouse://"). */
bool churl_is(const char *s);

#endif
