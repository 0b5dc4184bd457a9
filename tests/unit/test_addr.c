/*
 * test_addr.c - the address module (proxy/listener.h): the parser's table of good and bad
 * addresses, resolution of numeric addresses and unix paths (no DNS), the loopback check, and
 * the listening-socket rules on loopback (a taken address is refused, workers can join).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "net/net_addr.h"
#include "check.h"

struct parse_case {
    const char *in;
    bool ok;
    const char *host; /* when ok */
    unsigned port;
    bool is_unix;
    const char *why; /* when not ok */
};

static const struct parse_case parse_cases[] = {
    {"127.0.0.1:3306", true, "127.0.0.1", 3306, false, NULL},
    {"localhost:6033", true, "localhost", 6033, false, NULL},
    {"db.example.com:1", true, "db.example.com", 1, false, NULL},
    {"[::1]:3306", true, "::1", 3306, false, NULL},
    {"[2001:db8::7]:65535", true, "2001:db8::7", 65535, false, NULL},
    {"6033", true, "127.0.0.1", 6033, false, NULL},
    {"/run/mysqld/mysqld.sock", true, "", 0, true, NULL},
    {"localhost", false, NULL, 0, false,
     "expected HOST:PORT, [IPv6]:PORT, PORT or /unix/socket/path"},
    {"", false, NULL, 0, false, "expected HOST:PORT, [IPv6]:PORT, PORT or /unix/socket/path"},
    {":3306", false, NULL, 0, false, "expected HOST:PORT, [IPv6]:PORT, PORT or /unix/socket/path"},
    {"rel/sock", false, NULL, 0, false,
     "expected HOST:PORT, [IPv6]:PORT, PORT or /unix/socket/path"},
    {"0", false, NULL, 0, false, "port must be 1..65535"},
    {"65536", false, NULL, 0, false, "port must be 1..65535"},
    {"127.0.0.1:0", false, NULL, 0, false, "port must be 1..65535"},
    {"127.0.0.1:65536", false, NULL, 0, false, "port must be 1..65535"},
    {"host:", false, NULL, 0, false, "port must be 1..65535"},
    {"host:33x", false, NULL, 0, false, "port must be 1..65535"},
    {"host:-1", false, NULL, 0, false, "port must be 1..65535"},
    {"::1:3306", false, NULL, 0, false, "an IPv6 address needs brackets: [ADDR]:PORT"},
    {"[::zz]:80", false, NULL, 0, false, "invalid IPv6 address"},
    {"[]:80", false, NULL, 0, false, "invalid IPv6 address"},
    {"[::1]", false, NULL, 0, false, "expected HOST:PORT, [IPv6]:PORT, PORT or /unix/socket/path"},
    {"[::1]3306", false, NULL, 0, false,
     "expected HOST:PORT, [IPv6]:PORT, PORT or /unix/socket/path"},
    {"a b:80", false, NULL, 0, false, "invalid host name"},
    {"a/b:80", false, NULL, 0, false, "invalid host name"},
};

static void
test_parse(void)
{
    for (size_t i = 0; i < sizeof parse_cases / sizeof parse_cases[0]; i++) {
        const struct parse_case *c = &parse_cases[i];
        struct net_addr a;
        const char *why = NULL;
        bool ok = net_addr_parse(c->in, &a, &why);
        if (ok != c->ok) {
            fprintf(stderr, "case '%s': ok=%d, want %d (%s)\n", c->in, ok, c->ok, why);
        }
        CHECK(ok == c->ok);
        if (ok && c->ok) {
            CHECK_STR(a.host, c->host);
            CHECK_EQ_U(a.port, c->port);
            CHECK(a.is_unix == c->is_unix);
            CHECK_STR(a.text, c->in);
            CHECK_EQ_U(a.n, 0);
        } else if (!ok && !c->ok) {
            CHECK_STR(why, c->why);
        }
    }
    /* a unix path of 107 bytes fits sun_path, 108 does not */
    char path[120];
    memset(path, 'p', sizeof path);
    path[0] = '/';
    path[107] = '\0';
    struct net_addr a;
    const char *why;
    CHECK(net_addr_parse(path, &a, &why));
    path[107] = 'p';
    path[108] = '\0';
    CHECK(!net_addr_parse(path, &a, &why));
    CHECK_STR(why, "unix socket path too long");
}

static void
test_resolve(void)
{
    struct net_addr a;
    char err[300];

    CHECK(net_addr_resolve("127.0.0.1:3306", &a, err, sizeof err));
    CHECK_EQ_U(a.n, 1);
    CHECK_STR(a.a[0].text, "127.0.0.1:3306");
    CHECK_EQ_U(a.a[0].sa.ss_family, AF_INET);
    CHECK_EQ_U(ntohs(((struct sockaddr_in *)&a.a[0].sa)->sin_port), 3306);
    CHECK(net_addr_all_loopback(&a));
    CHECK(!net_addr_is_unix(&a));

    CHECK(net_addr_resolve("[::1]:7", &a, err, sizeof err));
    CHECK_EQ_U(a.n, 1);
    CHECK_STR(a.a[0].text, "[::1]:7");
    CHECK_EQ_U(a.a[0].sa.ss_family, AF_INET6);
    CHECK(net_addr_all_loopback(&a));

    CHECK(net_addr_resolve("6033", &a, err, sizeof err));
    CHECK_EQ_U(a.n, 1);
    CHECK_STR(a.a[0].text, "127.0.0.1:6033");

    CHECK(net_addr_resolve("10.1.2.3:80", &a, err, sizeof err));
    CHECK(!net_addr_all_loopback(&a));
    CHECK(net_addr_resolve("[::ffff:127.0.0.2]:80", &a, err, sizeof err));
    CHECK(net_addr_all_loopback(&a));
    CHECK(net_addr_resolve("[::]:80", &a, err, sizeof err));
    CHECK(!net_addr_all_loopback(&a));

    CHECK(net_addr_resolve("/tmp/x.sock", &a, err, sizeof err));
    CHECK(net_addr_is_unix(&a));
    CHECK_EQ_U(a.n, 1);
    CHECK_EQ_U(a.a[0].sa.ss_family, AF_UNIX);
    CHECK_STR(((struct sockaddr_un *)&a.a[0].sa)->sun_path, "/tmp/x.sock");
    CHECK(!net_addr_all_loopback(&a));

    CHECK(!net_addr_resolve("127.0.0.1:0", &a, err, sizeof err));
    CHECK_STR(err, "invalid address '127.0.0.1:0' (port must be 1..65535)");
    /* .invalid never resolves (RFC 6761); the message names the host */
    CHECK(!net_addr_resolve("no-such-host.invalid:3306", &a, err, sizeof err));
    CHECK(strncmp(err, "cannot resolve host 'no-such-host.invalid': ", 44) == 0);

    /* the list text, as the start-up line and the ERR packet show it */
    struct net_addr two;
    CHECK(net_addr_resolve("127.0.0.1:5", &two, err, sizeof err));
    two.a[1] = two.a[0];
    CHECK(net_addr_resolve("[::1]:5", &a, err, sizeof err));
    two.a[1] = a.a[0];
    two.n = 2;
    char list[100];
    net_addr_list_text(&two, list, sizeof list);
    CHECK_STR(list, "127.0.0.1:5, [::1]:5");
    net_addr_list_text(&two, list, 8);
    CHECK_STR(list, "127.0.0");
}

/* The port a socket is bound to. */
static unsigned
bound_port(int fd)
{
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    getsockname(fd, (struct sockaddr *)&sin, &len);
    return ntohs(sin.sin_port);
}

static void
test_listen(void)
{
    struct net_addr a;
    char err[300], spec[64];
    bool in_use;

    /* the first socket of a group: an ephemeral port, then its real port */
    CHECK(net_addr_resolve("127.0.0.1:1", &a, err, sizeof err));
    ((struct sockaddr_in *)&a.a[0].sa)->sin_port = 0;
    int probe = net_listen(&a.a[0], NET_LISTEN_PLAIN, false, err, sizeof err, &in_use);
    CHECK(probe >= 0);
    unsigned port = bound_port(probe);
    close(probe);
    snprintf(spec, sizeof spec, "127.0.0.1:%u", port);
    CHECK(net_addr_resolve(spec, &a, err, sizeof err));

    int first = net_listen(&a.a[0], NET_LISTEN_FIRST, false, err, sizeof err, &in_use);
    CHECK(first >= 0);
    CHECK(!in_use);
    /* the other workers join it */
    int join1 = net_listen(&a.a[0], NET_LISTEN_JOIN, false, err, sizeof err, &in_use);
    int join2 = net_listen(&a.a[0], NET_LISTEN_JOIN, false, err, sizeof err, &in_use);
    CHECK(join1 >= 0);
    CHECK(join2 >= 0);
    /* a second instance's first socket is refused, with a message naming the address */
    int second = net_listen(&a.a[0], NET_LISTEN_FIRST, false, err, sizeof err, &in_use);
    CHECK(second < 0);
    CHECK(in_use);
    char want[120];
    snprintf(want, sizeof want, "127.0.0.1:%u is already in use (bind: %s)", port,
             strerror(EADDRINUSE));
    CHECK_STR(err, want);
    /* so is a plain socket (the HTTP endpoint on a port slowtap listens on) */
    CHECK(net_listen(&a.a[0], NET_LISTEN_PLAIN, false, err, sizeof err, &in_use) < 0);
    CHECK(in_use);
    /* a connect reaches the group */
    int err_no = 0;
    int cfd = net_connect_start(&a.a[0], &err_no);
    CHECK(cfd >= 0);
    if (cfd >= 0) {
        close(cfd);
    }
    close(join2);
    close(join1);
    close(first);
    /* closed: the address is free again */
    first = net_listen(&a.a[0], NET_LISTEN_FIRST, false, err, sizeof err, &in_use);
    CHECK(first >= 0);
    if (first >= 0) {
        close(first);
    }

    /* unix sockets: a live one is in use, a stale one is replaced */
    char path[64];
    snprintf(path, sizeof path, "/tmp/slowtap-test-addr-%d.sock", (int)getpid());
    unlink(path);
    CHECK(net_addr_resolve(path, &a, err, sizeof err));
    int u1 = net_listen(&a.a[0], NET_LISTEN_PLAIN, false, err, sizeof err, &in_use);
    CHECK(u1 >= 0);
    int u2 = net_listen(&a.a[0], NET_LISTEN_PLAIN, false, err, sizeof err, &in_use);
    CHECK(u2 < 0);
    CHECK(in_use);
    snprintf(want, sizeof want, "%s is already in use (another process listens on it)", path);
    CHECK_STR(err, want);
    close(u1); /* the file stays behind, nobody accepts: stale */
    struct stat st;
    CHECK(stat(path, &st) == 0);
    err_no = 0;
    CHECK(net_connect_start(&a.a[0], &err_no) < 0);
    CHECK_EQ_U(err_no, ECONNREFUSED);
    u2 = net_listen(&a.a[0], NET_LISTEN_PLAIN, false, err, sizeof err, &in_use);
    CHECK(u2 >= 0);
    CHECK(!in_use);
    if (u2 >= 0) {
        close(u2);
    }
    unlink(path);
    /* a missing socket: connect fails at once with ENOENT */
    err_no = 0;
    CHECK(net_connect_start(&a.a[0], &err_no) < 0);
    CHECK_EQ_U(err_no, ENOENT);
}

int
main(void)
{
    test_parse();
    test_resolve();
    test_listen();
    return check_exit();
}
