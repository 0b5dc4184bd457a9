/*
 * logfile.c - the asynchronous append-only log writer: per-thread buffers of whole entries
 * (struct logbuf), a mutex-protected queue of batches, and one writer thread per file that
 * write(2)s the batches, drops them when too much is pending, and reopens the file on request.
 *
 *   worker thread                         writer thread
 *   logbuf_begin/add/end  -> cur batch
 *   logbuf_flush: lock, queue cur,        timed wait (100 ms) on cond
 *     take a free batch, signal, unlock   take the whole queue, unlock, write(2) each batch,
 *   cur = spare                           lock, pending -= bytes, batches -> free list
 *
 * Batches circulate between the free list, the logbufs and the queue, so steady state needs no
 * allocation at all. Only the writer thread touches the file descriptor. Each batch knows where
 * its entries end, so that a short write is cut back (ftruncate) to the last whole entry; every
 * 250 ms the writer checks that the path still names the file it writes (deleted, renamed).
 */
#include "proxy/output/logfile.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define LOGFILE_BATCH_CAP    (64 * 1024 + 4096) /* initial capacity of a batch */
#define LOGFILE_FLUSH_AT     (64 * 1024)        /* logbuf_end flushes past this */
#define LOGFILE_KEEP_FREE    64                 /* free batches kept for reuse */
#define LOGFILE_KEEP_CAP_MAX (1024 * 1024)      /* bigger batches are freed, not kept */
#define LOGFILE_DEFAULT_MAX  (64u * 1024 * 1024)
#define LOGFILE_WAIT_NS      (100 * 1000 * 1000L)
#define LOGFILE_CHECK_MS     250 /* how often the path is compared with the open file */
#define LOGFILE_ENDS_INIT    256 /* entry ends a new batch has room for */
#define LOGFILE_EAGER_MS     20  /* an entry ending this long after the last handover goes now */

struct logbatch {
    struct logbatch *next;
    char *data;
    size_t len;
    size_t cap;
    uint64_t entries; /* whole entries in data[0..len) */
    size_t *ends;     /* ends[i]: where entry i ends in data (entries of them) */
    size_t ends_cap;
};

struct logfile {
    char *path;
    char *what; /* "slow log", "explain log": names the file in warnings */
    bool is_stdout;
    size_t max_pending;

    /* writer thread only */
    int fd;
    bool failing;     /* a warning was printed and no write succeeded since */
    bool torn;        /* the file ends in a fragment that could not be cut off yet */
    off_t torn_at;    /* ... at this offset (the end of the last whole entry) */
    bool moved_said;  /* the path moved and reopening it failed: said once */
    int64_t check_ms; /* when the path is next compared with the open file */

    pthread_mutex_t mu;
    pthread_cond_t cond;
    /* under mu */
    struct logbatch *head, *tail; /* queued batches, oldest first */
    struct logbatch *free_list;
    size_t nfree;
    size_t pending; /* bytes queued or being written */
    bool stop;

    atomic_int reopen; /* set by logfile_reopen (signal handlers), cleared by the writer */
    uint64_t written;  /* __atomic */
    uint64_t dropped;  /* __atomic */
    pthread_t thread;
};

struct logbuf {
    struct logfile *lf;
    struct logbatch *cur;   /* being filled */
    struct logbatch *spare; /* replaces cur at the next flush; NULL when allocation failed */
    size_t entry_start;     /* offset of the entry being built */
    int64_t handed_ms;      /* when entries were last handed over (coarse monotonic clock) */
    bool in_entry;
    bool broken; /* the entry being built lost bytes (out of memory): drop it */
};

static struct logbatch *
logbatch_new(size_t cap)
{
    struct logbatch *bt = calloc(1, sizeof(*bt));
    if (!bt) {
        return NULL;
    }
    bt->data = malloc(cap);
    bt->ends = malloc(LOGFILE_ENDS_INIT * sizeof *bt->ends);
    if (!bt->data || !bt->ends) {
        free(bt->data);
        free(bt->ends);
        free(bt);
        return NULL;
    }
    bt->cap = cap;
    bt->ends_cap = LOGFILE_ENDS_INIT;
    return bt;
}

/* Notes that an entry ends at bt->len; false when out of memory. */
static bool
logbatch_mark(struct logbatch *bt)
{
    if (bt->entries == bt->ends_cap) {
        size_t cap = bt->ends_cap * 2;
        size_t *e = realloc(bt->ends, cap * sizeof *e);
        if (!e) {
            return false;
        }
        bt->ends = e;
        bt->ends_cap = cap;
    }
    bt->ends[bt->entries++] = bt->len;
    return true;
}

static void
logbatch_free(struct logbatch *bt)
{
    if (bt) {
        free(bt->data);
        free(bt->ends);
        free(bt);
    }
}

static void
logfile_count(uint64_t *counter, uint64_t n)
{
    __atomic_fetch_add(counter, n, __ATOMIC_RELAXED);
}

/* Milliseconds of a monotonic clock that is cheap to read (a few ms of resolution). */
static int64_t
logfile_coarse_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* One line on stderr, written with a single write(2) so lines from threads never mix. */
static void
logfile_say(const struct logfile *lf, const char *what, int err)
{
    char line[1024], ebuf[128];
    int n;
    if (err) {
        n = snprintf(line, sizeof(line), "slowtap: %s %s: %s%s\n", lf->what, lf->path,
                     strerror_r(err, ebuf, sizeof(ebuf)), what);
    } else {
        n = snprintf(line, sizeof(line), "slowtap: %s %s: %s\n", lf->what, lf->path, what);
    }
    if (n > (int)sizeof(line) - 1) {
        n = (int)sizeof(line) - 1;
        line[n - 1] = '\n';
    }
    if (n > 0 && write(STDERR_FILENO, line, (size_t)n) < 0) {
        /* nowhere left to complain */
    }
}

static int
logfile_open_fd(const char *path)
{
    /* 0640 before the umask: 0640 under the usual umask 022 (0600 under 077). */
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
}

/* Writes all of p[0..n); false with *err set on an error. *done is what was written, also when
 * it fails: a short write before the error leaves that much of p in the file. */
static bool
logfile_write_all(int fd, const char *p, size_t n, int *err, size_t *done)
{
    *done = 0;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR) {
                continue;
            }
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                struct pollfd pfd = {.fd = fd, .events = POLLOUT};
                (void)poll(&pfd, 1, 1000);
                continue;
            }
            *err = errno;
            return false;
        }
        if (w == 0) {
            *err = EIO;
            return false;
        }
        p += w;
        n -= (size_t)w;
        *done += (size_t)w;
    }
    return true;
}

/* How many of bt's entries lie whole within its first `done` bytes. */
static uint64_t
logbatch_whole(const struct logbatch *bt, size_t done)
{
    uint64_t lo = 0, hi = bt->entries; /* ends[0..lo) <= done < ends[hi..entries) */
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        if (bt->ends[mid] <= done) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

/*
 * Takes the fragment a short write left at the end of the file away: cuts a regular file back
 * to torn_at, the end of its last whole entry. A file that cannot be cut (a pipe, a device:
 * torn_at -1; an append-only file, where ftruncate fails) gets a newline after the fragment
 * instead, so that the next entry at least starts a line of its own. true when that is done;
 * false with *err set when not (nothing may be appended then: it would be glued to the
 * fragment).
 */
static bool
logfile_mend(struct logfile *lf, int *err)
{
    if (!lf->torn) {
        return true;
    }
    if (lf->fd < 0) {
        *err = EBADF;
        return false;
    }
    if (lf->torn_at >= 0) {
        if (ftruncate(lf->fd, lf->torn_at) == 0) {
            lf->torn = false;
            return true;
        }
        lf->torn_at = -1; /* shrinking does not fail for want of space: it never will work */
    }
    if (write(lf->fd, "\n", 1) == 1) {
        lf->torn = false;
        return true;
    }
    *err = errno;
    return false;
}

/*
 * Writes one batch. The entries that reach the file whole are counted written, the others
 * dropped: after a short write (a full disk) the whole entries it wrote stay, the fragment of
 * the next one is cut off again, and the rest of the batch is dropped.
 */
static void
logfile_write_batch(struct logfile *lf, struct logbatch *bt)
{
    int err = EBADF;
    size_t done = 0;
    uint64_t kept = 0;
    if (bt->len == 0) {
        return;
    }
    if (lf->fd >= 0 && logfile_mend(lf, &err) &&
        logfile_write_all(lf->fd, bt->data, bt->len, &err, &done)) {
        logfile_count(&lf->written, bt->entries);
        if (lf->failing) {
            lf->failing = false;
            logfile_say(lf, "recovered", 0);
        }
        return;
    }
    if (done > 0) {
        kept = logbatch_whole(bt, done);
        size_t whole = kept ? bt->ends[kept - 1] : 0;
        if (done > whole) {
            /* O_APPEND: the offset is the end of what this batch wrote */
            struct stat st;
            off_t end = lseek(lf->fd, 0, SEEK_CUR);
            bool reg = fstat(lf->fd, &st) == 0 && S_ISREG(st.st_mode);
            lf->torn = true;
            lf->torn_at = reg && end >= (off_t)done ? end - (off_t)(done - whole) : -1;
            int mend_err = 0;
            (void)logfile_mend(lf, &mend_err); /* retried before the next write when it fails */
        }
    }
    logfile_count(&lf->written, kept);
    logfile_count(&lf->dropped, bt->entries - kept);
    if (!lf->failing) {
        lf->failing = true;
        logfile_say(lf, "; dropping entries", err);
    }
}

/* Puts fd in place of the open file (closed). A fragment the old file still ends in can only be
 * mended through the old descriptor: tried once more, then forgotten unless fd is the same
 * file. */
static void
logfile_swap_fd(struct logfile *lf, int fd)
{
    if (lf->fd >= 0) {
        int err = 0;
        struct stat a, b;
        bool same = fstat(lf->fd, &a) == 0 && fstat(fd, &b) == 0 && a.st_dev == b.st_dev &&
                    a.st_ino == b.st_ino;
        if (!logfile_mend(lf, &err) && !same) {
            lf->torn = false;
        }
        close(lf->fd);
    }
    lf->fd = fd;
}

static void
logfile_do_reopen(struct logfile *lf)
{
    if (lf->is_stdout) {
        return;
    }
    int fd = logfile_open_fd(lf->path);
    if (fd < 0) {
        int err = errno;
        if (lf->fd >= 0) {
            logfile_say(lf, "; reopen failed, still writing to the old file", err);
        } else if (!lf->failing) {
            lf->failing = true;
            logfile_say(lf, "; dropping entries", err);
        }
        return;
    }
    logfile_swap_fd(lf, fd);
    lf->moved_said = false;
}

/*
 * Whether the path still names the open file. When the file was deleted, renamed or replaced
 * (logrotate without a SIGHUP, a stray rm), the path is opened anew and the move said in one
 * line; when that open fails, the old file goes on getting the entries and the failure is said
 * once. Regular files only: a device or a pipe is left alone.
 */
static void
logfile_check_path(struct logfile *lf)
{
    struct stat fs, ps;
    if (lf->is_stdout || lf->fd < 0 || fstat(lf->fd, &fs) != 0 || !S_ISREG(fs.st_mode)) {
        return;
    }
    bool gone = stat(lf->path, &ps) != 0;
    if (gone && errno != ENOENT && errno != ENOTDIR) {
        return; /* cannot tell (EACCES ...): the open file stays */
    }
    if (!gone && ps.st_dev == fs.st_dev && ps.st_ino == fs.st_ino) {
        lf->moved_said = false;
        return;
    }
    const char *how = fs.st_nlink == 0 ? "deleted" : gone ? "renamed" : "replaced";
    int fd = logfile_open_fd(lf->path);
    if (fd < 0) {
        if (!lf->moved_said) {
            char what[96];
            lf->moved_said = true;
            snprintf(what, sizeof what, " (the file was %s); still writing to the old file", how);
            logfile_say(lf, what, errno);
        }
        return;
    }
    logfile_swap_fd(lf, fd);
    lf->moved_said = false;
    char what[64];
    snprintf(what, sizeof what, "the file was %s; reopened", how);
    logfile_say(lf, what, 0);
}

static int64_t
logfile_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void *
logfile_writer(void *arg)
{
    struct logfile *lf = arg;
    pthread_mutex_lock(&lf->mu);
    for (;;) {
        if (!lf->head && !lf->stop && !atomic_load(&lf->reopen)) {
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            ts.tv_nsec += LOGFILE_WAIT_NS;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&lf->cond, &lf->mu, &ts);
        }
        int64_t now = logfile_now_ms();
        if (now >= lf->check_ms) {
            lf->check_ms = now + LOGFILE_CHECK_MS;
            pthread_mutex_unlock(&lf->mu);
            logfile_check_path(lf);
            pthread_mutex_lock(&lf->mu);
        }
        if (atomic_exchange(&lf->reopen, 0)) {
            pthread_mutex_unlock(&lf->mu);
            logfile_do_reopen(lf);
            pthread_mutex_lock(&lf->mu);
            continue;
        }
        if (!lf->head) {
            if (lf->stop) {
                break; /* stop requested and everything written */
            }
            continue;
        }
        struct logbatch *list = lf->head;
        lf->head = lf->tail = NULL;
        pthread_mutex_unlock(&lf->mu);

        size_t bytes = 0;
        struct logbatch *excess = NULL;
        for (struct logbatch *bt = list; bt; bt = bt->next) {
            logfile_write_batch(lf, bt);
            bytes += bt->len;
            bt->len = 0;
            bt->entries = 0;
        }

        pthread_mutex_lock(&lf->mu);
        lf->pending -= bytes;
        /* Recycle: keep up to LOGFILE_KEEP_FREE ordinary batches, free the rest outside. */
        for (struct logbatch *bt = list, *next; bt; bt = next) {
            next = bt->next;
            if (lf->nfree < LOGFILE_KEEP_FREE && bt->cap <= LOGFILE_KEEP_CAP_MAX) {
                bt->next = lf->free_list;
                lf->free_list = bt;
                lf->nfree++;
            } else {
                bt->next = excess;
                excess = bt;
            }
        }
        if (excess) {
            pthread_mutex_unlock(&lf->mu);
            while (excess) {
                struct logbatch *next = excess->next;
                logbatch_free(excess);
                excess = next;
            }
            pthread_mutex_lock(&lf->mu);
        }
    }
    pthread_mutex_unlock(&lf->mu);
    return NULL;
}

struct logfile *
logfile_open_named(const char *what, const char *path, size_t max_pending)
{
    struct logfile *lf = calloc(1, sizeof(*lf));
    if (!lf) {
        return NULL;
    }
    lf->path = strdup(path);
    lf->what = strdup(what);
    if (!lf->path || !lf->what) {
        goto fail_mem;
    }
    lf->max_pending = max_pending ? max_pending : LOGFILE_DEFAULT_MAX;
    lf->is_stdout = strcmp(path, "-") == 0;
    atomic_init(&lf->reopen, 0);
    if (lf->is_stdout) {
        lf->fd = STDOUT_FILENO;
    } else {
        lf->fd = logfile_open_fd(path);
        if (lf->fd < 0) {
            lf->failing = true;
            logfile_say(lf, "; dropping entries", errno);
        }
    }

    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&lf->cond, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&lf->mu, NULL);
    if (pthread_create(&lf->thread, NULL, logfile_writer, lf) != 0) {
        pthread_cond_destroy(&lf->cond);
        pthread_mutex_destroy(&lf->mu);
        if (!lf->is_stdout && lf->fd >= 0) {
            close(lf->fd);
        }
        goto fail_mem;
    }
    return lf;

fail_mem:
    free(lf->path);
    free(lf->what);
    free(lf);
    return NULL;
}

struct logfile *
logfile_open(const char *path, size_t max_pending)
{
    return logfile_open_named("slow log", path, max_pending);
}

void
logfile_reopen(struct logfile *lf)
{
    if (lf) {
        atomic_store(&lf->reopen, 1);
    }
}

void
logfile_close(struct logfile *lf)
{
    if (!lf) {
        return;
    }
    pthread_mutex_lock(&lf->mu);
    lf->stop = true;
    pthread_cond_signal(&lf->cond);
    pthread_mutex_unlock(&lf->mu);
    pthread_join(lf->thread, NULL);

    if (!lf->is_stdout && lf->fd >= 0) {
        close(lf->fd);
    }
    while (lf->free_list) {
        struct logbatch *next = lf->free_list->next;
        logbatch_free(lf->free_list);
        lf->free_list = next;
    }
    pthread_cond_destroy(&lf->cond);
    pthread_mutex_destroy(&lf->mu);
    free(lf->path);
    free(lf->what);
    free(lf);
}

uint64_t
logfile_entries_written(const struct logfile *lf)
{
    return lf ? __atomic_load_n(&lf->written, __ATOMIC_RELAXED) : 0;
}

uint64_t
logfile_entries_dropped(const struct logfile *lf)
{
    return lf ? __atomic_load_n(&lf->dropped, __ATOMIC_RELAXED) : 0;
}

/* ---- per-thread buffers ---- */

struct logbuf *
logbuf_new(struct logfile *lf)
{
    struct logbuf *b = calloc(1, sizeof(*b));
    if (!b) {
        return NULL;
    }
    b->lf = lf;
    b->cur = logbatch_new(LOGFILE_BATCH_CAP);
    b->spare = logbatch_new(LOGFILE_BATCH_CAP);
    if (!b->cur || !b->spare) {
        logbatch_free(b->cur);
        logbatch_free(b->spare);
        free(b);
        return NULL;
    }
    return b;
}

/*
 * Hands cur's whole entries to the writer; a partly built entry moves to the new cur first.
 * The queued batch is never touched again by this thread: once queued, the writer may write
 * it, recycle it and another thread may refill it.
 */
static void
logbuf_handover(struct logbuf *b, bool final)
{
    struct logfile *lf = b->lf;
    struct logbatch *full = b->cur;
    size_t complete = b->in_entry ? b->entry_start : full->len;
    size_t tail = full->len - complete;
    if (complete == 0) {
        return;
    }
    b->handed_ms = logfile_coarse_ms();
    if (!b->spare && !final) {
        b->spare = logbatch_new(tail > LOGFILE_BATCH_CAP ? tail : LOGFILE_BATCH_CAP);
    }
    struct logbatch *next = b->spare;
    if (next && next->cap < tail) {
        char *d = realloc(next->data, tail);
        if (d) {
            next->data = d;
            next->cap = tail;
        } else {
            next = NULL;
        }
    }
    if (!next && !final) {
        /* No replacement buffer (out of memory): drop the whole entries, keep the tail. */
        logfile_count(&lf->dropped, full->entries);
        memmove(full->data, full->data + complete, tail);
        full->len = tail;
        full->entries = 0;
        b->entry_start = 0;
        return;
    }
    if (next) {
        memcpy(next->data, full->data + complete, tail);
        next->len = tail;
        next->entries = 0;
    }
    full->len = complete;
    full->next = NULL;

    bool queued = false;
    struct logbatch *fresh = NULL;
    pthread_mutex_lock(&lf->mu);
    if (lf->pending == 0 || lf->pending + complete <= lf->max_pending) {
        if (lf->tail) {
            lf->tail->next = full;
        } else {
            lf->head = full;
        }
        lf->tail = full;
        lf->pending += complete;
        queued = true;
        if (lf->free_list) {
            fresh = lf->free_list;
            lf->free_list = fresh->next;
            lf->nfree--;
        }
        pthread_cond_signal(&lf->cond);
    }
    pthread_mutex_unlock(&lf->mu);

    b->entry_start = 0;
    if (!queued) {
        /* Too much pending: the batch's entries are dropped, its buffer becomes the spare. */
        logfile_count(&lf->dropped, full->entries);
        full->len = 0;
        full->entries = 0;
        if (next) {
            b->cur = next;
            b->spare = full;
        } /* else final: cur stays and is freed by the caller */
        return;
    }
    b->cur = next;    /* NULL only when final */
    b->spare = fresh; /* NULL: allocated at the next flush */
}

void
logbuf_flush(struct logbuf *b)
{
    if (b) {
        logbuf_handover(b, false);
    }
}

void
logbuf_free(struct logbuf *b)
{
    if (!b) {
        return;
    }
    if (b->in_entry) {
        b->cur->len = b->entry_start; /* an unfinished entry is not written */
        b->in_entry = false;
    }
    logbuf_handover(b, true);
    logbatch_free(b->cur);
    logbatch_free(b->spare);
    free(b);
}

/* logbuf_room's slow path: grows cur to fit n more bytes; false (and the entry is marked
 * broken) when out of memory. */
static bool
logbuf_grow(struct logbuf *b, size_t n)
{
    struct logbatch *bt = b->cur;
    if (b->broken) {
        return false;
    }
    if (bt->cap - bt->len >= n) {
        return true;
    }
    size_t cap = bt->cap;
    if (n > SIZE_MAX / 4 - bt->len) {
        b->broken = true;
        return false;
    }
    while (cap - bt->len < n) {
        cap *= 2;
    }
    char *d = realloc(bt->data, cap);
    if (!d) {
        b->broken = true;
        return false;
    }
    bt->data = d;
    bt->cap = cap;
    return true;
}

/* Makes room for n more bytes in cur; false (and the entry is marked broken) when out of
 * memory. The fast path is inline: a slow-log entry calls it once per field. */
static inline bool
logbuf_room(struct logbuf *b, size_t n)
{
    if (!b->broken && b->cur->cap - b->cur->len >= n) {
        return true;
    }
    return logbuf_grow(b, n);
}

void
logbuf_begin(struct logbuf *b)
{
    if (b->in_entry) {
        b->cur->len = b->entry_start; /* an unfinished entry is discarded */
    }
    b->in_entry = true;
    b->broken = false;
    b->entry_start = b->cur->len;
}

void
logbuf_add(struct logbuf *b, const char *s, size_t len)
{
    if (len && logbuf_room(b, len)) {
        memcpy(b->cur->data + b->cur->len, s, len);
        b->cur->len += len;
    }
}

char *
logbuf_reserve(struct logbuf *b, size_t n)
{
    if (!logbuf_room(b, n)) {
        return NULL;
    }
    return b->cur->data + b->cur->len;
}

void
logbuf_commit(struct logbuf *b, size_t n)
{
    if (!b->broken) {
        b->cur->len += n;
    }
}

void
logbuf_printf(struct logbuf *b, const char *fmt, ...)
{
    va_list ap;
    struct logbatch *bt = b->cur;
    if (b->broken) {
        return;
    }
    va_start(ap, fmt);
    int n = vsnprintf(bt->data + bt->len, bt->cap - bt->len, fmt, ap);
    va_end(ap);
    if (n < 0) {
        return;
    }
    if ((size_t)n >= bt->cap - bt->len) {
        if (!logbuf_room(b, (size_t)n + 1)) {
            return;
        }
        va_start(ap, fmt);
        n = vsnprintf(b->cur->data + b->cur->len, b->cur->cap - b->cur->len, fmt, ap);
        va_end(ap);
        if (n < 0) {
            return;
        }
    }
    b->cur->len += (size_t)n;
}

void
logbuf_end(struct logbuf *b)
{
    if (!b->in_entry) {
        return;
    }
    b->in_entry = false;
    if (b->broken) {
        b->cur->len = b->entry_start;
        b->broken = false;
        logfile_count(&b->lf->dropped, 1);
        return;
    }
    if (b->cur->len == b->entry_start) {
        return; /* empty entry */
    }
    if (!logbatch_mark(b->cur)) {
        b->cur->len = b->entry_start; /* out of memory: dropped, as when the entry broke */
        logfile_count(&b->lf->dropped, 1);
        return;
    }
    /* Past 64 KiB, or when nothing was handed over for a while (sparse traffic: the entry
     * reaches the file now instead of at the owner's next timer flush). */
    if (b->cur->len >= LOGFILE_FLUSH_AT || logfile_coarse_ms() - b->handed_ms >= LOGFILE_EAGER_MS) {
        logbuf_handover(b, false);
    }
}

void
logbuf_abandon(struct logbuf *b)
{
    if (b->in_entry) {
        b->broken = true;
        logbuf_end(b);
    }
}

void
logbuf_append(struct logbuf *b, const char *entry, size_t len)
{
    logbuf_begin(b);
    logbuf_add(b, entry, len);
    logbuf_end(b);
}
