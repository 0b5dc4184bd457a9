/*
 * ddl.c - the ring of DDL and reset markers (ddl.h).
 */
#include "proxy/account/ddl.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct ddl_log {
    pthread_mutex_t mu;
    size_t head, n; /* the oldest is (head + DDL_LOG_MAX - n) % DDL_LOG_MAX */
    struct ddl_marker m[DDL_LOG_MAX];
};

struct ddl_log *
ddl_log_new(void)
{
    struct ddl_log *l = calloc(1, sizeof *l);
    if (l) {
        pthread_mutex_init(&l->mu, NULL);
    }
    return l;
}

void
ddl_log_free(struct ddl_log *l)
{
    if (l) {
        pthread_mutex_destroy(&l->mu);
        free(l);
    }
}

void
ddl_log_put(struct ddl_log *l, const struct ddl_marker *m)
{
    if (!l) {
        return;
    }
    pthread_mutex_lock(&l->mu);
    l->m[l->head] = *m;
    l->m[l->head].text[DDL_TEXT_MAX - 1] = '\0';
    l->head = (l->head + 1) % DDL_LOG_MAX;
    if (l->n < DDL_LOG_MAX) {
        l->n++;
    }
    pthread_mutex_unlock(&l->mu);
}

void
ddl_log_add(struct ddl_log *l, int64_t wall_us, const struct proto_ddl *d, const char *text,
            size_t len)
{
    struct ddl_marker m = {
        .wall_us = wall_us,
        .kind = d->kind,
        .add_index = d->add_index,
        .n = d->n,
    };
    memcpy(m.t, d->t, sizeof m.t);
    if (len >= DDL_TEXT_MAX) {
        len = DDL_TEXT_MAX - 1;
        while (len > 0 && ((unsigned char)text[len] & 0xC0) == 0x80) {
            len--; /* not inside a UTF-8 sequence */
        }
    }
    memcpy(m.text, text, len);
    m.text[len] = '\0';
    ddl_log_put(l, &m);
}

void
ddl_log_add_reset(struct ddl_log *l, int64_t wall_us)
{
    struct ddl_marker m = {.wall_us = wall_us, .kind = PROTO_DDL_NONE, .text = "reset"};
    ddl_log_put(l, &m);
}

size_t
ddl_log_get(struct ddl_log *l, struct ddl_marker *out, size_t cap)
{
    if (!l) {
        return 0;
    }
    pthread_mutex_lock(&l->mu);
    size_t n = l->n < cap ? l->n : cap;
    size_t first = (l->head + DDL_LOG_MAX - n) % DDL_LOG_MAX;
    for (size_t i = 0; i < n; i++) {
        out[i] = l->m[(first + i) % DDL_LOG_MAX];
    }
    pthread_mutex_unlock(&l->mu);
    return n;
}
