/*
 * net_addr.c - the address module: parsing, resolution to every address, non-blocking
 * connects and listening sockets (see net_addr.h for the forms and the bind rules).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net_addr.h"

#define NET_SYNTAX "expected HOST:PORT, [IPv6]:PORT, PORT or /unix/socket/path"

/* Digits only, 1..65535. */
static bool
net_parse_port(const char *s, unsigned *port)
{
    unsigned long v = 0;
    if (!*s) {
        return false;
    }
    for (; *s; s++) {
        if (*s < '0' || *s > '9') {
            return false;
        }
        v = v * 10 + (unsigned long)(*s - '0');
        if (v > 65535) {
            return false;
        }
    }
    *port = (unsigned)v;
    return v >= 1;
}

bool
net_addr_parse(const char *s, struct net_addr *out, const char **why)
{
    memset(out, 0, offsetof(struct net_addr, a));
    *why = NET_SYNTAX;
    if (strlen(s) >= sizeof out->text) {
        *why = "address too long";
        return false;
    }
    snprintf(out->text, sizeof out->text, "%s", s);

    if (s[0] == '/') {
        if (strlen(s) >= sizeof(((struct sockaddr_un *)0)->sun_path)) {
            *why = "unix socket path too long";
            return false;
        }
        out->is_unix = true;
        return true;
    }
    if (s[0] >= '0' && s[0] <= '9' && strspn(s, "0123456789") == strlen(s)) {
        snprintf(out->host, sizeof out->host, "127.0.0.1");
        if (!net_parse_port(s, &out->port)) {
            *why = "port must be 1..65535";
            return false;
        }
        return true;
    }
    const char *port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        struct in6_addr a6;
        if (!close || close[1] != ':') {
            return false;
        }
        size_t n = (size_t)(close - s - 1);
        if (n == 0 || n >= INET6_ADDRSTRLEN) {
            *why = "invalid IPv6 address";
            return false;
        }
        memcpy(out->host, s + 1, n);
        out->host[n] = '\0';
        if (inet_pton(AF_INET6, out->host, &a6) != 1) {
            *why = "invalid IPv6 address";
            return false;
        }
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || colon == s) {
            return false;
        }
        if (memchr(s, ':', (size_t)(colon - s))) {
            *why = "an IPv6 address needs brackets: [ADDR]:PORT";
            return false;
        }
        size_t n = (size_t)(colon - s);
        if (n >= sizeof out->host) {
            *why = "host name too long";
            return false;
        }
        for (const char *p = s; p < colon; p++) {
            if (*p == ' ' || *p == '\t' || *p == '/' || *p == '[' || *p == ']') {
                *why = "invalid host name";
                return false;
            }
        }
        memcpy(out->host, s, n);
        out->host[n] = '\0';
        port = colon + 1;
    }
    if (!net_parse_port(port, &out->port)) {
        *why = "port must be 1..65535";
        return false;
    }
    return true;
}

/* "127.0.0.1:3306", "[::1]:3306" */
static void
net_sockaddr_format(struct net_sockaddr *a)
{
    char ip[INET6_ADDRSTRLEN];
    ip[0] = '\0';
    if (a->sa.ss_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)&a->sa;
        inet_ntop(AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf(a->text, sizeof a->text, "%s:%u", ip, (unsigned)ntohs(in->sin_port));
    } else if (a->sa.ss_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)&a->sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, ip, sizeof ip);
        snprintf(a->text, sizeof a->text, "[%s]:%u", ip, (unsigned)ntohs(in6->sin6_port));
    } else {
        snprintf(a->text, sizeof a->text, "?");
    }
}

bool
net_addr_resolve(const char *s, struct net_addr *out, char *err, size_t errcap)
{
    const char *why;
    if (!net_addr_parse(s, out, &why)) {
        snprintf(err, errcap, "invalid address '%s' (%s)", s, why);
        return false;
    }
    if (out->is_unix) {
        struct sockaddr_un *un = (struct sockaddr_un *)&out->a[0].sa;
        un->sun_family = AF_UNIX;
        snprintf(un->sun_path, sizeof un->sun_path, "%s", s);
        out->a[0].len = (socklen_t)sizeof *un;
        snprintf(out->a[0].text, sizeof out->a[0].text, "%s", s);
        out->n = 1;
        return true;
    }
    char port[8];
    snprintf(port, sizeof port, "%u", out->port);
    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(out->host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errcap, "cannot resolve host '%s': %s", out->host,
                 rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
        if (res) {
            freeaddrinfo(res);
        }
        return false;
    }
    for (const struct addrinfo *ai = res; ai && out->n < NET_ADDR_MAX; ai = ai->ai_next) {
        if ((ai->ai_family != AF_INET && ai->ai_family != AF_INET6) ||
            ai->ai_addrlen > sizeof out->a[0].sa) {
            continue;
        }
        bool dup = false;
        for (int i = 0; i < out->n && !dup; i++) {
            dup = out->a[i].len == ai->ai_addrlen &&
                  memcmp(&out->a[i].sa, ai->ai_addr, ai->ai_addrlen) == 0;
        }
        if (dup) {
            continue; /* /etc/hosts may list a name twice */
        }
        struct net_sockaddr *a = &out->a[out->n++];
        memcpy(&a->sa, ai->ai_addr, ai->ai_addrlen);
        a->len = ai->ai_addrlen;
        net_sockaddr_format(a);
    }
    freeaddrinfo(res);
    if (out->n == 0) {
        snprintf(err, errcap, "cannot resolve host '%s': no IPv4 or IPv6 address", out->host);
        return false;
    }
    return true;
}

bool
net_addr_is_unix(const struct net_addr *a)
{
    return a->is_unix;
}

bool
net_addr_all_loopback(const struct net_addr *a)
{
    if (a->n == 0 || a->is_unix) {
        return false;
    }
    for (int i = 0; i < a->n; i++) {
        const struct sockaddr_storage *ss = &a->a[i].sa;
        if (ss->ss_family == AF_INET) {
            const struct sockaddr_in *in = (const struct sockaddr_in *)ss;
            if ((ntohl(in->sin_addr.s_addr) >> 24) != 127) {
                return false;
            }
        } else if (ss->ss_family == AF_INET6) {
            const struct in6_addr *ip = &((const struct sockaddr_in6 *)ss)->sin6_addr;
            bool v4lo = IN6_IS_ADDR_V4MAPPED(ip) && ip->s6_addr[12] == 127;
            if (!IN6_IS_ADDR_LOOPBACK(ip) && !v4lo) {
                return false;
            }
        } else {
            return false;
        }
    }
    return true;
}

void
net_addr_list_text(const struct net_addr *a, char *out, size_t cap)
{
    size_t used = 0;
    if (cap == 0) {
        return;
    }
    out[0] = '\0';
    for (int i = 0; i < a->n && used < cap; i++) {
        int k = snprintf(out + used, cap - used, "%s%s", i ? ", " : "", a->a[i].text);
        if (k < 0) {
            break;
        }
        used += (size_t)k;
    }
}

int
net_connect_start(const struct net_sockaddr *a, int *err)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        *err = errno;
        return -1;
    }
    if (connect(fd, (const struct sockaddr *)&a->sa, a->len) == 0 || errno == EINPROGRESS) {
        return fd;
    }
    *err = errno;
    close(fd);
    return -1;
}

/* A unix socket file at `path`: true when something accepts connections on it. */
static bool
net_unix_alive(const struct net_sockaddr *a)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return false;
    }
    int rc = connect(fd, (const struct sockaddr *)&a->sa, a->len);
    bool alive = rc == 0 || errno == EAGAIN || errno == EINPROGRESS;
    close(fd);
    return alive;
}

int
net_listen(const struct net_sockaddr *a, enum net_listen_mode mode, bool v6only, char *err,
           size_t errcap, bool *in_use)
{
    int one = 1;
    if (in_use) {
        *in_use = false;
    }
    if (a->sa.ss_family == AF_UNIX) {
        const char *path = ((const struct sockaddr_un *)&a->sa)->sun_path;
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            if (net_unix_alive(a)) {
                snprintf(err, errcap, "%s is already in use (another process listens on it)", path);
                if (in_use) {
                    *in_use = true;
                }
                return -1;
            }
            unlink(path); /* stale: left by a process that did not clean up */
        }
    }
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        int e = errno;
        snprintf(err, errcap, "%s: socket: %s", a->text, strerror(e));
        errno = e;
        return -1;
    }
    if (a->sa.ss_family != AF_UNIX) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (v6only && a->sa.ss_family == AF_INET6) {
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one);
        }
        if (mode == NET_LISTEN_JOIN &&
            setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
            snprintf(err, errcap, "%s: SO_REUSEPORT: %s", a->text, strerror(errno));
            close(fd);
            return -1;
        }
    }
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) != 0) {
        int e = errno;
        if (e == EADDRINUSE && mode != NET_LISTEN_JOIN) {
            snprintf(err, errcap, "%s is already in use (bind: %s)", a->text, strerror(e));
            if (in_use) {
                *in_use = true;
            }
        } else {
            snprintf(err, errcap, "%s: bind: %s", a->text, strerror(e));
        }
        close(fd);
        errno = e;
        return -1;
    }
    if (mode == NET_LISTEN_FIRST &&
        setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
        snprintf(err, errcap, "%s: SO_REUSEPORT: %s", a->text, strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, 1024) != 0) {
        int e = errno;
        snprintf(err, errcap, "%s: listen: %s", a->text, strerror(e));
        if (e == EADDRINUSE && in_use) {
            *in_use = true;
        }
        close(fd);
        return -1;
    }
    return fd;
}

void
net_peer_text(const struct sockaddr *sa, socklen_t len, char *out, size_t cap)
{
    (void)len;
    out[0] = '\0';
    if (sa->sa_family == AF_INET) {
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, out, (socklen_t)cap);
    } else if (sa->sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, out, (socklen_t)cap);
    }
}
