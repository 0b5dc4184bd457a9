/*
 * evmem.c - libevent's allocations with a per-thread cache of freed 4-64 KiB blocks
 * (evmem.h): each block carries a 16-byte header with its class and capacity, so that free and
 * realloc know where it goes.
 */
#include "proxy/relay/evmem.h"

#include <event2/event.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__SANITIZE_ADDRESS__)
#define EVMEM_OFF 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define EVMEM_OFF 1
#endif
#endif

#ifndef EVMEM_OFF

#define EVMEM_MIN_SHIFT 12 /* 4 KiB: below, glibc's own per-thread cache is as quick */
#define EVMEM_MAX_SHIFT 16 /* 64 KiB: above, malloc maps (and returns) the memory anyway */
#define EVMEM_NCLASS    (EVMEM_MAX_SHIFT - EVMEM_MIN_SHIFT + 1)
#define EVMEM_KEEP      4

/* Before every block; 16 bytes keep the caller's memory aligned as malloc's. */
struct evmem_hdr {
    size_t cap; /* bytes usable after the header */
    size_t cls; /* 0: not cached (freed to malloc); else its shift */
};

struct evmem_free {
    struct evmem_free *next;
};

struct evmem_cache {
    struct evmem_free *head[EVMEM_NCLASS];
    unsigned n[EVMEM_NCLASS];
    bool registered; /* the thread-exit destructor will release it */
};

static _Thread_local struct evmem_cache evmem_cache;
static pthread_key_t evmem_key;

/* The class shift for n bytes, 0 when n is not cached. */
static size_t
evmem_class(size_t n)
{
    if (n <= ((size_t)1 << (EVMEM_MIN_SHIFT - 1)) || n > ((size_t)1 << EVMEM_MAX_SHIFT)) {
        return 0;
    }
    size_t shift = EVMEM_MIN_SHIFT;
    while (((size_t)1 << shift) < n) {
        shift++;
    }
    return shift;
}

static void *
evmem_malloc(size_t n)
{
    size_t cls = evmem_class(n);
    if (cls) {
        struct evmem_cache *c = &evmem_cache;
        size_t i = cls - EVMEM_MIN_SHIFT;
        struct evmem_free *f = c->head[i];
        if (f) {
            c->head[i] = f->next;
            c->n[i]--;
            return f;
        }
        n = (size_t)1 << cls;
    }
    if (n > SIZE_MAX - sizeof(struct evmem_hdr)) {
        return NULL;
    }
    struct evmem_hdr *h = malloc(sizeof *h + n);
    if (!h) {
        return NULL;
    }
    h->cap = n;
    h->cls = cls;
    return h + 1;
}

static void
evmem_free(void *p)
{
    if (!p) {
        return;
    }
    struct evmem_hdr *h = (struct evmem_hdr *)p - 1;
    if (h->cls) {
        struct evmem_cache *c = &evmem_cache;
        size_t i = h->cls - EVMEM_MIN_SHIFT;
        if (c->n[i] < EVMEM_KEEP) {
            if (!c->registered) {
                c->registered = true;
                pthread_setspecific(evmem_key, c);
            }
            struct evmem_free *f = p;
            f->next = c->head[i];
            c->head[i] = f;
            c->n[i]++;
            return;
        }
    }
    free(h);
}

static void *
evmem_realloc(void *p, size_t n)
{
    if (!p) {
        return evmem_malloc(n);
    }
    if (n == 0) {
        evmem_free(p);
        return NULL;
    }
    struct evmem_hdr *h = (struct evmem_hdr *)p - 1;
    if (n <= h->cap && (h->cls || n > h->cap / 2)) {
        return p; /* fits, and an uncached block does not shrink by much */
    }
    void *q = evmem_malloc(n);
    if (!q) {
        return NULL; /* p stays valid, as with realloc */
    }
    memcpy(q, p, n < h->cap ? n : h->cap);
    evmem_free(p);
    return q;
}

static void
evmem_release(struct evmem_cache *c)
{
    for (size_t i = 0; i < EVMEM_NCLASS; i++) {
        while (c->head[i]) {
            struct evmem_free *f = c->head[i];
            c->head[i] = f->next;
            free((struct evmem_hdr *)(void *)f - 1);
        }
        c->n[i] = 0;
    }
}

static void
evmem_thread_exit(void *arg)
{
    struct evmem_cache *c = arg;
    evmem_release(c);
    c->registered = false; /* a later free (another key's destructor) registers anew */
}

void
evmem_thread_end(void)
{
    evmem_release(&evmem_cache);
}

void
evmem_install(void)
{
    if (pthread_key_create(&evmem_key, evmem_thread_exit) != 0) {
        return; /* no way to release the caches at thread exit: libevent keeps using malloc */
    }
    event_set_mem_functions(evmem_malloc, evmem_realloc, evmem_free);
}

#else /* AddressSanitizer: libevent allocates with malloc, every freed block checked */

void
evmem_thread_end(void)
{
}

void
evmem_install(void)
{
}

#endif
