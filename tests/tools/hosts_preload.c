/* hosts_preload.c - an LD_PRELOAD resolver override for tests: getaddrinfo() answers the names
 * listed in the hosts-format file named by $SLOWTAP_TEST_HOSTS with that file's addresses, in
 * the file's order, and passes every other name to the real getaddrinfo(). It lets a test make
 * `localhost` resolve to ::1 first (or give a name several addresses) for one process without
 * touching /etc/hosts and without a mount namespace, so it works in a chroot or a container
 * and without root. Built by tests/tools/hostsfile.py (cc -shared); not part of slowtap.
 *
 * Each address is resolved by the real getaddrinfo() with AI_NUMERICHOST and the caller's
 * hints (family, socket type, protocol, service), and the lists are chained, so the result is
 * freed by the C library's own freeaddrinfo(). A name in the file none of whose addresses fits
 * the hints gets that last error (EAI_NONAME when there was none). */

#define _GNU_SOURCE
#include <dlfcn.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

typedef int (*hosts_gai_fn)(const char *, const char *, const struct addrinfo *,
                            struct addrinfo **);

static hosts_gai_fn
hosts_real_gai(void)
{
    static hosts_gai_fn real;
    if (!real) {
        real = (hosts_gai_fn)dlsym(RTLD_NEXT, "getaddrinfo");
    }
    return real;
}

/* Whether the whitespace-separated host names in `names` include `node`. */
static int
hosts_line_names(char *names, const char *node)
{
    char *save = NULL;
    for (char *n = strtok_r(names, " \t\r\n", &save); n; n = strtok_r(NULL, " \t\r\n", &save)) {
        if (strcasecmp(n, node) == 0) {
            return 1;
        }
    }
    return 0;
}

int
getaddrinfo(const char *node, const char *service, const struct addrinfo *hints,
            struct addrinfo **res)
{
    hosts_gai_fn real = hosts_real_gai();
    const char *path = getenv("SLOWTAP_TEST_HOSTS");
    FILE *f = NULL;
    if (!real) {
        return EAI_SYSTEM;
    }
    if (!node || !path || !(f = fopen(path, "re"))) {
        return real(node, service, hints, res);
    }
    struct addrinfo h = {.ai_flags = 0};
    if (hints) {
        h = *hints;
    }
    h.ai_flags |= AI_NUMERICHOST;
    h.ai_flags &= ~AI_CANONNAME;
    struct addrinfo *head = NULL, *tail = NULL;
    int listed = 0, err = EAI_NONAME;
    char line[512];
    while (fgets(line, sizeof line, f)) {
        char *hash = strchr(line, '#');
        if (hash) {
            *hash = '\0';
        }
        char *save = NULL;
        char *addr = strtok_r(line, " \t\r\n", &save);
        char *rest = addr ? strtok_r(NULL, "", &save) : NULL;
        if (!addr || !rest || !hosts_line_names(rest, node)) {
            continue;
        }
        listed = 1;
        struct addrinfo *one = NULL;
        int rc = real(addr, service, &h, &one);
        if (rc != 0 || !one) {
            err = rc != 0 ? rc : EAI_NONAME;
            continue;
        }
        if (tail) {
            tail->ai_next = one;
        } else {
            head = one;
        }
        for (tail = one; tail->ai_next; tail = tail->ai_next) {
        }
    }
    fclose(f);
    if (!listed) {
        return real(node, service, hints, res);
    }
    if (!head) {
        return err;
    }
    *res = head;
    return 0;
}
