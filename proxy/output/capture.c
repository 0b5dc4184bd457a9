/*
 * capture.c - the capture writer (capture.h): per-thread record buffers, a bounded queue of
 * whole buffers under one mutex, and a writer thread per running capture that compresses each
 * buffer into one block (proto_cap_block_seal) and writes it with one write(2).
 *
 *   worker thread                          writer thread (while a capture runs)
 *   capbuf_command/...: encode into cur    timed wait (100 ms) on cond
 *   capbuf_flush (tick, full): lock,       take the queue, unlock, seal + write each chunk,
 *     queue cur (or drop it), unlock       check the size and time bounds
 *
 * A chunk carries the generation of the capture it was made for; the writer drops the chunks
 * of an older one. Only the writer touches the file; capture_stop joins it.
 */
#include "proxy/output/capture.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <zstd.h>

#define CAPBUF_CAP      (256u << 10) /* a worker's buffer: a block's raw size, usually */
#define CAPTURE_WAIT_NS (100 * 1000 * 1000L)
#define CAPTURE_ZLEVEL  -5

struct capchunk {
    struct capchunk *next;
    uint32_t gen;
    uint64_t records;
    size_t len;
    uint8_t *data;
};

struct capture {
    struct capture_head head; /* first: capture_gen() reads it */
    /* every worker reads head.gen per command: keep the writer's lock off its cache line */
    char pad[64 - sizeof(struct capture_head)];
    pthread_mutex_t mu;
    pthread_cond_t cond;
    /* under mu */
    struct capchunk *q_head, *q_tail;
    size_t pending;
    bool stop;         /* the writer is asked to finish */
    bool thread_live;  /* a writer thread exists (joined by the next start/stop) */
    uint32_t next_gen; /* the last generation handed out */
    struct capture_status st;
    pthread_t thread;
    /* the writer's (set before it starts) */
    int fd;
    uint32_t gen;
    int64_t deadline_us; /* monotonic; 0 = none */
    /* process totals, __atomic */
    uint64_t records_total, bytes_total, dropped_total;
};

struct capbuf {
    struct capture *c;
    uint32_t gen;
    uint64_t records;
    size_t len, cap;
    uint8_t *data;
};

static int64_t
mono_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t
wall_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct capture *
capture_new(void)
{
    struct capture *c = calloc(1, sizeof *c);
    if (!c) {
        return NULL;
    }
    atomic_init(&c->head.gen, 0);
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cond, NULL);
    c->fd = -1;
    return c;
}

static void
chunk_free(struct capchunk *k)
{
    free(k->data);
    free(k);
}

static void
add_dropped(struct capture *c, uint64_t n)
{
    __atomic_add_fetch(&c->dropped_total, n, __ATOMIC_RELAXED);
}

/* Under mu: the capture ends; one line says why. The writer closes the file. */
static void
stop_locked(struct capture *c, const char *why)
{
    if (!c->st.running) {
        return;
    }
    atomic_store_explicit(&c->head.gen, 0, memory_order_relaxed);
    c->st.running = false;
    snprintf(c->st.stopped_why, sizeof c->st.stopped_why, "%s", why);
    char line[CAPTURE_PATH_MAX + 200];
    int n = snprintf(line, sizeof line,
                     "slowtap: capture %s stopped: %s (%llu records, %llu bytes, %llu dropped)\n",
                     c->st.path, why, (unsigned long long)c->st.records,
                     (unsigned long long)c->st.bytes, (unsigned long long)c->st.dropped);
    if (n > 0) {
        ssize_t w = write(2, line, (size_t)n < sizeof line ? (size_t)n : sizeof line - 1);
        (void)w;
    }
}

/* Writes one chunk as a block: false when the capture must stop (bound, error). */
static bool
write_chunk(struct capture *c, struct capchunk *k, ZSTD_CCtx *zc, uint8_t **blk, size_t *blk_cap)
{
    size_t need = proto_cap_block_bound(k->len);
    if (need > *blk_cap) {
        uint8_t *nb = realloc(*blk, need);
        if (!nb) {
            add_dropped(c, k->records);
            pthread_mutex_lock(&c->mu);
            c->st.dropped += k->records;
            pthread_mutex_unlock(&c->mu);
            return true;
        }
        *blk = nb;
        *blk_cap = need;
    }
    size_t n = proto_cap_block_seal_ctx(zc, k->data, k->len, *blk, *blk_cap, CAPTURE_ZLEVEL);
    pthread_mutex_lock(&c->mu);
    uint64_t size = c->st.bytes, max = c->st.max_bytes;
    pthread_mutex_unlock(&c->mu);
    if (n == 0) {
        add_dropped(c, k->records);
        pthread_mutex_lock(&c->mu);
        c->st.dropped += k->records;
        pthread_mutex_unlock(&c->mu);
        return true;
    }
    if (max && size + n > max) {
        add_dropped(c, k->records);
        pthread_mutex_lock(&c->mu);
        c->st.dropped += k->records;
        stop_locked(c, "the size bound (--capture-max-bytes) is reached");
        pthread_mutex_unlock(&c->mu);
        return false;
    }
    ssize_t w = write(c->fd, *blk, n);
    if (w != (ssize_t)n) {
        char why[64];
        snprintf(why, sizeof why, "write error: %s", w < 0 ? strerror(errno) : "short write");
        if (w > 0 && ftruncate(c->fd, (off_t)size) != 0) {
            snprintf(why, sizeof why, "write error; the last block could not be cut");
        }
        add_dropped(c, k->records);
        pthread_mutex_lock(&c->mu);
        c->st.dropped += k->records;
        stop_locked(c, why);
        pthread_mutex_unlock(&c->mu);
        return false;
    }
    __atomic_add_fetch(&c->records_total, k->records, __ATOMIC_RELAXED);
    __atomic_add_fetch(&c->bytes_total, n, __ATOMIC_RELAXED);
    pthread_mutex_lock(&c->mu);
    c->st.records += k->records;
    c->st.bytes += n;
    pthread_mutex_unlock(&c->mu);
    return true;
}

static void *
writer_main(void *arg)
{
    struct capture *c = arg;
    uint8_t *blk = NULL;
    size_t blk_cap = 0;
    bool live = true;
    ZSTD_CCtx *zc = ZSTD_createCCtx(); /* NULL: proto_cap_block_seal_ctx makes one per block */
    pthread_mutex_lock(&c->mu);
    for (;;) {
        while (!c->q_head && !c->stop && live) {
            if (c->deadline_us && mono_us() >= c->deadline_us) {
                stop_locked(c, "the time bound (--capture-seconds) is reached");
                live = false;
                break;
            }
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            ts.tv_nsec += CAPTURE_WAIT_NS;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&c->cond, &c->mu, &ts);
        }
        struct capchunk *k = c->q_head;
        c->q_head = c->q_tail = NULL;
        bool stop = c->stop || !live || !c->st.running;
        pthread_mutex_unlock(&c->mu);
        while (k) {
            struct capchunk *next = k->next;
            if (live && k->gen == c->gen) {
                live = write_chunk(c, k, zc, &blk, &blk_cap);
            }
            pthread_mutex_lock(&c->mu);
            c->pending -= k->len;
            pthread_mutex_unlock(&c->mu);
            chunk_free(k);
            k = next;
        }
        if (live && c->deadline_us && mono_us() >= c->deadline_us) {
            pthread_mutex_lock(&c->mu);
            stop_locked(c, "the time bound (--capture-seconds) is reached");
            pthread_mutex_unlock(&c->mu);
            live = false;
        }
        pthread_mutex_lock(&c->mu);
        if (stop || !live) {
            break;
        }
    }
    pthread_mutex_unlock(&c->mu);
    free(blk);
    ZSTD_freeCCtx(zc);
    if (c->fd >= 0) {
        fsync(c->fd);
        close(c->fd);
        c->fd = -1;
    }
    return NULL;
}

/* Joins a writer that has finished or was asked to (not under mu). */
static void
join_writer(struct capture *c)
{
    pthread_mutex_lock(&c->mu);
    bool live = c->thread_live;
    c->thread_live = false;
    pthread_mutex_unlock(&c->mu);
    if (live) {
        pthread_join(c->thread, NULL);
    }
    pthread_mutex_lock(&c->mu);
    struct capchunk *k = c->q_head;
    c->q_head = c->q_tail = NULL;
    while (k) {
        struct capchunk *next = k->next;
        c->pending -= k->len;
        chunk_free(k);
        k = next;
    }
    c->stop = false;
    pthread_mutex_unlock(&c->mu);
}

/* An existing non-empty file that is not a capture is refused. */
static bool
may_overwrite(int fd)
{
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        return false;
    }
    if (sb.st_size == 0) {
        return true;
    }
    uint8_t h[PROTO_CAP_MAGIC_LEN];
    return pread(fd, h, sizeof h, 0) == (ssize_t)sizeof h &&
           memcmp(h, PROTO_CAP_MAGIC, PROTO_CAP_MAGIC_LEN) == 0;
}

int
capture_start(struct capture *c, const char *path, uint64_t max_bytes, uint64_t seconds, bool *busy,
              char *err, size_t errlen)
{
    *busy = false;
    pthread_mutex_lock(&c->mu);
    bool running = c->st.running;
    pthread_mutex_unlock(&c->mu);
    if (running) {
        *busy = true;
        snprintf(err, errlen, "a capture runs already");
        return -1;
    }
    join_writer(c); /* the last one's, if it stopped by itself */
    if (!path || !*path || strlen(path) >= CAPTURE_PATH_MAX) {
        snprintf(err, errlen, "capture: a file name is needed");
        return -1;
    }
    if (max_bytes && max_bytes < PROTO_CAP_HEADER_LEN + 64) {
        snprintf(err, errlen, "capture: max_bytes %llu is too small",
                 (unsigned long long)max_bytes);
        return -1;
    }
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK, 0600);
    if (fd < 0) {
        snprintf(err, errlen, "capture %s: %s", path, strerror(errno));
        return -1;
    }
    if (!may_overwrite(fd)) {
        close(fd);
        snprintf(err, errlen, "capture %s: the file exists and is not a capture (not overwritten)",
                 path);
        return -1;
    }
    uint8_t h[PROTO_CAP_HEADER_LEN];
    int64_t now = wall_us();
    proto_cap_put_header(h, now);
    if (ftruncate(fd, 0) != 0 || fchmod(fd, 0600) != 0 ||
        write(fd, h, sizeof h) != (ssize_t)sizeof h) {
        snprintf(err, errlen, "capture %s: %s", path, strerror(errno));
        close(fd);
        return -1;
    }
    pthread_mutex_lock(&c->mu);
    if (c->st.running) {
        pthread_mutex_unlock(&c->mu);
        close(fd);
        *busy = true;
        snprintf(err, errlen, "a capture runs already");
        return -1;
    }
    c->fd = fd;
    c->gen = ++c->next_gen ? c->next_gen : ++c->next_gen;
    c->deadline_us = seconds ? mono_us() + (int64_t)seconds * 1000000 : 0;
    c->stop = false;
    c->st = (struct capture_status){
        .running = true,
        .started_us = now,
        .max_bytes = max_bytes,
        .seconds = seconds,
        .records = 0,
        .bytes = PROTO_CAP_HEADER_LEN,
        .dropped = 0,
    };
    snprintf(c->st.path, sizeof c->st.path, "%s", path);
    if (pthread_create(&c->thread, NULL, writer_main, c) != 0) {
        c->st.running = false;
        snprintf(c->st.stopped_why, sizeof c->st.stopped_why, "no thread");
        c->fd = -1;
        pthread_mutex_unlock(&c->mu);
        close(fd);
        snprintf(err, errlen, "capture %s: cannot start its thread", path);
        return -1;
    }
    c->thread_live = true;
    atomic_store_explicit(&c->head.gen, c->gen, memory_order_relaxed);
    pthread_mutex_unlock(&c->mu);
    fprintf(stderr,
            "slowtap: capturing every session into %s (mode 0600): it holds real values "
            "(statement texts, parameters, LOAD DATA files); bounds: %llu bytes, %llu s "
            "(0 = none)\n",
            path, (unsigned long long)max_bytes, (unsigned long long)seconds);
    return 0;
}

void
capture_stop(struct capture *c, const char *why)
{
    pthread_mutex_lock(&c->mu);
    if (c->st.running) {
        /* the writer writes what it holds, then closes */
        c->stop = true;
        pthread_cond_signal(&c->cond);
        pthread_mutex_unlock(&c->mu);
        /* let the queued chunks through before the line: stop_locked after the writer */
        pthread_mutex_lock(&c->mu);
        bool live = c->thread_live;
        c->thread_live = false;
        pthread_mutex_unlock(&c->mu);
        if (live) {
            pthread_join(c->thread, NULL);
        }
        pthread_mutex_lock(&c->mu);
        stop_locked(c, why);
    }
    pthread_mutex_unlock(&c->mu);
    join_writer(c);
}

void
capture_free(struct capture *c)
{
    if (!c) {
        return;
    }
    capture_stop(c, "slowtap stops");
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cond);
    free(c);
}

void
capture_status(struct capture *c, struct capture_status *st)
{
    pthread_mutex_lock(&c->mu);
    *st = c->st;
    pthread_mutex_unlock(&c->mu);
}

uint64_t
capture_records_total(const struct capture *c)
{
    return c ? __atomic_load_n(&c->records_total, __ATOMIC_RELAXED) : 0;
}

uint64_t
capture_bytes_total(const struct capture *c)
{
    return c ? __atomic_load_n(&c->bytes_total, __ATOMIC_RELAXED) : 0;
}

uint64_t
capture_dropped_total(const struct capture *c)
{
    return c ? __atomic_load_n(&c->dropped_total, __ATOMIC_RELAXED) : 0;
}

/* ---- per-thread buffers ---- */

struct capbuf *
capbuf_new(struct capture *c)
{
    struct capbuf *b = calloc(1, sizeof *b);
    if (b) {
        b->c = c;
    }
    return b;
}

void
capbuf_free(struct capbuf *b)
{
    if (!b) {
        return;
    }
    capbuf_flush(b);
    free(b->data);
    free(b);
}

void
capbuf_flush(struct capbuf *b)
{
    if (!b || b->len == 0) {
        return;
    }
    struct capture *c = b->c;
    struct capchunk *k = malloc(sizeof *k);
    if (!k) {
        add_dropped(c, b->records);
        b->len = 0;
        b->records = 0;
        return;
    }
    *k = (struct capchunk){
        .next = NULL, .gen = b->gen, .records = b->records, .len = b->len, .data = b->data};
    pthread_mutex_lock(&c->mu);
    bool take = c->st.running && c->gen == b->gen &&
                (c->pending == 0 || c->pending + k->len <= CAPTURE_MAX_PENDING);
    if (take) {
        if (c->q_tail) {
            c->q_tail->next = k;
        } else {
            c->q_head = k;
        }
        c->q_tail = k;
        c->pending += k->len;
        pthread_cond_signal(&c->cond);
    } else if (c->st.running && c->gen == b->gen) {
        c->st.dropped += k->records;
        add_dropped(c, k->records);
    }
    pthread_mutex_unlock(&c->mu);
    if (take) {
        b->data = NULL; /* the writer's now */
        b->cap = 0;
    } else {
        k->data = NULL;
        chunk_free(k);
    }
    b->len = 0;
    b->records = 0;
}

typedef bool cap_put_fn(uint8_t *out, size_t cap, size_t *len, const void *rec);

static bool
put_session(uint8_t *out, size_t cap, size_t *len, const void *rec)
{
    return proto_cap_put_session(out, cap, len, rec);
}
static bool
put_command(uint8_t *out, size_t cap, size_t *len, const void *rec)
{
    return proto_cap_put_command(out, cap, len, rec);
}
static bool
put_file(uint8_t *out, size_t cap, size_t *len, const void *rec)
{
    return proto_cap_put_file(out, cap, len, rec);
}
static bool
put_end(uint8_t *out, size_t cap, size_t *len, const void *rec)
{
    return proto_cap_put_end(out, cap, len, rec);
}

/* Room for `need` more bytes of generation gen: false when it cannot be had. */
static bool
capbuf_room(struct capbuf *b, uint32_t gen, size_t need)
{
    if (b->gen != gen) {
        b->len = 0; /* records of a capture that stopped */
        b->records = 0;
        b->gen = gen;
    }
    if (need > PROTO_CAP_BLOCK_MAX) {
        return false;
    }
    if (b->len && need > b->cap - b->len) {
        capbuf_flush(b);
    }
    if (need > b->cap - b->len) {
        size_t cap = need > CAPBUF_CAP ? need : CAPBUF_CAP;
        uint8_t *nd = realloc(b->data, cap);
        if (!nd) {
            return false;
        }
        b->data = nd;
        b->cap = cap;
    }
    return true;
}

static bool
capbuf_put(struct capbuf *b, uint32_t gen, size_t need, cap_put_fn *put, const void *rec)
{
    if (!b || !gen) {
        return false;
    }
    if (!capbuf_room(b, gen, need) || !put(b->data, b->cap, &b->len, rec)) {
        add_dropped(b->c, 1);
        return false;
    }
    b->records++;
    if (b->len >= CAPBUF_CAP) {
        capbuf_flush(b);
    }
    return true;
}

bool
capbuf_session(struct capbuf *b, uint32_t gen, const struct proto_cap_session *s)
{
    return capbuf_put(b, gen, proto_cap_session_size(s), put_session, s);
}

bool
capbuf_command(struct capbuf *b, uint32_t gen, const struct proto_cap_command *cmd)
{
    return capbuf_put(b, gen, proto_cap_command_size(cmd), put_command, cmd);
}

bool
capbuf_file(struct capbuf *b, uint32_t gen, const struct proto_cap_file *f)
{
    return capbuf_put(b, gen, proto_cap_file_size(f), put_file, f);
}

bool
capbuf_end(struct capbuf *b, uint32_t gen, const struct proto_cap_end *e)
{
    return capbuf_put(b, gen, 64, put_end, e);
}
