/*
 * listener.c - address parsing and resolution, listening sockets.
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

#include "listener.h"

bool
net_addr_resolve(const char *s, struct net_addr *out, char *err, size_t errcap)
{
    memset(out, 0, sizeof *out);
    snprintf(out->text, sizeof out->text, "%s", s);

    if (s[0] == '/') {
        struct sockaddr_un *un = (struct sockaddr_un *)&out->sa;
        if (strlen(s) >= sizeof un->sun_path) {
            snprintf(err, errcap, "unix socket path too long");
            return false;
        }
        un->sun_family = AF_UNIX;
        strcpy(un->sun_path, s);
        out->len = sizeof *un;
        return true;
    }

    char host[256];
    const char *port;
    if (s[0] == '[') {
        const char *close = strchr(s, ']');
        if (!close || close[1] != ':' || (size_t)(close - s - 1) >= sizeof host) {
            snprintf(err, errcap, "expected [IPv6]:PORT");
            return false;
        }
        memcpy(host, s + 1, (size_t)(close - s - 1));
        host[close - s - 1] = '\0';
        port = close + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (!colon || (size_t)(colon - s) >= sizeof host || colon == s) {
            snprintf(err, errcap, "expected HOST:PORT, [IPv6]:PORT or an absolute socket path");
            return false;
        }
        memcpy(host, s, (size_t)(colon - s));
        host[colon - s] = '\0';
        port = colon + 1;
    }
    char *end;
    long p = strtol(port, &end, 10);
    if (!*port || *end || p < 1 || p > 65535) {
        snprintf(err, errcap, "invalid port '%s'", port);
        return false;
    }

    struct addrinfo hints = {0}, *res = NULL;
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    int rc = getaddrinfo(host, port, &hints, &res);
    if (rc != 0 || !res) {
        snprintf(err, errcap, "cannot resolve host '%s': %s", host, gai_strerror(rc));
        return false;
    }
    memcpy(&out->sa, res->ai_addr, res->ai_addrlen);
    out->len = res->ai_addrlen;
    freeaddrinfo(res);
    return true;
}

bool
net_addr_is_unix(const struct net_addr *a)
{
    return a->sa.ss_family == AF_UNIX;
}

int
net_listen(const struct net_addr *a, bool reuseport, char *err, size_t errcap)
{
    int fd = socket(a->sa.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errcap, "socket: %s", strerror(errno));
        return -1;
    }
    int one = 1;
    if (net_addr_is_unix(a)) {
        const char *path = ((const struct sockaddr_un *)&a->sa)->sun_path;
        struct stat st;
        if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode)) {
            unlink(path);
        }
    } else {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        if (reuseport && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
            snprintf(err, errcap, "SO_REUSEPORT: %s", strerror(errno));
            close(fd);
            return -1;
        }
    }
    if (bind(fd, (const struct sockaddr *)&a->sa, a->len) != 0) {
        snprintf(err, errcap, "bind: %s", strerror(errno));
        close(fd);
        return -1;
    }
    if (listen(fd, 1024) != 0) {
        snprintf(err, errcap, "listen: %s", strerror(errno));
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
